//! Authenticode signatures against sbsigntool: `sbverify` accepts what we sign,
//! with our certificate only, and refuses a changed image; `sbsign` hashes
//! the same bytes. The image is Debian's systemd-stub, a real EFI
//! application, alone and as a UKI.
//!
//! Needs `sbsigntool`, `openssl` and the stub from `systemd-boot-efi`; without
//! them these tests fail. Point `SYSTEMD_STUB` at the stub if the package is
//! not installed:
//!
//! ```text
//! apt-get install -y sbsigntool
//! cd /tmp && apt-get download systemd-boot-efi && dpkg-deb -x systemd-boot-efi_*.deb stub
//! SYSTEMD_STUB=/tmp/stub/usr/lib/systemd/boot/efi/linuxx64.efi.stub cargo test -p signing
//! ```

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{run, try_run};
use pe_image::uki::{UkiParts, assemble};
use pe_image::{PeImage, Section};
use signing::keystore::{self, DevKeys};
use signing::{
    Error, ExternalSigner, LocalSigner, SignatureFile, authenticode_hash,
    authenticode_to_be_signed, sign_efi_image,
};

const DEFAULT_STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

struct Fixture {
    dir: tempfile::TempDir,
    keys: DevKeys,
    other_cert: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let keys = keystore::create(&dir.path().join("keys"), "secure boot db test")
            .expect("generate keys");
        let other_cert = dir.path().join("other.pem");
        let other_key = dir.path().join("other.key");
        run(
            "openssl",
            &[
                &"req",
                &"-x509",
                &"-newkey",
                &"rsa:2048",
                &"-nodes",
                &"-subj",
                &"/CN=other/",
                &"-days",
                &"1",
                &"-keyout",
                &other_key,
                &"-out",
                &other_cert,
            ],
        );
        Fixture {
            dir,
            keys,
            other_cert,
        }
    })
}

fn stub() -> Vec<u8> {
    let path =
        std::env::var_os("SYSTEMD_STUB").map_or_else(|| PathBuf::from(DEFAULT_STUB), PathBuf::from);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read systemd-stub at {} ({e}): install systemd-boot-efi or set SYSTEMD_STUB \
             (see this file's header)",
            path.display()
        )
    })
}

fn local() -> LocalSigner {
    LocalSigner::new(fixture().keys.pair.key.clone())
}

fn sign(image: &[u8]) -> Vec<u8> {
    sign_efi_image(image, &local(), &fixture().keys.pair.cert).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Whether `sbverify --cert CERT` accepts `image`; its output on failure, for messages.
fn sbverify(image: &[u8], cert: &Path) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "image.efi", image);
    let output = try_run("sbverify", &[&"--cert", &cert, &file]);
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    match output.status.success() {
        true if text.contains("Signature verification OK") => Ok(()),
        _ => Err(text),
    }
}

fn section(image: &[u8], name: &str) -> Section {
    PeImage::parse(image)
        .unwrap()
        .sections()
        .iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("no section {name}"))
        .clone()
}

/// `image` with one byte in the middle of section `name` inverted.
fn with_flipped_byte(image: &[u8], name: &str) -> Vec<u8> {
    let section = section(image, name);
    let mut changed = image.to_vec();
    let at = section.pointer_to_raw_data as usize + section.virtual_size as usize / 2;
    changed[at] ^= 0xff;
    changed
}

#[test]
fn sbverify_accepts_the_signed_stub_with_our_certificate_only() {
    let signed = sign(&stub());
    let ours = &fixture().keys.paths.cert_pem;
    sbverify(&signed, ours).unwrap_or_else(|out| panic!("sbverify refused: {out}"));
    let refused = sbverify(&signed, &fixture().other_cert);
    assert!(refused.is_err(), "sbverify accepted another certificate");
}

#[test]
fn sbverify_refuses_a_changed_section() {
    let signed = sign(&stub());
    let changed = with_flipped_byte(&signed, ".text");
    assert!(sbverify(&changed, &fixture().keys.paths.cert_pem).is_err());
}

#[test]
fn signing_is_deterministic() {
    assert_eq!(sign(&stub()), sign(&stub()));
}

