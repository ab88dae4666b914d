//! An entry's payload: a zstd-compressed tar of files, folders and relative symlinks. Packing
//! is deterministic (sorted, owner root, time 0). Unpacking treats the archive as hostile:
//! every path is relative with plain components, symlinks stay inside the entry, only files,
//! folders and symlinks are accepted, and the bytes written are bounded by the size recorded at
//! push.
//!
//! Relocation: kbuild's dependency files (`*.cmd`, `*.d`) and the object tree's `Makefile`
//! name the cache's absolute path. They are packed with that path replaced by [`PLACEHOLDER`]
//! and unpacked with the pulling machine's cache path in its place, so that make finds its
//! prerequisites and sees the same command lines in another cache.

use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use walkdir::WalkDir;

/// Stands for the cache's root in relocated files.
pub const PLACEHOLDER: &[u8] = b"@APPLIANCE_CACHE@";

/// The cache roots a relocatable archive was made in or is unpacked into: the path as given
/// and as resolved (they differ when a symlink leads to the cache).
#[derive(Debug, Clone)]
pub struct Relocation {
    pub roots: Vec<Vec<u8>>,
}

impl Relocation {
    pub fn for_cache(root: &Path) -> Result<Relocation> {
        let given = root.as_os_str().as_encoded_bytes().to_vec();
        let real = fs::canonicalize(root)
            .with_context(|| format!("resolving {}", root.display()))?
            .into_os_string()
            .into_encoded_bytes();
        let mut roots = vec![given, real];
        roots.sort_by_key(|root| std::cmp::Reverse(root.len()));
        roots.dedup();
        Ok(Relocation { roots })
    }
}

/// Files whose text names the cache's path and matters to make.
pub fn relocatable(relative: &Path) -> bool {
    let name = relative.file_name().unwrap_or_default().to_string_lossy();
    name.ends_with(".cmd") || name.ends_with(".d") || relative == Path::new("Makefile")
}

/// Replaces each `root/` by `PLACEHOLDER/` (packing).
pub fn to_placeholder(text: &[u8], relocation: &Relocation) -> Vec<u8> {
    let mut text = text.to_vec();
    for root in &relocation.roots {
        let from = [root.as_slice(), b"/"].concat();
        let to = [PLACEHOLDER, b"/"].concat();
        text = replace_all(&text, &from, &to);
    }
    text
}

/// Replaces each `PLACEHOLDER` by the resolved root (unpacking).
pub fn from_placeholder(text: &[u8], relocation: &Relocation) -> Vec<u8> {
    // The resolved root, which kbuild's prefix maps use too.
    let root = relocation.roots.last().map_or(&[][..], Vec::as_slice);
    replace_all(text, PLACEHOLDER, root)
}

