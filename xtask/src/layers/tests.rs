use super::*;
use crate::lockfile::{Lockfile, PinnedPackage};

fn write_layer(root: &Path, name: &str, manifest: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("layer.toml"), manifest).unwrap();
}

fn resolve_names(root: &Path, names: &[&str]) -> Result<ResolvedLayers, LayerErrors> {
    let layers = names
        .iter()
        .map(|name| load(root, name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| LayerErrors(vec![error]))?;
    let lock = test_lock();
    resolve(&layers, &|package| {
        lock.closure(package).err().map(|e| e.to_string())
    })
}

/// busybox-static with its (empty) closure; nftables locked without its dependency.
fn test_lock() -> Lockfile {
    let pin = |name: &str, depends: &[&str], pulled_by: &str| PinnedPackage {
        name: name.into(),
        version: "1".into(),
        suite: "bookworm".into(),
        filename: None,
        sha256: "00".into(),
        depends: Some(depends.iter().map(|d| d.to_string()).collect()),
        pulled_by: vec![pulled_by.into()],
    };
    let mut lock = Lockfile::default();
    lock.upsert(pin("busybox-static", &[], "busybox-static"));
    lock.upsert(pin("nftables", &["libnftables1"], "nftables"));
    lock
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "bad",
        "description = \"x\"\n\n[kernel]\nfragments = [\"a.config\"\n",
    );
    let message = resolve_names(root.path(), &["bad"])
        .unwrap_err()
        .to_string();
    assert!(message.contains("bad/layer.toml:4:"), "{message}");
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "typo",
        "description = \"x\"\n[packages]\ndebain = []\n",
    );
    let message = resolve_names(root.path(), &["typo"])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("typo/layer.toml:3:") && message.contains("debain"),
        "{message}"
    );
}

#[test]
fn a_missing_fragment_names_key_and_line() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "frag",
        "description = \"x\"\n[kernel]\nfragments = [\n  \"nope.config\",\n]\n",
    );
    let message = resolve_names(root.path(), &["frag"])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("frag/layer.toml:4:") && message.contains("kernel.fragments"),
        "{message}"
    );
}

#[test]
fn an_unpinned_package_says_how_to_pin_it() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "pkg",
        "description = \"x\"\n[packages]\ndebian = [\"busybox-static\", \"nano\"]\n",
    );
    let message = resolve_names(root.path(), &["pkg"])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("pkg/layer.toml:3:") && message.contains("cargo xtask lock nano"),
        "{message}"
    );
}

#[test]
fn a_package_whose_closure_is_not_locked_names_the_missing_dependency() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\n\n[packages]\ndebian = [\n  \"busybox-static\",\n  \"nftables\",\n]\n",
    );
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(
        message.contains(
            "fw/layer.toml:6: `packages.debian`: `nftables` is locked, but its dependency `libnftables1`"
        ),
        "{message}"
    );
    assert!(message.contains("`cargo xtask lock nftables`"), "{message}");
}

#[test]
fn a_missing_layer_lists_the_available_ones() {
    let root = tempfile::tempdir().unwrap();
    write_layer(root.path(), "core", "description = \"x\"\n");
    let message = resolve_names(root.path(), &["cor"])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`cor` not found") && message.contains("core"),
        "{message}"
    );
}

#[test]
fn later_layers_override_earlier_ones() {
    let root = tempfile::tempdir().unwrap();
    let binary = |package: &str| {
        format!("[[binaries]]\npackage = \"{package}\"\nbin = \"init\"\ninstall = \"/sbin/init\"\n")
    };
    write_layer(
        root.path(),
        "base",
        &format!(
            "description = \"x\"\n{}[policy]\nname = \"base\"\nrules = [\"op=KMODULE action=DENY\"]\n",
            binary("a")
        ),
    );
    write_layer(
        root.path(),
        "product",
        &format!(
            "description = \"y\"\n{}[policy]\nname = \"product\"\nrules = [\"op=KEXEC_IMAGE action=DENY\"]\n",
            binary("b")
        ),
    );
    let resolved = resolve_names(root.path(), &["base", "product"]).unwrap();
    assert_eq!(resolved.binaries["/sbin/init"].package, "b");
    assert_eq!(resolved.policy_name.as_deref(), Some("product"));
    assert_eq!(
        resolved.policy_rules,
        ["op=KMODULE action=DENY", "op=KEXEC_IMAGE action=DENY"]
    );
}

#[test]
fn a_policy_name_with_spaces_is_refused() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "p",
        "description = \"x\"\n[policy]\nname = \"two words\"\n",
    );
    let message = resolve_names(root.path(), &["p"]).unwrap_err().to_string();
    assert!(
        message.contains("p/layer.toml:3:") && message.contains("policy.name"),
        "{message}"
    );
}

