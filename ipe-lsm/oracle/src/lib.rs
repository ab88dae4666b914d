//! Differential oracle: runs upstream's C parser (compiled from the kernel
//! tree by build.rs) and ipe-lsm on the same input and compares results.

mod canonical;
pub mod generate;

pub use canonical::canonical;

/// What a parser made of one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the policy in canonical form.
    Accepted(String),
    /// Rejected with this kernel return value (`-errno`).
    Rejected(i32),
}

/// ipe-lsm's verdict.
pub fn ours(text: &[u8]) -> Outcome {
    match ipe_lsm::host::parse_host(text) {
        Ok(policy) => Outcome::Accepted(canonical(&policy)),
        Err(error) => Outcome::Rejected(error.errno().to_kernel()),
    }
}

/// Where the build looked for the kernel tree.
pub const KERNEL_SOURCE: &str = env!("IPE_ORACLE_KERNEL_SRC");

#[cfg(not(ipe_oracle_missing))]
mod ffi {
    use std::ffi::{c_char, c_int};

    unsafe extern "C" {
        pub fn ipe_oracle_parse(
            text: *const c_char,
            text_len: usize,
            out: *mut c_char,
            out_cap: usize,
            out_len: *mut usize,
        ) -> c_int;
    }
}

/// Upstream's verdict, from the kernel's own `policy_parser.c`.
#[cfg(not(ipe_oracle_missing))]
pub fn upstream(text: &[u8]) -> Outcome {
    let mut capacity = 4096 + text.len() * 4;
    loop {
        let mut out = vec![0_u8; capacity];
        let mut len = 0_usize;
        // SAFETY: the pointers and lengths describe live buffers; the C side
        // writes at most `capacity` bytes to `out` and one usize to `len`.
        let rc = unsafe {
            ffi::ipe_oracle_parse(
                text.as_ptr().cast(),
                text.len(),
                out.as_mut_ptr().cast(),
                capacity,
                &mut len,
            )
        };
        match rc {
            0 => {
                out.truncate(len);
                return Outcome::Accepted(String::from_utf8_lossy(&out).into_owned());
            }
            1 => capacity *= 4,
            errno => return Outcome::Rejected(errno),
        }
    }
}

/// Without a kernel tree there is no oracle: fail loudly, never pass.
#[cfg(ipe_oracle_missing)]
pub fn upstream(_text: &[u8]) -> Outcome {
    panic!(
        "the IPE differential oracle needs the Linux 6.12 source tree, not found at {KERNEL_SOURCE}; \
         run `cargo xtask setup` (or set IPE_KERNEL_SRC) and rebuild"
    );
}

/// Both verdicts, when they differ.
pub fn diverges(text: &[u8]) -> Option<(Outcome, Outcome)> {
    let theirs = upstream(text);
    let mine = ours(text);
    (theirs != mine).then_some((theirs, mine))
}
