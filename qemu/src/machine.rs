//! The QEMU command line for an appliance. Pure.

use std::net::SocketAddrV4;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation: slower, but works everywhere.
    Tcg,
    Kvm,
}

#[derive(Debug, Clone)]
pub struct Machine {
    /// Booted directly (`-kernel`, with `cmdline` and `initrd`), unless `firmware` is set.
    pub kernel: PathBuf,
    /// Attached as virtio disks in order: /dev/vda, /dev/vdb, ...; read-only unless
    /// `first_disk_writable`.
    pub disks: Vec<PathBuf>,
    /// The first disk is the device's own and takes writes: updates rewrite its other slot.
    /// Otherwise every disk is read-only, and several guests may share one.
    pub first_disk_writable: bool,
    pub cmdline: String,
    /// An initramfs (`-initrd`), unpacked by the kernel before it looks for a root.
    pub initrd: Option<PathBuf>,
    pub memory_mib: u32,
    pub accel: Accel,
    /// A virtio NIC on QEMU's user-mode network, or none.
    pub network: Option<UserNetwork>,
    /// UEFI firmware instead of direct kernel boot: it starts `\EFI\BOOT\BOOTX64.EFI` from the
    /// ESP of the first disk, and `kernel`, `cmdline` and `initrd` are not passed.
    pub firmware: Option<UefiFirmware>,
}

/// OVMF with Secure Boot: its code (read-only) and a variable store the guest may write, so
/// each run wants its own copy of the store. The code needs SMM, which protects the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UefiFirmware {
    /// For example `/usr/share/OVMF/OVMF_CODE_4M.secboot.fd`.
    pub code: PathBuf,
    /// This run's copy of a variable store of the same size as the code's template.
    pub vars: PathBuf,
}

impl UefiFirmware {
    fn args(&self) -> Vec<String> {
        vec![
            "-global".to_owned(),
            "driver=cfi.pflash01,property=secure,value=on".to_owned(),
            // edk2's OvmfPkg/README recommends it with SMM: no S3 resume path to attack.
            "-global".to_owned(),
            "ICH9-LPC.disable_s3=1".to_owned(),
            "-drive".to_owned(),
            format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                self.code.display()
            ),
            "-drive".to_owned(),
            format!("if=pflash,format=raw,unit=1,file={}", self.vars.display()),
        ]
    }
}

/// QEMU's user-mode network (slirp): rootless, the guest at 10.0.2.15 behind a NAT, 10.0.2.2
/// the host. `restrict=on`: the guest reaches nothing outside; only the forwards reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserNetwork {
    /// TCP forwards from a host address to a guest port.
    pub forwards: Vec<(SocketAddrV4, u16)>,
}

impl UserNetwork {
    fn nic_arg(&self) -> String {
        let mut arg = "user,model=virtio-net-pci,restrict=on".to_owned();
        for (host, guest_port) in &self.forwards {
            arg.push_str(&format!(
                ",hostfwd=tcp:{}:{}-:{guest_port}",
                host.ip(),
                host.port()
            ));
        }
        arg
    }
}

pub const QEMU: &str = "qemu-system-x86_64";

impl Machine {
    fn common_args(&self) -> Vec<String> {
        let mut args = vec![
            "-machine".to_owned(),
            match self.firmware {
                Some(_) => "q35,smm=on".to_owned(),
                None => "q35".to_owned(),
            },
            "-accel".to_owned(),
            match self.accel {
                Accel::Tcg => "tcg".to_owned(),
                Accel::Kvm => "kvm".to_owned(),
            },
            "-m".to_owned(),
            self.memory_mib.to_string(),
            "-nodefaults".to_owned(),
            "-no-reboot".to_owned(),
            "-display".to_owned(),
            "none".to_owned(),
        ];
        match &self.firmware {
            Some(firmware) => args.extend(firmware.args()),
            None => {
                args.extend([
                    "-kernel".to_owned(),
                    self.kernel.display().to_string(),
                    "-append".to_owned(),
                    self.cmdline.clone(),
                ]);
                if let Some(initrd) = &self.initrd {
                    args.extend(["-initrd".to_owned(), initrd.display().to_string()]);
                }
            }
        }
        if self.accel == Accel::Kvm {
            args.extend(["-cpu".to_owned(), "host".to_owned()]);
        }
        if let Some(network) = &self.network {
            args.extend(["-nic".to_owned(), network.nic_arg()]);
        }
        for (index, disk) in self.disks.iter().enumerate() {
            let access = if index == 0 && self.first_disk_writable {
                ""
            } else {
                ",readonly=on"
            };
            args.extend([
                "-drive".to_owned(),
                format!("file={},format=raw,if=virtio{access}", disk.display()),
            ]);
        }
        args
    }

