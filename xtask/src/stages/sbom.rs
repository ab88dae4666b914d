//! The software bill of materials, `sbom.spdx.json`: an SPDX 2.3 JSON document of what went into
//! the image (Debian packages, workspace binaries, the kernel with its source and patches) and
//! the integrity data that pins it (the dm-verity root hash, each sealed file's fs-verity digest,
//! the policy's and the signed policy's sha256). Pure: built from values the orchestrator has;
//! only [`deb_facts`] reads a .deb. Deterministic like every output: the creation time is
//! `SOURCE_DATE_EPOCH`, the namespace comes from the manifest's hash, and every list is sorted.
//! The output folder's name appears nowhere: builds under two names ship the same bytes (the
//! kill test compares them); the image is named by its policy, the device's name.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::kbuild::civil_time;
use crate::cache::{self, Cache};
use crate::debian::control;
use crate::exec::Tool;
use crate::lockfile::PinnedPackage;

pub const FILE: &str = "sbom.spdx.json";

/// The machine-readable copyright format (DEP-5); only such files have a `License:` to read.
/// Older files name it over http.
const DEP5_FORMATS: [&str; 2] = [
    "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
    "http://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
];
const NOASSERTION: &str = "NOASSERTION";
const DEBIAN_ARCHIVE: &str = "https://deb.debian.org/debian";

/// What a .deb says about itself beyond its pin: its source package and, when its copyright
/// file is machine-readable, the `License:` of its `Files: *` paragraph as Debian spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebFacts {
    pub source: String,
    /// The source package's version when it differs from the binary's (`Source: glibc (2.36-9)`).
    pub source_version: Option<String>,
    pub license: Option<String>,
}

pub struct DebianPackage {
    pub pin: PinnedPackage,
    pub facts: DebFacts,
}

pub struct WorkspaceBinary {
    pub install: String,
    pub package: String,
    pub version: String,
    /// The crate's `license` (an SPDX expression), if it declares one.
    pub license: Option<String>,
    pub sha256: String,
    /// `sha256:<hex>` for a binary on the sealed partition.
    pub fsverity_digest: Option<String>,
}

pub struct KernelSbom {
    pub version: String,
    pub bzimage_sha256: String,
    pub config_sha256: String,
    /// `(file name, sha256)` in the order applied.
    pub patches: Vec<(String, String)>,
    /// The Debian package of the kernel source (also listed in `debian`).
    pub source_package: String,
}

pub struct PolicySbom {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub signed_sha256: String,
}

pub struct SbomInputs {
    pub source_date_epoch: u64,
    pub manifest_sha256: String,
    /// The rootfs's packages, and the kernel source's.
    pub debian: Vec<DebianPackage>,
    pub binaries: Vec<WorkspaceBinary>,
    pub kernel: KernelSbom,
    pub rootfs_sha256: String,
    pub root_hash: String,
    pub sealed_image_sha256: Option<String>,
    pub policy: PolicySbom,
}

const IMAGE: &str = "SPDXRef-Image";
const KERNEL: &str = "SPDXRef-Kernel";
const ROOTFS: &str = "SPDXRef-Rootfs";
const SEALED: &str = "SPDXRef-SealedPartition";
const POLICY: &str = "SPDXRef-Policy";
const SIGNED_POLICY: &str = "SPDXRef-SignedPolicy";

/// The document's text, as shipped.
pub fn render(inputs: &SbomInputs) -> Result<String> {
    Ok(serde_json::to_string_pretty(&document(inputs))? + "\n")
}

