//! `cargo xtask fsverity`: fs-verity file digests computed in-process, identical to
//! `fsverity digest` (fsverity-utils).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use verity::fs_verity::{self, Params};

/// Compute fs-verity file digests (a drop-in for `fsverity digest`).
#[derive(Debug, Args)]
#[command(
    long_about = "Compute fs-verity file digests without fsverity-utils.\n\n\
    fs-verity makes a file read-only and hashes it into a Merkle tree that the kernel checks on \
    every read. The file's digest is the hash of a small descriptor holding the tree's root \
    hash, the file size and the parameters; IPE rules (`fsverity_digest=`) and fs-verity \
    signatures refer to files by this digest."
)]
pub struct FsverityArgs {
    #[command(subcommand)]
    pub command: FsverityCommand,
}

#[derive(Debug, Subcommand)]
pub enum FsverityCommand {
    /// Print the fs-verity digest of each FILE as `sha256:<hex> FILE`.
    #[command(long_about = "Print the fs-verity digest of each FILE, exactly as \
        `fsverity digest` does: `sha256:<hex> FILE`.\n\n\
        The parameters must be those the file will be enabled with (`fsverity enable`); the \
        kernel's defaults are SHA-256, 4096-byte blocks and no salt. Files are hashed in \
        parallel.\n\n\
        Examples:\n  \
        cargo xtask fsverity digest rootfs/bin/*\n  \
        cargo xtask fsverity digest --for-builtin-sig --compact app   # the bytes `fsverity sign` signs, hex")]
    Digest(DigestArgs),
}

#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Files to digest
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Merkle tree hash algorithm: sha256 or sha512
    #[arg(long, value_name = "ALG", default_value = "sha256")]
    pub hash_alg: String,
    /// Merkle tree block size in bytes, a power of two (the kernel needs <= page size)
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub block_size: u32,
    /// Salt prepended to every hashed block, hex, at most 32 bytes
    #[arg(long, value_name = "HEX")]
    pub salt: Option<String>,
    /// Print only the hex digest, without the algorithm prefix or file name
    #[arg(long)]
    pub compact: bool,
    /// Print the fsverity_formatted_digest (what built-in signatures sign), hex
    #[arg(long)]
    pub for_builtin_sig: bool,
}

pub fn run(args: &FsverityArgs) -> Result<()> {
    match &args.command {
        FsverityCommand::Digest(args) => digest(args),
    }
}

fn digest(args: &DigestArgs) -> Result<()> {
    let params = Params {
        hash: args.hash_alg.parse()?,
        block_size: args.block_size,
        salt: args
            .salt
            .as_deref()
            .map(|text| verity::parse_hex("salt", text))
            .transpose()?
            .unwrap_or_default(),
    };
    params.validate()?;
    let mut failed = 0;
    for (file, result) in args
        .files
        .iter()
        .zip(fs_verity::digest_files(&args.files, &params))
    {
        match result {
            Ok(digest) => {
                let value = match (args.for_builtin_sig, args.compact) {
                    (true, _) => hex::encode(digest.formatted()),
                    (false, true) => digest.digest.to_hex(),
                    (false, false) => digest.to_string(),
                };
                if args.compact {
                    println!("{value}");
                } else {
                    println!("{value} {}", file.display());
                }
            }
            Err(error) => {
                eprintln!("error: {error}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} files could not be digested",
            args.files.len()
        );
    }
    Ok(())
}
