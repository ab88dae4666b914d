//! Boot from an initramfs: IPE's `initramfs_populated` hook marks the initramfs superblock, and
//! the property `boot_verified=TRUE` matches what it holds and nothing else. The appliance boots
//! without one, so this runs its kernel (the same sources and configuration, relinked with the
//! boot policy below) on a small test initramfs: busybox, an `/init` script, and `ipe-probe`,
//! which asks for executable mappings so that the `mmap_file` and `file_mprotect` hooks can be
//! watched. None of it ever enters an image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use appliance_qemu::{Accel, Machine};

use super::cases::{CaseResult, expect};
use super::cpio::{self, Entry};
use ipe_lsm::Action;
use ipe_lsm::host::PolicyText;

use crate::exec::Tool;
use crate::stages::binaries::build_static;
use crate::stages::image::Image;
use crate::stages::session::Session;
use crate::stages::setup;

/// The test boot policy: only what the initramfs holds runs.
fn boot_policy() -> Result<PolicyText> {
    let mut policy = PolicyText::new("initramfs-test", "0.0.1".parse()?, Action::Deny);
    policy.rule("op=EXECUTE boot_verified=TRUE action=ALLOW");
    Ok(policy)
}

/// Busybox applets the script and the commands use.
const APPLETS: &[&str] = &["sh", "mount", "cat", "cp", "dmesg", "grep", "sleep", "true"];

const INIT: &str = "#!/bin/sh\n\
mount -t proc proc /proc\n\
mount -t sysfs sysfs /sys\n\
mount -t securityfs securityfs /sys/kernel/security\n\
mount -t tmpfs tmpfs /tmp\n\
echo init: IPE test initramfs\n\
exec sh\n";

/// Run in order; the transcript joins the differential observations.
pub const COMMANDS: &[&str] = &[
    "echo 0 > /proc/sys/kernel/printk_ratelimit",
    "for p in /sys/kernel/security/ipe/policies/*; do echo $(cat $p/name) $(cat $p/active); done",
    "echo 1 > /sys/kernel/security/ipe/success_audit",
    "/bin/busybox true",
    "echo 0 > /sys/kernel/security/ipe/success_audit",
    "cp /bin/busybox /tmp/true && /tmp/true",
    // file_mprotect: allowed for a file of the initramfs, denied for one on tmpfs.
    "/bin/ipe-probe mprotect-exec /bin/busybox",
    "/bin/ipe-probe mprotect-exec /tmp/true",
    // mmap_file of a tmpfs file; then anonymous memory made executable, as a JIT would: there
    // is no file to judge, so the policy's DEFAULT decides.
    "/bin/ipe-probe mmap-exec /tmp/true",
    "/bin/ipe-probe anon-exec",
    "sleep 1; dmesg | grep -o 'type=1420.*'",
];

/// The kernel relinked with the test boot policy, and the test initramfs.
pub fn machine(session: &Session, image: &Image, accel: Accel) -> Result<Machine> {
    let project = &session.project;
    let kernel = image.kernel_with_boot_policy(session, &boot_policy()?)?;
    let probe = build_static(project, &[("ipe-probe", "ipe-probe")])?.join("ipe-probe");
    let probe = std::fs::read(&probe).with_context(|| format!("reading {}", probe.display()))?;
    let initrd = image.test_dir.join("initramfs-test.cpio");
    crate::cache::write_atomic(
        &initrd,
        &archive(&busybox(project, &image.test_dir)?, &probe),
    )?;
    // Only the console: the appliance's verity table would wait for a disk that is not there.
    let console: Vec<&str> = image
        .boot
        .cmdline
        .split(' ')
        .filter(|word| word.starts_with("console="))
        .collect();
    Ok(Machine {
        kernel,
        disks: Vec::new(),
        first_disk_writable: false,
        cmdline: format!("{} panic=-1", console.join(" ")),
        initrd: Some(initrd),
        memory_mib: 512,
        accel,
        network: None,
        firmware: None,
    })
}

/// The pinned busybox-static's binary.
fn busybox(project: &crate::project::Project, scratch: &Path) -> Result<Vec<u8>> {
    let pin = project
        .lock
        .get("busybox-static")
        .context("busybox-static is not in packages.lock")?;
    let deb = setup::fetch_deb(&project.cache, pin)?;
    let staging = tempfile::tempdir_in(scratch)?;
    Tool::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(staging.path())
        .run()?;
    let path: PathBuf = staging.path().join("bin/busybox");
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

fn archive(busybox: &[u8], probe: &[u8]) -> Vec<u8> {
    let links: Vec<String> = APPLETS
        .iter()
        .map(|applet| format!("bin/{applet}"))
        .collect();
    let mut entries = vec![
        Entry::Dir { path: "bin" },
        Entry::Dir { path: "dev" },
        Entry::Dir { path: "proc" },
        Entry::Dir { path: "sys" },
        Entry::Dir { path: "tmp" },
        // The kernel opens it for init's stdin and stdout before running /init.
        Entry::CharDevice {
            path: "dev/console",
            major: 5,
            minor: 1,
        },
        Entry::File {
            path: "bin/busybox",
            mode: 0o755,
            data: busybox,
        },
        Entry::File {
            path: "bin/ipe-probe",
            mode: 0o755,
            data: probe,
        },
        Entry::File {
            path: "init",
            mode: 0o755,
            data: INIT.as_bytes(),
        },
    ];
    entries.extend(links.iter().map(|path| Entry::Symlink {
        path,
        target: "busybox",
    }));
    cpio::archive(&entries)
}

/// What the transcript must show: the test policy active, busybox from the initramfs allowed by
/// `boot_verified`, and a copy on tmpfs denied, as an exec, an mmap and an mprotect.
pub fn check(transcript: &str) -> CaseResult {
    for (command, answer) in [
        ("mprotect-exec /bin/busybox", "ok"),
        (
            "mprotect-exec /tmp/true",
            "error: Permission denied (os error 13)",
        ),
        (
            "mmap-exec /tmp/true",
            "error: Permission denied (os error 13)",
        ),
        ("anon-exec", "error: Permission denied (os error 13)"),
    ] {
        expect(
            transcript.contains(&format!("$ /bin/ipe-probe {command}\n{answer}\n")),
            || format!("ipe-probe {command} should answer {answer:?}:\n{transcript}"),
        )?;
    }
    expect(
        transcript
            .contains("ipe_hook=MPROTECT enforcing=1 pid=… comm=\"ipe-probe\" path=\"/tmp/true\""),
        || format!("no audit record shows the mprotect denied:\n{transcript}"),
    )?;
    expect(transcript.contains("initramfs-test 1"), || {
        format!("the test boot policy is not the active one:\n{transcript}")
    })?;
    expect(
        transcript.contains(
            "path=\"/bin/busybox\" dev=\"rootfs\" ino=… rule=\"op=EXECUTE boot_verified=TRUE action=ALLOW\"",
        ),
        || format!("no audit record shows busybox allowed by boot_verified:\n{transcript}"),
    )?;
    expect(
        transcript.contains("/tmp/true: Permission denied\n[exit 126]"),
        || format!("a copy on tmpfs was not denied with EACCES:\n{transcript}"),
    )
}
