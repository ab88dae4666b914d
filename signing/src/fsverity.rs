//! The bytes an fs-verity builtin signature covers.
//!
//! The kernel (fs/verity/signature.c) verifies a detached PKCS#7 signature
//! over `struct fsverity_formatted_digest`: the magic `"FSVerity"`, the hash
//! algorithm number (le16), the digest size (le16) and the digest itself.

use std::fmt;
use std::str::FromStr;

use x509_cert::Certificate;

use crate::error::{Error, Result};
use crate::sign::sign_detached;
use crate::signer::Signer;

/// A file's fs-verity digest (its "measurement"), as `fsverity digest` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsVerityDigest {
    /// `FS_VERITY_HASH_ALG_SHA256` (1).
    Sha256([u8; 32]),
    /// `FS_VERITY_HASH_ALG_SHA512` (2).
    Sha512([u8; 64]),
}

impl FsVerityDigest {
    fn parts(&self) -> (u16, &[u8]) {
        match self {
            Self::Sha256(d) => (1, d),
            Self::Sha512(d) => (2, d),
        }
    }

    /// `struct fsverity_formatted_digest`: the exact bytes to sign.
    pub fn formatted(&self) -> Vec<u8> {
        let (algorithm, digest) = self.parts();
        let mut out = Vec::with_capacity(12 + digest.len());
        out.extend_from_slice(b"FSVerity");
        out.extend_from_slice(&algorithm.to_le_bytes());
        // Both digest sizes (32, 64) fit in u16.
        out.extend_from_slice(&(digest.len() as u16).to_le_bytes());
        out.extend_from_slice(digest);
        out
    }
}

/// Signs a file's fs-verity digest: the result is what `fsverity sign` writes
/// and what `FS_IOC_ENABLE_VERITY` takes as `sig_ptr`.
pub fn sign_fsverity_digest(
    digest: &FsVerityDigest,
    signer: &dyn Signer,
    cert: &Certificate,
) -> Result<Vec<u8>> {
    sign_detached(&digest.formatted(), signer, cert)
}

impl FromStr for FsVerityDigest {
    type Err = Error;

    /// Parses `sha256:HEX` or `sha512:HEX`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::BadFsVerityDigest(s.to_owned());
        let (algorithm, hex) = s.split_once(':').ok_or_else(bad)?;
        match algorithm {
            "sha256" => Ok(Self::Sha256(decode_hex(hex).ok_or_else(bad)?)),
            "sha512" => Ok(Self::Sha512(decode_hex(hex).ok_or_else(bad)?)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for FsVerityDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (algorithm, digest) = self.parts();
        f.write_str(if algorithm == 1 { "sha256:" } else { "sha512:" })?;
        digest.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

fn decode_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let hex = hex.as_bytes();
    if hex.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| char::from(c).to_digit(16);
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = u8::try_from(nibble(pair[0])? << 4 | nibble(pair[1])?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_digest_layout() {
        let digest = FsVerityDigest::Sha256([0xab; 32]);
        let bytes = digest.formatted();
        assert_eq!(&bytes[..8], b"FSVerity");
        assert_eq!(&bytes[8..12], &[1, 0, 32, 0]);
        assert_eq!(&bytes[12..], &[0xab; 32]);
        let digest = FsVerityDigest::Sha512([1; 64]);
        assert_eq!(&digest.formatted()[8..12], &[2, 0, 64, 0]);
    }

    #[test]
    fn parses_and_prints_fsverity_digest_output() {
        let text = format!("sha256:{}", "0f".repeat(32));
        let digest: FsVerityDigest = text.parse().unwrap();
        assert_eq!(digest, FsVerityDigest::Sha256([0x0f; 32]));
        assert_eq!(digest.to_string(), text);
    }

    #[test]
    fn rejects_malformed_digests() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "md5:00",
            "sha256:zz",
            &format!("sha256:{}", "0".repeat(63)),
            &format!("sha512:{}", "00".repeat(32)),
            &format!("sha256:{}+", "0".repeat(63)),
        ] {
            assert!(
                bad.parse::<FsVerityDigest>().is_err(),
                "{bad:?} was accepted"
            );
        }
    }
}
