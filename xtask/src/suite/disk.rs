//! `disk.img` judged by tools that are not ours: util-linux's `sfdisk` reads its GPT, and
//! systemd's `systemd-dissect` (252, Debian's systemd-container) finds the root and its verity
//! partition by the Discoverable Partitions Specification, given only the root hash. The
//! expected UUIDs are derived here from the root hash, not taken from the build's layout.

use crate::exec::Tool;
use crate::stages::image::Image;

const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const ROOT_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
const ROOT_X86_64_VERITY: &str = "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5";
const POLICY_SLOT: &str = "94A5469A-6030-4FB7-9C71-4E30AF789B34";
const SEALED: &str = "199C1540-FE2F-474A-9BAB-9F6561596703";

/// `hex` (32 hex digits) as a UUID's text.
fn uuid(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The DPS rule, as systemd-repart applies it: root = the first 128 bits of the root hash,
/// verity = the last 128 bits, verbatim.
fn expected_uuids(image: &Image) -> (String, String) {
    let hash = image.verity.root_hash();
    (uuid(&hash[..32]), uuid(&hash[hash.len() - 32..]))
}

fn json(tool: Tool, what: &str) -> Result<serde_json::Value, String> {
    let out = tool.output().map_err(|error| format!("{error:#}"))?;
    serde_json::from_slice(&out).map_err(|error| format!("{what} printed no JSON: {error}"))
}

/// `sfdisk --json disk.img`: a GPT with the ESP, root, root-verity, the policy slot and (when a
/// layer seals binaries) the sealed partition, by type, UUID and label.
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
    let (root, verity) = expected_uuids(image);
    let sealed = image
        .sealed
        .as_ref()
        .map(|_| (SEALED, None, "appliance-sealed"));
    for (kind, uuid, name) in [
        (ESP, None, "esp"),
        (ROOT_X86_64, Some(root.to_uppercase()), "root-x86-64"),
        (
            ROOT_X86_64_VERITY,
            Some(verity.to_uppercase()),
            "root-x86-64-verity",
        ),
        (POLICY_SLOT, None, "appliance-policy"),
    ]
    .into_iter()
    .chain(sealed)
    {
        let found = partitions
            .iter()
            .find(|p| p["type"] == kind)
            .ok_or_else(|| {
                format!("sfdisk finds no partition of type {kind} ({name}): {partitions:?}")
            })?;
        if uuid
            .as_ref()
            .is_some_and(|uuid| found["uuid"] != uuid.as_str())
            || found["name"] != name
        {
            return Err(format!(
                "the {name} partition has UUID {} and label {}; expected {uuid:?} and {name}",
                found["uuid"], found["name"]
            ));
        }
    }
    Ok(())
}

/// `systemd-dissect --root-hash=HEX disk.img` finds the root (erofs, verity yes), the
/// root-verity partition and the ESP (vfat). It needs a loop device, so root: the suite runs
/// as root.
pub fn systemd_dissect_finds_root_and_verity(image: &Image) -> Result<(), String> {
    let dissected = json(
        Tool::new("systemd-dissect")
            .args(["--json=short", "--read-only"])
            .arg(format!("--root-hash={}", image.verity.root_hash()))
            .arg(&image.boot.disk),
        "systemd-dissect",
    )?;
    let mounts = dissected["mounts"].as_array().cloned().unwrap_or_default();
    let (root, verity) = expected_uuids(image);
    let find = |designator: &str| {
        mounts
            .iter()
            .find(|m| m["designator"] == designator)
            .ok_or_else(|| format!("systemd-dissect finds no {designator}: {dissected}"))
    };
    let found = find("root")?;
    if found["partition_uuid"] != root.as_str()
        || found["fstype"] != "erofs"
        || found["verity"] != "yes"
    {
        return Err(format!(
            "systemd-dissect's root is not the erofs {root} with verity: {found}"
        ));
    }
    let found = find("root-verity")?;
    if found["partition_uuid"] != verity.as_str() {
        return Err(format!(
            "systemd-dissect's root-verity is not {verity}: {found}"
        ));
    }
    let found = find("esp")?;
    if found["fstype"] != "vfat" {
        return Err(format!("systemd-dissect's ESP is not vfat: {found}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_the_hash_split_8_4_4_4_12() {
        assert_eq!(
            uuid("6f2e6796c28b71a52367906677f2a462"),
            "6f2e6796-c28b-71a5-2367-906677f2a462"
        );
    }
}
