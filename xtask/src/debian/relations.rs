//! Relation fields (`Depends`, `Pre-Depends`, `Provides`, `deb-control(5)`):
//! `a (>= 1.2) | b:any, c [amd64]`: groups separated by commas, alternatives by `|`.

use std::cmp::Ordering;

use super::version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Less,
    LessEqual,
    Equal,
    GreaterEqual,
    Greater,
}

impl Op {
    fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "<<" => Op::Less,
            // `<` and `>` are obsolete spellings of `<=` and `>=`.
            "<=" | "<" => Op::LessEqual,
            "=" => Op::Equal,
            ">=" | ">" => Op::GreaterEqual,
            ">>" => Op::Greater,
            _ => return None,
        })
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Less => "<<",
            Op::LessEqual => "<=",
            Op::Equal => "=",
            Op::GreaterEqual => ">=",
            Op::Greater => ">>",
        }
    }

    /// Whether `version` stands in this relation to `wanted`.
    pub fn holds(self, version: &str, wanted: &str) -> bool {
        let order = version::compare(version, wanted);
        match self {
            Op::Less => order == Ordering::Less,
            Op::LessEqual => order != Ordering::Greater,
            Op::Equal => order == Ordering::Equal,
            Op::GreaterEqual => order != Ordering::Less,
            Op::Greater => order == Ordering::Greater,
        }
    }
}

/// One alternative: a package name, maybe with a version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub constraint: Option<(Op, String)>,
}

/// Alternatives, of which one is enough.
pub type Group = Vec<Relation>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot parse the relation {text:?}: {problem}")]
pub struct RelationError {
    pub text: String,
    pub problem: &'static str,
}

/// Parses a relation field for `arch`: alternatives restricted to other architectures
/// (`[!amd64]`) are dropped, and so are groups left empty. Architecture qualifiers (`:any`,
/// `:native`) are dropped too: only one architecture is installed, so any of them is it.
pub fn parse(field: &str, arch: &str) -> Result<Vec<Group>, RelationError> {
    let mut groups = Vec::new();
    for group_text in field.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        let mut group = Vec::new();
        for text in group_text.split('|').map(str::trim) {
            if let Some(relation) = parse_one(text, arch)? {
                group.push(relation);
            }
        }
        if !group.is_empty() {
            groups.push(group);
        }
    }
    Ok(groups)
}

fn parse_one(text: &str, arch: &str) -> Result<Option<Relation>, RelationError> {
    let error = |problem| RelationError {
        text: text.to_owned(),
        problem,
    };
    let name_end = text
        .find(|c: char| c.is_whitespace() || "([<".contains(c))
        .unwrap_or(text.len());
    let (name, mut rest) = text.split_at(name_end);
    let name = name.split(':').next().unwrap_or(name);
    if name.is_empty() {
        return Err(error("no package name"));
    }
    let mut constraint = None;
    let mut applies = true;
    loop {
        rest = rest.trim_start();
        let Some(open) = rest.chars().next() else {
            break;
        };
        let close = match open {
            '(' => ')',
            '[' => ']',
            // Build profiles (`<!nocheck>`) only occur in source packages; they restrict nothing
            // in a binary index.
            '<' => '>',
            _ => return Err(error("unexpected text after the package name")),
        };
        let end = rest.find(close).ok_or_else(|| error("unclosed bracket"))?;
        let inner = rest[1..end].trim();
        rest = &rest[end + 1..];
        match open {
            '(' => {
                let op_end = inner
                    .find(|c: char| !"<>=".contains(c))
                    .unwrap_or(inner.len());
                let op = Op::parse(&inner[..op_end]).ok_or_else(|| error("unknown operator"))?;
                let wanted = inner[op_end..].trim();
                if wanted.is_empty() {
                    return Err(error("no version after the operator"));
                }
                constraint = Some((op, wanted.to_owned()));
            }
            '[' => applies = arch_list_includes(inner, arch),
            _ => {}
        }
    }
    Ok(applies.then(|| Relation {
        name: name.to_owned(),
        constraint,
    }))
}

/// `amd64 arm64` or `!i386 !armel`: whether the list admits `arch`.
fn arch_list_includes(list: &str, arch: &str) -> bool {
    let matches = |pattern: &str| {
        pattern == arch
            || pattern == "any"
            || pattern == format!("linux-{arch}")
            || pattern == "linux-any"
            || pattern == format!("any-{arch}")
    };
    let words: Vec<&str> = list.split_whitespace().collect();
    if words.iter().all(|word| word.starts_with('!')) {
        !words.iter().any(|word| matches(&word[1..]))
    } else {
        words.iter().any(|word| matches(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation(name: &str, constraint: Option<(Op, &str)>) -> Relation {
        Relation {
            name: name.into(),
            constraint: constraint.map(|(op, v)| (op, v.into())),
        }
    }

    #[test]
    fn parses_groups_alternatives_constraints_and_qualifiers() {
        let groups = parse(
            "libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any,perl:any (<< 5.37~)",
            "amd64",
        )
        .unwrap();
        assert_eq!(
            groups,
            vec![
                vec![relation("libc6", Some((Op::GreaterEqual, "2.34")))],
                vec![
                    relation("debconf", Some((Op::GreaterEqual, "0.5"))),
                    relation("debconf-2.0", None)
                ],
                vec![relation("python3", None)],
                vec![relation("perl", Some((Op::Less, "5.37~")))],
            ]
        );
    }

    #[test]
    fn drops_alternatives_for_other_architectures() {
        let groups = parse(
            "a [i386] | b [amd64], c [!amd64], d [!i386] <!nocheck>",
            "amd64",
        )
        .unwrap();
        assert_eq!(
            groups,
            vec![vec![relation("b", None)], vec![relation("d", None)]]
        );
    }

    #[test]
    fn obsolete_operators_mean_or_equal() {
        let groups = parse("a (< 2), b (>1), c(=1.0-1)", "amd64").unwrap();
        assert_eq!(groups[0][0].constraint, Some((Op::LessEqual, "2".into())));
        assert_eq!(
            groups[1][0].constraint,
            Some((Op::GreaterEqual, "1".into()))
        );
        assert_eq!(groups[2][0].constraint, Some((Op::Equal, "1.0-1".into())));
    }

    #[test]
    fn rejects_what_is_not_a_relation() {
        for bad in ["a (>= 1", "a (~ 1)", "a (>=)", "| b", "a junk"] {
            assert!(parse(bad, "amd64").is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn operators_follow_dpkg_order() {
        assert!(Op::GreaterEqual.holds("2.36-9+deb12u10", "2.34"));
        assert!(Op::Less.holds("5.36.0-7", "5.37~"));
        assert!(!Op::Greater.holds("1:1.35.0", "1:1.35.0"));
        assert!(Op::Greater.holds("1:1.35.0-4", "1:1.35.0"));
    }
}
