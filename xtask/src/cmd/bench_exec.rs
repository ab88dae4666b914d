//! `cargo xtask bench exec`: exec latency inside the guest, with no IPE, upstream's C IPE and the
//! Rust IPE, under the appliance's policy and under one with thousands of digest rules. A run is
//! N fork+exec of the static busybox from a shell loop, timed by the guest's own clock, one
//! guest at a time so that runs do not compete for the host's CPUs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use appliance_qemu::Guest;
use clap::Args;

use crate::flags::{ImageArgs, Ipe};
use crate::project::Project;
use crate::run_qemu;
use crate::stages::image::{self, BootSpec};
use crate::stages::sign;

#[derive(Debug, Args)]
pub struct BenchExecArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// fork+exec per run.
    #[arg(long, default_value_t = 10_000)]
    pub execs: u32,
    /// Digest rules put before the appliance's rules in the large policy. None matches, so an
    /// evaluator that scans rules in order reads them all on every exec and mmap.
    #[arg(long, default_value_t = 10_000)]
    pub rules: u32,
}

const IPE: &str = "/sys/kernel/security/ipe";
/// The large policy's name; its version is above any the appliance ships, so it can be activated.
const LARGE_POLICY: &str = "bench-large";

#[derive(Clone, Copy, PartialEq)]
enum Policy {
    /// IPE left out of the kernel's LSM list (`lsm=capability`).
    NoIpe,
    Shipped,
    Large,
}

struct Measurement {
    label: String,
    seconds: f64,
}

pub fn run(project: &Project, args: &BenchExecArgs) -> Result<()> {
    let mut images = Vec::new();
    for ipe in [Ipe::Upstream, Ipe::Rust] {
        let name = match ipe {
            Ipe::Rust => args.image.name.clone(),
            Ipe::Upstream => format!("{}-upstream", args.image.name),
        };
        let request = crate::image_request(
            project,
            &ImageArgs {
                name: name.clone(),
                ..args.image.clone()
            },
            ipe,
        );
        let spec = image::build(project, &request)?;
        let out_dir = project.output_dir(&name);
        let large = large_policy_disk(&request.signer, &out_dir, args.rules)?;
        images.push((ipe, spec, large));
    }
    let accel = run_qemu::choose_accel(project, &images[0].1);
    let plans = [
        (Ipe::Upstream, Policy::NoIpe),
        (Ipe::Upstream, Policy::Shipped),
        (Ipe::Rust, Policy::Shipped),
        (Ipe::Upstream, Policy::Large),
        (Ipe::Rust, Policy::Large),
    ];
    let mut results = Vec::new();
    for (ipe, policy) in plans {
        let (_, spec, large) = images
            .iter()
            .find(|(built, _, _)| *built == ipe)
            .context("every IPE's image is built")?;
        let label = match (policy, ipe) {
            (Policy::NoIpe, _) => "no IPE (lsm=capability)".to_owned(),
            (Policy::Shipped, Ipe::Upstream) => "upstream IPE, appliance policy".to_owned(),
            (Policy::Shipped, Ipe::Rust) => "Rust IPE, appliance policy".to_owned(),
            (Policy::Large, Ipe::Upstream) => format!("upstream IPE, {}-rule policy", args.rules),
            (Policy::Large, Ipe::Rust) => format!("Rust IPE, {}-rule policy", args.rules),
        };
        tracing::info!("bench exec: {label}, {} execs ({accel:?})", args.execs);
        let seconds = measure(spec, large, policy, accel, args.execs)
            .with_context(|| format!("measuring {label}"))?;
        println!(
            "{label:<40} {seconds:>8.2} s {:>8.1} µs/exec",
            seconds * 1e6 / f64::from(args.execs)
        );
        results.push(Measurement { label, seconds });
    }
    print_ratios(&results);
    Ok(())
}

fn print_ratios(results: &[Measurement]) {
    let [none, up_small, rust_small, up_large, rust_large] = results else {
        return;
    };
    println!(
        "Rust / upstream, appliance policy: {:.2}",
        rust_small.seconds / up_small.seconds
    );
    println!(
        "Rust / upstream, large policy: {:.2}",
        rust_large.seconds / up_large.seconds
    );
    for m in [up_small, rust_small, up_large, rust_large] {
        println!(
            "{} / {}: {:.2}",
            m.label,
            none.label,
            m.seconds / none.seconds
        );
    }
    println!(
        "large / appliance policy: upstream {:.2}, Rust {:.2}",
        up_large.seconds / up_small.seconds,
        rust_large.seconds / rust_small.seconds
    );
}

