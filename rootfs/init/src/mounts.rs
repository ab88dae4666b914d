//! The pseudo filesystems every service expects.

use std::ffi::CStr;

use rustix::mount::{MountFlags, mount};

struct Mount {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MountFlags,
    data: &'static CStr,
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
    },
    Mount {
        source: "sysfs",
        target: "/sys",
        fstype: "sysfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
    },
    Mount {
        source: "securityfs",
        target: "/sys/kernel/security",
        fstype: "securityfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"",
    },
    // The kernel mounts devtmpfs itself (DEVTMPFS_MOUNT); this covers kernels that do not.
    Mount {
        source: "devtmpfs",
        target: "/dev",
        fstype: "devtmpfs",
        flags: MountFlags::NOSUID,
        data: c"mode=0755",
    },
    // Writable scratch space. It is not mounted noexec, on purpose: IPE, not a mount flag,
    // is what stops code copied here from running.
    Mount {
        source: "tmpfs",
        target: "/tmp",
        fstype: "tmpfs",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        data: c"mode=1777",
    },
    Mount {
        source: "tmpfs",
        target: "/run",
        fstype: "tmpfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: c"mode=0755",
    },
];

pub fn mount_all() {
    for m in MOUNTS {
        match mount(m.source, m.target, m.fstype, m.flags, m.data) {
            Ok(()) => {}
            // Already mounted, as /dev is by the kernel.
            Err(rustix::io::Errno::BUSY) => {}
            Err(error) => say!("init: mounting {} on {}: {error}", m.fstype, m.target),
        }
    }
}
