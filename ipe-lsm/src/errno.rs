//! The errno values upstream's parser returns.

/// Every error `ipe_parse_policy()` can return, with the kernel's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// Out of memory.
    ENOMEM,
    /// A version component or a digest's hex is malformed.
    EINVAL,
    /// A version component does not fit in a `u16`.
    ERANGE,
    /// Any other syntax or semantic error.
    EBADMSG,
}

impl Errno {
    /// The positive errno number (x86-64 and generic asm values).
    pub const fn number(self) -> i32 {
        match self {
            Errno::ENOMEM => 12,
            Errno::EINVAL => 22,
            Errno::ERANGE => 34,
            Errno::EBADMSG => 74,
        }
    }

    /// The kernel's return value: the negated errno.
    pub const fn to_kernel(self) -> i32 {
        self.number().wrapping_neg()
    }

    /// The symbolic name, as printed by host tooling.
    pub const fn name(self) -> &'static str {
        match self {
            Errno::ENOMEM => "ENOMEM",
            Errno::EINVAL => "EINVAL",
            Errno::ERANGE => "ERANGE",
            Errno::EBADMSG => "EBADMSG",
        }
    }
}
