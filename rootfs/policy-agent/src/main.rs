//! `policy-agent`: the one way to change IPE's policy on a running appliance. The init starts it
//! with `CAP_MAC_ADMIN`, which it withholds from every other process. It watches [`INBOX`] for
//! signed policies (`*.p7s`) and hands each to the kernel as an update of the active policy:
//! the kernel checks the signature against its trusted keys and that the version is higher.
//! The outcome is written next to the file as `<file>.result`, and the file is removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

const IPE: &str = "/sys/kernel/security/ipe";
const INBOX: &str = "/run/appliance/policy-updates";
/// The kernel's ASN.1 decoder takes at most this much PKCS#7; larger files are refused unread.
const MAX_SIGNED: u64 = 65535;

fn main() {
    if let Err(error) = std::fs::create_dir_all(INBOX) {
        eprintln!("policy-agent: {INBOX}: {error}");
        std::process::exit(1);
    }
    // Silent until an update comes: the console is shared, and nothing has happened yet.
    loop {
        for file in pending(Path::new(INBOX)) {
            let outcome = apply(&file, Path::new(IPE));
            eprintln!("policy-agent: {}: {outcome}", file.display());
            report(&file, &outcome);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The signed policies waiting in `inbox`, in name order.
fn pending(inbox: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(inbox)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "p7s"))
        .collect();
    files.sort();
    files
}

/// Updates the active policy under `ipe` with the signed policy in `file`; what happened, in
/// words.
fn apply(file: &Path, ipe: &Path) -> String {
    let Some(active) = active_policy(ipe) else {
        return "refused: no active policy to update".to_owned();
    };
    let signed = match std::fs::metadata(file) {
        Ok(meta) if meta.len() > MAX_SIGNED => {
            return format!(
                "refused: {} bytes, more than the kernel takes ({MAX_SIGNED})",
                meta.len()
            );
        }
        Ok(_) => std::fs::read(file),
        Err(error) => Err(error),
    };
    let signed = match signed {
        Ok(signed) => signed,
        Err(error) => return format!("refused: reading it: {error}"),
    };
    let policy = ipe.join("policies").join(&active);
    // One write: IPE parses each write to `update` as a whole policy.
    match std::fs::write(policy.join("update"), &signed) {
        Ok(()) => {
            let version = std::fs::read_to_string(policy.join("version")).unwrap_or_default();
            format!("updated {active} to {}", version.trim())
        }
        Err(error) => format!("refused by the kernel: {error}"),
    }
}

/// The name of the policy whose `active` file reads 1.
fn active_policy(ipe: &Path) -> Option<String> {
    std::fs::read_dir(ipe.join("policies"))
        .ok()?
        .flatten()
        .find(|entry| {
            std::fs::read_to_string(entry.path().join("active")).is_ok_and(|a| a.trim() == "1")
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
}

/// Writes the outcome beside the file, whole or not at all, and removes the file.
fn report(file: &Path, outcome: &str) {
    let mut result = file.as_os_str().to_owned();
    result.push(".result");
    let mut staged = result.clone();
    staged.push(".tmp");
    let written = std::fs::write(&staged, format!("{outcome}\n"))
        .and_then(|()| std::fs::rename(&staged, &result))
        .and_then(|()| std::fs::remove_file(file));
    if let Err(error) = written {
        eprintln!("policy-agent: {}: {error}", file.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for IPE's securityfs: plain files, so `update` accepts any write.
    fn fake_ipe(active: &str) -> tempfile::TempDir {
        let ipe = tempfile::tempdir().unwrap();
        for (name, flag) in [("boot", "0"), (active, "1")] {
            let dir = ipe.path().join("policies").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("active"), flag).unwrap();
            std::fs::write(dir.join("version"), "0.2.0\n").unwrap();
        }
        ipe
    }

    #[test]
    fn updates_the_active_policy_and_reports() {
        let ipe = fake_ipe("firewall");
        let inbox = tempfile::tempdir().unwrap();
        let file = inbox.path().join("new.p7s");
        std::fs::write(&file, b"signed").unwrap();
        std::fs::write(inbox.path().join("notes.txt"), b"ignored").unwrap();
        assert_eq!(pending(inbox.path()), std::slice::from_ref(&file));
        let outcome = apply(&file, ipe.path());
        assert_eq!(outcome, "updated firewall to 0.2.0");
        let update = ipe.path().join("policies/firewall/update");
        assert_eq!(std::fs::read(update).unwrap(), b"signed");
        report(&file, &outcome);
        assert!(!file.exists());
        let result = std::fs::read_to_string(inbox.path().join("new.p7s.result")).unwrap();
        assert_eq!(result, "updated firewall to 0.2.0\n");
    }

    #[test]
    fn refuses_files_larger_than_the_kernel_takes() {
        let ipe = fake_ipe("firewall");
        let inbox = tempfile::tempdir().unwrap();
        let file = inbox.path().join("big.p7s");
        std::fs::write(&file, vec![0; MAX_SIGNED as usize + 1]).unwrap();
        assert!(apply(&file, ipe.path()).starts_with("refused: 65536 bytes"));
    }
}
