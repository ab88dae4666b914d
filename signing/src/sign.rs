//! Signing for the kernel: IPE policies (attached) and fs-verity digests or
//! anything else verified against a detached signature.
//!
//! Upstream IPE on Linux 6.12 accepts a policy only as DER PKCS#7 with the text
//! attached, no authenticated attributes (they give EKEYREJECTED), and
//! `rsaEncryption` as the digest encryption algorithm (the kernel rejects
//! `sha256WithRSAEncryption` there). fs-verity builtin signatures are the same
//! structure, detached and without certificates, over the formatted digest.

use rsa::pkcs1v15::Pkcs1v15Sign;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::cert;
use crate::error::{Error, Result};
use crate::pkcs7::{self, Certificates, Content};
use crate::signer::Signer;

/// Signs `content` and returns a DER PKCS#7 message with the content inside and
/// the certificate included: byte for byte what
/// `openssl smime -sign -noattr -nodetach -binary -outform der -md sha256` makes.
/// This is the format IPE's securityfs `new_policy` and `update` files take.
pub fn sign_attached(content: &[u8], signer: &dyn Signer, cert: &Certificate) -> Result<Vec<u8>> {
    let signature = checked_signature(content, signer, cert)?;
    pkcs7::encode(
        content,
        &signature,
        cert,
        Content::Attached,
        Certificates::Include,
    )
}

/// Signs `content` and returns a detached DER PKCS#7 signature without
/// certificates: byte for byte what `fsverity sign` and
/// `openssl smime -sign -noattr -nocerts -binary -outform der -md sha256` make.
/// The kernel finds the key in its keyring by issuer and serial number.
pub fn sign_detached(content: &[u8], signer: &dyn Signer, cert: &Certificate) -> Result<Vec<u8>> {
    let signature = checked_signature(content, signer, cert)?;
    pkcs7::encode(
        content,
        &signature,
        cert,
        Content::Detached,
        Certificates::Omit,
    )
}

/// Gets a signature from `signer` and proves it verifies with `cert` before
/// anything is built around it.
pub(crate) fn checked_signature(
    content: &[u8],
    signer: &dyn Signer,
    cert: &Certificate,
) -> Result<Vec<u8>> {
    let signature = signer.sign(content)?;
    verify_raw(content, &signature, cert).map_err(|_| Error::BadSignature {
        signer: signer.describe(),
        subject: cert::subject(cert),
    })?;
    Ok(signature)
}

/// Checks a raw RSA PKCS#1 v1.5 SHA-256 `signature` over `content`, as [`Signer::sign`] makes
/// it, against `cert`'s public key.
pub fn verify_raw(content: &[u8], signature: &[u8], cert: &Certificate) -> Result<()> {
    let key = cert::public_key(cert)?;
    let digest = Sha256::digest(content);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
        .map_err(|_| Error::BadSignature {
            signer: "the signature given".to_owned(),
            subject: cert::subject(cert),
        })
}
