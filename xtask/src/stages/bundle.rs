//! Stage `bundle`: a RAUC update bundle in `verity` format, assembled here from typed inputs.
//!
//! The file, as RAUC 1.8 writes and reads it (`src/bundle.c`, `sign_bundle` and
//! `check_bundle`):
//!
//! ```text
//! squashfs (manifest.raucm + the slot images; whole 4096-byte blocks, more than one)
//! dm-verity hash tree of the squashfs (sha256, 4096-byte blocks, 32-byte salt, no superblock)
//! CMS SignedData, DER, with the manifest attached (it names the tree's hash, salt and size)
//! the CMS's length, 8 bytes big-endian (RAUC reads at most 64 KiB of CMS)
//! ```
//!
//! `rauc info` checks the CMS against its keyring and reads the signed manifest; it does not
//! read the payload. `rauc extract` and `rauc install` check the payload: extract hashes the
//! squashfs against the signed root hash in userspace, install mounts it through dm-verity.
//! Built here rather than by `rauc bundle` because RAUC wants the key as a file or a PKCS#11
//! URI, not our external-signer contract, and draws a random salt; mksquashfs still packs the
//! payload.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use signing::rauc::BundleSigner;
use verity::dm_verity::{self, Params};

use super::bundle_manifest::{BundleVerity, ImageEntry, Manifest};
use super::disk::{ESP_START, POLICY_SLOT_BYTES};
use super::esp::ESP_BYTES;
use super::image::Image;
use crate::cache::sha256_file;
use crate::exec::Tool;

/// RAUC's verity bundles use 4096-byte data and hash blocks.
const BLOCK: u64 = 4096;
/// The largest CMS RAUC reads from a bundle (`MAX_BUNDLE_SIGNATURE_SIZE`, 64 KiB).
const MAX_CMS: usize = 64 * 1024;
/// The manifest's name inside the squashfs.
const MANIFEST: &str = "manifest.raucm";

/// Where a slot image's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    /// A byte range of a file (the root's data, or its tree, in the verity stage's one image).
    Range(PathBuf, Range<u64>),
    Bytes(Vec<u8>),
}

/// One image of the slot: the slot class it installs into, its file name, its bytes.
#[derive(Debug, Clone)]
pub struct SlotImage {
    pub class: String,
    pub filename: String,
    pub source: Source,
}

pub struct BundleInputs<'a> {
    pub compatible: String,
    pub version: String,
    pub build: String,
    pub images: Vec<SlotImage>,
    /// Every time stamp in the squashfs.
    pub source_date_epoch: u64,
    pub signer: &'a BundleSigner,
}

/// The slot classes of one A/B slot, each a partition the device updates: the ESP (with the
/// build's UKIs, one per slot: the same image fits either slot), the erofs root, its dm-verity
/// tree, the signed-policy slot and, when a layer seals binaries, the sealed partition.
pub const EFI_CLASS: &str = "efi";
pub const ROOTFS_CLASS: &str = "rootfs";
pub const VERITY_CLASS: &str = "verity";
pub const POLICY_CLASS: &str = "policy";
pub const SEALED_CLASS: &str = "sealed";

/// RAUC's `[update] compatible=` for a product: a device takes only bundles of its own product.
pub fn compatible(policy_name: &str) -> String {
    format!("ipe-appliance-{policy_name}")
}

/// The bundle of a built image: its slot images, named by its product (the policy name) and
/// release (the policy version), with the root hash as the build.
pub fn for_image<'a>(image: &Image, signer: &'a BundleSigner) -> BundleInputs<'a> {
    let (data_bytes, tree) = image.verity.layout();
    let disk = &image.verity.disk;
    // The policy slot's whole content, zeros after the PKCS#7, as disk.img's partition holds it.
    let mut policy = image.signed_policy.clone();
    policy.resize(POLICY_SLOT_BYTES as usize, 0);
    let slot = |class: &str, filename: &str, source| SlotImage {
        class: class.to_owned(),
        filename: filename.to_owned(),
        source,
    };
    BundleInputs {
        compatible: compatible(image.policy.name()),
        version: image.policy.version().to_string(),
        build: image.verity.root_hash(),
        images: vec![
            slot(
                EFI_CLASS,
                "esp.img",
                Source::Range(image.boot.disk.clone(), ESP_START..ESP_START + ESP_BYTES),
            ),
            slot(
                ROOTFS_CLASS,
                "rootfs.img",
                Source::Range(disk.clone(), 0..data_bytes),
            ),
            slot(
                VERITY_CLASS,
                "rootfs-verity.img",
                Source::Range(disk.clone(), tree),
            ),
            slot(POLICY_CLASS, "policy.img", Source::Bytes(policy)),
        ]
        .into_iter()
        .chain(image.sealed.as_ref().map(|sealed| {
            slot(
                SEALED_CLASS,
                "sealed.img",
                Source::File(sealed.image.clone()),
            )
        }))
        .collect(),
        source_date_epoch: image.request.source_date_epoch,
        signer,
    }
}

