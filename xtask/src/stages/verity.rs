//! Stage `verity`: the dm-verity hash tree appended to the rootfs, in one disk image, and the
//! `dm-mod.create=` table that opens it (no initramfs). The tree and the table line both come
//! from the `verity` crate.
//!
//! Cache key: the rootfs key and the sources of this stage and of the `verity` crate.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use crate::cache::{self, KeyHasher, sha256_file};
use crate::remote_cache;
use verity::dm_verity::{self, Formatted, Geometry, Params};

pub const BLOCK_SIZE: u64 = 4096;

/// The protected disk image and what opens it.
#[derive(Debug, Clone)]
pub struct VerityOutput {
    pub disk: PathBuf,
    pub formatted: Formatted,
    pub params: Params,
}

impl VerityOutput {
    pub fn root_hash(&self) -> String {
        self.formatted.root_hash.to_string()
    }

    /// The `dm-mod.create=` table: a read-only verity device over `data_device`, with the tree
    /// at the start of `hash_device` (its own partition, hash start block 0, no superblock).
    pub fn dm_table(&self, data_device: &str, hash_device: &str) -> String {
        let (formatted, params) = self.separate_tree();
        format!(
            "rootfs,,,ro,0 {} verity {}",
            formatted.data_sectors(&params),
            formatted.table(&params, data_device, hash_device)
        )
    }

    /// The geometry with the tree moved to offset 0 of a device of its own. The tree's bytes do
    /// not depend on where it lies: each hash block holds only the hashes of the blocks below.
    fn separate_tree(&self) -> (Formatted, Params) {
        let params = Params {
            hash_offset: 0,
            ..self.params.clone()
        };
        let geometry = Geometry::new(&params, self.formatted.geometry.data_blocks)
            .expect("a geometry that was valid at another offset is valid at 0");
        (
            Formatted {
                root_hash: self.formatted.root_hash,
                geometry,
            },
            params,
        )
    }

    /// Where the data and the tree lie in [`Self::disk`]: `(data bytes, tree range)`.
    pub fn layout(&self) -> (u64, std::ops::Range<u64>) {
        let geometry = &self.formatted.geometry;
        (
            geometry.data_blocks * BLOCK_SIZE,
            geometry.tree_offset..geometry.hash_end,
        )
    }

    /// For the manifest.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "root_hash": self.root_hash(),
            "salt": hex::encode(&self.params.salt),
            "data_blocks": self.formatted.geometry.data_blocks,
            "hash_offset": self.formatted.geometry.tree_offset,
        })
    }
}

/// What the cache record keeps: enough to rebuild the result without rereading the disk.
#[derive(Serialize, Deserialize)]
struct Record {
    key: String,
    root_hash: String,
    salt: String,
    data_blocks: u64,
}

/// Copies the rootfs into `disk`, pads it to whole blocks and appends the hash tree, computed
/// in-process (byte-identical to `veritysetup format --no-superblock`). The salt is the
/// rootfs's own sha256: unique per content, yet reproducible.
fn format(rootfs: &Path, disk: &Path) -> Result<VerityOutput> {
    let salt = sha256_file(rootfs)?;
    let staged = disk.with_extension("tmp");
    fs::copy(rootfs, &staged).with_context(|| format!("copying {}", rootfs.display()))?;
    let data_blocks = fs::metadata(&staged)?.len().div_ceil(BLOCK_SIZE);
    fs::File::options()
        .write(true)
        .open(&staged)?
        .set_len(data_blocks * BLOCK_SIZE)?;
    tracing::info!("verity: hashing {data_blocks} blocks");
    let params = params(&salt, data_blocks)?;
    let formatted = dm_verity::format_appended(&staged, &params)?;
    ensure!(
        formatted.geometry.data_blocks == data_blocks,
        "the verity tree's geometry differs from the disk layout this stage assumes"
    );
    fs::rename(&staged, disk)?;
    Ok(VerityOutput {
        disk: disk.to_path_buf(),
        formatted,
        params,
    })
}

