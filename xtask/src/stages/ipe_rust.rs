//! The Rust IPE (`--ipe rust`): the layer that selects it, and the source files the kernel stage
//! copies into the tree at every build.
//!
//! The kernel compiles the very files of the host crate `ipe-lsm` (`ipe-lsm/src/*.rs`, and for
//! KUnit `ipe-lsm/vectors/*.rs`) next to the C shim (`ipe-lsm/kernel/security/ipe_rust/`): all
//! are copied, when changed, into `security/ipe_rust/` of the build tree, so an edit rebuilds
//! incrementally and no copy is ever committed. The layer's small patch wires that directory into Kconfig and the Makefiles.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The layer `--ipe rust` appends to the image's layers.
pub const LAYER: &str = "ipe-rust";

/// Where the directory goes in the kernel tree.
const TREE_DIR: &str = "security/ipe_rust";

/// `(destination relative to the kernel tree, source)` for every file of the Rust IPE. Only
/// files directly in each folder: the engine's host-only module is the folder `src/host/`.
pub fn tree_files(root: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut files = Vec::new();
    for (from, to, keep) in [
        (
            root.join("ipe-lsm/kernel").join(TREE_DIR),
            PathBuf::from(TREE_DIR),
            None,
        ),
        (
            root.join("ipe-lsm/src"),
            Path::new(TREE_DIR).join("engine"),
            Some("rs"),
        ),
        // The golden parser vectors, for the in-kernel KUnit suite.
        (
            root.join("ipe-lsm/vectors"),
            Path::new(TREE_DIR).join("vectors"),
            Some("rs"),
        ),
    ] {
        let entries = fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))?;
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let wanted = keep.is_none_or(|ext| path.extension().is_some_and(|e| e == ext));
            if path.is_file() && wanted {
                files.push((to.join(name.as_ref()), path.clone()));
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_shim_and_the_no_std_engine() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let files = tree_files(&root).unwrap();
        let dests: Vec<String> = files
            .iter()
            .map(|(dest, _)| dest.to_string_lossy().into_owned())
            .collect();
        for expected in [
            "security/ipe_rust/Kconfig",
            "security/ipe_rust/Makefile",
            "security/ipe_rust/lsm.c",
            "security/ipe_rust/ipe_rust.rs",
            "security/ipe_rust/engine/parser.rs",
            "security/ipe_rust/engine/lib.rs",
            "security/ipe_rust/kunit.c",
            "security/ipe_rust/vectors/upstream.rs",
        ] {
            assert!(
                dests.iter().any(|d| d == expected),
                "{expected} in {dests:?}"
            );
        }
        assert!(!dests.iter().any(|d| d.contains("host")));
    }
}
