//! Stage `binaries`: the layers' workspace binaries, built statically so that the image needs
//! no libc, with the checkout's path mapped away so that every checkout builds the same bytes.
//! Cache: cargo's own.

use std::path::PathBuf;

use anyhow::Result;

use crate::exec::Tool;
use crate::layers::ResolvedLayers;
use crate::project::Project;

const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// `(install path, built file)` for each binary the layers install.
pub fn build_layer_binaries(
    project: &Project,
    resolved: &ResolvedLayers,
) -> Result<Vec<(String, PathBuf)>> {
    if resolved.binaries.is_empty() {
        return Ok(Vec::new());
    }
    let wanted: Vec<(&str, &str)> = resolved
        .binaries
        .values()
        .map(|binary| (binary.package.as_str(), binary.bin.as_str()))
        .collect();
    let release = build_static(project, &wanted)?;
    Ok(resolved
        .binaries
        .iter()
        .map(|(install, binary)| (install.clone(), release.join(&binary.bin)))
        .collect())
}

/// Builds workspace binaries, `(package, bin)`, statically linked; returns the folder they are in.
pub fn build_static(project: &Project, binaries: &[(&str, &str)]) -> Result<PathBuf> {
    let mut cargo = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--release", "--target", STATIC_TARGET])
        .current_dir(&project.root)
        .env(
            format!(
                "CARGO_TARGET_{}_RUSTFLAGS",
                STATIC_TARGET.to_uppercase().replace('-', "_")
            ),
            // Panic locations and line tables record the checkout's path.
            format!(
                "-C target-feature=+crt-static --remap-path-prefix={}=/appliance",
                project.root.display()
            ),
        );
    for (package, bin) in binaries {
        cargo = cargo.args(["--package", package, "--bin", bin]);
    }
    let names: Vec<&str> = binaries.iter().map(|(_, bin)| *bin).collect();
    tracing::info!("binaries: building {}", names.join(" "));
    cargo.run()?;
    Ok(project
        .root
        .join("target")
        .join(STATIC_TARGET)
        .join("release"))
}
