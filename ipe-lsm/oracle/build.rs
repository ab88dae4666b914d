//! Compiles upstream's IPE parser and evaluator from the kernel source tree
//! (never copied into the repo) together with our userspace shim into one
//! static library.
//!
//! Without a kernel tree the crate still builds, with `ipe_oracle_missing`
//! set, so the oracle tests fail with instructions instead of passing.

use std::env;
use std::path::{Path, PathBuf};

/// The parser under test, relative to the kernel tree. The lib/ files are
/// compiled too so `match_token`, `kstrtou16`, `hex2bin` and `isspace`
/// behave exactly as in the kernel.
const KERNEL_FILES: &[&str] = &[
    "security/ipe/policy_parser.c",
    "security/ipe/digest.c",
    "lib/parser.c",
    "lib/kstrtox.c",
    "lib/hexdump.c",
    "lib/ctype.c",
];

/// The evaluator under test, compiled once per Kconfig combination.
const EVAL_FILE: &str = "security/ipe/eval.c";

/// The kernel's hash algorithm names and sizes, which fs-verity digests use.
const HASH_INFO_FILE: &str = "crypto/hash_info.c";

/// The valid combinations of the `CONFIG_IPE_PROP_*` switches, as bits
/// (shim/oracle.h; a signature switch needs its base switch). The list in
/// shim/eval_dispatch.c must name the same ones.
const CONFIGS: [u32; 9] = [0, 1, 3, 4, 5, 7, 12, 13, 15];
const SWITCHES: [(u32, &str); 4] = [
    (1, "CONFIG_IPE_PROP_DM_VERITY"),
    (2, "CONFIG_IPE_PROP_DM_VERITY_SIGNATURE"),
    (4, "CONFIG_IPE_PROP_FS_VERITY"),
    (8, "CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG"),
];

/// External symbols of eval.c and its harness, suffixed per config so the
/// nine builds link side by side.
const PER_CONFIG_SYMBOLS: &[&str] = &[
    "ipe_active_policy",
    "success_audit",
    "enforce",
    "ipe_build_eval_ctx",
    "ipe_evaluate_event",
    "ipe_sb",
    "ipe_bdev",
    "ipe_inode",
    "ipe_audit_match",
    "ipe_oracle_harness_eval",
    "ipe_oracle_harness_repeat",
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
    let files = || KERNEL_FILES.iter().chain([&EVAL_FILE, &HASH_INFO_FILE]);
    let missing: Vec<_> = files()
        .map(|file| source.join(file))
        .filter(|path| !path.is_file())
        .collect();
    for file in files() {
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
    compile(&source);
}

/// Flags shared by every C file: the shim first on the include path.
fn base(source: &Path) -> cc::Build {
    let mut build = cc::Build::new();
    build
        .include("shim/include")
        .include("shim")
        .include(source.join("security/ipe"))
        .define("__KERNEL__", None)
        // The kernel's own level, in debug builds too (the benchmark times C).
        .opt_level(2)
        .flag("-std=gnu11")
        .flag("-fno-strict-aliasing")
        // A missing shim declaration must break the build, not guess an ABI.
        .flag("-Werror=implicit-function-declaration")
        .flag("-Werror=incompatible-pointer-types")
        .flag("-Wno-unused-parameter")
        .flag("-Wno-sign-compare")
        .flag("-Wno-missing-field-initializers");
    build
}

/// The eval builds also see the tree's include/ (after the shim) for
/// crypto/hash_info.h and the digest sizes it pulls in.
fn eval_base(source: &Path, out: &Path, dir: &str) -> cc::Build {
    let mut build = base(source);
    build.include(source.join("include")).out_dir(out.join(dir));
    build
}

fn compile(source: &Path) {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let mut objects = base(source)
        .files(KERNEL_FILES.iter().map(|file| source.join(file)))
        .file("shim/shim.c")
        .file("shim/harness.c")
        .out_dir(out.join("parser"))
        .compile_intermediates();
    objects.extend(
        eval_base(source, &out, "eval")
            .file(source.join(HASH_INFO_FILE))
            .file("shim/vfs_shim.c")
            .file("shim/eval_dispatch.c")
            .compile_intermediates(),
    );
    for config in CONFIGS {
        let mut build = eval_base(source, &out, &format!("eval_c{config}"));
        for (bit, switch) in SWITCHES {
            if config & bit != 0 {
                build.define(switch, None);
            }
        }
        for symbol in PER_CONFIG_SYMBOLS {
            build.define(symbol, format!("{symbol}_c{config}").as_str());
        }
        objects.extend(
            build
                .file(source.join(EVAL_FILE))
                .file("shim/eval_harness.c")
                .compile_intermediates(),
        );
    }
    cc::Build::new().objects(objects).compile("ipe_upstream");
}
