//! Booting images in QEMU: the machine for a boot spec, a guest booted to its shell, and the
//! accelerator choice, shared by `run-qemu`, the tests and the benchmarks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use appliance_qemu::{Accel, Guest, Machine, UefiFirmware, UserNetwork};

use crate::cache::{self, Cache};
use crate::exec::Tool;
use crate::firmware;
use crate::stages::boot_spec::BootSpec;

/// What the init prints once userspace runs; a guest that prints it has booted.
pub const BOOTED_MARKER: &str = "init: IPE";

/// The appliance's machine: its disks and command line, and a NIC on a user-mode network that
/// nothing reaches but `network`'s forwards.
pub fn machine(spec: &BootSpec, accel: Accel) -> Machine {
    Machine {
        kernel: spec.kernel.clone(),
        disks: spec.disks(),
        first_disk_writable: false,
        cmdline: spec.cmdline.clone(),
        initrd: None,
        memory_mib: 512,
        accel,
        network: Some(UserNetwork::default()),
        firmware: None,
    }
}

/// The appliance booted as a device boots it: OVMF with Secure Boot on and this build's keys
/// enrolled starts the signed UKI from the disk's ESP; nothing is passed to the kernel from
/// outside. OVMF writes its variables, so the store is copied to `run_vars` first.
pub fn uefi_machine(spec: &BootSpec, accel: Accel, run_vars: &Path) -> Result<Machine> {
    let vars = spec.firmware_vars.as_ref().with_context(|| {
        format!(
            "{} has no firmware variable store: its UKI was signed by an external db key, \
             which only the devices' firmware holds; boot it directly instead",
            spec.disk.display()
        )
    })?;
    anyhow::ensure!(
        vars != run_vars,
        "{} would be copied onto itself: a boot's store is a copy",
        vars.display()
    );
    if let Some(dir) = run_vars.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(vars, run_vars)
        .with_context(|| format!("copying {} to {}", vars.display(), run_vars.display()))?;
    Ok(Machine {
        kernel: PathBuf::new(),
        cmdline: String::new(),
        firmware: Some(UefiFirmware {
            code: firmware::OVMF_CODE.into(),
            vars: run_vars.to_owned(),
        }),
        ..machine(spec, accel)
    })
}

/// Boots a headless guest until its console shell answers.
pub fn boot_to_shell(machine: &Machine, timeout: Duration) -> Result<Guest> {
    let mut guest = Guest::start(machine)?;
    guest.wait_for(BOOTED_MARKER, timeout)?;
    // The console shell is up once it answers. Kernel messages on the console would
    // interleave with command output from here on; they stay readable with dmesg.
    guest.run("dmesg -n 1", timeout)?;
    Ok(guest)
}

/// KVM only where a quick boot under it proves it works; the answer is kept per host kernel and
/// QEMU version, because guests have been seen to hang or QEMU to assert under KVM.
pub fn choose_accel(cache: &Cache, spec: &BootSpec) -> Accel {
    if std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return Accel::Tcg;
    }
    let qemu = Tool::new(appliance_qemu::machine::QEMU)
        .arg("--version")
        .output()
        .unwrap_or_default();
    let host = std::fs::read("/proc/sys/kernel/osrelease").unwrap_or_default();
    let key = cache::KeyHasher::default()
        .input("qemu", qemu)
        .input("host", host)
        .finish();
    let record = cache.path("kvm-probe").join(key);
    let works = match std::fs::read_to_string(&record) {
        Ok(answer) => answer == "works",
        Err(_) => {
            tracing::info!(
                "probing whether KVM boots this appliance (once per host and QEMU version)"
            );
            let works = appliance_qemu::boots_to(
                &machine(spec, Accel::Kvm),
                BOOTED_MARKER,
                Duration::from_secs(20),
            );
            let answer = if works { "works" } else { "fails" };
            if let Err(error) = cache::write_atomic(&record, answer.as_bytes()) {
                tracing::warn!("could not record the KVM probe: {error:#}");
            }
            works
        }
    };
    if works { Accel::Kvm } else { Accel::Tcg }
}
