//! Loads the signed IPE policy named on the kernel command line and activates it, replacing the
//! boot policy compiled into the kernel. `appliance.policy=NAME,DEVICE,OFFSET,LENGTH` says where
//! the build put it; the kernel checks its signature against its trusted keys.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

pub const IPE: &str = "/sys/kernel/security/ipe";

struct Slot {
    name: String,
    device: String,
    offset: u64,
    length: usize,
}

fn parse_slot(cmdline: &str) -> Option<Result<Slot, String>> {
    let value = cmdline
        .split_whitespace()
        .find_map(|word| word.strip_prefix("appliance.policy="))?;
    let fields: Vec<&str> = value.split(',').collect();
    let [name, device, offset, length] = fields[..] else {
        return Some(Err(format!(
            "appliance.policy={value}: expected NAME,DEVICE,OFFSET,LENGTH"
        )));
    };
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Some(Err(format!(
            "appliance.policy: `{name}` is not a policy name"
        )));
    }
    Some(match (offset.parse(), length.parse()) {
        (Ok(offset), Ok(length)) => Ok(Slot {
            name: name.to_owned(),
            device: device.to_owned(),
            offset,
            length,
        }),
        _ => Err(format!(
            "appliance.policy={value}: OFFSET and LENGTH must be numbers"
        )),
    })
}

fn read_slot(slot: &Slot) -> std::io::Result<Vec<u8>> {
    let mut device = File::open(&slot.device)?;
    device.seek(SeekFrom::Start(slot.offset))?;
    let mut signed = vec![0; slot.length];
    device.read_exact(&mut signed)?;
    Ok(signed)
}

/// Loads and activates the signed policy; on any failure the boot policy stays in force.
pub fn load_signed() {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let slot = match parse_slot(&cmdline) {
        None => return,
        Some(Err(error)) => return say!("init: {error}; the boot policy stays active"),
        Some(Ok(slot)) => slot,
    };
    let signed = match read_slot(&slot) {
        Ok(signed) => signed,
        Err(error) => {
            return say!(
                "init: reading the signed policy from {}: {error}; the boot policy stays active",
                slot.device
            );
        }
    };
    // One write: IPE parses each write to new_policy as a whole policy.
    if let Err(error) = std::fs::write(format!("{IPE}/new_policy"), &signed) {
        return say!(
            "init: the kernel refused the signed policy {}: {error}; the boot policy stays active",
            slot.name
        );
    }
    match std::fs::write(format!("{IPE}/policies/{}/active", slot.name), "1") {
        Ok(()) => say!("init: activated the signed policy {}", slot.name),
        Err(error) => say!(
            "init: activating the signed policy {}: {error}; the boot policy stays active",
            slot.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_slot_among_other_arguments() {
        let slot = parse_slot("console=ttyS0 appliance.policy=fw,/dev/vda,8192,1500 ro")
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                slot.name.as_str(),
                slot.device.as_str(),
                slot.offset,
                slot.length
            ),
            ("fw", "/dev/vda", 8192, 1500)
        );
    }

    #[test]
    fn absent_or_malformed_slots() {
        assert!(parse_slot("console=ttyS0").is_none());
        assert!(
            parse_slot("appliance.policy=fw,/dev/vda,8192")
                .unwrap()
                .is_err()
        );
        assert!(
            parse_slot("appliance.policy=../x,/dev/vda,1,1")
                .unwrap()
                .is_err()
        );
        assert!(
            parse_slot("appliance.policy=fw,/dev/vda,x,1")
                .unwrap()
                .is_err()
        );
    }
}