/// Boots the image, loads the large policy if asked, and times the exec loop.
fn measure(
    spec: &BootSpec,
    large: &LargePolicyDisk,
    policy: Policy,
    accel: appliance_qemu::Accel,
    execs: u32,
) -> Result<f64> {
    let mut machine = run_qemu::machine(spec, accel);
    if policy == Policy::NoIpe {
        machine.cmdline.push_str(" lsm=capability");
    }
    machine.disks.push(large.path.clone());
    let mut guest = Guest::start(&machine)?;
    let timeout = Duration::from_secs(120);
    guest.wait_for(run_qemu::BOOTED_MARKER, timeout)?;
    guest.run("dmesg -n 1", timeout)?;
    if policy == Policy::Large {
        let device = spec.extra_disk_device();
        let length = large.length;
        let output = guest.run(
            &format!(
                "head -c {length} {device} > /tmp/large.p7s && \
                 dd if=/tmp/large.p7s of={IPE}/new_policy bs=4M 2>&1 | grep -v records; \
                 echo 1 > {IPE}/policies/{LARGE_POLICY}/active; \
                 cat {IPE}/policies/{LARGE_POLICY}/active"
            ),
            timeout,
        )?;
        if output.text.trim() != "1" {
            bail!(
                "the large policy did not load and activate: {}",
                output.text
            );
        }
    }
    let loop_timeout = Duration::from_secs(120 + u64::from(execs) / 20);
    let output = guest.run(
        &format!(
            "read a _ < /proc/uptime; i=0; while [ $i -lt {execs} ]; do /bin/busybox true; \
             i=$((i+1)); done; read b _ < /proc/uptime; echo $a $b"
        ),
        loop_timeout,
    )?;
    let times: Vec<f64> = output
        .text
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    match times[..] {
        [start, end] => Ok(end - start),
        _ => bail!("unexpected output from the exec loop: {:?}", output.text),
    }
}

/// A raw disk holding the signed large policy: the shipped policy's rules after `rules` digest
/// rules that match nothing, under a new name and the highest version.
fn large_policy_disk(
    signer: &sign::SignerChoice,
    out_dir: &Path,
    rules: u32,
) -> Result<LargePolicyDisk> {
    let shipped = std::fs::read_to_string(out_dir.join("policy.pol"))?;
    let text = large_policy(&shipped, rules);
    ipe_lsm::host::check(text.as_bytes())
        .map_err(|diagnostic| anyhow::anyhow!("the large policy is invalid: {diagnostic}"))?;
    let mut signed = sign::load(signer)?.sign_policy(&text)?;
    let length = signed.len();
    // QEMU sees whole sectors; the guest reads back only the policy's own length.
    signed.resize(length.next_multiple_of(512), 0);
    let path = out_dir.join("bench-large-policy.img");
    crate::cache::write_atomic(&path, &signed)?;
    Ok(LargePolicyDisk { path, length })
}

/// A disk image whose first `length` bytes are the signed large policy.
struct LargePolicyDisk {
    path: PathBuf,
    length: usize,
}

fn large_policy(shipped: &str, rules: u32) -> String {
    let (defaults, rest): (Vec<&str>, Vec<&str>) = shipped
        .lines()
        .skip(1)
        .partition(|line| line.starts_with("DEFAULT"));
    let mut text = format!("policy_name={LARGE_POLICY} policy_version=65535.0.0\n");
    for line in defaults {
        text.push_str(line);
        text.push('\n');
    }
    for i in 0..rules {
        text.push_str(&format!(
            "op=EXECUTE dmverity_roothash=sha256:{i:064x} action=ALLOW\n"
        ));
    }
    for line in rest {
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_policy_puts_its_digest_rules_first() {
        let shipped = "policy_name=fw policy_version=0.1.0\nDEFAULT action=DENY\n# root\nop=EXECUTE dmverity_roothash=sha256:aa action=ALLOW\n";
        let text = large_policy(shipped, 2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "policy_name=bench-large policy_version=65535.0.0");
        assert_eq!(lines[1], "DEFAULT action=DENY");
        assert!(lines[2].ends_with(&format!("{:064x} action=ALLOW", 0)));
        assert!(lines[3].ends_with(&format!("{:064x} action=ALLOW", 1)));
        assert_eq!(
            lines[5],
            "op=EXECUTE dmverity_roothash=sha256:aa action=ALLOW"
        );
    }
}
