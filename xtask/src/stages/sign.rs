//! Stage `sign`: the signing key, and the signed policy the device loads at boot. Development
//! keys are created on first use; the private key stays in `keys/`, outside every image.

use std::path::Path;

use anyhow::{Context, Result};
use signing::{Certificate, LocalSigner};

/// The key material a build uses.
pub struct Keys {
    signer: LocalSigner,
    pub cert: Certificate,
    /// PEM, for the kernel's trusted keys.
    pub cert_pem: String,
    /// The private key's file, for the leak check.
    pub private_key: std::path::PathBuf,
}

pub fn load_or_create(dir: &Path) -> Result<Keys> {
    let keys = signing::load_or_create_dev_keys(dir)
        .with_context(|| format!("loading the signing keys in {}", dir.display()))?;
    if keys.created {
        tracing::warn!(
            "created DEVELOPMENT signing keys in {}; the kernel will trust them. Ship with your own keys (`cargo xtask keys generate` or an external signer)",
            dir.display()
        );
    }
    let cert_pem = std::fs::read_to_string(&keys.paths.cert_pem)
        .with_context(|| format!("reading {}", keys.paths.cert_pem.display()))?;
    Ok(Keys {
        signer: LocalSigner::new(keys.pair.key),
        cert: keys.pair.cert,
        cert_pem,
        private_key: keys.paths.key,
    })
}

impl Keys {
    /// A DER PKCS#7 with the policy attached, as IPE's `new_policy` wants it.
    pub fn sign_policy(&self, policy: &str) -> Result<Vec<u8>> {
        Ok(signing::sign_attached(
            policy.as_bytes(),
            &self.signer,
            &self.cert,
        )?)
    }
}