/// Writes the bundle to `bundle`, through a temporary file beside it. The same inputs give the
/// same bytes: the squashfs is reproducible, the salt is the squashfs's sha256 and the CMS
/// has no signing time.
pub fn write(inputs: &BundleInputs, bundle: &Path) -> Result<Manifest> {
    let parent = bundle.parent().context("the bundle's path has no folder")?;
    fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".bundle-")
        .tempdir_in(parent)?;
    let content = staging.path().join("content");
    let mut manifest = Manifest {
        compatible: inputs.compatible.clone(),
        version: inputs.version.clone(),
        build: inputs.build.clone(),
        verity: None,
        images: stage_images(&inputs.images, &content)?,
    };
    // The copy inside the squashfs, as RAUC's own bundles hold it: without the tree's keys.
    write_file(&content.join(MANIFEST), manifest.render()?.as_bytes())?;

    let file = staging.path().join("bundle.raucb");
    tracing::info!("bundle: packing {} images", inputs.images.len());
    let squashfs = pack(&content, &file, inputs.source_date_epoch)?;
    manifest.verity = Some(append_tree(&file, squashfs)?);
    let cms = inputs
        .signer
        .sign_manifest(manifest.render()?.as_bytes())
        .with_context(|| {
            format!(
                "signing the bundle with {}",
                inputs.signer.signer.describe()
            )
        })?;
    append_signature(&file, &cms)?;
    fs::rename(&file, bundle).with_context(|| format!("writing {}", bundle.display()))?;
    tracing::info!(
        "bundle: {} ({} {}, {} bytes)",
        bundle.display(),
        manifest.compatible,
        manifest.version,
        fs::metadata(bundle)?.len()
    );
    Ok(manifest)
}

/// Copies the images into `content` (created, mode 0755, each file 0644) and describes them.
fn stage_images(images: &[SlotImage], content: &Path) -> Result<Vec<ImageEntry>> {
    fs::create_dir(content)?;
    fs::set_permissions(content, fs::Permissions::from_mode(0o755))?;
    let mut entries = Vec::new();
    for image in images {
        ensure!(
            image.filename != MANIFEST && !content.join(&image.filename).exists(),
            "the bundle already holds a file named {}",
            image.filename
        );
        let path = content.join(&image.filename);
        copy_source(&image.source, &path)
            .with_context(|| format!("staging the bundle's {}", image.filename))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        entries.push(ImageEntry {
            class: image.class.clone(),
            filename: image.filename.clone(),
            sha256: sha256_file(&path)?,
            size: fs::metadata(&path)?.len(),
        });
    }
    Ok(entries)
}

/// Packs `content` into the squashfs `file` and returns its size. mksquashfs 4.5 is
/// reproducible by default; SOURCE_DATE_EPOCH sets the file system's and every file's time (it
/// refuses -mkfs-time and -all-time beside it).
fn pack(content: &Path, file: &Path, source_date_epoch: u64) -> Result<u64> {
    Tool::new("mksquashfs")
        .arg(content)
        .arg(file)
        .args(["-all-root", "-noappend", "-no-progress", "-no-xattrs"])
        .env("SOURCE_DATE_EPOCH", source_date_epoch.to_string())
        .run()?;
    let size = fs::metadata(file)?.len();
    ensure!(
        size % BLOCK == 0 && size > BLOCK,
        "mksquashfs wrote {size} bytes; a verity bundle needs whole 4096-byte blocks, more than \
         one"
    );
    Ok(size)
}

