//! Writing policies on the host: versions from configuration, and policies built rule by rule.

use ipe_lsm::host::PolicyText;
use ipe_lsm::{Action, Version};

#[test]
fn versions_read_and_print_alike_and_order_numerically() {
    let version: Version = "1.10.65535".parse().unwrap();
    assert_eq!(version.to_string(), "1.10.65535");
    assert!("1.9.0".parse::<Version>().unwrap() < "1.10.0".parse().unwrap());
    for bad in ["1.2", "1.2.3.4", "1.2.65536", "1.+2.3", "1..3", "", "a.b.c"] {
        assert!(bad.parse::<Version>().is_err(), "{bad}");
    }
    assert_eq!(version.next_revision(), None);
}

#[test]
fn renders_header_default_comments_and_rules_in_order() {
    let mut policy = PolicyText::new("fw", "0.1.0".parse().unwrap(), Action::Deny);
    policy
        .comment("two\nlines")
        .rule("op=EXECUTE boot_verified=TRUE action=ALLOW");
    let text = policy.render_checked().unwrap();
    assert_eq!(
        text,
        "policy_name=fw policy_version=0.1.0\nDEFAULT action=DENY\n# two\n# lines\n\
         op=EXECUTE boot_verified=TRUE action=ALLOW\n"
    );
    let large = policy
        .renamed("big", "2.0.0".parse().unwrap())
        .with_rules_first(["op=KMODULE action=DENY".into()]);
    assert_eq!(
        large.rules().collect::<Vec<_>>(),
        [
            "op=KMODULE action=DENY",
            "op=EXECUTE boot_verified=TRUE action=ALLOW"
        ]
    );
    assert!(
        large
            .render()
            .starts_with("policy_name=big policy_version=2.0.0\n")
    );
}

#[test]
fn a_rule_the_kernel_rejects_is_caught() {
    let mut policy = PolicyText::new("fw", Version::default(), Action::Deny);
    policy.rule("op=KERNEL_READ action=ALLOW");
    assert!(policy.render_checked().is_err());
}
