//! PKCS#7 (RFC 2315) SignedData assembly: pure DER, no I/O, no cryptography.
//!
//! Only the subset the kernel's PKCS#7 parser needs is modelled, and only in the
//! shape it accepts (see `crate::sign` for the verified facts):
//!
//! ```text
//! ContentInfo { signedData, [0] SignedData {
//!     version 1, digestAlgorithms { sha256 (NULL) },
//!     contentInfo { data, [0] OCTET STRING content  -- absent when detached },
//!     certificates [0] { signer certificate }        -- optional,
//!     signerInfos { SignerInfo {
//!         version 1, issuerAndSerialNumber, digestAlgorithm sha256 (NULL),
//!         -- no authenticatedAttributes
//!         digestEncryptionAlgorithm rsaEncryption (NULL), encryptedDigest } } } }
//! ```

use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Encode, Sequence, ValueOrd};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use crate::error::Result;

/// pkcs7-signedData.
pub(crate) const ID_SIGNED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// pkcs7-data.
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-sha256.
pub(crate) const ID_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// rsaEncryption: the kernel wants this, not sha256WithRSAEncryption, in a SignerInfo.
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Whether the signed content travels inside the PKCS#7 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Content embedded (`openssl smime -nodetach`): what IPE's `new_policy` wants.
    Attached,
    /// Content left out (`fsverity sign`, `openssl smime` default): the verifier has it.
    Detached,
}

/// Whether the signer's certificate is embedded in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Certificates {
    /// Embed it (openssl's default). The kernel still trusts only its own keyring.
    Include,
    /// Leave it out (`-nocerts`, `fsverity sign`): the kernel finds the key by issuer and serial.
    Omit,
}

#[derive(Sequence)]
struct ContentInfo {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: SignedData,
}

#[derive(Sequence)]
struct SignedData {
    version: u8,
    digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    content_info: DataContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    certificates: Option<SetOfVec<Certificate>>,
    signer_infos: SetOfVec<SignerInfo>,
}

#[derive(Sequence)]
struct DataContentInfo {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    content: Option<OctetString>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
struct SignerInfo {
    version: u8,
    issuer_and_serial_number: IssuerAndSerialNumber,
    digest_algorithm: AlgorithmIdentifierOwned,
    digest_encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_digest: OctetString,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
pub(crate) struct IssuerAndSerialNumber {
    issuer: Name,
    serial_number: SerialNumber,
}

impl IssuerAndSerialNumber {
    /// Names the certificate's key the way a SignerInfo does.
    pub(crate) fn of(cert: &Certificate) -> Self {
        let tbs = cert.tbs_certificate();
        Self {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }
    }
}

/// An algorithm identifier with NULL parameters, as openssl writes them.
pub(crate) fn algorithm(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::null()),
    }
}

/// Encodes a SignedData message around an already computed RSASSA-PKCS1-v1_5
/// SHA-256 `signature` of `content` by the key of `cert`.
///
/// This does not check the signature; [`crate::sign`] does before calling it.
pub fn encode(
    content: &[u8],
    signature: &[u8],
    cert: &Certificate,
    mode: Content,
    certificates: Certificates,
) -> Result<Vec<u8>> {
    let signer_info = SignerInfo {
        version: 1,
        issuer_and_serial_number: IssuerAndSerialNumber::of(cert),
        digest_algorithm: algorithm(ID_SHA256),
        digest_encryption_algorithm: algorithm(RSA_ENCRYPTION),
        encrypted_digest: OctetString::new(signature)?,
    };
    let signed_data = SignedData {
        version: 1,
        digest_algorithms: SetOfVec::try_from(vec![algorithm(ID_SHA256)])?,
        content_info: DataContentInfo {
            content_type: ID_DATA,
            content: match mode {
                Content::Attached => Some(OctetString::new(content)?),
                Content::Detached => None,
            },
        },
        certificates: match certificates {
            Certificates::Include => Some(SetOfVec::try_from(vec![cert.clone()])?),
            Certificates::Omit => None,
        },
        signer_infos: SetOfVec::try_from(vec![signer_info])?,
    };
    let message = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: signed_data,
    };
    Ok(message.to_der()?)
}