/// Appends the squashfs's dm-verity tree, salted with the squashfs's own sha256: unique per
/// content, yet reproducible (RAUC draws a random one).
fn append_tree(file: &Path, squashfs: u64) -> Result<BundleVerity> {
    let salt = hex::decode(sha256_file(file)?)?;
    let formatted = dm_verity::format_appended(
        file,
        &Params {
            salt: salt.clone(),
            ..Params::default()
        },
    )?;
    Ok(BundleVerity {
        hash: formatted.root_hash.to_string(),
        salt: hex::encode(&salt),
        size: fs::metadata(file)?.len() - squashfs,
    })
}

/// Appends the CMS and its length, 8 bytes big-endian.
fn append_signature(file: &Path, cms: &[u8]) -> Result<()> {
    ensure!(
        cms.len() <= MAX_CMS,
        "the bundle's signature is {} bytes; RAUC refuses more than {MAX_CMS} \
         (MAX_BUNDLE_SIGNATURE_SIZE): the manifest or the certificate is too large",
        cms.len()
    );
    let mut out = fs::OpenOptions::new().append(true).open(file)?;
    out.write_all(cms)?;
    out.write_all(&(cms.len() as u64).to_be_bytes())?;
    Ok(out.sync_all()?)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes)?;
    Ok(fs::set_permissions(
        path,
        fs::Permissions::from_mode(0o644),
    )?)
}

