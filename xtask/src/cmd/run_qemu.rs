//! `cargo xtask run-qemu`: boot a built image interactively.

use anyhow::{Result, bail};
use std::net::{Ipv4Addr, SocketAddrV4};

use appliance_qemu::{Accel, UserNetwork};
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
    /// Boot the kernel directly (QEMU's -kernel and -append) instead of through the firmware:
    /// quicker, and the command line can be changed, for development. By default the appliance
    /// boots as a device does: OVMF with Secure Boot enforcing and the build's keys enrolled
    /// starts the signed UKI from the disk's ESP.
    #[arg(long)]
    pub direct: bool,
    /// Extra kernel command-line arguments, appended (with --direct only: under Secure Boot
    /// the UKI's stub ignores any command line but its own).
    #[arg(long, requires = "direct")]
    pub append: Option<String>,
    /// Forward TCP port HOST on 127.0.0.1 to port GUEST of the appliance, as HOST:GUEST;
    /// repeat for more. The default reaches the firewall's status page:
    /// `curl http://127.0.0.1:8080/cgi-bin/status`.
    #[arg(long, value_name = "HOST:GUEST", default_value = "8080:80", value_parser = parse_forward)]
    pub forward: Vec<(u16, u16)>,
}

fn parse_forward(text: &str) -> Result<(u16, u16), String> {
    let (host, guest) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected HOST:GUEST, two port numbers"))?;
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("{p:?} in {text:?} is not a port number (1 to 65535)"))
    };
    Ok((port(host)?, port(guest)?))
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
    let mut machine = if args.direct {
        eprintln!(
            "Booting {} directly ({accel:?}). Quit with Ctrl-A X.",
            spec.kernel.display()
        );
        guests::machine(&spec, accel)
    } else {
        eprintln!(
            "Booting {} under OVMF with Secure Boot ({accel:?}). Quit with Ctrl-A X.",
            spec.uki.display()
        );
        let run_vars = project.test_dir(&args.name).join("run-qemu-ovmf-vars.fd");
        guests::uefi_machine(&spec, accel, &run_vars)?
    };
    machine.network = Some(UserNetwork {
        forwards: args
            .forward
            .iter()
            .map(|&(host, guest)| (SocketAddrV4::new(Ipv4Addr::LOCALHOST, host), guest))
            .collect(),
    });
    for (host, guest) in &args.forward {
        eprintln!("Guest port {guest} is forwarded from 127.0.0.1:{host}.");
    }
    let status = appliance_qemu::run_interactive(&machine)?;
    if !status.success() {
        bail!("QEMU exited with {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_forward;

    #[test]
    fn forwards_are_two_port_numbers() {
        assert_eq!(parse_forward("8080:80"), Ok((8080, 80)));
        let error = parse_forward("8080").unwrap_err();
        assert!(error.contains("expected HOST:GUEST"), "{error}");
        let error = parse_forward("8080:http").unwrap_err();
        assert!(
            error.contains("\"http\" in \"8080:http\" is not a port number"),
            "{error}"
        );
        assert!(parse_forward("70000:80").is_err());
    }
}
