//! What an entry records at push, and the checks a pulled entry must pass before anything of
//! it is used. Pure.

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

/// The OCI artifact's config blob: which entry this is and the digest of its one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    /// The entry kind (`kernel-image`, `rootfs`, ...), also the repository's last part.
    pub kind: String,
    /// The stage's cache key, also the tag.
    pub key: String,
    /// sha256 (hex) and length of the compressed archive, as pushed.
    pub archive_sha256: String,
    pub archive_bytes: u64,
    /// The archive's file bytes: the most unpacking may write.
    pub unpacked_bytes: u64,
}

pub const FORMAT: u32 = 1;
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.ipe-appliance.cache-entry.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.ipe-appliance.cache-entry.v1.tar+zstd";
/// No entry is larger: the kernel's object tree packs to well under this.
pub const MAX_ARCHIVE_BYTES: u64 = 4 << 30;
pub const MAX_UNPACKED_BYTES: u64 = 16 << 30;

/// A tag is the key: the distribution spec allows `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn valid_tag(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !key.starts_with(['.', '-'])
}

/// The record read back must be the one for this kind and key, and agree with the manifest's
/// single layer (its media type, digest and size) before the layer is downloaded.
pub fn check_manifest(
    record: &Record,
    kind: &str,
    key: &str,
    layers: &[(String, String, i64)],
) -> Result<()> {
    ensure!(
        record.format == FORMAT,
        "format {} is not {FORMAT}",
        record.format
    );
    ensure!(
        record.kind == kind && record.key == key,
        "it records {}:{}, not this entry",
        record.kind,
        record.key
    );
    ensure!(
        record.archive_bytes <= MAX_ARCHIVE_BYTES && record.unpacked_bytes <= MAX_UNPACKED_BYTES,
        "it records {} bytes packed and {} unpacked, over the limits",
        record.archive_bytes,
        record.unpacked_bytes
    );
    let [(media_type, digest, size)] = layers else {
        anyhow::bail!("it has {} layers, not one", layers.len());
    };
    ensure!(
        media_type == LAYER_MEDIA_TYPE,
        "its layer is a {media_type}"
    );
    ensure!(
        *digest == format!("sha256:{}", record.archive_sha256)
            && u64::try_from(*size).ok() == Some(record.archive_bytes),
        "its layer is {digest} of {size} bytes, but sha256:{} of {} bytes was recorded at push",
        record.archive_sha256,
        record.archive_bytes
    );
    Ok(())
}

/// The manifest annotation holding the builder's signature over the config blob (the record's
/// bytes as pushed): hex of a raw RSA PKCS#1 v1.5 SHA-256 signature.
pub const SIGNATURE_ANNOTATION: &str = "org.ipe-appliance.cache.signature";

/// With a trusted builder certificate, the record's bytes must carry its key's signature.
pub fn check_signature(
    config: &[u8],
    signature_hex: Option<&str>,
    trusted: &signing::Certificate,
) -> Result<()> {
    let subject = signing::cert::subject(trusted);
    let signature = signature_hex.with_context(|| {
        format!("it is not signed, and only entries signed by {subject} are trusted")
    })?;
    let signature = hex::decode(signature).context("its signature is not hex")?;
    signing::verify_raw(config, &signature, trusted)
        .with_context(|| format!("its signature is not by {subject}"))?;
    Ok(())
}

/// The downloaded archive must be exactly the bytes recorded at push.
pub fn check_archive(record: &Record, bytes: &[u8]) -> Result<()> {
    ensure!(
        bytes.len() as u64 == record.archive_bytes,
        "truncated or padded: {} bytes arrived, {} were recorded at push",
        bytes.len(),
        record.archive_bytes
    );
    let actual = crate::cache::sha256_hex(bytes);
    ensure!(
        actual == record.archive_sha256,
        "poisoned: its archive's sha256 is {actual}, but {} was recorded at push",
        record.archive_sha256
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: &[u8]) -> Record {
        Record {
            format: FORMAT,
            kind: "rootfs".into(),
            key: "abc".into(),
            archive_sha256: crate::cache::sha256_hex(bytes),
            archive_bytes: bytes.len() as u64,
            unpacked_bytes: 10,
        }
    }

    #[test]
    fn the_manifest_must_match_the_record() {
        let r = record(b"data");
        let layer = |digest: String, size| vec![(LAYER_MEDIA_TYPE.to_owned(), digest, size)];
        let good = layer(format!("sha256:{}", r.archive_sha256), 4);
        check_manifest(&r, "rootfs", "abc", &good).unwrap();
        assert!(check_manifest(&r, "rootfs", "abd", &good).is_err());
        assert!(check_manifest(&r, "verity", "abc", &good).is_err());
        assert!(check_manifest(&r, "rootfs", "abc", &layer("sha256:00".into(), 4)).is_err());
        let wrong_size = layer(format!("sha256:{}", r.archive_sha256), 5);
        assert!(check_manifest(&r, "rootfs", "abc", &wrong_size).is_err());
        assert!(check_manifest(&r, "rootfs", "abc", &[]).is_err());
    }

    #[test]
    fn a_poisoned_or_truncated_archive_is_refused() {
        let r = record(b"data");
        check_archive(&r, b"data").unwrap();
        assert!(
            check_archive(&r, b"dat")
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
        assert!(
            check_archive(&r, b"DATA")
                .unwrap_err()
                .to_string()
                .contains("poisoned")
        );
    }

    #[test]
    fn only_the_trusted_builders_signature_is_accepted() {
        use signing::Signer;
        let sign = |key: signing::keygen::KeyPair, bytes: &[u8]| {
            hex::encode(signing::LocalSigner::new(key.key).sign(bytes).unwrap())
        };
        let builder = signing::keygen::generate("builder").unwrap();
        let trusted = builder.cert.clone();
        let config = serde_json::to_vec(&record(b"data")).unwrap();
        let good = sign(builder, &config);
        check_signature(&config, Some(&good), &trusted).unwrap();

        let mut changed = config.clone();
        changed[10] ^= 1;
        assert!(check_signature(&changed, Some(&good), &trusted).is_err());
        let forged = sign(signing::keygen::generate("other").unwrap(), &config);
        let error = check_signature(&config, Some(&forged), &trusted).unwrap_err();
        assert!(
            format!("{error:#}").contains("not by CN=builder"),
            "{error:#}"
        );
        let unsigned = check_signature(&config, None, &trusted).unwrap_err();
        assert!(unsigned.to_string().contains("not signed"), "{unsigned}");
        assert!(check_signature(&config, Some("zz"), &trusted).is_err());
    }

    #[test]
    fn keys_are_valid_tags() {
        assert!(valid_tag(&"a".repeat(64)));
        assert!(!valid_tag(&"a".repeat(129)));
        assert!(!valid_tag("a/b"));
        assert!(!valid_tag("-a"));
    }
}
