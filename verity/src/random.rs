//! Random bytes from the operating system, for default salts and UUIDs.

use crate::Error;

/// Fills `buf` from the OS random number generator.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| Error::Random(e.to_string()))
}

/// A fresh random salt of `len` bytes, as veritysetup generates when no salt is given.
pub fn random_salt(len: usize) -> Result<Vec<u8>, Error> {
    let mut salt = vec![0; len];
    fill(&mut salt)?;
    Ok(salt)
}