    /// Serial console and QEMU monitor multiplexed on the terminal: Ctrl-A X quits.
    pub fn interactive_args(&self) -> Vec<String> {
        let mut args = self.common_args();
        args.extend(["-serial".to_owned(), "mon:stdio".to_owned()]);
        args
    }

    /// Serial console on stdin/stdout, no monitor, for a program to drive.
    pub fn headless_args(&self) -> Vec<String> {
        let mut args = self.common_args();
        args.extend([
            "-monitor".to_owned(),
            "none".to_owned(),
            "-serial".to_owned(),
            "stdio".to_owned(),
        ]);
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(accel: Accel) -> Machine {
        Machine {
            kernel: "bzImage".into(),
            disks: vec!["disk.img".into()],
            first_disk_writable: false,
            cmdline: "console=ttyS0 root=/dev/dm-0".into(),
            initrd: None,
            memory_mib: 256,
            accel,
            network: None,
            firmware: None,
        }
    }

    #[test]
    fn uefi_firmware_replaces_direct_kernel_boot() {
        let mut uefi = machine(Accel::Tcg);
        uefi.initrd = Some("initrd".into());
        uefi.firmware = Some(UefiFirmware {
            code: "code.fd".into(),
            vars: "run/vars.fd".into(),
        });
        let args = uefi.headless_args();
        let joined = args.join(" ");
        assert!(joined.starts_with("-machine q35,smm=on "), "{joined}");
        assert!(joined.contains("-global driver=cfi.pflash01,property=secure,value=on"));
        assert!(joined.contains("-drive if=pflash,format=raw,unit=0,readonly=on,file=code.fd"));
        assert!(joined.contains("-drive if=pflash,format=raw,unit=1,file=run/vars.fd "));
        for direct in ["-kernel", "-append", "-initrd"] {
            assert!(!args.contains(&direct.to_owned()), "{direct} in {joined}");
        }
        assert!(joined.contains("file=disk.img,format=raw,if=virtio,readonly=on"));
        let direct = machine(Accel::Tcg).headless_args().join(" ");
        assert!(direct.starts_with("-machine q35 ") && !direct.contains("pflash"));
    }

    #[test]
    fn forwards_reach_the_guest_through_a_restricted_user_network() {
        let mut with_network = machine(Accel::Tcg);
        with_network.network = Some(UserNetwork {
            forwards: vec![("127.0.0.1:8080".parse().unwrap(), 80)],
        });
        let args = with_network.headless_args();
        let at = args.iter().position(|a| a == "-nic").unwrap();
        assert_eq!(
            args[at + 1],
            "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80"
        );
        assert!(
            !machine(Accel::Tcg)
                .headless_args()
                .contains(&"-nic".to_owned())
        );
    }

    #[test]
    fn headless_guests_have_no_monitor_and_read_only_disks() {
        let args = machine(Accel::Tcg).headless_args().join(" ");
        assert!(args.contains("-accel tcg"));
        assert!(args.contains("-monitor none -serial stdio"));
        assert!(args.contains("file=disk.img,format=raw,if=virtio,readonly=on"));
        assert!(!args.contains("-cpu host"));
    }

    #[test]
    fn the_command_line_is_one_argument() {
        let args = machine(Accel::Kvm).interactive_args();
        let at = args.iter().position(|a| a == "-append").unwrap();
        assert_eq!(args[at + 1], "console=ttyS0 root=/dev/dm-0");
        assert!(args.join(" ").contains("-cpu host"));
        assert!(args.join(" ").ends_with("-serial mon:stdio"));
    }
}
