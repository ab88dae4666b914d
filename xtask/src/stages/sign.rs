//! Stage `sign`: the signing key, and the signed policy the device loads at boot. Development
//! keys are created on first use; with an external signer (an HSM, PKCS#11, an offline
//! machine) the private key never touches the build machine. Either way it enters no image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use der::{Encode, pem::LineEnding};
use signing::{Certificate, ExternalSigner, LocalSigner, Signer};

/// Where signatures come from.
pub enum SignerChoice {
    /// Keys in a folder, created as development keys on first use.
    DevKeys(PathBuf),
    /// A command that reads the bytes to sign on stdin and prints the raw RSA signature, with the
    /// certificate of its key.
    External { cert: PathBuf, command: String },
}

/// The key material a build uses.
pub struct Keys {
    signer: Box<dyn Signer>,
    cert: Certificate,
    /// PEM, for the kernel's trusted keys.
    pub cert_pem: String,
    /// The private key's file when it is on this machine, for the leak check.
    pub private_key: Option<PathBuf>,
}

pub fn load(choice: &SignerChoice) -> Result<Keys> {
    match choice {
        SignerChoice::DevKeys(dir) => load_or_create(dir),
        SignerChoice::External { cert, command } => {
            let cert = signing::cert::load_certificate(cert)?;
            Ok(Keys {
                cert_pem: pem_of(&cert)?,
                signer: Box::new(ExternalSigner::shell(command)),
                cert,
                private_key: None,
            })
        }
    }
}

fn load_or_create(dir: &Path) -> Result<Keys> {
    let keys = signing::load_or_create_dev_keys(dir)
        .with_context(|| format!("loading the signing keys in {}", dir.display()))?;
    if keys.created {
        tracing::warn!(
            "created DEVELOPMENT signing keys in {}; the kernel will trust them. Ship with your own keys (`cargo xtask keys generate`) or an external signer (`--external-signer`)",
            dir.display()
        );
    }
    Ok(Keys {
        cert_pem: pem_of(&keys.pair.cert)?,
        signer: Box::new(LocalSigner::new(keys.pair.key)),
        cert: keys.pair.cert,
        private_key: Some(keys.paths.key),
    })
}

fn pem_of(cert: &Certificate) -> Result<String> {
    Ok(der::pem::encode_string(
        "CERTIFICATE",
        LineEnding::LF,
        &cert.to_der()?,
    )?)
}

/// The largest PKCS#7 message the kernel parses: its ASN.1 decoder refuses more with
/// `EMSGSIZE` (`lib/asn1_decoder.c`), so IPE could never load a larger signed policy.
const KERNEL_ASN1_MAX: usize = 65535;

impl Keys {
    /// A DER PKCS#7 with the policy attached, as IPE's `new_policy` wants it.
    pub fn sign_policy(&self, policy: &str) -> Result<Vec<u8>> {
        let signed = signing::sign_attached(policy.as_bytes(), self.signer.as_ref(), &self.cert)
            .with_context(|| format!("signing the policy with {}", self.signer.describe()))?;
        within_kernel_limit(signed.len(), policy)?;
        Ok(signed)
    }
}

fn within_kernel_limit(signed_len: usize, policy: &str) -> Result<()> {
    if signed_len > KERNEL_ASN1_MAX {
        bail!(
            "the signed policy would be {signed_len} bytes ({} rules and comments), but the \
             kernel parses at most {KERNEL_ASN1_MAX} bytes of PKCS#7 (lib/asn1_decoder.c) and \
             would refuse it with EMSGSIZE; trust fewer, larger things, for example binaries on \
             the verity root (one rule) instead of one sealed-digest rule each",
            policy.lines().count().saturating_sub(1)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_the_kernel_cannot_parse_is_refused_with_the_reason() {
        let error = within_kernel_limit(
            65536,
            "policy_name=t policy_version=0.0.1\nDEFAULT action=DENY\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("65536 bytes (1 rules"), "{error}");
        assert!(error.contains("EMSGSIZE"), "{error}");
        within_kernel_limit(65535, "").unwrap();
    }

    #[test]
    fn an_external_signer_gives_the_same_bytes_as_the_key_itself() {
        let dir = tempfile::tempdir().unwrap();
        let local = load(&SignerChoice::DevKeys(dir.path().to_owned())).unwrap();
        let key = dir.path().join(signing::keystore::KEY_FILE);
        let external = load(&SignerChoice::External {
            cert: dir.path().join(signing::keystore::CERT_PEM_FILE),
            command: format!("openssl dgst -sha256 -binary -sign {}", key.display()),
        })
        .unwrap();
        assert!(external.private_key.is_none());
        assert_eq!(external.cert_pem, local.cert_pem);
        let policy = "policy_name=t policy_version=0.0.1\nDEFAULT action=ALLOW\n";
        assert_eq!(
            external.sign_policy(policy).unwrap(),
            local.sign_policy(policy).unwrap()
        );
    }
}
