//! `cargo xtask repro`: the image built twice, the second time from a copy of the checkout at
//! another path with a cache of its own, and compared byte for byte.
//!
//! The second cache shares only verified downloads (the pinned .debs, checked against their
//! sha256 again) and bindgen, a tool like rustc; the kernel source is extracted again and every
//! kernel object and binary is compiled again. The keys are the same: they are an input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, ensure};
use clap::Args;

use crate::args::ImageArgs;
use crate::cache;
use crate::exec::Tool;
use crate::stages::image::{self, ImageRequest};
use crate::stages::layer_stack::Ipe;
use crate::stages::outputs;
use crate::stages::session::Session;
use crate::stages::sign::{SignerChoice, UefiSignerChoice};

#[derive(Debug, Args)]
pub struct ReproArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Which IPE the kernel gets.
    #[arg(long, value_enum, default_value = "rust", env = "APPLIANCE_IPE")]
    pub ipe: Ipe,
}

pub fn run(session: &Session, args: &ReproArgs) -> Result<ExitCode> {
    let project = &session.project;
    let request = args.image.request(&project.root, args.ipe)?;
    let first = image::build(session, &request)?;

    let scratch = project.root.join("target/repro");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing the last run's {}", scratch.display()))?;
    }
    let checkout = scratch.join("checkout");
    let second_cache = scratch.join("cache");
    copy_checkout(&project.root, &checkout)?;
    seed_downloads(session, &second_cache)?;
    tracing::info!(
        "repro: the second build, in {} with the cache {} (it compiles the kernel again)",
        checkout.display(),
        second_cache.display()
    );
    second_build(&request, &checkout, &second_cache)?;

    // Every file of the shipped folder: bzImage, disk.img, the policy and its
    // signature, manifest.json, build.json, the command line and boot.json.
    let second_out = checkout.join("target/appliance").join(&request.name);
    match outputs::compare(&first.out_dir, &second_out, None) {
        Ok(()) => {
            let mut names: Vec<String> = fs::read_dir(&first.out_dir)?
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            println!(
                "repro: identical: {} (two checkouts, two caches, built at different times)",
                names.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(difference) => {
            println!("repro: NOT reproducible: {difference}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The checkout's files as git sees them (tracked, and untracked but not ignored), with their
/// current contents, at another path.
pub(crate) fn copy_checkout(root: &Path, checkout: &Path) -> Result<()> {
    let listing = Tool::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .context("listing the checkout's files (repro needs a git checkout)")?;
    let mut copied = 0usize;
    for name in listing.split(|&b| b == 0).filter(|name| !name.is_empty()) {
        let relative = PathBuf::from(String::from_utf8_lossy(name).into_owned());
        let source = root.join(&relative);
        // A tracked file deleted in the working tree is not an input any more.
        let Ok(meta) = fs::symlink_metadata(&source) else {
            continue;
        };
        let target = checkout.join(&relative);
        fs::create_dir_all(target.parent().context("a file with no parent")?)?;
        if meta.file_type().is_symlink() {
            // A copy made before (the benchmark keeps its checkout) is replaced.
            if fs::symlink_metadata(&target).is_ok() {
                fs::remove_file(&target)?;
            }
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
        } else {
            fs::copy(&source, &target).with_context(|| format!("copying {}", source.display()))?;
        }
        copied += 1;
    }
    tracing::info!(
        "copied the checkout's {copied} files to {}",
        checkout.display()
    );
    Ok(())
}

/// Verified downloads and bindgen, linked into the second cache: nothing built.
fn seed_downloads(session: &Session, second_cache: &Path) -> Result<()> {
    let project = &session.project;
    let debs = second_cache.join("debs");
    fs::create_dir_all(&debs)?;
    for pin in &project.lock.packages {
        let from = project
            .cache
            .path("debs")
            .join(format!("{}.deb", pin.sha256));
        if !from.is_file() {
            continue;
        }
        ensure!(
            cache::sha256_file(&from)? == pin.sha256,
            "{} does not match packages.lock",
            from.display()
        );
        link_or_copy(&from, &debs.join(format!("{}.deb", pin.sha256)))?;
    }
    let bindgen = &session.toolchain()?.bindgen;
    let to = second_cache.join("tools/bin/bindgen");
    fs::create_dir_all(to.parent().context("no parent")?)?;
    link_or_copy(bindgen, &to)
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

fn second_build(request: &ImageRequest, checkout: &Path, second_cache: &Path) -> Result<()> {
    let mut tool = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["xtask", "image", "--name", &request.name])
        .arg(format!("--layers={}", request.layers.join(",")))
        .arg(format!("--ipe={}", request.ipe.name()))
        .arg(format!("--source-date-epoch={}", request.source_date_epoch))
        .current_dir(checkout)
        .env("APPLIANCE_CACHE", second_cache)
        // The second build proves what this machine builds: nothing from a remote cache.
        .env(crate::remote_cache::URL_ENV, "");
    if let Some(version) = &request.policy_version {
        tool = tool.arg(format!("--policy-version={version}"));
    }
    tool = match &request.signer {
        SignerChoice::DevKeys(dir) => tool.arg("--keys").arg(dir),
        SignerChoice::External { cert, command } => tool
            .arg("--cert")
            .arg(cert)
            .arg("--external-signer")
            .arg(command),
        SignerChoice::Offline { .. } => {
            anyhow::bail!("an image cannot be signed with an offline signature")
        }
    };
    if let UefiSignerChoice::External { cert, command } = &request.uefi_signer {
        tool = tool
            .arg("--uefi-cert")
            .arg(cert)
            .arg("--uefi-external-signer")
            .arg(command);
    }
    tool.run_streaming(|line| eprintln!("  second build | {line}"))
}
