//! Stage `disk`: the device's one disk, a GPT laid out by the UAPI Discoverable Partitions
//! Specification: the erofs root and its dm-verity hash tree as `root-x86-64` and
//! `root-x86-64-verity`, with the partition UUIDs systemd-repart gives them (the first and the
//! last 128 bits of the root hash), the signed-policy slot and the sealed partition (ext4 with
//! fs-verity, when a layer seals binaries) as partitions of types of our own.
//! The slot lies outside the verity data, since the policy names the root hash; its signature,
//! checked by the kernel, is what protects it.
//!
//! Partition 1 is the EFI System Partition with the signed UKI at `\EFI\BOOT\BOOTX64.EFI`
//! (`esp.rs`). The layout is pure ([`layout`]) and known before the kernel is built ([`plan`]),
//! since the UKI's command line names the partitions; [`write`] then copies the bytes into
//! place on a plain file: no loop device, no mount, no root.
//!
//! Cache key: this stage's code, the root hash (which pins the data and the tree), the verity
//! parameters, the signed policy, the sealed partition's sha256, the UKI's sha256 and
//! `SOURCE_DATE_EPOCH` (`disk.key`).

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde_json::json;

use super::esp::{self, ESP_BYTES};
use super::verity::VerityOutput;
use crate::cache::{self, KeyHasher};
use crate::exec::Tool;
use crate::gpt::{self, ATTR_READ_ONLY, Guid, Partition, SECTOR};

/// The EFI System Partition (UEFI; `SD_GPT_ESP`).
pub const ESP: Guid = Guid::parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
/// Discoverable Partitions Specification, x86-64 root (`SD_GPT_ROOT_X86_64`).
pub const ROOT_X86_64: Guid = Guid::parse("4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
/// Discoverable Partitions Specification, x86-64 root verity (`SD_GPT_ROOT_X86_64_VERITY`).
pub const ROOT_X86_64_VERITY: Guid = Guid::parse("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5");
/// Ours: a signed IPE policy (DER PKCS#7, policy attached) from byte 0, its length on the kernel
/// command line, zeros after it. Generated once for this project; see ARCHITECTURE.md.
pub const POLICY_SLOT: Guid = Guid::parse("94a5469a-6030-4fb7-9c71-4e30af789b34");
/// Ours: the sealed partition, an ext4 file system whose files have fs-verity enabled, mounted
/// read-only where `appliance.sealed=` says. Generated once for this project; see ARCHITECTURE.md.
pub const SEALED: Guid = Guid::parse("199c1540-fe2f-474a-9bab-9f6561596703");

/// Partition numbers, which are also the guest's device names (`/dev/vda2`, ...).
pub const ESP_NUMBER: u32 = 1;
pub const ROOT_NUMBER: u32 = 2;
pub const VERITY_NUMBER: u32 = 3;
pub const POLICY_NUMBER: u32 = 4;
pub const SEALED_NUMBER: u32 = 5;

/// One of the two A/B slots: its RAUC/EFI boot name and its partitions' numbers. Everything a
/// build ships lives in a slot, so an update writes only the slot that is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotPartitions {
    /// The EFI boot entry's label, RAUC's `bootname`, the UKI's `rauc.slot=`.
    pub bootname: &'static str,
    pub esp: u32,
    pub root: u32,
    pub verity: u32,
    pub policy: u32,
    pub sealed: u32,
}

/// Slot A keeps the numbers of the single-slot disk; slot B follows it.
pub const SLOTS: [SlotPartitions; 2] = [
    SlotPartitions {
        bootname: "A",
        esp: ESP_NUMBER,
        root: ROOT_NUMBER,
        verity: VERITY_NUMBER,
        policy: POLICY_NUMBER,
        sealed: SEALED_NUMBER,
    },
    SlotPartitions {
        bootname: "B",
        esp: 6,
        root: 7,
        verity: 8,
        policy: 9,
        sealed: 10,
    },
];

