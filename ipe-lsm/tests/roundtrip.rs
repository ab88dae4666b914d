//! Property tests: generated valid policies, printed with varied layout,
//! parse back to exactly what was generated; the canonical printer
//! round-trips too.

use ipe_lsm::host::{parse_host, to_text};
use ipe_lsm::{Action, Op, Property};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Prop {
    Flag(&'static str, bool),
    Digest(&'static str, String, Vec<u8>),
}

#[derive(Clone, Debug)]
struct Spec {
    name: String,
    version: (u16, u16, u16),
    global: Option<Action>,
    op_defaults: [Option<Action>; 7],
    rules: Vec<(Op, Action, Vec<Prop>)>,
}

/// Whitespace and line-ending choices for printing.
#[derive(Clone, Debug)]
struct Layout {
    separator: &'static str,
    line_end: &'static str,
    comments: bool,
    uppercase_hex: bool,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Action::Allow), Just(Action::Deny)]
}

fn prop_strategy() -> impl Strategy<Value = Prop> {
    let flag = (
        prop_oneof![
            Just("boot_verified"),
            Just("dmverity_signature"),
            Just("fsverity_signature")
        ],
        any::<bool>(),
    )
        .prop_map(|(name, value)| Prop::Flag(name, value));
    let digest = (
        prop_oneof![Just("fsverity_digest"), Just("dmverity_roothash")],
        "[a-z0-9]{0,8}",
        prop::collection::vec(any::<u8>(), 0..=64),
    )
        .prop_map(|(name, alg, bytes)| Prop::Digest(name, alg, bytes));
    prop_oneof![flag, digest]
}

fn spec() -> impl Strategy<Value = Spec> {
    let defaults = (
        prop::option::of(action()),
        prop::array::uniform7(prop::option::of(action())),
    )
        .prop_filter(
            "upstream needs a global DEFAULT or all op DEFAULTs",
            |(global, ops)| global.is_some() || ops.iter().all(Option::is_some),
        );
    let rule = (
        prop::sample::select(Op::ALL.to_vec()),
        action(),
        prop::collection::vec(prop_strategy(), 0..5),
    );
    (
        "[!-\"$-~]{1,16}",
        any::<(u16, u16, u16)>(),
        defaults,
        prop::collection::vec(rule, 0..20),
    )
        .prop_map(|(name, version, (global, op_defaults), rules)| Spec {
            name,
            version,
            global,
            op_defaults,
            rules,
        })
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop::sample::select(vec![" ", "\t", "  \t ", " \t"]),
        prop::sample::select(vec!["\n", "\r\n", "\r", "\n\n", " \n", "\t\r\n"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(separator, line_end, comments, uppercase_hex)| Layout {
            separator,
            line_end,
            comments,
            uppercase_hex,
        })
}

fn print(spec: &Spec, layout: &Layout) -> String {
    let Layout {
        separator: sep,
        line_end: end,
        ..
    } = layout;
    let (major, minor, revision) = spec.version;
    let mut text = String::new();
    if layout.comments {
        text += &format!("# generated{end}{end}");
    }
    text += &format!(
        "policy_name={}{sep}policy_version={major}.{minor}.{revision}{end}",
        spec.name
    );
    let mut lines = Vec::new();
    if let Some(action) = spec.global {
        lines.push(format!("DEFAULT{sep}{}", action.token()));
    }
    for (op, action) in Op::ALL.iter().zip(spec.op_defaults) {
        if let Some(action) = action {
            lines.push(format!(
                "{sep}DEFAULT{sep}{}{sep}{}",
                op.token(),
                action.token()
            ));
        }
    }
    for (op, action, props) in &spec.rules {
        let mut line = op.token().to_string();
        for prop in props {
            line += sep;
            line += &match prop {
                Prop::Flag(name, value) => {
                    format!("{name}={}", if *value { "TRUE" } else { "FALSE" })
                }
                Prop::Digest(name, alg, bytes) => {
                    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    let hex = if layout.uppercase_hex {
                        hex.to_uppercase()
                    } else {
                        hex
                    };
                    format!("{name}={alg}:{hex}")
                }
            };
        }
        lines.push(format!("{line}{sep}{}", action.token()));
    }
    for line in lines {
        text += &line;
        if layout.comments {
            text += " # note";
        }
        text += end;
    }
    text
}

fn check_prop(expected: &Prop, actual: &Property<'_>) -> bool {
    match (expected, actual) {
        (Prop::Flag("boot_verified", v), Property::BootVerified(w))
        | (Prop::Flag("dmverity_signature", v), Property::DmVeritySignature(w))
        | (Prop::Flag("fsverity_signature", v), Property::FsVeritySignature(w)) => v == w,
        (Prop::Digest("fsverity_digest", alg, bytes), Property::FsVerityDigest(d))
        | (Prop::Digest("dmverity_roothash", alg, bytes), Property::DmVerityRootHash(d)) => {
            d.alg() == alg.as_bytes() && d.bytes().eq(bytes.iter().copied())
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printed_policies_parse_back_equal(spec in spec(), layout in layout()) {
        let text = print(&spec, &layout);
        let policy = parse_host(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(policy.name(), spec.name.as_bytes());
        let version = policy.version();
        prop_assert_eq!((version.major, version.minor, version.revision), spec.version);
        prop_assert_eq!(policy.global_default(), spec.global);
        for (op, expected) in Op::ALL.iter().zip(spec.op_defaults) {
            prop_assert_eq!(policy.op_default(*op), expected);
        }
        prop_assert_eq!(policy.rules().len(), spec.rules.len());
        for (rule, (op, action, props)) in policy.rules().iter().zip(&spec.rules) {
            prop_assert_eq!(rule.op(), *op);
            prop_assert_eq!(rule.action(), *action);
            let parsed = policy.props(rule);
            prop_assert_eq!(parsed.len(), props.len());
            for (expected, actual) in props.iter().zip(parsed) {
                prop_assert!(check_prop(expected, actual), "{:?} vs {:?}", expected, actual);
            }
        }
        let canonical = to_text(&policy);
        let reparsed = parse_host(&canonical).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert!(reparsed == policy);
        prop_assert_eq!(to_text(&reparsed), canonical);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(text in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_host(&text);
    }
}
