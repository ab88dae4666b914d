//! Part of stage `rootfs`: the Debian packages installed into the tree without running anything.
//! Each .deb is unpacked on its own (`dpkg-deb -x`, `-e`), its files copied in less the
//! exclusions, its maintainer scripts read (`debian::maintscripts`); then the alternatives they
//! install are linked and the accounts they create are checked against the layers'.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use walkdir::WalkDir;

use super::tree::Tree;
use crate::debian::alternatives;
use crate::debian::maintscripts::{self, Account, Verdict};
use crate::debian::trim::{self, Exclusion};
use crate::exec::Tool;
use crate::layers::accounts::Accounts;

/// A verified .deb and its package's name.
pub struct Deb {
    pub name: String,
    pub path: PathBuf,
}

/// What went into the tree, for the checks and the report.
#[derive(Debug, Default)]
pub struct Unpacked {
    /// (package, bytes of its files in the image).
    pub sizes: Vec<(String, u64)>,
    pub excluded_bytes: u64,
    /// Path in the tree (relative) → the package that shipped it.
    pub owners: BTreeMap<String, String>,
    /// Path (relative) of each excluded file → (its package, the exclusion that left it out).
    pub excluded: BTreeMap<String, (String, String)>,
    pub warnings: Vec<String>,
}

/// Installs `debs` in order into `tree`, unpacking each below `scratch`.
pub fn unpack(
    debs: &[Deb],
    exclusions: &[Exclusion],
    accounts: &Accounts,
    tree: &Tree,
    scratch: &Path,
) -> Result<Unpacked> {
    let mut unpacked = Unpacked::default();
    let mut matched = vec![0usize; exclusions.len()];
    let mut offers = Vec::new();
    for deb in debs {
        let dir = scratch.join(&deb.name);
        let (data, control) = (dir.join("data"), dir.join("control"));
        fs::create_dir(&dir)?;
        for (option, into) in [("-x", &data), ("-e", &control)] {
            Tool::new("dpkg-deb")
                .arg(option)
                .arg(&deb.path)
                .arg(into)
                .run()?;
        }
        let size = copy_files(
            &deb.name,
            &data,
            exclusions,
            tree,
            &mut unpacked,
            &mut matched,
        )?;
        unpacked.sizes.push((deb.name.clone(), size));
        let review = maintscripts::review(&deb.name, &control_members(&control)?);
        report_verdicts(&deb.name, &review.verdicts, &mut unpacked.warnings);
        for account in &review.accounts {
            if let Some(warning) = undeclared(&deb.name, account, accounts) {
                unpacked.warnings.push(warning);
            }
        }
        let named = review
            .alternatives
            .into_iter()
            .map(|a| (deb.name.clone(), a));
        offers.extend(named);
    }
    for (exclusion, count) in exclusions.iter().zip(matched) {
        if count == 0 && exclusion.origin != trim::DEFAULT_ORIGIN {
            unpacked.warnings.push(format!(
                "{}'s [packages] exclude `{}` leaves nothing out: no package file matches it \
                 that an earlier pattern did not",
                exclusion.origin,
                exclusion.glob.as_str()
            ));
        }
    }
    let owners = &unpacked.owners;
    let exists = |path: &str| owners.contains_key(path.trim_start_matches('/'));
    let chosen = alternatives::choose(&offers, &exists)
        .map_err(|message| anyhow::anyhow!("update-alternatives: {message}"))?;
    for link in &chosen.links {
        tree.symlink(
            Path::new(link.link.trim_start_matches('/')),
            Path::new(&link.target),
        )
        .with_context(|| format!("linking alternative {} → {}", link.link, link.target))?;
    }
    unpacked.warnings.extend(chosen.warnings);
    Ok(unpacked)
}

