//! Part of stage `rootfs`: checks of the staged tree before it is packed. Every x86-64 ELF must
//! find its loader and libraries as glibc would without a cache (`dynamic_loader`), and so must
//! the sealed binaries, which run from their own partition with the rootfs's; an
//! `/etc/ld.so.conf.d` file naming folders outside that path is a warning.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use walkdir::WalkDir;

use super::unpack::Unpacked;
use crate::dynamic_loader::{self, Missing, Node, TreeView};

/// What the walk found besides problems.
pub struct Checked {
    pub warnings: Vec<String>,
    /// Bytes of the regular files in the tree.
    pub file_bytes: u64,
}

/// Checks the tree at `root`, and the `sealed` binaries (install path, built file) against it.
pub fn check(root: &Path, unpacked: &Unpacked, sealed: &[(String, PathBuf)]) -> Result<Checked> {
    let mut view = TreeView::default();
    let mut files = Vec::new();
    let mut file_bytes = 0;
    for entry in WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry?;
        let path = entry
            .path()
            .strip_prefix(root)?
            .to_string_lossy()
            .into_owned();
        let node = if entry.file_type().is_dir() {
            Node::Dir
        } else if entry.file_type().is_symlink() {
            let target = fs::read_link(entry.path())?;
            Node::Symlink(target.to_string_lossy().into_owned())
        } else {
            file_bytes += entry.metadata()?.len();
            files.push((entry.path().to_path_buf(), path.clone()));
            Node::File
        };
        view.insert(&path, node);
    }
    let mut warnings = Vec::new();
    let mut problems = Vec::new();
    let in_tree = files
        .iter()
        .map(|(file, path)| (file, format!("/{path}"), origin(path, unpacked)));
    let on_sealed = sealed
        .iter()
        .map(|(install, file)| (file, install.clone(), "a sealed binary".to_owned()));
    for (file, elf, origin) in in_tree.chain(on_sealed) {
        if !is_elf(file)? {
            continue;
        }
        match dynamic_loader::dependencies(&fs::read(file)?) {
            Ok(Some(dependencies)) => {
                for missing in dynamic_loader::missing(&view, &elf, &dependencies) {
                    problems.push(explain(&elf, &origin, &missing, unpacked));
                }
            }
            Ok(None) => {}
            Err(error) => warnings.push(format!(
                "{elf} ({origin}) looks like an ELF but cannot be read ({error}); the \
                 libraries it needs are not checked"
            )),
        }
    }
    let confs = files
        .iter()
        .filter(|(_, path)| path.starts_with("etc/ld.so.conf.d/") && path.ends_with(".conf"));
    for (file, path) in confs {
        let conf = String::from_utf8_lossy(&fs::read(file)?).into_owned();
        for dir in dynamic_loader::unsearched_dirs(&conf, &view) {
            warnings.push(format!(
                "/{path} ({}) names {dir}, which holds files, but the image has no \
                 ld.so.cache: the loader searches only {} (and an ELF's runpath); move the \
                 libraries or set a runpath",
                origin(path, unpacked),
                dynamic_loader::DEFAULT_DIRS.join(", ")
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "the dynamic loader would not find what these programs need in the image (it has \
             no ld.so.cache: it searches an ELF's runpath, then {}):\n  {}",
            dynamic_loader::DEFAULT_DIRS.join(", "),
            problems.join("\n  ")
        );
    }
    Ok(Checked {
        warnings,
        file_bytes,
    })
}

fn is_elf(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 4];
    let read = fs::File::open(path)?.read(&mut magic)?;
    Ok(read == magic.len() && magic == *b"\x7fELF")
}

/// Who put the file there, for messages.
fn origin(path: &str, unpacked: &Unpacked) -> String {
    match unpacked.owners.get(path) {
        Some(package) => format!("package {package}"),
        None => "a layer's overlay or binaries".to_owned(),
    }
}

