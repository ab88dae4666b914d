//! The in-kernel suite `ipe-rust-parser`: the KUnit kernel runs every golden parser vector
//! through the Rust IPE's parser at boot, then powers off. Its KTAP must show each vector of
//! `ipe-lsm/vectors` passing, under its own name and in order, and no other.

// This crate reads only the vectors' names; the parser tests and the kernel read the rest.
#[allow(dead_code)]
#[path = "../../../ipe-lsm/vectors/mod.rs"]
mod vectors;

use std::time::Duration;

use appliance_qemu::{Accel, Guest, Machine};

use super::ktap;
use crate::stages::kunit::KunitKernel;

const SUITE: &str = "ipe-rust-parser";
/// KUnit's `KUNIT_PARAM_DESC_SIZE` less its NUL: longer names are cut there.
const PARAM_NAME_MAX: usize = 127;

/// Boots the KUnit kernel and checks its results; returns how many vectors passed.
pub fn run(kernel: &KunitKernel, accel: Accel, timeout: Duration) -> Result<usize, String> {
    let machine = Machine {
        kernel: kernel.bzimage.clone(),
        disks: Vec::new(),
        first_disk_writable: false,
        cmdline: kernel.cmdline.clone(),
        initrd: None,
        memory_mib: 512,
        accel,
        network: None,
        firmware: None,
    };
    let mut guest = Guest::start(&machine).map_err(|error| error.to_string())?;
    let console = guest
        .wait_for_exit(timeout)
        .map_err(|error| error.to_string())?;
    check(&console, &expected_vectors())
}

/// The vectors' names as the kernel prints them.
fn expected_vectors() -> Vec<&'static str> {
    vectors::upstream::UPSTREAM_CASES
        .iter()
        .chain(vectors::targeted::TARGETED_CASES)
        .map(|case| case.why.get(..PARAM_NAME_MAX).unwrap_or(case.why))
        .collect()
}

/// Checks the KUnit kernel's console against the vectors' names; returns how many passed.
fn check(console: &str, expected: &[&str]) -> Result<usize, String> {
    let results = ktap::parse(console);
    let Some(suite) = results.iter().find(|r| r.depth == 0 && r.name == SUITE) else {
        let tail: Vec<&str> = console.lines().rev().take(15).collect();
        return Err(format!(
            "no KTAP result for the suite {SUITE}; is CONFIG_SECURITY_IPE_RUST_KUNIT_TEST in \
             ipe-lsm/kernel/kunit.config? The console's last lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    };
    let vectors: Vec<&ktap::TestResult> = results.iter().filter(|r| r.depth == 2).collect();
    let failed: Vec<String> = vectors
        .iter()
        .filter(|r| !r.ok || r.name.contains("# SKIP"))
        .map(|r| format!("{}\n  {}", r.name, r.details.join("\n  ")))
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "{} of {} vectors failed in the kernel:\n{}",
            failed.len(),
            vectors.len(),
            failed.join("\n")
        ));
    }
    let names: Vec<&str> = vectors.iter().map(|r| r.name.as_str()).collect();
    if names != expected {
        let at = names
            .iter()
            .zip(expected)
            .position(|(kernel, host)| kernel != host)
            .unwrap_or(names.len().min(expected.len()));
        return Err(format!(
            "the kernel ran {} vectors and ipe-lsm/vectors has {}; they differ from vector {at}: \
             kernel {:?}, host {:?}. Is the kernel built from this checkout?",
            names.len(),
            expected.len(),
            names.get(at),
            expected.get(at)
        ));
    }
    if !suite.ok {
        return Err(format!(
            "the suite failed although every vector passed:\n{}",
            suite.details.join("\n")
        ));
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(results: &[(bool, &str)]) -> String {
        let mut text = String::from("KTAP version 1\n1..1\n    # Subtest: ipe-rust-parser\n");
        for (i, (ok, name)) in results.iter().enumerate() {
            let verdict = if *ok { "ok" } else { "not ok" };
            text.push_str(&format!("        {verdict} {} {name}\n", i + 1));
        }
        let all = results.iter().all(|(ok, _)| *ok);
        let verdict = if all { "ok" } else { "not ok" };
        text.push_str(&format!(
            "    {verdict} 1 ipe_rust_parser_vector\n{verdict} 1 ipe-rust-parser\n"
        ));
        text
    }

    #[test]
    fn passes_when_every_vector_passes_in_order() {
        let text = console(&[(true, "basic"), (true, "trailing comment")]);
        assert_eq!(check(&text, &["basic", "trailing comment"]), Ok(2));
    }

    #[test]
    fn names_a_failing_vector() {
        let text = console(&[(true, "basic"), (false, "trailing comment")]);
        let error = check(&text, &["basic", "trailing comment"]).unwrap_err();
        assert!(error.starts_with("1 of 2 vectors failed"), "{error}");
        assert!(error.contains("trailing comment"), "{error}");
    }

    #[test]
    fn a_missing_vector_fails() {
        let text = console(&[(true, "basic")]);
        let error = check(&text, &["basic", "trailing comment"]).unwrap_err();
        assert!(error.contains("ran 1 vectors"), "{error}");
    }

    #[test]
    fn a_kernel_that_never_ran_the_suite_fails() {
        let error = check("Kernel panic - not syncing\n", &["basic"]).unwrap_err();
        assert!(error.contains("no KTAP result"), "{error}");
    }

    #[test]
    fn the_host_knows_every_vector() {
        let names = expected_vectors();
        assert_eq!(names.len(), 182);
        assert!(names.iter().all(|name| !name.is_empty()));
    }
}
