//! Stage `sealed`: the sealed partition. Binaries that layers mark `sealed = true` go onto an
//! ext4 image made with `-O verity`, each with fs-verity already enabled, so the device mounts it
//! read-only at [`SEALED_MOUNT`] and IPE lets each run by its fs-verity digest. erofs has no
//! fs-verity, hence ext4.
//!
//! Built without root: `mke2fs -d` copies each file with its fs-verity metadata appended where
//! ext4 keeps it (past the end of the data), then `debugfs` cuts `i_size` back to the data and
//! sets the verity flag. The layout logic is pure and unit-tested; the rest runs the two tools.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use walkdir::WalkDir;

use crate::cache::{self, KeyHasher};
use crate::exec::Tool;
use crate::layers::{SEALED_MOUNT, below_sealed_mount};
use crate::remote_cache;

/// The fs-verity and file system block size: `fsverity digest`'s default, and the page size.
const BLOCK: usize = 4096;
/// ext4 starts the Merkle tree at the first 64 KiB boundary after the data (fs/ext4/verity.c),
/// so that it stays clear of the data's pages whatever the page size.
const METADATA_ALIGN: usize = 64 * 1024;
/// `EXT4_EXTENTS_FL | EXT4_VERITY_FL`: what `FS_IOC_ENABLE_VERITY` leaves on a file that
/// `mke2fs -d` wrote with extents.
const VERITY_INODE_FLAGS: &str = "0x180000";
/// No journal: the partition is never written on the device. 256-byte inodes hold timestamps
/// past 2038. No reserved blocks: nothing runs as root on it to need them.
const MKE2FS_OPTIONS: [&str; 10] = [
    "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0",
];
const FEATURES: &str = "verity,^has_journal";

pub struct SealedInputs {
    /// (install path below [`SEALED_MOUNT`], built file).
    pub binaries: Vec<(String, PathBuf)>,
    pub source_date_epoch: u64,
}

/// A sealed file and the fs-verity digest the policy allows.
#[derive(Debug, Clone, Serialize)]
pub struct SealedFile {
    pub install: String,
    /// `sha256:<hex>`, as `fsverity digest` prints it.
    pub digest: String,
}

pub struct SealedOutput {
    pub image: PathBuf,
    pub files: Vec<SealedFile>,
}

pub fn build(inputs: &SealedInputs, work_dir: &Path) -> Result<SealedOutput> {
    let mut staged = Vec::new();
    for (install, built) in &inputs.binaries {
        let data = fs::read(built).with_context(|| format!("reading {}", built.display()))?;
        staged.push((install, with_verity_metadata(&data)?, data.len()));
    }
    let files = staged
        .iter()
        .map(|(install, file, _)| SealedFile {
            install: (*install).clone(),
            digest: file.digest.to_string(),
        })
        .collect();
    let key = cache_key(inputs, &staged)?;
    let image = work_dir.join("sealed.img");
    let stamp = work_dir.join("sealed.key");
    let entry = [("sealed.img", image.as_path())];
    if image.is_file() && fs::read_to_string(&stamp).is_ok_and(|old| old == key) {
        tracing::info!("sealed: up to date");
        remote_cache::publish("sealed", &key, &entry);
        return Ok(SealedOutput { image, files });
    }
    if remote_cache::restore("sealed", &key, &entry, &|_| Ok(())) {
        cache::write_atomic(&stamp, key.as_bytes())?;
        return Ok(SealedOutput { image, files });
    }
    tracing::info!("sealed: packing ext4 with fs-verity");
    let tree = tempfile::tempdir_in(work_dir)?;
    let mut script = Script::default();
    let mut data_bytes = 0;
    for (install, file, data_len) in &staged {
        let path = below_mount(install)?;
        let target = tree.path().join(path.trim_start_matches('/'));
        fs::create_dir_all(target.parent().context("sealed path has no parent")?)?;
        fs::write(&target, &file.bytes)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755))?;
        script.seal(path, *data_len as u64);
        data_bytes += file.bytes.len() as u64;
    }
    for entry in WalkDir::new(tree.path()).sort_by_file_name() {
        let relative = entry?.path().strip_prefix(tree.path())?.to_owned();
        script.pin(
            &format!("/{}", relative.display()),
            inputs.source_date_epoch,
        );
    }

    let staged_image = work_dir.join("sealed.img.tmp");
    let _ = fs::remove_file(&staged_image);
    let uuid = super::rootfs::uuid_from_key(&key);
    // e2fsprogs reads a fake time of 0 as unset and stamps the superblock with the clock; the
    // files' own times are pinned to the epoch by the debugfs script whatever this is.
    let fake_time = inputs.source_date_epoch.max(1).to_string();
    Tool::new("mke2fs")
        .args(MKE2FS_OPTIONS)
        .args(["-O", FEATURES, "-L", "sealed", "-U", &uuid])
        .args(["-E", &format!("root_owner=0:0,hash_seed={uuid}")])
        .arg("-d")
        .arg(tree.path())
        .arg(&staged_image)
        .arg(format!("{}k", image_size(data_bytes) / 1024))
        .env("E2FSPROGS_FAKE_TIME", &fake_time)
        .run()?;
    let script_path = tree.path().join("debugfs.script");
    fs::write(&script_path, &script.text)?;
    // debugfs exits 0 even when a command fails; it then says why, so any line besides its
    // banner and the echoed commands is an error.
    let mut complaints = Vec::new();
    Tool::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&script_path)
        .arg(&staged_image)
        .env("E2FSPROGS_FAKE_TIME", &fake_time)
        .run_streaming(|line| {
            if !line.starts_with("debugfs") {
                complaints.push(line.to_owned());
            }
        })?;
    if !complaints.is_empty() {
        bail!(
            "debugfs could not seal {}:\n{}",
            staged_image.display(),
            complaints.join("\n")
        );
    }
    fs::rename(&staged_image, &image)?;
    cache::write_atomic(&stamp, key.as_bytes())?;
    remote_cache::publish("sealed", &key, &entry);
    Ok(SealedOutput { image, files })
}

