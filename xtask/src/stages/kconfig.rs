//! Kconfig fragments: what was asked for, and whether `make olddefconfig` kept it. Pure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One `CONFIG_X=value` (or `# CONFIG_X is not set`, as value `n`) and where it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub symbol: String,
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
}

/// Parses a fragment; a later request for the same symbol replaces an earlier one.
pub fn parse_fragment(file: &Path, text: &str) -> Result<Vec<Request>, String> {
    let mut requests = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let request = |symbol: &str, value: &str| Request {
            symbol: symbol.to_owned(),
            value: value.to_owned(),
            file: file.to_path_buf(),
            line: index + 1,
        };
        if let Some(symbol) = line
            .strip_prefix("# CONFIG_")
            .and_then(|rest| rest.strip_suffix(" is not set"))
        {
            requests.push(request(symbol, "n"));
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        } else if let Some((symbol, value)) = line
            .strip_prefix("CONFIG_")
            .and_then(|rest| rest.split_once('='))
        {
            if symbol.is_empty()
                || !symbol
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(format!(
                    "{}:{}: `{raw}` is not a Kconfig symbol; write CONFIG_NAME=value",
                    file.display(),
                    index + 1
                ));
            }
            requests.push(request(symbol, value));
        } else {
            return Err(format!(
                "{}:{}: `{raw}` is neither `CONFIG_NAME=value` nor `# CONFIG_NAME is not set`",
                file.display(),
                index + 1
            ));
        }
    }
    Ok(requests)
}

/// Symbol → value of a complete `.config`; unset symbols are absent.
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("CONFIG_")?.split_once('='))
        .map(|(symbol, value)| (symbol.to_owned(), value.to_owned()))
        .collect()
}

/// The requests whose value did not survive, the last request per symbol winning.
pub fn dropped<'a>(requests: &'a [Request], config: &BTreeMap<String, String>) -> Vec<&'a Request> {
    let mut last: BTreeMap<&str, &Request> = BTreeMap::new();
    for request in requests {
        last.insert(&request.symbol, request);
    }
    last.into_values()
        .filter(|request| {
            let actual = config.get(&request.symbol).map_or("n", String::as_str);
            actual != request.value
        })
        .collect()
}

/// The `depends on` expressions of each symbol, gathered from Kconfig file texts.
pub fn dependencies(kconfig_texts: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for text in kconfig_texts {
        let mut current: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim();
            let mut words = trimmed.split_whitespace();
            match words.next() {
                Some("config" | "menuconfig") => current = words.next().map(str::to_owned),
                Some(
                    "choice" | "endchoice" | "menu" | "endmenu" | "if" | "endif" | "source"
                    | "comment",
                ) => current = None,
                _ => {
                    if let (Some(symbol), Some(expr)) =
                        (&current, trimmed.strip_prefix("depends on "))
                    {
                        deps.entry(symbol.clone())
                            .or_default()
                            .push(expr.trim().to_owned());
                    }
                }
            }
        }
    }
    deps
}

/// Explains why `symbol` is off: its unmet dependencies, followed one level further.
pub fn explain(
    symbol: &str,
    deps: &BTreeMap<String, Vec<String>>,
    config: &BTreeMap<String, String>,
) -> String {
    let unmet = |symbol: &str| -> Vec<String> {
        let mut found: Vec<String> = deps
            .get(symbol)
            .into_iter()
            .flatten()
            .flat_map(|expr| symbols_in(expr))
            .filter(|dep| !matches!(config.get(dep).map(String::as_str), Some("y" | "m")))
            .collect();
        found.sort();
        found.dedup();
        found
    };
    let direct = unmet(symbol);
    if direct.is_empty() {
        return match deps.get(symbol) {
            Some(exprs) => format!(
                "its dependencies ({}) look met; check for a conflicting `select` or choice",
                exprs.join(" && ")
            ),
            None => "no such symbol in this kernel's Kconfig files: check its spelling".to_owned(),
        };
    }
    let parts: Vec<String> = direct
        .iter()
        .map(|dep| match unmet(dep).as_slice() {
            [] => format!("CONFIG_{dep}"),
            deeper => format!(
                "CONFIG_{dep} (which needs {})",
                deeper
                    .iter()
                    .map(|d| format!("CONFIG_{d}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    format!(
        "unmet dependencies: {}; add them to a fragment",
        parts.join(", ")
    )
}

fn symbols_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            !word.is_empty()
                && word.bytes().any(|b| b.is_ascii_uppercase())
                && word
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> BTreeMap<String, String> {
        parse_config(text)
    }

    #[test]
    fn parses_set_and_unset_requests() {
        let requests = parse_fragment(
            Path::new("f.config"),
            "# a comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n",
        )
        .unwrap();
        let pairs: Vec<_> = requests
            .iter()
            .map(|r| (r.symbol.as_str(), r.value.as_str(), r.line))
            .collect();
        assert_eq!(pairs, [("A", "y", 2), ("B", "n", 3), ("C", "\"x y\"", 4)]);
    }

    #[test]
    fn a_malformed_line_is_named() {
        let error = parse_fragment(Path::new("f.config"), "CONFIG_A=y\nSECURITY=y\n").unwrap_err();
        assert!(error.starts_with("f.config:2:"), "{error}");
    }

    #[test]
    fn finds_dropped_options_and_honours_the_last_request() {
        let requests = parse_fragment(
            Path::new("f"),
            "CONFIG_A=y\nCONFIG_B=y\nCONFIG_A=n\n# CONFIG_C is not set\n",
        )
        .unwrap();
        let final_config = config("CONFIG_B=y\nCONFIG_C=y\n");
        let symbols: Vec<_> = dropped(&requests, &final_config)
            .iter()
            .map(|r| r.symbol.as_str())
            .collect();
        assert_eq!(symbols, ["C"]);
    }

    #[test]
    fn explains_a_chain_of_unmet_dependencies() {
        let kconfig = "config SECURITY_IPE\n\tbool \"IPE\"\n\tdepends on SECURITY && SECURITYFS\n\tdepends on AUDIT\nconfig AUDIT\n\tbool\n\tdepends on NET\n".to_owned();
        let deps = dependencies(&[kconfig]);
        let final_config = config("CONFIG_SECURITY=y\nCONFIG_SECURITYFS=y\n");
        let text = explain("SECURITY_IPE", &deps, &final_config);
        assert_eq!(
            text,
            "unmet dependencies: CONFIG_AUDIT (which needs CONFIG_NET); add them to a fragment"
        );
    }

    #[test]
    fn an_unknown_symbol_is_called_a_typo() {
        let deps = dependencies(&["config A\n\tbool\n".to_owned()]);
        assert!(explain("SECURTY", &deps, &BTreeMap::new()).contains("spelling"));
    }
}