/// Copies a package's unpacked `data` into the tree less the exclusions, counting each
/// exclusion's matches in `matched`; the bytes of the files it copied.
fn copy_files(
    package: &str,
    data: &Path,
    exclusions: &[Exclusion],
    tree: &Tree,
    unpacked: &mut Unpacked,
    matched: &mut [usize],
) -> Result<u64> {
    let mut size = 0;
    for entry in WalkDir::new(data).min_depth(1).sort_by_file_name() {
        let entry = entry?;
        let relative = entry.path().strip_prefix(data)?;
        let path = relative.to_string_lossy().into_owned();
        let file_type = entry.file_type();
        let meta = entry.path().symlink_metadata()?;
        if let Some(index) = trim::excluded_by(&path, file_type.is_symlink(), exclusions) {
            matched[index] += 1;
            if file_type.is_file() {
                unpacked.excluded_bytes += meta.len();
            }
            if !file_type.is_dir() {
                let exclusion = &exclusions[index];
                let why = format!("`{}` ({})", exclusion.glob.as_str(), exclusion.origin);
                unpacked.excluded.insert(path, (package.to_owned(), why));
            }
            continue;
        }
        let placed = if file_type.is_dir() {
            tree.create_dir_all(relative).map(drop)
        } else if file_type.is_symlink() {
            tree.symlink(relative, &fs::read_link(entry.path())?)
        } else if file_type.is_file() {
            size += meta.len();
            let mode = meta.permissions().mode() & 0o7777;
            tree.write_file(relative, &fs::read(entry.path())?, mode)
        } else {
            anyhow::bail!(
                "package {package} ships /{path}, a device or pipe: an image holds only files, \
                 folders and symlinks"
            )
        };
        placed.with_context(|| format!("package {package}: /{path}"))?;
        unpacked.owners.insert(path, package.to_owned());
    }
    Ok(size)
}

