//! IPE over a dynamic userland: glibc, ld.so and nftables' libraries come from Debian packages
//! on the verity root and map executable; copies of them elsewhere do not, whichever way the
//! loader is asked: as the program to run, through `LD_PRELOAD`, or through `dlopen`.

use appliance_qemu::Guest;

use appliance_qemu::Output;

use super::cases::{CaseResult, expect, run};
use crate::stages::image::Image;

const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
const LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/libjansson.so.4";
/// The debug layer's probe, linked against the image's glibc.
const PROBE: &str = "/usr/libexec/appliance/ipe-probe";
/// glibc's words when `mmap(PROT_EXEC)` of a library or program fails.
const MAP_REFUSED: &str = "failed to map segment from shared object";

pub const CASES: &[(&str, super::Case)] = &[
    (
        "verified_dynamic_program_runs",
        verified_dynamic_program_runs,
    ),
    (
        "loader_refuses_an_unverified_program",
        loader_refuses_an_unverified_program,
    ),
    (
        "ld_preload_of_an_unverified_library_is_refused",
        ld_preload_of_an_unverified_library_is_refused,
    ),
    (
        "dlopen_of_an_unverified_library_is_refused",
        dlopen_of_an_unverified_library_is_refused,
    ),
];

/// Lifts printk's rate limit (10 messages in 5 s), which drops audit records beyond it when no
/// audit daemon reads them, as here.
fn keep_every_audit_record(guest: &mut Guest) -> CaseResult {
    let output = run(guest, "echo 0 > /proc/sys/kernel/printk_ratelimit")?;
    expect(output.status == 0, || {
        format!("could not lift printk's rate limit: {output:?}")
    })
}

/// The audit record of IPE denying an executable mapping of `path`.
fn mmap_denial_audited(guest: &mut Guest, path: &str) -> CaseResult {
    let audit = run(guest, "dmesg | grep 'type=1420'")?;
    expect(
        audit.text.lines().any(|line| {
            line.contains(&format!("path=\"{path}\""))
                && line.contains("ipe_op=EXECUTE")
                && line.contains("ipe_hook=MMAP")
                && line.contains("rule=\"DEFAULT action=DENY\"")
        }),
        || format!("no IPE audit record denies mapping {path}; records: {audit:?}"),
    )
}

fn nft_version(output: &Output) -> bool {
    output.text.contains("nftables v1.0.6")
}

fn verified_dynamic_program_runs(guest: &mut Guest, _image: &Image) -> CaseResult {
    let direct = run(guest, "nft --version")?;
    expect(direct.status == 0 && nft_version(&direct), || {
        format!("nft from the verity root did not run: {direct:?}")
    })?;
    let loaded = run(guest, &format!("{LOADER} /usr/sbin/nft --version"))?;
    expect(loaded.status == 0 && nft_version(&loaded), || {
        format!("the loader did not run nft from the verity root: {loaded:?}")
    })
}

fn loader_refuses_an_unverified_program(guest: &mut Guest, _image: &Image) -> CaseResult {
    keep_every_audit_record(guest)?;
    let copied = "/tmp/nft-copy";
    let output = run(
        guest,
        &format!("cp /usr/sbin/nft {copied} && {LOADER} {copied} --version 2>&1"),
    )?;
    expect(
        output.status != 0 && output.text.contains(MAP_REFUSED) && !nft_version(&output),
        || format!("the loader ran an unverified copy of nft: {output:?}"),
    )?;
    mmap_denial_audited(guest, copied)
}

fn ld_preload_of_an_unverified_library_is_refused(guest: &mut Guest, _image: &Image) -> CaseResult {
    keep_every_audit_record(guest)?;
    let copied = "/tmp/libpreload.so";
    let output = run(
        guest,
        &format!("cp {LIBRARY} {copied} && LD_PRELOAD={copied} nft --version 2>&1"),
    )?;
    // glibc goes on without a library it cannot preload, and says so.
    expect(
        output.text.contains("cannot be preloaded")
            && output.text.contains(MAP_REFUSED)
            && nft_version(&output),
        || format!("LD_PRELOAD of an unverified library was not refused: {output:?}"),
    )?;
    mmap_denial_audited(guest, copied)
}

fn dlopen_of_an_unverified_library_is_refused(guest: &mut Guest, _image: &Image) -> CaseResult {
    keep_every_audit_record(guest)?;
    let verified = run(guest, &format!("{PROBE} dlopen {LIBRARY}"))?;
    expect(verified.text.trim() == "ok", || {
        format!("dlopen of a library on the verity root failed: {verified:?}")
    })?;
    let copied = "/tmp/libplugin.so";
    let output = run(
        guest,
        &format!("cp {LIBRARY} {copied} && {PROBE} dlopen {copied}"),
    )?;
    expect(
        output.status != 0 && output.text.contains(MAP_REFUSED),
        || format!("dlopen of an unverified library was not refused: {output:?}"),
    )?;
    mmap_denial_audited(guest, copied)
}
