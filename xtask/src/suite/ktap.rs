//! KTAP as KUnit prints it on the kernel console: every result line, with its nesting and the
//! lines printed before it (where KUnit puts a failure's explanation). Pure.

/// One `ok N name` or `not ok N name` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// 0 for a suite, 1 for its cases, 2 for a parameterised case's parameters.
    pub depth: usize,
    pub ok: bool,
    /// The text after the number: the test's name, then any `# SKIP` directive.
    pub name: String,
    /// The lines since the previous result, without KTAP's own headers.
    pub details: Vec<String>,
}

/// KUnit indents each nesting level by this many spaces.
const INDENT: usize = 4;

/// The results in the order printed. Other console lines end up in `details`.
pub fn parse(console: &str) -> Vec<TestResult> {
    let mut results = Vec::new();
    let mut details = Vec::new();
    for raw in console.lines() {
        let line = strip_timestamp(raw);
        let text = line.trim_start();
        let depth = (line.len() - text.len()) / INDENT;
        let result = text
            .strip_prefix("ok ")
            .map(|rest| (true, rest))
            .or_else(|| text.strip_prefix("not ok ").map(|rest| (false, rest)));
        match result.and_then(|(ok, rest)| Some((ok, numbered(rest)?))) {
            Some((ok, name)) => results.push(TestResult {
                depth,
                ok,
                name: name.to_owned(),
                details: std::mem::take(&mut details),
            }),
            None if is_header(text) => {}
            None => details.push(text.to_owned()),
        }
    }
    results
}

/// `N name` → `name`; `None` when there is no test number.
fn numbered(rest: &str) -> Option<&str> {
    let (number, name) = rest.split_once(' ').unwrap_or((rest, ""));
    number.parse::<u32>().ok().map(|_| name)
}

fn is_header(text: &str) -> bool {
    text.is_empty()
        || text.starts_with("KTAP version")
        || text.starts_with("# Subtest:")
        || text.starts_with("# module:")
        || text
            .strip_prefix("1..")
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

/// printk's `[    1.264041] ` prefix, when `CONFIG_PRINTK_TIME` adds one.
fn strip_timestamp(line: &str) -> &str {
    match line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((time, rest)) if time.trim().parse::<f64>().is_ok() => rest,
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "\
[    1.2] Run /sbin/init as init process
[    1.260041] KTAP version 1
[    1.264041] 1..1
[    1.264041]     KTAP version 1
[    1.264041]     # Subtest: ipe-rust-parser
[    1.264041]     # module: kunit
[    1.264041]     1..1
[    1.264041]         KTAP version 1
[    1.264041]         # Subtest: ipe_rust_parser_vector
[    1.264041]         ok 1 basic
[    1.264041]     # ipe_rust_parser_vector: EXPECTATION FAILED at security/ipe_rust/kunit.c:42
[    1.264041]     Expected rc == expected, but
[    1.264041]         not ok 2 # inside name starts a comment
[    1.264041]         ok 3 skipped one # SKIP not built
[    1.272041]     # ipe_rust_parser_vector: pass:2 fail:1 skip:0 total:3
[    1.272041]     not ok 1 ipe_rust_parser_vector
[    1.272041] not ok 1 ipe-rust-parser
";

    #[test]
    fn reads_nesting_names_and_outcomes() {
        let results = parse(CONSOLE);
        let summary: Vec<_> = results
            .iter()
            .map(|r| (r.depth, r.ok, r.name.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (2, true, "basic"),
                (2, false, "# inside name starts a comment"),
                (2, true, "skipped one # SKIP not built"),
                (1, false, "ipe_rust_parser_vector"),
                (0, false, "ipe-rust-parser"),
            ]
        );
    }

    #[test]
    fn keeps_the_explanation_before_a_failure() {
        let results = parse(CONSOLE);
        assert_eq!(
            results[1].details,
            [
                "# ipe_rust_parser_vector: EXPECTATION FAILED at security/ipe_rust/kunit.c:42",
                "Expected rc == expected, but"
            ]
        );
        assert_eq!(results[0].details, ["Run /sbin/init as init process"]);
    }

    #[test]
    fn lines_without_a_test_number_are_not_results() {
        let results = parse("ok then\n[ 0.1] not ok at all\nok 7\n");
        assert_eq!(results.len(), 1);
        assert_eq!((results[0].name.as_str(), results[0].depth), ("", 0));
        assert_eq!(results[0].details, ["ok then", "not ok at all"]);
    }
}
