//! `cargo xtask keys`: the development key that signs IPE policies and
//! fs-verity digests.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};
use signing::keygen::{DEFAULT_COMMON_NAME, KEY_BITS};
use signing::keystore;

/// Manage signing keys.
#[derive(Debug, Args)]
#[command(
    long_about = "Manage the key that signs the IPE policy and fs-verity digests.\n\n\
    The kernel is built to trust one certificate (CONFIG_SYSTEM_TRUSTED_KEYS); it accepts a \
    policy or a signed binary only if the matching private key signed it. For development that \
    key lives in keys/ (git-ignored); `cargo xtask image` creates it on first use. Release \
    builds should keep the key in an HSM instead: see `cargo xtask sign --help`."
)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a development signing key and its self-signed certificate.
    #[command(
        long_about = "Create a development signing key and its self-signed certificate.\n\n\
        Writes, atomically, into DIR:\n  \
        signing_key.pem   the RSA-3072 private key, PKCS#8 PEM, mode 0600; never ship it\n  \
        signing_cert.pem  the self-signed X.509 certificate the kernel is built to trust\n  \
        signing_cert.der  the same certificate, DER\n\n\
        The certificate is signed with SHA-256 and carries keyUsage digitalSignature and the \
        subject and authority key identifiers the kernel matches keys by.\n\n\
        Refuses to overwrite existing keys: kernels already built with the old certificate would \
        stop accepting new signatures. To start over, move the directory aside first.\n\n\
        Example:\n  cargo xtask keys generate\n  \
        cargo xtask keys generate --dir /secure/keys --common-name 'Example Corp appliance dev'"
    )]
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory for the key files, created with mode 0700 if missing [default: <workspace>/keys]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Subject common name of the certificate (1 to 64 characters)
    #[arg(long, value_name = "NAME", default_value = DEFAULT_COMMON_NAME)]
    pub common_name: String,
}

/// `<workspace>/keys`, the git-ignored home of the development key.
pub fn default_keys_dir() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).join("keys")
}

pub fn run(args: &KeysArgs) -> Result<()> {
    match &args.command {
        KeysCommand::Generate(generate) => run_generate(generate),
    }
}

fn run_generate(args: &GenerateArgs) -> Result<()> {
    let dir = args.dir.clone().unwrap_or_else(default_keys_dir);
    eprintln!("generating an RSA-{KEY_BITS} key in {} ...", dir.display());
    let keys = keystore::create(&dir, &args.common_name)?;
    println!(
        "private key:  {} (keep secret; never ship)",
        keys.paths.key.display()
    );
    println!("certificate:  {}", keys.paths.cert_pem.display());
    println!("certificate:  {} (DER)", keys.paths.cert_der.display());
    println!(
        "Back up {}: kernels built with this certificate accept only signatures from this key.",
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        keys: KeysArgs,
    }

    #[test]
    fn cli_is_consistent_and_parses() {
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["keys", "generate", "--dir", "k", "--common-name", "x"]).unwrap();
        let KeysCommand::Generate(args) = cli.keys.command;
        assert_eq!(args.dir, Some(PathBuf::from("k")));
        assert_eq!(args.common_name, "x");
    }
}
