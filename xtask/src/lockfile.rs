//! `packages.lock`: the Debian packages pinned by version and sha256, with the dependency graph
//! of what layers install, as `Cargo.lock` pins a whole graph. Pure: parse, print, walk.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "packages.lock";

const HEADER: &str = "\
# Pinned Debian packages. Each .deb is fetched through a private apt configuration (signatures
# checked against the Debian archive keyring) and refused if its sha256 differs.
# `cargo xtask lock NAME...` pins packages with their whole dependency closure from bookworm,
# bookworm-updates and bookworm-security, as apt would install them on an empty system:
# `depends` is what each one's dependencies resolved to, `pulled_by` the requested packages
# whose closure holds it. `cargo xtask lock --no-deps NAME` pins a package alone (setup's inputs).
# `[[omit]]`: packages never installed, though others depend on them, each with its reason.
";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PinnedPackage {
    pub name: String,
    pub version: String,
    /// The suite that serves this version, recorded for people; apt finds it by version.
    pub suite: String,
    /// The .deb's path in the archive; absent in pins made before it was recorded.
    #[serde(default)]
    pub filename: Option<String>,
    pub sha256: String,
    /// The packages its `Pre-Depends` and `Depends` resolved to; absent when pinned alone.
    #[serde(default)]
    pub depends: Option<Vec<String>>,
    /// The requested packages whose closure holds this one (itself, if it was requested).
    #[serde(default)]
    pub pulled_by: Vec<String>,
}

/// Why a package cannot be installed from the lock, and the command that fixes it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClosureError {
    #[error("`{0}` is not pinned in packages.lock; add it with `cargo xtask lock {0}`")]
    NotPinned(String),
    #[error(
        "`{0}` is pinned without its dependencies (`--no-deps`); pin it with them: `cargo xtask lock {0}`"
    )]
    Alone(String),
    #[error(
        "`{package}` is locked, but its dependency `{missing}` (needed by `{needed_by}`) is not; \
         lock the whole closure again: `cargo xtask lock {package}`"
    )]
    Missing {
        package: String,
        missing: String,
        needed_by: String,
    },
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    #[serde(default, rename = "omit")]
    pub omitted: Vec<Omitted>,
    #[serde(default, rename = "package")]
    pub packages: Vec<PinnedPackage>,
}

/// A package that a dependency names but the appliance does without, such as `systemd` for a
/// program that only ships a unit file for it: its dependency groups are left unmet.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Omitted {
    pub name: String,
    /// Why the appliance does without it, for the reviewer of the lock.
    pub reason: String,
}

impl Lockfile {
    pub fn parse(text: &str) -> Result<Lockfile, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn get(&self, name: &str) -> Option<&PinnedPackage> {
        self.packages.iter().find(|package| package.name == name)
    }

    /// Adds or replaces a package.
    pub fn upsert(&mut self, package: PinnedPackage) {
        match self.packages.iter_mut().find(|p| p.name == package.name) {
            Some(existing) => *existing = package,
            None => self.packages.push(package),
        }
    }

    /// The names of the omitted packages.
    pub fn omitted_names(&self) -> BTreeSet<String> {
        self.omitted.iter().map(|o| o.name.clone()).collect()
    }

    /// The packages once requested with their closure: those that pulled themselves in.
    pub fn requested(&self) -> Vec<String> {
        self.packages
            .iter()
            .filter(|p| p.pulled_by.contains(&p.name))
            .map(|p| p.name.clone())
            .collect()
    }

    /// Replaces every pinned closure with `closure`, the graph resolved again; packages
    /// pinned alone stay, unless the new closure holds them.
    pub fn replace_closures(&mut self, closure: Vec<PinnedPackage>) {
        let names: BTreeSet<&str> = closure.iter().map(|p| p.name.as_str()).collect();
        self.packages
            .retain(|p| p.depends.is_none() && !names.contains(p.name.as_str()));
        self.packages.extend(closure);
    }

    /// `name` and every package its recorded dependencies lead to, sorted by name.
    pub fn closure(&self, name: &str) -> Result<Vec<&PinnedPackage>, ClosureError> {
        let top = self
            .get(name)
            .ok_or_else(|| ClosureError::NotPinned(name.to_owned()))?;
        if top.depends.is_none() {
            return Err(ClosureError::Alone(name.to_owned()));
        }
        let mut found = std::collections::BTreeMap::new();
        let mut stack = vec![top];
        while let Some(package) = stack.pop() {
            if found.insert(package.name.as_str(), package).is_some() {
                continue;
            }
            for dependency in package.depends.iter().flatten() {
                match self.get(dependency) {
                    Some(pinned) => stack.push(pinned),
                    None => {
                        return Err(ClosureError::Missing {
                            package: name.to_owned(),
                            missing: dependency.clone(),
                            needed_by: package.name.clone(),
                        });
                    }
                }
            }
        }
        Ok(found.into_values().collect())
    }

