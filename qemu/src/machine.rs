//! The QEMU command line for an appliance. Pure.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation: slower, but works everywhere.
    Tcg,
    Kvm,
}

#[derive(Debug, Clone)]
pub struct Machine {
    pub kernel: PathBuf,
    /// Attached as virtio disks in order: /dev/vda, /dev/vdb, ...
    pub disks: Vec<PathBuf>,
    pub cmdline: String,
    /// An initramfs (`-initrd`), unpacked by the kernel before it looks for a root.
    pub initrd: Option<PathBuf>,
    pub memory_mib: u32,
    pub accel: Accel,
}

pub const QEMU: &str = "qemu-system-x86_64";

impl Machine {
    fn common_args(&self) -> Vec<String> {
        let mut args = vec![
            "-machine".to_owned(),
            "q35".to_owned(),
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
            "-kernel".to_owned(),
            self.kernel.display().to_string(),
            "-append".to_owned(),
            self.cmdline.clone(),
        ];
        if self.accel == Accel::Kvm {
            args.extend(["-cpu".to_owned(), "host".to_owned()]);
        }
        if let Some(initrd) = &self.initrd {
            args.extend(["-initrd".to_owned(), initrd.display().to_string()]);
        }
        for disk in &self.disks {
            // Read-only: the appliance never writes its images, and several guests may share one.
            args.extend([
                "-drive".to_owned(),
                format!("file={},format=raw,if=virtio,readonly=on", disk.display()),
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
            cmdline: "console=ttyS0 root=/dev/dm-0".into(),
            initrd: None,
            memory_mib: 256,
            accel,
        }
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