/// Hashes each file's data (the metadata follows from it); the key also makes the UUID.
fn cache_key(inputs: &SealedInputs, staged: &[(&String, VerityFile, usize)]) -> Result<String> {
    let mut key = KeyHasher::default();
    key.input("code", super::stage_sources::SEALED)
        .input("epoch", inputs.source_date_epoch.to_le_bytes())
        .input("mke2fs", MKE2FS_OPTIONS.join(" ") + FEATURES);
    for (install, file, data_len) in staged {
        key.input(install, &file.bytes[..*data_len]);
    }
    Ok(key.finish())
}

/// The path on the partition of a file installed at `install`; layers checked the prefix.
fn below_mount(install: &str) -> Result<&str> {
    below_sealed_mount(install)
        .with_context(|| format!("sealed binary {install:?} is not under {SEALED_MOUNT}/"))
}

/// Room for the files, their directories and ext4's own tables, in whole MiB.
fn image_size(data_bytes: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    (data_bytes + data_bytes / 8 + 4 * MIB).next_multiple_of(MIB)
}

/// A file's bytes as ext4 stores a file with fs-verity, and its fs-verity digest.
struct VerityFile {
    bytes: Vec<u8>,
    digest: verity::fs_verity::FileDigest,
}

/// The data, then from the next 64 KiB boundary the Merkle tree (root level first), then the
/// descriptor at the next block, then the descriptor's size as a little-endian u32 in the last
/// 4 bytes of the block where it ends: what `FS_IOC_ENABLE_VERITY` writes past `i_size`, and
/// where the kernel looks (it finds the size at the end of the file's last block).
fn with_verity_metadata(data: &[u8]) -> Result<VerityFile> {
    let metadata = verity::fs_verity::metadata_bytes(data, &verity::fs_verity::Params::default())?;
    let mut bytes = data.to_vec();
    bytes.resize(data.len().next_multiple_of(METADATA_ALIGN), 0);
    bytes.extend_from_slice(&metadata.tree);
    bytes.resize(bytes.len().next_multiple_of(BLOCK), 0);
    bytes.extend_from_slice(&metadata.descriptor);
    let size_at = (bytes.len() + 4).next_multiple_of(BLOCK) - 4;
    bytes.resize(size_at, 0);
    bytes.extend_from_slice(&(metadata.descriptor.len() as u32).to_le_bytes());
    Ok(VerityFile {
        bytes,
        digest: metadata.digest,
    })
}

/// The debugfs commands that finish the image.
#[derive(Default)]
struct Script {
    text: String,
}

impl Script {
    /// Cuts the file back to its data, leaving the metadata past the end, and marks it verity.
    fn seal(&mut self, path: &str, data_len: u64) {
        self.text +=
            &format!("sif {path} size {data_len}\nsif {path} flags {VERITY_INODE_FLAGS}\n");
    }

