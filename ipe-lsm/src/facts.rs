//! What the evaluator knows about the file and the kernel build.

/// The longest algorithm name a fact can carry (`CRYPTO_MAX_ALG_NAME`).
pub const ALG_NAME_MAX: usize = 128;
/// The longest digest a fact can carry (`FS_VERITY_MAX_DIGEST_SIZE`,
/// `HASH_MAX_DIGESTSIZE`).
pub const DIGEST_MAX: usize = 64;

/// Which IPE trust providers the kernel was built with: the Kconfig
/// switches `CONFIG_IPE_PROP_*`. A compiled-out property never matches.
///
/// Kconfig makes each signature switch imply its base switch; if a caller
/// sets a signature switch alone, the file is treated as having no block
/// device / no inode, as a build with the base switch off would see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Config {
    /// `CONFIG_IPE_PROP_DM_VERITY`: `dmverity_roothash`.
    pub dm_verity: bool,
    /// `CONFIG_IPE_PROP_DM_VERITY_SIGNATURE`: `dmverity_signature`.
    pub dm_verity_signature: bool,
    /// `CONFIG_IPE_PROP_FS_VERITY`: `fsverity_digest`.
    pub fs_verity: bool,
    /// `CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG`: `fsverity_signature`.
    pub fs_verity_builtin_sig: bool,
}

impl Config {
    /// Every trust provider built in (the appliance kernel's configuration).
    pub const ALL: Config = Config {
        dm_verity: true,
        dm_verity_signature: true,
        fs_verity: true,
        fs_verity_builtin_sig: true,
    };
}

/// A digest reported by the kernel: algorithm name and raw bytes, inline so
/// the struct has a C layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct FactDigest {
    /// Whether a digest is present at all.
    pub present: bool,
    /// Bytes of `alg` in use.
    pub alg_len: u8,
    /// Bytes of `digest` in use.
    pub digest_len: u8,
    /// Algorithm name, e.g. `sha256` (not NUL-terminated).
    pub alg: [u8; ALG_NAME_MAX],
    /// Digest bytes.
    pub digest: [u8; DIGEST_MAX],
}

impl FactDigest {
    /// No digest.
    pub const ABSENT: FactDigest = FactDigest {
        present: false,
        alg_len: 0,
        digest_len: 0,
        alg: [0; ALG_NAME_MAX],
        digest: [0; DIGEST_MAX],
    };

    /// A present digest, or `None` if a part exceeds its capacity.
    pub fn new(alg: &[u8], digest: &[u8]) -> Option<FactDigest> {
        let mut fact = FactDigest::ABSENT;
        fact.alg.get_mut(..alg.len())?.copy_from_slice(alg);
        fact.digest.get_mut(..digest.len())?.copy_from_slice(digest);
        fact.alg_len = u8::try_from(alg.len()).ok()?;
        fact.digest_len = u8::try_from(digest.len()).ok()?;
        fact.present = true;
        Some(fact)
    }

    /// `(algorithm, bytes)` if present; out-of-range lengths read as absent.
    pub fn get(&self) -> Option<(&[u8], &[u8])> {
        if !self.present {
            return None;
        }
        let alg = self.alg.get(..usize::from(self.alg_len))?;
        let digest = self.digest.get(..usize::from(self.digest_len))?;
        Some((alg, digest))
    }
}

/// What IPE knows about the file of one event (`struct ipe_eval_ctx`).
///
/// All `false`/absent (see [`Facts::NO_FILE`]) describes an event without a
/// file; fields other than `has_file` are then ignored, as upstream leaves
/// its context zeroed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Facts {
    /// The event has a file.
    pub has_file: bool,
    /// The file's superblock is the initramfs (`boot_verified`).
    pub initramfs: bool,
    /// The file's inode sits on a block device (IPE's bdev blob exists).
    pub has_bdev: bool,
    /// That block device is dm-verity with a verified root hash signature.
    pub dm_verity_signed: bool,
    /// That block device's dm-verity root hash, if it is dm-verity.
    pub dm_verity_root_hash: FactDigest,
    /// The file has fs-verity enabled with a valid builtin signature.
    pub fs_verity_signed: bool,
    /// The file's fs-verity digest; present exactly when fs-verity is on.
    pub fs_verity_digest: FactDigest,
}

impl Facts {
    /// An event without a file.
    pub const NO_FILE: Facts = Facts {
        has_file: false,
        initramfs: false,
        has_bdev: false,
        dm_verity_signed: false,
        dm_verity_root_hash: FactDigest::ABSENT,
        fs_verity_signed: false,
        fs_verity_digest: FactDigest::ABSENT,
    };

    /// `ctx->ipe_bdev` is set: dm-verity support built in and the file on a
    /// block device.
    pub(crate) fn bdev(&self, config: &Config) -> bool {
        config.dm_verity && self.has_file && self.has_bdev
    }

    /// The root hash `evaluate_dmv_roothash()` would compare against.
    pub(crate) fn root_hash(&self, config: &Config) -> Option<(&[u8], &[u8])> {
        self.dm_verity_root_hash.get().filter(|_| self.bdev(config))
    }

    /// `ctx->ino` is set: fs-verity support built in and there is a file.
    pub(crate) fn inode(&self, config: &Config) -> bool {
        config.fs_verity && self.has_file
    }

    /// The digest `fsverity_get_digest()` would report.
    pub(crate) fn fs_verity(&self, config: &Config) -> Option<(&[u8], &[u8])> {
        self.fs_verity_digest.get().filter(|_| self.inode(config))
    }
}