#[test]
fn sealed_binaries_live_under_the_sealed_mount() {
    let root = tempfile::tempdir().unwrap();
    let binary = |install: &str, sealed: bool| {
        format!(
            "description = \"x\"\n[[binaries]]\npackage = \"p\"\nbin = \"b\"\ninstall = \"{install}\"\nsealed = {sealed}\n"
        )
    };
    write_layer(root.path(), "ok", &binary("/opt/sealed/b", true));
    let resolved = resolve_names(root.path(), &["ok"]).unwrap();
    assert!(resolved.binaries["/opt/sealed/b"].sealed);
    for (name, install, sealed, expected) in [
        ("outside", "/bin/b", true, "must be under /opt/sealed/"),
        (
            "prefix",
            "/opt/sealedx/b",
            true,
            "must be under /opt/sealed/",
        ),
        ("unsealed", "/opt/sealed/b", false, "add `sealed = true`"),
        ("space", "/opt/sealed/a b", true, "must not contain spaces"),
    ] {
        write_layer(root.path(), name, &binary(install, sealed));
        let message = resolve_names(root.path(), &[name]).unwrap_err().to_string();
        assert!(
            message.contains(&format!("{name}/layer.toml:5:")) && message.contains(expected),
            "{message}"
        );
    }
}

#[test]
fn the_readme_layer_example_is_a_valid_layer_with_rules_the_kernel_accepts() {
    let readme = include_str!("../../../README.md");
    let example = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```toml layer example");
    let manifest: LayerManifest = toml::from_str(example).expect("the example parses");
    assert!(!manifest.policy.rules.is_empty());
    for rule in &manifest.policy.rules {
        let mut policy = ipe_lsm::host::PolicyText::new(
            "readme",
            ipe_lsm::Version::default(),
            ipe_lsm::Action::Deny,
        );
        policy.rule(rule.get_ref().clone());
        assert!(
            policy.render_checked().is_ok(),
            "the README's rule {:?} is one the kernel refuses",
            rule.get_ref()
        );
    }
}

#[test]
fn a_rule_the_kernel_refuses_is_reported_at_its_layer_line() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\n\n[policy]\nrules = [\n  \"op=EXECUTE boot_verified=TRUE action=ALLOW\",\n  \"op=KERNEL_READ action=ALLOW\",\n]\n",
    );
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(message.contains("fw/layer.toml:6:"), "{message}");
    assert!(message.contains("KERNEL_READ"), "{message}");
}

#[test]
fn install_paths_cannot_climb_out_of_their_folder() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\n\n[[binaries]]\npackage = \"fw-status\"\nbin = \"fw-status\"\ninstall = \"/opt/sealed/../../../tmp/x\"\nsealed = true\n",
    );
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(message.contains("no `.`, `..`"), "{message}");
}

#[test]
fn a_layer_path_that_leads_outside_through_a_symlink_is_refused() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\noverlay = \"files\"\n",
    );
    std::os::unix::fs::symlink("/etc", root.path().join("fw/files")).unwrap();
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(message.contains("outside the layer folder"), "{message}");
    assert!(message.contains("fw/layer.toml:2:"), "{message}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\noverlay = \"missing\"\n\n[packages]\ndebian = [\"nftables\"]\n\n[policy]\nrules = [\"op=KERNEL_READ action=ALLOW\"]\n",
    );
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(
        message.starts_with("3 problems in the layers:"),
        "{message}"
    );
    for line in ["fw/layer.toml:2:", "fw/layer.toml:5:", "fw/layer.toml:8:"] {
        assert!(message.contains(line), "{line} in {message}");
    }
}

/// Found by fuzzing: the kernel reads a policy only up to a NUL, so a rule holding one passed
/// the parser and silently dropped every rule after it.
#[test]
fn a_rule_with_a_nul_is_refused_at_its_line() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\n\n[policy]\nrules = [\n  \"op=EXECUTE action=ALLOW\\u0000 boot_verified=TRUE\",\n]\n",
    );
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(message.contains("fw/layer.toml:5:"), "{message}");
    assert!(message.contains("control character"), "{message}");
}

#[test]
fn kernel_arguments_are_single_and_not_the_builds_own() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "hw",
        "description = \"x\"\n\n[kernel]\ncmdline = [\n  \"console=ttyS0\",\n  \"x=\\\"\",\n  \"a b\",\n  \"appliance.policy=evil,/dev/vda,0,1\",\n]\n",
    );
    let message = resolve_names(root.path(), &["hw"]).unwrap_err().to_string();
    assert!(message.starts_with("3 problems"), "{message}");
    for line in ["hw/layer.toml:6:", "hw/layer.toml:7:", "hw/layer.toml:8:"] {
        assert!(message.contains(line), "{line} in {message}");
    }
    assert!(message.contains("set by the build itself"), "{message}");
}

#[test]
fn a_layer_file_that_is_not_utf8_is_reported_at_its_line() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("bad");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("layer.toml"), b"description = \"x\"\n# caf\xe9\n").unwrap();
    let message = load(root.path(), "bad").err().unwrap().to_string();
    assert!(message.contains("bad/layer.toml:2:"), "{message}");
    assert!(message.contains("UTF-8"), "{message}");
}

#[test]
fn fragments_are_files_and_overlays_folders() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\noverlay = \"kernel.config\"\n\n[kernel]\nfragments = [\".\"]\n",
    );
    std::fs::write(root.path().join("fw/kernel.config"), "").unwrap();
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(message.contains("must be a folder"), "{message}");
    assert!(message.contains("must be a file"), "{message}");
}

#[test]
fn exclusions_must_be_plain_relative_globs_reported_at_their_line() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\n[packages]\nexclude = [\n  \"usr/share/zoneinfo\",\n  \"/etc\",\n  \"usr/../etc\",\n]\n",
    );
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(message.starts_with("2 problems"), "{message}");
    assert!(
        message.contains("fw/layer.toml:5: `packages.exclude`: \"/etc\""),
        "{message}"
    );
    assert!(message.contains("fw/layer.toml:6:"), "{message}");
    write_layer(
        root.path(),
        "ok",
        "description = \"x\"\n[packages]\nexclude = [\"usr/share/zoneinfo\", \"usr/lib/*/gconv\"]\n",
    );
    let resolved = resolve_names(root.path(), &["ok"]).unwrap();
    assert_eq!(
        resolved.package_exclude,
        [
            ("ok".to_owned(), "usr/share/zoneinfo".to_owned()),
            ("ok".to_owned(), "usr/lib/*/gconv".to_owned())
        ]
    );
}

#[test]
fn declared_accounts_get_their_group_and_debians_defaults() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "a",
        "description = \"x\"\n[[users]]\nname = \"fw\"\nuid = 900\ngroup = \"fw\"\nhome = \"/var/lib/fw\"\n[[users]]\nname = \"web\"\nuid = 33\n",
    );
    write_layer(
        root.path(),
        "b",
        "description = \"x\"\n[[groups]]\nname = \"fw\"\ngid = 901\n",
    );
    let accounts = resolve_names(root.path(), &["a", "b"]).unwrap().accounts;
    let passwd = accounts.passwd();
    assert!(
        passwd.contains("fw:*:900:901:fw:/var/lib/fw:/usr/sbin/nologin\n"),
        "{passwd}"
    );
    assert!(
        passwd.contains("web:*:33:65534:web:/nonexistent:/usr/sbin/nologin\n"),
        "{passwd}"
    );
    assert!(accounts.group_file().contains("fw:*:901:\n"));
}

#[test]
fn account_problems_name_the_line_and_the_first_declaration() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "a",
        "description = \"x\"\n[[groups]]\nname = \"fw\"\ngid = 900\n[[users]]\nname = \"svc\"\nuid = 901\n",
    );
    write_layer(
        root.path(),
        "b",
        "description = \"x\"\n\
         [[groups]]\nname = \"other\"\ngid = 900\n\
         [[users]]\nname = \"svc\"\nuid = 902\n\
         [[users]]\nname = \"Bad\"\nuid = 0\n\
         [[users]]\nname = \"x\"\nuid = 903\nshell = \"sh\"\n\
         [[users]]\nname = \"nobody\"\nuid = 904\n\
         [[users]]\nname = \"y\"\nuid = 905\ngroup = \"missing\"\n",
    );
    let message = resolve_names(root.path(), &["a", "b"])
        .unwrap_err()
        .to_string();
    let first = root.path().join("a/layer.toml");
    for expected in [
        format!(
            "b/layer.toml:3: `groups`: gid \"900\" is declared twice: first at {}:3",
            first.display()
        ),
        format!(
            "b/layer.toml:6: `users`: user \"svc\" is declared twice: first at {}:6",
            first.display()
        ),
        "b/layer.toml:9: `users.name`: \"Bad\" is not a portable account name".to_owned(),
        "b/layer.toml:10: `users.uid`: 0 is reserved".to_owned(),
        "b/layer.toml:14: `users.shell`: \"sh\" must be an absolute path".to_owned(),
        "b/layer.toml:16: `users`: user \"nobody\" is built into every image".to_owned(),
        "b/layer.toml:21: `users.group`: no layer declares the group \"missing\"".to_owned(),
    ] {
        assert!(message.contains(&expected), "{expected}\nin\n{message}");
    }
}

#[test]
fn an_overlay_cannot_ship_the_account_files_the_build_generates() {
    let root = tempfile::tempdir().unwrap();
    write_layer(
        root.path(),
        "fw",
        "description = \"x\"\noverlay = \"files\"\n",
    );
    std::fs::create_dir_all(root.path().join("fw/files/etc")).unwrap();
    std::fs::write(root.path().join("fw/files/etc/group"), "root:x:0:\n").unwrap();
    let message = resolve_names(root.path(), &["fw"]).unwrap_err().to_string();
    assert!(message.contains("fw/layer.toml:2: `overlay`:"), "{message}");
    assert!(
        message.contains("ships /etc/group, which the build generates"),
        "{message}"
    );
}
