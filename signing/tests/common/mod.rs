//! Helpers shared by the integration tests: running the reference tools and a
//! key pair generated once per test binary.
//!
//! The reference tools are required: a missing `openssl` or `fsverity` fails
//! the test instead of skipping it (install the `openssl` and `fsverity`
//! Debian packages).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use signing::keystore::{self, DevKeys};

/// A keys directory with a freshly generated development key, shared by the tests.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub keys: DevKeys,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let keys = keystore::create(&dir.path().join("keys"), "signing interop test")
            .expect("generate keys");
        Fixture { _dir: dir, keys }
    })
}

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
            panic!("cannot run `{program}` ({e}): the interop tests need it; install the Debian package `{program}`")
        })
}

/// Writes `bytes` to a new file `name` in a fresh temporary directory.
pub fn temp_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temporary file");
    path
}
