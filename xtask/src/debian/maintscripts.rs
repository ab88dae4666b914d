//! What a package's maintainer scripts would do, read instead of run: the build is rootless and
//! runs none. Each line is recognised as harmless structure, a debhelper block that does nothing
//! on an appliance, or work the build reproduces declaratively (`update-alternatives --install`,
//! accounts); the first other line makes the script unreproducible. Pure.

use sha2::{Digest, Sha256};

use super::reviewed_scripts;

/// Run by dpkg on a fresh install (`preinst install`, `postinst configure`).
pub const INSTALL_SCRIPTS: &[&str] = &["preinst", "postinst"];

/// Run only when a package is removed, upgraded or purged: never on an image, which no package
/// manager changes.
pub const REMOVAL_SCRIPTS: &[&str] = &["prerm", "postrm"];

/// debhelper tools whose blocks do nothing on an appliance: it has no systemd and no sysvinit
/// (the init starts `/etc/appliance/services`), and no dpkg database, so conffile moves, debconf
/// purges and upgrade fix-ups have nothing to act on; `dh_makeshlibs` runs `ldconfig`, whose job
/// the build checks instead (no cache: every library sits in the loader's default path).
const NO_OP_DEBHELPER: &[&str] = &[
    "dh_installsystemd",
    "dh_installsystemduser",
    "dh_systemd_enable",
    "dh_systemd_start",
    "dh_installinit",
    "dh_installdeb",
    "dh_installdebconf",
    "dh_makeshlibs",
];

/// Triggers an image needs nothing for: `ldconfig` (see [`NO_OP_DEBHELPER`]) and
/// `update-initramfs` (the appliance boots without an initramfs).
const HANDLED_TRIGGERS: &[&str] = &["ldconfig", "update-initramfs"];

/// `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    pub link: String,
    pub name: String,
    pub path: String,
    pub priority: i32,
    pub slaves: Vec<Slave>,
}

/// A link that follows its master's choice, such as a manual page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slave {
    pub link: String,
    pub name: String,
    pub path: String,
}

/// An account a script creates (`adduser`, `addgroup`, `useradd`, `groupadd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    User(String),
    Group(String),
}

/// The first line the build cannot reproduce, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecognised {
    pub line: usize,
    pub text: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    pub alternatives: Vec<Alternative>,
    pub accounts: Vec<Account>,
    pub unrecognised: Option<Unrecognised>,
}

/// Reads a maintainer script line by line (continuation lines joined).
pub fn analyse_script(text: &str) -> Analysis {
    let mut analysis = Analysis::default();
    let mut in_no_op_block = false;
    for (line, command) in logical_lines(text) {
        let command = command.trim();
        if let Some(tool) = command.strip_prefix("# Automatically added by ") {
            let tool = tool.split('/').next().unwrap_or_default().trim();
            in_no_op_block = NO_OP_DEBHELPER.contains(&tool);
            continue;
        }
        if command == "# End automatically added section" {
            in_no_op_block = false;
            continue;
        }
        if in_no_op_block || is_structure(command) {
            continue;
        }
        let words = words(command);
        let program = words
            .as_ref()
            .and_then(|words| words.first())
            .map(|first| first.rsplit('/').next().unwrap_or(first));
        let recognised = match (program, &words) {
            (Some("ldconfig"), Some(words)) => words.len() == 1,
            (Some("update-alternatives"), Some(words)) => alternative(&words[1..])
                .map(|found| analysis.alternatives.push(found))
                .is_some(),
            (Some(program), Some(words)) => accounts(program, &words[1..])
                .map(|found| analysis.accounts.extend(found))
                .is_some(),
            _ => false,
        };
        if !recognised && analysis.unrecognised.is_none() {
            analysis.unrecognised = Some(Unrecognised {
                line,
                text: command.to_owned(),
            });
        }
    }
    analysis
}

/// Reads a `triggers` control file: the first trigger the image would need work for.
pub fn analyse_triggers(text: &str) -> Option<Unrecognised> {
    text.lines().enumerate().find_map(|(index, line)| {
        let line = line.trim();
        let handled = line.is_empty()
            || line.starts_with('#')
            || matches!(
                line.split_whitespace().collect::<Vec<_>>()[..],
                ["activate" | "activate-await" | "activate-noawait", name]
                    if HANDLED_TRIGGERS.contains(&name)
            );
        (!handled).then(|| Unrecognised {
            line: index + 1,
            text: line.to_owned(),
        })
    })
}

