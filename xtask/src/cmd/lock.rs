//! `cargo xtask lock`: pins Debian packages in `packages.lock` with their whole dependency
//! closure, resolved from the bookworm indices as apt installs them on an empty system.

use anyhow::Result;

use crate::cache;
use crate::debian::closure::{self, Available};
use crate::flags::LockArgs;
use crate::lockfile::{self, Lockfile, PinnedPackage};
use crate::project::Project;
use crate::stages::{debian_index, setup};

pub fn run(project: &Project, args: &LockArgs) -> Result<()> {
    setup::update_pinned_lists(&project.cache)?;
    let lists = setup::pinned_apt_dir(&project.cache).join("lists");
    let mut lock = project.lock.clone();
    if args.no_deps {
        let suites: Vec<&str> = match &args.suite {
            Some(suite) => vec![suite.as_str()],
            None => debian_index::SUITES.to_vec(),
        };
        let index = debian_index::load(&lists, &suites)?;
        for name in &args.packages {
            let package = index.candidate(name, &suites.join(", "))?;
            report(&project.lock, package, " (alone)");
            lock.upsert(pin(package, None, Vec::new()));
        }
    } else {
        lock_closures(&mut lock, &lists, &args.packages)?;
    }
    cache::write_atomic(
        &project.root.join(lockfile::FILE_NAME),
        lock.render().as_bytes(),
    )
}

/// Resolves every closure in the lock again, with the new packages: one graph from one
/// snapshot of the indices, so that packages shared between closures agree.
fn lock_closures(lock: &mut Lockfile, lists: &std::path::Path, new: &[String]) -> Result<()> {
    let index = debian_index::load(lists, debian_index::SUITES)?;
    let mut requested = lock.requested();
    for name in new {
        if !requested.contains(name) {
            requested.push(name.clone());
        }
    }
    let chosen = closure::resolve(
        &index,
        &requested,
        &lock.omitted_names(),
        &debian_index::SUITES.join(", "),
    )?;
    let mut pulled_by = closure::pulled_by(&chosen, &requested);
    let mut pins = Vec::new();
    for (name, chosen) in chosen {
        report(lock, &chosen.package, "");
        let pulled_by = pulled_by.remove(&name).unwrap_or_default();
        pins.push(pin(
            &chosen.package,
            Some(chosen.depends.into_iter().collect()),
            pulled_by.into_iter().collect(),
        ));
    }
    tracing::info!(
        "locked {} package(s) for {}",
        pins.len(),
        requested.join(", ")
    );
    lock.replace_closures(pins);
    Ok(())
}

fn pin(package: &Available, depends: Option<Vec<String>>, pulled_by: Vec<String>) -> PinnedPackage {
    PinnedPackage {
        name: package.name.clone(),
        version: package.version.clone(),
        suite: package.suite.clone(),
        filename: Some(package.filename.clone()),
        sha256: package.sha256.clone(),
        depends,
        pulled_by,
    }
}

/// Says what changes: a new pin, or a new version of one.
fn report(old: &Lockfile, package: &Available, how: &str) {
    match old.get(&package.name) {
        Some(pinned) if pinned.version == package.version => {}
        Some(pinned) => tracing::info!(
            "updated {} {} → {}{how}",
            package.name,
            pinned.version,
            package.version
        ),
        None => tracing::info!("pinned {} {}{how}", package.name, package.version),
    }
}
