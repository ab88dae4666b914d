//! The build record (what went into the image, shipped inside it as
//! `/etc/appliance/build.json`) and the manifest (that, plus what came out, with hashes).
//! Pure apart from hashing the files it names.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Value, json};

use crate::cache;
use crate::layers::Layer;
use crate::lockfile::PinnedPackage;

/// The build record inside the image; also what the tamper test corrupts.
pub const BUILD_RECORD: &str = "/etc/appliance/build.json";

pub struct BuildRecord {
    pub json: Value,
    /// The file's bytes, as shipped.
    pub text: String,
}

pub fn build_record(
    layers: &[Layer],
    packages: &[PinnedPackage],
    binaries: &[(String, PathBuf)],
) -> Result<BuildRecord> {
    let layers: Vec<Value> = layers
        .iter()
        .map(|layer| {
            json!({
                "name": layer.name,
                "description": layer.manifest.description,
                "sha256": cache::sha256_hex(layer.manifest_text.as_bytes()),
            })
        })
        .collect();
    let packages: Vec<Value> = packages
        .iter()
        .map(|p| json!({"name": p.name, "version": p.version, "sha256": p.sha256}))
        .collect();
    let mut binary_hashes = Vec::new();
    for (install, path) in binaries {
        binary_hashes.push(json!({"path": install, "sha256": cache::sha256_file(path)?}));
    }
    let json = json!({"layers": layers, "packages": packages, "binaries": binary_hashes});
    let text = serde_json::to_string_pretty(&json)? + "\n";
    Ok(BuildRecord { json, text })
}

/// Everything that went in and came out. `outputs` are `(what, value)` pairs added beside the
/// record's own fields.
pub fn manifest(record: &BuildRecord, outputs: Vec<(&str, Value)>) -> Result<String> {
    let mut manifest = record.json.clone();
    if let Value::Object(fields) = &mut manifest {
        for (name, value) in outputs {
            fields.insert(name.to_owned(), value);
        }
    }
    Ok(serde_json::to_string_pretty(&manifest)? + "\n")
}
