//! Layers: load each `layers/<name>/layer.toml`, check it, and resolve an ordered list of them
//! into one [`ResolvedLayers`], where later layers override earlier ones.

mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::Spanned;

pub use schema::LayerManifest;
use schema::line_of;

/// A layer problem, located precisely enough to fix: file, line and key.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer `{name}` not found: expected {path}; the layers that exist are: {available}")]
    Missing {
        name: String,
        path: PathBuf,
        available: String,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A layer as loaded, with what is needed to locate errors and hash it.
pub struct Layer {
    pub name: String,
    pub dir: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest_text: String,
    pub manifest: LayerManifest,
}

/// A workspace binary to build and where it goes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InstalledBinary {
    pub package: String,
    pub bin: String,
    pub layer: String,
    /// On the sealed fs-verity partition rather than the rootfs.
    pub sealed: bool,
}

/// Where the init mounts the sealed partition, read-only; sealed binaries install below it.
pub const SEALED_MOUNT: &str = "/opt/sealed";

/// The path on the sealed partition of a file installed at `install`, if it is below the mount.
pub fn below_sealed_mount(install: &str) -> Option<&str> {
    install
        .strip_prefix(SEALED_MOUNT)
        .filter(|path| path.starts_with('/'))
}

/// The merged view of an ordered list of layers.
#[derive(Debug, Default)]
pub struct ResolvedLayers {
    pub names: Vec<String>,
    pub kernel_fragments: Vec<PathBuf>,
    pub kernel_patches: Vec<PathBuf>,
    pub kernel_cmdline: Vec<String>,
    pub debian_packages: Vec<String>,
    /// Overlay folders in layer order; a later file replaces an earlier one at the same path.
    pub overlays: Vec<PathBuf>,
    /// Install path in the rootfs → binary; a later layer replaces an earlier one's.
    pub binaries: BTreeMap<String, InstalledBinary>,
    pub policy_name: Option<String>,
    pub policy_rules: Vec<String>,
}

pub fn load(layers_dir: &Path, name: &str) -> Result<Layer, LayerError> {
    let dir = layers_dir.join(name);
    let manifest_path = dir.join("layer.toml");
    if !manifest_path.is_file() {
        return Err(LayerError::Missing {
            name: name.to_owned(),
            path: manifest_path,
            available: available_layers(layers_dir).join(", "),
        });
    }
    let manifest_text =
        std::fs::read_to_string(&manifest_path).map_err(|source| LayerError::Io {
            path: manifest_path.clone(),
            source,
        })?;
    let manifest =
        toml::from_str::<LayerManifest>(&manifest_text).map_err(|error| LayerError::Invalid {
            line: error
                .span()
                .map_or(1, |span| line_of(&manifest_text, span.start)),
            message: error.message().to_owned(),
            path: manifest_path.clone(),
        })?;
    Ok(Layer {
        name: name.to_owned(),
        dir,
        manifest_path,
        manifest_text,
        manifest,
    })
}

