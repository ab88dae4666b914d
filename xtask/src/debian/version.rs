//! dpkg's version order (`deb-version(7)`): epoch, then upstream version, then Debian revision,
//! each compared the way `dpkg --compare-versions` does, `~` sorting before everything.

use std::cmp::Ordering;

/// Compares two Debian versions as dpkg does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a_epoch, a_upstream, a_revision) = split(a);
    let (b_epoch, b_upstream, b_revision) = split(b);
    a_epoch
        .cmp(&b_epoch)
        .then_with(|| compare_part(a_upstream, b_upstream))
        .then_with(|| compare_part(a_revision, b_revision))
}

/// `[epoch:]upstream[-revision]`; the revision starts after the last hyphen.
fn split(version: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match version.split_once(':') {
        // dpkg refuses a non-numeric epoch; the archive has none, so it counts as 0 here.
        Some((epoch, rest)) => (epoch.parse().unwrap_or(0), rest),
        None => (0, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// The weight of a non-digit character: `~` first, then the end of the part, then letters,
/// then everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating runs of non-digits (by [`weight`]) and digits (by value).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Tool;

    /// Pairs of every shape: epochs, revisions, `~`, `+`, letters, leading zeros, empty parts.
    const PAIRS: &[(&str, &str)] = &[
        ("1.0", "1.0"),
        ("1.0", "1.0-0"),
        ("1.0-1", "1.0"),
        ("1.0~rc1", "1.0"),
        ("1.0~rc1", "1.0~rc2"),
        ("1.0~~", "1.0~"),
        ("1.0~", "1.0"),
        ("1.0+b1", "1.0"),
        ("1.0a", "1.0"),
        ("1.0a", "1.0+"),
        ("1.0.1", "1.0a"),
        ("1:0.1", "2.0"),
        ("0:2.0", "2.0"),
        ("10:1", "9:99"),
        ("1.001", "1.1"),
        ("1.010", "1.9"),
        ("2.36-9+deb12u9", "2.36-9+deb12u10"),
        ("2.36-9+deb12u10", "2.36-9"),
        ("6.12.117-1~deb12u1", "6.12.117-1"),
        ("1:1.35.0-4+deb12u1+b1", "1:1.35.0-4+deb12u1"),
        ("1.95.0+dfsg1-2~bpo13+1", "1.95.0+dfsg1-2"),
        ("3.1-20221030-2", "3.1-20221030-1"),
        ("1.0-1-1", "1.0-1"),
        ("1.0.", "1.0"),
        ("1.0a", "1.0A"),
        ("1.0-a", "1.0-A"),
        ("1.2.3-4", "1.2.3-4.1"),
        ("0.0", "0"),
        ("2:6.2.1+dfsg1-1.1", "2:6.2.1+dfsg-1.1"),
        ("1.0-rc1", "1.0.rc1"),
        ("1.0~beta", "1.0~alpha"),
        ("12.2.0-14+deb12u1", "12.2.0-14"),
        ("1.18.0+ds-1", "1.18.0-1"),
        ("7.81.0-1ubuntu1", "7.81.0-1"),
        ("0.9.8+git20220101", "0.9.8"),
    ];

    fn dpkg_says(a: &str, op: &str, b: &str) -> bool {
        Tool::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .run()
            .is_ok()
    }

    #[test]
    fn orders_versions_exactly_as_dpkg_does() {
        for (a, b) in PAIRS.iter().flat_map(|&(a, b)| [(a, b), (b, a)]) {
            let wanted = if dpkg_says(a, "lt", b) {
                Ordering::Less
            } else if dpkg_says(a, "eq", b) {
                Ordering::Equal
            } else {
                assert!(dpkg_says(a, "gt", b), "dpkg orders neither way: {a} {b}");
                Ordering::Greater
            };
            assert_eq!(compare(a, b), wanted, "{a} vs {b}");
        }
    }

    #[test]
    fn tilde_sorts_before_the_end() {
        assert_eq!(compare("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1:1.0", "2.0"), Ordering::Greater);
    }
}
