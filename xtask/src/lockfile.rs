//! `packages.lock`: the Debian packages pinned by version and sha256. Pure: parse and print.

use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "packages.lock";

const HEADER: &str = "\
# Pinned Debian packages. `cargo xtask setup` fetches each through a private apt configuration
# (signatures checked against the Debian archive keyring) and refuses any whose sha256 differs.
# `cargo xtask lock NAME` adds a package at its current candidate version.
";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PinnedPackage {
    pub name: String,
    pub version: String,
    /// The suite that serves this version, recorded for people; apt finds it by version.
    pub suite: String,
    pub sha256: String,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    #[serde(default, rename = "package")]
    pub packages: Vec<PinnedPackage>,
}

impl Lockfile {
    pub fn parse(text: &str) -> Result<Lockfile, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn get(&self, name: &str) -> Option<&PinnedPackage> {
        self.packages.iter().find(|package| package.name == name)
    }

    /// Adds or replaces a package, keeping the file's order stable.
    pub fn upsert(&mut self, package: PinnedPackage) {
        match self.packages.iter_mut().find(|p| p.name == package.name) {
            Some(existing) => *existing = package,
            None => self.packages.push(package),
        }
    }

    pub fn render(&self) -> String {
        let mut text = HEADER.to_owned();
        for package in &self.packages {
            text.push_str(&format!(
                "\n[[package]]\nname = {:?}\nversion = {:?}\nsuite = {:?}\nsha256 = {:?}\n",
                package.name, package.version, package.suite, package.sha256
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn upsert_replaces_in_place() {
        let mut lock = Lockfile::default();
        let pin = |version: &str| PinnedPackage {
            name: "a".into(),
            version: version.into(),
            suite: "bookworm".into(),
            sha256: "00".into(),
        };
        lock.upsert(pin("1"));
        lock.upsert(pin("2"));
        assert_eq!(lock.packages, [pin("2")]);
    }
}
