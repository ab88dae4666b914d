//! No private key of the project appears in any output: not the policy key, not the Secure Boot
//! roles' (PK, KEK, db), not the RAUC bundle key; neither their PEM nor their DER's secret
//! numbers, in any image or in the uncompressed kernel.
//!
//! A PEM private-key header alone proves nothing: Debian's GnuTLS in the image carries its own
//! self-test keys in PEM, and libcrypto the headers as strings. So each key is looked for by its
//! own bytes.

use std::path::{Path, PathBuf};

use crate::stages::image::Image;
use crate::stages::sign::SignerChoice;

/// The bytes compared at a time.
const WINDOW: usize = 32;

/// Windows of a key's DER that hold only secret material: the DER's second half, after the
/// modulus and public exponent that the certificate shares.
fn secret_windows(der: &[u8]) -> Vec<&[u8]> {
    der.get(der.len() / 2..)
        .unwrap_or_default()
        .chunks_exact(WINDOW)
        .collect()
}

fn prefix(window: &[u8]) -> u32 {
    u32::from_le_bytes([window[0], window[1], window[2], window[3]])
}

/// A private key as the outputs might hold it: its PEM's body lines and its DER.
pub struct PrivateKey {
    pub name: String,
    pub pem_lines: Vec<String>,
    pub der: Vec<u8>,
}

impl PrivateKey {
    pub fn from_pem(name: &str, pem: &str) -> Result<PrivateKey, String> {
        let (_, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|e| format!("{name} is not a PEM private key: {e}"))?;
        let pem_lines = pem
            .lines()
            .filter(|line| !line.starts_with("-----") && line.len() >= WINDOW)
            .map(str::to_owned)
            .collect();
        Ok(PrivateKey {
            name: name.to_owned(),
            pem_lines,
            der,
        })
    }
}

/// What of `keys` is in `haystack`, in words. One pass over the haystack: every 32-byte window
/// of what to look for (each PEM line's start, each secret DER window) is indexed by its first
/// two bytes, then its first four, so that scanning hundreds of megabytes stays linear.
pub fn find_leaks(haystack: &[u8], keys: &[PrivateKey]) -> Vec<String> {
    let mut needles: Vec<(u32, &[u8], String)> = Vec::new();
    for key in keys {
        for line in &key.pem_lines {
            let window = &line.as_bytes()[..WINDOW];
            needles.push((prefix(window), window, format!("the PEM of {}", key.name)));
        }
        for window in secret_windows(&key.der) {
            needles.push((prefix(window), window, format!("bytes of {}", key.name)));
        }
    }
    needles.sort_unstable_by_key(|(p, _, _)| *p);
    let mut first_two = vec![false; 1 << 16];
    for (_, window, _) in &needles {
        first_two[usize::from(u16::from_le_bytes([window[0], window[1]]))] = true;
    }
    let mut found = std::collections::BTreeSet::new();
    for candidate in haystack.windows(WINDOW) {
        if !first_two[usize::from(u16::from_le_bytes([candidate[0], candidate[1]]))] {
            continue;
        }
        let key = prefix(candidate);
        let start = needles.partition_point(|(p, _, _)| *p < key);
        for (_, window, what) in needles[start..].iter().take_while(|(p, _, _)| *p == key) {
            if *window == candidate {
                found.insert(what.clone());
            }
        }
    }
    found.into_iter().collect()
}

/// Every private key file under the keys folder (`signing_key.pem` of each role).
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(key_files(&path));
        } else if path.file_name() == Some(signing::keystore::KEY_FILE.as_ref()) {
            files.push(path);
        }
    }
    files.sort();
    files
}

pub fn check(image: &Image) -> Result<(), String> {
    // With an external signer no key is here to look for.
    let SignerChoice::DevKeys(dir) = &image.request.signer else {
        return Ok(());
    };
    let keys = key_files(dir)
        .iter()
        .map(|path| {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            PrivateKey::from_pem(&path.display().to_string(), &pem)
        })
        .collect::<Result<Vec<_>, String>>()?;
    if keys.len() < 5 {
        return Err(format!(
            "found {} private keys under {}; expected the policy key, PK, KEK, db and the RAUC key",
            keys.len(),
            dir.display()
        ));
    }
    let mut outputs: Vec<_> = std::fs::read_dir(&image.out_dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    // The kernel image is compressed; its uncompressed vmlinux sits beside the build.
    outputs.push(image.vmlinux.clone());
    let mut leaks = Vec::new();
    for path in outputs {
        let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        for leak in find_leaks(&bytes, &keys) {
            leaks.push(format!("{}: {leak}", path.display()));
        }
    }
    if leaks.is_empty() {
        Ok(())
    } else {
        Err(leaks.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PrivateKey {
        PrivateKey {
            name: "k".to_owned(),
            pem_lines: vec!["MIIEpAIBAAKCAQEAvq8cMIIEpAIBAAKCAQEAvq8c".to_owned()],
            der: (0..=255u8).collect(),
        }
    }

    #[test]
    fn finds_the_pem_and_secret_bytes_but_not_public_ones() {
        let der = key().der;
        assert!(
            find_leaks(&der[..128], &[key()]).is_empty(),
            "the public half is not a leak"
        );
        assert_eq!(find_leaks(&der[128..], &[key()]), ["bytes of k"]);
        let pem = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAvq8cMIIEpAIBAAKCAQEAvq8c\n";
        assert_eq!(find_leaks(pem, &[key()]), ["the PEM of k"]);
    }

    /// GnuTLS's self-test keys and libcrypto's header strings are not ours.
    #[test]
    fn another_pem_key_is_not_ours() {
        let library = b"-----BEGIN PRIVATE KEY-----\nMEgCAQAwHwYIKoUDBwEBAQEwEwYHKoUDAgIjAQYIKoUDBwEBAgIEIgQg\n";
        assert!(find_leaks(library, &[key()]).is_empty());
    }

    /// A real key from the keystore, through the same path `check` takes.
    #[test]
    fn a_generated_key_is_found_in_a_blob_that_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        signing::keystore::create(dir.path(), "Key leak test").unwrap();
        let files = key_files(dir.path());
        assert_eq!(files.len(), 1);
        let pem = std::fs::read_to_string(&files[0]).unwrap();
        let key = PrivateKey::from_pem("policy", &pem).unwrap();
        let blob = [b"junk".as_slice(), pem.as_bytes(), b"junk"].concat();
        assert!(find_leaks(&blob, &[key]).contains(&"the PEM of policy".to_owned()));
    }
}
