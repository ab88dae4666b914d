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
    /// Rules contributed by layers, appended in layer order.
    pub layer_rules: &'a [String],
}

/// Everything not explicitly trusted is denied, for every operation; what runs must come from
/// the verity-protected rootfs.
pub fn generate(inputs: &PolicyInputs) -> String {
    let mut text = format!(
        "policy_name={} policy_version={}\n\
         DEFAULT action=DENY\n\
         # The immutable root filesystem, by its dm-verity root hash.\n\
         op=EXECUTE dmverity_roothash=sha256:{} action=ALLOW\n",
        inputs.name, inputs.version, inputs.rootfs_root_hash
    );
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

/// Looks up a policy's version in `policies/releases.toml`.
pub fn release_version(releases_toml: &str, name: &str) -> Result<String, String> {
    let releases: BTreeMap<String, String> = toml::from_str(releases_toml)
        .map_err(|error| format!("policies/releases.toml: {error}"))?;
    let version = releases.get(name).ok_or_else(|| {
        format!("policies/releases.toml has no version for policy `{name}`; add a line `{name} = \"0.1.0\"`")
    })?;
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|part| part.parse::<u16>().is_err()) {
        return Err(format!(
            "policies/releases.toml: `{name} = \"{version}\"` must be MAJOR.MINOR.REVISION, each 0..=65535"
        ));
    }
    Ok(version.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_by_default_and_trusts_the_rootfs() {
        let rules = vec!["op=KERNEL_READ action=ALLOW".to_owned()];
        let text = generate(&PolicyInputs {
            name: "fw",
            version: "1.2.3",
            rootfs_root_hash: "ab",
            layer_rules: &rules,
        });
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "policy_name=fw policy_version=1.2.3",
                "DEFAULT action=DENY",
                "op=EXECUTE dmverity_roothash=sha256:ab action=ALLOW",
                "op=KERNEL_READ action=ALLOW",
            ]
        );
    }

    #[test]
    fn release_versions_are_checked() {
        assert_eq!(release_version("fw = \"0.1.0\"\n", "fw").unwrap(), "0.1.0");
        assert!(
            release_version("fw = \"0.1.0\"\n", "other")
                .unwrap_err()
                .contains("add a line `other = \"0.1.0\"`")
        );
        assert!(
            release_version("fw = \"1.70000.0\"\n", "fw")
                .unwrap_err()
                .contains("0..=65535")
        );
        assert!(release_version("fw = \"1.0\"\n", "fw").is_err());
    }
}
