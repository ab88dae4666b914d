//! What to boot, and `boot.json`, its form in the output folder.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// What to boot: the kernel, the disk (every partition of the image), the command line for a
/// direct boot; the signed UKI (also in the disk's ESP) and the firmware's variable store for a
/// boot under UEFI Secure Boot.
#[derive(Debug, Clone)]
pub struct BootSpec {
    pub kernel: PathBuf,
    pub disk: PathBuf,
    pub cmdline: String,
    pub uki: PathBuf,
    /// OVMF's variables with this build's PK, KEK and db enrolled, Secure Boot on; none when an
    /// external key signed the UKI.
    pub firmware_vars: Option<PathBuf>,
}

impl BootSpec {
    /// The image's disks in the order the guest sees them: `/dev/vda`, its only one.
    pub fn disks(&self) -> Vec<PathBuf> {
        vec![self.disk.clone()]
    }

    /// The guest's name for the first disk attached after the image's own, as tests do.
    pub fn extra_disk_device(&self) -> String {
        format!("/dev/vd{}", char::from(b'a' + self.disks().len() as u8))
    }
}

/// `boot.json`: the boot spec with file names relative to the output folder, so that the
/// folder can be moved and two checkouts ship the same bytes.
#[derive(Serialize, Deserialize)]
pub struct BootFile {
    pub kernel: String,
    pub disk: String,
    pub cmdline: String,
    pub uki: String,
    pub firmware_vars: Option<String>,
}

pub const FILE: &str = "boot.json";
/// The test machine's OVMF variable store in the output folder.
pub const FIRMWARE_VARS: &str = "ovmf-vars.fd";
/// Reads the boot spec of a built image.
pub fn load(out_dir: &Path) -> Result<BootSpec> {
    let path = out_dir.join(FILE);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "{} not found: build the image first with `cargo xtask image`",
            path.display()
        )
    })?;
    let file: BootFile =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    Ok(file.in_folder(out_dir))
}

impl BootFile {
    /// The boot spec of the output folder that holds this file.
    pub fn in_folder(&self, out_dir: &Path) -> BootSpec {
        BootSpec {
            kernel: out_dir.join(&self.kernel),
            disk: out_dir.join(&self.disk),
            cmdline: self.cmdline.clone(),
            uki: out_dir.join(&self.uki),
            firmware_vars: self.firmware_vars.as_ref().map(|vars| out_dir.join(vars)),
        }
    }
}
