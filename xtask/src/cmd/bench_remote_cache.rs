//! `cargo xtask bench remote-cache`: what the remote cache saves a new machine. Machine A
//! builds the image and pushes to a `docker-registry` on the loopback; machine B, an empty
//! cache and a second checkout at another path (this one's files, copied as `repro` copies
//! them; its xtask compiled before the clock starts), pulls and builds the same image; then B builds the image with one more layer that
//! changes only the rootfs (`debug`: an overlay, a package, a binary), which relinks the
//! kernel's boot policy from the pulled object tree. Prints each time, the ratio A/B, the
//! bytes each side moved and the kernel objects B compiled; B's outputs must equal A's.

use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};
use clap::Args;

use crate::args::ImageArgs;
use crate::exec::Tool;
use crate::stages::layer_stack::Ipe;
use crate::stages::outputs;
use crate::stages::session::Session;
use crate::suite::remote_cache::{self, Machine, Run};

#[derive(Debug, Args)]
pub struct BenchRemoteCacheArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Which IPE the kernel gets.
    #[arg(long, value_enum, default_value = "rust", env = "APPLIANCE_IPE")]
    pub ipe: Ipe,
    /// Machine A uses this checkout's cache ($APPLIANCE_CACHE) instead of an empty one, so it
    /// only pushes what it has (a cold A compiles the kernel: 20 minutes or more on 2 cores).
    #[arg(long)]
    pub warm_a: bool,
    /// The layer B adds for its rootfs-only change.
    #[arg(long, default_value = "debug")]
    pub extra_layer: String,
}

pub fn run(session: &Session, args: &BenchRemoteCacheArgs) -> Result<()> {
    let project = &session.project;
    let base = args.image.request(&project.root, args.ipe)?;
    // Setup's tools (bindgen) come from the bench's own cache, as on a prepared machine.
    session.toolchain()?;
    let dir = project.root.join("target/bench-remote-cache");
    let registry = remote_cache::Registry::start(&dir.join("registry"))?;
    let crate::stages::sign::SignerChoice::DevKeys(builder_keys) = &base.signer else {
        anyhow::bail!("the benchmark signs with development keys");
    };
    let fresh = |name: &str| -> Result<Machine> {
        let cache = dir.join(name);
        if cache.exists() {
            std::fs::remove_dir_all(&cache)?;
        }
        remote_cache::seed_tools(project, &cache)?;
        Ok(Machine {
            cache,
            builder_keys: builder_keys.clone(),
            checkout: project.root.clone(),
        })
    };
    let a = if args.warm_a {
        Machine {
            cache: project.cache.root.clone(),
            builder_keys: builder_keys.clone(),
            checkout: project.root.clone(),
        }
    } else {
        fresh("machine-a")?
    };
    let b = Machine {
        checkout: second_checkout(&project.root, &dir.join("checkout-b"))?,
        ..fresh("machine-b")?
    };
    let name = args.ipe.output_name(&base.name);
    let names = ["a", "b", "b-rootfs-change"].map(|side| format!("{name}-bench-{side}"));
    for (machine, name) in [(&a, &names[0]), (&b, &names[1]), (&b, &names[2])] {
        let work = machine.checkout.join("target/appliance-work").join(name);
        if work.exists() {
            std::fs::remove_dir_all(work)?;
        }
    }
    let epoch = base.source_date_epoch;
    let rw = Some((registry.url.as_str(), "read-write"));
    let ro = Some((registry.url.as_str(), "read-only"));
    let first = remote_cache::build(&a, &names[0], &base, epoch, rw)?;
    let second = remote_cache::build(&b, &names[1], &base, epoch, ro)?;
    outputs::compare(
        &project.output_dir(&names[0]),
        &b.checkout.join("target/appliance").join(&names[1]),
        None,
    )
    .map_err(|difference| anyhow::anyhow!("B's outputs differ from A's: {difference}"))?;
    let mut changed = base.clone();
    changed.layers.push(args.extra_layer.clone());
    let third = remote_cache::build(&b, &names[2], &changed, epoch, ro)?;

    println!(
        "remote cache bench (--ipe {}, A {}):",
        args.ipe.name(),
        if args.warm_a { "warm" } else { "cold" }
    );
    let line = |what: &str, run: &Run| {
        let (pulled, pushed) = run.traffic();
        println!(
            "  {what:<28} {:>8.1} s  pulled {pulled:>11} B  pushed {pushed:>11} B  kernel objects compiled: {}",
            run.seconds,
            run.kernel_steps.len()
        );
    };
    line("A (pushes)", &first);
    line("B (pulls, same image)", &second);
    line("B, rootfs-only change", &third);
    println!("  A/B ratio: {:.1}", first.seconds / second.seconds);
    if !third.kernel_steps.is_empty() {
        println!(
            "  compiled on the rootfs change: {}",
            third.kernel_steps.join(", ")
        );
    }
    println!("  B's outputs are byte-identical to A's");
    ensure!(
        second.kernel_steps.is_empty(),
        "B compiled kernel objects: {:?}",
        second.kernel_steps
    );
    Ok(())
}

/// This checkout's files at `path`, its xtask compiled there, so that B's clock measures the
/// image build alone. The copy keeps its `target/` (and so its compiled xtask) between runs.
fn second_checkout(root: &Path, path: &Path) -> Result<PathBuf> {
    crate::cmd::repro::copy_checkout(root, path)?;
    tracing::info!(
        "bench remote-cache: compiling xtask in machine B's checkout {} (not timed)",
        path.display()
    );
    Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--package", "xtask"])
        .current_dir(path)
        .run()?;
    Ok(path.to_owned())
}