    /// Sorted by name, one key per line and one list item per line, so that diffs stay small.
    pub fn render(&self) -> String {
        let mut packages: Vec<&PinnedPackage> = self.packages.iter().collect();
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        let mut text = HEADER.to_owned();
        for omitted in &self.omitted {
            text.push_str(&format!(
                "\n[[omit]]\nname = {:?}\nreason = {:?}\n",
                omitted.name, omitted.reason
            ));
        }
        for package in packages {
            text.push_str(&format!(
                "\n[[package]]\nname = {:?}\nversion = {:?}\nsuite = {:?}\n",
                package.name, package.version, package.suite
            ));
            if let Some(filename) = &package.filename {
                text.push_str(&format!("filename = {filename:?}\n"));
            }
            text.push_str(&format!("sha256 = {:?}\n", package.sha256));
            if let Some(depends) = &package.depends {
                text.push_str(&render_list("depends", depends));
            }
            if !package.pulled_by.is_empty() {
                text.push_str(&render_list("pulled_by", &package.pulled_by));
            }
        }
        text
    }
}

fn render_list(key: &str, items: &[String]) -> String {
    if items.is_empty() {
        return format!("{key} = []\n");
    }
    let mut sorted = items.to_vec();
    sorted.sort();
    let lines: String = sorted
        .iter()
        .map(|item| format!("    {item:?},\n"))
        .collect();
    format!("{key} = [\n{lines}]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(name: &str, depends: Option<&[&str]>, pulled_by: &[&str]) -> PinnedPackage {
        PinnedPackage {
            name: name.into(),
            version: "1".into(),
            suite: "bookworm".into(),
            filename: Some(format!("pool/main/{name}.deb")),
            sha256: "00".into(),
            depends: depends.map(|d| d.iter().map(|s| s.to_string()).collect()),
            pulled_by: pulled_by.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_committed_lock_parses_and_renders_unchanged() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../packages.lock"))
                .unwrap();
        let lock = Lockfile::parse(&text).unwrap();
        assert!(lock.get("linux-source-6.12").is_some());
        assert_eq!(
            lock.render(),
            text,
            "packages.lock is not in canonical form"
        );
    }

    #[test]
    fn renders_sorted_and_parses_back() {
        let mut lock = Lockfile::default();
        lock.upsert(pin("zlib", Some(&[]), &["app"]));
        lock.upsert(pin("app", Some(&["zlib"]), &["app"]));
        lock.upsert(pin("input", None, &[]));
        let text = lock.render();
        assert!(text.find("name = \"app\"") < text.find("name = \"input\""));
        assert!(text.contains("depends = [\n    \"zlib\",\n]\n"), "{text}");
        assert!(text.contains("depends = []\n"), "{text}");
        let again = Lockfile::parse(&text).unwrap();
        assert_eq!(again.render(), text);
        assert_eq!(again.requested(), ["app"]);
    }

    #[test]
    fn upsert_replaces_in_place() {
        let mut lock = Lockfile::default();
        let mut second = pin("a", None, &[]);
        second.version = "2".into();
        lock.upsert(pin("a", None, &[]));
        lock.upsert(second.clone());
        assert_eq!(lock.packages, [second]);
    }

    #[test]
    fn a_closure_follows_the_recorded_edges() {
        let mut lock = Lockfile::default();
        lock.upsert(pin("app", Some(&["lib", "tool"]), &["app"]));
        lock.upsert(pin("lib", Some(&["libc"]), &["app"]));
        lock.upsert(pin("tool", Some(&["libc"]), &["app"]));
        lock.upsert(pin("libc", Some(&["app"]), &["app"]));
        lock.upsert(pin("other", Some(&[]), &["other"]));
        let names: Vec<&str> = lock
            .closure("app")
            .unwrap()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["app", "lib", "libc", "tool"]);
    }

    #[test]
    fn a_broken_closure_names_what_is_missing_and_the_fix() {
        let mut lock = Lockfile::default();
        lock.upsert(pin("nftables", Some(&["libnftables1"]), &["nftables"]));
        lock.upsert(pin("libnftables1", Some(&["libjansson4"]), &["nftables"]));
        lock.upsert(pin("linux-source-6.12", None, &[]));
        let error = lock.closure("nftables").unwrap_err();
        assert_eq!(
            error,
            ClosureError::Missing {
                package: "nftables".into(),
                missing: "libjansson4".into(),
                needed_by: "libnftables1".into(),
            }
        );
        assert!(error.to_string().contains("`cargo xtask lock nftables`"));
        assert_eq!(
            lock.closure("nano").unwrap_err(),
            ClosureError::NotPinned("nano".into())
        );
        assert!(
            lock.closure("linux-source-6.12")
                .unwrap_err()
                .to_string()
                .contains("--no-deps")
        );
    }

    #[test]
    fn replacing_closures_keeps_pins_made_alone() {
        let mut lock = Lockfile::default();
        lock.upsert(pin("input", None, &[]));
        lock.upsert(pin("old", Some(&[]), &["old"]));
        lock.replace_closures(vec![pin("new", Some(&[]), &["new"])]);
        let names: Vec<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["input", "new"]);
    }
}