fn available_layers(layers_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(layers_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join("layer.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

impl Layer {
    fn invalid(&self, at: &Spanned<impl Sized>, key: &str, message: String) -> LayerError {
        LayerError::Invalid {
            path: self.manifest_path.clone(),
            line: line_of(&self.manifest_text, at.span().start),
            message: format!("`{key}`: {message}"),
        }
    }

    /// A path named by the manifest, which must exist inside the layer's folder.
    fn existing_path(&self, value: &Spanned<String>, key: &str) -> Result<PathBuf, LayerError> {
        let relative = Path::new(value.get_ref());
        if relative.is_absolute() || relative.components().any(|c| c.as_os_str() == "..") {
            return Err(self.invalid(
                value,
                key,
                format!(
                    "{relative:?} must be a path inside the layer folder {}",
                    self.dir.display()
                ),
            ));
        }
        let path = self.dir.join(relative);
        if !path.exists() {
            return Err(self.invalid(
                value,
                key,
                format!(
                    "{} does not exist; create it or fix the path",
                    path.display()
                ),
            ));
        }
        // A symlink in the layer must not lead the build to read the host's files.
        let inside = std::fs::canonicalize(&path)
            .ok()
            .zip(std::fs::canonicalize(&self.dir).ok())
            .is_some_and(|(real, dir)| real.starts_with(dir));
        if !inside {
            return Err(self.invalid(
                value,
                key,
                format!(
                    "{} leads outside the layer folder {} through a symlink; copy what it needs into the layer",
                    path.display(),
                    self.dir.display()
                ),
            ));
        }
        Ok(path)
    }
}

/// Merges layers in order. Later layers override earlier ones: overlay files and binaries at the
/// same path, and the policy name; lists (fragments, patches, packages, rules) accumulate.
pub fn resolve(
    layers: &[Layer],
    pinned: &dyn Fn(&str) -> bool,
) -> Result<ResolvedLayers, LayerError> {
    let mut resolved = ResolvedLayers::default();
    for layer in layers {
        let manifest = &layer.manifest;
        resolved.names.push(layer.name.clone());
        for fragment in &manifest.kernel.fragments {
            resolved
                .kernel_fragments
                .push(layer.existing_path(fragment, "kernel.fragments")?);
        }
        for patch in &manifest.kernel.patches {
            resolved
                .kernel_patches
                .push(layer.existing_path(patch, "kernel.patches")?);
        }
        resolved
            .kernel_cmdline
            .extend(manifest.kernel.cmdline.iter().cloned());
        for package in &manifest.packages.debian {
            if !pinned(package.get_ref()) {
                return Err(layer.invalid(
                    package,
                    "packages.debian",
                    format!(
                        "`{}` is not pinned in packages.lock; add it with `cargo xtask lock {}`",
                        package.get_ref(),
                        package.get_ref()
                    ),
                ));
            }
            if !resolved.debian_packages.contains(package.get_ref()) {
                resolved.debian_packages.push(package.get_ref().clone());
            }
        }
        if let Some(overlay) = &manifest.overlay {
            resolved
                .overlays
                .push(layer.existing_path(overlay, "overlay")?);
        }
        for binary in &manifest.binaries {
            let install = binary.install.get_ref();
            if !install.starts_with('/')
                || install.ends_with('/')
                || install.split('/').any(|part| part == ".." || part == ".")
            {
                return Err(layer.invalid(&binary.install, "binaries.install", format!("{install:?} must be an absolute file path in the root filesystem, with no `.` or `..`, such as \"/sbin/init\"")));
            }
            if let Err(message) = check_sealed_install(install, binary.sealed) {
                return Err(layer.invalid(&binary.install, "binaries.install", message));
            }
            resolved.binaries.insert(
                install.clone(),
                InstalledBinary {
                    package: binary.package.clone(),
                    bin: binary.bin.clone(),
                    layer: layer.name.clone(),
                    sealed: binary.sealed,
                },
            );
        }
        if let Some(name) = &manifest.policy.name {
            if !is_policy_token(name.get_ref()) {
                return Err(layer.invalid(
                    name,
                    "policy.name",
                    format!(
                        "{:?} must be non-empty with no spaces, `=` or `#`",
                        name.get_ref()
                    ),
                ));
            }
            resolved.policy_name = Some(name.get_ref().clone());
        }
        for rule in &manifest.policy.rules {
            // Checked now, by the parser the kernel runs, so that the error names this line.
            let mut alone = ipe_lsm::host::PolicyText::new(
                "layer",
                ipe_lsm::Version::default(),
                ipe_lsm::Action::Deny,
            );
            alone.rule(rule.get_ref().clone());
            if let Err(diagnostic) = alone.render_checked() {
                return Err(layer.invalid(
                    rule,
                    "policy.rules",
                    format!(
                        "{:?} is not a rule the kernel accepts ({}): see the IPE rule grammar in the README",
                        rule.get_ref(),
                        diagnostic.explanation
                    ),
                ));
            }
            resolved.policy_rules.push(rule.get_ref().clone());
        }
    }
    Ok(resolved)
}

/// Sealed binaries live on their own partition, mounted at [`SEALED_MOUNT`]; nothing else may
/// be installed there, since the mount would hide it. Their paths are written into a debugfs
/// script, which has no quoting, hence plain names only.
fn check_sealed_install(install: &str, sealed: bool) -> Result<(), String> {
    match (sealed, below_sealed_mount(install).is_some()) {
        (true, false) => Err(format!(
            "{install:?} is sealed, so it must be under {SEALED_MOUNT}/, such as \"{SEALED_MOUNT}/tool\""
        )),
        (false, true) => Err(format!(
            "{install:?} is under {SEALED_MOUNT}/, where only sealed binaries go; add `sealed = true` or move it"
        )),
        (true, true) if install.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') => {
            Err(format!(
                "sealed path {install:?} must not contain spaces, quotes or backslashes"
            ))
        }
        _ => Ok(()),
    }
}

fn is_policy_token(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c == '=' || c == '#')
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