/// Lines with `\`-continuations joined, each with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                lines.push((start, joined));
            }
        }
    }
    lines.extend(pending);
    lines
}

/// Lines that do nothing by themselves: comments, `set -e`, `exit`, `if`/`case` on tests of the
/// arguments, their closing words, and messages.
fn is_structure(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or_default();
    line.is_empty()
        || line.starts_with('#')
        || matches!(line, "fi" | "then" | "else" | "esac" | ";;" | ":" | "true")
        || (first == "set" && line.split_whitespace().skip(1).all(|w| w.starts_with('-')))
        || (first == "exit" && line[4..].trim().chars().all(|c| c.is_ascii_digit()))
        || is_case_line(line)
        || is_test_condition(line)
        || is_message(line)
}

/// `case "$1" in`, and patterns such as `configure)` or `abort-upgrade|abort-remove)`.
fn is_case_line(line: &str) -> bool {
    let argument = |word: &str| matches!(word, "$1" | "\"$1\"" | "$2" | "\"$2\"");
    if let ["case", word, "in"] = line.split_whitespace().collect::<Vec<_>>()[..] {
        return argument(word);
    }
    let pattern = line.trim_end_matches(";;").trim_end();
    pattern.strip_suffix(')').is_some_and(|names| {
        !names.is_empty()
            && names
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_|*".contains(c))
    })
}

/// `if`/`elif` over `[ … ]` tests and `getent` queries only: no command substitution.
fn is_test_condition(line: &str) -> bool {
    let Some(condition) = line
        .strip_prefix("if ")
        .or_else(|| line.strip_prefix("elif "))
    else {
        return false;
    };
    let condition = condition.trim_end();
    let condition = condition
        .strip_suffix("then")
        .map_or(condition, |head| head.trim_end().trim_end_matches(';'));
    if condition.contains("$(") || condition.contains('`') {
        return false;
    }
    condition
        .split("&&")
        .flat_map(|part| part.split("||"))
        .all(|part| {
            let part = without_redirections(part.trim());
            let part = part.strip_prefix("! ").unwrap_or(part).trim();
            let query = part.split_whitespace().collect::<Vec<_>>();
            (part.starts_with("[ ") && part.ends_with(" ]"))
                || matches!(query[..], ["getent", "passwd" | "group", _])
        })
}

/// `echo` with at most a redirection to standard error, and no command substitution.
fn is_message(line: &str) -> bool {
    let Some(text) = line.strip_prefix("echo ").or(line.strip_prefix("printf ")) else {
        return false;
    };
    let text = text.trim_end().trim_end_matches(">&2").trim_end();
    let unescaped = text.replace("\\`", "");
    !unescaped.contains('`') && !text.contains("$(") && !text.contains('>') && !text.contains(';')
}

/// Drops the redirections that only silence a command, and a trailing `|| true`.
fn without_redirections(command: &str) -> &str {
    let mut command = command.trim();
    loop {
        let before = command;
        for suffix in [
            "|| true",
            "2>&1",
            ">/dev/null",
            "> /dev/null",
            "2>/dev/null",
        ] {
            command = command.strip_suffix(suffix).unwrap_or(command).trim_end();
        }
        if command == before {
            return command;
        }
    }
}

