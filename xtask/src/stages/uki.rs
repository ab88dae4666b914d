//! Stage `uki`: the Unified Kernel Image, one signed EFI program that binds the kernel (with
//! its compiled-in boot policy), the command line (with the dm-verity table, so the root hash)
//! and an os-release. systemd-stub from the pinned `systemd-boot-efi` carries them as PE
//! sections (`pe_image::uki`); the `db` key signs the whole for Secure Boot, so the firmware
//! refuses any change to any of them, and under Secure Boot the stub ignores every command line
//! but its own.
//!
//! Cache key: this stage's code, the stub's .deb, the kernel's sha256, the command line, the
//! os-release and the `db` certificate (`uki.key`). Signing is deterministic, so the same key
//! means the same bytes, even with an external signer.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use der::Encode;
use pe_image::uki::{self, UkiParts};
use signing::secure_boot::DbSigner;

use super::setup::SystemdStub;
use crate::cache::{self, KeyHasher};

/// The file name of a slot's UKI among the outputs, `uki-a.efi`.
pub fn file_name(bootname: &str) -> String {
    format!("uki-{}.efi", bootname.to_lowercase())
}

pub struct UkiInputs<'a> {
    pub stub: &'a SystemdStub,
    /// The EFI-stub bzImage.
    pub kernel: &'a Path,
    pub cmdline: &'a str,
    pub os_release: &'a str,
    pub signer: &'a DbSigner,
}

/// The os-release of a release (`/etc/os-release` in the rootfs): the release is the policy's
/// version, the product's one version number, so that every release has its own root hash.
/// Pure.
pub fn os_release(product: &str, version: &str) -> String {
    format!(
        "NAME=\"IPE appliance\"\nID=ipe-appliance\nPRETTY_NAME=\"IPE appliance {product} \
         {version}\"\nIMAGE_ID={product}\nIMAGE_VERSION={version}\nVERSION_ID={version}\n"
    )
}

/// The os-release the UKI carries (`.osrel`): what boot menus and `bootctl` show. The build is
/// told apart by its root hash. Pure.
pub fn uki_os_release(product: &str, version: &str, root_hash: &str) -> String {
    format!(
        "{}BUILD_ID={}\n",
        os_release(product, version),
        &root_hash[..root_hash.len().min(16)]
    )
}

/// Writes the signed UKI to `work_dir/file_name`, or keeps it when its key is unchanged.
pub fn build(inputs: &UkiInputs, work_dir: &Path, file_name: &str) -> Result<PathBuf> {
    let path = work_dir.join(file_name);
    let key = KeyHasher::default()
        .input("code", super::stage_sources::UKI)
        .input("stub", &inputs.stub.deb_sha256)
        .input("kernel", cache::sha256_file(inputs.kernel)?)
        .input("cmdline", inputs.cmdline)
        .input("os-release", inputs.os_release)
        .input("db certificate", inputs.signer.cert.to_der()?)
        .finish();
    let stamp = work_dir.join(format!("{file_name}.key"));
    if path.is_file() && fs::read_to_string(&stamp).is_ok_and(|old| old == key) {
        tracing::info!("uki: up to date");
        return Ok(path);
    }
    let read = |path: &Path| fs::read(path).with_context(|| format!("reading {}", path.display()));
    let unsigned = uki::assemble(
        &read(&inputs.stub.path)?,
        &UkiParts {
            osrel: inputs.os_release.as_bytes(),
            cmdline: inputs.cmdline.as_bytes(),
            linux: &read(inputs.kernel)?,
            initrd: None,
        },
    )
    .with_context(|| {
        format!(
            "assembling the UKI from systemd-stub {}",
            inputs.stub.path.display()
        )
    })?;
    let signed = inputs
        .signer
        .sign_efi_image(&unsigned)
        .with_context(|| format!("signing the UKI with {}", inputs.signer.signer.describe()))?;
    cache::write_atomic(&path, &signed)?;
    cache::write_atomic(&stamp, key.as_bytes())?;
    tracing::info!("uki: {} ({} bytes, signed)", path.display(), signed.len());
    Ok(path)
}

/// Debian's systemd-stub as the host has it (setup installs `systemd-boot-efi`), or
/// `$SYSTEMD_STUB`: for tests that need a real EFI program but no pinned package.
#[cfg(test)]
pub fn host_stub() -> PathBuf {
    std::env::var_os("SYSTEMD_STUB").map_or_else(
        || PathBuf::from("/usr/lib/systemd/boot/efi/linuxx64.efi.stub"),
        PathBuf::from,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::sign::{self, SignerChoice, UefiSignerChoice, load_uefi_keys};

    #[test]
    fn the_os_release_names_the_product_version_and_build() {
        let text = uki_os_release("firewall", "0.2.0", &"ab".repeat(32));
        assert!(text.contains("IMAGE_VERSION=0.2.0\n"), "{text}");
        assert!(text.contains("IMAGE_ID=firewall\n"), "{text}");
        assert!(text.contains("BUILD_ID=abababababababab\n"), "{text}");
        assert!(text.lines().all(|line| line.contains('=')), "{text}");
    }

    /// A real stub and the `db` key of development keys; then the same through a command (an
    /// HSM's place): the same bytes, which sbverify (sbsigntool) accepts with the `db`
    /// certificate only.
    #[test]
    fn the_uki_is_signed_by_the_db_key_or_its_external_signer_alike() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        sign::load(&SignerChoice::DevKeys(keys.clone())).unwrap();
        let db_dir = signing::secure_boot::Role::Db.dir(&keys);
        let kernel = dir.path().join("bzImage");
        fs::write(&kernel, b"a placeholder kernel").unwrap();
        let stub = SystemdStub {
            path: host_stub(),
            deb_sha256: "host".into(),
            version: "host".into(),
        };
        let build_with = |choice: &UefiSignerChoice, work: &str| {
            let work = dir.path().join(work);
            fs::create_dir_all(&work).unwrap();
            let signer = load_uefi_keys(choice).unwrap().db;
            let inputs = UkiInputs {
                stub: &stub,
                kernel: &kernel,
                cmdline: "console=ttyS0 root=/dev/dm-0",
                os_release: "ID=test\n",
                signer: &signer,
            };
            build(&inputs, &work, "uki-a.efi").unwrap()
        };
        let local = build_with(&UefiSignerChoice::KeysDir(keys.clone()), "local");
        let external = build_with(
            &UefiSignerChoice::External {
                cert: db_dir.join(signing::keystore::CERT_PEM_FILE),
                command: format!(
                    "openssl dgst -sha256 -binary -sign {}",
                    db_dir.join(signing::keystore::KEY_FILE).display()
                ),
            },
            "external",
        );
        assert_eq!(fs::read(&local).unwrap(), fs::read(&external).unwrap());
        let verified = crate::exec::Tool::new("sbverify")
            .arg("--cert")
            .arg(db_dir.join(signing::keystore::CERT_PEM_FILE))
            .arg(&local)
            .output();
        assert!(verified.is_ok(), "sbverify refused the UKI: {verified:?}");
        let policy_cert = keys.join(signing::keystore::CERT_PEM_FILE);
        let by_policy_key = crate::exec::Tool::new("sbverify")
            .arg("--cert")
            .arg(&policy_cert)
            .arg(&local)
            .output();
        assert!(
            by_policy_key.is_err(),
            "the policy key's certificate verified the UKI: the roles are not apart"
        );
    }
}
