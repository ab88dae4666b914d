//! `cargo xtask bench update`: one full field-update cycle as a device takes it, timed under
//! the run's accelerator (TCG here). Each round starts from a fresh factory disk and variable
//! store: QEMU's start until slot A is up (marked good), the bundle of the next release copied
//! in and installed by RAUC into slot B, then the reboot until slot B is up and marked good.
//! The medians count. There is no reference tool to compare with: the figures are the cycle's.

use std::time::Instant;

use anyhow::{Result, anyhow};
use clap::Args;

use crate::args::ImageArgs;
use crate::guests;
use crate::stages::image;
use crate::stages::layer_stack::Ipe;
use crate::stages::session::Session;
use crate::suite::updates::{self, Device};

#[derive(Debug, Args)]
pub struct BenchUpdateArgs {
    /// The release the device runs; the debug layer is added (its shell drives RAUC).
    #[command(flatten)]
    pub image: ImageArgs,
    /// Which IPE the kernel gets.
    #[arg(long, value_enum, default_value = "rust")]
    pub ipe: Ipe,
    /// Update cycles, each on a fresh factory disk; the median counts.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Seconds allowed for each boot.
    #[arg(long, default_value_t = 180)]
    pub boot_timeout: u64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn run(session: &Session, args: &BenchUpdateArgs) -> Result<()> {
    let mut image_args = args.image.clone();
    if !image_args.layers.names.iter().any(|name| name == "debug") {
        image_args.layers.names.push("debug".to_owned());
    }
    image_args.name = format!("{}-bench-update", args.image.name);
    let request = image_args.request(&session.project.root, args.ipe)?;
    let current = image::build(session, &request)?;
    let dir = current.test_dir.join("bench-update");
    std::fs::create_dir_all(&dir)?;
    let (next, bundle) = updates::next_release(session, &current, &dir)?;
    let accel = guests::choose_accel(&session.project.cache, &current.boot);
    let timeout = std::time::Duration::from_secs(args.boot_timeout);
    let failed = |error: String| anyhow!(error);
    let (mut boots, mut installs, mut reboots) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=args.rounds.max(1) {
        tracing::info!("bench update: round {round}/{} ({accel:?})", args.rounds);
        let device = Device::factory(&current, accel, &dir, timeout)?;
        let started = Instant::now();
        let mut guest = device.boot(Some(&bundle)).map_err(failed)?;
        boots.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let installed = device.install(&mut guest, &bundle).map_err(failed)?;
        anyhow::ensure!(installed.status == 0, "rauc install: {}", installed.text);
        installs.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        device.reboot(guest).map_err(failed)?;
        let mut guest = device.boot(None).map_err(failed)?;
        reboots.push(started.elapsed().as_secs_f64());
        updates::expect_slot(&mut guest, "B", &next).map_err(failed)?;
        guest.kill();
    }
    let bundle_bytes = std::fs::metadata(&bundle)?.len();
    let (boot, install, reboot) = (median(boots), median(installs), median(reboots));
    println!(
        "update cycle, median of {} ({accel:?}, {} {} -> {}, bundle {bundle_bytes} bytes):",
        args.rounds.max(1),
        request.name,
        current.policy.version(),
        next.policy.version()
    );
    println!("  factory boot until slot A is marked good:      {boot:6.2} s");
    println!("  bundle copied into /tmp and installed to B:    {install:6.2} s");
    println!("  reboot until slot B is up and marked good:     {reboot:6.2} s");
    println!(
        "  update cycle (install + reboot):               {:6.2} s",
        install + reboot
    );
    Ok(())
}
