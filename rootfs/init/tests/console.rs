//! The init binary itself, on a console that refuses every write.

use std::fs::OpenOptions;
use std::process::Command;

/// Outside PID 1 the init says so and exits with 2. It used to panic instead (exit 101) when the
/// message could not be written: `eprintln!` panics on a write error, and in PID 1 a panic
/// brings the kernel down. `/dev/full` fails every write with ENOSPC.
#[test]
fn a_console_that_refuses_writes_does_not_make_init_panic() {
    let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_init"))
        .stderr(full)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