/// The tree follows the data on the same disk: `veritysetup format --hash-offset`.
fn params(salt_hex: &str, data_blocks: u64) -> Result<Params> {
    Ok(Params {
        salt: hex::decode(salt_hex)?,
        data_block_size: BLOCK_SIZE as u32,
        hash_block_size: BLOCK_SIZE as u32,
        hash_offset: data_blocks * BLOCK_SIZE,
        ..Params::default()
    })
}

/// Reuses the previous result when the rootfs and this stage's code are unchanged, else the
/// remote cache's, else hashes.
pub fn build(rootfs: &Path, rootfs_key: &str, work_dir: &Path) -> Result<VerityOutput> {
    let key = KeyHasher::default()
        .input("code", super::stage_sources::VERITY)
        .input("rootfs", rootfs_key)
        .finish();
    let disk = work_dir.join("rootfs.verity.img");
    let record_path = work_dir.join("verity.json");
    let entry = [
        ("rootfs.verity.img", disk.as_path()),
        ("verity.json", record_path.as_path()),
    ];
    if let Some(output) = up_to_date(&disk, &record_path, &key)? {
        tracing::info!("verity: up to date");
        remote_cache::publish("verity", &key, &entry);
        return Ok(output);
    }
    // A pulled tree must describe this rootfs: its data part is the rootfs, byte for byte.
    let describes_this_rootfs = |dir: &Path| {
        let record: Record = serde_json::from_slice(&fs::read(dir.join("verity.json"))?)?;
        ensure!(record.key == key, "its record is for another key");
        let data = fs::read(rootfs)?;
        let pulled = fs::read(dir.join("rootfs.verity.img"))?;
        ensure!(
            pulled.starts_with(&data) && record.salt == sha256_file(rootfs)?,
            "its data is not this rootfs"
        );
        Ok(())
    };
    if remote_cache::restore("verity", &key, &entry, &describes_this_rootfs)
        && let Some(output) = up_to_date(&disk, &record_path, &key)?
    {
        return Ok(output);
    }
    let output = format(rootfs, &disk)?;
    let record = Record {
        key: key.clone(),
        root_hash: output.root_hash(),
        salt: hex::encode(&output.params.salt),
        data_blocks: output.formatted.geometry.data_blocks,
    };
    cache::write_atomic(&record_path, serde_json::to_string(&record)?.as_bytes())?;
    remote_cache::publish("verity", &key, &entry);
    Ok(output)
}

/// The result recorded beside the disk, if it is for `key`.
fn up_to_date(disk: &Path, record_path: &Path, key: &str) -> Result<Option<VerityOutput>> {
    if disk.is_file()
        && let Ok(text) = fs::read_to_string(record_path)
        && let Ok(record) = serde_json::from_str::<Record>(&text)
        && record.key == key
    {
        let params = params(&record.salt, record.data_blocks)?;
        let root_hash = verity::Digest::from_slice(&hex::decode(&record.root_hash)?)
            .context("the verity record's root hash")?;
        return Ok(Some(VerityOutput {
            disk: disk.to_path_buf(),
            formatted: Formatted {
                root_hash,
                geometry: Geometry::new(&params, record.data_blocks)?,
            },
            params,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dm_table_counts_sectors_and_hash_blocks() {
        let work = tempfile::tempdir().unwrap();
        let rootfs = work.path().join("rootfs");
        fs::write(&rootfs, vec![7u8; 10 * BLOCK_SIZE as usize]).unwrap();
        let output = build(&rootfs, "key", work.path()).unwrap();
        assert_eq!(
            output.dm_table("/dev/vda2", "/dev/vda3"),
            format!(
                "rootfs,,,ro,0 80 verity 1 /dev/vda2 /dev/vda3 4096 4096 10 0 sha256 {} {}",
                output.root_hash(),
                sha256_file(&rootfs).unwrap()
            )
        );
        let again = build(&rootfs, "key", work.path()).unwrap();
        assert_eq!(again.dm_table("a", "b"), output.dm_table("a", "b"));
        assert_eq!(
            output.layout(),
            (10 * BLOCK_SIZE, 10 * BLOCK_SIZE..11 * BLOCK_SIZE)
        );
    }
}
