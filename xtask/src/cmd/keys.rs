//! `cargo xtask keys`: the development key that signs IPE policies and
//! fs-verity digests, and the Secure Boot key roles (PK, KEK, db).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use signing::SecureBootKeys;
use signing::keygen::{DEFAULT_COMMON_NAME, KEY_BITS};
use signing::keystore;
use signing::secure_boot::{self, Role};

use crate::cache::Cache;
use crate::firmware;
use crate::stages::setup::virt_fw_vars_path;

/// Manage signing keys.
#[derive(Debug, Args)]
#[command(
    long_about = "Manage the key that signs the IPE policy and fs-verity digests.\n\n\
    The kernel is built to trust one certificate (CONFIG_SYSTEM_TRUSTED_KEYS); it accepts a \
    policy or a signed binary only if the matching private key signed it. For development that \
    key lives in keys/ (git-ignored); `cargo xtask image` creates it on first use. Release \
    builds should keep the key in an HSM instead: see `cargo xtask sign --help`.\n\n\
    UEFI Secure Boot has keys of its own beside it (PK, KEK, db, under secure-boot/): the db \
    key signs the boot image, and a test machine's firmware enrolls all three."
)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create development signing keys: the IPE policy key, the Secure Boot PK, KEK and db, and
    /// the RAUC bundle key.
    #[command(
        long_about = "Create development signing keys and their self-signed certificates.\n\n\
        Writes, atomically, into DIR:\n  \
        signing_key.pem   the RSA-3072 private key, PKCS#8 PEM, mode 0600; never ship it\n  \
        signing_cert.pem  the self-signed X.509 certificate the kernel is built to trust\n  \
        signing_cert.der  the same certificate, DER\n\n\
        and the same three files in each UEFI Secure Boot role, a key of its own:\n  \
        secure-boot/db/   signs the Unified Kernel Image; the firmware's db trusts it\n  \
        secure-boot/KEK/  the key-exchange key, allowed to update db\n  \
        secure-boot/PK/   the platform key, owner of the firmware's variable store\n\
        and rauc/, the key that signs update bundles (`cargo xtask bundle`); a device's RAUC \
        keyring holds its certificate.\n\
        A test machine (OVMF) enrolls all three certificates; a device maker enrolls their own.\n\n\
        Each certificate is signed with SHA-256 and carries keyUsage digitalSignature and the \
        subject and authority key identifiers the kernel matches keys by. The roles' common \
        names are NAME with 'Secure Boot PK', 'Secure Boot KEK', 'Secure Boot db' or 'RAUC bundles' appended.\n\n\
        Refuses to overwrite an existing policy key: kernels already built with the old \
        certificate would stop accepting new signatures. To start over, move the directory \
        aside first. Beside an existing policy key, the image build creates the Secure Boot \
        roles that are missing, and `bundle` the RAUC key, and leaves the policy key as it is.\n\n\
        Example:\n  cargo xtask keys generate\n  \
        cargo xtask keys generate --dir /secure/keys --common-name 'Example Corp appliance dev'"
    )]
    Generate(GenerateArgs),
    /// Print the path of an OVMF variable store that enrolls the keys' PK, KEK and db.
    #[command(
        long_about = "Print the path of an OVMF variable store that enrolls the Secure Boot \
        certificates of DIR (secure-boot/PK, KEK and db) with Secure Boot on.\n\n\
        The store is made from Debian's empty /usr/share/OVMF/OVMF_VARS_4M.fd by virt-fw-vars \
        (PyPI virt-firmware, in the venv `cargo xtask setup` installs), once per set of \
        certificates, and kept in the cache. It pairs with \
        /usr/share/OVMF/OVMF_CODE_4M.secboot.fd, which needs `-machine q35,smm=on`. The \
        firmware writes its variables while it runs: boot a copy of the store, not the store.\n\n\
        Example:\n  cp \"$(cargo xtask keys ovmf-vars)\" vars.fd"
    )]
    OvmfVars(OvmfVarsArgs),
}

#[derive(Debug, Args)]
pub struct OvmfVarsArgs {
    /// The keys directory whose secure-boot/ roles to enroll [default: <workspace>/keys]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory for the key files, created with mode 0700 if missing [default: <workspace>/keys]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Subject common name of the policy certificate (1 to 64 characters; the Secure Boot roles append " Secure Boot PK" and the like, which must fit too)
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
        KeysCommand::OvmfVars(ovmf) => run_ovmf_vars(ovmf),
    }
}

fn run_ovmf_vars(args: &OvmfVarsArgs) -> Result<()> {
    let dir = args.dir.clone().unwrap_or_else(default_keys_dir);
    let keys = SecureBootKeys::load(&dir).with_context(|| {
        format!(
            "loading the Secure Boot keys in {}; `cargo xtask keys generate` (or an image \
             build) creates them",
            dir.join(secure_boot::SECURE_BOOT_DIR).display()
        )
    })?;
    let cache = Cache::locate()?;
    let vars = firmware::secure_boot_vars(
        &cache,
        &virt_fw_vars_path(&cache),
        &firmware::EnrolledCerts::of(&keys)?,
        // No boot entries: a machine that boots the removable-media path.
        &firmware::boot_entries::variables_json(&[]),
    )?;
    println!("{}", vars.display());
    Ok(())
}

fn run_generate(args: &GenerateArgs) -> Result<()> {
    let dir = args.dir.clone().unwrap_or_else(default_keys_dir);
    for role in Role::ALL {
        signing::keygen::check_common_name(&role.common_name(&args.common_name))?;
    }
    signing::keygen::check_common_name(&signing::rauc::common_name(&args.common_name))?;
    eprintln!("generating RSA-{KEY_BITS} keys in {} ...", dir.display());
    let keys = keystore::create(&dir, &args.common_name)?;
    println!(
        "private key:  {} (keep secret; never ship)",
        keys.paths.key.display()
    );
    println!("certificate:  {}", keys.paths.cert_pem.display());
    println!("certificate:  {} (DER)", keys.paths.cert_der.display());
    for role in secure_boot::create_missing(&dir, &args.common_name)? {
        println!(
            "Secure Boot:  {} ({})",
            role.paths.dir.display(),
            role.paths.cert_pem.display()
        );
    }
    if let Some(role) = signing::rauc::create_missing(&dir, &args.common_name)? {
        println!(
            "RAUC bundles: {} ({})",
            role.paths.dir.display(),
            role.paths.cert_pem.display()
        );
    }
    println!(
        "Back up {}: kernels built with this certificate accept only signatures from this key, \
         firmware with these Secure Boot certificates only images the db key signed, and \
         devices with the RAUC certificate only bundles the rauc/ key signed.",
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
        let KeysCommand::Generate(args) = cli.keys.command else {
            panic!("not generate");
        };
        assert_eq!(args.dir, Some(PathBuf::from("k")));
        assert_eq!(args.common_name, "x");
        let cli = Cli::try_parse_from(["keys", "ovmf-vars", "--dir", "k"]).unwrap();
        let KeysCommand::OvmfVars(args) = cli.keys.command else {
            panic!("not ovmf-vars");
        };
        assert_eq!(args.dir, Some(PathBuf::from("k")));
    }
}