/// A command's words, quotes removed; `None` for anything a plain word list cannot say:
/// variables, substitutions, pipes, lists, redirections other than silencing ones.
fn words(command: &str) -> Option<Vec<String>> {
    let command = without_redirections(command);
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in command.chars() {
        match (quote, c) {
            (_, '$' | '`' | '\\') => return None,
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(open), _) if c == open => quote = None,
            (None, ';' | '&' | '|' | '<' | '>' | '(' | ')') => return None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// The arguments of `update-alternatives`, if they are one `--install` with its slaves.
fn alternative(arguments: &[String]) -> Option<Alternative> {
    let arguments: Vec<&str> = arguments
        .iter()
        .map(String::as_str)
        .skip_while(|a| matches!(*a, "--quiet" | "--verbose"))
        .collect();
    let ["--install", link, name, path, priority, rest @ ..] = &arguments[..] else {
        return None;
    };
    let mut found = Alternative {
        link: link.to_string(),
        name: name.to_string(),
        path: path.to_string(),
        priority: priority.parse().ok()?,
        slaves: Vec::new(),
    };
    for slave in rest.chunks(4) {
        let ["--slave", link, name, path] = slave else {
            return None;
        };
        found.slaves.push(Slave {
            link: link.to_string(),
            name: name.to_string(),
            path: path.to_string(),
        });
    }
    let plain = |link: &str, name: &str, path: &str| {
        let absolute = |path: &str| path.starts_with('/') && !path.split('/').any(|n| n == "..");
        absolute(link) && absolute(path) && !name.is_empty() && !name.contains('/')
    };
    let all_plain = plain(&found.link, &found.name, &found.path)
        && found
            .slaves
            .iter()
            .all(|s| plain(&s.link, &s.name, &s.path));
    all_plain.then_some(found)
}

/// The accounts an account tool's arguments create, if the build understands every argument.
fn accounts(program: &str, arguments: &[String]) -> Option<Vec<Account>> {
    // Per tool, the options without a value, then those that take one.
    let (flags, valued): (&[&str], &[&str]) = match program {
        "adduser" | "addgroup" => (
            &[
                "--system",
                "--quiet",
                "--group",
                "--no-create-home",
                "--disabled-password",
                "--disabled-login",
                "--force-badname",
                "--allow-badname",
            ],
            &[
                "--home",
                "--shell",
                "--ingroup",
                "--uid",
                "--gid",
                "--gecos",
                "--comment",
            ],
        ),
        "useradd" => (
            &[
                "-r",
                "--system",
                "-M",
                "--no-create-home",
                "-N",
                "--no-user-group",
            ],
            &[
                "-d",
                "--home-dir",
                "-s",
                "--shell",
                "-g",
                "--gid",
                "-u",
                "--uid",
                "-c",
                "--comment",
            ],
        ),
        "groupadd" => (&["-r", "--system", "-f", "--force"], &["-g", "--gid"]),
        _ => return None,
    };
    let mut names = Vec::new();
    let mut given = Vec::new();
    let mut arguments = arguments.iter();
    while let Some(argument) = arguments.next() {
        if valued.contains(&argument.as_str()) {
            arguments.next()?;
        } else if flags.contains(&argument.as_str()) {
            given.push(argument.as_str());
        } else if argument.starts_with('-') {
            return None;
        } else {
            names.push(argument.clone());
        }
    }
    // `adduser USER GROUP` adds a member to a group: supplementary groups are not declared here.
    let [name] = &names[..] else {
        return None;
    };
    let (user, group) = (Account::User(name.clone()), Account::Group(name.clone()));
    Some(match program {
        "addgroup" | "groupadd" => vec![group],
        "adduser" if given.contains(&"--group") => {
            // `--system --group` makes both; `--group` alone is `addgroup`.
            if given.contains(&"--system") {
                vec![user, group]
            } else {
                vec![group]
            }
        }
        _ => vec![user],
    })
}

/// How the build treats one control member of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every line is structure, a no-op debhelper block, or work the build reproduces.
    Reproduced,
    /// A removal script: never run on an image.
    NotRunOnInstall,
    /// Unrecognised, but reviewed: `reviewed_scripts::REVIEWED` says why it does not matter.
    Reviewed(&'static str),
    /// Work the image lacks; the build warns.
    Unreproducible { first: Unrecognised, sha256: String },
}

/// What one package's scripts and triggers come to.
#[derive(Debug, Default)]
pub struct Review {
    pub alternatives: Vec<Alternative>,
    pub accounts: Vec<Account>,
    /// (control member, verdict), in member order.
    pub verdicts: Vec<(String, Verdict)>,
}

/// Reviews a package's control members (`preinst`, `postinst`, `prerm`, `postrm`, `triggers`),
/// given as (member name, text); other members are not scripts and are ignored.
pub fn review(package: &str, members: &[(String, String)]) -> Review {
    let mut review = Review::default();
    for (member, text) in members {
        let member = member.as_str();
        let unrecognised = if REMOVAL_SCRIPTS.contains(&member) {
            review
                .verdicts
                .push((member.to_owned(), Verdict::NotRunOnInstall));
            continue;
        } else if INSTALL_SCRIPTS.contains(&member) {
            let analysis = analyse_script(text);
            review.alternatives.extend(analysis.alternatives);
            review.accounts.extend(analysis.accounts);
            analysis.unrecognised
        } else if member == "triggers" {
            analyse_triggers(text)
        } else {
            continue;
        };
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        let verdict = match (
            unrecognised,
            reviewed_scripts::reason(package, member, &sha256),
        ) {
            (None, _) => Verdict::Reproduced,
            (Some(_), Some(reason)) => Verdict::Reviewed(reason),
            (Some(first), None) => Verdict::Unreproducible { first, sha256 },
        };
        review.verdicts.push((member.to_owned(), verdict));
    }
    review
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nftables 1.0.6-2+deb12u2's postinst, whole: systemd blocks only.
    const NFTABLES_POSTINST: &str = r#"#!/bin/sh
set -e
# Automatically added by dh_installsystemd/13.11.4
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	if deb-systemd-helper debian-installed 'nftables.service'; then
		deb-systemd-helper unmask 'nftables.service' >/dev/null || true
	fi
	deb-systemd-helper update-state 'nftables.service' >/dev/null || true
fi
# End automatically added section
# Automatically added by dh_installsystemd/13.11.4
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
	fi
fi
# End automatically added section
"#;

    #[test]
    fn no_op_debhelper_blocks_are_reproduced_by_doing_nothing() {
        assert_eq!(analyse_script(NFTABLES_POSTINST), Analysis::default());
    }

    #[test]
    fn the_dh_make_template_is_structure() {
        let script = r#"#!/bin/sh
set -eu
case "$1" in
    configure)
    ;;
    abort-upgrade|abort-remove|abort-deconfigure)
    ;;
    *)
        echo "postinst called with unknown argument \`$1'" >&2
        exit 1
    ;;
esac
exit 0
"#;
        assert_eq!(analyse_script(script), Analysis::default());
    }

    #[test]
    fn alternatives_are_read_with_their_slaves_across_continuation_lines() {
        let script = "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n    \
            update-alternatives --install /usr/bin/vi vi /usr/bin/vim.tiny 15 \\\n        \
            --slave /usr/share/man/man1/vi.1.gz vi.1.gz /usr/share/man/man1/vim.1.gz\nfi\n\
            # Automatically added by dh_installalternatives/13.11.4\n\
            update-alternatives --quiet --install '/usr/bin/pager' pager \"/bin/less\" 77\n\
            # End automatically added section\n";
        let analysis = analyse_script(script);
        assert_eq!(analysis.unrecognised, None);
        assert_eq!(
            analysis.alternatives,
            [
                Alternative {
                    link: "/usr/bin/vi".into(),
                    name: "vi".into(),
                    path: "/usr/bin/vim.tiny".into(),
                    priority: 15,
                    slaves: vec![Slave {
                        link: "/usr/share/man/man1/vi.1.gz".into(),
                        name: "vi.1.gz".into(),
                        path: "/usr/share/man/man1/vim.1.gz".into(),
                    }],
                },
                Alternative {
                    link: "/usr/bin/pager".into(),
                    name: "pager".into(),
                    path: "/bin/less".into(),
                    priority: 77,
                    slaves: Vec::new(),
                },
            ]
        );
    }

    #[test]
    fn accounts_are_read_from_each_tool() {
        let script = "\
if ! getent passwd _chrony >/dev/null; then
    adduser --system --quiet --group --no-create-home --home /var/lib/chrony _chrony
fi
addgroup --system --quiet netdev
adduser --quiet --group plain
/usr/sbin/useradd -r -M -d /nonexistent -s /usr/sbin/nologin svc || true
groupadd -r -g 120 wheelish
";
        let analysis = analyse_script(script);
        assert_eq!(analysis.unrecognised, None);
        let expected = ["_chrony", "netdev", "plain", "svc", "wheelish"];
        let accounts: Vec<Account> = [
            Account::User(expected[0].into()),
            Account::Group(expected[0].into()),
            Account::Group(expected[1].into()),
            Account::Group(expected[2].into()),
            Account::User(expected[3].into()),
            Account::Group(expected[4].into()),
        ]
        .into();
        assert_eq!(analysis.accounts, accounts);
    }

    #[test]
    fn the_first_line_of_other_work_is_named_with_its_number() {
        let cases = [
            (
                "set -e\nchown daemon /var/lib/x\nmkdir /y\n",
                2,
                "chown daemon /var/lib/x",
            ),
            (
                "update-alternatives --install /usr/bin/x x \"$DIR/x\" 10\n",
                1,
                "",
            ),
            ("update-alternatives --set editor /usr/bin/vim\n", 1, ""),
            ("adduser --quiet user group\n", 1, ""),
            ("adduser --system --uid $UID svc\n", 1, ""),
            ("if [ -x \"$(command -v foo)\" ]; then\nfi\n", 1, ""),
            ("echo x > /etc/motd\n", 1, ""),
            (
                "# Automatically added by dh_installtmpfiles/13.11.4\nsystemd-tmpfiles --create x.conf\n# End automatically added section\n",
                2,
                "",
            ),
            ("ldconfig -X\n", 1, ""),
        ];
        for (script, line, text) in cases {
            let found = analyse_script(script).unrecognised.expect(script);
            assert_eq!(found.line, line, "{script}");
            if !text.is_empty() {
                assert_eq!(found.text, text);
            }
        }
    }

    #[test]
    fn ldconfig_and_initramfs_triggers_need_nothing_others_are_named() {
        let ok = "# Triggers added by dh_makeshlibs/13.11.4\nactivate-noawait ldconfig\n\
                  activate-noawait update-initramfs\n";
        assert_eq!(analyse_triggers(ok), None);
        let other = "activate-noawait ldconfig\ninterest-noawait /usr/share/icons\n";
        assert_eq!(
            analyse_triggers(other),
            Some(Unrecognised {
                line: 2,
                text: "interest-noawait /usr/share/icons".into()
            })
        );
    }

    #[test]
    fn a_script_changed_since_its_review_is_unreproducible_again() {
        let members = vec![
            ("control".to_owned(), "Package: libc6\n".to_owned()),
            ("preinst".to_owned(), "#!/bin/sh\ntouch /etc/x\n".to_owned()),
            ("postrm".to_owned(), "rm -rf /\n".to_owned()),
            (
                "triggers".to_owned(),
                "activate-noawait ldconfig\n".to_owned(),
            ),
        ];
        let review = review("libc6", &members);
        let [
            (preinst, unreproducible),
            (postrm, removal),
            (triggers, fine),
        ] = &review.verdicts[..]
        else {
            panic!("{:?}", review.verdicts);
        };
        assert_eq!(
            (preinst.as_str(), postrm.as_str(), triggers.as_str()),
            ("preinst", "postrm", "triggers")
        );
        let Verdict::Unreproducible { first, sha256 } = unreproducible else {
            panic!("{unreproducible:?}");
        };
        assert_eq!((first.line, first.text.as_str()), (2, "touch /etc/x"));
        assert_eq!(
            sha256,
            &hex::encode(Sha256::digest(b"#!/bin/sh\ntouch /etc/x\n"))
        );
        assert_eq!(removal, &Verdict::NotRunOnInstall);
        assert_eq!(fine, &Verdict::Reproduced);
    }

    #[test]
    fn reviewed_entries_name_an_install_script_by_a_full_sha256_once() {
        let reviewed = reviewed_scripts::REVIEWED;
        for (index, entry) in reviewed.iter().enumerate() {
            let (package, script) = (entry.package, entry.script);
            assert!(
                INSTALL_SCRIPTS.contains(&script) || script == "triggers",
                "{package}: {script} is never run on install, so it needs no review"
            );
            let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
            assert!(
                entry.sha256.len() == 64 && entry.sha256.bytes().all(hex),
                "{package} {script}: the sha256 must be 64 lowercase hex digits"
            );
            assert!(!entry.reason.is_empty());
            let twice = reviewed[..index]
                .iter()
                .any(|e| (e.package, e.script) == (package, script));
            assert!(!twice, "{package} {script} is listed twice");
        }
    }
}