fn copy_source(source: &Source, to: &Path) -> Result<()> {
    match source {
        Source::File(from) => {
            fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
        }
        Source::Range(from, range) => {
            let mut input =
                fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
            input.seek(SeekFrom::Start(range.start))?;
            let length = range.end - range.start;
            let copied = std::io::copy(&mut input.take(length), &mut fs::File::create(to)?)?;
            ensure!(
                copied == length,
                "{} ends before byte {}",
                from.display(),
                range.end
            );
        }
        Source::Bytes(bytes) => fs::write(to, bytes)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use signing::keystore::{CERT_PEM_FILE, KEY_FILE};

    /// A RAUC key role in `keys`, and its certificate's path.
    fn role(keys: &Path) -> (BundleSigner, PathBuf) {
        signing::rauc::create_missing(keys, "Test").unwrap();
        let dir = signing::rauc::dir(keys);
        (BundleSigner::load(keys).unwrap(), dir.join(CERT_PEM_FILE))
    }

    /// Small fake slot images, one of each source.
    fn inputs<'a>(scratch: &Path, signer: &'a BundleSigner) -> BundleInputs<'a> {
        let esp = scratch.join("esp.img");
        fs::write(&esp, b"not really a FAT image".repeat(300)).unwrap();
        let disk = scratch.join("rootfs.verity.img");
        fs::write(&disk, incompressible(3 * BLOCK as usize)).unwrap();
        let slot = |class: &str, filename: &str, source| SlotImage {
            class: class.to_owned(),
            filename: filename.to_owned(),
            source,
        };
        BundleInputs {
            compatible: compatible("test"),
            version: "1.2.3".to_owned(),
            build: "0123abcd".to_owned(),
            images: vec![
                slot(EFI_CLASS, "esp.img", Source::File(esp)),
                slot(
                    ROOTFS_CLASS,
                    "rootfs.img",
                    Source::Range(disk.clone(), 0..2 * BLOCK),
                ),
                slot(
                    VERITY_CLASS,
                    "rootfs-verity.img",
                    Source::Range(disk, 2 * BLOCK..3 * BLOCK),
                ),
                slot(POLICY_CLASS, "policy.img", Source::Bytes(vec![0x30; 65536])),
            ],
            source_date_epoch: 1_700_000_000,
            signer,
        }
    }

    /// Bytes mksquashfs cannot shrink: the payload must be more than one block.
    fn incompressible(len: usize) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        (0..len.div_ceil(32) as u64)
            .flat_map(|i| Sha256::digest(i.to_le_bytes()))
            .take(len)
            .collect()
    }

    fn rauc_info(keyring: &Path, bundle: &Path) -> Result<String> {
        let out = Tool::new("rauc")
            .arg("info")
            .arg("--keyring")
            .arg(keyring)
            .arg(bundle)
            .output()?;
        Ok(String::from_utf8(out)?)
    }

    fn rauc_extract(keyring: &Path, bundle: &Path, to: &Path) -> Result<()> {
        Tool::new("rauc")
            .arg("extract")
            .arg("--keyring")
            .arg(keyring)
            .arg(bundle)
            .arg(to)
            .run()
    }

    /// A copy of `bundle` with the byte at `offset` from its start inverted.
    fn flipped(bundle: &Path, offset: u64, name: &str) -> PathBuf {
        let mut bytes = fs::read(bundle).unwrap();
        bytes[offset as usize] ^= 0xff;
        let copy = bundle.with_file_name(name);
        fs::write(&copy, bytes).unwrap();
        copy
    }

    #[test]
    fn rauc_reads_verifies_and_extracts_the_bundle() {
        let scratch = tempfile::tempdir().unwrap();
        let (signer, cert) = role(&scratch.path().join("keys"));
        let inputs = inputs(scratch.path(), &signer);
        let bundle = scratch.path().join("out/update.raucb");
        let manifest = write(&inputs, &bundle).unwrap();

        let info = rauc_info(&cert, &bundle).unwrap();
        assert!(
            info.contains("Compatible: \t'ipe-appliance-test'"),
            "{info}"
        );
        assert!(info.contains("Version:    \t'1.2.3'"), "{info}");
        assert!(info.contains("Bundle Format: \tverity"), "{info}");
        for class in [EFI_CLASS, ROOTFS_CLASS, VERITY_CLASS, POLICY_CLASS] {
            assert!(info.contains(&format!("[{class}]")), "{class}: {info}");
        }

        // Extracting hashes the payload against the signed root hash, then unpacks it.
        let extracted = scratch.path().join("extracted");
        rauc_extract(&cert, &bundle, &extracted).unwrap();
        for image in &manifest.images {
            let path = extracted.join(&image.filename);
            assert_eq!(
                sha256_file(&path).unwrap(),
                image.sha256,
                "{}",
                image.filename
            );
        }
        assert_eq!(
            fs::read(extracted.join("policy.img")).unwrap(),
            vec![0x30; 65536]
        );
        assert_eq!(
            fs::read(extracted.join("rootfs-verity.img")).unwrap(),
            fs::read(scratch.path().join("rootfs.verity.img")).unwrap()[2 * BLOCK as usize..]
        );
    }

    #[test]
    fn rauc_refuses_another_key_and_changed_bytes() {
        let scratch = tempfile::tempdir().unwrap();
        let (signer, cert) = role(&scratch.path().join("keys"));
        let (_, other_cert) = role(&scratch.path().join("other"));
        let bundle = scratch.path().join("update.raucb");
        let manifest = write(&inputs(scratch.path(), &signer), &bundle).unwrap();
        rauc_info(&cert, &bundle).unwrap();

        let error = rauc_info(&other_cert, &bundle).unwrap_err().to_string();
        assert!(error.contains("signature verification failed"), "{error}");

        // The CMS's last bytes are the RSA signature: `rauc info` checks it.
        let len = fs::metadata(&bundle).unwrap().len();
        let signature_byte = flipped(&bundle, len - 9, "signature.raucb");
        let error = rauc_info(&cert, &signature_byte).unwrap_err().to_string();
        assert!(error.contains("signature verification failed"), "{error}");

        // A payload byte: `rauc info` reads only the signed manifest, so it still accepts the
        // bundle; `rauc extract` (like `install`, through dm-verity) checks the payload first.
        let squashfs = len - 8 - cms_len(&bundle) - manifest.verity.unwrap().size;
        let payload_byte = flipped(&bundle, squashfs / 2, "payload.raucb");
        rauc_info(&cert, &payload_byte).unwrap();
        let error = rauc_extract(&cert, &payload_byte, &scratch.path().join("x"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("bundle payload is corrupted"), "{error}");
    }

    fn cms_len(bundle: &Path) -> u64 {
        let bytes = fs::read(bundle).unwrap();
        u64::from_be_bytes(bytes[bytes.len() - 8..].try_into().unwrap())
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes_with_the_key_or_an_external_signer() {
        let scratch = tempfile::tempdir().unwrap();
        let keys = scratch.path().join("keys");
        let (signer, cert) = role(&keys);
        let first = scratch.path().join("first.raucb");
        write(&inputs(scratch.path(), &signer), &first).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let external = BundleSigner {
            signer: Box::new(signing::ExternalSigner::shell(&format!(
                "openssl dgst -sha256 -binary -sign {}",
                signing::rauc::dir(&keys).join(KEY_FILE).display()
            ))),
            cert: signing::cert::load_certificate(&cert).unwrap(),
        };
        let second = scratch.path().join("second.raucb");
        write(&inputs(scratch.path(), &external), &second).unwrap();
        assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());
    }
}
