//! The private signing key must appear in no output: not its PEM, not its DER, not its secret
//! numbers, in any image or in the uncompressed kernel.

use crate::stages::image::Image;

/// PEM markers of any private key.
const PEM_MARKERS: &[&[u8]] = &[
    b"PRIVATE KEY-----",
    b"BEGIN RSA PRIVATE",
    b"BEGIN EC PRIVATE",
];

/// Windows of the key's DER that hold only secret material: the DER's second half, after the
/// modulus and public exponent that the certificate shares.
fn secret_windows(der: &[u8]) -> Vec<&[u8]> {
    der.get(der.len() / 2..)
        .unwrap_or_default()
        .chunks_exact(32)
        .collect()
}

fn prefix(window: &[u8]) -> u32 {
    u32::from_le_bytes([window[0], window[1], window[2], window[3]])
}

pub fn find_leaks(haystack: &[u8], key_der: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for marker in PEM_MARKERS {
        if haystack.windows(marker.len()).any(|w| w == *marker) {
            found.push(format!("PEM marker {:?}", String::from_utf8_lossy(marker)));
        }
    }
    // Indexed by their first four bytes, so that scanning tens of megabytes stays linear.
    let mut windows: Vec<(u32, &[u8])> = secret_windows(key_der)
        .into_iter()
        .map(|w| (prefix(w), w))
        .collect();
    windows.sort_unstable();
    let leaked = haystack.windows(32).any(|candidate| {
        let key = prefix(candidate);
        let start = windows.partition_point(|(p, _)| *p < key);
        windows[start..]
            .iter()
            .take_while(|(p, _)| *p == key)
            .any(|(_, w)| *w == candidate)
    });
    if leaked {
        found.push("bytes of the private key".to_owned());
    }
    found
}

fn key_der(pem: &str) -> Result<Vec<u8>, String> {
    der::pem::decode_vec(pem.as_bytes())
        .map(|(_, der)| der)
        .map_err(|e| format!("the private key is not PEM: {e}"))
}

pub fn check(image: &Image) -> Result<(), String> {
    // With an external signer the key is not here; its PEM markers are still looked for.
    let der = match &image.keys.private_key {
        Some(path) => key_der(
            &std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?,
        )?,
        None => Vec::new(),
    };
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
        for leak in find_leaks(&bytes, &der) {
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

    #[test]
    fn finds_markers_and_secret_bytes_but_not_public_ones() {
        let der: Vec<u8> = (0..=255u8).collect();
        assert!(
            find_leaks(&der[..128], &der).is_empty(),
            "the public half is not a leak"
        );
        assert_eq!(find_leaks(&der[128..], &der), ["bytes of the private key"]);
        assert_eq!(find_leaks(b"-----BEGIN PRIVATE KEY-----", &der).len(), 1);
    }
}
