//! Stage `sign`: the signing key, and the signed policy the device loads at boot. Development
//! keys are created on first use; with an external signer (an HSM, PKCS#11, an offline
//! machine) the private key never touches the build machine. Either way it enters no image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use der::{Encode, pem::LineEnding};
use signing::secure_boot::DbSigner;
use signing::{Certificate, ExternalSigner, FsVerityDigest, LocalSigner, SignatureFile, Signer};

use crate::firmware::EnrolledCerts;

/// Where signatures come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerChoice {
    /// Keys in a folder, created as development keys on first use.
    DevKeys(PathBuf),
    /// A command that reads the bytes to sign on stdin and prints the raw RSA signature, with the
    /// certificate of its key.
    External { cert: PathBuf, command: String },
    /// A raw signature made offline over one known input, with the certificate of its key.
    Offline { cert: PathBuf, signature: PathBuf },
}

/// Where the UKI's Secure Boot signature comes from: the `db` role, a key of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UefiSignerChoice {
    /// `secure-boot/db/` in a keys folder (development keys create it with the policy key).
    KeysDir(PathBuf),
    /// A command that signs as `SignerChoice::External` does, with the `db` certificate.
    External { cert: PathBuf, command: String },
}

/// Where update bundles' signatures come from: the `rauc` role, a key of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleSignerChoice {
    /// `rauc/` in a keys folder, created as a development key when missing.
    KeysDir(PathBuf),
    /// A command that signs as `SignerChoice::External` does, with the bundle certificate.
    External { cert: PathBuf, command: String },
}

pub fn load_bundle_signer(choice: &BundleSignerChoice) -> Result<signing::rauc::BundleSigner> {
    match choice {
        BundleSignerChoice::KeysDir(dir) => {
            let created = signing::rauc::create_missing(dir, signing::keygen::DEFAULT_COMMON_NAME)
                .with_context(|| {
                    format!(
                        "creating the RAUC bundle key in {}; a half-written folder there must \
                         be moved aside",
                        signing::rauc::dir(dir).display()
                    )
                })?;
            if let Some(role) = created {
                tracing::warn!(
                    "created a DEVELOPMENT RAUC bundle key in {}; devices trust \
                     {} in their keyring",
                    role.paths.dir.display(),
                    role.paths.cert_pem.display()
                );
            }
            Ok(signing::rauc::BundleSigner::load(dir)?)
        }
        BundleSignerChoice::External { cert, command } => Ok(signing::rauc::BundleSigner {
            signer: Box::new(ExternalSigner::shell(command)),
            cert: signing::cert::load_certificate(cert)?,
        }),
    }
}

/// What the UKI is signed with, and what a test machine enrolls.
pub struct UefiKeys {
    pub db: DbSigner,
    /// PK, KEK and db for an OVMF variable store; only from a keys folder, which has all three
    /// roles. With an external `db` signer, the devices' own firmware holds the keys.
    pub test_machine: Option<EnrolledCerts>,
}

pub fn load_uefi_keys(choice: &UefiSignerChoice) -> Result<UefiKeys> {
    match choice {
        UefiSignerChoice::KeysDir(dir) => {
            let keys = signing::SecureBootKeys::load(dir).with_context(|| {
                format!(
                    "loading the Secure Boot keys in {}: create them with `cargo xtask keys \
                     generate`, or sign with --uefi-cert and --uefi-external-signer",
                    dir.join(signing::secure_boot::SECURE_BOOT_DIR).display()
                )
            })?;
            Ok(UefiKeys {
                test_machine: Some(EnrolledCerts::of(&keys)?),
                db: keys.db,
            })
        }
        UefiSignerChoice::External { cert, command } => Ok(UefiKeys {
            db: DbSigner {
                signer: Box::new(ExternalSigner::shell(command)),
                cert: signing::cert::load_certificate(cert)?,
            },
            test_machine: None,
        }),
    }
}

/// The key material a build uses.
pub struct Keys {
    signer: Box<dyn Signer>,
    cert: Certificate,
    /// PEM, for the kernel's trusted keys.
    pub cert_pem: String,
}