/// The maintainer scripts and triggers `dpkg-deb -e` wrote, by name.
fn control_members(control: &Path) -> Result<Vec<(String, String)>> {
    let mut members = Vec::new();
    let names = maintscripts::INSTALL_SCRIPTS
        .iter()
        .chain(maintscripts::REMOVAL_SCRIPTS)
        .chain(&["triggers"]);
    for name in names {
        let path = control.join(name);
        if path.is_file() {
            let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            members.push((
                name.to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    Ok(members)
}

fn report_verdicts(package: &str, verdicts: &[(String, Verdict)], warnings: &mut Vec<String>) {
    for (member, verdict) in verdicts {
        match verdict {
            Verdict::Reproduced | Verdict::NotRunOnInstall => {}
            Verdict::Reviewed(reason) => {
                tracing::debug!("{package}: {member} reviewed: {reason}");
            }
            Verdict::Unreproducible { first, sha256 } => warnings.push(format!(
                "package `{package}`: its {member} does work the build does not reproduce, from \
                 line {}: `{}`; the image lacks whatever that does. If it does not matter, review \
                 the whole {member} and add it to xtask/src/debian/reviewed_scripts.rs with the \
                 reason (sha256 {sha256})",
                first.line, first.text
            )),
        }
    }
}

/// A warning for an account a package's scripts create that no layer declares.
fn undeclared(package: &str, account: &Account, accounts: &Accounts) -> Option<String> {
    let (kind, name, table) = match account {
        Account::User(name) if !accounts.has_user(name) => ("user", name, "[[users]]"),
        Account::Group(name) if accounts.group(name).is_none() => ("group", name, "[[groups]]"),
        _ => return None,
    };
    Some(format!(
        "package `{package}`: its scripts create the {kind} `{name}`, which no layer declares; \
         declare it in a layer's {table}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A .deb made by `dpkg-deb --build` from files and maintainer scripts.
    fn deb(work: &Path, name: &str, files: &[(&str, &str)], scripts: &[(&str, &str)]) -> Deb {
        let root = work.join(format!("{name}-src"));
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        let control = format!(
            "Package: {name}\nVersion: 1\nArchitecture: all\nMaintainer: Test <t@example.org>\n\
             Description: test\n"
        );
        fs::write(root.join("DEBIAN/control"), control).unwrap();
        for (script, text) in scripts {
            let path = root.join("DEBIAN").join(script);
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        for (path, text) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let path = work.join(format!("{name}.deb"));
        Tool::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(&path)
            .run()
            .unwrap();
        Deb {
            name: name.to_owned(),
            path,
        }
    }

    #[test]
    fn packages_are_installed_trimmed_their_alternatives_linked_and_their_work_reported() {
        let work = tempfile::tempdir().unwrap();
        let alternative = |path: &str, priority: u32| {
            format!(
                "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  update-alternatives \
                 --install /usr/bin/vi vi {path} {priority} \\\n    --slave \
                 /usr/share/man/man1/vi.1.gz vi.1.gz /usr/share/man/man1/{priority}.1.gz\nfi\n"
            )
        };
        let debs = [
            deb(
                work.path(),
                "nvi",
                &[
                    ("usr/bin/nvi", "nvi"),
                    ("usr/share/doc/nvi/copyright", "BSD"),
                    ("usr/share/doc/nvi/changelog.gz", "long"),
                    ("usr/share/man/man1/30.1.gz", "manual"),
                ],
                &[("postinst", &alternative("/usr/bin/nvi", 30))],
            ),
            deb(
                work.path(),
                "vim-tiny",
                &[("usr/bin/vim.tiny", "vim")],
                &[
                    (
                        "postinst",
                        &(alternative("/usr/bin/vim.tiny", 15)
                            + "adduser --system --group vi\nchmod 4755 /usr/bin/vim.tiny\n"),
                    ),
                    ("postrm", "#!/bin/sh\nrm -rf /var/lib/vim\n"),
                ],
            ),
        ];
        let layer = vec![("fw".to_owned(), "usr/share/zoneinfo".to_owned())];
        let exclusions = trim::exclusions(&layer).unwrap();
        let root = work.path().join("root");
        fs::create_dir(&root).unwrap();
        let scratch = work.path().join("scratch");
        fs::create_dir(&scratch).unwrap();
        let tree = Tree::open(&root).unwrap();
        let unpacked = unpack(&debs, &exclusions, &Accounts::default(), &tree, &scratch).unwrap();

        let link = |path: &str| fs::read_link(root.join(path)).unwrap();
        assert_eq!(link("usr/bin/vi"), Path::new("/etc/alternatives/vi"));
        assert_eq!(link("etc/alternatives/vi"), Path::new("/usr/bin/nvi"));
        // The winner's manual page was trimmed, so its slave link is not made.
        assert!(!root.join("etc/alternatives/vi.1.gz").exists());
        assert!(root.join("usr/share/doc/nvi/copyright").is_file());
        assert!(!root.join("usr/share/doc/nvi/changelog.gz").exists());
        assert!(!root.join("usr/share/man").exists());
        assert_eq!(
            unpacked.sizes,
            [("nvi".to_owned(), 6), ("vim-tiny".to_owned(), 3)]
        );
        assert_eq!(unpacked.excluded_bytes, 10);
        assert_eq!(unpacked.owners["usr/bin/nvi"], "nvi");
        let warnings = unpacked.warnings.join("\n");
        for expected in [
            "package `vim-tiny`: its postinst does work the build does not reproduce, from line 8: \
             `chmod 4755 /usr/bin/vim.tiny`",
            "package `vim-tiny`: its scripts create the user `vi`, which no layer declares; \
             declare it in a layer's [[users]]",
            "package `vim-tiny`: its scripts create the group `vi`",
            "layer `fw`'s [packages] exclude `usr/share/zoneinfo` leaves nothing out",
        ] {
            assert!(warnings.contains(expected), "{expected}\nin\n{warnings}");
        }
        assert_eq!(unpacked.warnings.len(), 4, "{warnings}");
    }
}
