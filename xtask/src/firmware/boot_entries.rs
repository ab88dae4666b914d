//! The firmware's boot entries for the A/B slots, as UEFI variables: `Boot000A` and `Boot000B`,
//! labelled with the slots' boot names (what RAUC's `efi` backend looks for in `efibootmgr`'s
//! output), each loading its slot's UKI from its slot's ESP, and `BootOrder` A then B. Each
//! entry's device path is a short-form hard-drive path (`HD(...)/File(...)`, as `efibootmgr -c`
//! writes it): the ESP by number, place and partition UUID, then the file. Written by
//! `virt-fw-vars --set-json`; built here, pure, so that tests can read the bytes.

use serde_json::json;

use crate::gpt::{Partition, Table};
use crate::stages::disk::SLOTS;
use crate::stages::esp::slot_path;

/// UEFI's global variable GUID (`EFI_GLOBAL_VARIABLE`), under which boot variables live.
pub const EFI_GLOBAL: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
/// Non-volatile, boot-service and runtime access: as the firmware writes boot variables.
const BOOT_VARIABLE_ATTRIBUTES: u32 = 0x7;
/// `LOAD_OPTION_ACTIVE`: the firmware may boot the entry.
const LOAD_OPTION_ACTIVE: u32 = 0x1;

/// A boot entry: its number, its label, the ESP that holds the program and the program's path.
#[derive(Debug, Clone)]
pub struct BootEntry {
    pub number: u16,
    pub label: String,
    pub esp: Partition,
    /// In UEFI's form, `\EFI\Linux\appliance-a.efi`.
    pub program: String,
    /// Load options for the program (UCS-2, as `efibootmgr -u` passes a command line); a UKI
    /// under Secure Boot ignores them.
    pub options: Option<String>,
}

/// The slots' entries on a disk laid out by `table`: `Boot000A` for slot A, `Boot000B` for B.
pub fn slot_entries(table: &Table) -> Vec<BootEntry> {
    SLOTS
        .iter()
        .zip(0xA..)
        .filter_map(|(slot, number)| {
            let esp = table.partitions.iter().find(|p| p.number == slot.esp)?;
            Some(BootEntry {
                number,
                label: slot.bootname.to_owned(),
                esp: esp.clone(),
                program: slot_path(slot.bootname),
                options: None,
            })
        })
        .collect()
}

impl BootEntry {
    /// The variable's name, `Boot####` in upper-case hex.
    pub fn name(&self) -> String {
        format!("Boot{:04X}", self.number)
    }

    /// The `EFI_LOAD_OPTION`: attributes, device path length, label, device path.
    pub fn load_option(&self) -> Vec<u8> {
        let path = self.device_path();
        let mut option = Vec::new();
        option.extend(LOAD_OPTION_ACTIVE.to_le_bytes());
        option.extend((path.len() as u16).to_le_bytes());
        option.extend(ucs2_with_nul(&self.label));
        option.extend(path);
        if let Some(options) = &self.options {
            option.extend(ucs2_with_nul(options));
        }
        option
    }

    /// `HD(number, GPT, partition UUID, start, size)/File(program)/End`.
    fn device_path(&self) -> Vec<u8> {
        let mut hard_drive = Vec::new();
        hard_drive.extend(self.esp.number.to_le_bytes());
        // Logical blocks of 512 bytes, the virtio disk's and the GPT's (`gpt::SECTOR`).
        hard_drive.extend(self.esp.first.to_le_bytes());
        hard_drive.extend(self.esp.sectors.to_le_bytes());
        hard_drive.extend(self.esp.guid.to_disk());
        // Partition format GPT, signature type GUID.
        hard_drive.extend([0x02, 0x02]);
        let mut path = node(0x04, 0x01, &hard_drive);
        path.extend(node(0x04, 0x04, &ucs2_with_nul(&self.program)));
        path.extend(node(0x7f, 0xff, &[]));
        path
    }
}

/// A device path node: type, subtype, length (header included), data.
fn node(kind: u8, subtype: u8, data: &[u8]) -> Vec<u8> {
    let mut node = vec![kind, subtype];
    node.extend(((4 + data.len()) as u16).to_le_bytes());
    node.extend(data);
    node
}

fn ucs2_with_nul(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The variables for `entries`, and `BootOrder` in their order, as `virt-fw-vars --set-json`
/// reads them; none at all for no entries (a store that boots the removable-media path).
pub fn variables_json(entries: &[BootEntry]) -> String {
    let variable = |name: String, data: Vec<u8>| {
        json!({
            "name": name,
            "guid": EFI_GLOBAL,
            "attr": BOOT_VARIABLE_ATTRIBUTES,
            "data": hex::encode(data),
        })
    };
    let mut variables: Vec<_> = entries
        .iter()
        .map(|entry| variable(entry.name(), entry.load_option()))
        .collect();
    let order: Vec<u8> = entries
        .iter()
        .flat_map(|entry| entry.number.to_le_bytes())
        .collect();
    if !entries.is_empty() {
        variables.push(variable("BootOrder".to_owned(), order));
    }
    json!({"version": 2, "variables": variables}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpt::Guid;

    /// The bytes `efibootmgr -c -d /dev/vda -p 1 -L A -l '\EFI\Linux\appliance-a.efi'` writes
    /// for a partition at sector 2048 of 131072 sectors, laid out by hand from UEFI 2.10,
    /// 10.3.5.1 (hard drive) and 10.3.5.4 (file path).
    #[test]
    fn a_load_option_is_laid_out_as_uefi_says() {
        let esp = Partition {
            number: 1,
            type_guid: Guid([0; 16]),
            guid: Guid::parse("00112233-4455-6677-8899-aabbccddeeff"),
            first: 2048,
            sectors: 131072,
            attributes: 0,
            name: "esp-a".into(),
        };
        let entry = BootEntry {
            number: 0xA,
            label: "A".into(),
            esp,
            program: "\\EFI\\Linux\\a.efi".into(),
            options: None,
        };
        assert_eq!(entry.name(), "Boot000A");
        let option = entry.load_option();
        let file: Vec<u8> = ucs2_with_nul("\\EFI\\Linux\\a.efi");
        let path_len = 42 + (4 + file.len()) + 4;
        let mut expected = vec![1, 0, 0, 0];
        expected.extend((path_len as u16).to_le_bytes());
        expected.extend([b'A', 0, 0, 0]);
        expected.extend([0x04, 0x01, 42, 0, 1, 0, 0, 0]);
        expected.extend(2048u64.to_le_bytes());
        expected.extend(131072u64.to_le_bytes());
        expected.extend([
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ]);
        expected.extend([0x02, 0x02]);
        expected.extend([0x04, 0x04, (4 + file.len()) as u8, 0]);
        expected.extend(&file);
        expected.extend([0x7f, 0xff, 0x04, 0x00]);
        assert_eq!(option, expected);

        let with_options = BootEntry {
            options: Some("x".into()),
            ..entry.clone()
        };
        assert_eq!(
            with_options.load_option(),
            [expected.clone(), vec![b'x', 0, 0, 0]].concat(),
            "options follow the device path"
        );
        let json: serde_json::Value = serde_json::from_str(&variables_json(&[entry])).unwrap();
        let variables = json["variables"].as_array().unwrap();
        assert_eq!(variables[0]["name"], "Boot000A");
        assert_eq!(variables[0]["data"], hex::encode(&expected));
        assert_eq!(variables[1]["name"], "BootOrder");
        assert_eq!(variables[1]["data"], "0a00");
    }
}
