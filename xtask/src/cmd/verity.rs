//! `cargo xtask verity`: dm-verity hash trees computed in-process, byte-identical to
//! `veritysetup format` and checked like `veritysetup verify`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use verity::HashAlgorithm;
use verity::dm_verity::{self, Formatted, Params, Uuid};

/// Build and check dm-verity hash trees (a drop-in for `veritysetup format` and `verify`).
#[derive(Debug, Args)]
#[command(
    long_about = "Build and check dm-verity hash trees without veritysetup.\n\n\
    dm-verity protects a read-only block device: every data block is hashed, the hashes are \
    hashed again level by level into a Merkle tree (the \"hash device\"), and the kernel is \
    given only the root hash. A block whose hash does not match is an I/O error.\n\n\
    The output is byte for byte what `veritysetup format` writes (format version 1), computed \
    on all cores with bounded memory."
)]
pub struct VerityArgs {
    #[command(subcommand)]
    pub command: VerityCommand,
}

#[derive(Debug, Subcommand)]
pub enum VerityCommand {
    /// Hash DATA and write its hash tree to HASH; print the root hash.
    #[command(
        long_about = "Hash DATA and write its hash tree to HASH, printing the summary \
        `veritysetup format` prints, including `Root hash: <hex>`.\n\n\
        Only whole data blocks are protected; a trailing partial block is ignored, as \
        veritysetup does. A separate HASH file is written to a temporary file and renamed into \
        place. HASH may be DATA itself: with --hash-offset at or past the end of the data, the \
        tree is appended to the image (the usual single-file layout; add --no-superblock when \
        the kernel command line carries all parameters).\n\n\
        Examples:\n  \
        cargo xtask verity format rootfs.img rootfs.hash\n  \
        cargo xtask verity format disk.img disk.img --hash-offset $(stat -c %s disk.img) \
        --no-superblock --salt $(head -c32 /dev/urandom | xxd -p -c64)"
    )]
    Format(FormatArgs),
    /// Check that HASH matches DATA and has root hash ROOT_HASH.
    #[command(
        long_about = "Check that the hash tree in HASH matches DATA and that its root \
        is ROOT_HASH, like `veritysetup verify`. Every stored hash block is compared, so a \
        corrupt data block or tree block is reported with its position.\n\n\
        With a superblock (the default), the parameters are read from it at --hash-offset; with \
        --no-superblock they must be given again exactly as for format.\n\n\
        Example:\n  cargo xtask verity verify rootfs.img rootfs.hash 4f2a..."
    )]
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// The data image; all of its whole blocks are protected
    pub data: PathBuf,
    /// Where to write the hash tree; may be DATA itself (see --hash-offset)
    pub hash: PathBuf,
    #[command(flatten)]
    pub tree: TreeArgs,
    /// UUID stored in the superblock [default: random]
    #[arg(long, value_name = "UUID", conflicts_with = "no_superblock")]
    pub uuid: Option<String>,
    /// Write no superblock; the kernel then needs every parameter on its table line
    #[arg(long)]
    pub no_superblock: bool,
    /// Also write the root hash (hex, no newline) to this file
    #[arg(long, value_name = "FILE")]
    pub root_hash_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data image
    pub data: PathBuf,
    /// The hash device (may be DATA itself with --hash-offset)
    pub hash: PathBuf,
    /// The trusted root hash, hex
    pub root_hash: String,
    #[command(flatten)]
    pub tree: TreeArgs,
    /// The hash device has no superblock: take the parameters from the options
    #[arg(long)]
    pub no_superblock: bool,
}

