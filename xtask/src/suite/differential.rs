//! The Rust IPE against upstream's: the same commands on each kernel's guest, and what a user or
//! a tool can see of IPE must come out the same. That is the securityfs tree and its files, the
//! errno of every accepted or refused write, enforce and success_audit, and the audit records
//! 1420, 1421, 1422 and 1404 with all their fields.
//!
//! The two images differ by construction in their root hash, and so in policy digests and
//! signatures; their records differ in times, pids and inodes. Those are normalised: each
//! distinct digest becomes `<digest N>` in order of first appearance, so that equal digests
//! stay equal.

use std::collections::HashMap;
use std::time::Duration;

use appliance_qemu::Guest;

use crate::stages::image::Image;

/// The boot parameters of the second session, which checks that IPE honours them.
const BOOT_PARAMETERS: &str = "ipe.enforce=0 ipe.success_audit=1";

/// Without auditd, kauditd prints records through `printk_ratelimit()`, which would drop some
/// at random; every session lifts the limit first.
const UNLIMITED_PRINTK: &str = "echo 0 > /proc/sys/kernel/printk_ratelimit";

/// Each session is a fresh guest, booted with these extra kernel parameters, that runs these
/// commands in order: later commands see the state earlier ones left.
pub fn sessions(image: &Image) -> Vec<(&'static str, Vec<String>)> {
    let ipe = "/sys/kernel/security/ipe";
    vec![
        ("", commands(image)),
        (
            BOOT_PARAMETERS,
            vec![
                UNLIMITED_PRINTK.to_owned(),
                format!(
                    "echo enforce=$(cat {ipe}/enforce) success_audit=$(cat {ipe}/success_audit)"
                ),
                "cp /bin/busybox /tmp/true && /tmp/true".to_owned(),
                // Records reach the console from kauditd, a moment later.
                "sleep 1; dmesg | grep -o 'type=1420.*/tmp/true.*'".to_owned(),
            ],
        ),
    ]
}

fn commands(image: &Image) -> Vec<String> {
    let ipe = "/sys/kernel/security/ipe";
    let active = format!("{ipe}/policies/{}", image.policy.name());
    let boot = format!("{ipe}/policies/{}", image.boot_policy.name());
    // busybox `ls -l` without sizes, owners and dates, which depend on nothing IPE does.
    let list = |dir: &str| format!("ls -l {dir} | awk '{{print $1, $NF}}'");
    [
        UNLIMITED_PRINTK.to_owned(),
        "cat /sys/kernel/security/lsm; echo".to_owned(),
        list(ipe),
        list(&format!("{ipe}/policies")),
        list(&active),
        format!("echo enforce=$(cat {ipe}/enforce) success_audit=$(cat {ipe}/success_audit)"),
        format!(
            "for f in name version active; do echo $f=$(cat {active}/$f) $(cat {boot}/$f); done"
        ),
        format!("cat {active}/policy"),
        format!("cat {boot}/policy"),
        format!("wc -c < {active}/pkcs7"),
        format!("cat {boot}/pkcs7"),
        format!("echo 0 > {active}/active"),
        format!("echo 1 > {active}/active"),
        format!("echo x > {active}/active"),
        format!("echo 1 > {boot}/active"),
        format!("echo 1 > {active}/delete"),
        format!("echo 0 > {boot}/delete"),
        format!("echo garbage > {ipe}/new_policy"),
        format!("printf '' > {ipe}/new_policy"),
        format!("echo garbage > {active}/update"),
        format!("echo 1 > {ipe}/success_audit"),
        "/bin/busybox true".to_owned(),
        format!("echo 0 > {ipe}/success_audit"),
        // Named after an applet, so that busybox runs it when allowed.
        "cp /bin/busybox /tmp/true && /tmp/true".to_owned(),
        // finit_module: the kernel_read_file hook, on tmpfs and on the verity root.
        "/bin/busybox insmod /tmp/true".to_owned(),
        "/bin/busybox insmod /etc/hostname".to_owned(),
        format!("echo 0 > {ipe}/enforce"),
        "/tmp/true".to_owned(),
        "/bin/busybox insmod /tmp/true".to_owned(),
        format!("echo 1 > {ipe}/enforce"),
        format!("echo yes > {ipe}/enforce"),
        format!("echo enforce=$(cat {ipe}/enforce)"),
        format!("ls {ipe}/policies"),
        "sleep 1; dmesg | grep -o 'type=14.*'".to_owned(),
    ]
    .into()
}

