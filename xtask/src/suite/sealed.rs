//! Cases on the sealed partition: ext4 at `/opt/sealed` whose binaries have fs-verity enabled
//! at build time and run only by the fs-verity digest the policy names.

use std::path::Path;

use anyhow::{Context, Result};
use appliance_qemu::Guest;

use super::Case;
use super::cases::{CaseResult, expect, run};
use crate::exec::Tool;
use crate::layers::SEALED_MOUNT;
use crate::stages::disk::SEALED_NUMBER;
use crate::stages::image::Image;

/// The binary the firewall layer seals.
const SEALED_BINARY: &str = "/opt/sealed/fw-status";
const IPE: &str = "/sys/kernel/security/ipe";

/// Cases on the image as built.
pub const CASES: &[(&str, Case)] = &[
    (
        "sealed_partition_is_read_only_ext4",
        partition_is_read_only_ext4,
    ),
    (
        "sealed_binary_runs_by_its_digest",
        binary_runs_by_its_digest,
    ),
    ("sealed_binary_copy_is_denied", copy_is_denied),
];

/// Cases on a copy of the disk with one byte of the sealed binary's data flipped.
pub const TAMPERED_CASES: &[(&str, Case)] = &[(
    "tampered_sealed_binary_fails_with_eio",
    tampered_binary_fails_with_eio,
)];

fn has_sealed_disk(image: &Image) -> CaseResult {
    expect(image.sealed.is_some(), || {
        "the image has no sealed partition: no layer seals a binary (the firewall layer does)"
            .to_owned()
    })
}

fn partition_is_read_only_ext4(guest: &mut Guest, image: &Image) -> CaseResult {
    has_sealed_disk(image)?;
    let mounts = run(guest, &format!("grep ' {SEALED_MOUNT} ' /proc/mounts"))?;
    let device = format!("/dev/vda{SEALED_NUMBER}");
    expect(
        mounts
            .text
            .starts_with(&format!("{device} {SEALED_MOUNT} ext4 ro,")),
        || format!("{SEALED_MOUNT} is not the read-only ext4 {device}: {mounts:?}"),
    )?;
    let write = run(guest, &format!("touch {SEALED_MOUNT}/added 2>&1"))?;
    expect(
        write.status != 0 && write.text.contains("Read-only file system"),
        || format!("writing to {SEALED_MOUNT} did not fail as read-only: {write:?}"),
    )
}

/// IPE's success audit names the rule that allowed the exec: the fs-verity digest rule with
/// the digest of the file on the partition, which matches only while fs-verity is enabled.
fn binary_runs_by_its_digest(guest: &mut Guest, image: &Image) -> CaseResult {
    has_sealed_disk(image)?;
    let digest = image
        .sealed
        .as_ref()
        .ok_or_else(String::new)
        .and_then(|sealed| sealed_contents(&sealed.image).map_err(|error| format!("{error:#}")))
        .and_then(|contents| {
            verity::fs_verity::digest_bytes(&contents, &verity::fs_verity::Params::default())
                .map_err(|error| error.to_string())
        })?;
    let recorded = image.sealed.as_ref().and_then(|sealed| {
        sealed
            .files
            .iter()
            .find(|file| file.install == SEALED_BINARY)
    });
    expect(
        recorded.is_some_and(|file| file.digest == digest.to_string()),
        || {
            format!(
                "the build recorded {recorded:?} for {SEALED_BINARY}, the partition holds {digest}"
            )
        },
    )?;
    // The audit record prints the algorithm quoted and the digest in capitals.
    let rule = format!(
        "rule=\"op=EXECUTE fsverity_digest=\"sha256\":{} action=ALLOW\"",
        digest.digest.to_hex().to_uppercase()
    );
    run(guest, &format!("echo 1 > {IPE}/success_audit"))?;
    let output = run(guest, SEALED_BINARY);
    run(guest, &format!("echo 0 > {IPE}/success_audit"))?;
    let output = output?;
    expect(
        output.status == 0 && output.text.starts_with("fw-status: host "),
        || format!("{SEALED_BINARY} did not run: {output:?}"),
    )?;
    let audit = run(guest, "dmesg | grep 'type=1420'")?;
    let record = audit
        .text
        .lines()
        .find(|line| line.contains(&format!("path=\"{SEALED_BINARY}\"")));
    expect(
        record.is_some_and(|line| line.contains("ipe_op=EXECUTE") && line.contains(&rule)),
        || {
            format!(
                "no IPE audit record shows {rule} allowing {SEALED_BINARY}; records: {:?}",
                audit.text
            )
        },
    )
}

