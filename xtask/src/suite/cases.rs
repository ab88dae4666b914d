//! The integration cases, each run against a booted guest. A case returns what went wrong.

use std::time::Duration;

use appliance_qemu::Guest;

use crate::stages::image::Image;
use crate::stages::record::BUILD_RECORD;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const IPE: &str = "/sys/kernel/security/ipe";

pub type CaseResult = Result<(), String>;

pub(super) fn run(guest: &mut Guest, command: &str) -> Result<appliance_qemu::Output, String> {
    guest
        .run(command, COMMAND_TIMEOUT)
        .map_err(|error| error.to_string())
}

pub(super) fn expect(condition: bool, what: impl FnOnce() -> String) -> CaseResult {
    if condition { Ok(()) } else { Err(what()) }
}

pub fn ipe_active_and_enforcing(guest: &mut Guest, image: &Image) -> CaseResult {
    let enforce = run(guest, &format!("cat {IPE}/enforce"))?;
    expect(enforce.text.trim() == "1", || {
        format!("{IPE}/enforce is {:?}, expected 1", enforce.text.trim())
    })?;
    let active = run(
        guest,
        &format!(
            "for p in {IPE}/policies/*; do [ \"$(cat $p/active)\" = 1 ] && echo \"$(cat $p/name) $(cat $p/version)\"; done; true"
        ),
    )?;
    let expected = format!("{} {}", image.policy.name(), image.policy.version());
    expect(active.text.trim() == expected, || {
        format!(
            "active policy is {:?}, expected {expected:?}",
            active.text.trim()
        )
    })?;
    // It trusts this build's root filesystem, by the root hash the build computed.
    let trusted = format!("dmverity_roothash=sha256:{}", image.verity.root_hash());
    let rules = run(
        guest,
        &format!(
            "grep -c '{trusted}' {IPE}/policies/{}/policy",
            image.policy.name()
        ),
    )?;
    expect(rules.text.trim() == "2", || {
        format!("the active policy should trust {trusted} for EXECUTE and KMODULE: {rules:?}")
    })
}

pub fn rootfs_is_verity_erofs(guest: &mut Guest, _image: &Image) -> CaseResult {
    let root = run(guest, "grep ' / ' /proc/mounts")?;
    expect(root.text.contains(" / erofs ro"), || {
        format!("/ is not a read-only erofs: {}", root.text.trim())
    })?;
    let target = run(guest, "cat /sys/block/dm-0/dm/name")?;
    expect(target.text.trim() == "rootfs", || {
        format!("dm-0 is {:?}, not the verity rootfs", target.text.trim())
    })?;
    let write = run(guest, "touch /etc/written 2>&1")?;
    expect(
        write.status != 0 && write.text.contains("Read-only file system"),
        || format!("writing to / did not fail as read-only: {write:?}"),
    )
}

pub fn verity_binary_runs(guest: &mut Guest, _image: &Image) -> CaseResult {
    let output = run(guest, "/bin/busybox echo sealed-code-runs")?;
    expect(
        output.status == 0 && output.text.trim() == "sealed-code-runs",
        || format!("/bin/busybox did not run: {output:?}"),
    )
}

pub fn tmpfs_copy_is_denied_and_audited(guest: &mut Guest, _image: &Image) -> CaseResult {
    let copy = run(
        guest,
        "cp /bin/busybox /tmp/copied && cmp /bin/busybox /tmp/copied && echo copied",
    )?;
    expect(copy.text.trim() == "copied", || {
        format!("could not copy busybox to /tmp: {copy:?}")
    })?;
    let exec = run(guest, "/tmp/copied true 2>&1")?;
    // 126 with strerror(EACCES): the kernel refused the exec, not the shell.
    expect(
        exec.status == 126 && exec.text.contains("Permission denied"),
        || format!("running /tmp/copied was not denied with EACCES: {exec:?}"),
    )?;
    let audit = run(guest, "dmesg | grep 'type=1420'")?;
    let record = audit
        .text
        .lines()
        .find(|line| line.contains("path=\"/tmp/copied\""));
    expect(
        record.is_some_and(|line| {
            line.contains("ipe_op=EXECUTE")
                && line.contains("ipe_hook=BPRM_CHECK")
                && line.contains("enforcing=1")
                && line.contains("rule=\"DEFAULT action=DENY\"")
        }),
        || {
            format!(
                "no IPE audit record (type 1420) names the denial; records: {:?}",
                audit.text
            )
        },
    )
}

/// IPE's `kernel_read_file` hook on `finit_module`: a file from tmpfs is refused before the
/// module loader sees it; a file on the verity root passes IPE (the policy's `KMODULE`
/// rule) and is then refused by the loader as no module (`ENOEXEC`).
pub fn kernel_modules_only_from_the_verity_root(guest: &mut Guest, _image: &Image) -> CaseResult {
    let tmpfs = run(
        guest,
        "cp /bin/busybox /tmp/module.ko && /bin/busybox insmod /tmp/module.ko 2>&1",
    )?;
    expect(tmpfs.text.contains("Permission denied"), || {
        format!("insmod of a tmpfs file was not denied with EACCES: {tmpfs:?}")
    })?;
    let root = run(guest, "/bin/busybox insmod /etc/hostname 2>&1")?;
    expect(root.text.contains("invalid module format"), || {
        format!(
            "insmod of a verity-root file should pass IPE and fail as no module (ENOEXEC): {root:?}"
        )
    })?;
    let audit = run(guest, "dmesg | grep 'type=1420' | grep ipe_op=KMODULE")?;
    expect(
        audit.text.lines().any(|line| {
            line.contains("ipe_hook=KERNEL_READ")
                && line.contains("path=\"/tmp/module.ko\"")
                && line.contains("rule=\"DEFAULT action=DENY\"")
        }),
        || {
            format!(
                "no IPE audit record names the refused module; records: {:?}",
                audit.text
            )
        },
    )
}

pub fn tampered_file_fails_with_eio(guest: &mut Guest, _image: &Image) -> CaseResult {
    let read = run(
        guest,
        &format!("cat {BUILD_RECORD} > /dev/null 2>/tmp/err; echo $? $(cat /tmp/err)"),
    )?;
    let text = read.text.trim();
    expect(
        !text.starts_with("0 ") && text != "0" && text.contains("Input/output error"),
        || format!("reading the tampered {BUILD_RECORD} did not fail with EIO: {text:?}"),
    )?;
    let other = run(guest, "cat /etc/hostname")?;
    expect(other.status == 0, || {
        format!("an untouched file did not read either: {other:?}")
    })
}
