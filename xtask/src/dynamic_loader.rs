//! What glibc's dynamic loader finds in an image that has no `/etc/ld.so.cache` (writing one
//! takes `ldconfig -r`, which needs a chroot): an ELF's `DT_NEEDED` libraries are looked up in
//! its `DT_RPATH`/`DT_RUNPATH`, then in Debian's default directories, and nowhere else. Pure:
//! the image is a map of paths, an ELF a byte slice.

use std::collections::BTreeMap;

use object::Endianness;
use object::elf::{DT_NEEDED, DT_RPATH, DT_RUNPATH, EM_X86_64};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};

/// Where Debian's amd64 glibc looks without a cache (its `SYSTEM_DIRS`), in order.
pub const DEFAULT_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib",
    "/usr/lib",
];

/// Linux follows at most 40 symlinks in one lookup.
const MAX_LINKS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir,
    File,
    /// The link's target, as stored.
    Symlink(String),
}

/// The image's paths (relative, `/`-separated, the root being ``) and what each is.
#[derive(Debug, Default)]
pub struct TreeView {
    nodes: BTreeMap<String, Node>,
}

impl TreeView {
    pub fn insert(&mut self, path: &str, node: Node) {
        self.nodes.insert(path.trim_matches('/').to_owned(), node);
    }

    /// Follows `path` (absolute in the image) as the image would: absolute link targets from
    /// the image's root, `..` stopping there; never outside. The resolved path and its node.
    pub fn resolve(&self, path: &str) -> Option<(String, &Node)> {
        let mut pending: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
        let mut at: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(name) = pending.pop() {
            match name.as_str() {
                "" | "." => continue,
                ".." => {
                    at.pop();
                    continue;
                }
                _ => {}
            }
            at.push(name);
            match self.nodes.get(&at.join("/"))? {
                Node::Symlink(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    at.pop();
                    if target.starts_with('/') {
                        at.clear();
                    }
                    pending.extend(target.split('/').rev().map(str::to_owned));
                }
                Node::File if !pending.iter().all(|n| n.is_empty() || n == ".") => return None,
                _ => {}
            }
        }
        let resolved = at.join("/");
        let node = match self.nodes.get(&resolved) {
            Some(node) => node,
            None if resolved.is_empty() => &Node::Dir,
            None => return None,
        };
        Some((resolved, node))
    }

    pub fn is_file(&self, path: &str) -> bool {
        matches!(self.resolve(path), Some((_, Node::File)))
    }

    /// Whether the folder at `path` holds any file or symlink, at any depth.
    fn holds_files(&self, path: &str) -> bool {
        let Some((dir, Node::Dir)) = self.resolve(path) else {
            return false;
        };
        let prefix = format!("{dir}/");
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .any(|(_, node)| *node != Node::Dir)
    }
}

/// What an ELF asks the loader for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// `PT_INTERP`: the loader itself.
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    /// `DT_RUNPATH`, or `DT_RPATH` when there is no runpath, split at `:`.
    pub search: Vec<String>,
}

/// An x86-64 ELF's dependencies; `None` for anything else, which this loader never loads.
pub fn dependencies(bytes: &[u8]) -> Result<Option<Dependencies>, String> {
    const ELFCLASS64: u8 = 2;
    if !bytes.starts_with(b"\x7fELF") || bytes.get(4) != Some(&ELFCLASS64) {
        return Ok(None);
    }
    let elf = ElfFile64::<Endianness>::parse(bytes).map_err(|error| error.to_string())?;
    let endian = elf.endian();
    if elf.elf_header().e_machine(endian) != EM_X86_64 {
        return Ok(None);
    }
    let mut found = Dependencies::default();
    for header in elf.elf_program_headers() {
        if let Some(interpreter) = header
            .interpreter(endian, bytes)
            .map_err(|error| error.to_string())?
        {
            found.interpreter = Some(String::from_utf8_lossy(interpreter).into_owned());
        }
    }
    let table = elf.elf_dynamic_table().map_err(|error| error.to_string())?;
    let (mut runpath, mut rpath) = (None, None);
    for entry in table.iter() {
        if ![DT_NEEDED, DT_RUNPATH, DT_RPATH].contains(&entry.tag) {
            continue;
        }
        let text = table.string(entry).map_err(|error| error.to_string())?;
        let text = String::from_utf8_lossy(text).into_owned();
        match entry.tag {
            DT_NEEDED => found.needed.push(text),
            DT_RUNPATH => runpath = Some(text),
            _ => rpath = Some(text),
        }
    }
    if let Some(path) = runpath.or(rpath) {
        found.search = path.split(':').map(str::to_owned).collect();
    }
    Ok(Some(found))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Interpreter(String),
    Library(String),
}

