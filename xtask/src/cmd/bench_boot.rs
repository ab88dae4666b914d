//! `cargo xtask bench boot`: the appliance's boot time as a device boots it (OVMF with Secure
//! Boot starting the signed UKI from the disk's ESP) against QEMU's direct kernel boot, in the
//! same run, on the same image and accelerator. A boot is timed from QEMU's start to the init's
//! first line; for the firmware's way, also to the kernel's EFI stub's first line (the
//! firmware's share). Rounds alternate the two ways, one guest at a time; the median counts.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use appliance_qemu::{Guest, Machine};
use clap::Args;

use crate::args::ImageArgs;
use crate::guests;
use crate::stages::image;
use crate::stages::layer_stack::Ipe;
use crate::stages::session::Session;

#[derive(Debug, Args)]
pub struct BenchBootArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Which IPE the kernel gets.
    #[arg(long, value_enum, default_value = "rust")]
    pub ipe: Ipe,
    /// Boots of each way; the median counts.
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
}

/// The kernel's EFI stub prints this first: the firmware has handed over.
const STUB_MARKER: &str = "EFI stub:";
const TIMEOUT: Duration = Duration::from_secs(180);

/// Seconds from QEMU's start to `markers`, in order.
fn time_boot(machine: &Machine, markers: &[&str]) -> Result<Vec<f64>> {
    let started = Instant::now();
    let mut guest = Guest::start(machine)?;
    let mut times = Vec::new();
    for marker in markers {
        guest
            .wait_for(marker, TIMEOUT)
            .with_context(|| format!("waiting for {marker:?}"))?;
        times.push(started.elapsed().as_secs_f64());
    }
    guest.kill();
    Ok(times)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn run(session: &Session, args: &BenchBootArgs) -> Result<()> {
    let request = args.image.request(&session.project.root, args.ipe)?;
    let built = image::build(session, &request)?;
    let accel = guests::choose_accel(&session.project.cache, &built.boot);
    let run_vars = built.test_dir.join("bench-boot-ovmf-vars.fd");
    let (mut direct, mut firmware, mut to_stub) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=args.rounds.max(1) {
        tracing::info!("bench boot: round {round}/{} ({accel:?})", args.rounds);
        let times = time_boot(
            &guests::machine(&built.boot, accel),
            &[guests::BOOTED_MARKER],
        )?;
        direct.push(times[0]);
        let machine = guests::uefi_machine(&built.boot, accel, &run_vars)?;
        let times = time_boot(&machine, &[STUB_MARKER, guests::BOOTED_MARKER])?;
        to_stub.push(times[0]);
        firmware.push(times[1]);
    }
    let (direct, firmware, to_stub) = (median(direct), median(firmware), median(to_stub));
    println!(
        "boot to the init's first line, median of {} ({accel:?}, image {}):",
        args.rounds.max(1),
        request.name
    );
    println!("  direct kernel boot (-kernel):                 {direct:6.2} s");
    println!("  OVMF + Secure Boot + signed UKI:              {firmware:6.2} s");
    println!("    of which until the kernel's EFI stub runs:  {to_stub:6.2} s");
    println!(
        "  ratio, firmware / direct:                     {:6.2}",
        firmware / direct
    );
    Ok(())
}
