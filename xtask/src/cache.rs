//! The build cache: one directory per machine, shared by every checkout, so that CI on the same
//! machine reuses the kernel build. Everything in it is keyed by a hash of its inputs.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Where pinned downloads, extracted sources and build trees live.
#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// `$APPLIANCE_CACHE`, else `$XDG_CACHE_HOME/ipe-appliance`, else `~/.cache/ipe-appliance`.
    pub fn locate() -> Result<Cache> {
        let root = match std::env::var_os("APPLIANCE_CACHE") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let base = match std::env::var_os("XDG_CACHE_HOME") {
                    Some(dir) => PathBuf::from(dir),
                    None => {
                        let home = std::env::var_os("HOME")
                            .context("neither APPLIANCE_CACHE, XDG_CACHE_HOME nor HOME is set")?;
                        PathBuf::from(home).join(".cache")
                    }
                };
                base.join("ipe-appliance")
            }
        };
        fs::create_dir_all(&root)
            .with_context(|| format!("creating the cache directory {}", root.display()))?;
        Ok(Cache { root })
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// Takes the cache-wide lock for `name`, waiting while another build holds it.
    pub fn lock(&self, name: &str) -> Result<File> {
        let dir = self.path("locks");
        fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        if file.try_lock().is_err() {
            tracing::info!("waiting for another build holding {}", path.display());
            file.lock()
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Ok(file)
    }
}

/// Accumulates a stage's inputs into its cache key.
#[derive(Default, Clone)]
pub struct KeyHasher(Sha256);

impl KeyHasher {
    /// Adds one named input; the name and length framing keep distinct inputs from colliding.
    pub fn input(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        self.0.update((name.len() as u64).to_le_bytes());
        self.0.update(name.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value);
        self
    }

    pub fn finish(&self) -> String {
        hex::encode(self.0.clone().finalize())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Writes `contents` to `path` through a temporary file in the same directory, synced and
/// renamed, so that readers never see a half-written file. The one atomic writer: the
/// `signing` crate's, which also writes private keys. Outputs are not secrets: mode 0644.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(signing::write_file(path, contents, 0o644)?)
}

/// Writes `contents` only when they differ, so that make sees no new mtime for unchanged inputs.
pub fn write_if_changed(path: &Path, contents: &[u8]) -> Result<bool> {
    if fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    write_atomic(path, contents)?;
    Ok(true)
}

/// A fresh temporary directory next to `target`, to be renamed onto it when complete.
pub fn staging_dir_for(target: &Path) -> Result<tempfile::TempDir> {
    let parent = target.parent().context("path has no parent directory")?;
    fs::create_dir_all(parent)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp"))
        .tempdir_in(parent)
        .with_context(|| format!("creating a staging directory in {}", parent.display()))
}

/// Moves a completed staging directory onto `target`, replacing any older one.
pub fn promote_dir(staging: tempfile::TempDir, target: &Path) -> Result<()> {
    let staged = staging.keep();
    if target.exists() {
        fs::remove_dir_all(target).with_context(|| format!("removing {}", target.display()))?;
    }
    fs::rename(&staged, target)
        .with_context(|| format!("renaming {} to {}", staged.display(), target.display()))
}