/// The same bytes without fs-verity (on tmpfs) have no digest to match, and with one byte
/// changed they could not match it anyway.
fn copy_is_denied(guest: &mut Guest, image: &Image) -> CaseResult {
    has_sealed_disk(image)?;
    for (copy, change) in [
        ("/tmp/fw-status", ""),
        (
            "/tmp/fw-status-changed",
            "&& printf X | dd of=/tmp/fw-status-changed bs=1 seek=200 conv=notrunc 2>/dev/null",
        ),
    ] {
        let made = run(
            guest,
            &format!("cp {SEALED_BINARY} {copy} {change} && echo copied"),
        )?;
        expect(made.text.trim() == "copied", || {
            format!("could not copy {SEALED_BINARY} to {copy}: {made:?}")
        })?;
        let exec = run(guest, &format!("{copy} 2>&1"))?;
        expect(
            exec.status == 126 && exec.text.contains("Permission denied"),
            || format!("running {copy} was not denied with EACCES: {exec:?}"),
        )?;
    }
    Ok(())
}

fn tampered_binary_fails_with_eio(guest: &mut Guest, image: &Image) -> CaseResult {
    has_sealed_disk(image)?;
    let read = run(
        guest,
        &format!("cat {SEALED_BINARY} > /dev/null 2>/tmp/err; echo $? $(cat /tmp/err)"),
    )?;
    let text = read.text.trim();
    expect(
        !text.starts_with("0") && text.contains("Input/output error"),
        || format!("reading the tampered {SEALED_BINARY} did not fail with EIO: {text:?}"),
    )?;
    let exec = run(guest, &format!("{SEALED_BINARY} 2>&1"))?;
    expect(exec.status != 0, || {
        format!("the tampered {SEALED_BINARY} ran: {exec:?}")
    })
}

/// Flips one byte of the sealed binary's data in `disk` (the bytes of the image's disk, whose
/// slot A's sealed partition holds it), found by the contents the sealed partition's image
/// gives; does nothing when the image has no sealed partition. `name` names the copy in the
/// message.
pub fn flip_sealed_binary(image: &Image, disk: &mut [u8], name: &Path) -> Result<()> {
    let Some(sealed) = &image.sealed else {
        return Ok(());
    };
    let contents = sealed_contents(&sealed.image)?;
    let partition = image
        .partitions
        .byte_range(SEALED_NUMBER)
        .context("the disk has no sealed partition in slot A")?;
    let offset = partition.start
        + super::tamper::flip_byte_of_file(&mut disk[partition], &contents)
            .map_err(|error| anyhow::anyhow!("{SEALED_BINARY} in {}: {error}", name.display()))?;
    println!(
        "tampered copy: flipped the byte at offset {offset} of {} ({SEALED_BINARY})",
        name.display()
    );
    Ok(())
}

/// The sealed binary's data as the partition holds it, read without mounting it.
fn sealed_contents(sealed_disk: &Path) -> Result<Vec<u8>> {
    let relative = SEALED_BINARY.trim_start_matches(SEALED_MOUNT);
    Tool::new("debugfs")
        .arg("-R")
        .arg(format!("cat {relative}"))
        .arg(sealed_disk)
        .output()
}