/// The slot holds the largest PKCS#7 the kernel takes (65535 bytes), so a field update always fits.
pub const POLICY_SLOT_BYTES: u64 = 64 * 1024;
/// Partitions start on MiB boundaries, as fdisk and systemd-repart place them.
const ALIGN: u64 = 1024 * 1024;
/// The ESP comes first, at the first boundary: tools (mtools' `-i disk.img@@OFFSET`) reach it
/// there.
pub const ESP_START: u64 = ALIGN;

/// The form `disk.img` also ships in: `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DiskFormat {
    /// `disk.img` alone, raw.
    #[default]
    Raw,
    /// `disk.img` and `disk.qcow2`, converted by `qemu-img` (compact: zeros take no room).
    Qcow2,
}

/// `disk` converted to qcow2 at `target` by `qemu-img convert` (written under a temporary name
/// and renamed). Its output is the same bytes on every run: qcow2 headers hold no time.
pub fn convert_qcow2(disk: &Path, target: &Path) -> Result<()> {
    let staged = target.with_extension("qcow2.tmp");
    Tool::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(disk)
        .arg(&staged)
        .output()
        .context(
            "converting disk.img to qcow2: is qemu-utils installed? \
             `cargo xtask setup` installs it",
        )?;
    fs::rename(&staged, target)?;
    Ok(())
}

pub struct DiskInputs<'a> {
    pub verity: &'a VerityOutput,
    pub signed_policy: &'a [u8],
    /// The sealed partition's image (`sealed.img`), if a layer seals binaries.
    pub sealed: Option<&'a Path>,
}

/// What the ESP boots, and the time its FAT entries carry.
pub struct BootProgram<'a> {
    /// The signed UKI.
    pub efi_app: &'a Path,
    pub source_date_epoch: u64,
}

/// Where the signed policy sits, for the init to find it.
pub struct PolicySlot {
    pub partition: u32,
    pub length: u64,
}

impl PolicySlot {
    /// The kernel command-line argument the init reads: policy name, device, offset, length.
    pub fn cmdline_arg(&self, policy_name: &str, disk_device: &str) -> String {
        format!(
            "appliance.policy={policy_name},{disk_device}{},0,{}",
            self.partition, self.length
        )
    }
}

/// The disk as built.
pub struct Disk {
    pub path: PathBuf,
    pub table: gpt::Table,
    pub slot: PolicySlot,
}

impl Disk {
    fn partition(&self, number: u32) -> &Partition {
        self.table
            .partitions
            .iter()
            .find(|p| p.number == number)
            .expect("the layout has every numbered partition")
    }

    /// The guest's name for the sealed partition, if there is one.
    pub fn sealed_device(&self, disk_device: &str) -> Option<String> {
        self.table
            .partitions
            .iter()
            .any(|p| p.number == SEALED_NUMBER)
            .then(|| format!("{disk_device}{SEALED_NUMBER}"))
    }

    pub fn root_partuuid(&self) -> Guid {
        self.partition(ROOT_NUMBER).guid
    }

    pub fn verity_partuuid(&self) -> Guid {
        self.partition(VERITY_NUMBER).guid
    }

    /// The kernel's arguments that open the verity root from this disk by partition UUID, and
    /// the policy slot's (on `disk_device`, the guest's name for this disk).
    pub fn cmdline(
        &self,
        verity: &VerityOutput,
        policy_name: &str,
        disk_device: &str,
    ) -> Vec<String> {
        let root = format!("PARTUUID={}", self.root_partuuid());
        let hash = format!("PARTUUID={}", self.verity_partuuid());
        vec![
            format!("dm-mod.waitfor={root},{hash}"),
            format!("dm-mod.create=\"{}\"", verity.dm_table(&root, &hash)),
            self.slot.cmdline_arg(policy_name, disk_device),
        ]
    }

