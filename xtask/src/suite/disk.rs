//! `disk.img` judged by tools that are not ours: util-linux's `sfdisk` reads its GPT with both
//! A/B slots, and systemd's `systemd-dissect` (252, Debian's systemd-container) finds a root and
//! the ESP by the Discoverable Partitions Specification's types. The partition UUIDs are the
//! product's and the slot's (a RAUC update rewrites partitions, never the table), so DPS's
//! root-hash UUIDs, and `systemd-dissect --root-hash`, do not apply: the signed UKI carries
//! the dm-verity table instead.

use crate::exec::Tool;
use crate::stages::disk::SLOTS;
use crate::stages::image::Image;

const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
const ROOT_X86_64_VERITY: &str = "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5";
const POLICY_SLOT: &str = "94A5469A-6030-4FB7-9C71-4E30AF789B34";
const SEALED: &str = "199C1540-FE2F-474A-9BAB-9F6561596703";

fn json(tool: Tool, what: &str) -> Result<serde_json::Value, String> {
    let out = tool.output().map_err(|error| format!("{error:#}"))?;
    serde_json::from_slice(&out).map_err(|error| format!("{what} printed no JSON: {error}"))
}

/// `sfdisk --json disk.img`: a GPT with, for each slot, the ESP, root, root-verity, the policy
/// slot and (when a layer seals binaries) the sealed partition, by number, type and label.
pub fn sfdisk_reads_the_partitions(image: &Image) -> Result<(), String> {
    let disk = &image.boot.disk;
    let table = json(Tool::new("sfdisk").arg("--json").arg(disk), "sfdisk")?;
    let table = &table["partitiontable"];
    if table["label"] != "gpt" {
        return Err(format!(
            "sfdisk reads no GPT on {}: {table}",
            disk.display()
        ));
    }
    let partitions = table["partitions"].as_array().cloned().unwrap_or_default();
    for slot in &SLOTS {
        let letter = slot.bootname.to_lowercase();
        let sealed = image
            .sealed
            .as_ref()
            .map(|_| (slot.sealed, SEALED, "appliance-sealed"));
        for (number, kind, name) in [
            (slot.esp, ESP, "esp"),
            (slot.root, ROOT_X86_64, "root-x86-64"),
            (slot.verity, ROOT_X86_64_VERITY, "root-x86-64-verity"),
            (slot.policy, POLICY_SLOT, "appliance-policy"),
        ]
        .into_iter()
        .chain(sealed)
        {
            let node = format!("{}{number}", disk.display());
            let label = format!("{name}-{letter}");
            let found = partitions
                .iter()
                .find(|p| p["node"] == node.as_str())
                .ok_or_else(|| format!("sfdisk finds no partition {number}: {partitions:?}"))?;
            if found["type"] != kind || found["name"] != label.as_str() {
                return Err(format!(
                    "partition {number} has type {} and label {}; expected {kind} and {label}",
                    found["type"], found["name"]
                ));
            }
        }
    }
    Ok(())
}

/// `systemd-dissect disk.img` finds an erofs root and the ESP (vfat) by their DPS types. It
/// needs a loop device, so root: the suite runs as root.
pub fn systemd_dissect_finds_root_and_esp(image: &Image) -> Result<(), String> {
    let dissected = json(
        Tool::new("systemd-dissect")
            .args(["--json=short", "--read-only"])
            .arg(&image.boot.disk),
        "systemd-dissect",
    )?;
    let mounts = dissected["mounts"].as_array().cloned().unwrap_or_default();
    let find = |designator: &str| {
        mounts
            .iter()
            .find(|m| m["designator"] == designator)
            .ok_or_else(|| format!("systemd-dissect finds no {designator}: {dissected}"))
    };
    let found = find("root")?;
    if found["fstype"] != "erofs" {
        return Err(format!("systemd-dissect's root is not erofs: {found}"));
    }
    let found = find("esp")?;
    if found["fstype"] != "vfat" {
        return Err(format!("systemd-dissect's ESP is not vfat: {found}"));
    }
    Ok(())
}
