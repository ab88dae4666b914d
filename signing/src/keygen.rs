//! Creating a development signing key and its self-signed certificate, in
//! memory. Writing them out is `crate::keystore`'s job.
//!
//! The certificate follows the kernel's own `certs/default_x509.genkey`:
//! self-signed, CA:FALSE, keyUsage digitalSignature (critical here), and
//! subject/authority key identifiers, which the kernel's asymmetric key
//! lookup matches on.

use std::time::Duration;

use der::asn1::{Any, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Tag};
use getrandom::SysRng;
use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use sha2::Sha256;
use spki::{SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::constraints::BasicConstraints;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::error::{Error, Result};

/// RSA modulus size: 128-bit strength (NIST SP 800-57), and what the kernel's
/// own `certs/default_x509.genkey`-era tooling and most HSMs handle.
pub const KEY_BITS: usize = 3072;

/// The default subject common name of a development certificate.
pub const DEFAULT_COMMON_NAME: &str = "Appliance development signing key";

/// How long a development certificate is valid. The kernel does not enforce
/// validity for built-in keys; this only keeps other tools quiet.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// X.520 commonName.
const ID_AT_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// A private key and the self-signed certificate for its public key.
pub struct KeyPair {
    /// The RSA private key.
    pub key: PrivateKey,
    /// The self-signed X.509 certificate the kernel will trust.
    pub cert: Certificate,
}

/// Generates a new [`KEY_BITS`]-bit RSA key and a self-signed certificate with
/// subject `CN=<common_name>`, signed with sha256WithRSAEncryption.
pub fn generate(common_name: &str) -> Result<KeyPair> {
    let subject = common_name_subject(common_name)?;
    let key = PrivateKey::new(&mut SysRng, KEY_BITS).map_err(|source| Error::Rsa {
        action: "key generation",
        source,
    })?;
    let signing_key = SigningKey::<Sha256>::new(key.clone());
    let spki =
        SubjectPublicKeyInfo::from_key(&key.to_public_key()).map_err(|e| Error::KeyEncoding {
            what: "public key",
            reason: e.to_string(),
        })?;
    let builder = CertificateBuilder::new(
        DevProfile { subject },
        random_serial()?,
        Validity::from_now(VALIDITY)?,
        spki,
    )?;
    let cert = builder.build::<_, rsa::pkcs1v15::Signature>(&signing_key)?;
    Ok(KeyPair { key, cert })
}

/// `CN=<common_name>` built attribute by attribute, so the name needs no
/// RFC 4514 escaping.
fn common_name_subject(common_name: &str) -> Result<Name> {
    check_common_name(common_name)?;
    let value = Any::new(Tag::Utf8String, common_name.as_bytes())?;
    let rdn = RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue {
        oid: ID_AT_COMMON_NAME,
        value,
    }])?;
    let rdns = RdnSequence::from(vec![rdn]);
    Ok(Name::from_der(&rdns.to_der()?)?)
}

/// Refuses a common name a certificate cannot carry: empty, or over 64
/// characters (ub-common-name, RFC 5280 appendix A).
pub fn check_common_name(common_name: &str) -> Result<()> {
    if common_name.is_empty() || common_name.chars().count() > 64 {
        return Err(Error::BadCommonName(common_name.to_owned()));
    }
    Ok(())
}

/// A random positive 128-bit serial number.
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    // Positive, and no leading zero byte to strip.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::new(&bytes)?)
}

/// The certificate profile: a self-signed end-entity code-signing certificate.
struct DevProfile {
    subject: Name,
}

impl BuilderProfile for DevProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        // Self-signed: the authority key is the subject key.
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(ski.0.as_bytes())?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        Ok(vec![
            extension(
                true,
                &BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
            )?,
            extension(true, &KeyUsage(KeyUsages::DigitalSignature.into()))?,
            extension(false, &ski)?,
            extension(false, &aki)?,
        ])
    }
}

fn extension<T: der::Encode + der::oid::AssociatedOid>(
    critical: bool,
    value: &T,
) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}
