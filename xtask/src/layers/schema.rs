//! The `layer.toml` schema. Pure: parsing only, no file system access.

use serde::Deserialize;
use toml::Spanned;

/// One layer's manifest, `layers/<name>/layer.toml`. Every path is relative to the layer's folder.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LayerManifest {
    /// One line saying what the layer is for.
    pub description: String,
    #[serde(default)]
    pub kernel: KernelSection,
    #[serde(default)]
    pub packages: PackagesSection,
    /// A folder whose tree is copied into the root filesystem; later layers overwrite earlier files.
    pub overlay: Option<Spanned<String>>,
    /// Rust binaries built from this workspace and installed into the root filesystem.
    #[serde(default)]
    pub binaries: Vec<Binary>,
    #[serde(default)]
    pub policy: PolicySection,
    /// Accounts in `/etc/passwd`, besides root and nobody.
    #[serde(default)]
    pub users: Vec<User>,
    /// Groups in `/etc/group`, besides root and nogroup.
    #[serde(default)]
    pub groups: Vec<Group>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KernelSection {
    /// Kconfig fragments merged in layer order after `kernel-config/*.config`.
    #[serde(default)]
    pub fragments: Vec<Spanned<String>>,
    /// Patches applied with `patch -p1` to the kernel source, in layer order.
    #[serde(default)]
    pub patches: Vec<Spanned<String>>,
    /// Kernel command-line arguments, such as the console this hardware uses.
    #[serde(default)]
    pub cmdline: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PackagesSection {
    /// Debian packages extracted into the root filesystem; each must be pinned in `packages.lock`.
    #[serde(default)]
    pub debian: Vec<Spanned<String>>,
    /// Paths left out of the packages' files (never of overlays), after the default exclusions
    /// (documentation, manual pages, locales): globs relative to the root, `*`, `?` and `**`.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: Spanned<String>,
    pub uid: Spanned<u32>,
    /// The primary group, declared in some layer's `[[groups]]`, or `root`; `nogroup` if absent.
    pub group: Option<Spanned<String>>,
    /// `/nonexistent` if absent.
    pub home: Option<Spanned<String>>,
    /// `/usr/sbin/nologin` if absent: no login.
    pub shell: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: Spanned<String>,
    pub gid: Spanned<u32>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Binary {
    /// The workspace package that builds it.
    pub package: String,
    /// The binary target's name within that package.
    pub bin: String,
    /// Absolute path inside the root filesystem.
    pub install: Spanned<String>,
    /// Installed on the sealed ext4 partition with fs-verity enabled, and allowed to run by its
    /// fs-verity digest; `install` must then be under `/opt/sealed/`.
    #[serde(default)]
    pub sealed: bool,
    /// Linked dynamically against the glibc of the layers' Debian packages (`libc6` must be
    /// among them), instead of statically.
    #[serde(default)]
    pub dynamic: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// The IPE policy's `policy_name`; the last layer that sets it wins.
    pub name: Option<Spanned<String>>,
    /// Extra IPE rules, appended after the generated ones in layer order.
    #[serde(default)]
    pub rules: Vec<Spanned<String>>,
}

/// 1-based line of a byte offset, for error messages.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_counts_from_one() {
        let text = "a\nbb\nccc";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 2), 2);
        assert_eq!(line_of(text, 5), 3);
    }

    #[test]
    fn parses_a_full_manifest() {
        let text = r#"
description = "demo"
overlay = "files"
[kernel]
fragments = ["a.config"]
[packages]
debian = ["busybox-static"]
exclude = ["usr/share/zoneinfo"]
[[binaries]]
package = "appliance-init"
bin = "init"
install = "/sbin/init"
[[binaries]]
package = "fw-status"
bin = "fw-status"
install = "/opt/sealed/fw-status"
sealed = true
[policy]
name = "demo"
rules = ["op=EXECUTE boot_verified=TRUE action=ALLOW"]
[[users]]
name = "fw"
uid = 900
group = "fw"
[[groups]]
name = "fw"
gid = 900
"#;
        let layer: LayerManifest = toml::from_str(text).unwrap();
        assert_eq!(layer.kernel.fragments[0].get_ref(), "a.config");
        assert_eq!(layer.binaries[0].install.get_ref(), "/sbin/init");
        assert!(!layer.binaries[0].sealed && layer.binaries[1].sealed);
        assert_eq!(layer.policy.name.unwrap().into_inner(), "demo");
        assert_eq!(layer.packages.exclude[0].get_ref(), "usr/share/zoneinfo");
        assert_eq!(*layer.users[0].uid.get_ref(), 900);
        assert!(layer.users[0].home.is_none());
        assert_eq!(layer.groups[0].name.get_ref(), "fw");
    }

    #[test]
    fn rejects_unknown_keys() {
        let error =
            toml::from_str::<LayerManifest>("description = \"x\"\nfragmnts = []\n").unwrap_err();
        assert!(error.to_string().contains("fragmnts"), "{error}");
    }
}
