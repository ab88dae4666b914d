//! The kernel compiles this crate's `src/` files through `kernel/security/ipe_rust/ipe_rust.rs`,
//! which must declare the same engine modules as `src/lib.rs` (it re-declares them at its crate
//! root so that the engine's `crate::…` paths resolve there too). This keeps the two lists equal.

use std::fs;
use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `mod x;` lines of lib.rs that are not host-only (`#[cfg(feature = "alloc")]`).
fn engine_modules(lib: &str) -> Vec<String> {
    let mut modules = Vec::new();
    let mut host_only = false;
    for line in lib.lines().map(str::trim) {
        if line.starts_with("#[cfg(feature = \"alloc\")]") {
            host_only = true;
            continue;
        }
        let name = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(name) = name.filter(|_| !host_only) {
            modules.push(name.to_owned());
        }
        host_only = false;
    }
    modules.sort();
    modules
}

/// `#[path = "engine/x.rs"]` modules of the kernel glue.
fn glue_modules(glue: &str) -> Vec<String> {
    let mut modules: Vec<String> = glue
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("#[path = \"engine/")?
                .strip_suffix(".rs\"]")
                .map(str::to_owned)
        })
        .collect();
    modules.sort();
    modules
}

#[test]
fn kernel_glue_declares_every_engine_module() {
    let lib = engine_modules(&read("src/lib.rs"));
    let glue = glue_modules(&read("kernel/security/ipe_rust/ipe_rust.rs"));
    assert!(!lib.is_empty());
    assert_eq!(
        lib, glue,
        "src/lib.rs and the kernel glue declare different modules"
    );
}