    /// Owner and times from the build machine never leak in: root, and the epoch. After
    /// `seal`, since debugfs itself stamps the change time.
    fn pin(&mut self, path: &str, epoch: u64) {
        for (field, value) in [("uid", "0".to_owned()), ("gid", "0".to_owned())]
            .into_iter()
            .chain(["atime", "ctime", "mtime", "crtime"].map(|f| (f, format!("@{epoch}"))))
        {
            self.text += &format!("sif {path} {field} {value}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};
    use verity::fs_verity::{Params, digest_bytes, metadata_bytes};

    fn le32(bytes: &[u8], at: usize) -> usize {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
    }

    #[test]
    fn digests_agree_with_fsverity_for_every_tree_shape() {
        // Empty, one block (no tree), one level, and two levels (more than 128 blocks).
        for len in [0, 1, BLOCK, BLOCK + 1, 128 * BLOCK, 128 * BLOCK + 5] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let staged = with_verity_metadata(&data).unwrap();
            let expected = digest_bytes(&data, &Params::default()).unwrap();
            assert_eq!(
                staged.digest.to_string(),
                expected.to_string(),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn lays_out_tree_descriptor_and_size_as_ext4_reads_them() {
        let data = vec![0xa5u8; 3 * BLOCK + 10];
        let staged = with_verity_metadata(&data).unwrap();
        let bytes = &staged.bytes;
        assert_eq!(&bytes[..data.len()], &data[..]);
        assert!(bytes[data.len()..METADATA_ALIGN].iter().all(|&b| b == 0));
        // One tree block: the four leaf hashes, then zeros.
        let metadata = metadata_bytes(&data, &Params::default()).unwrap();
        let (root, tree) = (&metadata.descriptor[16..48], metadata.tree);
        assert_eq!(tree.len(), BLOCK);
        assert_eq!(&bytes[METADATA_ALIGN..METADATA_ALIGN + BLOCK], &tree[..]);
        assert_eq!(root, &Sha256::digest(&tree)[..]);
        // The kernel reads the size from the end of the last block, then the descriptor.
        assert_eq!(bytes.len() % BLOCK, 0);
        let descriptor_len = le32(bytes, bytes.len() - 4);
        assert_eq!(descriptor_len, verity::fs_verity::DESCRIPTOR_LEN);
        let descriptor_at = METADATA_ALIGN + BLOCK;
        assert_eq!(bytes.len(), descriptor_at + BLOCK);
        let descriptor = &bytes[descriptor_at..descriptor_at + descriptor_len];
        assert_eq!(le32(descriptor, 8), data.len());
        assert_eq!(&descriptor[16..48], root);
    }

    #[test]
    fn the_script_seals_then_pins_every_path() {
        let mut script = Script::default();
        script.seal("/bin/tool", 1234);
        script.pin("/bin/tool", 7);
        assert!(script.text.starts_with(
            "sif /bin/tool size 1234\nsif /bin/tool flags 0x180000\nsif /bin/tool uid 0\n"
        ));
        assert!(script.text.ends_with("sif /bin/tool crtime @7\n"));
        assert_eq!(script.text.lines().count(), 8);
    }

    /// Builds the same file twice, as on two machines: other modes and, a second apart, other
    /// times.
    fn build_twice(source_date_epoch: u64) -> Vec<Vec<u8>> {
        let mut images = Vec::new();
        for mode in [0o600, 0o755] {
            let work = tempfile::tempdir().unwrap();
            let built = work.path().join("tool");
            let data: Vec<u8> = (0..3 * BLOCK as u32).map(|i| (i % 251) as u8).collect();
            fs::write(&built, data).unwrap();
            fs::set_permissions(&built, fs::Permissions::from_mode(mode)).unwrap();
            let inputs = SealedInputs {
                binaries: vec![("/opt/sealed/bin/tool".to_owned(), built)],
                source_date_epoch,
            };
            let output = build(&inputs, work.path())
                .expect("mke2fs and debugfs are installed by `cargo xtask setup`");
            assert_eq!(output.files[0].install, "/opt/sealed/bin/tool");
            // Exits non-zero on any inconsistency, such as blocks past i_size it does not expect.
            Tool::new("e2fsck")
                .arg("-fn")
                .arg(&output.image)
                .run()
                .unwrap();
            images.push(fs::read(output.image).unwrap());
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        images
    }

    #[test]
    fn two_builds_give_the_same_clean_bytes() {
        let images = build_twice(1_700_000_000);
        assert!(images[0] == images[1], "the two sealed images differ");
    }

    #[test]
    fn the_default_epoch_zero_is_reproducible_too() {
        let images = build_twice(0);
        assert!(images[0] == images[1], "the two sealed images differ");
    }

    #[test]
    fn sealed_paths_are_below_the_mount_point() {
        assert_eq!(below_mount("/opt/sealed/bin/x").unwrap(), "/bin/x");
        assert!(below_mount("/opt/sealedx").is_err());
        assert_eq!(image_size(0), 4 << 20);
    }
}
