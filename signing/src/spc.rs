//! Authenticode's PKCS#7: pure DER assembly, no I/O, no signing.
//!
//! The signed content is an `SpcIndirectDataContent` holding the image hash;
//! the SignerInfo signs authenticated attributes, one of which is the digest of
//! that content (its DER value, without tag and length, as Authenticode
//! specifies). There is no signingTime, so the same image, key and certificate
//! always give the same bytes.
//!
//! ```text
//! ContentInfo { signedData, [0] SignedData {
//!     version 1, digestAlgorithms { sha256 (NULL) },
//!     contentInfo { SPC_INDIRECT_DATA, [0] SpcIndirectDataContent {
//!         SpcAttributeTypeAndOptionalValue { SPC_PE_IMAGE_DATA, SpcPeImageData },
//!         DigestInfo { sha256 (NULL), image hash } } },
//!     certificates [0] { signer certificate },
//!     signerInfos { SignerInfo {
//!         version 1, issuerAndSerialNumber, digestAlgorithm sha256 (NULL),
//!         authenticatedAttributes [0] { contentType, messageDigest, SpcSpOpusInfo {} },
//!         digestEncryptionAlgorithm rsaEncryption (NULL), encryptedDigest } } } }
//! ```

use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence, ValueOrd};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use crate::error::Result;
use crate::pkcs7::{ID_SHA256, ID_SIGNED_DATA, IssuerAndSerialNumber, RSA_ENCRYPTION, algorithm};

/// SPC_INDIRECT_DATA_OBJID.
const SPC_INDIRECT_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// SPC_PE_IMAGE_DATAOBJ.
const SPC_PE_IMAGE_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");
/// SPC_SP_OPUS_INFO_OBJID: program name and URL, both optional; Microsoft's
/// tools expect the attribute, empty is valid.
const SPC_SP_OPUS_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// pkcs-9 contentType.
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// pkcs-9 messageDigest.
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

/// SpcPeImageData as sbsign and osslsigncode write it: no flags, and the file
/// link the specification requires, the BMPString "<<<Obsolete>>>".
const PE_IMAGE_DATA: &[u8] = b"\x30\x25\x03\x01\x00\xa0\x20\xa2\x1e\x80\x1c\
\x00\x3c\x00\x3c\x00\x3c\x00\x4f\x00\x62\x00\x73\x00\x6f\x00\x6c\x00\x65\x00\x74\x00\x65\
\x00\x3e\x00\x3e\x00\x3e";

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
    content_info: IndirectContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    certificates: SetOfVec<Certificate>,
    signer_infos: SetOfVec<SignerInfo>,
}

#[derive(Sequence)]
struct IndirectContentInfo {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: SpcIndirectDataContent,
}

#[derive(Clone, Sequence)]
struct SpcIndirectDataContent {
    data: SpcAttributeTypeAndOptionalValue,
    message_digest: DigestInfo,
}

#[derive(Clone, Sequence)]
struct SpcAttributeTypeAndOptionalValue {
    value_type: ObjectIdentifier,
    value: Any,
}

#[derive(Clone, Sequence)]
struct DigestInfo {
    digest_algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
struct SignerInfo {
    version: u8,
    issuer_and_serial_number: IssuerAndSerialNumber,
    digest_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    authenticated_attributes: SetOfVec<Attribute>,
    digest_encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_digest: OctetString,
}

/// The signed content and attributes for one image hash, before signing.
pub struct Unsigned {
    content: SpcIndirectDataContent,
    attributes: SetOfVec<Attribute>,
}

impl Unsigned {
    /// Prepares the content and attributes for a SHA-256 Authenticode `image_hash`.
    pub fn new(image_hash: &[u8; 32]) -> Result<Self> {
        let content = SpcIndirectDataContent {
            data: SpcAttributeTypeAndOptionalValue {
                value_type: SPC_PE_IMAGE_DATA,
                value: Any::from_der(PE_IMAGE_DATA)?,
            },
            message_digest: DigestInfo {
                digest_algorithm: algorithm(ID_SHA256),
                digest: OctetString::new(image_hash.as_slice())?,
            },
        };
        // The messageDigest covers the content's value: its fields, no SEQUENCE header.
        let mut value = content.data.to_der()?;
        value.extend(content.message_digest.to_der()?);
        let attribute = |oid, value: Any| -> Result<Attribute> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value])?,
            })
        };
        let attributes = SetOfVec::try_from(vec![
            attribute(CONTENT_TYPE, Any::encode_from(&SPC_INDIRECT_DATA)?)?,
            attribute(
                MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(Sha256::digest(&value).as_slice())?)?,
            )?,
            attribute(SPC_SP_OPUS_INFO, Any::from_der(&[0x30, 0x00])?)?,
        ])?;
        Ok(Self {
            content,
            attributes,
        })
    }

    /// The bytes the signer signs: the attributes' DER as a SET (tag 0x31),
    /// not as the `[0]` they are stored under.
    pub fn to_be_signed(&self) -> Result<Vec<u8>> {
        Ok(self.attributes.to_der()?)
    }

    /// The complete DER SignedData around `signature`, a checked
    /// RSASSA-PKCS1-v1_5 SHA-256 signature of [`Self::to_be_signed`] by `cert`'s key.
    pub fn encode(self, signature: &[u8], cert: &Certificate) -> Result<Vec<u8>> {
        let signer_info = SignerInfo {
            version: 1,
            issuer_and_serial_number: IssuerAndSerialNumber::of(cert),
            digest_algorithm: algorithm(ID_SHA256),
            authenticated_attributes: self.attributes,
            digest_encryption_algorithm: algorithm(RSA_ENCRYPTION),
            encrypted_digest: OctetString::new(signature)?,
        };
        let message = ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: SignedData {
                version: 1,
                digest_algorithms: SetOfVec::try_from(vec![algorithm(ID_SHA256)])?,
                content_info: IndirectContentInfo {
                    content_type: SPC_INDIRECT_DATA,
                    content: self.content,
                },
                certificates: SetOfVec::try_from(vec![cert.clone()])?,
                signer_infos: SetOfVec::try_from(vec![signer_info])?,
            },
        };
        Ok(message.to_der()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn signs_content_type_digest_and_opus_info_but_no_time() {
        let unsigned = Unsigned::new(&[0xab; 32]).unwrap();
        let signed = unsigned.to_be_signed().unwrap();
        assert_eq!(signed[0], 0x31, "signed as a SET, not as [0]");
        for oid in [CONTENT_TYPE, MESSAGE_DIGEST, SPC_SP_OPUS_INFO] {
            assert!(contains(&signed, oid.as_bytes()), "{oid} missing");
        }
        let signing_time = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
        assert!(!contains(&signed, signing_time.as_bytes()));
        // messageDigest is over the content's fields, without its SEQUENCE header.
        let content = unsigned.content.to_der().unwrap();
        let digest = Sha256::digest(&content[2..]);
        assert_eq!(content[1] as usize, content.len() - 2, "short-form length");
        assert!(contains(&signed, &digest));
        assert!(contains(&content, &[0xab; 32]));
    }

    #[test]
    fn pe_image_data_is_one_der_sequence() {
        let any = Any::from_der(PE_IMAGE_DATA).unwrap();
        assert_eq!(der::Tagged::tag(&any), der::Tag::Sequence);
        assert_eq!(any.value().len(), PE_IMAGE_DATA.len() - 2);
    }
}
