//! The Secure Boot key roles: created beside the policy key, never touching it.

use std::fs;

use signing::keystore::{self, KeyPaths};
use signing::secure_boot::{self, Role};
use signing::{SecureBootKeys, load_or_create_dev_keys};

#[test]
fn roles_are_created_once_beside_an_untouched_policy_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let policy = load_or_create_dev_keys(&keys_dir).unwrap();
    let policy_key = fs::read(&policy.paths.key).unwrap();

    let created = secure_boot::create_missing(&keys_dir, "Test").unwrap();
    let dirs: Vec<_> = created.iter().map(|k| k.paths.dir.clone()).collect();
    assert_eq!(dirs, Role::ALL.map(|r| r.dir(&keys_dir)));
    assert_eq!(fs::read(&policy.paths.key).unwrap(), policy_key);
    assert!(
        keystore::load(&keys_dir).is_ok(),
        "the policy key still loads"
    );

    let loaded = SecureBootKeys::load(&keys_dir).unwrap();
    assert_eq!(loaded.db.cert, created[2].pair.cert);
    assert_eq!(loaded.pk, created[0].pair.cert);
    assert_eq!(loaded.kek, created[1].pair.cert);
    assert_ne!(loaded.db.cert, policy.pair.cert);
    let subject = loaded.db.cert.tbs_certificate().subject().to_string();
    assert!(subject.contains("Test Secure Boot db"), "{subject}");

    // Again: nothing new, nothing replaced.
    assert!(
        secure_boot::create_missing(&keys_dir, "Test")
            .unwrap()
            .is_empty()
    );
    let again = SecureBootKeys::load(&keys_dir).unwrap();
    assert_eq!(again.db.cert, loaded.db.cert);

    // One role removed: only it comes back.
    fs::remove_dir_all(Role::Kek.dir(&keys_dir)).unwrap();
    let recreated = secure_boot::create_missing(&keys_dir, "Test").unwrap();
    assert_eq!(recreated.len(), 1);
    assert_eq!(recreated[0].paths, KeyPaths::new(&Role::Kek.dir(&keys_dir)));
}

#[test]
fn a_half_written_role_is_an_error_not_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = Role::Db.dir(dir.path());
    fs::create_dir_all(&db).unwrap();
    fs::write(db.join(keystore::CERT_PEM_FILE), "x").unwrap();
    let error = secure_boot::create_missing(dir.path(), "Test")
        .err()
        .expect("an incomplete db role is refused");
    assert!(error.to_string().contains("db"), "{error}");
}