/// The tree parameters shared by format and verify; names and defaults match veritysetup.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Hash algorithm: sha256 or sha512
    #[arg(long = "hash", value_name = "ALG", default_value = "sha256")]
    pub hash_algorithm: String,
    /// Salt prepended to every hashed block, hex; `-` for none [format default: 32 random bytes]
    #[arg(long, value_name = "HEX")]
    pub salt: Option<String>,
    /// Data block size in bytes: a power of two from 512 to 524288 (the kernel needs <= page size)
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub data_block_size: u32,
    /// Hash block size in bytes: a power of two from 512 to 524288
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub hash_block_size: u32,
    /// Byte offset of the hash area in HASH, a multiple of 512; use the data size to append the
    /// tree to the image. Without a superblock the tree starts at this offset rounded down to
    /// a hash block (as in veritysetup), so keep it hash-block aligned
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub hash_offset: u64,
    /// Protect only the first N data blocks [default: all whole blocks]
    #[arg(long, value_name = "N")]
    pub data_blocks: Option<u64>,
}

pub fn run(args: &VerityArgs) -> Result<()> {
    match &args.command {
        VerityCommand::Format(args) => format(args),
        VerityCommand::Verify(args) => verify(args),
    }
}

impl TreeArgs {
    fn params(&self, salt: Vec<u8>, superblock: Option<Uuid>) -> Result<Params> {
        Ok(Params {
            hash: self.hash_algorithm.parse::<HashAlgorithm>()?,
            data_block_size: self.data_block_size,
            hash_block_size: self.hash_block_size,
            salt,
            hash_offset: self.hash_offset,
            data_blocks: self.data_blocks,
            superblock,
        })
    }
}

fn format(args: &FormatArgs) -> Result<()> {
    let salt = match &args.tree.salt {
        Some(text) => verity::parse_hex("salt", text)?,
        None => verity::random_salt(32)?,
    };
    let superblock = match (&args.uuid, args.no_superblock) {
        (_, true) => None,
        (Some(text), false) => Some(text.parse()?),
        (None, false) => Some(Uuid::random()?),
    };
    let params = args.tree.params(salt, superblock)?;
    let formatted = dm_verity::format(&args.data, &args.hash, &params)
        .with_context(|| format!("formatting {}", args.data.display()))?;
    print!("{}", summary(&args.hash, &params, &formatted));
    if let Some(path) = &args.root_hash_file {
        std::fs::write(path, formatted.root_hash.to_hex())
            .with_context(|| format!("writing the root hash to {}", path.display()))?;
    }
    Ok(())
}

/// The lines `veritysetup format` prints, with the same labels and tabs.
fn summary(hash_path: &Path, params: &Params, formatted: &Formatted) -> String {
    let geometry = &formatted.geometry;
    let uuid = params.superblock.map(|u| u.to_string()).unwrap_or_default();
    let salt = if params.salt.is_empty() {
        "-".to_owned()
    } else {
        hex::encode(&params.salt)
    };
    let mut out = format!(
        "VERITY header information for {}\n\
         UUID:            \t{uuid}\n\
         Hash type:       \t1\n\
         Data blocks:     \t{}\n\
         Data block size: \t{}\n\
         Hash blocks:     \t{}\n\
         Hash block size: \t{}\n\
         Hash algorithm:  \t{}\n\
         Salt:            \t{salt}\n\
         Root hash:      \t{}\n",
        hash_path.display(),
        geometry.data_blocks,
        params.data_block_size,
        geometry.hash_blocks,
        params.hash_block_size,
        params.hash,
        formatted.root_hash,
    );
    if params.hash_offset == 0 {
        out.push_str(&format!(
            "Hash device size: \t{} [bytes]\n",
            geometry.hash_end
        ));
    }
    out
}

fn verify(args: &VerifyArgs) -> Result<()> {
    let params = if args.no_superblock {
        let Some(text) = &args.tree.salt else {
            bail!("--no-superblock needs the --salt used for format (`-` if none)");
        };
        args.tree.params(verity::parse_hex("salt", text)?, None)?
    } else {
        dm_verity::read_superblock(&args.hash, args.tree.hash_offset)?.params(args.tree.hash_offset)
    };
    let root_hash = verity::parse_hex("root hash", &args.root_hash)?;
    let geometry = dm_verity::verify(&args.data, &args.hash, &params, &root_hash)?;
    println!(
        "Verification of data blocks 0..{} in {} against {} succeeded.",
        geometry.data_blocks,
        args.data.display(),
        args.hash.display()
    );
    Ok(())
}
