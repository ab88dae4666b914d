//! Hostile `layer.toml` texts through `load` and `resolve`, from a real layers folder: arbitrary
//! text, and valid manifests changed one line at a time (unknown keys, wrong types, deep nesting,
//! huge strings, NULs, `..` and absolute paths, unicode) or byte by byte. Nothing may panic, a
//! valid manifest must resolve to exactly what it says, and every refusal must be
//! `path:line: message` naming the layer's file and a line of its text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::{LayerError, LayerErrors, ResolvedLayers, load, resolve};

/// `default` cases, enough for a few seconds in a debug build, unless `PROPTEST_CASES` says.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

const PINNED: &[&str] = &["busybox-static", "nftables"];

/// Rules the kernel accepts.
const RULES: &[&str] = &[
    "op=EXECUTE boot_verified=TRUE action=ALLOW",
    "op=KMODULE action=DENY",
    "op=KEXEC_IMAGE action=DENY",
    "op=EXECUTE dmverity_signature=FALSE action=DENY",
];

#[derive(Debug, Clone)]
struct Binary {
    package: String,
    bin: String,
    install: String,
    sealed: bool,
}

/// What a valid manifest says; `render` writes it, one key per line.
#[derive(Debug, Clone)]
struct Manifest {
    description: String,
    overlay: bool,
    fragments: Vec<String>,
    patches: Vec<String>,
    cmdline: Vec<String>,
    debian: Vec<&'static str>,
    exclude: Vec<String>,
    binaries: Vec<Binary>,
    policy_name: Option<String>,
    rules: Vec<&'static str>,
    /// Users, each with a group of its name and its id: names and ids unique in the stack.
    users: Vec<(String, u32)>,
}

/// What a line holds, for the changes aimed at it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A table header, a comment or a blank line.
    Other,
    String,
    Strings,
    Bool,
    /// `fragments` or `patches`: paths inside the layer folder.
    LayerPaths,
    /// `overlay`: a path inside the layer folder.
    Overlay,
    Install,
    PolicyName,
    Package,
    Exclude,
    /// A user's or group's name.
    AccountName,
    /// A uid or gid.
    Id,
    /// `rules = [`, which the rules follow one per line.
    RulesOpen,
    Rule,
}

/// One line of a rendered manifest.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    kind: Kind,
}

/// A TOML basic string, on one line whatever it holds.
fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted + "\""
}

fn list<T: AsRef<str>>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(|item| quote(item.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

fn render(manifest: &Manifest) -> Vec<Line> {
    let line = |text: String, kind| Line { text, kind };
    let mut lines = vec![line(
        format!("description = {}", quote(&manifest.description)),
        Kind::String,
    )];
    if manifest.overlay {
        lines.push(line("overlay = \"files\"".into(), Kind::Overlay));
    }
    lines.push(line("[kernel]".into(), Kind::Other));
    let kernel = [
        ("fragments", &manifest.fragments, Kind::LayerPaths),
        ("patches", &manifest.patches, Kind::LayerPaths),
        ("cmdline", &manifest.cmdline, Kind::Strings),
    ];
    for (key, values, kind) in kernel {
        lines.push(line(format!("{key} = {}", list(values)), kind));
    }
    lines.push(line("[packages]".into(), Kind::Other));
    lines.push(line(
        format!("debian = {}", list(&manifest.debian)),
        Kind::Package,
    ));
    lines.push(line(
        format!("exclude = {}", list(&manifest.exclude)),
        Kind::Exclude,
    ));
    for binary in &manifest.binaries {
        lines.push(line("".into(), Kind::Other));
        lines.push(line("[[binaries]]".into(), Kind::Other));
        lines.push(line(
            format!("package = {}", quote(&binary.package)),
            Kind::String,
        ));
        lines.push(line(format!("bin = {}", quote(&binary.bin)), Kind::String));
        lines.push(line(
            format!("install = {}", quote(&binary.install)),
            Kind::Install,
        ));
        lines.push(line(format!("sealed = {}", binary.sealed), Kind::Bool));
    }
    lines.push(line("# The policy.".into(), Kind::Other));
    lines.push(line("[policy]".into(), Kind::Other));
    if let Some(name) = &manifest.policy_name {
        lines.push(line(format!("name = {}", quote(name)), Kind::PolicyName));
    }
    lines.push(line("rules = [".into(), Kind::RulesOpen));
    for rule in &manifest.rules {
        lines.push(line(format!("  {},", quote(rule)), Kind::Rule));
    }
    lines.push(line("]".into(), Kind::Other));
    for (name, id) in &manifest.users {
        for (table, id_key) in [("users", "uid"), ("groups", "gid")] {
            lines.push(line(format!("[[{table}]]"), Kind::Other));
            lines.push(line(format!("name = {}", quote(name)), Kind::AccountName));
            lines.push(line(format!("{id_key} = {id}"), Kind::Id));
            if table == "users" {
                lines.push(line(format!("group = {}", quote(name)), Kind::String));
            }
        }
    }
    lines
}

fn text(lines: &[Line]) -> String {
    lines.iter().map(|line| line.text.clone() + "\n").collect()
}

/// Any characters: NULs, controls, unicode; resolve passes these fields through untouched.
fn any_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), len).prop_map(String::from_iter)
}

