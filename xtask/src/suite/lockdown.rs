//! The device's lockdown: root, with every capability a service gets, cannot weaken IPE or put
//! code that was not sealed into a verified process or the kernel. Each command runs through
//! `ipe-probe service`, which limits itself exactly as the init limits a service.

use appliance_qemu::Guest;

use super::cases::{CaseResult, expect, run};
use crate::stages::image::Image;

const IPE: &str = "/sys/kernel/security/ipe";
/// The debug layer's probe.
pub const PROBE: &str = "/usr/libexec/appliance/ipe-probe";

pub const CASES: &[(&str, super::Case)] = &[
    (
        "services_lack_the_withheld_capabilities",
        services_lack_the_withheld_capabilities,
    ),
    (
        "enforce_cannot_be_switched_off",
        enforce_cannot_be_switched_off,
    ),
    (
        "policies_cannot_be_loaded_activated_updated_or_deleted",
        policies_cannot_be_loaded_activated_updated_or_deleted,
    ),
    (
        "proc_mem_cannot_write_into_code",
        proc_mem_cannot_write_into_code,
    ),
    (
        "ptrace_cannot_write_into_another_process",
        ptrace_cannot_write_into_another_process,
    ),
    ("dev_mem_cannot_be_opened", dev_mem_cannot_be_opened),
    ("ptrace_scope_stays_no_attach", ptrace_scope_stays_no_attach),
    (
        "kernel_lockdown_is_integrity_and_stays",
        kernel_lockdown_is_integrity_and_stays,
    ),
    (
        "kernel_code_loading_calls_are_compiled_out",
        kernel_code_loading_calls_are_compiled_out,
    ),
];

/// Runs a shell command as a service would run it; its output, errors included.
fn as_service(guest: &mut Guest, command: &str) -> Result<String, String> {
    let quoted = command.replace('\'', r"'\''");
    let output = run(
        guest,
        &format!("{PROBE} service /bin/sh -c '{quoted}' 2>&1"),
    )?;
    Ok(output.text)
}

fn refused(guest: &mut Guest, what: &str, command: &str, strerror: &str) -> CaseResult {
    let output = as_service(guest, command)?;
    expect(output.contains(strerror), || {
        format!("{what} was not refused with `{strerror}`: {output:?}")
    })
}

fn services_lack_the_withheld_capabilities(guest: &mut Guest, _: &Image) -> CaseResult {
    let status = as_service(guest, "grep CapBnd /proc/self/status")?;
    let bounding = status
        .split_whitespace()
        .nth(1)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| format!("no bounding set in {status:?}"))?;
    // CAP_MAC_ADMIN is 33, CAP_SYS_RAWIO 17, CAP_SYS_PTRACE 19.
    expect(bounding & (1 << 33 | 1 << 17 | 1 << 19) == 0, || {
        format!(
            "a service's bounding set {bounding:#x} still holds MAC_ADMIN, SYS_RAWIO or SYS_PTRACE"
        )
    })
}

fn enforce_cannot_be_switched_off(guest: &mut Guest, _: &Image) -> CaseResult {
    refused(
        guest,
        "switching IPE's enforcement off",
        &format!("echo 0 > {IPE}/enforce"),
        "Operation not permitted",
    )?;
    let enforce = run(guest, &format!("cat {IPE}/enforce"))?;
    expect(enforce.text.trim() == "1", || {
        format!("enforce is {:?} after the refused write", enforce.text)
    })
}

