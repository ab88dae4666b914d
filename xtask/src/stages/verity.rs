//! Stage `verity`: the dm-verity hash tree appended to the rootfs, in one disk image, and the
//! kernel command line that opens it with `dm-mod.create=` (no initramfs).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use crate::cache::{self, sha256_file};
use verity::dm_verity;

pub const BLOCK_SIZE: u64 = 4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerityOutput {
    #[serde(skip)]
    pub disk: PathBuf,
    pub root_hash: String,
    pub salt: String,
    pub data_blocks: u64,
    /// Where the hash tree starts in the disk image, in bytes.
    pub hash_offset: u64,
}

impl VerityOutput {
    /// The `dm-mod.create=` table: a read-only verity device over `device`, data then tree.
    pub fn dm_table(&self, device: &str) -> String {
        format!(
            "rootfs,,,ro,0 {sectors} verity 1 {device} {device} {BLOCK_SIZE} {BLOCK_SIZE} {blocks} {hash_start} sha256 {root} {salt}",
            sectors = self.data_blocks * (BLOCK_SIZE / 512),
            blocks = self.data_blocks,
            hash_start = self.hash_offset / BLOCK_SIZE,
            root = self.root_hash,
            salt = self.salt,
        )
    }
}

/// Copies the rootfs into `disk`, pads it to whole blocks and appends the hash tree, computed
/// in-process by the `verity` crate (byte-identical to `veritysetup format --no-superblock`).
/// The salt is the rootfs's own sha256: unique per content, yet reproducible.
pub fn format(rootfs: &Path, disk: &Path) -> Result<VerityOutput> {
    let salt = sha256_file(rootfs)?;
    let staged = disk.with_extension("tmp");
    fs::copy(rootfs, &staged).with_context(|| format!("copying {}", rootfs.display()))?;
    let size = fs::metadata(&staged)?.len();
    let data_blocks = size.div_ceil(BLOCK_SIZE);
    let hash_offset = data_blocks * BLOCK_SIZE;
    fs::File::options()
        .write(true)
        .open(&staged)?
        .set_len(hash_offset)?;
    tracing::info!("verity: hashing {data_blocks} blocks");
    let params = dm_verity::Params {
        salt: hex::decode(&salt)?,
        ..dm_verity::Params::default()
    };
    let formatted = dm_verity::format_appended(&staged, &params)?;
    ensure!(
        formatted.geometry.data_blocks == data_blocks
            && formatted.geometry.tree_offset == hash_offset,
        "the verity tree's geometry differs from the disk layout this stage assumes"
    );
    fs::rename(&staged, disk)?;
    Ok(VerityOutput {
        disk: disk.to_path_buf(),
        root_hash: formatted.root_hash.to_string(),
        salt,
        data_blocks,
        hash_offset,
    })
}

/// Reuses the previous result when the rootfs is unchanged.
pub fn format_cached(rootfs: &Path, rootfs_key: &str, disk: &Path) -> Result<VerityOutput> {
    // Which code made the tree is an input too: a new implementation must not reuse old trees.
    let key = format!("{rootfs_key}:verity-crate");
    let record = disk.with_extension("verity.json");
    if disk.is_file()
        && let Ok(text) = fs::read_to_string(&record)
        && let Ok((cached_key, cached)) = serde_json::from_str::<(String, VerityOutput)>(&text)
        && cached_key == key
    {
        tracing::info!("verity: up to date");
        return Ok(VerityOutput {
            disk: disk.to_path_buf(),
            ..cached
        });
    }
    let output = format(rootfs, disk)?;
    cache::write_atomic(&record, serde_json::to_string(&(&key, &output))?.as_bytes())?;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dm_table_counts_sectors_and_hash_blocks() {
        let output = VerityOutput {
            disk: PathBuf::new(),
            root_hash: "ab".repeat(32),
            salt: "cd".repeat(32),
            data_blocks: 10,
            hash_offset: 10 * BLOCK_SIZE,
        };
        assert_eq!(
            output.dm_table("/dev/vda"),
            format!(
                "rootfs,,,ro,0 80 verity 1 /dev/vda /dev/vda 4096 4096 10 10 sha256 {} {}",
                "ab".repeat(32),
                "cd".repeat(32)
            )
        );
    }
}
