//! Caller-provided growable storage, so the core never allocates itself.

/// Allocation failed; the parser reports it as `ENOMEM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

/// A growable array with fallible growth.
///
/// The host implements it for `Vec` (see [`crate::host`]); the kernel
/// implements it for its `KVVec` (kvmalloc) with `GFP_KERNEL`.
pub trait Vector<T> {
    /// Appends `item`, or reports that no memory was available.
    fn try_push(&mut self, item: T) -> Result<(), OutOfMemory>;
    /// The items pushed so far, in order.
    fn as_slice(&self) -> &[T];
    /// The items pushed so far, mutably (the index sorts in place).
    fn as_mut_slice(&mut self) -> &mut [T];
}
