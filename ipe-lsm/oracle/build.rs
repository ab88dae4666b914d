//! Compiles upstream's IPE parser from the kernel source tree (never copied
//! into the repo) together with our userspace shim into a static library.
//!
//! Without a kernel tree the crate still builds, with `ipe_oracle_missing`
//! set, so the oracle tests fail with instructions instead of passing.

use std::env;
use std::path::PathBuf;

/// The kernel files under test, relative to the kernel tree. The lib/ files
/// are compiled too so `match_token`, `kstrtou16`, `hex2bin` and `isspace`
/// behave exactly as in the kernel.
const KERNEL_FILES: &[&str] = &[
    "security/ipe/policy_parser.c",
    "security/ipe/digest.c",
    "lib/parser.c",
    "lib/kstrtox.c",
    "lib/hexdump.c",
    "lib/ctype.c",
];

fn kernel_source() -> PathBuf {
    if let Some(dir) = env::var_os("IPE_KERNEL_SRC") {
        return PathBuf::from(dir);
    }
    let cache = env::var_os("APPLIANCE_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            env::var_os("XDG_CACHE_HOME").map(|dir| PathBuf::from(dir).join("ipe-appliance"))
        })
        .or_else(|| env::var_os("HOME").map(|dir| PathBuf::from(dir).join(".cache/ipe-appliance")))
        .unwrap_or_default();
    cache.join("src/linux-6.12.117")
}

fn main() {
    for var in [
        "IPE_KERNEL_SRC",
        "APPLIANCE_CACHE",
        "XDG_CACHE_HOME",
        "HOME",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=shim");
    println!("cargo::rustc-check-cfg=cfg(ipe_oracle_missing)");
    let source = kernel_source();
    println!(
        "cargo::rustc-env=IPE_ORACLE_KERNEL_SRC={}",
        source.display()
    );
    let missing: Vec<_> = KERNEL_FILES
        .iter()
        .map(|file| source.join(file))
        .filter(|path| !path.is_file())
        .collect();
    for file in KERNEL_FILES {
        // A missing path counts as changed, so the script reruns until it appears.
        println!("cargo::rerun-if-changed={}", source.join(file).display());
    }
    if !missing.is_empty() {
        println!("cargo::rustc-cfg=ipe_oracle_missing");
        println!(
            "cargo::warning=kernel source not found at {}; oracle tests will fail (run `cargo xtask setup`)",
            source.display()
        );
        return;
    }
    cc::Build::new()
        .include("shim/include")
        .include("shim")
        .include(source.join("security/ipe"))
        .files(KERNEL_FILES.iter().map(|file| source.join(file)))
        .file("shim/shim.c")
        .file("shim/harness.c")
        .define("__KERNEL__", None)
        .flag("-std=gnu11")
        .flag("-fno-strict-aliasing")
        // A missing shim declaration must break the build, not guess an ABI.
        .flag("-Werror=implicit-function-declaration")
        .flag("-Werror=incompatible-pointer-types")
        .flag("-Wno-unused-parameter")
        .flag("-Wno-sign-compare")
        .flag("-Wno-missing-field-initializers")
        .compile("ipe_upstream");
}
