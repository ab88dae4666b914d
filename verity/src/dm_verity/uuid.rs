//! The UUID stored in the dm-verity superblock.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A 16-byte UUID, written and parsed in the usual 8-4-4-4-12 hex form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

/// Lengths of the hyphen-separated groups, in bytes.
const GROUPS: [usize; 5] = [4, 2, 2, 2, 6];

impl Uuid {
    /// A random (version 4) UUID, as veritysetup generates when `--uuid` is not given.
    pub fn random() -> Result<Self, Error> {
        let mut bytes = [0; 16];
        crate::random::fill(&mut bytes)?;
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Ok(Self(bytes))
    }
}

impl FromStr for Uuid {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Uuid(s.to_owned());
        let mut bytes = [0; 16];
        let mut at = 0;
        let mut parts = s.split('-');
        for len in GROUPS {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 * len {
                return Err(bad());
            }
            hex::decode_to_slice(part, &mut bytes[at..at + len]).map_err(|_| bad())?;
            at += len;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut at = 0;
        for (i, len) in GROUPS.into_iter().enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(&hex::encode(&self.0[at..at + len]))?;
            at += len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let text = "12345678-1234-1234-1234-123456789abc";
        let uuid: Uuid = text.parse().unwrap();
        assert_eq!(uuid.0[..4], [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(uuid.to_string(), text);
        assert_eq!(
            "12345678-1234-1234-1234-123456789ABC"
                .parse::<Uuid>()
                .unwrap(),
            uuid
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "1234",
            "12345678-1234-1234-1234-123456789abcd",
            "12345678-1234-1234-1234-123456789abc-",
            "1234567g-1234-1234-1234-123456789abc",
            "123456781234-1234-1234-123456789abc",
        ] {
            assert!(bad.parse::<Uuid>().is_err(), "{bad}");
        }
    }

    #[test]
    fn random_is_version_4() {
        let uuid = Uuid::random().unwrap();
        assert_eq!(uuid.0[6] >> 4, 4);
        assert_eq!(uuid.0[8] >> 6, 2);
    }
}