/// One missing piece, and what fixes it: an exclusion to drop, or a package to lock.
fn explain(elf: &str, origin: &str, missing: &Missing, unpacked: &Unpacked) -> String {
    let (what, name) = match missing {
        Missing::Interpreter(path) => ("its loader", path.as_str()),
        Missing::Library(name) => ("the library", name.as_str()),
    };
    let file_name = name.rsplit('/').next().unwrap_or(name);
    let excluded = unpacked
        .excluded
        .iter()
        .find(|(path, _)| path.rsplit('/').next() == Some(file_name));
    let fix = match excluded {
        Some((path, (package, why))) => format!(
            "package {package} ships it as /{path}, but the exclusion {why} left it out; \
             narrow that exclusion"
        ),
        None => "lock the package that ships it (`cargo xtask lock NAME`) and list it in a \
                 layer's [packages] debian"
            .to_owned(),
    };
    format!("{elf} ({origin}) needs {what} {name}: {fix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real dynamic program (the host's `true`), with nothing, then everything, it needs.
    #[test]
    fn a_program_must_find_its_loader_and_libraries_in_the_image() {
        let work = tempfile::tempdir().unwrap();
        let root = work.path();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::copy("/usr/bin/true", root.join("usr/bin/true")).unwrap();
        let mut unpacked = Unpacked::default();
        unpacked
            .owners
            .insert("usr/bin/true".into(), "coreutils".into());
        unpacked.excluded.insert(
            "lib/x86_64-linux-gnu/libc.so.6".into(),
            ("libc6".into(), "`lib/**/libc*` (layer `fw`)".into()),
        );
        let sealed = [(
            "/opt/sealed/true".to_owned(),
            PathBuf::from("/usr/bin/true"),
        )];
        let error = format!("{:#}", check(root, &unpacked, &sealed).err().unwrap());
        assert!(
            error.contains("/opt/sealed/true (a sealed binary) needs the library libc.so.6"),
            "{error}"
        );
        assert!(
            error.contains(
                "/usr/bin/true (package coreutils) needs its loader /lib64/ld-linux-x86-64.so.2: \
                 lock the package that ships it"
            ),
            "{error}"
        );
        assert!(
            error.contains(
                "needs the library libc.so.6: package libc6 ships it as \
                 /lib/x86_64-linux-gnu/libc.so.6, but the exclusion `lib/**/libc*` (layer `fw`) \
                 left it out"
            ),
            "{error}"
        );
        for dir in ["lib64", "usr/lib/x86_64-linux-gnu"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        fs::write(root.join("usr/lib/x86_64-linux-gnu/libc.so.6"), "").unwrap();
        fs::write(
            root.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            "",
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            root.join("lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        let checked = check(root, &unpacked, &sealed).unwrap();
        assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
        assert_eq!(
            checked.file_bytes,
            fs::metadata("/usr/bin/true").unwrap().len()
        );
    }

    #[test]
    fn a_loader_conf_naming_a_folder_with_files_outside_the_search_path_warns() {
        let work = tempfile::tempdir().unwrap();
        let root = work.path();
        fs::create_dir_all(root.join("etc/ld.so.conf.d")).unwrap();
        fs::create_dir_all(root.join("opt/vendor/lib")).unwrap();
        fs::write(root.join("opt/vendor/lib/libv.so.1"), "").unwrap();
        let conf = "/usr/local/lib\n/opt/vendor/lib\n";
        fs::write(root.join("etc/ld.so.conf.d/vendor.conf"), conf).unwrap();
        let checked = check(root, &Unpacked::default(), &[]).unwrap();
        assert_eq!(checked.warnings.len(), 1, "{:?}", checked.warnings);
        assert!(
            checked.warnings[0].starts_with(
                "/etc/ld.so.conf.d/vendor.conf (a layer's overlay or binaries) names \
                 /opt/vendor/lib, which holds files"
            ),
            "{}",
            checked.warnings[0]
        );
    }
}
