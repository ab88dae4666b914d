//! The RAUC bundle key role: `<keys>/rauc/`, a keys directory of its own
//! beside the IPE policy key and the Secure Boot roles, with the keystore's
//! file names. It signs update bundles' manifests (CMS, manifest attached);
//! a device's RAUC keyring holds its certificate. It signs nothing the kernel
//! or the firmware reads, so a leaked bundle key cannot sign a policy or a
//! boot image, and the reverse.

use std::path::{Path, PathBuf};

use x509_cert::Certificate;

use crate::error::Result;
use crate::keystore::{self, DevKeys};
use crate::signer::{LocalSigner, Signer};

/// The role's folder inside a keys directory.
pub const RAUC_DIR: &str = "rauc";

/// The role's keys directory inside the keys directory `keys_dir`.
pub fn dir(keys_dir: &Path) -> PathBuf {
    keys_dir.join(RAUC_DIR)
}

/// Its certificate's common name, from the policy key's: `<base> RAUC bundles`.
pub fn common_name(base: &str) -> String {
    format!("{base} RAUC bundles")
}

/// What signs bundles: a [`Signer`] (the local key or an external command)
/// and the certificate a device's RAUC keyring holds.
pub struct BundleSigner {
    /// Makes the signatures.
    pub signer: Box<dyn Signer>,
    /// The certificate in the devices' keyring.
    pub cert: Certificate,
}

impl BundleSigner {
    /// Loads the role under `keys_dir`; it must be complete and consistent.
    pub fn load(keys_dir: &Path) -> Result<Self> {
        let keys = keystore::load(&dir(keys_dir))?;
        Ok(Self {
            signer: Box::new(LocalSigner::new(keys.pair.key)),
            cert: keys.pair.cert,
        })
    }

    /// A DER CMS SignedData with `manifest` attached, the certificate
    /// included and no signed attributes (so no signingTime: the same
    /// manifest gives the same bytes), as RAUC's verity-format bundles carry.
    pub fn sign_manifest(&self, manifest: &[u8]) -> Result<Vec<u8>> {
        crate::sign_attached(manifest, self.signer.as_ref(), &self.cert)
    }
}

/// Creates the role under `keys_dir` when it is missing, its common name
/// from `base`, and returns it; an existing role is loaded, checked and left
/// as it is.
pub fn create_missing(keys_dir: &Path, base: &str) -> Result<Option<DevKeys>> {
    match keystore::load(&dir(keys_dir)) {
        Ok(_) => Ok(None),
        Err(crate::Error::NoKeys { .. }) => {
            keystore::create(&dir(keys_dir), &common_name(base)).map(Some)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_is_created_once_in_its_own_folder() {
        let keys = tempfile::tempdir().unwrap();
        let created = create_missing(keys.path(), "X").unwrap().unwrap();
        assert_eq!(created.paths.dir, keys.path().join("rauc"));
        assert_eq!(
            crate::cert::subject(&created.pair.cert),
            "CN=X RAUC bundles"
        );
        assert!(create_missing(keys.path(), "X").unwrap().is_none());
        let signer = BundleSigner::load(keys.path()).unwrap();
        assert_eq!(signer.cert, created.pair.cert);
    }
}
