//! `sbom.spdx.json` judged by the SPDX project's own validator (`pyspdxtools`, installed by
//! setup), not by our code; then the integrity data looked for in it. A copy broken the way a
//! careless licence mapping would break it must be refused, so a pass means the validator looked.

use std::path::Path;

use crate::exec::Tool;
use crate::stages::image::Image;
use crate::stages::sbom;

/// Runs the validator on one document: `Ok` when it is valid, else what the validator said.
fn validate(validator: &Path, document: &Path) -> Result<(), String> {
    Tool::new(validator)
        .arg("--infile")
        .arg(document)
        .run()
        .map_err(|error| format!("{error:#}"))
}

/// The document with each Debian package's licence spelt as Debian spells it (`GPL-2`), which
/// is no SPDX identifier.
fn broken(text: &str) -> Result<String, String> {
    let mut document: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the SBOM is not JSON: {e}"))?;
    let packages = document["packages"]
        .as_array_mut()
        .ok_or("the SBOM has no packages")?;
    for package in packages {
        if package["licenseDeclared"].is_string() {
            package["licenseDeclared"] = "GPL-2".into();
        }
    }
    Ok(document.to_string())
}

pub fn check(validator: &Path, image: &Image) -> Result<(), String> {
    let path = image.out_dir.join(sbom::FILE);
    validate(validator, &path)?;
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut wanted = vec![format!("dm-verity root hash: {}", image.verity.root_hash())];
    for file in image.sealed.iter().flat_map(|sealed| &sealed.files) {
        wanted.push(format!("fs-verity digest: {}", file.digest));
    }
    wanted.push(crate::cache::sha256_hex(image.policy.render().as_bytes()));
    let missing: Vec<&String> = wanted.iter().filter(|w| !text.contains(*w)).collect();
    if !missing.is_empty() {
        return Err(format!("{} lacks {missing:?}", path.display()));
    }
    let broken_path = image.test_dir.join("sbom-broken.spdx.json");
    std::fs::write(&broken_path, broken(&text)?)
        .map_err(|e| format!("writing {}: {e}", broken_path.display()))?;
    match validate(validator, &broken_path) {
        Ok(()) => Err(format!(
            "the validator accepted {}, whose licences are not SPDX identifiers",
            broken_path.display()
        )),
        Err(reason) if reason.contains("Unrecognized license reference: GPL-2") => Ok(()),
        Err(reason) => Err(format!(
            "the validator refused {} for another reason than its licences: {reason}",
            broken_path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Cache;
    use crate::stages::setup::spdx_validator_path;

    /// The unit tests' document through the validator: it exercises every kind of element
    /// (patches, `LicenseRef-`s, a sealed binary) that the default image may not.
    #[test]
    fn the_validator_accepts_our_document_and_refuses_a_broken_one() {
        let validator = spdx_validator_path(&Cache::locate().unwrap());
        assert!(
            validator.is_file(),
            "{} is missing: run `cargo xtask setup`",
            validator.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let text = sbom::render(&sbom::tests::inputs()).unwrap();
        let good = dir.path().join("good.spdx.json");
        std::fs::write(&good, &text).unwrap();
        validate(&validator, &good).unwrap();
        let bad = dir.path().join("bad.spdx.json");
        std::fs::write(&bad, broken(&text).unwrap()).unwrap();
        let reason = validate(&validator, &bad).unwrap_err();
        assert!(
            reason.contains("Unrecognized license reference: GPL-2"),
            "{reason}"
        );
    }
}
