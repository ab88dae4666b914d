//! Private apt configurations. Pure: derives the mirrors from the system's sources and writes
//! the text of our own sources lists, so that backports suites are used for one command only
//! and `/etc/apt` stays as it is.

/// The archive and security mirrors that the system's apt already uses.
#[derive(Debug, PartialEq, Eq)]
pub struct Mirrors {
    pub archive: String,
    pub security: String,
}

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Finds the mirrors serving `bookworm` and `bookworm-security` in one-line (`sources.list`) or
/// deb822 (`*.sources`) text.
pub fn find_mirrors(sources: &[String]) -> Option<Mirrors> {
    let mut archive = None;
    let mut security = None;
    for text in sources {
        for (uri, suite) in uri_suite_pairs(text) {
            match suite.as_str() {
                "bookworm" => archive = archive.or(Some(uri)),
                "bookworm-security" => security = security.or(Some(uri)),
                _ => {}
            }
        }
    }
    Some(Mirrors {
        archive: archive?,
        security: security?,
    })
}

fn uri_suite_pairs(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    // deb822: paragraphs of `Key: value` lines.
    for paragraph in text.split("\n\n") {
        let field = |name: &str| {
            paragraph.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        if let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) {
            for uri in uris.split_whitespace() {
                for suite in suites.split_whitespace() {
                    pairs.push((uri.trim_end_matches('/').to_owned(), suite.to_owned()));
                }
            }
        }
    }
    // One-line: `deb [options] uri suite components...`.
    for line in text.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.next() != Some("deb") {
            continue;
        }
        if words.peek().is_some_and(|word| word.starts_with('[')) {
            for word in words.by_ref() {
                if word.ends_with(']') {
                    break;
                }
            }
        }
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            pairs.push((uri.trim_end_matches('/').to_owned(), suite.to_owned()));
        }
    }
    pairs
}

/// Which suites a private configuration sees.
#[derive(Debug, Clone, Copy)]
pub enum Profile {
    /// Bookworm with its updates, security and backports: for installing host tools.
    Host,
    /// Host plus trixie-backports: for downloading pinned inputs, never for installing.
    Pinned,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Host => "host",
            Profile::Pinned => "pinned",
        }
    }
}

pub fn sources_list(mirrors: &Mirrors, profile: Profile) -> String {
    let mut suites = vec![
        (&mirrors.archive, "bookworm"),
        (&mirrors.archive, "bookworm-updates"),
        (&mirrors.archive, "bookworm-backports"),
        (&mirrors.security, "bookworm-security"),
    ];
    if let Profile::Pinned = profile {
        suites.push((&mirrors.archive, "trixie-backports"));
    }
    suites
        .into_iter()
        .map(|(uri, suite)| format!("deb [signed-by={KEYRING}] {uri} {suite} main\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mirrors_in_deb822() {
        let text = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security/\nSuites: bookworm-security\nComponents: main\n";
        let mirrors = find_mirrors(&[text.to_owned()]).unwrap();
        assert_eq!(mirrors.archive, "http://mirror.example/debian");
        assert_eq!(mirrors.security, "http://mirror.example/debian-security");
    }

    #[test]
    fn finds_mirrors_in_one_line_sources() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bookworm main\ndeb http://s.example/debian-security bookworm-security main\n";
        let mirrors = find_mirrors(&[text.to_owned()]).unwrap();
        assert_eq!(mirrors.archive, "http://a.example/debian");
        assert_eq!(mirrors.security, "http://s.example/debian-security");
    }

    #[test]
    fn no_bookworm_means_no_mirrors() {
        assert_eq!(
            find_mirrors(&["deb http://a.example/debian trixie main\n".to_owned()]),
            None
        );
    }

    #[test]
    fn only_the_pinned_profile_sees_trixie_backports() {
        let mirrors = Mirrors {
            archive: "http://a".into(),
            security: "http://s".into(),
        };
        assert!(!sources_list(&mirrors, Profile::Host).contains("trixie"));
        let pinned = sources_list(&mirrors, Profile::Pinned);
        assert!(pinned.contains("http://a trixie-backports main"));
        assert!(pinned.contains("http://s bookworm-security main"));
    }
}
