//! What a service may do. Every service runs with fewer capabilities than root has: the ones in
//! [`WITHHELD`] only where its line grants them (`caps=`), and with `caps=` exactly those. The
//! bounding set carries the limit across every `execve`, setuid programs included, so no
//! descendant of a service can get a withheld capability back.

use rustix::thread::CapabilitySet;

/// Every capability of Linux 6.12: `CAP_CHOWN` (0) to `CAP_CHECKPOINT_RESTORE` (40, its
/// `CAP_LAST_CAP`). rustix's `CapabilitySet::all()` has every bit set, which the kernel refuses.
pub const EVERY: CapabilitySet = CapabilitySet::from_bits_retain((1 << 41) - 1);

/// Capabilities that no service has unless its line names them. IPE's state (`enforce`,
/// policies) needs `CAP_MAC_ADMIN`; raw I/O and ptrace could change a verified process or the
/// kernel; BPF and perf could watch or steer the kernel. Lockdown and Yama refuse most of
/// these uses too: withholding them is the second wall.
pub const WITHHELD: CapabilitySet = CapabilitySet::MAC_ADMIN
    .union(CapabilitySet::MAC_OVERRIDE)
    .union(CapabilitySet::SYS_RAWIO)
    .union(CapabilitySet::SYS_PTRACE)
    .union(CapabilitySet::BPF)
    .union(CapabilitySet::PERFMON)
    .union(CapabilitySet::SETFCAP);

/// The capabilities a service may hold: all but the withheld ones, or exactly those granted.
pub fn allowed(granted: Option<CapabilitySet>) -> CapabilitySet {
    granted.unwrap_or(EVERY.difference(WITHHELD))
}

/// Parses `caps=`'s value: capability names as in capabilities(7), without `CAP_`, in any
/// case, comma separated; empty grants none, `all` every one (a development shell's).
pub fn parse_caps(value: &str) -> Result<CapabilitySet, String> {
    if value == "all" {
        return Ok(EVERY);
    }
    let mut set = CapabilitySet::empty();
    for name in value.split(',').filter(|name| !name.is_empty()) {
        let flag = CapabilitySet::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
            format!("{name:?} is not a capability; use names such as net_admin (capabilities(7), without CAP_)")
        })?;
        set |= flag;
    }
    Ok(set)
}

/// An account of `/etc/passwd`.
#[derive(Debug, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// A user name as the build's account files allow: lowercase letters, digits, `_` and `-`,
/// not starting with `-`, at most 32 bytes.
pub fn check_user_name(name: &str) -> Result<(), String> {
    let portable = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if name.is_empty() || name.len() > 32 || name.starts_with('-') || !portable {
        return Err("not a user name; use lowercase letters, digits, _ and -".into());
    }
    Ok(())
}

/// The account `name` in the text of `/etc/passwd` (`name:password:uid:gid:gecos:home:shell`).
pub fn find_account(passwd: &str, name: &str) -> Option<Account> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let [user, _, uid, gid, _, home, _] = fields[..] else {
            return None;
        };
        (user == name).then_some(Account {
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            home: home.to_owned(),
        })
    })
}

/// Becomes `uid`:`gid` with no supplementary groups, keeping exactly `caps` across the coming
/// `execve` (as ambient capabilities: a program that is not root keeps nothing else). Runs
/// between fork and exec, after [`limit_bounding_set`]: only system calls.
pub fn become_user(uid: u32, gid: u32, caps: CapabilitySet) -> std::io::Result<()> {
    use rustix::process::{Gid, Uid};
    use rustix::thread::{self, CapabilitySets};
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    thread::set_thread_groups(&[])?;
    thread::set_thread_res_gid(gid, gid, gid)?;
    thread::set_keep_capabilities(true)?;
    thread::set_thread_res_uid(uid, uid, uid)?;
    thread::set_capabilities(
        None,
        CapabilitySets {
            effective: caps,
            permitted: caps,
            inheritable: caps,
        },
    )?;
    for capability in caps.iter() {
        thread::configure_capability_in_ambient_set(capability, true)?;
    }
    Ok(())
}

/// Shrinks the calling process's bounding set to `allowed`. Runs between fork and exec: only
/// system calls, no allocation.
pub fn limit_bounding_set(allowed: CapabilitySet) -> std::io::Result<()> {
    for capability in EVERY.difference(allowed).iter() {
        rustix::thread::remove_capability_from_bounding_set(capability)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_any_case() {
        assert_eq!(
            parse_caps("net_admin,NET_BIND_SERVICE"),
            Ok(CapabilitySet::NET_ADMIN | CapabilitySet::NET_BIND_SERVICE)
        );
        assert_eq!(parse_caps(""), Ok(CapabilitySet::empty()));
        assert_eq!(parse_caps("all"), Ok(EVERY));
        assert!(EVERY.contains(CapabilitySet::CHECKPOINT_RESTORE | CapabilitySet::CHOWN));
        let error = parse_caps("net_admin,cap_sys_admin").unwrap_err();
        assert!(
            error.contains("\"cap_sys_admin\" is not a capability"),
            "{error}"
        );
    }

    #[test]
    fn services_lack_the_withheld_capabilities_unless_granted() {
        let default = allowed(None);
        assert!(!default.contains(CapabilitySet::MAC_ADMIN));
        assert!(default.contains(CapabilitySet::NET_ADMIN | CapabilitySet::SYS_ADMIN));
        assert_eq!(
            allowed(Some(CapabilitySet::MAC_ADMIN)),
            CapabilitySet::MAC_ADMIN
        );
    }

    /// The fault this caught: every bit of rustix's `all()`, dropped from the bounding set, made
    /// the kernel refuse with `EINVAL`, and the firewall's ruleset never loaded.
    #[test]
    fn a_child_keeps_exactly_the_granted_capabilities() {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", "grep CapBnd /proc/self/status"]);
        // SAFETY: only system calls between fork and exec.
        unsafe {
            command.pre_exec(|| limit_bounding_set(CapabilitySet::NET_ADMIN));
        }
        let output = command.output().expect("runs as root, like the builder");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        assert_eq!(text.trim(), "CapBnd:\t0000000000001000");
    }

    #[test]
    fn finds_accounts_by_name() {
        let passwd =
            "root:*:0:0:root:/root:/bin/sh\nfirewall:*:100:100::/nonexistent:/sbin/nologin\n";
        assert_eq!(
            find_account(passwd, "firewall"),
            Some(Account {
                uid: 100,
                gid: 100,
                home: "/nonexistent".into()
            })
        );
        assert_eq!(find_account(passwd, "fire"), None);
        assert!(check_user_name("net-fw_1").is_ok());
        assert!(check_user_name("Root").is_err() && check_user_name("-x").is_err());
    }

    #[test]
    fn a_child_that_becomes_a_user_keeps_its_grant_across_exec() {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new("/bin/sh");
        command.args(["-c", "id -u; grep -E 'Cap(Eff|Amb)' /proc/self/status"]);
        // SAFETY: only system calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                limit_bounding_set(CapabilitySet::NET_ADMIN)?;
                become_user(65534, 65534, CapabilitySet::NET_ADMIN)
            });
        }
        let output = command.output().expect("runs as root, like the builder");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            text.split_whitespace().collect::<Vec<_>>(),
            [
                "65534",
                "CapEff:",
                "0000000000001000",
                "CapAmb:",
                "0000000000001000"
            ]
        );
    }
}
