//! Signed-policy lifecycle: the policies a device may be handed, good and bad, made on the host
//! and carried into the guest on a second disk as a tar archive.

use std::path::PathBuf;

use anyhow::Result;
use appliance_qemu::Guest;

use super::cases::{CaseResult, expect, run};
use super::lockdown::PROBE;
use crate::exec::Tool;
use ipe_lsm::Version;
use ipe_lsm::host::PolicyText;

use crate::stages::image::Image;

const IPE: &str = "/sys/kernel/security/ipe";
/// Where the guest unpacks the artifacts.
const IN_GUEST: &str = "/tmp/policies";

/// Writes the test policies, derived from the image's own, into a tar archive and returns it.
pub fn make_artifacts(image: &Image) -> Result<PathBuf> {
    let dir = image.test_dir.join("policy-tests");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let write = |file: &str, bytes: &[u8]| std::fs::write(dir.join(file), bytes);
    let keys = &image.keys;
    let policy = &image.policy;
    let name = policy.name();
    let current = policy.render();

    write("unsigned.pol", current.as_bytes())?;
    let other_key = signing::keygen::generate("not trusted by the kernel")?;
    let other_signed = signing::sign_attached(
        current.as_bytes(),
        &signing::LocalSigner::new(other_key.key),
        &other_key.cert,
    )?;
    write("other-key.p7s", &other_signed)?;
    let mut flipped = keys.sign_policy(current.as_bytes())?;
    let at = flipped
        .windows(7)
        .position(|w| w == b"DEFAULT")
        .ok_or_else(|| anyhow::anyhow!("no policy text in the PKCS#7"))?;
    flipped[at] ^= 0x20;
    write("flipped.p7s", &flipped)?;
    write("equal.p7s", &keys.sign_policy(current.as_bytes())?)?;
    let sign = |policy: &PolicyText| keys.sign_policy(policy.render().as_bytes());
    let lowest_but_one: Version = "0.0.1".parse()?;
    write("lower.p7s", &sign(&policy.renamed(name, lowest_but_one))?)?;
    write(
        "older-other.p7s",
        &sign(&policy.renamed(format!("{name}-older"), lowest_but_one))?,
    )?;
    // The update that changes behaviour: every exec allowed, so a copy in /tmp now runs.
    let mut higher = policy.renamed(name, bumped(policy.version()));
    higher.rule("DEFAULT op=EXECUTE action=ALLOW");
    write("higher.p7s", &sign(&higher)?)?;

    let archive = image.test_dir.join("policy-tests.tar");
    Tool::new("tar")
        .args(["--format=ustar", "--owner=0", "--group=0", "-cf"])
        .arg(&archive)
        .arg("-C")
        .arg(&dir)
        .arg(".")
        .run()?;
    Ok(archive)
}

/// The version with the minor raised.
pub(super) fn bumped(version: Version) -> Version {
    match version.minor.checked_add(1) {
        Some(minor) => Version {
            minor,
            revision: 0,
            ..version
        },
        None => Version {
            major: version.major.saturating_add(1),
            minor: 0,
            revision: 0,
        },
    }
}

/// Writes a file in one `write`, as IPE needs, and returns the shell's error text ("" on success).
fn load(guest: &mut Guest, file: &str, target: &str) -> Result<String, String> {
    let output = run(
        guest,
        &format!("dd if={IN_GUEST}/{file} of={target} bs=1M 2>&1 >/dev/null | grep -v records"),
    )?;
    Ok(output.text.trim().to_owned())
}

/// Writes `text` through dd, so that a refused write reports its error like `load`.
fn write_text(guest: &mut Guest, text: &str, target: &str) -> Result<String, String> {
    let output = run(
        guest,
        &format!("printf {text} | dd of={target} 2>&1 | grep -v records"),
    )?;
    Ok(output.text.trim().to_owned())
}

fn refused_with(guest: &mut Guest, file: &str, target: &str, strerror: &str) -> CaseResult {
    let text = load(guest, file, target)?;
    expect(text.contains(strerror), || {
        format!("writing {file} to {target}: expected `{strerror}`, got {text:?}")
    })
}

pub fn unpack_artifacts(guest: &mut Guest, image: &Image) -> CaseResult {
    let device = image.boot.extra_disk_device();
    let output = run(
        guest,
        &format!("mkdir -p {IN_GUEST} && tar -xf {device} -C {IN_GUEST} && ls {IN_GUEST} | wc -l"),
    )?;
    expect(output.text.trim() == "7", || {
        format!("the policy archive did not unpack: {output:?}")
    })
}