/// Runs the commands and returns their normalised transcript.
pub fn observe<S: AsRef<str>>(guest: &mut Guest, commands: &[S]) -> Result<String, String> {
    let mut transcript = String::new();
    for command in commands.iter().map(AsRef::as_ref) {
        let output = guest
            .run(&format!("{{ {command}; }} 2>&1"), Duration::from_secs(60))
            .map_err(|error| format!("{command}: {error}"))?;
        transcript.push_str(&format!(
            "$ {command}\n{}[exit {}]\n",
            output.text, output.status
        ));
    }
    Ok(normalise(&transcript))
}

/// Replaces what differs between any two boots or images, whatever the IPE.
fn normalise(text: &str) -> String {
    let mut digests: HashMap<String, usize> = HashMap::new();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut kept: Vec<String> = Vec::new();
        for word in line.split(' ') {
            let word = if let Some(rest) = word.strip_prefix("audit(") {
                // `audit(1.234:56):` → the record's time and serial.
                rest.split_once("):")
                    .map_or(word.to_owned(), |(_, after)| format!("audit(…):{after}"))
            } else if let Some((key, _)) = word
                .split_once('=')
                .filter(|(key, _)| ["pid", "ino", "auid", "ses"].contains(key))
            {
                format!("{key}=…")
            } else {
                replace_digests(word, &mut digests)
            };
            kept.push(word);
        }
        out.push_str(&kept.join(" "));
        out.push('\n');
    }
    out
}

/// Each run of 64 or more hex digits becomes `<digest N>`, numbered by first appearance.
fn replace_digests(word: &str, digests: &mut HashMap<String, usize>) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        let run = rest[start..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(rest.len(), |end| start + end);
        let hex = &rest[start..run];
        out.push_str(&rest[..start]);
        if hex.len() >= 64 {
            let next = digests.len() + 1;
            let n = *digests.entry(hex.to_ascii_lowercase()).or_insert(next);
            out.push_str(&format!("<digest {n}>"));
        } else {
            out.push_str(hex);
        }
        rest = &rest[run..];
    }
    out.push_str(rest);
    out
}

/// `Ok` when the transcripts match; otherwise the lines that differ.
pub fn compare(left: (&str, &str), right: (&str, &str)) -> Result<(), String> {
    let (left_name, left_text) = left;
    let (right_name, right_text) = right;
    if left_text == right_text {
        return Ok(());
    }
    let left_lines: Vec<&str> = left_text.lines().collect();
    let right_lines: Vec<&str> = right_text.lines().collect();
    let mut differences = Vec::new();
    for i in 0..left_lines.len().max(right_lines.len()) {
        let (l, r) = (left_lines.get(i), right_lines.get(i));
        if l != r {
            differences.push(format!(
                "line {}:\n  {left_name}: {}\n  {right_name}: {}",
                i + 1,
                l.unwrap_or(&"(none)"),
                r.unwrap_or(&"(none)")
            ));
        }
    }
    let shown = differences.len().min(12);
    Err(format!(
        "{} lines differ between the {left_name} and {right_name} IPEs; the first {shown}:\n{}",
        differences.len(),
        differences[..shown].join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_times_pids_inodes_and_digests() {
        let rust = "audit: type=1420 audit(1.23:45): ipe_op=EXECUTE pid=71 comm=\"sh\" ino=12 rule=\"op=EXECUTE dmverity_roothash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa action=ALLOW\" old=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
        let upstream = "audit: type=1420 audit(2.5:9): ipe_op=EXECUTE pid=80 comm=\"sh\" ino=13 rule=\"op=EXECUTE dmverity_roothash=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb action=ALLOW\" old=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n";
        assert_eq!(normalise(rust), normalise(upstream));
        assert!(normalise(rust).contains("roothash=sha256:<digest 1> "));
    }

    #[test]
    fn different_digest_patterns_still_differ() {
        let a = format!("x={} y={}\n", "a".repeat(64), "a".repeat(64));
        let b = format!("x={} y={}\n", "a".repeat(64), "b".repeat(64));
        assert_ne!(normalise(&a), normalise(&b));
    }

    #[test]
    fn a_different_errno_is_reported_with_its_line() {
        let error = compare(
            ("rust", "$ echo 0 > active\n[exit 0]\n"),
            (
                "upstream",
                "$ echo 0 > active\nsh: write error: Invalid argument\n[exit 1]\n",
            ),
        )
        .unwrap_err();
        assert!(error.contains("line 2:"), "{error}");
        assert!(
            error.contains("upstream: sh: write error: Invalid argument"),
            "{error}"
        );
    }
}