pub fn document(inputs: &SbomInputs) -> Value {
    let created = iso8601(inputs.source_date_epoch);
    let annotation = |comment: String| {
        json!([{
            "annotationDate": created,
            "annotationType": "OTHER",
            "annotator": tool(),
            "comment": comment,
        }])
    };
    let mut packages = Vec::new();
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE)];
    let mut extracted = BTreeMap::new();

    packages.push(json!({
        "SPDXID": IMAGE,
        "name": inputs.policy.name,
        "versionInfo": inputs.policy.version,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "primaryPackagePurpose": "FIRMWARE",
        "comment": "The appliance: bzImage, disk.img (GPT: ESP, rootfs, dm-verity tree, signed policy, sealed partition)",
    }));
    for part in [KERNEL, ROOTFS, POLICY, SIGNED_POLICY] {
        relationships.push(relationship(IMAGE, "CONTAINS", part));
    }

    let kernel = &inputs.kernel;
    packages.push(json!({
        "SPDXID": KERNEL,
        "name": "linux",
        "versionInfo": kernel.version,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "checksums": [sha256(&kernel.bzimage_sha256)],
        "licenseDeclared": "GPL-2.0-only",
        "comment": "bzImage, with the boot policy and the trusted certificates built in",
        "annotations": annotation(format!("kernel .config sha256: {}", kernel.config_sha256)),
    }));
    relationships.push(relationship(
        KERNEL,
        "GENERATED_FROM",
        &deb_id(&kernel.source_package),
    ));
    for (index, (file, hash)) in kernel.patches.iter().enumerate() {
        let id = format!("SPDXRef-Patch-{}-{}", index + 1, id_safe(file));
        packages.push(json!({
            "SPDXID": id,
            "name": file,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "primaryPackagePurpose": "SOURCE",
            "checksums": [sha256(hash)],
        }));
        relationships.push(relationship(&id, "PATCH_APPLIED", KERNEL));
    }

    packages.push(json!({
        "SPDXID": ROOTFS,
        "name": "rootfs.erofs",
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "primaryPackagePurpose": "FILE",
        "checksums": [sha256(&inputs.rootfs_sha256)],
        "comment": "The root file system, read through dm-verity",
        "annotations": annotation(format!("dm-verity root hash: {}", inputs.root_hash)),
    }));
    if let Some(hash) = &inputs.sealed_image_sha256 {
        packages.push(json!({
            "SPDXID": SEALED,
            "name": "sealed.img",
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "primaryPackagePurpose": "FILE",
            "checksums": [sha256(hash)],
            "comment": "The sealed partition (partition 5 of disk.img): ext4, each file with fs-verity enabled",
        }));
        relationships.push(relationship(IMAGE, "CONTAINS", SEALED));
    }

    let in_document: Vec<&str> = inputs.debian.iter().map(|d| d.pin.name.as_str()).collect();
    for deb in &inputs.debian {
        let (pin, facts) = (&deb.pin, &deb.facts);
        let id = deb_id(&pin.name);
        let license = match &facts.license {
            Some(debian) => spdx_license(debian, &mut extracted),
            None => NOASSERTION.to_owned(),
        };
        let source_version = facts.source_version.as_deref().unwrap_or(&pin.version);
        let mut package = json!({
            "SPDXID": id,
            "name": pin.name,
            "versionInfo": pin.version,
            "supplier": "Organization: Debian",
            "downloadLocation": pin.filename.as_ref()
                .map_or(NOASSERTION.to_owned(), |f| format!("{DEBIAN_ARCHIVE}/{f}")),
            "filesAnalyzed": false,
            "checksums": [sha256(&pin.sha256)],
            "sourceInfo": format!("built from the Debian source package {} {source_version}", facts.source),
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": license,
            "copyrightText": NOASSERTION,
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl(pin, &facts.source),
            }],
        });
        if pin.name == kernel.source_package {
            package["comment"] = json!("the kernel's source; not installed in the image");
        } else {
            relationships.push(relationship(ROOTFS, "CONTAINS", &id));
        }
        for dependency in pin.depends.iter().flatten() {
            if in_document.contains(&dependency.as_str()) {
                relationships.push(relationship(&id, "DEPENDS_ON", &deb_id(dependency)));
            }
        }
        packages.push(package);
    }

    for binary in &inputs.binaries {
        let id = format!("SPDXRef-Binary-{}", id_safe(&binary.install));
        let mut package = json!({
            "SPDXID": id,
            "name": binary.package,
            "versionInfo": binary.version,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "primaryPackagePurpose": "APPLICATION",
            "checksums": [sha256(&binary.sha256)],
            "licenseDeclared": binary.license.as_deref().unwrap_or(NOASSERTION),
            "comment": format!("a workspace binary, installed at {}", binary.install),
        });
        let container = match &binary.fsverity_digest {
            Some(digest) => {
                package["annotations"] = annotation(format!("fs-verity digest: {digest}"));
                SEALED
            }
            None => ROOTFS,
        };
        relationships.push(relationship(container, "CONTAINS", &id));
        packages.push(package);
    }

    let policy = &inputs.policy;
    for (id, file, hash, what) in [
        (POLICY, "policy.pol", &policy.sha256, "the IPE policy"),
        (
            SIGNED_POLICY,
            "policy.p7s",
            &policy.signed_sha256,
            "the IPE policy signed: DER PKCS#7, policy attached",
        ),
    ] {
        packages.push(json!({
            "SPDXID": id,
            "name": file,
            "versionInfo": policy.version,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "primaryPackagePurpose": "FILE",
            "checksums": [sha256(hash)],
            "comment": format!("{what} `{}`", policy.name),
        }));
    }
    relationships.push(relationship(SIGNED_POLICY, "GENERATED_FROM", POLICY));

    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("appliance {} {}", policy.name, policy.version),
        "documentNamespace": format!(
            "https://appliance.invalid/spdx/{}-{}",
            policy.name, inputs.manifest_sha256
        ),
        "creationInfo": {"created": created, "creators": [tool()]},
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        document["hasExtractedLicensingInfos"] = extracted.into_values().collect();
    }
    document
}

