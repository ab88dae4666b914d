//! Mounts the sealed partition named by `appliance.sealed=DEVICE,MOUNTPOINT`: ext4 whose
//! binaries carry fs-verity, set at build time. Read-only, so nothing on the device can add a
//! file there; IPE allows each sealed binary by its fs-verity digest, which the kernel checks
//! block by block as it reads.

use std::time::Duration;

use rustix::mount::{MountFlags, mount};

struct Sealed<'a> {
    device: &'a str,
    target: &'a str,
}

fn parse(cmdline: &str) -> Option<Result<Sealed<'_>, String>> {
    let value = cmdline
        .split_whitespace()
        .find_map(|word| word.strip_prefix("appliance.sealed="))?;
    Some(match value.split_once(',') {
        Some((device, target)) if device.starts_with("/dev/") && target.starts_with('/') => {
            Ok(Sealed { device, target })
        }
        _ => Err(format!(
            "appliance.sealed={value}: expected /dev/DEVICE,/MOUNTPOINT"
        )),
    })
}

pub fn mount_sealed() {
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let sealed = match parse(&cmdline) {
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

    #[test]
    fn parses_device_and_mount_point() {
        let sealed = parse("ro appliance.sealed=/dev/vdb,/opt/sealed panic=-1")
            .unwrap()
            .unwrap();
        assert_eq!((sealed.device, sealed.target), ("/dev/vdb", "/opt/sealed"));
        assert!(parse("ro").is_none());
        assert!(parse("appliance.sealed=/dev/vdb").unwrap().is_err());
        assert!(parse("appliance.sealed=vdb,/opt").unwrap().is_err());
    }
}
