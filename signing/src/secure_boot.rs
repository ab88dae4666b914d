//! The UEFI Secure Boot key roles, each a keys directory of its own under
//! `<keys>/secure-boot/`, apart from the IPE policy key:
//!
//! - `PK`: the platform key, which owns the machine's variable store;
//! - `KEK`: the key-exchange key, which may update `db`;
//! - `db`: the signature database key, which signs the Unified Kernel Image.
//!
//! A test machine (OVMF) enrolls all three certificates; only `db`'s private
//! key signs anything the build ships. Each directory has the keystore's file
//! names (`signing_key.pem`, `signing_cert.pem`, `signing_cert.der`).

use std::path::{Path, PathBuf};

use x509_cert::Certificate;

use crate::error::Result;
use crate::keystore::{self, DevKeys};
use crate::signer::{LocalSigner, Signer};

/// The folder of the roles inside a keys directory.
pub const SECURE_BOOT_DIR: &str = "secure-boot";

/// One Secure Boot key role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The platform key.
    Pk,
    /// The key-exchange key.
    Kek,
    /// The signature database key.
    Db,
}

impl Role {
    /// Every role, in the order a variable store enrolls them.
    pub const ALL: [Role; 3] = [Role::Pk, Role::Kek, Role::Db];

    /// Its folder name under [`SECURE_BOOT_DIR`], the UEFI variable's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Pk => "PK",
            Role::Kek => "KEK",
            Role::Db => "db",
        }
    }

    /// Its keys directory inside the keys directory `keys_dir`.
    pub fn dir(self, keys_dir: &Path) -> PathBuf {
        keys_dir.join(SECURE_BOOT_DIR).join(self.name())
    }

    /// Its certificate's common name, from the policy key's: `<base> Secure Boot db`.
    pub fn common_name(self, base: &str) -> String {
        format!("{base} Secure Boot {}", self.name())
    }
}

/// What signs for the `db` role: a [`Signer`] (the local key, or later an
/// external one) and the certificate enrolled in `db`.
pub struct DbSigner {
    /// Makes the signatures.
    pub signer: Box<dyn Signer>,
    /// The certificate the firmware's `db` holds.
    pub cert: Certificate,
}

impl DbSigner {
    /// Signs an unsigned EFI application for Secure Boot.
    pub fn sign_efi_image(&self, image: &[u8]) -> Result<Vec<u8>> {
        crate::sign_efi_image(image, self.signer.as_ref(), &self.cert)
    }
}

/// The three roles, loaded: the one typed place the build reads them from.
pub struct SecureBootKeys {
    /// The platform key's certificate.
    pub pk: Certificate,
    /// The key-exchange key's certificate.
    pub kek: Certificate,
    /// The signature database key.
    pub db: DbSigner,
}

impl SecureBootKeys {
    /// Loads the roles under `keys_dir`; each must be complete and consistent.
    pub fn load(keys_dir: &Path) -> Result<Self> {
        let [pk, kek, db] = Role::ALL.map(|role| keystore::load(&role.dir(keys_dir)));
        let db = db?;
        Ok(Self {
            pk: pk?.pair.cert,
            kek: kek?.pair.cert,
            db: DbSigner {
                signer: Box::new(LocalSigner::new(db.pair.key)),
                cert: db.pair.cert,
            },
        })
    }
}

/// Creates the roles that are missing under `keys_dir`, their common names
/// from `base`, and returns the ones it created. A role that exists is left
/// as it is (loaded and checked); the IPE policy key is never touched.
pub fn create_missing(keys_dir: &Path, base: &str) -> Result<Vec<DevKeys>> {
    // Every name is checked before any key is made, so a bad one leaves nothing behind.
    for role in Role::ALL {
        crate::keygen::check_common_name(&role.common_name(base))?;
    }
    let mut created = Vec::new();
    for role in Role::ALL {
        let dir = role.dir(keys_dir);
        match keystore::load(&dir) {
            Ok(_) => {}
            Err(crate::Error::NoKeys { .. }) => {
                created.push(keystore::create(&dir, &role.common_name(base))?);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_live_in_their_own_folders_with_their_own_names() {
        let keys = Path::new("/k");
        assert_eq!(Role::Db.dir(keys), Path::new("/k/secure-boot/db"));
        assert_eq!(Role::Pk.dir(keys), Path::new("/k/secure-boot/PK"));
        assert_eq!(Role::Kek.common_name("X"), "X Secure Boot KEK");
    }

    #[test]
    fn a_name_too_long_for_one_role_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let base = "n".repeat(50);
        assert!(create_missing(dir.path(), &base).is_err());
        assert!(!dir.path().join(SECURE_BOOT_DIR).exists());
    }
}
