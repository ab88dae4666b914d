//! Part of stage `disk`: the EFI System Partition, a FAT32 file system made on a plain file by
//! `mkfs.vfat`, with the signed UKIs of both slots copied in by mtools: each slot's at
//! [`slot_path`], where its boot entry points, and slot A's also at the removable-media path the
//! firmware boots without any boot entry. No loop device, no mount. The same inputs give the
//! same bytes: `--invariant` fixes the file system's own times, and mtools stamps files and
//! folders with `SOURCE_DATE_EPOCH`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cache;
use crate::exec::Tool;

/// The ESP's size: FAT32 needs 65525 clusters at least, and 64 MiB of 512-byte clusters holds
/// a UKI of today's kernel (a bzImage of 2.5 MB) many times over, and the UKIs of an A/B pair.
pub const ESP_BYTES: u64 = 64 * 1024 * 1024;
/// The path UEFI boots from a disk with no boot entry (`\EFI\BOOT\BOOTX64.EFI` on x86-64).
pub const BOOT_PATH: &str = "::/EFI/BOOT/BOOTX64.EFI";
/// Where a slot's UKI sits in the ESP, in UEFI's form (`\EFI\Linux\appliance-a.efi`), as
/// its boot entry names it. The Boot Loader Specification's folder for UKIs.
pub fn slot_path(bootname: &str) -> String {
    format!("\\EFI\\Linux\\appliance-{}.efi", bootname.to_lowercase())
}

/// [`slot_path`] as mtools names it.
pub fn mtools_path(efi_path: &str) -> String {
    format!("::{}", efi_path.replace('\\', "/"))
}

/// FAT times start in 1980; mtools would wrap an earlier epoch to 2098.
const FAT_EPOCH: u64 = 315_532_800;

/// The ESP's FAT volume ID (8 hex digits for `mkfs.vfat -i`), reproducible: from the root hash.
pub fn volume_id(root_hash: &[u8]) -> String {
    cache::sha256_hex(
        [b"appliance esp volume id".as_slice(), root_hash]
            .concat()
            .as_slice(),
    )[..8]
        .to_owned()
}

/// An empty FAT32 file system of [`ESP_BYTES`] at `path`, the same bytes on every run:
/// `--invariant` fixes its times and serial, and `-i` after it sets the volume ID.
pub fn make(path: &Path, volume_id: &str) -> Result<()> {
    Tool::new("mkfs.vfat")
        .args([
            "-C",
            "--invariant",
            "-i",
            volume_id,
            "-F",
            "32",
            "-n",
            "ESP",
        ])
        .arg(path)
        .arg((ESP_BYTES / 1024).to_string())
        .output()
        .context(
            "making the ESP's FAT file system: is dosfstools installed? \
             `cargo xtask setup` installs it",
        )?;
    Ok(())
}

/// Copies each slot's UKI (`ukis`: boot name and file, slot A first) to its [`slot_path`] in
/// the FAT image `esp`, and the first to [`BOOT_PATH`], every entry stamped with
/// `source_date_epoch` (in UTC, raised to 1980 if earlier).
pub fn install_boot_programs(
    esp: &Path,
    ukis: &[(&str, &Path)],
    source_date_epoch: u64,
) -> Result<()> {
    let epoch = source_date_epoch.max(FAT_EPOCH).to_string();
    let mtools = |program: &str| {
        Tool::new(program)
            .env("SOURCE_DATE_EPOCH", &epoch)
            .env("TZ", "UTC")
            .arg("-i")
            .arg(esp)
    };
    let hint = "is mtools installed? `cargo xtask setup` installs it";
    mtools("mmd")
        .args(["::/EFI", "::/EFI/BOOT", "::/EFI/Linux"])
        .output()
        .with_context(|| format!("making \\EFI\\BOOT and \\EFI\\Linux in the ESP: {hint}"))?;
    let copies = ukis
        .iter()
        .map(|&(bootname, uki)| (uki, mtools_path(&slot_path(bootname))))
        .chain(ukis.first().map(|&(_, uki)| (uki, BOOT_PATH.to_owned())));
    for (uki, target) in copies {
        mtools("mcopy")
            .arg(uki)
            .arg(&target)
            .output()
            .with_context(|| format!("copying {} into the ESP: {hint}", uki.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fsck.vfat and mtools, not ours, read the file back; a second run gives the same bytes.
    #[test]
    fn the_program_lands_at_the_removable_media_path_reproducibly() {
        let work = tempfile::tempdir().unwrap();
        let app = work.path().join("app.efi");
        std::fs::write(&app, b"MZ an EFI program").unwrap();
        let app_b = work.path().join("app-b.efi");
        std::fs::write(&app_b, b"MZ slot B's program").unwrap();
        let build = |name: &str| {
            let esp = work.path().join(name);
            make(&esp, "5ec0b007").unwrap();
            install_boot_programs(&esp, &[("A", &app), ("B", &app_b)], 0).unwrap();
            esp
        };
        let esp = build("a.img");
        let read = |path: &str| {
            Tool::new("mtype")
                .arg("-i")
                .arg(&esp)
                .arg(path)
                .output()
                .unwrap()
        };
        assert_eq!(read(BOOT_PATH), b"MZ an EFI program");
        assert_eq!(read("::/EFI/Linux/appliance-a.efi"), b"MZ an EFI program");
        assert_eq!(read("::/EFI/Linux/appliance-b.efi"), b"MZ slot B's program");
        assert_eq!(slot_path("B"), "\\EFI\\Linux\\appliance-b.efi");
        Tool::new("fsck.vfat").arg("-n").arg(&esp).run().unwrap();
        let listing = Tool::new("mdir")
            .env("TZ", "UTC")
            .args(["-i"])
            .arg(&esp)
            .arg("::/EFI/BOOT")
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing);
        let entry = listing
            .lines()
            .find(|line| line.starts_with("BOOTX64"))
            .unwrap_or_else(|| panic!("no BOOTX64.EFI in:\n{listing}"));
        assert!(entry.contains("1980-01-01"), "{entry}");
        assert_eq!(
            std::fs::read(&esp).unwrap(),
            std::fs::read(build("b.img")).unwrap()
        );
    }
}