fn policies_cannot_be_loaded_activated_updated_or_deleted(
    guest: &mut Guest,
    image: &Image,
) -> CaseResult {
    let boot = format!("{IPE}/policies/{}", image.boot_policy.name());
    let active = format!("{IPE}/policies/{}", image.policy.name());
    // The image's own signed policy, from its slot: a policy the kernel would otherwise take.
    let slot = run(
        guest,
        "for word in $(cat /proc/cmdline); do case $word in appliance.policy=*) echo ${word#*=};; esac; done",
    )?;
    let fields: Vec<&str> = slot.text.trim().split(',').collect();
    let [_, device, offset, length] = fields[..] else {
        return Err(format!(
            "no appliance.policy= on the command line: {slot:?}"
        ));
    };
    let signed =
        format!("dd if={device} bs=1 skip={offset} count={length} 2>/dev/null > /tmp/signed.p7s");
    run(guest, &signed)?;
    for (what, command) in [
        (
            "loading a policy",
            format!("cat /tmp/signed.p7s > {IPE}/new_policy"),
        ),
        ("activating a policy", format!("echo 1 > {boot}/active")),
        (
            "updating the active policy",
            format!("cat /tmp/signed.p7s > {active}/update"),
        ),
        ("deleting a policy", format!("echo 1 > {boot}/delete")),
    ] {
        refused(guest, what, &command, "Operation not permitted")?;
    }
    let state = run(
        guest,
        &format!("echo $(cat {boot}/active) $(cat {active}/active)"),
    )?;
    expect(state.text.split_whitespace().eq(["0", "1"]), || {
        format!("the policies' state changed: {state:?}")
    })
}

fn proc_mem_cannot_write_into_code(guest: &mut Guest, _: &Image) -> CaseResult {
    refused(
        guest,
        "a /proc/self/mem write into the probe's own code",
        &format!("{PROBE} proc-mem-write"),
        "error: Input/output error",
    )
}

fn ptrace_cannot_write_into_another_process(guest: &mut Guest, _: &Image) -> CaseResult {
    refused(
        guest,
        "PTRACE_ATTACH and PTRACE_POKETEXT into a child",
        &format!("{PROBE} ptrace-poke"),
        "error: Operation not permitted",
    )
}

fn dev_mem_cannot_be_opened(guest: &mut Guest, _: &Image) -> CaseResult {
    // No /dev/mem node, and no driver behind one made by hand.
    refused(
        guest,
        "opening /dev/mem",
        "head -c 1 /dev/mem",
        "No such file or directory",
    )?;
    // On devtmpfs: /tmp is mounted `nodev`, which would refuse any node.
    let made = refused(
        guest,
        "reading a /dev/mem node made by hand",
        "mknod /dev/mem-by-hand c 1 1 && head -c 1 /dev/mem-by-hand",
        "No such device or address",
    );
    run(guest, "rm -f /dev/mem-by-hand")?;
    made
}

fn ptrace_scope_stays_no_attach(guest: &mut Guest, _: &Image) -> CaseResult {
    const SCOPE: &str = "/proc/sys/kernel/yama/ptrace_scope";
    let output = as_service(guest, &format!("echo 0 > {SCOPE}"))?;
    let scope = run(guest, &format!("cat {SCOPE}"))?;
    expect(
        output.contains("can't create")
            || output.contains("Invalid argument")
            || output.contains("not permitted"),
        || format!("lowering ptrace_scope was not refused: {output:?}"),
    )?;
    expect(scope.text.trim() == "3", || {
        format!("ptrace_scope is {:?}, not 3 (no attach)", scope.text)
    })
}

fn kernel_lockdown_is_integrity_and_stays(guest: &mut Guest, _: &Image) -> CaseResult {
    let mode = run(guest, "cat /sys/kernel/security/lockdown")?;
    expect(
        mode.text.trim() == "none [integrity] confidentiality",
        || format!("the kernel is not locked down in integrity mode: {mode:?}"),
    )?;
    as_service(guest, "echo none > /sys/kernel/security/lockdown")?;
    let after = run(guest, "cat /sys/kernel/security/lockdown")?;
    expect(after.text == mode.text, || {
        format!("lockdown was lowered: {after:?}")
    })?;
    // Port I/O reaches devices, and through them memory, around every driver.
    let iopl = as_service(guest, &format!("{PROBE} iopl"))?;
    expect(iopl.starts_with("error:"), || {
        format!("iopl(3) was allowed: {iopl:?}")
    })
}

fn kernel_code_loading_calls_are_compiled_out(guest: &mut Guest, _: &Image) -> CaseResult {
    for call in [
        "bpf",
        "io_uring_setup",
        "userfaultfd",
        "kexec_load",
        "kexec_file_load",
    ] {
        refused(
            guest,
            call,
            &format!("{PROBE} syscall {call}"),
            "error: Function not implemented",
        )?;
    }
    Ok(())
}
