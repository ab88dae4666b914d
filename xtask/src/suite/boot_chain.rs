//! The boot chain as a device runs it: OVMF with Secure Boot enforcing and this build's PK, KEK
//! and db enrolled starts the signed UKI from the disk's ESP. The guest sees Secure Boot on and
//! the UKI's own command line, even when a boot entry offers another; the firmware refuses UKIs
//! that are changed, unsigned or signed by another key before any of the kernel runs; sbverify
//! (sbsigntool, not ours) checks the signature on the host.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use appliance_qemu::Guest;
use der::Encode;
use der::pem::LineEnding;
use pe_image::uki::{self as pe_uki, UkiParts};

use super::cases::{CaseResult, expect, run};
use crate::exec::Tool;
use crate::firmware::boot_entries::{self, BootEntry, EFI_GLOBAL};
use crate::stages::boot_spec::BootSpec;
use crate::stages::disk::{ESP_START, SLOTS};
use crate::stages::esp::{self, BOOT_PATH};
use crate::stages::image::Image;
use crate::stages::setup::Toolchain;
use crate::stages::sign;
use crate::stages::uki;

const EFIVARS: &str = "/sys/firmware/efi/efivars";
/// What OVMF's boot manager prints when an image's signature does not check against db.
pub const REFUSED: &str = "Access Denied";
/// Printed by the kernel's EFI stub and by the kernel: any of it means the kernel ran.
const KERNEL_SIGNS: &[&str] = &["EFI stub:", "Linux version"];
/// The boot entry's command line that the stub must ignore under Secure Boot.
const FOREIGN_OPTIONS: &str = "console=ttyS0 init=/bin/sh appliance.injected=1";

pub(super) const SECURE_BOOT_CASES: &[(&str, super::Case)] = &[
    (
        "secure_boot_uki_boots_with_secure_boot_on",
        secure_boot_is_on,
    ),
    (
        "ipe_enforces_under_secure_boot",
        super::cases::ipe_active_and_enforcing,
    ),
];

pub(super) const FOREIGN_COMMAND_LINE_CASES: &[(&str, super::Case)] = &[(
    "stub_ignores_a_foreign_command_line",
    foreign_command_line_ignored,
)];

