//! Where things are: the checkout, its outputs, and the shared cache.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cache::Cache;
use crate::lockfile::{self, Lockfile};

pub struct Project {
    pub root: PathBuf,
    pub cache: Cache,
    pub lock: Lockfile,
}

impl Project {
    pub fn discover() -> Result<Project> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent directory")?
            .to_path_buf();
        let lock_path = root.join(lockfile::FILE_NAME);
        let text = std::fs::read_to_string(&lock_path)
            .with_context(|| format!("reading {}", lock_path.display()))?;
        let lock = Lockfile::parse(&text).map_err(|error| {
            let line = error
                .span()
                .map_or(1, |span| text[..span.start].matches('\n').count() + 1);
            anyhow::anyhow!("{}:{line}: {}", lock_path.display(), error.message())
        })?;
        Ok(Project {
            root,
            cache: Cache::locate()?,
            lock,
        })
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// An image's shipped folder, under `target/` like every cargo output.
    pub fn output_dir(&self, image: &str) -> PathBuf {
        self.root.join("target/appliance").join(image)
    }

    /// An image's update bundles (`cargo xtask bundle`): beside the image folders, not in one,
    /// since each image build swaps its folder whole.
    pub fn bundle_dir(&self, image: &str) -> PathBuf {
        self.root.join("target/bundles").join(image)
    }

    /// An image's intermediates and cache stamps; its build log is `<work dir>.log`.
    pub fn work_dir(&self, image: &str) -> PathBuf {
        self.root.join("target/appliance-work").join(image)
    }

    /// What tests of an image write: tampered copies, test policies, transcripts.
    pub fn test_dir(&self, image: &str) -> PathBuf {
        self.root.join("target/appliance-tests").join(image)
    }
}
