//! `cargo xtask bench exec`: exec latency inside the guest, with no IPE, upstream's C IPE and the
//! Rust IPE, under the appliance's policy and under one with thousands of digest rules. A run is
//! N fork+exec of the static busybox from a shell loop, timed by the guest's own clock, one
//! guest at a time so that runs do not compete for the host's CPUs; rounds alternate the
//! kernels, and the fastest run of each counts, since interference only ever slows a run.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use ipe_lsm::Version;
use ipe_lsm::host::PolicyText;

use crate::args::ImageArgs;
use crate::guests;
use crate::stages::boot_spec::BootSpec;
use crate::stages::image;
use crate::stages::layer_stack::Ipe;
use crate::stages::session::Session;

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
    /// Runs of each kernel; the fastest counts.
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
}

/// The large policy's name and version. It is the kernel's boot policy, because a signed policy
/// that large cannot be loaded: the kernel's ASN.1 decoder takes at most 64 KiB. Its version is
/// above the appliance's, so the init cannot activate the signed one over it.
const LARGE_POLICY: &str = "bench-large";
const LARGE_POLICY_VERSION: Version = Version {
    major: 65535,
    minor: 0,
    revision: 0,
};

/// One kernel to measure.
struct Contender {
    label: String,
    spec: BootSpec,
    /// Appended to the command line.
    extra_cmdline: &'static str,
    /// The policy that must be active, by name.
    active_policy: String,
    runs: Vec<f64>,
}

impl Contender {
    fn best(&self) -> f64 {
        self.runs.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

pub fn run(session: &Session, args: &BenchExecArgs) -> Result<()> {
    let mut small = Vec::new();
    let mut large = Vec::new();
    for ipe in [Ipe::Upstream, Ipe::Rust] {
        let name = ipe.output_name(&args.image.name);
        let who = match ipe {
            Ipe::Rust => "Rust IPE",
            Ipe::Upstream => "upstream IPE",
        };
        let request = ImageArgs {
            name,
            ..args.image.clone()
        }
        .request(&session.project.root, ipe)?;
        let built = image::build(session, &request)?;
        let spec = &built.boot;
        tracing::info!(
            "bench exec: the {who} kernel with the {}-rule boot policy",
            args.rules
        );
        let kernel =
            built.kernel_with_boot_policy(session, &large_policy(&built.policy, args.rules))?;
        if ipe == Ipe::Upstream {
            small.push(contender(
                "no IPE (lsm=capability)".to_owned(),
                spec,
                "lsm=capability",
                "",
            ));
        }
        small.push(contender(
            format!("{who}, appliance policy"),
            spec,
            "",
            built.policy.name(),
        ));
        large.push(contender(
            format!("{who}, {}-rule policy", args.rules),
            &BootSpec {
                kernel,
                ..spec.clone()
            },
            "",
            LARGE_POLICY,
        ));
    }
    let mut contenders: Vec<Contender> = small.into_iter().chain(large).collect();
    let accel = guests::choose_accel(&session.project.cache, &contenders[0].spec);
    for round in 1..=args.rounds {
        for contender in &mut contenders {
            tracing::info!(
                "bench exec: round {round}/{}, {}, {} execs ({accel:?})",
                args.rounds,
                contender.label,
                args.execs
            );
            let seconds = measure(contender, accel, args.execs)
                .with_context(|| format!("measuring {}", contender.label))?;
            contender.runs.push(seconds);
        }
    }
    for contender in &contenders {
        let runs: Vec<String> = contender.runs.iter().map(|s| format!("{s:.1}")).collect();
        println!(
            "{:<36} {:>7.1} µs/exec  (runs: {} s)",
            contender.label,
            contender.best() * 1e6 / f64::from(args.execs),
            runs.join(", ")
        );
    }
    print_ratios(&contenders);
    Ok(())
}

fn contender(
    label: String,
    spec: &BootSpec,
    extra_cmdline: &'static str,
    active: &str,
) -> Contender {
    Contender {
        label,
        spec: spec.clone(),
        extra_cmdline,
        active_policy: active.to_owned(),
        runs: Vec::new(),
    }
}

fn print_ratios(contenders: &[Contender]) {
    let [none, up_small, rust_small, up_large, rust_large] = contenders else {
        return;
    };
    let ratio = |a: &Contender, b: &Contender| a.best() / b.best();
    println!(
        "Rust / upstream, appliance policy: {:.2}",
        ratio(rust_small, up_small)
    );
    println!(
        "Rust / upstream, large policy:     {:.2}",
        ratio(rust_large, up_large)
    );
    println!(
        "large / appliance policy:          upstream {:.2}, Rust {:.2}",
        ratio(up_large, up_small),
        ratio(rust_large, rust_small)
    );
    for c in [up_small, rust_small, up_large, rust_large] {
        println!("{} / {}: {:.2}", c.label, none.label, ratio(c, none));
    }
}

/// Boots the contender, checks which policy is active, and times the exec loop.
fn measure(contender: &Contender, accel: appliance_qemu::Accel, execs: u32) -> Result<f64> {
    let mut machine = guests::machine(&contender.spec, accel);
    machine.cmdline = format!("{} {}", machine.cmdline, contender.extra_cmdline);
    let timeout = Duration::from_secs(120);
    let mut guest = guests::boot_to_shell(&machine, timeout)?;
    let active = guest.run(
        "for p in /sys/kernel/security/ipe/policies/*; do \
         [ \"$(cat $p/active)\" = 1 ] && cat $p/name; done 2>/dev/null; true",
        timeout,
    )?;
    if active.text.trim() != contender.active_policy {
        bail!(
            "the active IPE policy is {:?}, expected {:?}",
            active.text.trim(),
            contender.active_policy
        );
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

/// The shipped policy's rules after `rules` digest rules that match nothing, under the large
/// policy's name and version.
fn large_policy(shipped: &PolicyText, rules: u32) -> PolicyText {
    shipped
        .renamed(LARGE_POLICY, LARGE_POLICY_VERSION)
        .with_rules_first(
            (0..rules)
                .map(|i| format!("op=EXECUTE dmverity_roothash=sha256:{i:064x} action=ALLOW")),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_policy_puts_its_digest_rules_first() {
        let mut shipped = PolicyText::new("fw", "0.1.0".parse().unwrap(), ipe_lsm::Action::Deny);
        shipped
            .comment("root")
            .rule("op=EXECUTE dmverity_roothash=sha256:aa action=ALLOW");
        let text = large_policy(&shipped, 2).render_checked().unwrap();
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
