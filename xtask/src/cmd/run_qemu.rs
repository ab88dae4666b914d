//! `cargo xtask run-qemu`: boot a built image interactively.

use anyhow::{Result, bail};
use appliance_qemu::Accel;
use clap::Args;

use crate::guests;
use crate::project::Project;
use crate::stages::{boot_spec, image};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which built image to boot, by its folder under target/appliance/.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Force an accelerator instead of probing: tcg or kvm.
    #[arg(long, value_parser = ["tcg", "kvm"])]
    pub accel: Option<String>,
    /// Extra kernel command-line arguments, appended.
    #[arg(long)]
    pub append: Option<String>,
}

pub fn run(project: &Project, args: &RunArgs) -> Result<()> {
    image::check_name(&args.name)?;
    let mut spec = boot_spec::load(&project.output_dir(&args.name))?;
    if let Some(extra) = &args.append {
        spec.cmdline = format!("{} {extra}", spec.cmdline);
    }
    let accel = match args.accel.as_deref() {
        Some("kvm") => Accel::Kvm,
        Some(_) => Accel::Tcg,
        None => guests::choose_accel(&project.cache, &spec),
    };
    eprintln!(
        "Booting {} ({accel:?}). Quit with Ctrl-A X.",
        spec.kernel.display()
    );
    let status = appliance_qemu::run_interactive(&guests::machine(&spec, accel))?;
    if !status.success() {
        bail!("QEMU exited with {status}");
    }
    Ok(())
}