pub fn signed_policy_replaced_boot_policy(guest: &mut Guest, image: &Image) -> CaseResult {
    let boot = format!("{IPE}/policies/{}", image.boot_policy.name());
    let output = run(
        guest,
        &format!("echo $(cat {boot}/active) $(cat {boot}/version)"),
    )?;
    expect(
        output.text.split_whitespace().collect::<Vec<_>>()
            == ["0", &image.boot_policy.version().to_string()],
        || {
            format!(
                "the boot policy {} should be loaded but inactive: {output:?}",
                image.boot_policy.name()
            )
        },
    )
}

pub fn other_key_refused_enokey(guest: &mut Guest, _image: &Image) -> CaseResult {
    refused_with(
        guest,
        "other-key.p7s",
        &format!("{IPE}/new_policy"),
        "Required key not available",
    )
}

pub fn flipped_byte_refused(guest: &mut Guest, _image: &Image) -> CaseResult {
    refused_with(
        guest,
        "flipped.p7s",
        &format!("{IPE}/new_policy"),
        "Key was rejected by service",
    )
}

pub fn unsigned_refused_ebadmsg(guest: &mut Guest, _image: &Image) -> CaseResult {
    refused_with(
        guest,
        "unsigned.pol",
        &format!("{IPE}/new_policy"),
        "Bad message",
    )
}

pub fn update_not_higher_refused_estale(guest: &mut Guest, image: &Image) -> CaseResult {
    let update = format!("{IPE}/policies/{}/update", image.policy.name());
    refused_with(guest, "equal.p7s", &update, "Stale file handle")?;
    refused_with(guest, "lower.p7s", &update, "Stale file handle")
}

pub fn activating_lower_version_refused(guest: &mut Guest, image: &Image) -> CaseResult {
    let text = load(guest, "older-other.p7s", &format!("{IPE}/new_policy"))?;
    expect(text.is_empty(), || {
        format!("a lower-versioned policy with another name should load: {text:?}")
    })?;
    let older = format!("{IPE}/policies/{}-older/active", image.policy.name());
    let refusal = write_text(guest, "1", &older)?;
    let active = run(guest, &format!("cat {older}"))?;
    expect(
        refusal.contains("Invalid argument") && active.text.trim() == "0",
        || {
            format!(
                "activating a lower version was not refused with EINVAL: {refusal:?}, active={:?}",
                active.text
            )
        },
    )
}

pub fn deleting_active_refused_eperm(guest: &mut Guest, image: &Image) -> CaseResult {
    let refusal = write_text(
        guest,
        "1",
        &format!("{IPE}/policies/{}/delete", image.policy.name()),
    )?;
    expect(refusal.contains("Operation not permitted"), || {
        format!("deleting the active policy was not refused with EPERM: {refusal:?}")
    })
}

/// Hands a signed policy to the policy agent, as any service may, and returns its verdict.
fn through_the_agent(guest: &mut Guest, file: &str) -> Result<String, String> {
    const INBOX: &str = "/run/appliance/policy-updates";
    let result = format!("{INBOX}/{file}.result");
    let output = run(
        guest,
        &format!(
            "{PROBE} service /bin/cp {IN_GUEST}/{file} {INBOX}/{file} && \
             for i in $(seq 40); do [ -e {result} ] && break; sleep 0.25; done; cat {result}"
        ),
    )?;
    // The agent's own line on the console may come first.
    Ok(output
        .text
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// The one path for updates at run time: the agent, which alone holds `CAP_MAC_ADMIN`. It passes
/// on what the kernel decides: an update that is not higher is refused, a higher one applied.
pub fn agent_applies_only_higher_updates(guest: &mut Guest, image: &Image) -> CaseResult {
    let name = image.policy.name();
    let equal = through_the_agent(guest, "equal.p7s")?;
    expect(
        equal == "refused by the kernel: Stale file handle (os error 116)",
        || format!("the agent did not pass on the kernel's refusal of an equal version: {equal:?}"),
    )?;
    // Named `true`, so that busybox runs that applet.
    let before = run(guest, "cp /bin/busybox /tmp/true && /tmp/true 2>&1")?;
    expect(before.status == 126, || {
        format!("/tmp/true should be denied before the update: {before:?}")
    })?;
    let higher = bumped(image.policy.version());
    let verdict = through_the_agent(guest, "higher.p7s")?;
    expect(verdict == format!("updated {name} to {higher}"), || {
        format!("the agent did not apply the higher-versioned update: {verdict:?}")
    })?;
    let version = run(guest, &format!("cat {IPE}/policies/{name}/version"))?;
    expect(version.text.trim() == higher.to_string(), || {
        format!("the active version did not rise: {version:?}")
    })?;
    let after = run(guest, "/tmp/true")?;
    expect(after.status == 0, || {
        format!("/tmp/true should run after the update: {after:?}")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bumps_the_minor_version() {
        let bumped = |text: &str| super::bumped(text.parse().unwrap()).to_string();
        assert_eq!(bumped("0.1.0"), "0.2.0");
        assert_eq!(bumped("1.65535.3"), "2.0.0");
    }
}
