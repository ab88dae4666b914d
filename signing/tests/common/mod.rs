//! Running the reference tools from the integration tests.
//!
//! The reference tools are required: a missing `openssl`, `fsverity` or
//! `sbverify` fails the test instead of skipping it (install the `openssl`,
//! `fsverity` and `sbsigntool` Debian packages).

use std::process::{Command, Output, Stdio};

/// Runs `program` with `args`, panicking with its stderr if it fails or is missing.
pub fn run(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<u8> {
    let output = try_run(program, args);
    assert!(
        output.status.success(),
        "{program} {:?} failed: {}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs `program`, returning its output whatever the exit status; panics only if missing.
pub fn try_run(program: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(program)
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` ({e}): the interop tests need it; install the Debian package that provides it (openssl, fsverity, sbsigntool)")
        })
}
