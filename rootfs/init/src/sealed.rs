//! Mounts the sealed partition named by `appliance.sealed=DEVICE,MOUNTPOINT`: ext4 whose
//! binaries carry fs-verity, set at build time. Read-only, so nothing on the device can add a
//! file there; IPE allows each sealed binary by its fs-verity digest, which the kernel checks
//! block by block as it reads.

use std::time::Duration;

use rustix::mount::{MountFlags, mount};

use crate::cmdline;

/// The kernel command-line parameter that names the sealed partition and its mount point.
pub const PARAM: &str = "appliance.sealed";

#[derive(Debug, PartialEq, Eq)]
pub struct Sealed<'a> {
    pub device: &'a str,
    pub target: &'a str,
}

pub fn parse(cmdline: &[u8]) -> Option<Result<Sealed<'_>, String>> {
    cmdline::value(cmdline, PARAM).map(|value| value.and_then(Sealed::parse))
}

impl<'a> Sealed<'a> {
    /// Parses `DEVICE,MOUNTPOINT`.
    pub fn parse(value: &'a str) -> Result<Self, String> {
        const EXPECTED: &str = "expected /dev/DEVICE,/MOUNTPOINT";
        let wrong = |problem: String| Err(format!("{PARAM}={value:?}: {problem}; {EXPECTED}"));
        let Some((device, target)) = value.split_once(',') else {
            return wrong("no `,`".to_owned());
        };
        if !device.starts_with("/dev/") {
            return wrong(format!("DEVICE {device:?} is not under /dev/"));
        }
        if !target.starts_with('/') {
            return wrong(format!("MOUNTPOINT {target:?} is not an absolute path"));
        }
        Ok(Sealed { device, target })
    }
}

pub fn mount_sealed(cmdline: &[u8]) {
    let sealed = match parse(cmdline) {
        None => return,
        Some(Err(error)) => return say!("init: {error}; sealed binaries are unavailable"),
        Some(Ok(sealed)) => sealed,
    };
    let flags = MountFlags::RDONLY
        .union(MountFlags::NOSUID)
        .union(MountFlags::NODEV);
    // Disks are normally probed before init runs; allow a slow one a moment.
    let mut result = Err(rustix::io::Errno::NOENT);
    for _ in 0..20 {
        result = mount(sealed.device, sealed.target, "ext4", flags, c"");
        if result != Err(rustix::io::Errno::NOENT) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    match result {
        Ok(()) => say!(
            "init: mounted the sealed partition {} on {}",
            sealed.device,
            sealed.target
        ),
        Err(error) => say!(
            "init: mounting the sealed partition {} on {}: {error}; sealed binaries are unavailable",
            sealed.device,
            sealed.target
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VDB: Sealed = Sealed {
        device: "/dev/vdb",
        target: "/opt/sealed",
    };

    #[test]
    fn parses_device_and_mount_point() {
        assert_eq!(
            parse(b"ro appliance.sealed=/dev/vdb,/opt/sealed panic=-1"),
            Some(Ok(VDB))
        );
        assert!(parse(b"ro").is_none());
        assert!(parse(b"appliance.sealed=/dev/vdb").unwrap().is_err());
        assert!(parse(b"appliance.sealed=vdb,/opt").unwrap().is_err());
    }

    /// The init used to split on whitespace alone: it took this word of dm-mod.create's value
    /// (mounting /dev/vdc), and refused a quoted value the kernel reads as /dev/vdb,/opt/sealed.
    #[test]
    fn quotes_group_words_as_the_kernel_reads_them() {
        let cmdline = b"dm-mod.create=\"a appliance.sealed=/dev/vdc,/mnt\" appliance.sealed=/dev/vdb,/opt/sealed";
        assert_eq!(parse(cmdline), Some(Ok(VDB)));
        assert_eq!(
            parse(b"appliance.sealed=\"/dev/vdb,/opt/sealed\""),
            Some(Ok(VDB))
        );
    }
}
