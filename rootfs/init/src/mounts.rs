//! The pseudo filesystems every service expects.

use std::ffi::CStr;

use rustix::mount::{MountFlags, mount};

struct Mount {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MountFlags,
    data: &'static CStr,
    /// Skipped without a word where the mount point does not exist: the kernel makes
    /// `/sys/firmware/efi` only when the machine booted through UEFI.
    only_if_present: bool,
}

const NOSUID_NODEV_NOEXEC: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);

const MOUNTS: &[Mount] = &[
    Mount {
        source: "proc",
        target: "/proc",
        fstype: "proc",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
        only_if_present: false,
    },
    Mount {
        source: "sysfs",
        target: "/sys",
        fstype: "sysfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
        only_if_present: false,
    },
    Mount {
        source: "securityfs",
        target: "/sys/kernel/security",
        fstype: "securityfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
        only_if_present: false,
    },
    // The firmware's variables, writable: RAUC's efi backend sets BootNext and BootOrder through
    // efibootmgr. A direct kernel boot (no UEFI) has no /sys/firmware/efi.
    Mount {
        source: "efivarfs",
        target: "/sys/firmware/efi/efivars",
        fstype: "efivarfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
        only_if_present: true,
    },
    // The kernel mounts devtmpfs itself (DEVTMPFS_MOUNT); this covers kernels that do not.
    Mount {
        source: "devtmpfs",
        target: "/dev",
        fstype: "devtmpfs",
        flags: MountFlags::NOSUID,
        data: c"mode=0755",
        only_if_present: false,
    },
    // Writable scratch space. It is not mounted noexec, on purpose: IPE, not a mount flag,
    // is what stops code copied here from running.
    Mount {
        source: "tmpfs",
        target: "/tmp",
        fstype: "tmpfs",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        data: c"mode=1777",
        only_if_present: false,
    },
    Mount {
        source: "tmpfs",
        target: "/run",
        fstype: "tmpfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"mode=0755",
        only_if_present: false,
    },
];

pub fn mount_all() {
    for m in MOUNTS {
        match mount(m.source, m.target, m.fstype, m.flags, m.data) {
            Ok(()) => {}
            // Already mounted, as /dev is by the kernel.
            Err(rustix::io::Errno::BUSY) => {}
            Err(rustix::io::Errno::NOENT) if m.only_if_present => {}
            Err(error) => say!("init: mounting {} on {}: {error}", m.fstype, m.target),
        }
    }
}