/// Mounts efivarfs (once) and prints a variable's bytes as hex, its 4 attribute bytes first.
fn efi_variable(guest: &mut Guest, name: &str) -> Result<String, String> {
    let out = run(
        guest,
        &format!(
            "grep -q efivarfs /proc/mounts || mount -t efivarfs efivarfs {EFIVARS}; \
             od -An -tx1 {EFIVARS}/{name}-{EFI_GLOBAL}"
        ),
    )?;
    expect(out.status == 0, || format!("reading {name}: {out:?}"))?;
    Ok(out.text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The firmware says Secure Boot is on, the kernel saw it, and the kernel runs with the UKI's
/// command line.
fn secure_boot_is_on(guest: &mut Guest, image: &Image) -> CaseResult {
    let secure_boot = efi_variable(guest, "SecureBoot")?;
    expect(secure_boot == "06 00 00 00 01", || {
        format!("SecureBoot is {secure_boot:?}, expected 06 00 00 00 01 (on)")
    })?;
    let setup_mode = efi_variable(guest, "SetupMode")?;
    expect(setup_mode == "06 00 00 00 00", || {
        format!("SetupMode is {setup_mode:?}, expected 00: a PK is enrolled")
    })?;
    let kernel = run(guest, "dmesg | grep -i 'secure boot enabled'")?;
    expect(kernel.status == 0, || {
        "the kernel did not log `Secure boot enabled`".to_owned()
    })?;
    own_command_line(guest, image)
}

fn own_command_line(guest: &mut Guest, image: &Image) -> CaseResult {
    let cmdline = run(guest, "cat /proc/cmdline")?;
    expect(cmdline.text.trim() == image.boot.cmdline, || {
        format!(
            "the kernel's command line is {:?}, not the UKI's {:?}",
            cmdline.text.trim(),
            image.boot.cmdline
        )
    })
}

/// Booted through a boot entry whose options are [`FOREIGN_OPTIONS`]: the entry was the one
/// used, and the kernel still got only the UKI's command line.
fn foreign_command_line_ignored(guest: &mut Guest, image: &Image) -> CaseResult {
    let current = efi_variable(guest, "BootCurrent")?;
    let number: Vec<&str> = current.split(' ').skip(4).collect();
    let [low, high] = number[..] else {
        return Err(format!("BootCurrent is {current:?}"));
    };
    let entry = format!("Boot{}", format!("{high}{low}").to_uppercase());
    let options = run(
        guest,
        &format!("tr -d '\\000' < {EFIVARS}/{entry}-{EFI_GLOBAL}"),
    )?;
    expect(options.text.contains("appliance.injected=1"), || {
        format!(
            "the firmware booted {entry}, which does not carry the foreign options: {:?}",
            options.text
        )
    })?;
    own_command_line(guest, image)
}

/// A variable store like the image's with a boot entry, first in BootOrder, that starts slot A's
/// UKI with [`FOREIGN_OPTIONS`].
pub fn vars_with_foreign_options(virt_fw_vars: &Path, image: &Image) -> Result<PathBuf, String> {
    let vars = image
        .boot
        .firmware_vars
        .as_ref()
        .ok_or("the image has no variable store")?;
    let slots = boot_entries::slot_entries(&image.partitions);
    let slot_a = slots.first().ok_or("the disk has no slot A")?;
    let foreign = BootEntry {
        number: 1,
        label: "foreign options".to_owned(),
        options: Some(FOREIGN_OPTIONS.to_owned()),
        ..slot_a.clone()
    };
    let entries = [vec![foreign], slots].concat();
    let json = image.test_dir.join("foreign-options.json");
    fs::write(&json, boot_entries::variables_json(&entries)).map_err(|e| e.to_string())?;
    let output = image.test_dir.join("foreign-options.vars.fd");
    Tool::new(virt_fw_vars)
        .arg("--input")
        .arg(vars)
        .arg("--output")
        .arg(&output)
        .arg("--set-json")
        .arg(&json)
        .run()
        .map_err(|error| format!("{error:#}"))?;
    Ok(output)
}

/// Where slot A's ESP keeps copies of slot A's UKI, in mtools' form: its boot entry's program
/// and the removable-media path.
fn slot_a_uki_paths() -> [String; 2] {
    [
        esp::mtools_path(&esp::slot_path(SLOTS[0].bootname)),
        BOOT_PATH.to_owned(),
    ]
}

/// `sbverify` accepts the shipped UKI with the db certificate, and not with the policy key's:
/// the two roles are apart. The ESP holds the same bytes.
pub fn sbverify_checks_the_uki(image: &Image) -> Result<(), String> {
    let db = db_certificate_pem(image)?;
    let check = |cert: &Path| {
        Tool::new("sbverify")
            .arg("--cert")
            .arg(cert)
            .arg(&image.boot.uki)
            .output()
    };
    check(&db).map_err(|error| format!("sbverify refused the UKI: {error:#}"))?;
    let policy_cert = image.test_dir.join("policy-cert.pem");
    fs::write(&policy_cert, &image.keys.cert_pem).map_err(|e| e.to_string())?;
    expect(check(&policy_cert).is_err(), || {
        "sbverify accepted the UKI with the policy key's certificate".to_owned()
    })?;
    let shipped = fs::read(&image.boot.uki).map_err(|e| e.to_string())?;
    for path in slot_a_uki_paths() {
        let in_esp = Tool::new("mtype")
            .arg("-i")
            .arg(format!("{}@@{ESP_START}", image.boot.disk.display()))
            .arg(&path)
            .output()
            .map_err(|error| format!("reading the ESP: {error:#}"))?;
        expect(in_esp == shipped, || {
            format!("{path} in the ESP is not {}", image.boot.uki.display())
        })?;
    }
    Ok(())
}

fn db_certificate_pem(image: &Image) -> Result<PathBuf, String> {
    let keys = sign::load_uefi_keys(&image.request.uefi_signer).map_err(|e| format!("{e:#}"))?;
    let der = keys.db.cert.to_der().map_err(|e| e.to_string())?;
    let pem =
        der::pem::encode_string("CERTIFICATE", LineEnding::LF, &der).map_err(|e| e.to_string())?;
    let path = image.test_dir.join("db-cert.pem");
    fs::write(&path, pem).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The UKIs the firmware must refuse, by name: one byte of `.cmdline` changed, one byte of
/// `.linux` changed, unsigned, and signed by a key that is not in db.
pub fn refused_ukis(
    toolchain: &Toolchain,
    image: &Image,
) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    let signed = fs::read(&image.boot.uki)?;
    let headers = pe_image::PeImage::parse(&signed)?;
    let section_start = |name: &str| {
        headers
            .sections()
            .iter()
            .find(|section| section.name() == name)
            .map(|section| section.pointer_to_raw_data as usize)
            .with_context(|| format!("the UKI has no {name} section"))
    };
    let flipped = |at: usize| {
        let mut copy = signed.clone();
        copy[at] ^= 0x01;
        copy
    };
    // A byte of the dm-verity table: the root hash's first digit.
    let cmdline_at = section_start(".cmdline")?
        + image
            .boot
            .cmdline
            .find(&image.verity.root_hash())
            .context("the command line does not hold the root hash")?;
    // A byte well inside the kernel's code, past its headers.
    let linux_at = section_start(".linux")? + 0x10000;

    let read = |path: &Path| fs::read(path).with_context(|| path.display().to_string());
    let unsigned = pe_uki::assemble(
        &read(&toolchain.systemd_stub.path)?,
        &UkiParts {
            osrel: uki::uki_os_release(
                image.policy.name(),
                &image.policy.version().to_string(),
                &image.verity.root_hash(),
            )
            .as_bytes(),
            cmdline: image.boot.cmdline.as_bytes(),
            linux: &read(&image.boot.kernel)?,
            initrd: None,
        },
    )?;
    let other = signing::keygen::generate("Boot chain test, a key not in db")?;
    let by_other = signing::sign_efi_image(
        &unsigned,
        &signing::LocalSigner::new(other.key),
        &other.cert,
    )?;
    Ok(vec![
        ("cmdline_byte_changed", flipped(cmdline_at)),
        ("kernel_byte_changed", flipped(linux_at)),
        ("unsigned", unsigned),
        ("signed_by_another_key", by_other),
    ])
}

/// A copy of the image's disk with `efi_app` in place of slot A's UKI in slot A's ESP, where
/// the firmware's first boot entry and the removable-media path start it.
pub fn disk_booting(image: &Image, name: &str, efi_app: &[u8]) -> Result<BootSpec, String> {
    let disk = image.test_dir.join(format!("disk-{name}.img"));
    let app = image.test_dir.join(format!("{name}.efi"));
    fs::copy(&image.boot.disk, &disk).map_err(|e| e.to_string())?;
    fs::write(&app, efi_app).map_err(|e| e.to_string())?;
    for path in slot_a_uki_paths() {
        Tool::new("mcopy")
            .arg("-o")
            .arg("-i")
            .arg(format!("{}@@{ESP_START}", disk.display()))
            .arg(&app)
            .arg(&path)
            .run()
            .map_err(|error| format!("replacing the UKI in the ESP copy: {error:#}"))?;
    }
    Ok(BootSpec {
        disk,
        ..image.boot.clone()
    })
}

/// The firmware refused the UKI, and nothing of the kernel ran.
pub fn check_refused(console: &str) -> Result<(), String> {
    for sign in KERNEL_SIGNS {
        expect(!console.contains(sign), || {
            format!("the console shows {sign:?}: the kernel ran.\n{console}")
        })?;
    }
    Ok(())
}
