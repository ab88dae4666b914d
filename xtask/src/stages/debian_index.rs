//! The Debian indices `cargo xtask lock` resolves against: the `Packages` files that apt
//! downloaded, signature-checked, into the pinned profile's private lists. apt may keep them
//! compressed (lz4, gz, …); `apt-helper cat-file` reads each exactly as apt does.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::debian::closure::{self, Available, Index};
use crate::debian::control;
use crate::exec::Tool;

/// The suites a closure comes from; security and updates supersede bookworm by version.
pub const SUITES: &[&str] = &["bookworm", "bookworm-updates", "bookworm-security"];

/// The `Packages` files of `suites` in `lists` (apt's `Dir::State::Lists`), in the order given.
/// apt names them `<mirror>_dists_<suite>_<component>_binary-<arch>_Packages[.<compression>]`.
pub fn packages_files(lists: &Path, suites: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let mut names: Vec<String> = fs::read_dir(lists)
        .with_context(|| format!("reading {}", lists.display()))?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut files = Vec::new();
    for suite in suites {
        let before = files.len();
        for name in &names {
            let Some((_, after)) = name.split_once("_dists_") else {
                continue;
            };
            let mut parts = after.split('_');
            let (Some(dist), Some(_component), Some(arch), Some(kind)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let packages = kind == "Packages" || kind.starts_with("Packages.");
            if dist == *suite && arch == "binary-amd64" && packages {
                files.push((suite.to_string(), lists.join(name)));
            }
        }
        anyhow::ensure!(
            files.len() > before,
            "no {suite} package index in {}: run `cargo xtask setup` (it downloads the lists)",
            lists.display()
        );
    }
    Ok(files)
}

/// The candidates of `suites`, read from `lists`.
pub fn load(lists: &Path, suites: &[&str]) -> Result<Index> {
    let mut available = Vec::new();
    let mut ids = BTreeMap::new();
    for (suite, path) in packages_files(lists, suites)? {
        let bytes = Tool::new("/usr/lib/apt/apt-helper")
            .arg("cat-file")
            .arg(&path)
            .output()?;
        let text = String::from_utf8_lossy(&bytes);
        let located = |error: &dyn std::fmt::Display| format!("{}: {error}", path.display());
        let paragraphs = control::paragraphs(&text).map_err(|e| anyhow::anyhow!(located(&e)))?;
        for paragraph in &paragraphs {
            closure::number_names(paragraph, &mut ids);
            let package = Available::from_paragraph(paragraph, &suite)
                .map_err(|e| anyhow::anyhow!(located(&e)))?;
            available.extend(package);
        }
    }
    Ok(Index::new(available, ids))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cache::Cache;
    use crate::debian::closure;
    use crate::stages::setup;

    /// Packages of different shapes, and why each is here.
    const CASES: &[(&str, &str)] = &[
        ("nftables", "the firewall's tool: libraries only"),
        (
            "iproute2",
            "`debconf (>= 0.5) | debconf-2.0`, a real package first",
        ),
        (
            "typespeed",
            "`fileutils | coreutils`: the first alternative does not exist",
        ),
        (
            "libsys-utmp-perl",
            "`perlapi-5.36.0`: a virtual package, provided by perl-base",
        ),
        (
            "login",
            "`Pre-Depends` on libpam-runtime, whose `debconf | debconf-2.0` is met",
        ),
        (
            "bsd-mailx",
            "`default-mta | mail-transport-agent`: virtual, several providers",
        ),
        ("python3-six", "`python3:any`: an architecture qualifier"),
        (
            "golang-github-containers-common",
            "`container-network-stack`: two providers alike but for apt's package ID",
        ),
        (
            "php8.2-yac",
            "`phpapi-20220829`: six providers alike but for apt's package ID",
        ),
    ];

    /// The pinned profile's apt folder; without its lists this fails, since the oracle would
    /// otherwise silently not run.
    fn apt_dir() -> PathBuf {
        let dir = setup::pinned_apt_dir(&Cache::locate().unwrap());
        assert!(
            packages_files(&dir.join("lists"), SUITES).is_ok(),
            "no package lists in {}: run `cargo xtask setup` (or `cargo xtask lock NAME`) first",
            dir.display()
        );
        dir
    }

    /// What `apt-get install --simulate` installs on an empty system from the same lists and
    /// only the suites resolved here: package → version.
    fn apt_installs(apt_dir: &Path, package: &str) -> BTreeMap<String, String> {
        let scratch = tempfile::tempdir().unwrap();
        let s = scratch.path();
        let sources = fs::read_to_string(apt_dir.join("sources.list")).unwrap();
        let ours: String = sources
            .lines()
            .filter(|line| SUITES.contains(&line.split_whitespace().nth(3).unwrap_or("")))
            .map(|line| format!("{line}\n"))
            .collect();
        fs::write(s.join("sources.list"), ours).unwrap();
        for file in ["status", "extended_states", "preferences"] {
            fs::write(s.join(file), "").unwrap();
        }
        fs::create_dir(s.join("empty")).unwrap();
        let d = s.display();
        let output = Tool::new("apt-get")
            .args([
                format!("-oDir::Etc::SourceList={d}/sources.list"),
                format!("-oDir::Etc::SourceParts={d}/empty"),
                format!("-oDir::Etc::Preferences={d}/preferences"),
                format!("-oDir::Etc::PreferencesParts={d}/empty"),
                format!("-oDir::State::Lists={}/lists", apt_dir.display()),
                format!("-oDir::State::status={d}/status"),
                format!("-oDir::State::extended_states={d}/extended_states"),
                format!("-oDir::Cache={d}"),
                "-oDir::Cache::pkgcache=".to_owned(),
                "-oDir::Cache::srcpkgcache=".to_owned(),
                "-oAPT::Architectures::=amd64".to_owned(),
            ])
            .args(["install", "--simulate", "--no-install-recommends", package])
            .output()
            .unwrap();
        // `Inst name (version suite [arch])`
        String::from_utf8_lossy(&output)
            .lines()
            .filter_map(|line| {
                let mut words = line.strip_prefix("Inst ")?.split_whitespace();
                let name = words.next()?.to_owned();
                let version = words.next()?.trim_start_matches('(').to_owned();
                Some((name, version))
            })
            .collect()
    }

    #[test]
    fn closures_equal_what_apt_installs_on_an_empty_system() {
        let apt_dir = apt_dir();
        let index = load(&apt_dir.join("lists"), SUITES).unwrap();
        for (package, shape) in CASES {
            let ours: BTreeMap<String, String> =
                closure::resolve(&index, &[package.to_string()], &Default::default(), "test")
                    .unwrap()
                    .into_iter()
                    .map(|(name, chosen)| (name, chosen.package.version))
                    .collect();
            let apt = apt_installs(&apt_dir, package);
            assert!(apt.contains_key(*package), "apt installs no {package}");
            // Only the differences: a closure holds up to a few hundred packages.
            let only = |a: &BTreeMap<String, String>, b: &BTreeMap<String, String>| {
                a.iter()
                    .filter(|(name, version)| b.get(*name) != Some(version))
                    .map(|(name, version)| format!("{name} {version}"))
                    .collect::<Vec<_>>()
            };
            assert!(
                ours == apt,
                "{package} ({shape}): ours but not apt's: {:?}; apt's but not ours: {:?}",
                only(&ours, &apt),
                only(&apt, &ours)
            );
            eprintln!("{package}: {} packages, as apt", ours.len());
        }
    }
}
