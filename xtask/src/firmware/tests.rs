//! The variable store: its key and arguments, and a real store made by virt-fw-vars and read
//! back by it. The integration suite boots it (`suite/boot_chain.rs`): the firmware starts the
//! signed UKI and refuses changed ones. These tests fail, never skip, when OVMF or the venv is
//! missing.

use std::path::Path;

use signing::SecureBootKeys;
use signing::secure_boot;

use super::*;
use crate::stages::setup::virt_fw_vars_path;

#[test]
fn keys_and_arguments_enroll_each_role_with_secure_boot_on() {
    let certs = EnrolledCerts {
        pk: b"pk".to_vec(),
        kek: b"kek".to_vec(),
        db: b"db".to_vec(),
    };
    let key = vars_key(&certs, "{}", "aa");
    assert_eq!(key, vars_key(&certs, "{}", "aa"));
    assert_ne!(
        key,
        vars_key(&certs, "{}", "ab"),
        "the template is in the key"
    );
    assert_ne!(
        key,
        vars_key(&certs, "{ }", "aa"),
        "the boot entries are in the key"
    );
    let other_db = EnrolledCerts {
        db: b"db2".to_vec(),
        ..certs
    };
    assert_ne!(key, vars_key(&other_db, "{}", "aa"), "db is in the key");

    let args = virt_fw_vars_args(
        Path::new("t.fd"),
        Path::new("o.fd"),
        [Path::new("p"), Path::new("k"), Path::new("d")],
        Path::new("b.json"),
    );
    let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
    assert_eq!(
        args.join(" "),
        format!(
            "--input t.fd --output o.fd --set-pk {OWNER} p --add-kek {OWNER} k --add-db {OWNER} d --sb --set-json b.json"
        )
    );
}

/// virt-fw-vars, not ours, reads the boot entries back: label, partition and file.
#[test]
fn the_store_enrolls_the_three_roles_with_secure_boot_on_once_per_keys() {
    let installed = Cache::locate().unwrap();
    let virt_fw_vars = virt_fw_vars_path(&installed);
    let work = tempfile::tempdir().unwrap();
    // The store goes to a cache of the test's own: keys are new on every run.
    let cache = Cache {
        root: work.path().join("cache"),
    };
    let keys_dir = work.path().join("keys");
    secure_boot::create_missing(&keys_dir, "Firmware test").unwrap();
    let keys = SecureBootKeys::load(&keys_dir).unwrap();
    let certs = EnrolledCerts::of(&keys).unwrap();
    let esp = crate::gpt::Partition {
        number: 6,
        type_guid: crate::gpt::Guid([0; 16]),
        guid: crate::gpt::Guid::parse("00112233-4455-6677-8899-aabbccddeeff"),
        first: 4096,
        sectors: 131072,
        attributes: 0,
        name: "esp-b".into(),
    };
    let boot = boot_entries::variables_json(&[boot_entries::BootEntry {
        number: 0xB,
        label: "B".into(),
        esp,
        program: "\\EFI\\Linux\\appliance-b.efi".into(),
        options: None,
    }]);
    let vars = secure_boot_vars(&cache, &virt_fw_vars, &certs, &boot).unwrap();
    assert_eq!(
        secure_boot_vars(&cache, &virt_fw_vars, &certs, &boot).unwrap(),
        vars,
        "the store is made once per keys and template"
    );
    let printed = Tool::new(&virt_fw_vars)
        .arg("--input")
        .arg(&vars)
        .arg("--print")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&printed);
    for line in [
        "SecureBootEnable    : bool: ON",
        "CustomMode          : bool: off",
        "BootOrder           : boot order: 000b",
    ] {
        assert!(printed.contains(line), "{line:?} not in:\n{printed}");
    }
    for role in ["PK ", "KEK ", "db "] {
        let blob = printed
            .lines()
            .find(|line| line.starts_with(role))
            .unwrap_or_else(|| panic!("no {role} in:\n{printed}"));
        assert!(blob.contains("blob"), "{blob}");
    }
    let entry = printed
        .lines()
        .find(|line| line.starts_with("Boot000B"))
        .unwrap_or_else(|| panic!("no Boot000B in:\n{printed}"));
    for part in [
        "title=\"B\"",
        "devpath=Partition(nr=6)/FilePath(",
        "\\EFI\\Linux\\appliance-b.efi",
    ] {
        assert!(entry.contains(part), "{part:?} not in {entry:?}");
    }
}
