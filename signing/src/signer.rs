//! Where RSA signatures come from.
//!
//! Every [`Signer`] has the same contract: given the exact bytes to be signed,
//! return the raw RSASSA-PKCS1-v1_5 signature over their SHA-256 digest (the
//! output of `openssl dgst -sha256 -sign KEY -binary`), as many bytes as the
//! modulus. Signatures are always checked against the certificate before use,
//! so a signer that gets this wrong fails loudly instead of producing an image
//! the kernel rejects.

use std::path::{Path, PathBuf};

use rsa::PrivateKey;
use sha2::Sha256;

use crate::error::{Error, Result};

/// A source of raw RSASSA-PKCS1-v1_5 SHA-256 signatures.
pub trait Signer {
    /// Signs `content` (the bytes themselves, not a digest of them).
    fn sign(&self, content: &[u8]) -> Result<Vec<u8>>;

    /// Names the signer in error messages.
    fn describe(&self) -> String;
}

/// Signs in-process with a private key held in memory (development keys).
pub struct LocalSigner {
    key: PrivateKey,
}

impl LocalSigner {
    /// Wraps a private key.
    pub fn new(key: PrivateKey) -> Self {
        Self { key }
    }
}

impl Signer for LocalSigner {
    fn sign(&self, content: &[u8]) -> Result<Vec<u8>> {
        self.key
            .pkcs1v15_sign::<Sha256>(content)
            .map_err(|source| Error::Rsa {
                action: "signing",
                source,
            })
    }

    fn describe(&self) -> String {
        "the local signing key".to_owned()
    }
}

/// A signature made earlier, elsewhere: the second step of offline signing.
///
/// Step one hands the bytes to be signed to whoever holds the key (for an IPE
/// policy, the policy file itself). Step two reads the raw signature back and
/// assembles the PKCS#7 message. The signature is checked against the content
/// and certificate like any other.
pub struct SignatureFile {
    path: PathBuf,
    signature: Vec<u8>,
}

impl SignatureFile {
    /// Reads a raw signature from `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let signature = std::fs::read(path).map_err(|e| Error::io(path, "read", e))?;
        Ok(Self {
            path: path.to_owned(),
            signature,
        })
    }
}

impl Signer for SignatureFile {
    fn sign(&self, _content: &[u8]) -> Result<Vec<u8>> {
        Ok(self.signature.clone())
    }

    fn describe(&self) -> String {
        format!("signature file {}", self.path.display())
    }
}
