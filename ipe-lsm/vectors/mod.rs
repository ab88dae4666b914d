//! Golden parser vectors: `{text, errno, why}`, shaped like upstream's KUnit
//! `struct policy_case` so the same table can feed a KUnit suite. Shared by
//! the parser tests and the C differential oracle via `#[path]`.

pub mod targeted;
pub mod upstream;

/// Kernel errno numbers, negated as the parser returns them.
pub const EBADMSG: i32 = 74;
pub const EINVAL: i32 = 22;
pub const ERANGE: i32 = 34;

/// One vector: the policy text, the expected return (0 or `-errno`), and
/// what it exercises.
pub struct Case {
    pub text: &'static [u8],
    pub errno: i32,
    pub why: &'static str,
}
