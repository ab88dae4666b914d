//! Stage `validate`: everything about a request that can be checked before any download or
//! build, checked at once, every problem reported together with its file and line: the layers
//! (done while resolving them), the workspace binaries they name, the policy version and the
//! kernel fragments' syntax. It runs before setup, in well under a second.

use std::collections::BTreeMap;
use std::fs;

use anyhow::{Context, Result};
use ipe_lsm::Version;

use super::kconfig;
use super::layer_stack::Layers;
use super::policy;
use crate::exec::Tool;
use crate::project::Project;

/// What validation worked out, for the stages.
pub struct Validated {
    pub policy_name: String,
    pub policy_version: Version,
    /// The workspace's packages by name, when layers install binaries (for the SBOM).
    pub crates: BTreeMap<String, WorkspaceCrate>,
}

/// A package of this workspace, from `cargo metadata`.
pub struct WorkspaceCrate {
    pub version: String,
    pub license: Option<String>,
    bins: Vec<String>,
}

pub fn validate(
    project: &Project,
    layers: &Layers,
    policy_version: Option<&str>,
) -> Result<Validated> {
    let wanted = layers
        .loaded
        .iter()
        .any(|layer| !layer.manifest.binaries.is_empty());
    let crates = if wanted {
        workspace_crates(project)?
    } else {
        BTreeMap::new()
    };
    let mut problems = check_binaries(layers, &crates);
    for path in &layers.resolved.kernel_fragments {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if let Err(message) = kconfig::parse_fragment(path, &text) {
            problems.push(message);
        }
    }
    let policy_name = layers
        .resolved
        .policy_name
        .clone()
        .unwrap_or_else(|| "appliance".to_owned());
    let releases_path = project.root.join("policies/releases.toml");
    let releases = fs::read_to_string(&releases_path)
        .with_context(|| format!("reading {}", releases_path.display()))?;
    let version = policy::release_version(&releases, &policy_name, policy_version);
    match (version, &problems[..]) {
        (Ok(policy_version), []) => Ok(Validated {
            policy_name,
            policy_version,
            crates,
        }),
        (version, _) => {
            problems.extend(version.err());
            anyhow::bail!(
                "{} problem(s) found before building:\n  {}",
                problems.len(),
                problems.join("\n  ")
            )
        }
    }
}

/// Every `[[binaries]]` entry names a package of this workspace and one of its binaries; the
/// problems, each with its layer file and line.
fn check_binaries(layers: &Layers, crates: &BTreeMap<String, WorkspaceCrate>) -> Vec<String> {
    let mut errors = Vec::new();
    for layer in &layers.loaded {
        for binary in &layer.manifest.binaries {
            let message = match crates.get(&binary.package).map(|c| &c.bins) {
                None => format!(
                    "package `{}` is not in this workspace; its packages are: {}",
                    binary.package,
                    crates.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                Some(names) if !names.contains(&binary.bin) => format!(
                    "package `{}` has no binary `{}`; it has: {}",
                    binary.package,
                    binary.bin,
                    names.join(", ")
                ),
                Some(_) => continue,
            };
            errors.push(
                layer
                    .invalid(&binary.install, "binaries", message)
                    .to_string(),
            );
        }
    }
    errors
}

/// The workspace's packages, from `cargo metadata` (no network, no dependencies).
fn workspace_crates(project: &Project) -> Result<BTreeMap<String, WorkspaceCrate>> {
    let output = Tool::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(&project.root)
        .output()?;
    let metadata: serde_json::Value = serde_json::from_slice(&output)?;
    let mut crates = BTreeMap::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let names = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|target| {
                target["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"))
            })
            .filter_map(|target| target["name"].as_str().map(str::to_owned))
            .collect();
        if let Some(name) = package["name"].as_str() {
            crates.insert(
                name.to_owned(),
                WorkspaceCrate {
                    version: package["version"].as_str().unwrap_or_default().to_owned(),
                    license: package["license"].as_str().map(str::to_owned),
                    bins: names,
                },
            );
        }
    }
    Ok(crates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers;

    #[test]
    fn a_binary_from_no_package_of_the_workspace_is_named_with_its_line() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("fw");
        fs::create_dir(&dir).unwrap();
        fs::write(
            dir.join("layer.toml"),
            "description = \"x\"\n\n[[binaries]]\npackage = \"fw-stauts\"\nbin = \"fw-status\"\ninstall = \"/bin/fw\"\n\n[[binaries]]\npackage = \"fw-status\"\nbin = \"nope\"\ninstall = \"/bin/fw2\"\n",
        )
        .unwrap();
        let loaded = vec![layers::load(root.path(), "fw").unwrap()];
        let resolved = layers::resolve(&loaded, &|_| None).unwrap();
        let project = Project::discover().unwrap();
        let crates = workspace_crates(&project).unwrap();
        assert_eq!(crates["fw-status"].license.as_deref(), Some("GPL-2.0-only"));
        let problems = check_binaries(&Layers { loaded, resolved }, &crates);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("fw/layer.toml:6:"), "{}", problems[0]);
        assert!(
            problems[0].contains("`fw-stauts` is not in this workspace"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].contains("has no binary `nope`"),
            "{}",
            problems[1]
        );
    }
}
