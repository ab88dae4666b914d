//! Stage `disk`: the device's one disk, a GPT with two A/B slots (`SLOTS`), each holding a
//! whole build: an EFI System Partition with the build's signed UKIs, the erofs root and its
//! dm-verity hash tree as Discoverable Partitions Specification types `root-x86-64` and
//! `root-x86-64-verity`, the signed-policy slot and the sealed partition (ext4 with fs-verity,
//! when a layer seals binaries) as partitions of types of our own. The factory disk holds the
//! same build in both slots; a RAUC update (`cargo xtask bundle`) rewrites the slot that is not
//! running, partition by partition, and never the partition table.
//!
//! So partition UUIDs are the product's, not the build's: derived from the product (the policy
//! name) and the slot, the same in every build, since the UKI's command line names its slot's
//! partitions by them. Each slot is sized at twice this build's root, tree and sealed
//! partition, room for the updates to grow (RAUC refuses an image larger than its slot).
//! The policy slot lies outside the verity data, since the policy names the root hash; its
//! signature, checked by the kernel, is what protects it.
//!
//! Each ESP holds both slots' UKIs (`\EFI\Linux\appliance-a.efi`, `...-b.efi`), so that the
//! two ESPs take the same image; the firmware's boot entry of a slot loads that slot's UKI from
//! that slot's ESP, and `\EFI\BOOT\BOOTX64.EFI` (the removable-media path, for a machine
//! with no boot entry yet) is slot A's. The layout is pure ([`layout`]) and known before the
//! kernel is built ([`plan`]), since the UKIs' command lines name the partitions; [`write`] then
//! copies the bytes into place on a plain file: no loop device, no mount, no root.
//!
//! Cache key: this stage's code, the root hash (which pins the data and the tree), the verity
//! parameters, the product, the signed policy, the sealed partition's sha256, the UKIs' sha256
//! and `SOURCE_DATE_EPOCH` (`disk.key`).

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
    /// The product (the policy name): the partition UUIDs derive from it.
    pub product: &'a str,
    pub verity: &'a VerityOutput,
    pub signed_policy: &'a [u8],
    /// The sealed partition's image (`sealed.img`), if a layer seals binaries.
    pub sealed: Option<&'a Path>,
}

/// What each slot's ESP boots, and the time its FAT entries carry.
pub struct BootPrograms<'a> {
    /// The signed UKI of each slot, in [`SLOTS`] order.
    pub ukis: [&'a Path; 2],
    pub source_date_epoch: u64,
}

/// The disk as built.
pub struct Disk {
    pub path: PathBuf,
    pub table: gpt::Table,
    /// The signed policy's length, which the init reads from the command line.
    pub policy_length: u64,
}

impl Disk {
    pub fn partition(&self, number: u32) -> &Partition {
        self.table
            .partitions
            .iter()
            .find(|p| p.number == number)
            .expect("the layout has every numbered partition")
    }

    /// The guest's name for a slot's sealed partition, if there is one.
    pub fn sealed_device(&self, slot: &SlotPartitions, disk_device: &str) -> Option<String> {
        self.table
            .partitions
            .iter()
            .any(|p| p.number == slot.sealed)
            .then(|| format!("{disk_device}{}", slot.sealed))
    }