    /// For the manifest.
    pub fn summary(&self) -> serde_json::Value {
        let partitions: Vec<_> = self
            .table
            .partitions
            .iter()
            .map(|p| {
                json!({
                    "number": p.number,
                    "name": p.name,
                    "type": p.type_guid.to_string(),
                    "uuid": p.guid.to_string(),
                    "start_sector": p.first,
                    "sectors": p.sectors,
                })
            })
            .collect();
        json!({
            "label": "gpt",
            "disk_guid": self.table.disk_guid.to_string(),
            "sectors": self.table.total_sectors,
            "partitions": partitions,
        })
    }
}

fn align(bytes: u64) -> u64 {
    bytes.div_ceil(ALIGN) * ALIGN
}

/// The partition table for a root hash and the sizes of the data and the tree. Pure.
pub fn layout(
    root_hash: &[u8],
    data_bytes: u64,
    tree_bytes: u64,
    sealed_bytes: Option<u64>,
) -> Result<gpt::Table> {
    ensure!(
        root_hash.len() >= 32,
        "a root hash of {} bytes; the partition UUIDs need 32",
        root_hash.len()
    );
    let first_half: [u8; 16] = root_hash[..16].try_into()?;
    let last_half: [u8; 16] = root_hash[root_hash.len() - 16..].try_into()?;
    // Ours, reproducible and distinct per root: from the root hash and a purpose.
    let derived = |purpose: &str| {
        let digest = cache::sha256_hex([purpose.as_bytes(), root_hash].concat().as_slice());
        let bytes: [u8; 16] = hex::decode(&digest[..32])
            .expect("sha256_hex is hex")
            .try_into()
            .expect("16 bytes");
        Guid::v4_from(bytes)
    };
    let mut partitions = Vec::new();
    let mut next = ALIGN;
    let sealed = sealed_bytes.map(|bytes| {
        (
            SEALED_NUMBER,
            SEALED,
            derived("appliance sealed partition"),
            bytes,
            ATTR_READ_ONLY,
            "appliance-sealed",
        )
    });
    for (number, type_guid, guid, bytes, attributes, name) in [
        (
            ESP_NUMBER,
            ESP,
            derived("appliance esp partition"),
            ESP_BYTES,
            0,
            "esp",
        ),
        (
            ROOT_NUMBER,
            ROOT_X86_64,
            Guid(first_half),
            data_bytes,
            ATTR_READ_ONLY,
            "root-x86-64",
        ),
        (
            VERITY_NUMBER,
            ROOT_X86_64_VERITY,
            Guid(last_half),
            tree_bytes,
            ATTR_READ_ONLY,
            "root-x86-64-verity",
        ),
        (
            POLICY_NUMBER,
            POLICY_SLOT,
            derived("appliance policy slot partition"),
            POLICY_SLOT_BYTES,
            0,
            "appliance-policy",
        ),
    ]
    .into_iter()
    .chain(sealed)
    {
        ensure!(
            bytes > 0 && bytes % SECTOR == 0,
            "partition {name} would hold {bytes} bytes, not a whole number of sectors"
        );
        partitions.push(Partition {
            number,
            type_guid,
            guid,
            first: next / SECTOR,
            sectors: bytes / SECTOR,
            attributes,
            name,
        });
        next = align(next + bytes);
    }
    Ok(gpt::Table {
        disk_guid: derived("appliance disk"),
        total_sectors: (next + gpt::BACKUP_SECTORS * SECTOR).div_ceil(ALIGN) * ALIGN / SECTOR,
        partitions,
    })
}

/// Copies `len` bytes from `source` at `from` to `target` at `to`.
pub fn copy_range(
    source: &mut fs::File,
    from: u64,
    len: u64,
    target: &mut fs::File,
    to: u64,
) -> Result<()> {
    source.seek(SeekFrom::Start(from))?;
    target.seek(SeekFrom::Start(to))?;
    let copied = std::io::copy(&mut source.take(len), target)?;
    ensure!(copied == len, "copied {copied} of {len} bytes");
    Ok(())
}

