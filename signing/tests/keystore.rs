//! The keys directory: create once, load, refuse to overwrite, and explain
//! every inconsistent state.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::run;
use signing::keystore::{self, KeyPaths};
use signing::{Error, load_or_create_dev_keys};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn load_or_create_creates_once_then_loads_the_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let first = load_or_create_dev_keys(&keys_dir).unwrap();
    assert!(first.created);
    assert_eq!(first.paths, KeyPaths::new(&keys_dir));
    assert_eq!(
        mode(&first.paths.key),
        0o600,
        "private key must be owner-only"
    );
    assert_eq!(mode(&keys_dir), 0o700);
    assert_eq!(
        fs::read_dir(&keys_dir).unwrap().count(),
        3,
        "stray files: temporaries left?"
    );

    let second = load_or_create_dev_keys(&keys_dir).unwrap();
    assert!(!second.created);
    assert_eq!(second.pair.key, first.pair.key);
    assert_eq!(second.pair.cert, first.pair.cert);

    // `keys generate` refuses to overwrite, naming the file and the way out.
    let err = keystore::create(&keys_dir, "again").err().unwrap();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("signing_key.pem") && text.contains("cargo xtask keys generate"),
        "{text}"
    );

    // Each inconsistent state gets its own explanation.
    fs::copy(&first.paths.cert_der, dir.path().join("saved.der")).unwrap();
    fs::write(&first.paths.cert_der, b"garbage").unwrap();
    let err = keystore::load(&keys_dir).err().unwrap();
    assert!(matches!(err, Error::CertCopiesDiffer { .. }), "{err}");
    fs::rename(dir.path().join("saved.der"), &first.paths.cert_der).unwrap();

    let other = dir.path().join("other.pem");
    run(
        "openssl",
        &[
            &"genpkey",
            &"-algorithm",
            &"RSA",
            &"-pkeyopt",
            &"rsa_keygen_bits:2048",
            &"-out",
            &other,
        ],
    );
    fs::copy(&first.paths.key, dir.path().join("saved.pem")).unwrap();
    fs::copy(&other, &first.paths.key).unwrap();
    let err = keystore::load(&keys_dir).err().unwrap();
    assert!(matches!(err, Error::KeyCertMismatch { .. }), "{err}");

    fs::write(
        &first.paths.key,
        b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = keystore::load(&keys_dir).err().unwrap();
    assert!(matches!(err, Error::BadPrivateKey { .. }), "{err}");
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");

    fs::remove_file(&first.paths.key).unwrap();
    let err = load_or_create_dev_keys(&keys_dir).err().unwrap();
    assert!(matches!(err, Error::IncompleteKeySet { .. }), "{err}");
    assert!(
        err.to_string().contains("signing_key.pem is missing"),
        "{err}"
    );
}

#[test]
fn load_without_keys_says_how_to_make_them() {
    let dir = tempfile::tempdir().unwrap();
    let err = keystore::load(dir.path()).err().unwrap();
    assert!(matches!(err, Error::NoKeys { .. }), "{err}");
    assert!(
        err.to_string().contains("cargo xtask keys generate"),
        "{err}"
    );
}

#[test]
fn bad_common_names_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["", &"x".repeat(65)] {
        let err = keystore::create(&dir.path().join("k"), name).err().unwrap();
        assert!(matches!(err, Error::BadCommonName(_)), "{err}");
    }
    assert!(!dir.path().join("k").exists());
}