/// What of `dependencies` the loader would not find for the ELF at `elf` (absolute).
pub fn missing(tree: &TreeView, elf: &str, dependencies: &Dependencies) -> Vec<Missing> {
    let mut missing = Vec::new();
    if let Some(interpreter) = &dependencies.interpreter
        && !tree.is_file(interpreter)
    {
        missing.push(Missing::Interpreter(interpreter.clone()));
    }
    let origin = elf.rsplit_once('/').map_or("/", |(dir, _)| dir);
    // `$ORIGIN` is the ELF's folder; other tokens (`$LIB`, `$PLATFORM`) are not looked into.
    let search: Vec<String> = dependencies
        .search
        .iter()
        .map(|dir| dir.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        .filter(|dir| !dir.contains('$'))
        .chain(DEFAULT_DIRS.iter().map(|dir| dir.to_string()))
        .collect();
    for needed in &dependencies.needed {
        let found = if needed.contains('/') {
            // A path, used as it is; a relative one would depend on the working folder.
            needed.starts_with('/') && tree.is_file(needed)
        } else {
            search
                .iter()
                .any(|dir| tree.is_file(&format!("{dir}/{needed}")))
        };
        if !found {
            missing.push(Missing::Library(needed.clone()));
        }
    }
    missing
}

/// The folders an `/etc/ld.so.conf.d/*.conf` names that the loader does not search without a
/// cache, and that hold files in the image: what is there is found only through a runpath.
pub fn unsearched_dirs(conf: &str, tree: &TreeView) -> Vec<String> {
    conf.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty() && !line.starts_with("include "))
        .map(|dir| dir.trim_end_matches('/').to_owned())
        .filter(|dir| !DEFAULT_DIRS.contains(&dir.as_str()) && tree.holds_files(dir))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A merged-/usr style image: `lib` → `usr/lib`, the loader behind an absolute link.
    fn tree() -> TreeView {
        let mut tree = TreeView::default();
        for dir in [
            "usr",
            "usr/lib",
            "usr/lib/x86_64-linux-gnu",
            "lib64",
            "opt",
            "opt/app",
        ] {
            tree.insert(dir, Node::Dir);
        }
        tree.insert("lib", Node::Symlink("usr/lib".into()));
        tree.insert(
            "lib64/ld-linux-x86-64.so.2",
            Node::Symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into()),
        );
        for file in [
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            "opt/app/libapp.so",
            "opt/app/tool",
        ] {
            tree.insert(file, Node::File);
        }
        tree.insert(
            "usr/lib/x86_64-linux-gnu/libm.so.6",
            Node::Symlink("../../../../../../usr/lib/x86_64-linux-gnu/libc.so.6".into()),
        );
        tree.insert("usr/lib/loop", Node::Symlink("loop".into()));
        tree.insert("usr/lib/escape.so", Node::Symlink("/etc/shadow".into()));
        tree
    }

    #[test]
    fn symlinks_resolve_inside_the_image_only() {
        let tree = tree();
        assert_eq!(
            tree.resolve("/lib64/ld-linux-x86-64.so.2").unwrap().0,
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        );
        assert!(tree.is_file("/lib/x86_64-linux-gnu/libm.so.6"));
        assert!(tree.resolve("/usr/lib/loop").is_none());
        // /etc/shadow exists on the host, not in the image.
        assert!(!tree.is_file("/usr/lib/escape.so"));
        assert!(!tree.is_file("/opt/app/tool/x"));
        assert_eq!(tree.resolve("/").unwrap(), (String::new(), &Node::Dir));
    }

    #[test]
    fn libraries_are_found_in_the_default_dirs_and_the_runpath_only() {
        let tree = tree();
        let dependencies = Dependencies {
            interpreter: Some("/lib64/ld-linux-x86-64.so.2".into()),
            needed: ["libc.so.6", "libm.so.6", "libapp.so", "libgone.so.1"]
                .map(String::from)
                .into(),
            search: Vec::new(),
        };
        assert_eq!(
            missing(&tree, "/opt/app/tool", &dependencies),
            [
                Missing::Library("libapp.so".into()),
                Missing::Library("libgone.so.1".into())
            ]
        );
        let with_origin = Dependencies {
            search: vec!["$ORIGIN".into(), "$LIB/x".into()],
            ..dependencies
        };
        assert_eq!(
            missing(&tree, "/opt/app/tool", &with_origin),
            [Missing::Library("libgone.so.1".into())]
        );
        let no_loader = Dependencies {
            interpreter: Some("/lib64/ld-musl-x86_64.so.1".into()),
            ..Dependencies::default()
        };
        assert_eq!(
            missing(&tree, "/opt/app/tool", &no_loader),
            [Missing::Interpreter("/lib64/ld-musl-x86_64.so.1".into())]
        );
    }

    #[test]
    fn a_conf_naming_a_folder_with_files_outside_the_default_path_is_reported() {
        let tree = tree();
        let conf = "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n\
                    /lib/x86_64-linux-gnu\n/opt/app/ # the app\ninclude /etc/other/*.conf\n";
        assert_eq!(unsearched_dirs(conf, &tree), ["/opt/app"]);
    }

    #[test]
    fn reads_this_test_binarys_own_dependencies() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let found = dependencies(&bytes).unwrap().expect("an x86-64 ELF");
        assert_eq!(
            found.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert!(found.needed.iter().any(|n| n == "libc.so.6"), "{found:?}");
        assert_eq!(dependencies(b"#!/bin/sh\n").unwrap(), None);
        assert!(dependencies(b"\x7fELF\x02\x01\x01garbage").is_err());
    }
}
