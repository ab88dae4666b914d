//! What the kernel stage builds for an image's layers: `kernel-config/*.config`, then the
//! layers' fragments and any extra ones; the layers' patches; the Rust IPE's sources when its
//! layer is in.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::ipe_rust;
use super::kernel::{Flavour, KernelInputs};
use super::setup::Toolchain;
use crate::layers::ResolvedLayers;

pub fn kernel_inputs<'a>(
    root: &Path,
    toolchain: &'a Toolchain,
    resolved: &ResolvedLayers,
    extra_fragments: Vec<PathBuf>,
    flavour: Flavour,
    source_date_epoch: u64,
) -> Result<KernelInputs<'a>> {
    let mut fragments = kernel_config_fragments(root)?;
    fragments.extend(resolved.kernel_fragments.iter().cloned());
    fragments.extend(extra_fragments);
    Ok(KernelInputs {
        toolchain,
        patches: resolved.kernel_patches.clone(),
        fragments,
        tree_files: if resolved.names.iter().any(|l| l == ipe_rust::LAYER) {
            ipe_rust::tree_files(root)?
        } else {
            Vec::new()
        },
        flavour,
        source_date_epoch,
    })
}

/// `kernel-config/*.config`, sorted by name.
fn kernel_config_fragments(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join("kernel-config");
    let mut fragments: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "config"))
        .collect();
    fragments.sort();
    Ok(fragments)
}
