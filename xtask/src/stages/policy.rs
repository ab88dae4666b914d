//! Stage `policy`: the IPE policy generated from exactly what was built. Pure text generation.

use std::collections::BTreeMap;

/// The policy's identity and the facts it trusts.
#[derive(Clone, Copy)]
pub struct PolicyInputs<'a> {
    pub name: &'a str,
    /// `MAJOR.MINOR.REVISION`, each a u16.
    pub version: &'a str,
    /// The dm-verity root hash of the root filesystem, hex.
    pub rootfs_root_hash: &'a str,
    /// Binaries on the sealed partition, allowed by their fs-verity digest.
    pub sealed: &'a [super::sealed::SealedFile],
    /// Rules contributed by layers, appended in layer order.
    pub layer_rules: &'a [String],
}

/// Everything not explicitly trusted is denied, for every operation; what runs must come from
/// the verity-protected rootfs, or be a sealed binary with its fs-verity digest, and kernel
/// modules must come from the rootfs.
pub fn generate(inputs: &PolicyInputs) -> String {
    let mut text = format!(
        "policy_name={} policy_version={}\n\
         DEFAULT action=DENY\n\
         # The immutable root filesystem, by its dm-verity root hash: its programs, and\n\
         # kernel modules only from it.\n\
         op=EXECUTE dmverity_roothash=sha256:{root} action=ALLOW\n\
         op=KMODULE dmverity_roothash=sha256:{root} action=ALLOW\n",
        inputs.name,
        inputs.version,
        root = inputs.rootfs_root_hash
    );
    if !inputs.sealed.is_empty() {
        // A digest matches only a file with fs-verity enabled: a copy, or a file changed before
        // sealing, measures differently or not at all.
        text.push_str("# Sealed binaries, by their fs-verity digest.\n");
        for file in inputs.sealed {
            text.push_str(&format!(
                "# {}\nop=EXECUTE fsverity_digest={} action=ALLOW\n",
                file.install, file.digest
            ));
        }
    }
    if !inputs.layer_rules.is_empty() {
        text.push_str("# Rules from the layers.\n");
        for rule in inputs.layer_rules {
            text.push_str(rule);
            text.push('\n');
        }
    }
    text
}

/// The compiled-in boot policy is named `<name>-boot`, at the lowest version, so that the signed
/// policy can be loaded beside it (`new_policy` refuses an existing name) and then activated
/// (IPE refuses to activate a lower version than the active one).
pub const BOOT_POLICY_SUFFIX: &str = "-boot";
pub const BOOT_POLICY_VERSION: &str = "0.0.0";

/// Generates and checks with the same parser the kernel runs: a policy it would reject never
/// reaches a build.
pub fn generate_checked(inputs: &PolicyInputs) -> anyhow::Result<String> {
    let text = generate(inputs);
    ipe_lsm::host::check(text.as_bytes()).map_err(|diagnostic| {
        anyhow::anyhow!("the generated policy is invalid: {diagnostic}; check the layers' [policy] rules\n{text}")
    })?;
    Ok(text)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    version: String,
    released: String,
}

/// A version as IPE orders it: major, then minor, then revision.
fn parse_version(text: &str) -> Option<(u16, u16, u16)> {
    let mut parts = text.split('.').map(|part| part.parse::<u16>().ok());
    match (parts.next()?, parts.next()?, parts.next()?, parts.next()) {
        (Some(major), Some(minor), Some(revision), None) => Some((major, minor, revision)),
        _ => None,
    }
}

/// The version to build for policy `name`: `override_version` or the one in
/// `policies/releases.toml`, which must be higher than the last released one.
pub fn release_version(
    releases_toml: &str,
    name: &str,
    override_version: Option<&str>,
) -> Result<String, String> {
    const FILE: &str = "policies/releases.toml";
    let releases: BTreeMap<String, Release> =
        toml::from_str(releases_toml).map_err(|error| format!("{FILE}: {error}"))?;
    let release = releases.get(name).ok_or_else(|| {
        format!("{FILE} has no entry for policy `{name}`; add\n[{name}]\nversion = \"0.1.0\"\nreleased = \"0.0.0\"")
    })?;
    let version = override_version.unwrap_or(&release.version);
    let parsed = parse_version(version).ok_or_else(|| {
        format!(
            "policy `{name}` version \"{version}\" must be MAJOR.MINOR.REVISION, each 0..=65535"
        )
    })?;
    let released = parse_version(&release.released).ok_or_else(|| {
        format!(
            "{FILE}: [{name}] released = \"{}\" must be MAJOR.MINOR.REVISION, each 0..=65535",
            release.released
        )
    })?;
    if parsed <= released {
        return Err(format!(
            "policy `{name}` version {version} is not higher than the released {}: devices would refuse it; raise `version` in {FILE}",
            release.released
        ));
    }
    Ok(version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_by_default_and_trusts_the_rootfs_and_sealed_digests() {
        let rules = vec!["op=KERNEL_READ action=ALLOW".to_owned()];
        let text = generate(&PolicyInputs {
            name: "fw",
            version: "1.2.3",
            rootfs_root_hash: "ab",
            sealed: &[super::super::sealed::SealedFile {
                install: "/opt/sealed/tool".to_owned(),
                digest: "sha256:cd".to_owned(),
            }],
            layer_rules: &rules,
        });
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "policy_name=fw policy_version=1.2.3",
                "DEFAULT action=DENY",
                "op=EXECUTE dmverity_roothash=sha256:ab action=ALLOW",
                "op=KMODULE dmverity_roothash=sha256:ab action=ALLOW",
                "op=EXECUTE fsverity_digest=sha256:cd action=ALLOW",
                "op=KERNEL_READ action=ALLOW",
            ]
        );
    }

    const RELEASES: &str = "[fw]\nversion = \"1.2.0\"\nreleased = \"1.1.9\"\n";

    #[test]
    fn builds_the_recorded_or_given_version_above_the_released_one() {
        assert_eq!(release_version(RELEASES, "fw", None).unwrap(), "1.2.0");
        assert_eq!(
            release_version(RELEASES, "fw", Some("2.0.0")).unwrap(),
            "2.0.0"
        );
    }

    #[test]
    fn refuses_versions_that_do_not_rise() {
        let error = release_version(RELEASES, "fw", Some("1.1.9")).unwrap_err();
        assert!(
            error.contains("not higher than the released 1.1.9"),
            "{error}"
        );
        assert!(
            release_version(RELEASES, "fw", Some("1.1.10")).is_ok(),
            "numeric, not text, order"
        );
        assert!(release_version(RELEASES, "fw", Some("0.9.9")).is_err());
    }

    #[test]
    fn explains_bad_entries() {
        assert!(
            release_version(RELEASES, "other", None)
                .unwrap_err()
                .contains("[other]")
        );
        assert!(
            release_version(RELEASES, "fw", Some("1.70000.0"))
                .unwrap_err()
                .contains("0..=65535")
        );
        assert!(release_version(RELEASES, "fw", Some("1.2")).is_err());
        let missing = "[fw]\nversion = \"1.0.0\"\n";
        assert!(
            release_version(missing, "fw", None)
                .unwrap_err()
                .contains("released")
        );
    }
}
