//! Kill safety: `xtask image` killed with SIGKILL, its whole process group at once, while
//! it packs the rootfs, hashes the verity tree, relinks the kernel and compiles a kernel
//! object, then run again, ships exactly what a build that was never interrupted ships.
//!
//! The reference is built first, uninterrupted, under another name; its kernel's cache entry is
//! then removed, so the interrupted builds must relink, and a source file of the kernel tree is
//! touched before the last kill, so that make must compile it again.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};

use crate::exec::Tool;
use crate::stages::image::Image;
use crate::stages::session::Session;
use crate::stages::{kernel, outputs};

/// Where each build is killed: at the first stderr line containing the text, with `-vv` where
/// kbuild's own lines must show.
const KILL_POINTS: &[(&str, &str, bool)] = &[
    ("rootfs packing", "rootfs: packing erofs", false),
    ("verity hashing", "verity: hashing", false),
    ("kernel relink", "kernel: building bzImage", false),
    ("kernel compile", "security/ipe_rust/lsm.o", true),
];

/// A kernel source the compile kill makes stale (the Rust IPE's C shim).
const TOUCHED_SOURCE: &str = "security/ipe_rust/lsm.c";

pub fn check(session: &Session, image: &Image) -> Result<()> {
    let project = &session.project;
    let base = &image.request;
    // Another epoch than the suite's image: every stage from the rootfs on has work to do.
    let epoch = (base.source_date_epoch + 1).to_string();
    let reference = format!("{}.kill-reference", base.name);
    let interrupted = format!("{}.kill-test", base.name);
    for name in [&reference, &interrupted] {
        let work = project.work_dir(name);
        if work.exists() {
            fs::remove_dir_all(&work)?;
        }
    }
    let status = xtask_image(project, &reference, &epoch, base, false)?.wait()?;
    ensure!(status.success(), "the reference build failed ({status})");
    let reference_dir = project.output_dir(&reference);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(reference_dir.join("manifest.json"))?)?;
    let key = manifest["kernel"]["key"]
        .as_str()
        .context("the reference manifest has no kernel key")?;
    let (entry, tree_src) = kernel::find_image_entry(&project.cache, key)
        .context("the reference kernel is not in the cache")?;
    fs::remove_dir_all(&entry)?;

    for (what, marker, verbose) in KILL_POINTS {
        if *verbose {
            touch(&tree_src.join(TOUCHED_SOURCE))?;
        }
        let mut build = xtask_image(project, &interrupted, &epoch, base, *verbose)?;
        let mut seen = false;
        while let Some(line) = build.next_line() {
            if line.contains(marker) {
                build.kill()?;
                seen = true;
                break;
            }
        }
        let status = build.wait()?;
        ensure!(
            seen,
            "the build never reached the {what} (`{marker}`) to be killed there ({status})"
        );
        ensure!(
            status.code().is_none(),
            "the build was to be killed during the {what}, but exited with {status}"
        );
        println!("kill test: killed `xtask image` during the {what}");
    }
    let status = xtask_image(project, &interrupted, &epoch, base, false)?.wait()?;
    ensure!(
        status.success(),
        "the build after the kills failed ({status})"
    );
    outputs::compare(&reference_dir, &project.output_dir(&interrupted), None)
        .map_err(|difference| anyhow::anyhow!("after the kills: {difference}"))?;
    for name in [&reference, &interrupted] {
        fs::remove_dir_all(project.output_dir(name))?;
        fs::remove_dir_all(project.work_dir(name))?;
    }
    Ok(())
}

/// `xtask image` for `name` at `epoch`, with the layers, IPE and keys of `base`.
fn xtask_image(
    project: &crate::project::Project,
    name: &str,
    epoch: &str,
    base: &crate::stages::image::ImageRequest,
    verbose: bool,
) -> Result<crate::exec::Group> {
    let crate::stages::sign::SignerChoice::DevKeys(keys) = &base.signer else {
        bail!("the kill test signs with development keys");
    };
    let mut tool = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "xtask",
            "image",
            "--name",
            name,
            "--source-date-epoch",
            epoch,
        ])
        .arg(format!("--layers={}", base.layers.join(",")))
        .arg(format!("--ipe={}", base.ipe.name()))
        .arg("--keys")
        .arg(keys)
        .current_dir(&project.root)
        .env("APPLIANCE_LOG", if verbose { "debug" } else { "info" });
    if verbose {
        tool = tool.arg("-vv");
    }
    tool.spawn_group()
}

/// Sets the file's modification time to now, without changing its bytes.
fn touch(path: &Path) -> Result<()> {
    let file = fs::File::options()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.set_modified(std::time::SystemTime::now())?;
    Ok(())
}
