//! Parsing of hex command-line values (salts, root hashes).

use crate::Error;

/// Decodes hex; `what` names the value in the error. `"-"` means empty, as in veritysetup.
pub fn parse_hex(what: &'static str, text: &str) -> Result<Vec<u8>, Error> {
    if text == "-" {
        return Ok(Vec::new());
    }
    hex::decode(text).map_err(|_| Error::Hex {
        what,
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_dash() {
        assert_eq!(parse_hex("salt", "00aB").unwrap(), vec![0, 0xab]);
        assert_eq!(parse_hex("salt", "").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_hex("salt", "-").unwrap(), Vec::<u8>::new());
        assert!(matches!(parse_hex("salt", "abc"), Err(Error::Hex { .. })));
        assert!(matches!(parse_hex("salt", "zz"), Err(Error::Hex { .. })));
    }
}
