//! Which files of the Debian packages an image leaves out: documentation, manual pages and
//! locales by default, and what each layer's `[packages] exclude` adds. Copyright files always
//! ship. Pure: paths in, verdicts out.

/// Left out of every image: nothing on an appliance reads them.
pub const DEFAULT_EXCLUDE: &[&str] = &[
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/bug",
];

/// Where the exclusions that are not a layer's come from, in messages.
pub const DEFAULT_ORIGIN: &str = "the default exclusions";

/// A `/`-separated pattern relative to the image's root: `*` and `?` match within a name, `**`
/// as a whole name matches any number of folders. A pattern that matches a folder leaves out
/// everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    names: Vec<String>,
}

impl Glob {
    /// Refuses what would not name paths inside the image plainly, saying why.
    pub fn parse(text: &str) -> Result<Glob, String> {
        let problem = if text.is_empty() {
            Some("it is empty")
        } else if text.starts_with('/') {
            Some("it must be relative to the image's root, without a leading `/`")
        } else if text.chars().any(|c| c.is_control() || c == '\\') {
            Some("it holds a control character or a backslash")
        } else if text.split('/').any(|name| matches!(name, "" | "." | "..")) {
            Some("a name in it is empty, `.` or `..`")
        } else if text
            .split('/')
            .any(|name| name != "**" && name.contains("**"))
        {
            Some("`**` must be a whole name, as in `usr/share/**/*.gz`")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(format!(
                "{text:?} is not an exclusion pattern: {problem}; write a path such as \
                 \"usr/share/zoneinfo\" or \"usr/lib/*/gconv/**\""
            )),
            None => Ok(Glob {
                text: text.to_owned(),
                names: text.split('/').map(str::to_owned).collect(),
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern matches `path` or one of the folders it is in.
    pub fn covers(&self, path: &str) -> bool {
        let names: Vec<&str> = path.split('/').collect();
        (1..=names.len()).any(|depth| self.matches(&names[..depth]))
    }

    /// Names against names, `**` spanning any number of them: a table over (pattern, path)
    /// prefixes, so that hostile patterns stay linear in their length times the path's.
    fn matches(&self, names: &[&str]) -> bool {
        let mut reach = vec![false; names.len() + 1];
        reach[0] = true;
        for pattern in &self.names {
            let mut next = vec![false; names.len() + 1];
            for at in 0..=names.len() {
                if !reach[at] {
                    continue;
                }
                if pattern == "**" {
                    next[at..].iter_mut().for_each(|cell| *cell = true);
                    break;
                }
                if at < names.len() && name_matches(pattern, names[at]) {
                    next[at + 1] = true;
                }
            }
            reach = next;
        }
        reach[names.len()]
    }
}

/// `*` and `?` within one name, greedy with backtracking to the last `*`: linear in practice.
fn name_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), name.chars().collect());
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// One pattern and who asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    pub glob: Glob,
    /// [`DEFAULT_ORIGIN`] or "layer `<name>`".
    pub origin: String,
}

/// The default exclusions, then the layers' in layer order.
pub fn exclusions(layers: &[(String, String)]) -> Result<Vec<Exclusion>, String> {
    let defaults = DEFAULT_EXCLUDE
        .iter()
        .map(|pattern| (DEFAULT_ORIGIN.to_owned(), pattern.to_string()));
    let layers = layers
        .iter()
        .map(|(layer, pattern)| (format!("layer `{layer}`"), pattern.clone()));
    defaults
        .chain(layers)
        .map(|(origin, pattern)| {
            Ok(Exclusion {
                glob: Glob::parse(&pattern)?,
                origin,
            })
        })
        .collect()
}

/// The exclusion that leaves `path` out, if one does; `is_symlink` for the licence rule.
pub fn excluded_by(path: &str, is_symlink: bool, exclusions: &[Exclusion]) -> Option<usize> {
    if is_licence(path, is_symlink) {
        return None;
    }
    exclusions
        .iter()
        .position(|exclusion| exclusion.glob.covers(path))
}

/// Licences must ship: `usr/share/doc/<package>/copyright`, and a `usr/share/doc/<package>`
/// symlink, which leads to the folder of the package that holds it (as libgcc-s1's does).
fn is_licence(path: &str, is_symlink: bool) -> bool {
    let Some(rest) = path.strip_prefix("usr/share/doc/") else {
        return false;
    };
    match rest.split('/').collect::<Vec<_>>()[..] {
        [_, "copyright"] => true,
        [_] => is_symlink,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(text: &str) -> Glob {
        Glob::parse(text).unwrap()
    }

    #[test]
    fn a_pattern_covers_its_matches_and_everything_below_them() {
        assert!(glob("usr/share/zoneinfo").covers("usr/share/zoneinfo"));
        assert!(glob("usr/share/zoneinfo").covers("usr/share/zoneinfo/Europe/Paris"));
        assert!(!glob("usr/share/zoneinfo").covers("usr/share/zoneinfo2"));
        assert!(!glob("usr/share/zoneinfo").covers("usr/share"));
        assert!(glob("usr/lib/*/gconv").covers("usr/lib/x86_64-linux-gnu/gconv/UTF-16.so"));
        assert!(!glob("usr/lib/*/gconv").covers("usr/lib/gconv"));
        assert!(glob("usr/share/**/*.gz").covers("usr/share/a/b/c.gz"));
        assert!(glob("usr/share/**/*.gz").covers("usr/share/c.gz"));
        assert!(!glob("usr/share/**/*.gz").covers("usr/lib/c.gz"));
        assert!(glob("**").covers("etc"));
        assert!(
            glob("etc/ld.so.conf.d/?86*.conf").covers("etc/ld.so.conf.d/x86_64-linux-gnu.conf")
        );
        assert!(!glob("etc/a?c").covers("etc/abbc"));
        assert!(glob("a*b*c").covers("aXbYbZc"));
        assert!(!glob("a*b*c").covers("aXbYbZ"));
    }

    #[test]
    fn hostile_patterns_stay_fast() {
        let pattern = vec!["**"; 200].join("/") + "/x";
        let path = vec!["a"; 200].join("/");
        assert!(!glob(&pattern).covers(&path));
        let stars = format!("{}b", "*a".repeat(500));
        assert!(!glob(&stars).covers(&"a".repeat(2000)));
    }

    #[test]
    fn patterns_must_be_plain_relative_paths() {
        for bad in [
            "",
            "/usr/share",
            "usr//share",
            "usr/share/",
            "usr/../etc",
            "./usr",
            "usr/**x",
            "usr/\u{0}",
            "usr\\share",
        ] {
            let error = Glob::parse(bad).unwrap_err();
            assert!(
                error.contains("is not an exclusion pattern"),
                "{bad:?}: {error}"
            );
        }
    }

    #[test]
    fn documentation_goes_but_licences_stay() {
        let all = exclusions(&[]).unwrap();
        let out = |path, link| excluded_by(path, link, &all);
        assert_eq!(
            out("usr/share/doc/libc6/changelog.Debian.gz", false),
            Some(0)
        );
        assert_eq!(out("usr/share/doc/libc6", false), Some(0));
        assert_eq!(out("usr/share/doc/libc6/copyright", false), None);
        assert_eq!(out("usr/share/doc/libgcc-s1", true), None);
        assert_eq!(out("usr/share/doc/x/examples/copyright", false), Some(0));
        assert_eq!(out("usr/share/man/man8/nft.8.gz", false), Some(1));
        assert_eq!(out("usr/share/locale/de/LC_MESSAGES/x.mo", false), Some(3));
        assert_eq!(out("usr/sbin/nft", false), None);
        assert_eq!(out("usr/share/docs", false), None);
    }

    #[test]
    fn layer_exclusions_follow_the_defaults_and_licences_still_stay() {
        let layers = [
            ("fw".to_owned(), "usr/lib/*/gconv".to_owned()),
            ("fw".to_owned(), "usr/share/doc/**".to_owned()),
        ];
        let all = exclusions(&layers).unwrap();
        assert_eq!(all.len(), DEFAULT_EXCLUDE.len() + 2);
        assert_eq!(all[DEFAULT_EXCLUDE.len()].origin, "layer `fw`");
        let gconv = "usr/lib/x86_64-linux-gnu/gconv/UTF-7.so";
        assert_eq!(excluded_by(gconv, false, &all), Some(DEFAULT_EXCLUDE.len()));
        assert_eq!(
            excluded_by("usr/share/doc/nftables/copyright", false, &all),
            None
        );
        let bad = [("fw".to_owned(), "/etc".to_owned())];
        assert!(exclusions(&bad).unwrap_err().contains("leading `/`"));
    }
}
