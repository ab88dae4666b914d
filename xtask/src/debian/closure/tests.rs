use super::*;
use crate::debian::control;

/// An index from `Packages` text; each paragraph needs only the fields a test cares about.
fn index(text: &str) -> Index {
    let paragraphs = control::paragraphs(text).unwrap();
    let mut ids = BTreeMap::new();
    for paragraph in &paragraphs {
        number_names(paragraph, &mut ids);
    }
    let packages = paragraphs.iter().filter_map(|p| {
        let mut owned = String::new();
        for field in [
            "Package",
            "Version",
            "Architecture",
            "Depends",
            "Pre-Depends",
            "Provides",
            "Priority",
            "Essential",
        ] {
            if let Some(value) = p.get(field) {
                owned.push_str(&format!("{field}: {value}\n"));
            }
        }
        if p.get("Architecture").is_none() {
            owned.push_str("Architecture: amd64\n");
        }
        owned.push_str("Filename: pool/x.deb\nSHA256: 00\n");
        let full = control::paragraphs(&owned).unwrap();
        Available::from_paragraph(&full[0], p.get("Suite").unwrap_or("bookworm")).unwrap()
    });
    Index::new(packages, ids)
}

fn closure_of(index: &Index, names: &[&str]) -> Result<Vec<String>, ResolveError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    resolve(index, &names, &BTreeSet::new(), "bookworm").map(|c| c.into_keys().collect())
}

#[test]
fn the_highest_version_of_any_suite_is_the_candidate() {
    let index = index(
        "Package: a\nVersion: 1.0-1\n\nPackage: a\nVersion: 1.0-1+deb12u1\nSuite: bookworm-security\n\nPackage: a\nVersion: 1.0-1~bpo\n\nPackage: b\nVersion: 1\nArchitecture: i386\n",
    );
    let a = index.get("a").unwrap();
    assert_eq!(
        (a.version.as_str(), a.suite.as_str()),
        ("1.0-1+deb12u1", "bookworm-security")
    );
    assert!(index.get("b").is_none(), "an i386 package is no candidate");
}

#[test]
fn follows_depends_and_pre_depends_through_a_circle() {
    let index = index(
        "Package: top\nVersion: 1\nPre-Depends: p\nDepends: d (>= 2)\n\nPackage: p\nVersion: 1\nDepends: top\n\nPackage: d\nVersion: 2\nDepends: p\n\nPackage: unrelated\nVersion: 1\nPriority: required\nEssential: yes\n",
    );
    assert_eq!(closure_of(&index, &["top"]).unwrap(), ["d", "p", "top"]);
}

#[test]
fn takes_the_first_alternative_that_can_be_installed() {
    let index = index(
        "Package: top\nVersion: 1\nDepends: gone | old (>= 2) | broken | good, other\n\nPackage: old\nVersion: 1\n\nPackage: broken\nVersion: 1\nDepends: missing\n\nPackage: good\nVersion: 1\n\nPackage: other\nVersion: 1\n",
    );
    assert_eq!(
        closure_of(&index, &["top"]).unwrap(),
        ["good", "other", "top"]
    );
}

#[test]
fn a_group_already_satisfied_adds_nothing() {
    let index = index(
        "Package: top\nVersion: 1\nDepends: second, first | second\n\nPackage: first\nVersion: 1\n\nPackage: second\nVersion: 1\n",
    );
    assert_eq!(closure_of(&index, &["top"]).unwrap(), ["second", "top"]);
}

#[test]
fn virtual_packages_go_to_a_provider_real_packages_first() {
    let index = index(
        "Package: top\nVersion: 1\nDepends: mta, awk, api (>= 2)\n\nPackage: exim\nVersion: 1\nProvides: mta\nPriority: optional\n\nPackage: dma\nVersion: 1\nProvides: mta\nPriority: standard\n\nPackage: awk\nVersion: 1\n\nPackage: mawk\nVersion: 1\nProvides: awk\nPriority: required\n\nPackage: old-api\nVersion: 1\nProvides: api\n\nPackage: new-api\nVersion: 1\nProvides: api (= 2)\n",
    );
    assert_eq!(
        closure_of(&index, &["top"]).unwrap(),
        ["awk", "dma", "new-api", "top"],
        "standard before optional; the real awk; only a versioned Provides meets a versioned dependency"
    );
}

#[test]
fn providers_alike_go_by_apt_package_id_the_last_named_first() {
    let index = index(
        "Package: early\nVersion: 1\nSuggests: zeta\n\nPackage: alpha\nVersion: 1\nProvides: net\n\nPackage: top\nVersion: 1\nDepends: net\n\nPackage: zeta\nVersion: 1\nProvides: net\n",
    );
    assert_eq!(
        closure_of(&index, &["top"]).unwrap(),
        ["alpha", "top"],
        "zeta was numbered when `early` named it, before alpha"
    );
}

#[test]
fn records_the_edges_and_who_pulled_what() {
    let index = index(
        "Package: a\nVersion: 1\nDepends: lib\n\nPackage: b\nVersion: 1\nDepends: lib | other\n\nPackage: lib\nVersion: 1\n",
    );
    let requested = vec!["a".to_owned(), "b".to_owned()];
    let closure = resolve(&index, &requested, &BTreeSet::new(), "bookworm").unwrap();
    assert_eq!(closure["b"].depends, BTreeSet::from(["lib".to_owned()]));
    let pulled = pulled_by(&closure, &requested);
    assert_eq!(
        pulled["lib"],
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
    assert_eq!(pulled["a"], BTreeSet::from(["a".to_owned()]));
}

#[test]
fn unknown_virtual_and_unsatisfiable_are_told_apart() {
    let index = index(
        "Package: top\nVersion: 1\nDepends: mid\n\nPackage: mid\nVersion: 1\nDepends: lib (>= 3) | other\n\nPackage: lib\nVersion: 2\n\nPackage: mawk\nVersion: 1\nProvides: awk\n",
    );
    assert!(matches!(
        closure_of(&index, &["nope"]),
        Err(ResolveError::Unknown { .. })
    ));
    let error = closure_of(&index, &["awk"]).unwrap_err();
    assert!(error.to_string().contains("provided by mawk"), "{error}");
    let error = closure_of(&index, &["top"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "top → mid: no candidate satisfies `lib (>= 3) | other`"
    );
}

#[test]
fn an_omitted_package_and_what_only_it_needs_stay_out() {
    let index = index(
        "Package: rauc\nVersion: 1\nDepends: libglib, systemd\n\nPackage: libglib\nVersion: 1\n\nPackage: systemd\nVersion: 1\nDepends: libsystemd-shared\n\nPackage: libsystemd-shared\nVersion: 1\n",
    );
    let omitted = BTreeSet::from(["systemd".to_owned()]);
    let closure = resolve(&index, &["rauc".to_owned()], &omitted, "bookworm").unwrap();
    assert_eq!(
        closure.keys().collect::<Vec<_>>(),
        ["libglib", "rauc"],
        "systemd is omitted, and with it its own dependencies"
    );
    assert_eq!(
        closure["rauc"].depends,
        BTreeSet::from(["libglib".to_owned()])
    );
}