pub fn load(choice: &SignerChoice) -> Result<Keys> {
    let (cert, signer): (&Path, Box<dyn Signer>) = match choice {
        SignerChoice::DevKeys(dir) => return load_or_create(dir),
        SignerChoice::External { cert, command } => {
            (cert, Box::new(ExternalSigner::shell(command)))
        }
        SignerChoice::Offline { cert, signature } => {
            (cert, Box::new(SignatureFile::read(signature)?))
        }
    };
    let cert = signing::cert::load_certificate(cert)?;
    Ok(Keys {
        cert_pem: pem_of(&cert)?,
        signer,
        cert,
    })
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
    // The Secure Boot roles beside it, each created only if missing: the policy key above is
    // never replaced, since a kernel already trusts it.
    let roles = signing::secure_boot::create_missing(dir, signing::keygen::DEFAULT_COMMON_NAME)
        .with_context(|| {
            format!(
                "creating the Secure Boot keys in {}; a half-written role folder there must be \
                 moved aside",
                dir.join(signing::secure_boot::SECURE_BOOT_DIR).display()
            )
        })?;
    for role in roles {
        tracing::warn!(
            "created a DEVELOPMENT Secure Boot key in {}",
            role.paths.dir.display()
        );
    }
    Ok(Keys {
        cert_pem: pem_of(&keys.pair.cert)?,
        signer: Box::new(LocalSigner::new(keys.pair.key)),
        cert: keys.pair.cert,
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
    /// A DER PKCS#7 with the policy attached, as IPE's `new_policy` wants it. The policy is
    /// first parsed as the kernel parses it, and the result must fit the kernel's limit: a
    /// policy the device would refuse is never signed.
    pub fn sign_policy(&self, policy: &[u8]) -> Result<Vec<u8>> {
        ipe_lsm::host::check(policy).map_err(|diagnostic| {
            anyhow::anyhow!(
                "the kernel would refuse this policy, so it was not signed: {diagnostic}"
            )
        })?;
        let signed = signing::sign_attached(policy, self.signer.as_ref(), &self.cert)
            .with_context(|| format!("signing the policy with {}", self.signer.describe()))?;
        within_kernel_limit(signed.len(), policy)?;
        Ok(signed)
    }

    /// The detached signature `fsverity enable --signature` takes.
    pub fn sign_fsverity_digest(&self, digest: &FsVerityDigest) -> Result<Vec<u8>> {
        Ok(signing::sign_fsverity_digest(
            digest,
            self.signer.as_ref(),
            &self.cert,
        )?)
    }

    /// What signs, for messages.
    pub fn describe(&self) -> String {
        self.signer.describe()
    }
}

fn within_kernel_limit(signed_len: usize, policy: &[u8]) -> Result<()> {
    if signed_len > KERNEL_ASN1_MAX {
        bail!(
            "the signed policy would be {signed_len} bytes ({} rules and comments), but the \
             kernel parses at most {KERNEL_ASN1_MAX} bytes of PKCS#7 (lib/asn1_decoder.c) and \
             would refuse it with EMSGSIZE; trust fewer, larger things, for example binaries on \
             the verity root (one rule) instead of one sealed-digest rule each",
            policy
                .split(|&b| b == b'\n')
                .filter(|line| !line.is_empty())
                .count()
                .saturating_sub(1)
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
            b"policy_name=t policy_version=0.0.1\nDEFAULT action=DENY\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("65536 bytes (1 rules"), "{error}");
        assert!(error.contains("EMSGSIZE"), "{error}");
        within_kernel_limit(65535, b"").unwrap();
    }

    /// A keys folder from before the Secure Boot roles: the build adds them and keeps the
    /// policy key, which kernels already trust.
    #[test]
    fn dev_keys_gain_the_secure_boot_roles_and_keep_the_policy_key() {
        let dir = tempfile::tempdir().unwrap();
        let policy = signing::load_or_create_dev_keys(dir.path()).unwrap();
        let before = std::fs::read(&policy.paths.key).unwrap();
        let keys = load(&SignerChoice::DevKeys(dir.path().to_owned())).unwrap();
        assert_eq!(std::fs::read(&policy.paths.key).unwrap(), before);
        assert_eq!(keys.cert_pem, pem_of(&policy.pair.cert).unwrap());
        let roles = signing::SecureBootKeys::load(dir.path()).unwrap();
        assert_ne!(roles.db.cert, policy.pair.cert);
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
        assert_eq!(external.cert_pem, local.cert_pem);
        let policy = b"policy_name=t policy_version=0.0.1\nDEFAULT action=ALLOW\n";
        assert_eq!(
            external.sign_policy(policy).unwrap(),
            local.sign_policy(policy).unwrap()
        );
    }

    #[test]
    fn a_policy_the_kernel_would_refuse_is_not_signed() {
        let dir = tempfile::tempdir().unwrap();
        let keys = load(&SignerChoice::DevKeys(dir.path().to_owned())).unwrap();
        for bad in [
            &b"\x93\x01random bytes"[..],
            b"policy_name=t policy_version=0.0.1\nop=KERNEL_READ action=ALLOW\n",
        ] {
            let error = keys.sign_policy(bad).unwrap_err().to_string();
            assert!(error.contains("would refuse"), "{error}");
        }
    }
}
