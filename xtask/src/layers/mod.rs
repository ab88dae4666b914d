//! Layers: load each `layers/<name>/layer.toml`, check it, and resolve an ordered list of them
//! into one [`ResolvedLayers`], where later layers override earlier ones.

pub mod accounts;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::Spanned;

use crate::debian::trim::Glob;

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
    /// Linked against the image's glibc rather than statically.
    pub dynamic: bool,
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
    /// (layer, pattern): what the layers leave out of the packages' files, in layer order.
    pub package_exclude: Vec<(String, String)>,
    /// Overlay folders in layer order; a later file replaces an earlier one at the same path.
    pub overlays: Vec<PathBuf>,
    /// Install path in the rootfs → binary; a later layer replaces an earlier one's.
    pub binaries: BTreeMap<String, InstalledBinary>,
    pub policy_name: Option<String>,
    pub policy_rules: Vec<String>,
    pub accounts: accounts::Accounts,
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
    let bytes = std::fs::read(&manifest_path).map_err(|source| LayerError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let manifest_text = String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&error.as_bytes()[..valid]).into_owned();
        LayerError::Invalid {
            line: line_of(&text, valid),
            message: "this line is not UTF-8 text; save the file as UTF-8".to_owned(),
            path: manifest_path.clone(),
        }
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
    pub fn invalid(&self, at: &Spanned<impl Sized>, key: &str, message: String) -> LayerError {
        LayerError::Invalid {
            path: self.manifest_path.clone(),
            line: line_of(&self.manifest_text, at.span().start),
            message: format!("`{key}`: {message}"),
        }
    }

    /// A path named by the manifest, which must exist inside the layer's folder.
    fn existing_path(
        &self,
        value: &Spanned<String>,
        key: &str,
        folder: bool,
    ) -> Result<PathBuf, LayerError> {
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
        if path.is_dir() != folder {
            let wanted = if folder { "a folder" } else { "a file" };
            return Err(self.invalid(value, key, format!("{} must be {wanted}", path.display())));
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

/// Every problem found in a list of layers, reported at once.
#[derive(Debug)]
pub struct LayerErrors(pub Vec<LayerError>);

impl std::fmt::Display for LayerErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0[..] {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} problems in the layers:", all.len())?;
                for error in all {
                    write!(f, "\n  {error}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LayerErrors {}

/// Merges layers in order. Later layers override earlier ones: overlay files and binaries at the
/// same path, and the policy name; lists (fragments, patches, packages, rules) accumulate.
/// Every problem is reported, not only the first.
/// `package_problem` says why a Debian package cannot be installed from the lock, if it cannot.
pub fn resolve(
    layers: &[Layer],
    package_problem: &dyn Fn(&str) -> Option<String>,
) -> Result<ResolvedLayers, LayerErrors> {
    let mut resolved = ResolvedLayers::default();
    let mut errors = Vec::new();
    for layer in layers {
        let manifest = &layer.manifest;
        resolved.names.push(layer.name.clone());
        for fragment in &manifest.kernel.fragments {
            match layer.existing_path(fragment, "kernel.fragments", false) {
                Ok(path) => resolved.kernel_fragments.push(path),
                Err(error) => errors.push(error),
            }
        }
        for patch in &manifest.kernel.patches {
            match layer.existing_path(patch, "kernel.patches", false) {
                Ok(path) => resolved.kernel_patches.push(path),
                Err(error) => errors.push(error),
            }
        }
        for argument in &manifest.kernel.cmdline {
            match check_cmdline_argument(argument.get_ref()) {
                Ok(()) => resolved.kernel_cmdline.push(argument.get_ref().clone()),
                Err(message) => errors.push(layer.invalid(argument, "kernel.cmdline", message)),
            }
        }
        for package in &manifest.packages.debian {
            if let Some(problem) = package_problem(package.get_ref()) {
                errors.push(layer.invalid(package, "packages.debian", problem));
            } else if !resolved.debian_packages.contains(package.get_ref()) {
                resolved.debian_packages.push(package.get_ref().clone());
            }
        }
        for pattern in &manifest.packages.exclude {
            match Glob::parse(pattern.get_ref()) {
                Ok(_) => resolved
                    .package_exclude
                    .push((layer.name.clone(), pattern.get_ref().clone())),
                Err(message) => errors.push(layer.invalid(pattern, "packages.exclude", message)),
            }
        }
        if let Some(overlay) = &manifest.overlay {
            match layer.existing_path(overlay, "overlay", true) {
                Ok(path) => match generated_file_in(&path) {
                    None => resolved.overlays.push(path),
                    Some(file) => errors.push(layer.invalid(
                        overlay,
                        "overlay",
                        format!(
                            "{} ships /{file}, which the build generates from the layers' \
                             [[users]] and [[groups]]; declare the accounts there and remove the file",
                            path.display()
                        ),
                    )),
                },
                Err(error) => errors.push(error),
            }
        }
        for binary in &manifest.binaries {
            let install = binary.install.get_ref();
            if !install.starts_with('/')
                || install.ends_with('/')
                || install.split('/').any(|part| part == ".." || part == ".")
                || install.chars().any(char::is_control)
            {
                errors.push(layer.invalid(&binary.install, "binaries.install", format!("{install:?} must be an absolute file path in the root filesystem, with no `.`, `..` or control characters, such as \"/sbin/init\"")));
                continue;
            }
            if let Err(message) = check_sealed_install(install, binary.sealed) {
                errors.push(layer.invalid(&binary.install, "binaries.install", message));
                continue;
            }
            resolved.binaries.insert(
                install.clone(),
                InstalledBinary {
                    package: binary.package.clone(),
                    bin: binary.bin.clone(),
                    layer: layer.name.clone(),
                    sealed: binary.sealed,
                    dynamic: binary.dynamic,
                },
            );
        }
        if let Some(name) = &manifest.policy.name {
            if is_policy_token(name.get_ref()) {
                resolved.policy_name = Some(name.get_ref().clone());
            } else {
                errors.push(layer.invalid(
                    name,
                    "policy.name",
                    format!(
                        "{:?} must be non-empty with no spaces, `=` or `#`",
                        name.get_ref()
                    ),
                ));
            }
        }
        for rule in &manifest.policy.rules {
            // The kernel stops reading a policy at a NUL: a rule with one would silently drop
            // everything after it. No control character belongs in a rule.
            if rule.get_ref().chars().any(char::is_control) {
                errors.push(layer.invalid(
                    rule,
                    "policy.rules",
                    format!(
                        "{:?} holds a control character; a rule is one line of plain text",
                        rule.get_ref()
                    ),
                ));
                continue;
            }
            // Checked now, by the parser the kernel runs, so that the error names this line.
            let mut alone = ipe_lsm::host::PolicyText::new(
                "layer",
                ipe_lsm::Version::default(),
                ipe_lsm::Action::Deny,
            );
            alone.rule(rule.get_ref().clone());
            match alone.render_checked() {
                Ok(_) => resolved.policy_rules.push(rule.get_ref().clone()),
                Err(diagnostic) => errors.push(layer.invalid(
                    rule,
                    "policy.rules",
                    format!(
                        "{:?} is not a rule the kernel accepts ({}): see the IPE rule grammar in the README",
                        rule.get_ref(),
                        diagnostic.explanation
                    ),
                )),
            }
        }
    }
    resolved.accounts = accounts::declared(layers, &mut errors);
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(LayerErrors(errors))
    }
}

/// The account file an overlay ships, if it ships one: the build writes them.
fn generated_file_in(overlay: &Path) -> Option<&'static str> {
    ["etc/passwd", "etc/group"]
        .into_iter()
        .find(|file| overlay.join(file).symlink_metadata().is_ok())
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
            .any(|c| c.is_whitespace() || c.is_control() || c == '=' || c == '#')
}

/// Parameters the build sets itself: the root filesystem, its verity table, the init and the
/// slots the init reads. A layer setting one would fight the build (the init refuses a
/// parameter given twice).
const BUILD_PARAMETERS: &[&str] = &[
    "root",
    "ro",
    "rootfstype",
    "init",
    "panic",
    "dm-mod.create",
    "dm-mod.waitfor",
    "appliance.policy",
    "appliance.sealed",
];

/// One kernel command-line argument: no spaces, quotes or control characters (they change how
/// the kernel splits every later argument), and none of the build's own.
fn check_cmdline_argument(argument: &str) -> Result<(), String> {
    if argument.is_empty()
        || argument
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err(format!(
            "{argument:?} must be one argument: no spaces, quotes or control characters; \
             list each argument as its own string"
        ));
    }
    let name = argument.split_once('=').map_or(argument, |(name, _)| name);
    if BUILD_PARAMETERS.contains(&name) {
        return Err(format!(
            "`{name}` is set by the build itself; a layer cannot set it"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