fn manifest() -> impl Strategy<Value = Manifest> {
    let binary = (
        any_text(1..10),
        any_text(1..10),
        "[a-zé0-9_-][a-zé0-9._-]{0,7}",
        any::<bool>(),
        select(&["/bin/", "/sbin/", "/usr/lib/x/"][..]),
    )
        .prop_map(|(package, bin, name, sealed, dir)| Binary {
            package,
            bin,
            install: if sealed {
                format!("/opt/sealed/{name}")
            } else {
                format!("{dir}{name}")
            },
            sealed,
        });
    let file = "[a-zé0-9_-]{1,6}(/[a-zü]{1,4})?\\.(config|patch)";
    let files = || prop::collection::vec(file, 0..3);
    let description = prop_oneof![9 => any_text(0..30), 1 => "[a-zé ]{1000,100000}"];
    (
        (
            description,
            any::<bool>(),
            files(),
            files(),
            // One kernel argument each, none of the build's own.
            prop::collection::vec(
                "[a-zé][a-zé0-9_.-]{0,8}(=[a-zA-Z0-9_,./:-]{0,10})?".prop_filter(
                    "the build sets these",
                    |argument: &String| {
                        let name = argument.split_once('=').map_or(&argument[..], |(n, _)| n);
                        !super::BUILD_PARAMETERS.contains(&name)
                    },
                ),
                0..3,
            ),
        ),
        (
            prop::collection::vec(select(PINNED), 0..3),
            // Globs: names of letters and `?`, a `*` after some, `**` alone.
            prop::collection::vec("[a-z?]{1,4}\\*?(/([a-z?]{1,3}\\*?|\\*\\*)){0,3}", 0..3),
            prop::collection::vec(binary, 0..3),
            prop::option::of("[a-zA-Zé0-9_.:-]{1,12}"),
            prop::collection::vec(select(RULES), 0..3),
        ),
    )
        .prop_map(|(kernel, rest)| {
            let (description, overlay, fragments, patches, cmdline) = kernel;
            let (debian, exclude, binaries, policy_name, rules) = rest;
            Manifest {
                description,
                overlay,
                fragments,
                patches,
                cmdline,
                debian,
                exclude,
                binaries,
                policy_name,
                rules,
                users: Vec::new(),
            }
        })
}

