//! The firmware enforces our keys: a UKI with a placeholder kernel, on an ESP of a GPT disk,
//! booted by OVMF under TCG with a generated variable store. No kernel is built: the verdict is
//! the firmware's (it starts the stub, or refuses with `Access Denied`). These tests fail, never
//! skip, when OVMF, mtools, the stub or the venv is missing.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use appliance_qemu::{Accel, Guest, Machine, UefiFirmware};
use pe_image::uki::{self, UkiParts};
use signing::secure_boot;
use signing::{LocalSigner, SecureBootKeys};

use super::*;
use crate::gpt::{self, Guid, Partition, SECTOR};
use crate::stages::disk::{self, ESP_BYTES, ESP_NUMBER};
use crate::stages::setup::virt_fw_vars_path;

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const CMDLINE: &[u8] = b"console=ttyS0 firmware-test\n";
/// What systemd-stub 252 prints when `.linux` holds no PE image (`linux.c`, `pe_kernel_info`
/// failing with EFI_LOAD_ERROR): the firmware started the stub.
const STUB_RAN: &str = "Bad kernel image: Load Error";
/// What OVMF's boot manager prints when the image's signature does not check against `db`.
const REFUSED: &str = "Access Denied";
/// OVMF under TCG reaches its verdict in seconds; this leaves room for a loaded machine.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn keys_and_arguments_enroll_each_role_with_secure_boot_on() {
    let certs = EnrolledCerts {
        pk: b"pk".to_vec(),
        kek: b"kek".to_vec(),
        db: b"db".to_vec(),
    };
    let key = vars_key(&certs, "aa");
    assert_eq!(key, vars_key(&certs, "aa"));
    assert_ne!(key, vars_key(&certs, "ab"), "the template is in the key");
    let other_db = EnrolledCerts {
        db: b"db2".to_vec(),
        ..certs
    };
    assert_ne!(key, vars_key(&other_db, "aa"), "db is in the key");

    let args = virt_fw_vars_args(
        Path::new("t.fd"),
        Path::new("o.fd"),
        [Path::new("p"), Path::new("k"), Path::new("d")],
    );
    let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
    assert_eq!(
        args.join(" "),
        format!(
            "--input t.fd --output o.fd --set-pk {OWNER} p --add-kek {OWNER} k --add-db {OWNER} d --sb"
        )
    );
}

/// Writes a GPT disk at `path` whose one partition is an ESP (made as the disk stage makes
/// it) holding `efi_app` at `\EFI\BOOT\BOOTX64.EFI`.
fn esp_disk(path: &Path, efi_app: &[u8]) {
    let work = tempfile::tempdir().unwrap();
    let esp = work.path().join("esp.img");
    disk::make_esp(&esp, "5ec0b007").unwrap();
    let app = work.path().join("BOOTX64.EFI");
    fs::write(&app, efi_app).unwrap();
    Tool::new("mmd")
        .arg("-i")
        .arg(&esp)
        .args(["::/EFI", "::/EFI/BOOT"])
        .run()
        .expect("mtools' mmd makes folders in the ESP image: install mtools (`cargo xtask setup`)");
    Tool::new("mcopy")
        .arg("-i")
        .arg(&esp)
        .arg(&app)
        .arg("::/EFI/BOOT/BOOTX64.EFI")
        .run()
        .expect("mtools' mcopy copies the UKI into the ESP image");
    let first = 2048;
    let table = gpt::Table {
        disk_guid: Guid::v4_from([0x5e; 16]),
        total_sectors: first + ESP_BYTES / SECTOR + first,
        partitions: vec![Partition {
            number: ESP_NUMBER,
            type_guid: disk::ESP,
            guid: Guid::v4_from([0xb0; 16]),
            first,
            sectors: ESP_BYTES / SECTOR,
            attributes: 0,
            name: "esp",
        }],
    };
    let written = table.write().unwrap();
    let mut file = fs::File::create(path).unwrap();
    file.set_len(table.total_sectors * SECTOR).unwrap();
    file.write_all(&written.primary).unwrap();
    file.seek(SeekFrom::Start(written.backup_offset)).unwrap();
    file.write_all(&written.backup).unwrap();
    let mut esp = fs::File::open(&esp).unwrap();
    disk::copy_range(&mut esp, 0, ESP_BYTES, &mut file, first * SECTOR).unwrap();
}

/// Boots `efi_app` under OVMF with a fresh copy of `vars` and waits for `verdict`; returns the
/// console's text.
fn boot(work: &Path, name: &str, vars: &Path, efi_app: &[u8], verdict: &str) -> String {
    let disk_path = work.join(format!("{name}.img"));
    esp_disk(&disk_path, efi_app);
    let run_vars = work.join(format!("{name}.vars.fd"));
    fs::copy(vars, &run_vars).unwrap();
    let machine = Machine {
        kernel: PathBuf::new(),
        disks: vec![disk_path],
        cmdline: String::new(),
        initrd: None,
        memory_mib: 256,
        accel: Accel::Tcg,
        network: None,
        firmware: Some(UefiFirmware {
            code: OVMF_CODE.into(),
            vars: run_vars,
        }),
    };
    let started = std::time::Instant::now();
    let mut guest = Guest::start(&machine).unwrap();
    let text = guest
        .wait_for(verdict, VERDICT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{name}: expected {verdict:?} from the firmware: {e}"));
    tracing::info!("{name}: {verdict:?} after {:?}", started.elapsed());
    // Dropping the guest kills QEMU: OVMF waits forever after a refusal.
    drop(guest);
    text
}

#[test]
fn the_firmware_starts_only_what_our_db_key_signed() {
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
    let vars = secure_boot_vars(&cache, &virt_fw_vars, &certs).unwrap();
    assert_eq!(
        secure_boot_vars(&cache, &virt_fw_vars, &certs).unwrap(),
        vars,
        "the store is made once per keys and template"
    );

    let stub_path =
        std::env::var_os("SYSTEMD_STUB").map_or_else(|| PathBuf::from(STUB), PathBuf::from);
    let stub = fs::read(&stub_path).unwrap_or_else(|e| {
        panic!(
            "cannot read systemd-stub at {} ({e}): install systemd-boot-efi (`cargo xtask setup`) \
             or set SYSTEMD_STUB",
            stub_path.display()
        )
    });
    let unsigned = uki::assemble(
        &stub,
        &UkiParts {
            osrel: b"ID=firmware-test\n",
            cmdline: CMDLINE,
            linux: b"a placeholder, not a kernel",
            initrd: None,
        },
    )
    .unwrap();
    let signed = keys.db.sign_efi_image(&unsigned).unwrap();
    let other = signing::keygen::generate("Firmware test other key").unwrap();
    let by_other =
        signing::sign_efi_image(&unsigned, &LocalSigner::new(other.key), &other.cert).unwrap();
    let mut tampered = signed.clone();
    let at = tampered
        .windows(CMDLINE.len())
        .position(|w| w == CMDLINE)
        .expect("the signed UKI holds .cmdline");
    tampered[at + CMDLINE.len() - 2] ^= 0x20;

    let text = boot(work.path(), "signed", &vars, &signed, STUB_RAN);
    assert!(!text.contains(REFUSED), "{text}");
    for (name, image) in [
        ("unsigned", &unsigned),
        ("other-key", &by_other),
        ("cmdline-changed", &tampered),
    ] {
        let text = boot(work.path(), name, &vars, image, REFUSED);
        assert!(!text.contains(STUB_RAN), "{name}: the stub ran:\n{text}");
    }
}
