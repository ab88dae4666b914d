//! A boot policy of more than 65 536 properties: more than the Rust IPE's parsed property store
//! could once hold in one kmalloc allocation (40 bytes each, capacity doubled to 131 072, so
//! 5 MiB against kmalloc's 4 MiB). Upstream allocates each rule and property on its own and
//! loads it; both IPEs must load it and enforce it. It has to be the compiled-in boot policy: a
//! signed policy is limited to 64 KiB (see ARCHITECTURE.md), so this runs the image's kernel
//! relinked with it, on the image's own disks.

use std::time::Duration;

use appliance_qemu::{Accel, Guest};
use ipe_lsm::Version;
use ipe_lsm::host::PolicyText;

use super::cases::{CaseResult, expect, run};
use crate::guests;
use crate::stages::image::Image;
use crate::stages::session::Session;

/// Digest rules put before the image's own, one property each.
const PROPERTIES: u32 = 65_537;

/// Its name and version: above any signed policy of the image, so the init cannot activate the
/// signed one over it, and the large policy must be the one that decides.
const NAME: &str = "large-boot";
const VERSION: Version = Version {
    major: 65535,
    minor: 0,
    revision: 0,
};

/// Both IPEs copy the boot policy's text with `kstrdup`, so it must stay below kmalloc's 4 MiB:
/// digests of 4 bytes keep each rule at 58 bytes (a sha256 digest would make it 113).
const KMALLOC_MAX: usize = 4 << 20;

/// The image's policy with the digest rules first; none matches any file.
fn policy(shipped: &PolicyText) -> PolicyText {
    shipped.renamed(NAME, VERSION).with_rules_first(
        (0..PROPERTIES)
            .map(|i| format!("op=EXECUTE dmverity_roothash=sha256:{i:08x} action=ALLOW")),
    )
}

/// Boots the image's kernel relinked with the large boot policy and checks that it is active,
/// whole, and enforcing: the image's own rules still allow the verity root, after 65 537 others,
/// and a copy of busybox on tmpfs is denied.
pub fn check(session: &Session, image: &Image, accel: Accel, boot_timeout: Duration) -> CaseResult {
    let policy = policy(&image.policy);
    let text = policy
        .render_checked()
        .map_err(|diagnostic| format!("the large policy is invalid: {diagnostic}"))?;
    expect(text.len() < KMALLOC_MAX, || {
        format!(
            "the large policy's {} bytes are too many for kstrdup",
            text.len()
        )
    })?;
    let mut machine = guests::machine(&image.boot, accel);
    machine.kernel = image
        .kernel_with_boot_policy(session, &policy)
        .map_err(|error| format!("relinking the kernel with the large policy: {error:#}"))?;
    let mut guest = guests::boot_to_shell(&machine, boot_timeout)
        .map_err(|error| format!("the guest did not boot: {error:#}"))?;

    let ipe = "/sys/kernel/security/ipe";
    let active = run(
        &mut guest,
        &format!(
            "for p in {ipe}/policies/*; do [ \"$(cat $p/active)\" = 1 ] && echo \"$(cat $p/name) $(cat $p/version)\"; done; true"
        ),
    )?;
    let expected = format!("{NAME} {VERSION}");
    if active.text.trim() != expected {
        return Err(format!(
            "active policy is {:?}, expected {expected:?}; the kernel said:\n{}",
            active.text.trim(),
            kernel_ipe_lines(&mut guest)
        ));
    }
    let loaded = run(&mut guest, &format!("wc -c < {ipe}/policies/{NAME}/policy"))?;
    expect(loaded.text.trim() == text.len().to_string(), || {
        format!(
            "{NAME}'s policy file holds {} bytes, the policy has {}",
            loaded.text.trim(),
            text.len()
        )
    })?;
    let allowed = run(&mut guest, "/bin/busybox echo allowed")?;
    expect(allowed.text.trim() == "allowed", || {
        format!("/bin/busybox from the verity root did not run: {allowed:?}")
    })?;
    let denied = run(
        &mut guest,
        "cp /bin/busybox /tmp/large-policy && /tmp/large-policy true 2>&1",
    )?;
    // 126 with strerror(EACCES): the kernel refused the exec, not the shell.
    expect(
        denied.status == 126 && denied.text.contains("Permission denied"),
        || format!("a copy of busybox on tmpfs was not denied with EACCES: {denied:?}"),
    )
}

/// Beyond upstream: a boot policy the Rust IPE cannot load stops the boot. One over kmalloc's
/// 4 MiB cannot even be copied (`kstrdup` fails, `ENOMEM`); upstream would then run with no
/// policy, allowing everything. The guest must print why and never reach the init.
pub fn rust_fails_closed(
    session: &Session,
    image: &Image,
    accel: Accel,
    boot_timeout: Duration,
) -> CaseResult {
    let rules = (KMALLOC_MAX / 100) as u32;
    let oversized = image.policy.renamed(NAME, VERSION).with_rules_first(
        (0..rules).map(|i| format!("op=EXECUTE dmverity_roothash=sha256:{i:064x} action=ALLOW")),
    );
    let mut machine = guests::machine(&image.boot, accel);
    machine.kernel = image
        .kernel_with_boot_policy(session, &oversized)
        .map_err(|error| format!("relinking the kernel with the oversized policy: {error:#}"))?;
    let mut guest = Guest::start(&machine).map_err(|error| error.to_string())?;
    let console = guest
        .wait_for_exit(boot_timeout)
        .map_err(|error| format!("the guest went on instead of stopping: {error}"))?;
    expect(
        console.contains("refusing to boot unenforced") && !console.contains(guests::BOOTED_MARKER),
        || format!("the kernel did not stop for its unloadable boot policy:\n{console}"),
    )
}

/// What the kernel logged about IPE, to say why the large policy is not the active one.
fn kernel_ipe_lines(guest: &mut Guest) -> String {
    run(guest, "dmesg | grep -e ipe -e WARNING | head -n 20")
        .map_or_else(|error| error, |output| output.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_policy_has_65537_properties_first_and_fits_kstrdup() {
        let mut shipped = PolicyText::new("fw", "0.1.0".parse().unwrap(), ipe_lsm::Action::Deny);
        shipped.rule("op=EXECUTE dmverity_roothash=sha256:aa action=ALLOW");
        let text = policy(&shipped).render_checked().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "policy_name=large-boot policy_version=65535.0.0");
        let digests = lines[2..]
            .iter()
            .take_while(|line| line.contains("dmverity_roothash=sha256:0"))
            .count();
        assert_eq!(digests, 65_537);
        assert_eq!(
            lines[2 + digests],
            "op=EXECUTE dmverity_roothash=sha256:aa action=ALLOW"
        );
        // With room for the image's own rules, which are a few lines.
        assert!(text.len() + 64 * 1024 < KMALLOC_MAX, "{} bytes", text.len());
    }
}
