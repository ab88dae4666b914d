//! Reading X.509 certificates and the RSA public keys inside them.

use std::path::Path;

use der::{Decode, DecodePem, Encode};
use rsa::PublicKey;
use rsa::pkcs8::DecodePublicKey;
use x509_cert::Certificate;

use crate::error::{Error, Result};

/// Reads a certificate from a PEM or DER file.
pub fn load_certificate(path: &Path) -> Result<Certificate> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
    let parsed = if bytes.starts_with(b"-----BEGIN") {
        Certificate::from_pem(&bytes)
    } else {
        Certificate::from_der(&bytes)
    };
    parsed.map_err(|e| Error::BadCertificate {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The RSA public key a certificate certifies.
pub fn public_key(cert: &Certificate) -> Result<PublicKey> {
    let spki = cert.tbs_certificate().subject_public_key_info().to_der()?;
    PublicKey::from_public_key_der(&spki).map_err(|e| Error::NotRsa {
        subject: subject(cert),
        reason: e.to_string(),
    })
}

/// The certificate's subject as text, for messages.
pub fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate().subject().to_string()
}
