//! The appliance's RAUC system configuration, `/etc/rauc/system.conf`, from the A/B slots of
//! `disk::SLOTS` and the product's compatible string. Pure.
//!
//! The appliance has no writable persistent storage, so the slot status file lives on the /run
//! tmpfs and is lost at each boot: `rauc status` then knows no installed bundle's hash or time.
//! The boot state that must survive a reboot (which slot is primary, which is good) is in the
//! firmware's EFI variables (`bootloader=efi`).

use std::fmt::Write as _;

use super::disk::SlotPartitions;

/// Where the image ships the configuration; RAUC's default path.
pub const SYSTEM_CONF: &str = "/etc/rauc/system.conf";
/// The certificates bundles must be signed by: the `rauc` key role's.
pub const KEYRING: &str = "/etc/rauc/keyring.pem";
/// The handler that refuses a bundle whose version is not higher than the running policy's
/// (layers/updates).
pub const PRE_INSTALL_HANDLER: &str = "/usr/lib/appliance/rauc-pre-install";

pub struct RaucConfigInputs<'a> {
    /// `bundle::compatible(policy name)`: a bundle for another product is refused.
    pub compatible: &'a str,
    /// The disk the slots' partitions are numbered on, as the guest names it (`/dev/vda`).
    pub disk_device: &'a str,
    pub slots: &'a [SlotPartitions],
    /// Whether the image has a sealed partition (a layer seals binaries): its slot class then.
    pub sealed: bool,
    pub pre_install_handler: &'a str,
    pub keyring: &'a str,
}

/// `system.conf`: each slot a `rootfs.N` parent with its bootname, and the partitions that
/// change with it (`efi`, `verity`, `policy`, `sealed`), all raw, as children.
pub fn system_conf(inputs: &RaucConfigInputs) -> String {
    let mut text = format!(
        "[system]\n\
         compatible={}\n\
         bootloader=efi\n\
         mountprefix=/run/rauc\n\
         # No writable persistent storage: slot status lasts until the next boot.\n\
         statusfile=/run/rauc.status\n\
         \n\
         [keyring]\n\
         path={}\n\
         \n\
         [handlers]\n\
         pre-install={}\n",
        inputs.compatible, inputs.keyring, inputs.pre_install_handler
    );
    for (index, slot) in inputs.slots.iter().enumerate() {
        let device = |number: u32| format!("{}{number}", inputs.disk_device);
        let _ = write!(
            text,
            "\n[slot.rootfs.{index}]\ndevice={}\ntype=raw\nbootname={}\n",
            device(slot.root),
            slot.bootname
        );
        let mut children = vec![
            ("efi", slot.esp),
            ("verity", slot.verity),
            ("policy", slot.policy),
        ];
        if inputs.sealed {
            children.push(("sealed", slot.sealed));
        }
        for (class, number) in children {
            let _ = write!(
                text,
                "\n[slot.{class}.{index}]\ndevice={}\ntype=raw\nparent=rootfs.{index}\n",
                device(number)
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::disk::SLOTS;

    fn inputs(sealed: bool) -> RaucConfigInputs<'static> {
        RaucConfigInputs {
            compatible: "ipe-appliance-firewall",
            disk_device: "/dev/vda",
            slots: &SLOTS,
            sealed,
            pre_install_handler: PRE_INSTALL_HANDLER,
            keyring: KEYRING,
        }
    }

    #[test]
    fn each_slot_is_a_rootfs_parent_with_its_partitions_as_children() {
        let text = system_conf(&inputs(true));
        assert!(text.starts_with(
            "[system]\ncompatible=ipe-appliance-firewall\nbootloader=efi\nmountprefix=/run/rauc\n"
        ));
        assert!(text.contains("\n[keyring]\npath=/etc/rauc/keyring.pem\n"));
        assert!(text.contains("\n[handlers]\npre-install=/usr/lib/appliance/rauc-pre-install\n"));
        assert!(text.contains("\n[slot.rootfs.0]\ndevice=/dev/vda2\ntype=raw\nbootname=A\n"));
        assert!(text.contains("\n[slot.rootfs.1]\ndevice=/dev/vda7\ntype=raw\nbootname=B\n"));
        for (class, a, b) in [
            ("efi", 1, 6),
            ("verity", 3, 8),
            ("policy", 4, 9),
            ("sealed", 5, 10),
        ] {
            for (index, number) in [(0, a), (1, b)] {
                let section = format!(
                    "\n[slot.{class}.{index}]\ndevice=/dev/vda{number}\ntype=raw\nparent=rootfs.{index}\n"
                );
                assert!(text.contains(&section), "{section} missing from\n{text}");
            }
        }
        // The status file must be somewhere writable: the root is read-only.
        let statusfile = text.lines().find(|l| l.starts_with("statusfile=")).unwrap();
        assert!(statusfile.starts_with("statusfile=/run/"), "{statusfile}");
    }

    #[test]
    fn without_a_sealed_partition_there_is_no_sealed_class() {
        let text = system_conf(&inputs(false));
        assert!(!text.contains("sealed"), "{text}");
        assert_eq!(text.matches("[slot.").count(), 8);
        assert_eq!(system_conf(&inputs(true)).matches("[slot.").count(), 10);
    }
}