/// The disk to be written in `work_dir`: its partition table and policy slot.
pub fn plan(inputs: &DiskInputs, work_dir: &Path) -> Result<Disk> {
    let verity = inputs.verity;
    ensure!(
        inputs.signed_policy.len() as u64 <= POLICY_SLOT_BYTES,
        "the signed policy is {} bytes, more than its {POLICY_SLOT_BYTES}-byte slot; the sign \
         stage should have refused it: shorten the policy",
        inputs.signed_policy.len()
    );
    let (data_bytes, tree) = verity.layout();
    let table = layout(
        verity.formatted.root_hash.as_ref(),
        data_bytes,
        (tree.end - tree.start).div_ceil(SECTOR) * SECTOR,
        match inputs.sealed {
            Some(path) => Some(
                fs::metadata(path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .len(),
            ),
            None => None,
        },
    )?;
    Ok(Disk {
        path: work_dir.join("disk.img"),
        slot: PolicySlot {
            partition: POLICY_NUMBER,
            length: inputs.signed_policy.len() as u64,
        },
        table,
    })
}

/// Writes the planned `disk` with `boot` in its ESP, or keeps it when its key is unchanged.
pub fn write(disk: &Disk, inputs: &DiskInputs, boot: &BootProgram) -> Result<()> {
    let verity = inputs.verity;
    let work_dir = disk.path.parent().context("the disk has a folder")?;
    let key = KeyHasher::default()
        .input("code", super::stage_sources::DISK)
        .input("verity", verity.summary().to_string())
        .input("signed policy", inputs.signed_policy)
        .input(
            "sealed",
            match inputs.sealed {
                Some(path) => cache::sha256_file(path)?,
                None => "none".to_owned(),
            },
        )
        .input("boot program", cache::sha256_file(boot.efi_app)?)
        .input("source date epoch", boot.source_date_epoch.to_string())
        .finish();
    let stamp = work_dir.join("disk.key");
    if disk.path.is_file() && fs::read_to_string(&stamp).is_ok_and(|old| old == key) {
        tracing::info!("disk: up to date");
        return Ok(());
    }
    let (data_bytes, tree) = verity.layout();
    let written = disk.table.write()?;
    let start = |number| disk.partition(number).first * SECTOR;
    let staged = tempfile::Builder::new()
        .prefix(".disk.img.tmp")
        .tempfile_in(work_dir)
        .with_context(|| format!("creating a temporary disk in {}", work_dir.display()))?;
    let mut file = staged.as_file().try_clone()?;
    file.set_len(disk.table.total_sectors * SECTOR)?;
    file.write_all(&written.primary)?;
    file.seek(SeekFrom::Start(written.backup_offset))?;
    file.write_all(&written.backup)?;
    let mut source = fs::File::open(&verity.disk)
        .with_context(|| format!("opening {}", verity.disk.display()))?;
    copy_range(&mut source, 0, data_bytes, &mut file, start(ROOT_NUMBER))?;
    copy_range(
        &mut source,
        tree.start,
        tree.end - tree.start,
        &mut file,
        start(VERITY_NUMBER),
    )?;
    let scratch = tempfile::Builder::new()
        .prefix(".esp.tmp")
        .tempdir_in(work_dir)?;
    let esp_image = scratch.path().join("esp.img");
    esp::make(
        &esp_image,
        &esp::volume_id(verity.formatted.root_hash.as_ref()),
    )?;
    esp::install_boot_program(&esp_image, boot.efi_app, boot.source_date_epoch)?;
    let mut esp_image = fs::File::open(&esp_image)?;
    copy_range(&mut esp_image, 0, ESP_BYTES, &mut file, start(ESP_NUMBER))?;
    file.seek(SeekFrom::Start(start(POLICY_NUMBER)))?;
    file.write_all(inputs.signed_policy)?;
    if let Some(path) = inputs.sealed {
        let mut sealed =
            fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let len = sealed.metadata()?.len();
        copy_range(&mut sealed, 0, len, &mut file, start(SEALED_NUMBER))?;
    }
    file.sync_all()?;
    staged
        .persist(&disk.path)
        .with_context(|| format!("renaming the new disk to {}", disk.path.display()))?;
    cache::write_atomic(&stamp, key.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plans and writes a disk in `dir`.
    fn build(inputs: &DiskInputs, dir: &Path, boot: &BootProgram) -> Disk {
        let disk = plan(inputs, dir).unwrap();
        write(&disk, inputs, boot).unwrap();
        disk
    }

    const HASH: &str = "6f2e6796c28b71a52367906677f2a4626eee255286fc59c6494df359b4310ec0";

    /// The example of the research notes, checked against systemd-repart 252's derivation.
    #[test]
    fn root_and_verity_uuids_are_the_root_hash_halves_verbatim() {
        let table = layout(&hex::decode(HASH).unwrap(), 10 * 4096, 4096, None).unwrap();
        let by_number = |n| table.partitions.iter().find(|p| p.number == n).unwrap();
        assert_eq!(
            by_number(ROOT_NUMBER).guid.to_string(),
            "6f2e6796-c28b-71a5-2367-906677f2a462"
        );
        assert_eq!(
            by_number(VERITY_NUMBER).guid.to_string(),
            "6eee2552-86fc-59c6-494d-f359b4310ec0"
        );
        assert!(table.partitions.iter().all(|p| p.first % 2048 == 0));
        assert_eq!(by_number(POLICY_NUMBER).sectors, 128);
        assert_eq!(
            by_number(ESP_NUMBER).first * SECTOR,
            ESP_START,
            "the ESP comes first"
        );
        // Reproducible: the same root hash gives the same table.
        let again = layout(&hex::decode(HASH).unwrap(), 10 * 4096, 4096, None).unwrap();
        assert_eq!(again.disk_guid, table.disk_guid);
        assert_eq!(again.partitions, table.partitions);
    }

    #[test]
    fn the_policy_argument_names_the_slot_partition() {
        let slot = PolicySlot {
            partition: POLICY_NUMBER,
            length: 6,
        };
        assert_eq!(
            slot.cmdline_arg("fw", "/dev/vda"),
            "appliance.policy=fw,/dev/vda4,0,6"
        );
    }

    /// A whole disk from a real verity output: each partition holds what it should, sfdisk
    /// reads the table, and veritysetup verifies the root partition against the tree partition
    /// with the table's hash start (0).
    #[test]
    fn partitions_hold_the_data_the_tree_and_the_policy() {
        let work = tempfile::tempdir().unwrap();
        let rootfs = work.path().join("rootfs");
        let data: Vec<u8> = (0..300 * 4096u32).map(|i| (i % 251) as u8).collect();
        fs::write(&rootfs, &data).unwrap();
        let verity = super::super::verity::build(&rootfs, "key", work.path()).unwrap();
        let sealed = work.path().join("sealed.img");
        fs::write(&sealed, vec![0x5e; 3 * 4096]).unwrap();
        let inputs = DiskInputs {
            verity: &verity,
            signed_policy: b"signed",
            sealed: Some(&sealed),
        };
        let efi_app = work.path().join("uki.efi");
        fs::write(&efi_app, b"MZ a signed UKI").unwrap();
        let boot = BootProgram {
            efi_app: &efi_app,
            source_date_epoch: 0,
        };
        let disk = build(&inputs, work.path(), &boot);
        let bytes = fs::read(&disk.path).unwrap();
        let at = |n| (disk.partition(n).first * SECTOR) as usize;
        let (data_bytes, tree) = verity.layout();
        assert_eq!(&bytes[at(ROOT_NUMBER)..][..data.len()], &data[..]);
        let verity_image = fs::read(&verity.disk).unwrap();
        let tree_bytes = &verity_image[tree.start as usize..tree.end as usize];
        assert_eq!(&bytes[at(VERITY_NUMBER)..][..tree_bytes.len()], tree_bytes);
        assert_eq!(&bytes[at(POLICY_NUMBER)..][..6], b"signed");

        assert_eq!(
            &bytes[at(SEALED_NUMBER)..][..3 * 4096],
            &[0x5e; 3 * 4096][..]
        );
        assert_eq!(disk.sealed_device("/dev/vda").unwrap(), "/dev/vda5");
        assert_eq!(data_bytes, data.len() as u64);

        let json = crate::exec::Tool::new("sfdisk")
            .arg("--json")
            .arg(&disk.path)
            .output()
            .expect("sfdisk (util-linux's fdisk package) reads the disk");
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let parts = json["partitiontable"]["partitions"].as_array().unwrap();
        let types: Vec<_> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                ESP.to_string().to_uppercase(),
                ROOT_X86_64.to_string().to_uppercase(),
                ROOT_X86_64_VERITY.to_string().to_uppercase(),
                POLICY_SLOT.to_string().to_uppercase(),
                SEALED.to_string().to_uppercase(),
            ]
        );

        let part = |n: u32, name: &str| {
            let path = work.path().join(name);
            let p = disk.partition(n);
            let start = (p.first * SECTOR) as usize;
            fs::write(&path, &bytes[start..start + (p.sectors * SECTOR) as usize]).unwrap();
            path
        };
        let root = part(ROOT_NUMBER, "root");
        let hash = part(VERITY_NUMBER, "hash");
        let esp = part(ESP_NUMBER, "esp");
        crate::exec::Tool::new("fsck.vfat")
            .arg("-n")
            .arg(&esp)
            .run()
            .expect("fsck.vfat finds the ESP clean");
        let booted = crate::exec::Tool::new("mtype")
            .arg("-i")
            .arg(&esp)
            .arg(esp::BOOT_PATH)
            .output()
            .expect("mtools reads the UKI back from the ESP");
        assert_eq!(booted, b"MZ a signed UKI");
        crate::exec::Tool::new("veritysetup")
            .arg("verify")
            .arg(&root)
            .arg(&hash)
            .arg(verity.root_hash())
            .args(["--no-superblock", "--hash-offset=0", "--data-blocks=300"])
            .arg(format!("--salt={}", hex::encode(&verity.params.salt)))
            .run()
            .expect("veritysetup verifies the root partition against the tree partition");
        assert!(
            verity
                .dm_table("R", "H")
                .contains(" verity 1 R H 4096 4096 300 0 sha256 ")
        );

        // Unchanged inputs: the disk is reused, not rewritten.
        let before = fs::metadata(&disk.path).unwrap().modified().unwrap();
        build(&inputs, work.path(), &boot);
        assert_eq!(
            fs::metadata(&disk.path).unwrap().modified().unwrap(),
            before
        );
        // Reproducible: built again elsewhere, later, the same bytes.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let elsewhere = tempfile::tempdir().unwrap();
        let again = build(&inputs, elsewhere.path(), &boot);
        assert!(fs::read(&again.path).unwrap() == bytes, "two builds differ");

        // qcow2: qemu-img reads back the same bytes, and two conversions are identical.
        let qcow2 = work.path().join("disk.qcow2");
        convert_qcow2(&disk.path, &qcow2).unwrap();
        let raw = work.path().join("back.img");
        crate::exec::Tool::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(&qcow2)
            .arg(&raw)
            .run()
            .unwrap();
        assert!(
            fs::read(&raw).unwrap() == bytes,
            "the qcow2 holds another disk"
        );
        let second = elsewhere.path().join("disk.qcow2");
        convert_qcow2(&again.path, &second).unwrap();
        assert!(fs::read(&qcow2).unwrap() == fs::read(&second).unwrap());
    }
}