pub fn replace_all(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return text.to_vec();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.windows(from.len()).position(|window| window == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A path inside an archive: relative, plain components only (no `..`, `.`, root or prefix).
pub fn check_entry_path(path: &Path) -> Result<()> {
    ensure!(
        !path.as_os_str().is_empty()
            && path.components().all(|c| matches!(c, Component::Normal(_))),
        "the archive holds the path {path:?}, which is not a plain relative path"
    );
    Ok(())
}

/// Whether a symlink at `link` (relative to the entry) pointing at `target` stays inside the
/// entry, judged on the names alone (the entry's own symlinks are checked the same way).
pub fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: Vec<&std::ffi::OsStr> = Vec::new();
    for component in link.parent().unwrap_or(Path::new("")).components() {
        match component {
            Component::Normal(part) => depth.push(part),
            _ => return false,
        }
    }
    for component in target.components() {
        match component {
            Component::Normal(part) => depth.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// What [`pack`] made.
pub struct Packed {
    pub bytes: Vec<u8>,
    /// The files' bytes before compression: the bound on what unpacking may write.
    pub unpacked_bytes: u64,
}

/// Packs `files` (name in the archive, path on disk) and, if given, the whole of `tree`.
/// Symlinks to absolute paths in a tree (kbuild's `source`) are left out: make makes them again.
pub fn pack(
    files: &[(String, PathBuf)],
    tree: Option<(&Path, Option<&Relocation>)>,
) -> Result<Packed> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut unpacked_bytes = 0u64;
    let mut add_file = |builder: &mut tar::Builder<Vec<u8>>, name: &Path, data: &[u8], mode| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        unpacked_bytes += data.len() as u64;
        builder.append_data(&mut header, name, data)
    };
    use std::os::unix::fs::PermissionsExt;
    for (name, path) in files {
        let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mode = fs::metadata(path)?.permissions().mode() & 0o777;
        add_file(&mut builder, Path::new(name), &data, mode)?;
    }
    if let Some((root, relocation)) = tree {
        for entry in WalkDir::new(root).min_depth(1).sort_by_file_name() {
            let entry = entry?;
            let relative = entry.path().strip_prefix(root)?;
            let file_type = entry.file_type();
            if file_type.is_dir() {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                header.set_mtime(0);
                builder.append_data(&mut header, relative, std::io::empty())?;
            } else if file_type.is_symlink() {
                let target = fs::read_link(entry.path())?;
                if !link_stays_inside(relative, &target) {
                    tracing::debug!(
                        "remote cache: leaving out the symlink {}",
                        relative.display()
                    );
                    continue;
                }
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                header.set_mtime(0);
                builder.append_link(&mut header, relative, &target)?;
            } else if file_type.is_file() {
                let mut data = fs::read(entry.path())?;
                if let Some(relocation) = relocation
                    && relocatable(relative)
                {
                    data = to_placeholder(&data, relocation);
                }
                let mode = entry.metadata()?.permissions().mode() & 0o777;
                add_file(&mut builder, relative, &data, mode)?;
            }
        }
    }
    let tar = builder.into_inner()?;
    let bytes = zstd::encode_all(&tar[..], 3).context("compressing the entry")?;
    Ok(Packed {
        bytes,
        unpacked_bytes,
    })
}

/// Unpacks into `into` (an empty folder), writing at most `max_bytes` of file data. Returns the
/// regular files written, relative to `into`.
pub fn unpack(
    bytes: &[u8],
    into: &Path,
    max_bytes: u64,
    relocation: Option<&Relocation>,
) -> Result<Vec<PathBuf>> {
    let decoder = zstd::Decoder::new(bytes).context("the entry is not zstd")?;
    let mut archive = tar::Archive::new(decoder);
    let mut written = 0u64;
    let mut files = Vec::new();
    for entry in archive
        .entries()
        .context("the entry is not a tar archive")?
    {
        let mut entry = entry.context("a damaged tar header")?;
        let path = entry.path()?.into_owned();
        check_entry_path(&path)?;
        let target = into.join(&path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&target)?,
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()?
                    .context("a symlink without a target")?
                    .into_owned();
                ensure!(
                    link_stays_inside(&path, &link),
                    "the symlink {} points at {}, outside the entry",
                    path.display(),
                    link.display()
                );
                std::os::unix::fs::symlink(&link, &target)?;
            }
            tar::EntryType::Regular => {
                let size = entry.header().size()?;
                written = written.saturating_add(size);
                ensure!(
                    written <= max_bytes,
                    "the archive holds more than the {max_bytes} bytes recorded at push"
                );
                let mut data = Vec::with_capacity(size as usize);
                entry.by_ref().take(size).read_to_end(&mut data)?;
                ensure!(data.len() as u64 == size, "{} is truncated", path.display());
                if let Some(relocation) = relocation
                    && relocatable(&path)
                {
                    data = from_placeholder(&data, relocation);
                }
                // Never through a symlink the archive placed earlier.
                if fs::symlink_metadata(&target).is_ok() {
                    bail!("the archive holds {} twice", path.display());
                }
                let mut file = fs::File::create_new(&target)?;
                file.write_all(&data)?;
                let mode = entry.header().mode()? & 0o755;
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(fs::Permissions::from_mode(mode))?;
                files.push(path);
            }
            other => bail!(
                "the archive holds {} of type {other:?}; only files, folders and symlinks are \
                 accepted",
                path.display()
            ),
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_plain_and_relative() {
        check_entry_path(Path::new("a/b.o")).unwrap();
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(check_entry_path(Path::new(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn symlinks_must_stay_inside_the_entry() {
        let inside = [
            ("arch/x86_64/boot/bzImage", "../../x86/boot/bzImage"),
            ("a", "b"),
            ("a/b", "./c"),
        ];
        for (link, target) in inside {
            assert!(link_stays_inside(Path::new(link), Path::new(target)));
        }
        let outside = [
            ("source", "/work/cache/src"),
            ("a/b", "../../x"),
            ("a", ".."),
        ];
        for (link, target) in outside {
            assert!(!link_stays_inside(Path::new(link), Path::new(target)));
        }
    }

    #[test]
    fn relocation_swaps_the_cache_path_both_ways() {
        let a = Relocation {
            roots: vec![b"/srv/cache-a".to_vec()],
        };
        let b = Relocation {
            roots: vec![b"/home/b/.cache/x".to_vec()],
        };
        let text = b"cmd := clang -ffile-prefix-map=/srv/cache-a/= /srv/cache-a/kernel/t/src/a.c /srv/cache-ab/no";
        let neutral = to_placeholder(text, &a);
        assert!(!neutral.windows(13).any(|w| w == b"/srv/cache-a/"));
        assert_eq!(
            from_placeholder(&neutral, &b),
            b"cmd := clang -ffile-prefix-map=/home/b/.cache/x/= /home/b/.cache/x/kernel/t/src/a.c /srv/cache-ab/no"
        );
        assert!(relocatable(Path::new("init/.main.o.cmd")));
        assert!(relocatable(Path::new("Makefile")));
        assert!(!relocatable(Path::new("scripts/Makefile")));
        assert!(!relocatable(Path::new("vmlinux")));
    }

    #[test]
    fn unpacking_refuses_escapes_and_oversize() {
        let work = tempfile::tempdir().unwrap();
        let tree = work.path().join("tree");
        fs::create_dir_all(tree.join("d")).unwrap();
        fs::write(tree.join("d/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("f", tree.join("d/l")).unwrap();
        std::os::unix::fs::symlink("/etc", tree.join("source")).unwrap();
        let packed = pack(&[], Some((&tree, None))).unwrap();
        assert_eq!(packed.unpacked_bytes, 5);
        let out = work.path().join("out");
        fs::create_dir(&out).unwrap();
        let files = unpack(&packed.bytes, &out, 5, None).unwrap();
        assert_eq!(files, vec![PathBuf::from("d/f")]);
        assert_eq!(fs::read(out.join("d/l")).unwrap(), b"hello");
        assert!(fs::symlink_metadata(out.join("source")).is_err());
        let small = work.path().join("small");
        fs::create_dir(&small).unwrap();
        assert!(unpack(&packed.bytes, &small, 4, None).is_err());

        // A hand-made archive with a symlink out of the entry, then a file through it.
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder
            .append_link(&mut header, "escape", "../../outside")
            .unwrap();
        let evil = zstd::encode_all(&builder.into_inner().unwrap()[..], 1).unwrap();
        let target = work.path().join("evil");
        fs::create_dir(&target).unwrap();
        let error = unpack(&evil, &target, 100, None).unwrap_err().to_string();
        assert!(error.contains("outside the entry"), "{error}");
        let truncated = &packed.bytes[..packed.bytes.len() / 2];
        let cut = work.path().join("cut");
        fs::create_dir(&cut).unwrap();
        assert!(unpack(truncated, &cut, 5, None).is_err());
    }
}
