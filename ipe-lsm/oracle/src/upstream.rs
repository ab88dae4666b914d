//! Safe wrappers around upstream's C, compiled from the kernel tree by
//! build.rs: the parser (`policy_parser.c`) and the evaluator (`eval.c`, one
//! build per Kconfig combination).

use ipe_lsm::{Config, Facts, Op};

/// Upstream's decision, as `ipe_evaluate_event()` returned and audited it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The hook's return: 0 or `-EACCES` (enforce mode).
    pub rc: i32,
    /// `true` for `IPE_ACTION_DENY`.
    pub deny: bool,
    /// What decided (`enum ipe_match` and the rule).
    pub matched: Matched,
}

/// Which rule or default decided. Rules are named as upstream stores them:
/// by op and position in that op's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matched {
    /// `IPE_MATCH_RULE`: rule `index` of `op`'s rules.
    Rule { op: u8, index: usize },
    /// `IPE_MATCH_TABLE`: the op's DEFAULT.
    OpDefault,
    /// `IPE_MATCH_GLOBAL`: the global DEFAULT (or upstream's WARN + ALLOW).
    Global,
}

/// The `Config` as the bits shim/oracle.h and build.rs use.
pub fn config_bits(config: &Config) -> u32 {
    u32::from(config.dm_verity)
        | u32::from(config.dm_verity_signature) << 1
        | u32::from(config.fs_verity) << 2
        | u32::from(config.fs_verity_builtin_sig) << 3
}

/// `enum ipe_op_type`, with `IPE_OP_INVALID` for an unknown op.
#[cfg(not(ipe_oracle_missing))]
fn op_number(op: Option<Op>) -> i32 {
    op.map_or(Op::ALL.len() as i32, |op| i32::from(op as u8))
}

#[cfg(not(ipe_oracle_missing))]
mod ffi {
    use std::ffi::{c_char, c_int, c_uint, c_void};

    use ipe_lsm::Facts;

    // The C side mirrors `Facts` field for field and asserts this size.
    const _: () = assert!(size_of::<Facts>() == 395);

    #[repr(C)]
    #[derive(Default)]
    pub struct Decision {
        pub rc: c_int,
        pub matched: c_int,
        pub action: c_int,
        pub rule_op: c_int,
        pub rule_index: c_int,
    }

    unsafe extern "C" {
        pub fn ipe_oracle_parse(
            text: *const c_char,
            text_len: usize,
            out: *mut c_char,
            out_cap: usize,
            out_len: *mut usize,
        ) -> c_int;
        pub fn ipe_oracle_policy_new(
            text: *const c_char,
            text_len: usize,
            rc: *mut c_int,
        ) -> *mut c_void;
        pub fn ipe_oracle_policy_free(policy: *mut c_void);
        pub fn ipe_oracle_eval(
            config: c_uint,
            policy: *const c_void,
            op: c_int,
            facts: *const Facts,
            out: *mut Decision,
        ) -> c_int;
        pub fn ipe_oracle_eval_repeat(
            config: c_uint,
            policy: *const c_void,
            op: c_int,
            facts: *const Facts,
            times: u64,
        ) -> c_int;
    }
}

/// Without a kernel tree there is no oracle: fail loudly, never pass.
#[cfg(ipe_oracle_missing)]
fn missing() -> ! {
    panic!(
        "the IPE differential oracle needs the Linux 6.12 source tree, not found at {}; \
         run `cargo xtask setup` (or set IPE_KERNEL_SRC) and rebuild",
        crate::KERNEL_SOURCE
    );
}

/// Runs upstream's `ipe_parse_policy()`: `Ok(canonical text)` or the
/// kernel return value.
#[cfg(not(ipe_oracle_missing))]
pub fn parse(text: &[u8]) -> Result<String, i32> {
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
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            1 => capacity *= 4,
            errno => return Err(errno),
        }
    }
}

#[cfg(ipe_oracle_missing)]
pub fn parse(_text: &[u8]) -> Result<String, i32> {
    missing()
}

/// A policy parsed by upstream, owned on the C heap.
pub struct Policy {
    #[cfg(not(ipe_oracle_missing))]
    raw: std::ptr::NonNull<std::ffi::c_void>,
}

// eval.c reads its policy through one global per config; serialise its users
// so parallel tests cannot swap it under each other.
#[cfg(not(ipe_oracle_missing))]
static EVAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(not(ipe_oracle_missing))]
impl Policy {
    /// Parses `text` with upstream's parser, or returns its error.
    pub fn new(text: &[u8]) -> Result<Policy, i32> {
        let mut rc = 0;
        // SAFETY: `text` is live for the call; the C side copies it.
        let raw = unsafe { ffi::ipe_oracle_policy_new(text.as_ptr().cast(), text.len(), &mut rc) };
        std::ptr::NonNull::new(raw)
            .map(|raw| Policy { raw })
            .ok_or(rc)
    }

    /// Upstream's decision for an event of `op` on the file `facts`
    /// describes, in a kernel built with `config`.
    pub fn decide(&self, op: Option<Op>, facts: &Facts, config: &Config) -> Verdict {
        let mut out = ffi::Decision::default();
        let _serial = EVAL.lock().unwrap_or_else(|poison| poison.into_inner());
        // SAFETY: the policy is live; `facts` has the C layout; `out` is
        // written once.
        let rc = unsafe {
            ffi::ipe_oracle_eval(
                config_bits(config),
                self.raw.as_ptr(),
                op_number(op),
                facts,
                &mut out,
            )
        };
        assert_eq!(
            rc, 0,
            "eval harness refused op {op:?} facts {facts:?} config {config:?}"
        );
        let matched = match (out.matched, usize::try_from(out.rule_index)) {
            (0, Ok(index)) => Matched::Rule {
                op: out.rule_op as u8,
                index,
            },
            (1, _) => Matched::OpDefault,
            (2, _) => Matched::Global,
            other => panic!("eval harness reported match {other:?}"),
        };
        Verdict {
            rc: out.rc,
            deny: out.action == 1,
            matched,
        }
    }

    /// Evaluates the same event `times` times (the benchmark's inner loop,
    /// in C) and returns the last return value.
    pub fn repeat(&self, op: Option<Op>, facts: &Facts, config: &Config, times: u64) -> i32 {
        let _serial = EVAL.lock().unwrap_or_else(|poison| poison.into_inner());
        // SAFETY: as in `decide`.
        unsafe {
            ffi::ipe_oracle_eval_repeat(
                config_bits(config),
                self.raw.as_ptr(),
                op_number(op),
                facts,
                times,
            )
        }
    }
}

#[cfg(not(ipe_oracle_missing))]
impl Drop for Policy {
    fn drop(&mut self) {
        // SAFETY: `raw` came from ipe_oracle_policy_new and is freed once.
        unsafe { ffi::ipe_oracle_policy_free(self.raw.as_ptr()) }
    }
}

#[cfg(ipe_oracle_missing)]
impl Policy {
    pub fn new(_text: &[u8]) -> Result<Policy, i32> {
        missing()
    }

    pub fn decide(&self, _op: Option<Op>, _facts: &Facts, _config: &Config) -> Verdict {
        missing()
    }

    pub fn repeat(&self, _op: Option<Op>, _facts: &Facts, _config: &Config, _times: u64) -> i32 {
        missing()
    }
}