fn tool() -> String {
    format!("Tool: appliance-xtask-{}", env!("CARGO_PKG_VERSION"))
}

fn sha256(hex: &str) -> Value {
    json!({"algorithm": "SHA256", "checksumValue": hex})
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({"spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to})
}

fn deb_id(name: &str) -> String {
    format!("SPDXRef-Deb-{}", id_safe(name))
}

/// SPDX identifiers allow letters, digits, `.` and `-`; `+` is spelt out so that `GPL-2+` and
/// `GPL-2` stay apart.
fn id_safe(text: &str) -> String {
    let mut id = String::new();
    for c in text.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '.' => id.push(c),
            '+' => id.push_str("plus"),
            _ => id.push('-'),
        }
    }
    id.trim_matches('-').to_owned()
}

/// `pkg:deb/debian/<name>@<version>?arch=<arch>&distro=bookworm`, the version percent-encoded
/// (`:` of an epoch, `+`).
fn purl(pin: &PinnedPackage, source: &str) -> String {
    let version: String = pin
        .version
        .chars()
        .map(|c| match c {
            ':' => "%3A".to_owned(),
            '+' => "%2B".to_owned(),
            '~' => "%7E".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let arch = pin
        .filename
        .as_deref()
        .and_then(|f| f.strip_suffix(".deb"))
        .and_then(|f| f.rsplit_once('_'))
        .map_or("amd64", |(_, arch)| arch);
    let mut purl = format!("pkg:deb/debian/{}@{version}?arch={arch}", pin.name);
    if source != pin.name {
        purl.push_str(&format!("&upstream={source}"));
    }
    purl
}

/// `SOURCE_DATE_EPOCH` as SPDX's `YYYY-MM-DDTHH:MM:SSZ`.
fn iso8601(epoch: u64) -> String {
    let [year, month, day, hour, minute, second] = civil_time(epoch);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// Debian's short licence names (copyright-format 1.0, "License specification") that have an
/// SPDX identifier; the rest become `LicenseRef-…`, which the document then defines.
const DEBIAN_TO_SPDX: &[(&str, &str)] = &[
    ("GPL-1", "GPL-1.0-only"),
    ("GPL-1+", "GPL-1.0-or-later"),
    ("GPL-2", "GPL-2.0-only"),
    ("GPL-2+", "GPL-2.0-or-later"),
    ("GPL-3", "GPL-3.0-only"),
    ("GPL-3+", "GPL-3.0-or-later"),
    ("LGPL-2", "LGPL-2.0-only"),
    ("LGPL-2+", "LGPL-2.0-or-later"),
    ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("LGPL-3", "LGPL-3.0-only"),
    ("LGPL-3+", "LGPL-3.0-or-later"),
    ("AGPL-3", "AGPL-3.0-only"),
    ("AGPL-3+", "AGPL-3.0-or-later"),
    ("Apache-2.0", "Apache-2.0"),
    ("Expat", "MIT"),
    ("MIT", "MIT"),
    ("BSD-2-clause", "BSD-2-Clause"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("BSD-4-clause", "BSD-4-Clause"),
    ("ISC", "ISC"),
    ("Zlib", "Zlib"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
    ("CC0-1.0", "CC0-1.0"),
];

/// A Debian `License:` short name as an SPDX expression: each alternative (`or`) and each part
/// (`and`) mapped where SPDX has the licence, else a `LicenseRef-` recorded in `extracted`.
/// Anything else (`with` exceptions, parentheses, commas) becomes one `LicenseRef-` whole.
fn spdx_license(debian: &str, extracted: &mut BTreeMap<String, Value>) -> String {
    let mut reference = |name: &str| {
        let id = format!("LicenseRef-{}", id_safe(name));
        extracted.entry(id.clone()).or_insert_with(|| {
            json!({
                "licenseId": id,
                "name": name,
                "extractedText": format!(
                    "The Debian short licence name `{name}`, which has no SPDX identifier; the \
                     package's usr/share/doc/<package>/copyright holds the text"
                ),
            })
        });
        id
    };
    let words: Vec<&str> = debian.split_whitespace().collect();
    let simple = words.iter().enumerate().all(|(index, word)| {
        let operator = word.eq_ignore_ascii_case("or") || word.eq_ignore_ascii_case("and");
        // Operators at odd positions, names at even ones, no punctuation SPDX would misread.
        operator == (index % 2 == 1) && !word.contains([',', '(', ')'])
    });
    if words.is_empty() || !simple || words.len().is_multiple_of(2) {
        return reference(debian.trim());
    }
    words
        .iter()
        .map(|word| {
            if word.eq_ignore_ascii_case("or") {
                "OR".to_owned()
            } else if word.eq_ignore_ascii_case("and") {
                "AND".to_owned()
            } else {
                DEBIAN_TO_SPDX
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(word))
                    .map_or_else(|| reference(word), |(_, spdx)| (*spdx).to_owned())
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `License:` of the `Files: *` paragraph of a machine-readable copyright file; `None` for
/// any other file.
pub fn copyright_license(text: &str) -> Option<String> {
    let format = text.lines().next()?.strip_prefix("Format:")?.trim();
    if !DEP5_FORMATS.contains(&format) {
        return None;
    }
    let paragraphs = control::paragraphs(text).ok()?;
    let files = paragraphs
        .iter()
        .find(|p| p.get("Files").is_some_and(|files| files.trim() == "*"))?;
    // The first line is the short name; any lines after it are the licence's text.
    let name = files.get("License")?.lines().next()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// `Source: glibc (2.36-9)` → the name, and the version when given; absent → the package's name.
fn source_field(field: &str, package: &str) -> (String, Option<String>) {
    let field = field.trim();
    match field.split_once(' ') {
        Some((name, version)) => (
            name.to_owned(),
            Some(version.trim_matches(['(', ')', ' ']).to_owned()),
        ),
        None if field.is_empty() => (package.to_owned(), None),
        None => (field.to_owned(), None),
    }
}

/// What a pinned .deb says of its source and licence, read once per .deb and kept in the cache
/// beside it (the kernel source's .deb takes seconds to read).
pub fn deb_facts(cache: &Cache, pin: &PinnedPackage, deb: &Path) -> Result<DebFacts> {
    let path = cache.path("deb-facts").join(format!("{}.json", pin.sha256));
    if let Some(facts) = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    {
        return Ok(facts);
    }
    let source = Tool::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg("Source")
        .output()?;
    let (source, source_version) = source_field(&String::from_utf8_lossy(&source), &pin.name);
    let member = format!("./usr/share/doc/{}/copyright", pin.name);
    // Listed first: `tar -x` of a missing member fails like a broken archive would, and a
    // package's doc folder is often a symlink to another's.
    let listing = Tool::new("bash")
        .args([
            "-o",
            "pipefail",
            "-c",
            r#"dpkg-deb --fsys-tarfile "$1" | tar -tv"#,
            "list",
        ])
        .arg(deb)
        .output()?;
    let is_file = String::from_utf8_lossy(&listing).lines().any(|line| {
        line.starts_with('-') && line.split_whitespace().nth(5) == Some(member.as_str())
    });
    let license = if is_file {
        let text = Tool::new("bash")
            .args([
                "-o",
                "pipefail",
                "-c",
                r#"dpkg-deb --fsys-tarfile "$1" | tar -xO "$2""#,
                "extract",
            ])
            .arg(deb)
            .arg(&member)
            .output()?;
        copyright_license(&String::from_utf8_lossy(&text))
    } else {
        None
    };
    let facts = DebFacts {
        source,
        source_version,
        license,
    };
    std::fs::create_dir_all(path.parent().context("the facts file has a folder")?)?;
    cache::write_atomic(&path, &serde_json::to_vec(&facts)?)?;
    Ok(facts)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn pin(name: &str, depends: &[&str]) -> PinnedPackage {
        PinnedPackage {
            name: name.to_owned(),
            version: "1:1.35.0-4+b3".to_owned(),
            suite: "bookworm".to_owned(),
            filename: Some(format!("pool/main/b/{name}/{name}_1.35.0-4+b3_amd64.deb")),
            sha256: "ab".repeat(32),
            depends: Some(depends.iter().map(|d| (*d).to_owned()).collect()),
            pulled_by: vec![name.to_owned()],
        }
    }

    pub fn inputs() -> SbomInputs {
        let deb = |name: &str, depends: &[&str], license: Option<&str>| DebianPackage {
            pin: pin(name, depends),
            facts: DebFacts {
                source: "busybox".to_owned(),
                source_version: None,
                license: license.map(str::to_owned),
            },
        };
        SbomInputs {
            source_date_epoch: 1_700_000_000,
            manifest_sha256: "cd".repeat(32),
            debian: vec![
                deb("busybox-static", &["libc6"], Some("GPL-2")),
                deb("libc6", &[], Some("GPL-2+ or public-domain")),
                deb("linux-source-6.12", &[], None),
            ],
            binaries: vec![
                WorkspaceBinary {
                    install: "/sbin/init".to_owned(),
                    package: "appliance-init".to_owned(),
                    version: "0.1.0".to_owned(),
                    license: Some("GPL-2.0-only".to_owned()),
                    sha256: "01".repeat(32),
                    fsverity_digest: None,
                },
                WorkspaceBinary {
                    install: "/opt/sealed/fw-status".to_owned(),
                    package: "fw-status".to_owned(),
                    version: "0.1.0".to_owned(),
                    license: None,
                    sha256: "02".repeat(32),
                    fsverity_digest: Some(format!("sha256:{}", "03".repeat(32))),
                },
            ],
            kernel: KernelSbom {
                version: "6.12.117".to_owned(),
                bzimage_sha256: "04".repeat(32),
                config_sha256: "05".repeat(32),
                patches: vec![("0001-ipe-rust.patch".to_owned(), "06".repeat(32))],
                source_package: "linux-source-6.12".to_owned(),
            },
            rootfs_sha256: "07".repeat(32),
            root_hash: "08".repeat(32),
            sealed_image_sha256: Some("09".repeat(32)),
            policy: PolicySbom {
                name: "firewall".to_owned(),
                version: "1.2.0".to_owned(),
                sha256: "0a".repeat(32),
                signed_sha256: "0b".repeat(32),
            },
        }
    }

    fn package<'a>(document: &'a Value, id: &str) -> &'a Value {
        document["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["SPDXID"] == id)
            .unwrap_or_else(|| panic!("no package {id}"))
    }

    fn has_relationship(document: &Value, from: &str, kind: &str, to: &str) -> bool {
        document["relationships"]
            .as_array()
            .unwrap()
            .contains(&relationship(from, kind, to))
    }

    #[test]
    fn lists_what_went_in_and_the_integrity_data() {
        let document = document(&inputs());
        assert_eq!(document["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        assert_eq!(
            document["documentNamespace"],
            format!(
                "https://appliance.invalid/spdx/firewall-{}",
                "cd".repeat(32)
            )
        );
        let busybox = package(&document, "SPDXRef-Deb-busybox-static");
        assert_eq!(busybox["versionInfo"], "1:1.35.0-4+b3");
        assert_eq!(busybox["licenseDeclared"], "GPL-2.0-only");
        assert_eq!(busybox["checksums"][0]["checksumValue"], "ab".repeat(32));
        assert_eq!(
            busybox["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/busybox-static@1%3A1.35.0-4%2Bb3?arch=amd64&upstream=busybox"
        );
        assert_eq!(
            package(&document, "SPDXRef-Deb-libc6")["licenseDeclared"],
            "GPL-2.0-or-later OR LicenseRef-public-domain"
        );
        assert_eq!(
            document["hasExtractedLicensingInfos"][0]["licenseId"],
            "LicenseRef-public-domain"
        );
        assert_eq!(
            package(&document, "SPDXRef-Deb-linux-source-6.12")["licenseDeclared"],
            NOASSERTION
        );
        let text = document.to_string();
        for needle in [
            format!("dm-verity root hash: {}", "08".repeat(32)),
            format!("fs-verity digest: sha256:{}", "03".repeat(32)),
            format!("kernel .config sha256: {}", "05".repeat(32)),
            "0a".repeat(32),
            "0b".repeat(32),
        ] {
            assert!(text.contains(&needle), "{needle} missing");
        }
        for (from, kind, to) in [
            ("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE),
            (ROOTFS, "CONTAINS", "SPDXRef-Deb-busybox-static"),
            (ROOTFS, "CONTAINS", "SPDXRef-Binary-sbin-init"),
            (SEALED, "CONTAINS", "SPDXRef-Binary-opt-sealed-fw-status"),
            (
                "SPDXRef-Deb-busybox-static",
                "DEPENDS_ON",
                "SPDXRef-Deb-libc6",
            ),
            (KERNEL, "GENERATED_FROM", "SPDXRef-Deb-linux-source-6.12"),
            (
                "SPDXRef-Patch-1-0001-ipe-rust.patch",
                "PATCH_APPLIED",
                KERNEL,
            ),
            (SIGNED_POLICY, "GENERATED_FROM", POLICY),
        ] {
            assert!(
                has_relationship(&document, from, kind, to),
                "{from} {kind} {to}"
            );
        }
        assert!(
            !has_relationship(
                &document,
                ROOTFS,
                "CONTAINS",
                "SPDXRef-Deb-linux-source-6.12"
            ),
            "the kernel source is not in the rootfs"
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes() {
        assert_eq!(render(&inputs()).unwrap(), render(&inputs()).unwrap());
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_825_599), "2000-02-29T11:59:59Z");
    }

    #[test]
    fn debian_license_names_become_valid_spdx_expressions() {
        let mut extracted = BTreeMap::new();
        let mut map = |name: &str| spdx_license(name, &mut extracted);
        assert_eq!(map("GPL-2"), "GPL-2.0-only");
        assert_eq!(map("Expat"), "MIT");
        assert_eq!(
            map("bsd-3-clause and LGPL-2.1+"),
            "BSD-3-Clause AND LGPL-2.1-or-later"
        );
        assert_eq!(
            map("Artistic or GPL-1+"),
            "LicenseRef-Artistic OR GPL-1.0-or-later"
        );
        assert_eq!(
            map("GPL-2+ with OpenSSL exception"),
            "LicenseRef-GPL-2plus-with-OpenSSL-exception"
        );
        assert_eq!(map("GPL-2+, LGPL-2+"), "LicenseRef-GPL-2plus--LGPL-2plus");
        assert_eq!(map("or"), "LicenseRef-or");
        assert_eq!(
            extracted.keys().collect::<Vec<_>>(),
            [
                "LicenseRef-Artistic",
                "LicenseRef-GPL-2plus--LGPL-2plus",
                "LicenseRef-GPL-2plus-with-OpenSSL-exception",
                "LicenseRef-or"
            ]
        );
    }

    #[test]
    fn only_machine_readable_copyright_files_give_a_license() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                    Upstream-Name: busybox\n\n\
                    Files: debian/*\nCopyright: 2000 X\nLicense: GPL-2+\n\n\
                    Files: *\nCopyright: 1998 Y\nLicense: GPL-2\n text of it\n";
        assert_eq!(copyright_license(dep5).as_deref(), Some("GPL-2"));
        let http = dep5.replacen("https:", "http:", 1);
        assert_eq!(copyright_license(&http).as_deref(), Some("GPL-2"));
        assert_eq!(copyright_license("This is busybox, GPL-2.\n"), None);
        let no_star = dep5.replace("Files: *", "Files: src/*");
        assert_eq!(copyright_license(&no_star), None);
    }

    #[test]
    fn the_source_field_gives_a_name_and_maybe_a_version() {
        assert_eq!(
            source_field("glibc (2.36-9)\n", "libc6"),
            ("glibc".to_owned(), Some("2.36-9".to_owned()))
        );
        assert_eq!(source_field("busybox\n", "busybox-static").1, None);
        assert_eq!(source_field("", "rust-src").0, "rust-src");
    }
}
