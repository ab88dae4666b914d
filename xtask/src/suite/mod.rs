//! `cargo xtask test`: the workspace's unit tests, then the integration suite in QEMU guests.
//! Every guest and command runs under a timeout; each case prints its result, and the last
//! line is `N passed, N failed`.

mod cases;
mod tamper;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use appliance_qemu::Guest;

use crate::exec::Tool;
use crate::flags::TestArgs;
use crate::project::Project;
use crate::run_qemu;
use crate::stages::image::{self, BootSpec};

type Case = fn(&mut Guest, &BootSpec) -> cases::CaseResult;

/// Cases on the image as built.
const SEALED_IMAGE_CASES: &[(&str, Case)] = &[
    ("ipe_active_and_enforcing", cases::ipe_active_and_enforcing),
    ("rootfs_is_verity_erofs", cases::rootfs_is_verity_erofs),
    ("verity_binary_runs", cases::verity_binary_runs),
    (
        "tmpfs_copy_is_denied_and_audited",
        cases::tmpfs_copy_is_denied_and_audited,
    ),
];

/// Cases on a copy of the image with one byte of a file's data flipped.
const TAMPERED_IMAGE_CASES: &[(&str, Case)] = &[(
    "tampered_file_fails_with_eio",
    cases::tampered_file_fails_with_eio,
)];

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    fn record(&mut self, name: &str, started: Instant, result: std::result::Result<(), String>) {
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("test {name} ... ok ({seconds:.1}s)");
            }
            Err(reason) => {
                self.failed += 1;
                println!(
                    "test {name} ... FAILED ({seconds:.1}s)\n    {}",
                    reason.replace('\n', "\n    ")
                );
            }
        }
    }
}

pub fn run(project: &Project, args: &TestArgs) -> Result<ExitCode> {
    let mut tally = Tally::default();
    let toolchain = crate::stages::setup::run(project)?;
    if !args.integration_only {
        let started = Instant::now();
        let result = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["test", "--workspace"])
            .current_dir(&project.root)
            .env("IPE_KERNEL_SRC", &toolchain.kernel_source)
            .run_streaming(|line| println!("{line}"))
            .map_err(|error| format!("{error:#}"));
        tally.record("workspace_unit_tests", started, result);
    }

    let spec = image::build(project, &crate::image_request(&args.image))?;
    let accel = run_qemu::choose_accel(project, &spec);
    let boot_timeout = Duration::from_secs(args.boot_timeout);
    run_cases(&mut tally, &spec, accel, boot_timeout, SEALED_IMAGE_CASES);

    let tampered = tampered_copy(project, &args.image.name, &spec)?;
    run_cases(
        &mut tally,
        &tampered,
        accel,
        boot_timeout,
        TAMPERED_IMAGE_CASES,
    );

    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Boots one guest and runs `cases` in it; a guest that does not boot fails every case.
fn run_cases(
    tally: &mut Tally,
    spec: &BootSpec,
    accel: appliance_qemu::Accel,
    boot_timeout: Duration,
    cases: &[(&str, Case)],
) {
    let started = Instant::now();
    let booted = boot(spec, accel, boot_timeout);
    match booted {
        Ok(mut guest) => {
            println!(
                "guest booted to its shell in {:.1}s ({accel:?})",
                started.elapsed().as_secs_f64()
            );
            for (name, case) in cases {
                let started = Instant::now();
                tally.record(name, started, case(&mut guest, spec));
            }
        }
        Err(error) => {
            for (name, _) in cases {
                tally.record(
                    name,
                    started,
                    Err(format!("the guest did not boot: {error:#}")),
                );
            }
        }
    }
}

fn boot(spec: &BootSpec, accel: appliance_qemu::Accel, timeout: Duration) -> Result<Guest> {
    let mut guest = Guest::start(&run_qemu::machine(spec, accel))?;
    guest.wait_for(run_qemu::BOOTED_MARKER, timeout)?;
    // The console shell is up once it answers. Kernel messages on the console would interleave
    // with command output from here on; they stay readable with dmesg.
    guest.run("dmesg -n 1", timeout)?;
    Ok(guest)
}

/// A copy of the disk image with one byte of the build record's data flipped.
fn tampered_copy(project: &Project, name: &str, spec: &BootSpec) -> Result<BootSpec> {
    let out_dir = project.output_dir(name);
    let record = std::fs::read(out_dir.join("build.json")).context("reading the build record")?;
    let mut disk = std::fs::read(&spec.disk)?;
    let offset = tamper::flip_byte_of_file(&mut disk, &record).map_err(anyhow::Error::msg)?;
    let tampered_disk = out_dir.join("disk-tampered.img");
    crate::cache::write_atomic(&tampered_disk, &disk)?;
    println!(
        "tampered copy: flipped the byte at offset {offset} of {}",
        tampered_disk.display()
    );
    Ok(BootSpec {
        disk: tampered_disk,
        ..spec.clone()
    })
}
