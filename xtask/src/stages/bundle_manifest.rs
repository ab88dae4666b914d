//! RAUC's `manifest.raucm`, pure: a GLib key file written as RAUC 1.8's `save_manifest_file`
//! writes it (`src/manifest.c`): `[update]`, `[bundle]`, then one `[image.<slot class>]` per
//! image with `sha256`, `size` and `filename`, in that order, groups separated by a blank line.

use std::fmt::Write as _;

use anyhow::{Result, ensure};

/// One slot image in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// The slot class it installs into (`[image.<class>]`): no `.`, which RAUC reads as a
    /// variant separator.
    pub class: String,
    /// Its file name inside the bundle.
    pub filename: String,
    /// Lower-case hex sha256 of its bytes.
    pub sha256: String,
    pub size: u64,
}

/// The dm-verity tree behind the squashfs of a `verity` bundle, as its signed manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleVerity {
    /// Root hash, lower-case hex of 32 bytes.
    pub hash: String,
    /// Salt, lower-case hex of 32 bytes (RAUC takes exactly 32).
    pub salt: String,
    /// The tree's bytes after the squashfs, a multiple of 4096.
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub compatible: String,
    pub version: String,
    /// Free text RAUC shows as the build (`[update] build=`).
    pub build: String,
    /// `None` in the copy inside the squashfs (RAUC's own bundles hold the manifest as it was
    /// before the tree existed), `Some` in the signed one.
    pub verity: Option<BundleVerity>,
    pub images: Vec<ImageEntry>,
}

impl Manifest {
    pub fn render(&self) -> Result<String> {
        for (what, value) in [
            ("compatible", &self.compatible),
            ("version", &self.version),
            ("build", &self.build),
        ] {
            ensure!(
                plain_value(value),
                "the bundle's {what} {value:?} must be printable ASCII without leading or \
                 trailing spaces"
            );
        }
        let mut text = String::new();
        writeln!(text, "[update]")?;
        writeln!(text, "compatible={}", self.compatible)?;
        writeln!(text, "version={}", self.version)?;
        writeln!(text, "build={}", self.build)?;
        writeln!(text, "\n[bundle]")?;
        writeln!(text, "format=verity")?;
        if let Some(verity) = &self.verity {
            ensure!(
                verity.size % 4096 == 0 && verity.size > 0,
                "a verity tree of {} bytes is not whole 4096-byte blocks",
                verity.size
            );
            writeln!(text, "verity-hash={}", verity.hash)?;
            writeln!(text, "verity-salt={}", verity.salt)?;
            writeln!(text, "verity-size={}", verity.size)?;
        }
        for (index, image) in self.images.iter().enumerate() {
            ensure!(
                !self.images[..index]
                    .iter()
                    .any(|other| other.class == image.class || other.filename == image.filename),
                "two images for slot class {:?} or file {:?}: a bundle holds one image per slot \
                 class",
                image.class,
                image.filename
            );
            ensure!(
                !image.class.is_empty()
                    && image
                        .class
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "slot class {:?}: use letters, digits, `-` and `_`",
                image.class
            );
            ensure!(
                plain_value(&image.filename) && !image.filename.contains('/'),
                "image file name {:?} is not a plain name",
                image.filename
            );
            writeln!(text, "\n[image.{}]", image.class)?;
            writeln!(text, "sha256={}", image.sha256)?;
            writeln!(text, "size={}", image.size)?;
            writeln!(text, "filename={}", image.filename)?;
        }
        Ok(text)
    }
}

/// A value a key file holds verbatim: GLib would escape or trim anything else.
fn plain_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'\\')
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            compatible: "ipe-appliance-fw".to_owned(),
            version: "1.2.3".to_owned(),
            build: "0fb760cd".to_owned(),
            verity: Some(BundleVerity {
                hash: "ab".repeat(32),
                salt: "cd".repeat(32),
                size: 8192,
            }),
            images: vec![ImageEntry {
                class: "rootfs".to_owned(),
                filename: "rootfs.img".to_owned(),
                sha256: "ef".repeat(32),
                size: 4096,
            }],
        }
    }

    #[test]
    fn renders_as_rauc_saves_a_manifest() {
        assert_eq!(
            manifest().render().unwrap(),
            format!(
                "[update]\ncompatible=ipe-appliance-fw\nversion=1.2.3\nbuild=0fb760cd\n\n\
                 [bundle]\nformat=verity\nverity-hash={}\nverity-salt={}\nverity-size=8192\n\n\
                 [image.rootfs]\nsha256={}\nsize=4096\nfilename=rootfs.img\n",
                "ab".repeat(32),
                "cd".repeat(32),
                "ef".repeat(32)
            )
        );
    }

    #[test]
    fn refuses_what_a_key_file_would_change_or_rauc_would_misread() {
        let mut bad = manifest();
        bad.version = "1.0\n[image.x]".to_owned();
        assert!(bad.render().is_err());
        let mut bad = manifest();
        bad.images[0].class = "rootfs.a".to_owned();
        assert!(bad.render().is_err());
        let mut bad = manifest();
        bad.images[0].filename = "../x".to_owned();
        assert!(bad.render().is_err());
        let mut bad = manifest();
        bad.verity.as_mut().unwrap().size = 100;
        assert!(bad.render().is_err());
        let mut bad = manifest();
        bad.images.push(bad.images[0].clone());
        bad.images[1].filename = "other.img".to_owned();
        assert!(bad.render().is_err());
    }
}