    /// The kernel's arguments that open `slot`'s verity root by partition UUID, name its policy
    /// slot (on `disk_device`, the guest's name for this disk) and tell RAUC which slot booted.
    pub fn cmdline(
        &self,
        slot: &SlotPartitions,
        verity: &VerityOutput,
        policy_name: &str,
        disk_device: &str,
    ) -> Vec<String> {
        let root = format!("PARTUUID={}", self.partition(slot.root).guid);
        let hash = format!("PARTUUID={}", self.partition(slot.verity).guid);
        vec![
            format!("dm-mod.waitfor={root},{hash}"),
            format!("dm-mod.create=\"{}\"", verity.dm_table(&root, &hash)),
            policy_cmdline_arg(policy_name, disk_device, slot.policy, self.policy_length),
            format!("rauc.slot={}", slot.bootname),
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

/// The kernel command-line argument the init reads: policy name, device, offset, length.
pub fn policy_cmdline_arg(
    policy_name: &str,
    disk_device: &str,
    partition: u32,
    length: u64,
) -> String {
    format!("appliance.policy={policy_name},{disk_device}{partition},0,{length}")
}

fn align(bytes: u64) -> u64 {
    bytes.div_ceil(ALIGN) * ALIGN
}

/// A slot's room for what takes `bytes` in this build: twice as much, so updates can grow.
fn capacity(bytes: u64) -> u64 {
    align(2 * bytes)
}

/// This build's sizes, from which each slot's partitions are sized.
#[derive(Debug, Clone, Copy)]
pub struct BuildSizes {
    pub data: u64,
    pub tree: u64,
    pub sealed: Option<u64>,
}

/// The partition table of a product's A/B disk for a build's sizes. Pure.
pub fn layout(product: &str, root_hash: &[u8], sizes: BuildSizes) -> Result<gpt::Table> {
    // Stable across builds: from the product and a purpose, never from the build.
    let derived = |purpose: &str, seed: &[u8]| {
        let digest = cache::sha256_hex([purpose.as_bytes(), b"\0", seed].concat().as_slice());
        let bytes: [u8; 16] = hex::decode(&digest[..32])
            .expect("sha256_hex is hex")
            .try_into()
            .expect("16 bytes");
        Guid::v4_from(bytes)
    };
    let mut partitions = Vec::new();
    let mut next = ALIGN;
    for slot in &SLOTS {
        let letter = slot.bootname.to_lowercase();
        let uuid = |purpose: &str| {
            derived(
                &format!("appliance {purpose} partition, slot {}", slot.bootname),
                product.as_bytes(),
            )
        };
        let sealed = sizes.sealed.map(|bytes| {
            (
                slot.sealed,
                SEALED,
                uuid("sealed"),
                capacity(bytes),
                ATTR_READ_ONLY,
                format!("appliance-sealed-{letter}"),
            )
        });
        for (number, type_guid, guid, bytes, attributes, name) in [
            (
                slot.esp,
                ESP,
                uuid("esp"),
                ESP_BYTES,
                0,
                format!("esp-{letter}"),
            ),
            (
                slot.root,
                ROOT_X86_64,
                uuid("root"),
                capacity(sizes.data),
                ATTR_READ_ONLY,
                format!("root-x86-64-{letter}"),
            ),
            (
                slot.verity,
                ROOT_X86_64_VERITY,
                uuid("root verity"),
                capacity(sizes.tree),
                ATTR_READ_ONLY,
                format!("root-x86-64-verity-{letter}"),
            ),
            (
                slot.policy,
                POLICY_SLOT,
                uuid("policy slot"),
                POLICY_SLOT_BYTES,
                0,
                format!("appliance-policy-{letter}"),
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
    }
    Ok(gpt::Table {
        disk_guid: derived("appliance disk", root_hash),
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
    let sizes = BuildSizes {
        data: data_bytes,
        tree: (tree.end - tree.start).div_ceil(SECTOR) * SECTOR,
        sealed: match inputs.sealed {
            Some(path) => Some(
                fs::metadata(path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .len(),
            ),
            None => None,
        },
    };
    let table = layout(inputs.product, verity.formatted.root_hash.as_ref(), sizes)?;
    Ok(Disk {
        path: work_dir.join("disk.img"),
        policy_length: inputs.signed_policy.len() as u64,
        table,
    })
}

/// Writes the planned `disk`, the build in both slots, or keeps it when its key is unchanged.
pub fn write(disk: &Disk, inputs: &DiskInputs, boot: &BootPrograms) -> Result<()> {
    let verity = inputs.verity;
    let work_dir = disk.path.parent().context("the disk has a folder")?;
    let mut key = KeyHasher::default();
    key.input("code", super::stage_sources::DISK)
        .input("verity", verity.summary().to_string())
        .input("product", inputs.product)
        .input("signed policy", inputs.signed_policy)
        .input(
            "sealed",
            match inputs.sealed {
                Some(path) => cache::sha256_file(path)?,
                None => "none".to_owned(),
            },
        )
        .input("source date epoch", boot.source_date_epoch.to_string());
    for uki in boot.ukis {
        key.input("boot program", cache::sha256_file(uki)?);
    }
    let key = key.finish();
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
    let scratch = tempfile::Builder::new()
        .prefix(".esp.tmp")
        .tempdir_in(work_dir)?;
    let esp_image = scratch.path().join("esp.img");
    esp::make(
        &esp_image,
        &esp::volume_id(verity.formatted.root_hash.as_ref()),
    )?;
    let ukis: Vec<(&str, &Path)> = SLOTS
        .iter()
        .map(|slot| slot.bootname)
        .zip(boot.ukis)
        .collect();
    esp::install_boot_programs(&esp_image, &ukis, boot.source_date_epoch)?;
    let mut esp_image = fs::File::open(&esp_image)?;
    let mut source = fs::File::open(&verity.disk)
        .with_context(|| format!("opening {}", verity.disk.display()))?;
    let mut sealed = match inputs.sealed {
        Some(path) => {
            let file =
                fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let len = file.metadata()?.len();
            Some((file, len))
        }
        None => None,
    };
    for slot in &SLOTS {
        copy_range(&mut esp_image, 0, ESP_BYTES, &mut file, start(slot.esp))?;
        copy_range(&mut source, 0, data_bytes, &mut file, start(slot.root))?;
        copy_range(
            &mut source,
            tree.start,
            tree.end - tree.start,
            &mut file,
            start(slot.verity),
        )?;
        file.seek(SeekFrom::Start(start(slot.policy)))?;
        file.write_all(inputs.signed_policy)?;
        if let Some((sealed, len)) = &mut sealed {
            copy_range(sealed, 0, *len, &mut file, start(slot.sealed))?;
        }
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
    fn build(inputs: &DiskInputs, dir: &Path, boot: &BootPrograms) -> Disk {
        let disk = plan(inputs, dir).unwrap();
        write(&disk, inputs, boot).unwrap();
        disk
    }

    const HASH: &str = "6f2e6796c28b71a52367906677f2a4626eee255286fc59c6494df359b4310ec0";

    fn sizes(data: u64) -> BuildSizes {
        BuildSizes {
            data,
            tree: 4096,
            sealed: None,
        }
    }

    /// The UKI of a build names its slot's partitions by UUID, and an update does not rewrite
    /// the partition table: the UUIDs are the product's and the slot's, in every build.
    #[test]
    fn partition_uuids_are_the_products_and_the_slots_not_the_builds() {
        let hash = hex::decode(HASH).unwrap();
        let table = layout("firewall", &hash, sizes(10 * 4096)).unwrap();
        let by_number = |table: &gpt::Table, n| {
            table
                .partitions
                .iter()
                .find(|p| p.number == n)
                .unwrap()
                .clone()
        };
        let other_build = layout("firewall", &[7; 32], sizes(12 * 4096)).unwrap();
        let other_product = layout("router", &hash, sizes(10 * 4096)).unwrap();
        let numbers: Vec<u32> = SLOTS
            .iter()
            .flat_map(|s| [s.esp, s.root, s.verity, s.policy])
            .collect();
        for &n in &numbers {
            let uuid = by_number(&table, n).guid;
            assert_eq!(uuid, by_number(&other_build, n).guid, "partition {n}");
            assert_ne!(uuid, by_number(&other_product, n).guid, "partition {n}");
        }
        let mut uuids: Vec<Guid> = table.partitions.iter().map(|p| p.guid).collect();
        uuids.sort_by_key(|g| g.0);
        uuids.dedup();
        assert_eq!(
            uuids.len(),
            numbers.len(),
            "every partition has its own UUID"
        );
        assert!(table.partitions.iter().all(|p| p.first % 2048 == 0));
        assert_eq!(by_number(&table, POLICY_NUMBER).sectors, 128);
        assert_eq!(
            by_number(&table, ESP_NUMBER).first * SECTOR,
            ESP_START,
            "the ESP comes first"
        );
        // Room to grow: twice the build's root, on MiB boundaries.
        assert_eq!(by_number(&table, SLOTS[1].root).sectors * SECTOR, ALIGN);
        let again = layout("firewall", &hash, sizes(10 * 4096)).unwrap();
        assert_eq!(again.disk_guid, table.disk_guid);
        assert_eq!(again.partitions, table.partitions);
    }

    #[test]
    fn each_slots_command_line_names_its_own_partitions_and_boot_name() {
        let work = tempfile::tempdir().unwrap();
        let rootfs = work.path().join("rootfs");
        fs::write(&rootfs, vec![1; 8 * 4096]).unwrap();
        let verity = super::super::verity::build(&rootfs, "key", work.path()).unwrap();
        let inputs = DiskInputs {
            product: "fw",
            verity: &verity,
            signed_policy: b"signed",
            sealed: None,
        };
        let disk = plan(&inputs, work.path()).unwrap();
        let [a, b] = SLOTS.map(|slot| disk.cmdline(&slot, &verity, "fw", "/dev/vda").join(" "));
        assert!(a.contains("appliance.policy=fw,/dev/vda4,0,6"), "{a}");
        assert!(b.contains("appliance.policy=fw,/dev/vda9,0,6"), "{b}");
        assert!(a.ends_with(" rauc.slot=A") && b.ends_with(" rauc.slot=B"));
        let root_b = format!("PARTUUID={}", disk.partition(SLOTS[1].root).guid);
        assert!(b.contains(&root_b) && !a.contains(&root_b));
        assert_eq!(disk.sealed_device(&SLOTS[1], "/dev/vda"), None);
    }

    /// A whole disk from a real verity output: each partition of both slots holds what it
    /// should, sfdisk reads the table, and veritysetup verifies each root partition against its
    /// tree partition with the table's hash start (0).
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
            product: "fw",
            verity: &verity,
            signed_policy: b"signed",
            sealed: Some(&sealed),
        };
        let efi_app = work.path().join("uki-a.efi");
        fs::write(&efi_app, b"MZ a signed UKI").unwrap();
        let efi_app_b = work.path().join("uki-b.efi");
        fs::write(&efi_app_b, b"MZ slot B's UKI").unwrap();
        let boot = BootPrograms {
            ukis: [&efi_app, &efi_app_b],
            source_date_epoch: 0,
        };
        let disk = build(&inputs, work.path(), &boot);
        let bytes = fs::read(&disk.path).unwrap();
        let at = |n| (disk.partition(n).first * SECTOR) as usize;
        let (data_bytes, tree) = verity.layout();
        let verity_image = fs::read(&verity.disk).unwrap();
        let tree_bytes = &verity_image[tree.start as usize..tree.end as usize];
        for slot in &SLOTS {
            assert_eq!(&bytes[at(slot.root)..][..data.len()], &data[..]);
            assert_eq!(&bytes[at(slot.verity)..][..tree_bytes.len()], tree_bytes);
            assert_eq!(&bytes[at(slot.policy)..][..6], b"signed");
            assert_eq!(&bytes[at(slot.sealed)..][..3 * 4096], &[0x5e; 3 * 4096][..]);
            assert_eq!(
                &bytes[at(slot.esp)..][..ESP_BYTES as usize],
                &bytes[at(ESP_NUMBER)..][..ESP_BYTES as usize],
                "both ESPs take the same image"
            );
        }
        assert_eq!(
            disk.sealed_device(&SLOTS[1], "/dev/vda").unwrap(),
            "/dev/vda10"
        );
        assert_eq!(data_bytes, data.len() as u64);

        let json = crate::exec::Tool::new("sfdisk")
            .arg("--json")
            .arg(&disk.path)
            .output()
            .expect("sfdisk (util-linux's fdisk package) reads the disk");
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let parts = json["partitiontable"]["partitions"].as_array().unwrap();
        let types: Vec<_> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        let slot_types = [ESP, ROOT_X86_64, ROOT_X86_64_VERITY, POLICY_SLOT, SEALED]
            .map(|guid| guid.to_string().to_uppercase());
        assert_eq!(types, [slot_types.clone(), slot_types].concat());

        let part = |n: u32, name: &str| {
            let path = work.path().join(name);
            let p = disk.partition(n);
            let start = (p.first * SECTOR) as usize;
            fs::write(&path, &bytes[start..start + (p.sectors * SECTOR) as usize]).unwrap();
            path
        };
        let root = part(ROOT_NUMBER, "root");
        let hash = part(VERITY_NUMBER, "hash");
        let esp = part(SLOTS[1].esp, "esp");
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
