//! Stage `policy`: the IPE policy generated from exactly what was built, as a value
//! ([`PolicyText`]) that tests and benchmarks derive their variants from. Pure.

use std::collections::BTreeMap;

use ipe_lsm::host::PolicyText;
use ipe_lsm::{Action, Version};

/// The policy's identity and the facts it trusts.
#[derive(Clone, Copy)]
pub struct PolicyInputs<'a> {
    pub name: &'a str,
    pub version: Version,
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
pub fn generate(inputs: &PolicyInputs) -> PolicyText {
    let mut policy = PolicyText::new(inputs.name, inputs.version, Action::Deny);
    let root = inputs.rootfs_root_hash;
    policy
        .comment("The immutable root filesystem, by its dm-verity root hash: its programs, and\nkernel modules only from it.")
        .rule(format!("op=EXECUTE dmverity_roothash=sha256:{root} action=ALLOW"))
        .rule(format!("op=KMODULE dmverity_roothash=sha256:{root} action=ALLOW"));
    if !inputs.sealed.is_empty() {
        // A digest matches only a file with fs-verity enabled: a copy, or a file changed before
        // sealing, measures differently or not at all.
        policy.comment("Sealed binaries, by their fs-verity digest.");
        for file in inputs.sealed {
            policy.comment(&file.install).rule(format!(
                "op=EXECUTE fsverity_digest={} action=ALLOW",
                file.digest
            ));
        }
    }
    if !inputs.layer_rules.is_empty() {
        policy.comment("Rules from the layers.");
        for rule in inputs.layer_rules {
            policy.rule(rule.clone());
        }
    }
    policy
}

/// The compiled-in boot policy is named `<name>-boot`, at the lowest version, so that the signed
/// policy can be loaded beside it (`new_policy` refuses an existing name) and then activated
/// (IPE refuses to activate a lower version than the active one).
pub fn boot_policy(policy: &PolicyText) -> PolicyText {
    policy.renamed(format!("{}-boot", policy.name()), Version::default())
}

/// Generates and checks with the same parser the kernel runs: a policy it would reject never
/// reaches a build.
pub fn generate_checked(inputs: &PolicyInputs) -> anyhow::Result<PolicyText> {
    let policy = generate(inputs);
    policy.render_checked().map_err(|diagnostic| {
        anyhow::anyhow!(
            "the generated policy is invalid: {diagnostic}; check the layers' [policy] rules\n{}",
            policy.render()
        )
    })?;
    Ok(policy)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    version: String,
    released: String,
}

/// The version to build for policy `name`: `override_version` or the one in
/// `policies/releases.toml`, which must be higher than the last released one.
pub fn release_version(
    releases_toml: &str,
    name: &str,
    override_version: Option<&str>,
) -> Result<Version, String> {
    const FILE: &str = "policies/releases.toml";
    let releases: BTreeMap<String, Release> =
        toml::from_str(releases_toml).map_err(|error| format!("{FILE}: {error}"))?;
    let release = releases.get(name).ok_or_else(|| {
        format!("{FILE} has no entry for policy `{name}`; add\n[{name}]\nversion = \"0.1.0\"\nreleased = \"0.0.0\"")
    })?;
    let version = override_version.unwrap_or(&release.version);
    let parsed: Version = version
        .parse()
        .map_err(|error| format!("policy `{name}`: {error}"))?;
    let released: Version = release
        .released
        .parse()
        .map_err(|error| format!("{FILE}: [{name}] released: {error}"))?;
    if parsed <= released {
        return Err(format!(
            "policy `{name}` version {version} is not higher than the released {}: devices would refuse it; raise `version` in {FILE}",
            release.released
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_by_default_and_trusts_the_rootfs_and_sealed_digests() {
        let rules = vec!["op=KMODULE action=DENY".to_owned()];
        let text = generate(&PolicyInputs {
            name: "fw",
            version: "1.2.3".parse().unwrap(),
            rootfs_root_hash: "ab",
            sealed: &[super::super::sealed::SealedFile {
                install: "/opt/sealed/tool".to_owned(),
                digest: "sha256:cd".to_owned(),
            }],
            layer_rules: &rules,
        })
        .render_checked()
        .unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "policy_name=fw policy_version=1.2.3",
                "DEFAULT action=DENY",
                "op=EXECUTE dmverity_roothash=sha256:ab action=ALLOW",
                "op=KMODULE dmverity_roothash=sha256:ab action=ALLOW",
                "op=EXECUTE fsverity_digest=sha256:cd action=ALLOW",
                "op=KMODULE action=DENY",
            ]
        );
    }

    const RELEASES: &str = "[fw]\nversion = \"1.2.0\"\nreleased = \"1.1.9\"\n";

    #[test]
    fn builds_the_recorded_or_given_version_above_the_released_one() {
        let version = |text: &str| text.parse::<Version>().unwrap();
        assert_eq!(
            release_version(RELEASES, "fw", None).unwrap(),
            version("1.2.0")
        );
        assert_eq!(
            release_version(RELEASES, "fw", Some("2.0.0")).unwrap(),
            version("2.0.0")
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
    fn the_boot_policy_has_the_same_rules_at_the_lowest_version() {
        let policy = generate(&PolicyInputs {
            name: "fw",
            version: "1.2.3".parse().unwrap(),
            rootfs_root_hash: "ab",
            sealed: &[],
            layer_rules: &[],
        });
        let boot = boot_policy(&policy);
        assert_eq!(
            (boot.name(), boot.version()),
            ("fw-boot", Version::default())
        );
        assert!(boot.rules().eq(policy.rules()));
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