#[test]
fn external_and_offline_signers_give_the_local_signers_bytes() {
    let keys = &fixture().keys;
    let stub = stub();
    let expected = sign(&stub);
    let external = ExternalSigner::new(
        "openssl",
        ["dgst", "-sha256", "-binary", "-sign"]
            .map(Into::into)
            .into_iter()
            .chain([keys.paths.key.as_os_str().to_owned()]),
    );
    assert_eq!(
        sign_efi_image(&stub, &external, &keys.pair.cert).unwrap(),
        expected
    );

    // Offline: step one hands out the bytes to sign, step two takes the signature.
    let dir = tempfile::tempdir().unwrap();
    let tbs = write(
        dir.path(),
        "image.tbs",
        &authenticode_to_be_signed(&stub).unwrap(),
    );
    let sig = dir.path().join("image.sig");
    run(
        "openssl",
        &[
            &"dgst",
            &"-sha256",
            &"-sign",
            &keys.paths.key,
            &"-out",
            &sig,
            &tbs,
        ],
    );
    let file = SignatureFile::read(&sig).unwrap();
    assert_eq!(
        sign_efi_image(&stub, &file, &keys.pair.cert).unwrap(),
        expected
    );
}

#[test]
fn a_signature_by_another_key_is_refused_before_anything_is_built() {
    let keys = &fixture().keys;
    let other_key = fixture().dir.path().join("other.key");
    let external = ExternalSigner::new(
        "openssl",
        ["dgst", "-sha256", "-binary", "-sign"]
            .map(Into::into)
            .into_iter()
            .chain([other_key.into_os_string()]),
    );
    let err = sign_efi_image(&stub(), &external, &keys.pair.cert).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
}

#[test]
fn hashes_what_sbsign_hashes() {
    let keys = &fixture().keys;
    let dir = tempfile::tempdir().unwrap();
    let stub_path = write(dir.path(), "stub.efi", &stub());
    let sbsigned = dir.path().join("sbsigned.efi");
    run(
        "sbsign",
        &[
            &"--key",
            &keys.paths.key,
            &"--cert",
            &keys.paths.cert_pem,
            &"--output",
            &sbsigned,
            &stub_path,
        ],
    );
    let sbsigned = std::fs::read(&sbsigned).unwrap();
    let ours = sign(&stub());
    // sbsign's PKCS#7 carries the same image hash in its SpcIndirectDataContent.
    let hash = authenticode_hash(&stub()).unwrap();
    assert!(
        sbsigned.windows(32).any(|w| w == hash),
        "sbsign's signature does not hold our Authenticode hash"
    );
    // Before the certificate table the files differ only in CheckSum and the
    // Certificate Table entry's size (sbsign's PKCS#7 has a signingTime).
    let table_at = stub().len().next_multiple_of(8);
    let differing: Vec<usize> = (0..table_at).filter(|&i| ours[i] != sbsigned[i]).collect();
    let optional = u32::from_le_bytes(ours[0x3c..0x40].try_into().unwrap()) as usize + 24;
    let allowed = |i: usize| {
        (optional + 64..optional + 68).contains(&i)
            || (optional + 112 + 36..optional + 112 + 40).contains(&i)
    };
    assert!(
        differing.iter().all(|&i| allowed(i)),
        "bytes before the certificate table differ from sbsign's at {differing:x?}"
    );
}

#[test]
fn refuses_signed_and_malformed_images() {
    let signed = sign(&stub());
    let again = sign_efi_image(&signed, &local(), &fixture().keys.pair.cert).unwrap_err();
    assert!(again.to_string().contains("already signed"), "{again}");
    let garbage = sign_efi_image(b"MZ not a PE", &local(), &fixture().keys.pair.cert).unwrap_err();
    assert!(
        garbage.to_string().contains("not a valid PE/COFF image"),
        "{garbage}"
    );
}

#[test]
fn a_signed_uki_verifies_and_any_changed_part_does_not() {
    let linux: Vec<u8> = (0..200_003u32).map(|i| (i * 31 + i / 97) as u8).collect();
    let parts = UkiParts {
        osrel: b"ID=appliance\n",
        cmdline: b"console=ttyS0 root=/dev/dm-0",
        linux: &linux,
        initrd: None,
    };
    let signed = sign(&assemble(&stub(), &parts).unwrap());
    let cert = &fixture().keys.paths.cert_pem;
    sbverify(&signed, cert).unwrap_or_else(|out| panic!("sbverify refused the UKI: {out}"));
    for name in [".cmdline", ".linux", ".osrel"] {
        let changed = with_flipped_byte(&signed, name);
        assert!(
            sbverify(&changed, cert).is_err(),
            "sbverify accepted a changed {name}"
        );
    }
}
