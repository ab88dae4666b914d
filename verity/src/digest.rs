//! [`Digest`]: a hash value of up to 64 bytes, kept inline so it can be copied freely.

use std::fmt;

/// Largest digest size supported (SHA-512).
const MAX_DIGEST: usize = 64;

/// A hash value (a root hash or a file digest). Displays as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    bytes: [u8; MAX_DIGEST],
    len: u8,
}

impl Digest {
    /// Copies `bytes`; `None` if longer than 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut out = [0; MAX_DIGEST];
        out.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self {
            bytes: out,
            len: u8::try_from(bytes.len()).ok()?,
        })
    }

    /// A digest of `len` bytes (at most 64) written by `fill`.
    pub(crate) fn filled(len: usize, fill: impl FnOnce(&mut [u8])) -> Self {
        let len = len.min(MAX_DIGEST);
        let mut bytes = [0; MAX_DIGEST];
        fill(&mut bytes[..len]);
        Self {
            bytes,
            len: len as u8,
        }
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Lowercase hex, as veritysetup and fsverity print it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_oversize() {
        let d = Digest::from_slice(&[0xab, 0x01]).unwrap();
        assert_eq!(d.as_bytes(), &[0xab, 0x01]);
        assert_eq!(d.to_string(), "ab01");
        assert!(Digest::from_slice(&[0; 65]).is_none());
        assert_eq!(Digest::from_slice(&[7; 64]).unwrap().as_bytes().len(), 64);
    }
}
