//! OVMF with UEFI Secure Boot for test machines: a variable store with our PK, KEK and db
//! enrolled, Secure Boot on and the A/B slots' boot entries ([`boot_entries`]), made by
//! `virt-fw-vars` (PyPI `virt-firmware`, in a venv setup
//! installs) from Debian's empty 4 MiB template.
//!
//! The store is cached under `ovmf-vars/<key>.fd` in the cache, the key a hash of the three
//! certificates, the owner GUID, the boot variables and the template's sha256; it is written to a temporary path and
//! renamed. OVMF writes its variables (boot entries) while it runs, so every run boots a copy.
//! Which keys and which arguments is pure ([`vars_key`], [`virt_fw_vars_args`]); the rest is I/O.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use der::Encode;
use der::pem::LineEnding;
use signing::SecureBootKeys;

use crate::cache::{self, Cache, KeyHasher};
use crate::exec::Tool;

/// OVMF's code with Secure Boot and SMM (Debian's `ovmf`): it aborts without SMM.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
/// The empty variable store of the same 4 MiB layout: no keys, Secure Boot off.
pub const OVMF_VARS_TEMPLATE: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// The owner GUID recorded with each enrolled certificate. Generated once for this project
/// (`uuid.uuid4()`); the firmware does not interpret it.
const OWNER: &str = "28d96da2-b3a9-4c85-8c73-3d16d5bd7bdb";

/// The certificates a store enrolls, DER.
pub struct EnrolledCerts {
    pub pk: Vec<u8>,
    pub kek: Vec<u8>,
    pub db: Vec<u8>,
}

impl EnrolledCerts {
    pub fn of(keys: &SecureBootKeys) -> Result<EnrolledCerts> {
        Ok(EnrolledCerts {
            pk: keys.pk.to_der()?,
            kek: keys.kek.to_der()?,
            db: keys.db.cert.to_der()?,
        })
    }

    fn named(&self) -> [(&'static str, &[u8]); 3] {
        [("PK", &self.pk), ("KEK", &self.kek), ("db", &self.db)]
    }
}

/// The cache key of a store: the certificates, the owner, the boot variables and the template.
/// Pure.
pub fn vars_key(certs: &EnrolledCerts, boot_variables: &str, template_sha256: &str) -> String {
    let mut key = KeyHasher::default();
    for (name, der) in certs.named() {
        key.input(name, der);
    }
    key.input("owner", OWNER)
        .input("boot variables", boot_variables)
        .input("template", template_sha256)
        .finish()
}

/// `virt-fw-vars`' arguments: enroll PK, KEK and db from PEM files into a copy of `template`
/// written to `output`, turn Secure Boot on (`--sb`: SecureBootEnable on, CustomMode off) and
/// set the variables of the JSON file `boot_variables`. Pure.
pub fn virt_fw_vars_args(
    template: &Path,
    output: &Path,
    [pk, kek, db]: [&Path; 3],
    boot_variables: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&std::ffi::OsStr]| args.extend(items.iter().map(|&a| a.to_owned()));
    push(&["--input".as_ref(), template.as_ref()]);
    push(&["--output".as_ref(), output.as_ref()]);
    push(&["--set-pk".as_ref(), OWNER.as_ref(), pk.as_ref()]);
    push(&["--add-kek".as_ref(), OWNER.as_ref(), kek.as_ref()]);
    push(&["--add-db".as_ref(), OWNER.as_ref(), db.as_ref()]);
    push(&["--sb".as_ref()]);
    push(&["--set-json".as_ref(), boot_variables.as_ref()]);
    args
}

/// The variable store for `certs` and `boot_variables` (JSON, [`boot_entries::variables_json`]),
/// made on first use with `virt_fw_vars`. Boot a copy of it.
pub fn secure_boot_vars(
    cache: &Cache,
    virt_fw_vars: &Path,
    certs: &EnrolledCerts,
    boot_variables: &str,
) -> Result<PathBuf> {
    let template = Path::new(OVMF_VARS_TEMPLATE);
    ensure!(
        template.is_file() && Path::new(OVMF_CODE).is_file(),
        "{OVMF_VARS_TEMPLATE} or {OVMF_CODE} is missing: install Debian's ovmf with \
         `cargo xtask setup`"
    );
    ensure!(
        virt_fw_vars.is_file(),
        "{} is missing: `cargo xtask setup` installs virt-firmware into that venv",
        virt_fw_vars.display()
    );
    let key = vars_key(certs, boot_variables, &cache::sha256_file(template)?);
    let dir = cache.path("ovmf-vars");
    let vars = dir.join(format!("{key}.fd"));
    if vars.is_file() {
        return Ok(vars);
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".vars.tmp")
        .tempdir_in(&dir)
        .with_context(|| format!("creating a temporary folder in {}", dir.display()))?;
    let mut pems = Vec::new();
    for (name, der) in certs.named() {
        let path = scratch.path().join(format!("{name}.pem"));
        let pem = der::pem::encode_string("CERTIFICATE", LineEnding::LF, der)?;
        fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
        pems.push(path);
    }
    let boot_json = scratch.path().join("boot.json");
    fs::write(&boot_json, boot_variables)
        .with_context(|| format!("writing {}", boot_json.display()))?;
    let staged = scratch.path().join("vars.fd");
    tracing::info!(
        "firmware: enrolling PK, KEK and db and the slots' boot entries in a Secure Boot \
         variable store {}",
        vars.display()
    );
    Tool::new(virt_fw_vars)
        .args(virt_fw_vars_args(
            template,
            &staged,
            [&pems[0], &pems[1], &pems[2]],
            &boot_json,
        ))
        .output()
        .with_context(|| {
            format!(
                "enrolling the Secure Boot keys with {}",
                virt_fw_vars.display()
            )
        })?;
    let size = |path: &Path| fs::metadata(path).map(|m| m.len());
    ensure!(
        size(&staged)? == size(template)?,
        "virt-fw-vars wrote {} bytes, not the template's {}",
        size(&staged)?,
        size(template)?
    );
    fs::rename(&staged, &vars)
        .with_context(|| format!("renaming the variable store to {}", vars.display()))?;
    Ok(vars)
}

pub mod boot_entries;

#[cfg(test)]
mod tests;
