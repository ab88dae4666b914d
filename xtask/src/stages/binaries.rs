//! Stage `binaries`: the layers' workspace binaries, built statically so that the image needs
//! no libc (or, with `dynamic = true`, against the glibc of the image's Debian packages), with
//! the checkout's path mapped away so that every checkout builds the same bytes.
//! Cache: cargo's own.

use std::path::PathBuf;

use anyhow::Result;

use crate::exec::Tool;
use crate::layers::{InstalledBinary, ResolvedLayers};
use crate::project::Project;

const TARGET: &str = "x86_64-unknown-linux-gnu";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    Static,
    /// Against the image's glibc: Debian bookworm's 2.36, as on the build host.
    Dynamic,
}

/// `(install path, built file)` for each binary the layers install.
pub fn build_layer_binaries(
    project: &Project,
    resolved: &ResolvedLayers,
) -> Result<Vec<(String, PathBuf)>> {
    if resolved.binaries.is_empty() {
        return Ok(Vec::new());
    }
    let mut built = Vec::new();
    for linkage in [Linkage::Static, Linkage::Dynamic] {
        let wanted: Vec<(&String, &InstalledBinary)> = resolved
            .binaries
            .iter()
            .filter(|(_, binary)| linkage_of(binary) == linkage)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let targets: Vec<(&str, &str)> = wanted
            .iter()
            .map(|(_, binary)| (binary.package.as_str(), binary.bin.as_str()))
            .collect();
        let release = build(project, &targets, linkage)?;
        built.extend(
            wanted
                .into_iter()
                .map(|(install, binary)| (install.clone(), release.join(&binary.bin))),
        );
    }
    built.sort();
    Ok(built)
}

fn linkage_of(binary: &InstalledBinary) -> Linkage {
    if binary.dynamic {
        Linkage::Dynamic
    } else {
        Linkage::Static
    }
}

/// Builds workspace binaries, `(package, bin)`, statically linked; returns the folder they are in.
pub fn build_static(project: &Project, binaries: &[(&str, &str)]) -> Result<PathBuf> {
    build(project, binaries, Linkage::Static)
}

/// Builds workspace binaries, `(package, bin)`; returns the folder they are in. Each linkage has
/// a target folder of its own, so that switching flags never rebuilds the other's.
fn build(project: &Project, binaries: &[(&str, &str)], linkage: Linkage) -> Result<PathBuf> {
    let (target_dir, crt) = match linkage {
        Linkage::Static => (project.root.join("target"), "+crt-static"),
        Linkage::Dynamic => (project.root.join("target/dynamic"), "-crt-static"),
    };
    let mut cargo = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&project.root)
        .env(
            format!(
                "CARGO_TARGET_{}_RUSTFLAGS",
                TARGET.to_uppercase().replace('-', "_")
            ),
            // Panic locations and line tables record the checkout's path.
            format!(
                "-C target-feature={crt} --remap-path-prefix={}=/appliance",
                project.root.display()
            ),
        );
    for (package, bin) in binaries {
        cargo = cargo.args(["--package", package, "--bin", bin]);
    }
    let names: Vec<&str> = binaries.iter().map(|(_, bin)| *bin).collect();
    tracing::info!("binaries: building {} ({linkage:?})", names.join(" "));
    cargo.run()?;
    Ok(target_dir.join(TARGET).join("release"))
}