/// Writes each layer `l0`, `l1`, … with its text and every file a valid manifest names.
fn write_layers(root: &Path, layers: &[(Manifest, String)]) -> Vec<String> {
    let names: Vec<String> = (0..layers.len()).map(|i| format!("l{i}")).collect();
    for (name, (manifest, text)) in names.iter().zip(layers) {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("files")).unwrap();
        for file in manifest.fragments.iter().chain(&manifest.patches) {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        std::fs::write(dir.join("layer.toml"), text).unwrap();
    }
    names
}

fn load_and_resolve(root: &Path, names: &[String]) -> Result<ResolvedLayers, LayerErrors> {
    let layers = names
        .iter()
        .map(|name| load(root, name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| LayerErrors(vec![error]))?;
    resolve(&layers, &|package| {
        (!PINNED.contains(&package)).then(|| format!("`{package}` is not pinned"))
    })
}

/// A refusal must be `path:line: message` for one of the layers, the line within its text;
/// returns the layer's index and the line.
fn check_refusal(
    root: &Path,
    names: &[String],
    texts: &[&str],
    error: &LayerError,
) -> Result<(usize, usize), TestCaseError> {
    let LayerError::Invalid {
        path,
        line,
        message,
    } = error
    else {
        return Err(TestCaseError::fail(format!(
            "not located in a layer: {error}"
        )));
    };
    let layer = names
        .iter()
        .position(|name| *path == root.join(name).join("layer.toml"));
    let Some(layer) = layer else {
        return Err(TestCaseError::fail(format!("not a layer's file: {error}")));
    };
    let lines = texts[layer].matches('\n').count() + 1;
    prop_assert!(
        (1..=lines).contains(line),
        "line {line} of {lines}: {error}"
    );
    prop_assert!(!message.is_empty());
    let shown = error.to_string();
    let prefix = format!("{}:{line}: ", path.display());
    prop_assert!(shown.starts_with(&prefix), "{shown}");
    Ok((layer, *line))
}

thread_local! {
    /// One layers folder per test, which each case overwrites: making and removing a folder per
    /// case costs far more than parsing, on a busy disk. What earlier cases left is harmless:
    /// generated files all have an extension, folders none, and the changes name paths no case
    /// creates.
    static ROOT: tempfile::TempDir = tempfile::tempdir().unwrap();
}

/// Loads and resolves the texts as layers `l0`, `l1`, …: the layers folder, and what they
/// resolve to or the layer and line of the refusal, checked.
type Outcome = (PathBuf, Result<ResolvedLayers, (usize, usize)>);

fn run(layers: &[(Manifest, String)]) -> Result<Outcome, TestCaseError> {
    let root = ROOT.with(|root| root.path().to_owned());
    let names = write_layers(&root, layers);
    let texts: Vec<&str> = layers.iter().map(|(_, text)| text.as_str()).collect();
    let outcome = match load_and_resolve(&root, &names) {
        Ok(resolved) => {
            check_accepted(&root, &resolved)?;
            Ok(resolved)
        }
        // Every problem is reported; each must be located. The first one is the outcome.
        Err(LayerErrors(errors)) => {
            let mut first = None;
            for error in &errors {
                let at = check_refusal(&root, &names, &texts, error)?;
                first.get_or_insert(at);
            }
            prop_assert!(first.is_some(), "a refusal with no problem in it");
            Err(first.unwrap_or_default())
        }
    };
    Ok((root, outcome))
}

/// What `resolve` promises of whatever it accepts.
fn check_accepted(root: &Path, resolved: &ResolvedLayers) -> Result<(), TestCaseError> {
    let root = root.canonicalize().unwrap();
    let paths = resolved.kernel_fragments.iter();
    for path in paths
        .chain(&resolved.kernel_patches)
        .chain(&resolved.overlays)
    {
        let real = path.canonicalize();
        prop_assert!(
            real.is_ok_and(|real| real.starts_with(&root)),
            "{}",
            path.display()
        );
    }
    for (install, binary) in &resolved.binaries {
        prop_assert!(
            install.starts_with('/') && !install.ends_with('/'),
            "{install:?}"
        );
        prop_assert!(
            !install.split('/').any(|part| part == "." || part == ".."),
            "{install:?}"
        );
        let below = super::below_sealed_mount(install).is_some();
        prop_assert_eq!(below, binary.sealed, "{:?}", install);
        let plain = !install.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\');
        prop_assert!(!binary.sealed || plain, "{install:?}");
    }
    if let Some(name) = &resolved.policy_name {
        prop_assert!(super::is_policy_token(name), "{name:?}");
    }
    Ok(())
}

/// A valid stack resolves to exactly what its manifests say, later layers overriding.
fn check_resolves_as_written(
    root: &Path,
    manifests: &[Manifest],
    resolved: &ResolvedLayers,
) -> Result<(), TestCaseError> {
    let dirs: Vec<_> = (0..manifests.len())
        .map(|i| root.join(format!("l{i}")))
        .collect();
    let in_dirs = |files: fn(&Manifest) -> &Vec<String>| -> Vec<_> {
        let each = manifests.iter().zip(&dirs);
        each.flat_map(|(m, dir)| files(m).iter().map(|file| dir.join(file)))
            .collect()
    };
    prop_assert_eq!(&resolved.kernel_fragments, &in_dirs(|m| &m.fragments));
    prop_assert_eq!(&resolved.kernel_patches, &in_dirs(|m| &m.patches));
    let overlays = manifests.iter().zip(&dirs).filter(|(m, _)| m.overlay);
    let overlays: Vec<_> = overlays.map(|(_, dir)| dir.join("files")).collect();
    prop_assert_eq!(&resolved.overlays, &overlays);
    let cmdline: Vec<_> = manifests.iter().flat_map(|m| m.cmdline.clone()).collect();
    prop_assert_eq!(&resolved.kernel_cmdline, &cmdline);
    let mut debian: Vec<String> = Vec::new();
    for package in manifests.iter().flat_map(|m| &m.debian) {
        if !debian.iter().any(|seen| seen == package) {
            debian.push((*package).to_owned());
        }
    }
    prop_assert_eq!(&resolved.debian_packages, &debian);
    let exclude = manifests.iter().enumerate().flat_map(|(layer, m)| {
        m.exclude
            .iter()
            .map(move |pattern| (format!("l{layer}"), pattern.clone()))
    });
    prop_assert_eq!(&resolved.package_exclude, &exclude.collect::<Vec<_>>());
    let users = manifests.iter().flat_map(|m| m.users.clone());
    let resolved_users = resolved.accounts.users.iter().skip(2);
    let resolved_users = resolved_users.map(|u| (u.name.clone(), u.uid));
    prop_assert_eq!(
        resolved_users.collect::<Vec<_>>(),
        users.collect::<Vec<_>>()
    );
    for user in &resolved.accounts.users[2..] {
        prop_assert_eq!(user.gid, user.uid);
    }
    let mut binaries = BTreeMap::new();
    for (layer, manifest) in manifests.iter().enumerate() {
        for b in &manifest.binaries {
            let written = (
                b.package.clone(),
                b.bin.clone(),
                format!("l{layer}"),
                b.sealed,
            );
            binaries.insert(b.install.clone(), written);
        }
    }
    let resolved_binaries: BTreeMap<_, _> = resolved
        .binaries
        .iter()
        .map(|(install, b)| {
            let resolved = (b.package.clone(), b.bin.clone(), b.layer.clone(), b.sealed);
            (install.clone(), resolved)
        })
        .collect();
    prop_assert_eq!(resolved_binaries, binaries);
    let name = manifests.iter().rev().find_map(|m| m.policy_name.clone());
    prop_assert_eq!(&resolved.policy_name, &name);
    let rules = manifests
        .iter()
        .flat_map(|m| m.rules.iter().map(|r| (*r).to_owned()));
    prop_assert_eq!(&resolved.policy_rules, &rules.collect::<Vec<_>>());
    Ok(())
}

/// One line of a valid manifest made wrong; each must be refused at that line.
#[derive(Debug, Clone)]
enum Change {
    /// `key = 1` inserted after a line, in that line's table.
    UnknownKey(Index, String),
    /// A value replaced by one of another type.
    WrongType(Index, Index),
    /// A value replaced by arrays or inline tables nested this deep.
    Deep(Index, usize, bool),
    /// A layer path that leads outside the folder, or to nothing.
    LayerPath(Index, String),
    Install(Index, &'static str),
    PolicyName(Index, &'static str),
    Rule(Index, &'static str),
    Unpinned(Index, String),
    Exclude(Index, &'static str),
    AccountName(Index, &'static str),
}

const WRONG_FOR_TEXT: &[&str] = &[
    "5",
    "true",
    "3.5",
    "0x1F",
    "1979-05-27",
    "{ a = 1 }",
    "[1]",
    "[[\"x\"]]",
    "'''x'''1",
];
const WRONG_FOR_BOOL: &[&str] = &["\"true\"", "1", "[]", "{}", "yes"];
const WRONG_FOR_ID: &[&str] = &[
    "\"5\"",
    "-1",
    "0",
    "65534",
    "4294967296",
    "3.5",
    "[]",
    "true",
];
const BAD_EXCLUDES: &[&str] = &[
    "/usr",
    "usr/../etc",
    "usr//x",
    "usr/",
    "a**",
    "",
    "x\\u0000",
];
const BAD_NAMES: &[&str] = &["", "Root", "1x", "a:b", "a b", "root", "x\\u0000"];
const BAD_INSTALLS: &[&str] = &[
    "sbin/init",
    "/a/../b",
    "/a/./b",
    "/a/",
    "",
    "/opt/sealed/../x",
    "/opt/sealed/a b",
    "/opt/sealed/a\"b",
    "/opt/sealed/a\\b",
];
const BAD_RULES: &[&str] = &[
    "op=FOO action=ALLOW",
    "action=ALLOW",
    "op=EXECUTE",
    "op=EXECUTE boot_verified=MAYBE action=ALLOW",
];

fn change() -> impl Strategy<Value = Change> {
    let outside = prop_oneof![
        Just("../l0/files".to_owned()),
        Just("/etc".to_owned()),
        Just("a/../../l0".to_owned()),
        Just("files/../..".to_owned()),
        Just("nope/x.txt".to_owned()),
        Just("x\u{0}y".to_owned()),
        Just("é/ü\u{202e}.config".to_owned()),
        "[a-z]{300,5000}",
    ];
    let unpinned = "[a-z]{1,8}".prop_filter("not pinned", |p| !PINNED.contains(&p.as_str()));
    let at = any::<Index>;
    prop_oneof![
        (at(), "x_(\\PC){0,8}").prop_map(|(at, key)| Change::UnknownKey(at, key)),
        (at(), at()).prop_map(|(at, wrong)| Change::WrongType(at, wrong)),
        (at(), 1usize..20_000, any::<bool>())
            .prop_map(|(at, depth, arrays)| Change::Deep(at, depth, arrays)),
        (at(), outside).prop_map(|(at, path)| Change::LayerPath(at, path)),
        (at(), select(BAD_INSTALLS)).prop_map(|(at, install)| Change::Install(at, install)),
        (at(), select(&["", "a b", "a=b", "#x", "a\tb"][..]))
            .prop_map(|(at, name)| Change::PolicyName(at, name)),
        (at(), select(BAD_RULES)).prop_map(|(at, rule)| Change::Rule(at, rule)),
        (at(), unpinned).prop_map(|(at, package)| Change::Unpinned(at, package)),
        (at(), select(BAD_EXCLUDES)).prop_map(|(at, glob)| Change::Exclude(at, glob)),
        (at(), select(BAD_NAMES)).prop_map(|(at, name)| Change::AccountName(at, name)),
    ]
}

/// The index of the line `at` picks among those whose kind fits, if any.
fn pick(lines: &[Line], at: Index, fits: impl Fn(Kind) -> bool) -> Option<usize> {
    let fitting: Vec<usize> = (0..lines.len()).filter(|&i| fits(lines[i].kind)).collect();
    (!fitting.is_empty()).then(|| fitting[at.index(fitting.len())])
}

/// `line` with its value replaced: after ` = `, or the whole of a rule line.
fn set_value(line: &mut Line, value: &str) {
    line.text = match line.text.split_once(" = ") {
        Some((key, _)) => format!("{key} = {value}"),
        None => format!("  {value},"),
    };
}

/// Applies the change; the 1-based line the refusal must name, if a line fitted it.
fn apply(lines: &mut Vec<Line>, change: &Change) -> Option<usize> {
    use Kind::*;
    let valued = |kind| !matches!(kind, Other | RulesOpen);
    let at = match change {
        Change::UnknownKey(at, key) => {
            // Not among the rules, whose array it would break rather than extend a table.
            let i = pick(lines, *at, |kind| !matches!(kind, RulesOpen | Rule))?;
            let text = format!("{} = 1", quote(key));
            lines.insert(i + 1, Line { text, kind: Other });
            return Some(i + 2);
        }
        Change::WrongType(at, wrong) => {
            let i = pick(lines, *at, valued)?;
            let values = match lines[i].kind {
                Bool => WRONG_FOR_BOOL,
                Id => WRONG_FOR_ID,
                _ => WRONG_FOR_TEXT,
            };
            set_value(&mut lines[i], values[wrong.index(values.len())]);
            i
        }
        Change::Deep(at, depth, arrays) => {
            let i = pick(lines, *at, valued)?;
            let value = if *arrays {
                "[".repeat(*depth) + &"]".repeat(*depth)
            } else {
                "{ a = ".repeat(*depth) + "1" + &" }".repeat(*depth)
            };
            set_value(&mut lines[i], &value);
            i
        }
        Change::LayerPath(at, path) => {
            let i = pick(lines, *at, |kind| matches!(kind, LayerPaths | Overlay))?;
            let value = if lines[i].kind == Overlay {
                quote(path)
            } else {
                list(&[path])
            };
            set_value(&mut lines[i], &value);
            i
        }
        Change::Install(at, install) => {
            let i = pick(lines, *at, |kind| kind == Install)?;
            set_value(&mut lines[i], &quote(install));
            i
        }
        Change::PolicyName(at, name) => {
            let i = pick(lines, *at, |kind| kind == PolicyName)?;
            set_value(&mut lines[i], &quote(name));
            i
        }
        Change::Rule(at, rule) => {
            let i = pick(lines, *at, |kind| kind == Rule)?;
            set_value(&mut lines[i], &quote(rule));
            i
        }
        Change::Unpinned(at, package) => {
            let i = pick(lines, *at, |kind| kind == Package)?;
            set_value(&mut lines[i], &list(&[package]));
            i
        }
        Change::Exclude(at, glob) => {
            let i = pick(lines, *at, |kind| kind == Exclude)?;
            set_value(&mut lines[i], &format!("[\"{glob}\"]"));
            i
        }
        Change::AccountName(at, name) => {
            let i = pick(lines, *at, |kind| kind == AccountName)?;
            set_value(&mut lines[i], &quote(name));
            i
        }
    };
    Some(at + 1)
}

fn valid_layers() -> impl Strategy<Value = Vec<(Manifest, String)>> {
    prop::collection::vec((manifest(), 0u32..3), 1..4).prop_map(|layers| {
        let each = layers.into_iter().enumerate();
        each.map(|(layer, (mut manifest, users))| {
            let id = |user| 1000 + 10 * layer as u32 + user;
            manifest.users = (0..users)
                .map(|u| (format!("u{layer}_{u}"), id(u)))
                .collect();
            let text = text(&render(&manifest));
            (manifest, text)
        })
        .collect()
    })
}

/// Characters that mean something to TOML, or to the paths and rules inside it.
const TRICKY: &[char] = &[
    '[',
    ']',
    '{',
    '}',
    '=',
    '"',
    '\'',
    ',',
    '.',
    '#',
    '\n',
    '\r',
    '\t',
    ' ',
    '\\',
    '/',
    '\0',
    'é',
    '\u{202e}',
    '\u{feff}',
    '\u{10ffff}',
    '0',
    'x',
    '_',
];

/// Inserts (`replace` false), replaces, or with no character deletes, at a position.
type CharEdit = (Index, Option<char>, bool);

fn char_edits() -> impl Strategy<Value = Vec<CharEdit>> {
    let c = prop_oneof![3 => select(TRICKY), 1 => any::<char>()];
    let edit = (
        any::<Index>(),
        prop::option::weighted(0.7, c),
        any::<bool>(),
    );
    prop::collection::vec(edit, 1..6)
}

fn edit_chars(text: &str, edits: &[CharEdit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, c, replace) in edits {
        match (c, replace, chars.is_empty()) {
            (Some(c), false, _) => chars.insert(at.index(chars.len() + 1), c),
            (Some(c), true, false) => {
                let i = at.index(chars.len());
                chars[i] = c;
            }
            (None, _, false) => {
                chars.remove(at.index(chars.len()));
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Pieces of manifests, for texts that random characters would seldom write; `|` apart.
const SOUP: &str = "description|kernel|fragments|binaries|policy|rules|install|sealed| = |\"|[|]|[[|]]|\
                    {|}|,|\n|#|\"x\"|'''|\"\"\"|1|true|\\u0000|..|/|é|\r\n|.";

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_layers_resolve_to_what_they_say(layers in valid_layers()) {
        let (root, outcome) = run(&layers)?;
        let resolved = outcome.map_err(|(layer, line)| {
            TestCaseError::fail(format!("l{layer}:{line} refused:\n{}", layers[layer].1))
        })?;
        let manifests: Vec<Manifest> = layers.into_iter().map(|(manifest, _)| manifest).collect();
        check_resolves_as_written(&root, &manifests, &resolved)?;
    }

    #[test]
    fn a_wrong_line_is_refused_at_its_layer_and_line(
        mut layers in valid_layers(),
        which in any::<Index>(),
        change in change(),
    ) {
        let layer = which.index(layers.len());
        let mut lines = render(&layers[layer].0);
        let expected = apply(&mut lines, &change);
        layers[layer].1 = text(&lines);
        let (_root, outcome) = run(&layers)?;
        match expected {
            Some(line) => prop_assert_eq!(outcome.err(), Some((layer, line)), "{}", layers[layer].1),
            None => prop_assert!(outcome.is_ok()),
        }
    }

    #[test]
    fn edited_manifests_resolve_or_are_refused_at_a_line(
        mut layers in valid_layers(),
        which in any::<Index>(),
        edits in char_edits(),
    ) {
        let layer = which.index(layers.len());
        layers[layer].1 = edit_chars(&layers[layer].1, &edits);
        let _checked_either_way = run(&layers)?;
    }

    #[test]
    fn arbitrary_text_resolves_or_is_refused_at_a_line(
        chars in prop::collection::vec(any::<char>(), 0..200),
        soup in prop::collection::vec(select(SOUP.split('|').collect::<Vec<_>>()), 0..60),
        // Only for the files it makes, which the text may name.
        manifest in manifest(),
    ) {
        for text in [chars.into_iter().collect::<String>(), soup.concat()] {
            let _checked_either_way = run(&[(manifest.clone(), text)])?;
        }
    }
}
