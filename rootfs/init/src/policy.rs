//! Loads the signed IPE policy named on the kernel command line and activates it, replacing the
//! boot policy compiled into the kernel. `appliance.policy=NAME,DEVICE,OFFSET,LENGTH` says where
//! the build put it; the kernel checks its signature against its trusted keys.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use crate::cmdline;

pub const IPE: &str = "/sys/kernel/security/ipe";

/// The kernel command-line parameter that says where the signed policy is.
pub const PARAM: &str = "appliance.policy";

/// The kernel's ASN.1 decoder takes at most this much PKCS#7 (`lib/asn1_decoder.c`), so no longer
/// slot holds a policy it accepts; the bound also keeps a hostile LENGTH from making PID 1
/// allocate without limit, and abort.
pub const MAX_LENGTH: usize = 65535;

const EXPECTED: &str = "expected NAME,DEVICE,OFFSET,LENGTH as the build writes it";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub device: String,
    pub offset: u64,
    pub length: usize,
}

/// The slot named on the command line, if any.
pub fn parse_slot(cmdline: &[u8]) -> Option<Result<Slot, String>> {
    cmdline::value(cmdline, PARAM).map(|value| value.and_then(Slot::parse))
}

impl Slot {
    /// Parses `NAME,DEVICE,OFFSET,LENGTH`.
    pub fn parse(value: &str) -> Result<Slot, String> {
        let wrong = |problem: String| Err(format!("{PARAM}={value:?}: {problem}"));
        let fields: Vec<&str> = value.split(',').collect();
        let [name, device, offset, length] = fields[..] else {
            return wrong(format!("not 4 fields; {EXPECTED}"));
        };
        // The name becomes a path under securityfs: one plain component.
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return wrong(format!(
                "NAME {name:?} is not a policy name; expected the policy's name, with no `/` or leading `.`"
            ));
        }
        let Ok(offset) = offset.parse() else {
            return wrong(format!(
                "OFFSET {offset:?} is not a number; expected the slot's byte offset on DEVICE"
            ));
        };
        let length = match length.parse() {
            Ok(length @ 1..=MAX_LENGTH) => length,
            _ => {
                return wrong(format!(
                    "LENGTH {length:?} is not a number from 1 to {MAX_LENGTH}; expected the signed policy's size, which the kernel takes up to {MAX_LENGTH} bytes"
                ));
            }
        };
        Ok(Slot {
            name: name.to_owned(),
            device: device.to_owned(),
            offset,
            length,
        })
    }
}

fn read_slot(slot: &Slot) -> std::io::Result<Vec<u8>> {
    let mut device = File::open(&slot.device)?;
    device.seek(SeekFrom::Start(slot.offset))?;
    let mut signed = vec![0; slot.length];
    device.read_exact(&mut signed)?;
    Ok(signed)
}

/// Loads and activates the signed policy; on any failure the boot policy stays in force.
pub fn load_signed(cmdline: &[u8]) {
    let slot = match parse_slot(cmdline) {
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

    fn slot(cmdline: &[u8]) -> Result<Slot, String> {
        parse_slot(cmdline).expect("the command line names a slot")
    }

    #[test]
    fn parses_the_slot_among_other_arguments() {
        assert_eq!(
            slot(b"console=ttyS0 appliance.policy=fw,/dev/vda,8192,1500 ro"),
            Ok(Slot {
                name: "fw".into(),
                device: "/dev/vda".into(),
                offset: 8192,
                length: 1500
            })
        );
    }

    #[test]
    fn absent_or_malformed_slots() {
        assert!(parse_slot(b"console=ttyS0").is_none());
        for (cmdline, named) in [
            (&b"appliance.policy=fw,/dev/vda,8192"[..], "not 4 fields"),
            (b"appliance.policy=../x,/dev/vda,1,1", "NAME \"../x\""),
            (b"appliance.policy=fw,/dev/vda,x,1", "OFFSET \"x\""),
            (b"appliance.policy=fw,/dev/vda,1,x", "LENGTH \"x\""),
        ] {
            let error = slot(cmdline).unwrap_err();
            assert!(
                error.starts_with("appliance.policy=") && error.contains(named),
                "{error}"
            );
        }
    }

    /// It used to be accepted, and `read_slot` then panicked (`capacity overflow`) or aborted
    /// allocating LENGTH bytes: PID 1 dying panics the kernel.
    #[test]
    fn a_length_the_kernel_cannot_take_is_refused_before_allocating() {
        for length in ["0", "65536", "1099511627776", "18446744073709551615"] {
            let cmdline = format!("appliance.policy=fw,/dev/zero,0,{length}");
            let error = slot(cmdline.as_bytes()).unwrap_err();
            assert!(
                error.contains("LENGTH") && error.contains("65535"),
                "{error}"
            );
        }
        let largest = slot(b"appliance.policy=fw,/dev/zero,0,65535").unwrap();
        assert_eq!(read_slot(&largest).unwrap().len(), 65535);
    }

    /// A byte that is not UTF-8 anywhere on the line used to hide every parameter, silently.
    #[test]
    fn a_stray_byte_elsewhere_on_the_line_hides_nothing() {
        assert!(slot(b"x=\xff appliance.policy=fw,/dev/vda,1,2 y=\xa0\xc3").is_ok());
    }

    /// Both used to be taken, the first silently winning; a layer's `kernel.cmdline` comes first.
    #[test]
    fn a_slot_given_twice_is_refused() {
        let error =
            slot(b"appliance.policy=a,/dev/vda,1,1 appliance.policy=b,/dev/vda,1,1").unwrap_err();
        assert!(error.contains("given 2 times"), "{error}");
    }
}
