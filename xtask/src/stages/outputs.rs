//! Stage `outputs`: the shipped folder `target/appliance/<name>/`, written whole under a
//! temporary name and swapped into place, so that it is always a complete build: the new one,
//! or (after a failure) the previous one.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustix::fs::{CWD, RenameFlags, renameat_with};

use crate::cache;

/// A file of the output folder and where its bytes come from.
pub enum Deliverable {
    /// Copied from a stage's output (a copy, not a link: a user may write to the shipped one).
    File(PathBuf),
    Bytes(Vec<u8>),
}

pub fn publish(out_dir: &Path, files: Vec<(&str, Deliverable)>) -> Result<()> {
    let staging = cache::staging_dir_for(out_dir)?;
    for (name, deliverable) in files {
        let path = staging.path().join(name);
        match deliverable {
            Deliverable::File(source) => {
                fs::copy(&source, &path).with_context(|| {
                    format!("copying {} to {}", source.display(), path.display())
                })?;
            }
            Deliverable::Bytes(bytes) => {
                fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?
            }
        }
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    }
    fs::set_permissions(
        staging.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    if out_dir.exists() {
        // One atomic swap: readers see the old folder or the new one, never a mix or nothing.
        renameat_with(CWD, staging.path(), CWD, out_dir, RenameFlags::EXCHANGE)
            .with_context(|| format!("swapping in {}", out_dir.display()))?;
        // `staging` now holds the previous build, removed with it.
        drop(staging);
    } else {
        cache::promote_dir(staging, out_dir)?;
    }
    Ok(())
}

/// The first byte at which two files differ, if they do (a shorter file differs where it ends).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(offset) => Some(offset),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}

/// Compares two output folders byte for byte: the files named, or all of both. The error
/// names the first file and offset that differ.
pub fn compare(expected: &Path, actual: &Path, names: Option<&[&str]>) -> Result<(), String> {
    let listing = |dir: &Path| -> Result<Vec<String>, String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map_err(|error| format!("reading {}: {error}", dir.display()))?
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    };
    let names: Vec<String> = match names {
        Some(names) => names.iter().map(|name| (*name).to_owned()).collect(),
        None => {
            let (left, right) = (listing(expected)?, listing(actual)?);
            if left != right {
                return Err(format!(
                    "{} holds {right:?}, but {} holds {left:?}",
                    actual.display(),
                    expected.display()
                ));
            }
            left
        }
    };
    for name in names {
        let read = |dir: &Path| {
            fs::read(dir.join(&name))
                .map_err(|error| format!("reading {}: {error}", dir.join(&name).display()))
        };
        if let Some(offset) = first_difference(&read(expected)?, &read(actual)?) {
            return Err(format!(
                "{name} differs at offset {offset}: {} against {}",
                actual.join(&name).display(),
                expected.join(&name).display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_is_replaced_whole() {
        let work = tempfile::tempdir().unwrap();
        let out = work.path().join("appliance/default");
        let source = work.path().join("source");
        fs::write(&source, b"image").unwrap();
        publish(
            &out,
            vec![
                ("disk.img", Deliverable::File(source.clone())),
                ("stale", Deliverable::Bytes(b"old".to_vec())),
            ],
        )
        .unwrap();
        publish(
            &out,
            vec![
                ("disk.img", Deliverable::File(source)),
                ("boot.json", Deliverable::Bytes(b"{}".to_vec())),
            ],
        )
        .unwrap();
        let mut names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["boot.json", "disk.img"]);
        let leftovers = fs::read_dir(out.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "the previous folder is gone");
    }

    #[test]
    fn differences_are_located() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
        let work = tempfile::tempdir().unwrap();
        let (a, b) = (work.path().join("a"), work.path().join("b"));
        for (dir, byte) in [(&a, b'1'), (&b, b'2')] {
            fs::create_dir(dir).unwrap();
            fs::write(dir.join("same"), b"x").unwrap();
            fs::write(dir.join("disk.img"), [0, 0, byte]).unwrap();
        }
        compare(&a, &b, Some(&["same"])).unwrap();
        let error = compare(&a, &b, None).unwrap_err();
        assert!(error.starts_with("disk.img differs at offset 2"), "{error}");
    }
}
