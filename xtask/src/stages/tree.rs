//! Writing into a tree being assembled, never outside it. Layers come from other people and the
//! builder runs as root, so every path is resolved by the kernel inside the tree (`openat2` with
//! `RESOLVE_IN_ROOT`): a symlink a layer or a package put there, absolute or a `../..` chain, is
//! followed as the image itself would follow it, never into the host. The last component is
//! never followed: an existing file or symlink there is replaced.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, mkdirat, openat, openat2, symlinkat};
use rustix::io::Errno;

pub struct Tree {
    root: OwnedFd,
    path: PathBuf,
}

impl Tree {
    pub fn open(path: &Path) -> Result<Tree> {
        let root = rustix::fs::open(
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening {}", path.display()))?;
        Ok(Tree {
            root,
            path: path.to_path_buf(),
        })
    }

    /// The folder at `relative`, created with its parents (mode 0755) where missing.
    pub fn create_dir_all(&self, relative: &Path) -> Result<OwnedFd> {
        let mut prefix = PathBuf::new();
        let mut dir = self.open_dir(&prefix)?;
        for component in normal_components(relative)? {
            prefix.push(component);
            dir = match self.open_dir(&prefix) {
                Ok(next) => next,
                Err(_) => match mkdirat(&dir, component, Mode::from_raw_mode(0o755)) {
                    Ok(()) => self.open_dir(&prefix)?,
                    // Something is there, yet no folder opens: a symlink whose target is not
                    // in the image, or a file.
                    Err(Errno::EXIST) => bail!(
                        "{} is in the way: a file, or a symlink to something that is not in the                          image; write below its target instead, or remove it",
                        self.path.join(&prefix).display()
                    ),
                    Err(error) => {
                        return Err(error).with_context(|| self.describe(&prefix, "create"));
                    }
                },
            };
        }
        Ok(dir)
    }

    /// Writes a file with `mode`, replacing whatever file or symlink was at `relative`.
    pub fn write_file(&self, relative: &Path, contents: &[u8], mode: u32) -> Result<()> {
        let (parent, name) = self.parent_of(relative)?;
        self.remove_entry(&parent, name, relative)?;
        let fd = openat(
            &parent,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .with_context(|| self.describe(relative, "create"))?;
        // The umask narrowed the mode at creation.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
        File::from(fd)
            .write_all(contents)
            .with_context(|| self.describe(relative, "write"))
    }

    /// Makes `relative` a symlink to `target`, kept as it is: the image resolves it, not us.
    pub fn symlink(&self, relative: &Path, target: &Path) -> Result<()> {
        let (parent, name) = self.parent_of(relative)?;
        self.remove_entry(&parent, name, relative)?;
        symlinkat(target, &parent, name).with_context(|| self.describe(relative, "create"))
    }

    fn open_dir(&self, relative: &Path) -> Result<OwnedFd> {
        let path = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        openat2(
            &self.root,
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .with_context(|| self.describe(relative, "open the folder"))
    }

    fn parent_of<'p>(&self, relative: &'p Path) -> Result<(OwnedFd, &'p std::ffi::OsStr)> {
        let name = relative
            .file_name()
            .with_context(|| self.describe(relative, "name"))?;
        let parent = self.create_dir_all(relative.parent().unwrap_or(Path::new("")))?;
        Ok((parent, name))
    }

    /// Removes a file or symlink (never following it); a folder in the way is an error.
    fn remove_entry(
        &self,
        parent: &OwnedFd,
        name: &std::ffi::OsStr,
        relative: &Path,
    ) -> Result<()> {
        match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(Errno::ISDIR) | Err(Errno::PERM) => bail!(
                "{}: a folder is in the way of a file or symlink",
                self.path.join(relative).display()
            ),
            Err(error) => Err(error).with_context(|| self.describe(relative, "replace")),
        }
    }

    fn describe(&self, relative: &Path, what: &str) -> String {
        format!(
            "cannot {what} {} in the tree",
            self.path.join(relative).display()
        )
    }
}

/// The path's names, which must be plain: no `..`, no root, no prefix.
fn normal_components(relative: &Path) -> Result<Vec<&std::ffi::OsStr>> {
    relative
        .components()
        .filter(|component| *component != Component::CurDir)
        .map(|component| match component {
            Component::Normal(name) => Ok(name),
            _ => bail!("{} must be a plain relative path", relative.display()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn symlinks_resolve_inside_the_tree_never_into_the_host() {
        let work = tempfile::tempdir().unwrap();
        let host_dir = work.path().join("host");
        std::fs::create_dir(&host_dir).unwrap();
        let root = work.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let tree = Tree::open(&root).unwrap();
        // An absolute link to a host folder, and a chain of `..` out of the tree.
        tree.symlink(Path::new("escape"), &host_dir).unwrap();
        tree.symlink(Path::new("a/up"), Path::new("../../../.."))
            .unwrap();
        // The link's target is not in the image: refused, and nothing reaches the host.
        let refused = tree.write_file(Path::new("escape/pwned"), b"x", 0o644);
        assert!(format!("{:#}", refused.unwrap_err()).contains("is in the way"));
        assert!(!host_dir.join("pwned").exists());
        // Once it is in the image, the link leads there.
        let inside = host_dir.strip_prefix("/").unwrap();
        tree.create_dir_all(inside).unwrap();
        tree.write_file(Path::new("escape/pwned"), b"x", 0o644)
            .unwrap();
        assert!(!host_dir.join("pwned").exists());
        assert_eq!(
            std::fs::read(root.join(inside).join("pwned")).unwrap(),
            b"x"
        );
        // `..` stops at the tree's root.
        tree.write_file(Path::new("a/up/pwned2"), b"y", 0o644)
            .unwrap();
        assert_eq!(std::fs::read(root.join("pwned2")).unwrap(), b"y");
        assert!(!work.path().join("pwned2").exists());
        // The links stay links, as the layers made them.
        assert_eq!(std::fs::read_link(root.join("escape")).unwrap(), host_dir);
    }

    #[test]
    fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
        let work = tempfile::tempdir().unwrap();
        let victim = work.path().join("victim");
        std::fs::write(&victim, b"host").unwrap();
        let root = work.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let tree = Tree::open(&root).unwrap();
        tree.symlink(Path::new("etc/passwd"), &victim).unwrap();
        tree.write_file(Path::new("etc/passwd"), b"image", 0o600)
            .unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"host");
        let meta = std::fs::symlink_metadata(root.join("etc/passwd")).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn paths_must_be_plain() {
        let work = tempfile::tempdir().unwrap();
        let tree = Tree::open(work.path()).unwrap();
        assert!(tree.write_file(Path::new("../x"), b"", 0o644).is_err());
        assert!(tree.create_dir_all(Path::new("/etc")).is_err());
    }
}
