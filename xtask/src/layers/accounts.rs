//! The image's users and groups: root and nobody, then those the layers declare in `[[users]]`
//! and `[[groups]]`, rendered as `/etc/passwd` and `/etc/group`, sorted by id. No `/etc/shadow`:
//! nobody logs in by password, so every password field is `*`, which no password matches (as
//! in Debian's base-passwd master files). Pure.

use std::collections::BTreeMap;

use toml::Spanned;

use super::schema::line_of;
use super::{Layer, LayerError};

/// Built into every image, with Debian's ids and fields.
const ROOT: (&str, u32) = ("root", 0);
const NOBODY: (&str, u32) = ("nobody", 65534);
const NOGROUP: (&str, u32) = ("nogroup", 65534);

/// What a declared user gets when the layer does not say, as `adduser --system` gives.
pub const DEFAULT_GROUP: &str = NOGROUP.0;
pub const DEFAULT_HOME: &str = "/nonexistent";
pub const DEFAULT_SHELL: &str = "/usr/sbin/nologin";

/// Ids a layer may give: 0 is root's, 65534 nobody's, 65535 is -1 to 16-bit interfaces.
pub const IDS: std::ops::RangeInclusive<u32> = 1..=65533;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

impl Default for Accounts {
    fn default() -> Accounts {
        let user = |(name, id): (&str, u32), gid, home: &str, shell: &str| User {
            name: name.to_owned(),
            uid: id,
            gid,
            home: home.to_owned(),
            shell: shell.to_owned(),
        };
        let group = |(name, gid): (&str, u32)| Group {
            name: name.to_owned(),
            gid,
        };
        Accounts {
            users: vec![
                user(ROOT, ROOT.1, "/root", "/bin/sh"),
                user(NOBODY, NOGROUP.1, DEFAULT_HOME, DEFAULT_SHELL),
            ],
            groups: vec![group(ROOT), group(NOGROUP)],
        }
    }
}

impl Accounts {
    pub fn has_user(&self, name: &str) -> bool {
        self.users.iter().any(|user| user.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|group| group.name == name)
    }

    /// `/etc/passwd`: `name:*:uid:gid:name:home:shell`, by uid.
    pub fn passwd(&self) -> String {
        let mut users: Vec<&User> = self.users.iter().collect();
        users.sort_by_key(|user| user.uid);
        users
            .iter()
            .map(|u| {
                let (name, home, shell) = (&u.name, &u.home, &u.shell);
                format!("{name}:*:{}:{}:{name}:{home}:{shell}\n", u.uid, u.gid)
            })
            .collect()
    }

    /// `/etc/group`: `name:*:gid:`, by gid; no supplementary members.
    pub fn group_file(&self) -> String {
        let mut groups: Vec<&Group> = self.groups.iter().collect();
        groups.sort_by_key(|group| group.gid);
        groups
            .iter()
            .map(|group| format!("{}:*:{}:\n", group.name, group.gid))
            .collect()
    }
}

/// A portable account name, as Debian's `adduser` takes for system accounts.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let portable = (1..=32).contains(&name.len())
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if portable {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a portable account name: 1 to 32 of `a-z`, `0-9`, `_` and `-`, \
             starting with a letter or `_`"
        ))
    }
}

/// A home folder or shell: an absolute path that keeps `/etc/passwd` one line of seven fields.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.chars().any(|c| c.is_control() || c == ':') {
        Ok(())
    } else {
        Err(format!(
            "{path:?} must be an absolute path without `:` or control characters"
        ))
    }
}

/// The accounts the layers declare, with root and nobody; every problem goes to `errors`, at
/// its layer file and line: a name that is not portable, an id out of range, a name or id
/// declared twice (naming the first declaration), a primary group no layer declares.
pub fn declared(layers: &[Layer], errors: &mut Vec<LayerError>) -> Accounts {
    let mut accounts = Accounts::default();
    let mut seen: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    for (name, id) in [ROOT, NOBODY] {
        seen.insert(("user", name.to_owned()), BUILT_IN.to_owned());
        seen.insert(("uid", id.to_string()), BUILT_IN.to_owned());
    }
    for (name, id) in [ROOT, NOGROUP] {
        seen.insert(("group", name.to_owned()), BUILT_IN.to_owned());
        seen.insert(("gid", id.to_string()), BUILT_IN.to_owned());
    }
    // Claims `value` as a `kind` at `at`, or says where it was claimed first.
    let mut claim = |layer: &Layer, kind: &'static str, value: String, at: &Spanned<String>| {
        let here = format!(
            "{}:{}",
            layer.manifest_path.display(),
            line_of(&layer.manifest_text, at.span().start)
        );
        seen.insert((kind, value.clone()), here)
            .map(|first| (kind, value, first))
    };
    let mut primary_groups = Vec::new();
    for layer in layers {
        for group in &layer.manifest.groups {
            let (name, gid) = (group.name.get_ref(), *group.gid.get_ref());
            let checked = check_name(name)
                .map_err(|message| layer.invalid(&group.name, "groups.name", message))
                .and_then(|()| check_id(layer, &group.gid, "groups.gid"))
                .and_then(|()| {
                    let taken = claim(layer, "group", name.clone(), &group.name)
                        .or_else(|| claim(layer, "gid", gid.to_string(), &group.name));
                    taken.map_or(Ok(()), |taken| {
                        Err(layer.invalid(&group.name, "groups", twice(taken)))
                    })
                });
            match checked {
                Ok(()) => accounts.groups.push(Group {
                    name: name.clone(),
                    gid,
                }),
                Err(error) => errors.push(error),
            }
        }
        for user in &layer.manifest.users {
            let name = user.name.get_ref();
            let mut problems = Vec::new();
            problems.extend(
                check_name(name)
                    .err()
                    .map(|m| layer.invalid(&user.name, "users.name", m)),
            );
            problems.extend(check_id(layer, &user.uid, "users.uid").err());
            for (value, key) in [(&user.home, "users.home"), (&user.shell, "users.shell")] {
                if let Some(value) = value {
                    problems.extend(
                        check_path(value.get_ref())
                            .err()
                            .map(|m| layer.invalid(value, key, m)),
                    );
                }
            }
            if problems.is_empty() {
                let taken = claim(layer, "user", name.clone(), &user.name)
                    .or_else(|| claim(layer, "uid", user.uid.get_ref().to_string(), &user.name));
                problems
                    .extend(taken.map(|taken| layer.invalid(&user.name, "users", twice(taken))));
            }
            if !problems.is_empty() {
                errors.extend(problems);
                continue;
            }
            let text = |value: &Option<Spanned<String>>, default: &str| {
                value
                    .as_ref()
                    .map_or(default.to_owned(), |v| v.get_ref().clone())
            };
            primary_groups.push((layer, user.group.as_ref(), accounts.users.len()));
            accounts.users.push(User {
                name: name.clone(),
                uid: *user.uid.get_ref(),
                gid: NOGROUP.1,
                home: text(&user.home, DEFAULT_HOME),
                shell: text(&user.shell, DEFAULT_SHELL),
            });
        }
    }
    // Groups may be declared by any layer, before or after the user.
    for (layer, group, index) in primary_groups {
        let Some(group) = group else { continue };
        match accounts.group(group.get_ref()) {
            Some(found) => accounts.users[index].gid = found.gid,
            None => errors.push(layer.invalid(
                group,
                "users.group",
                format!(
                    "no layer declares the group {:?}; add it to a layer's [[groups]] (name, gid), \
                     or leave `group` out for `{DEFAULT_GROUP}`",
                    group.get_ref()
                ),
            )),
        }
    }
    accounts
}

fn check_id(layer: &Layer, id: &Spanned<u32>, key: &str) -> Result<(), LayerError> {
    if IDS.contains(id.get_ref()) {
        Ok(())
    } else {
        Err(layer.invalid(
            id,
            key,
            format!(
                "{} is reserved: use {} to {} (0 is root's, 65534 nobody's)",
                id.get_ref(),
                IDS.start(),
                IDS.end()
            ),
        ))
    }
}

/// Where root's, nobody's and their groups' names and ids are declared.
const BUILT_IN: &str = "built into every image";

fn twice((kind, value, first): (&'static str, String, String)) -> String {
    if first == BUILT_IN {
        format!("{kind} {value:?} is {BUILT_IN}; choose another")
    } else {
        format!("{kind} {value:?} is declared twice: first at {first}; choose another")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_image_has_root_and_nobody_in_debians_fields() {
        let accounts = Accounts::default();
        assert_eq!(
            accounts.passwd(),
            "root:*:0:0:root:/root:/bin/sh\n\
             nobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        );
        assert_eq!(accounts.group_file(), "root:*:0:\nnogroup:*:65534:\n");
    }

    #[test]
    fn declared_accounts_are_rendered_by_id() {
        let mut accounts = Accounts::default();
        accounts.groups.push(Group {
            name: "_fw".into(),
            gid: 900,
        });
        accounts.users.push(User {
            name: "_fw".into(),
            uid: 900,
            gid: 900,
            home: "/var/lib/fw".into(),
            shell: DEFAULT_SHELL.into(),
        });
        accounts.users.push(User {
            name: "web".into(),
            uid: 33,
            gid: 65534,
            home: DEFAULT_HOME.into(),
            shell: DEFAULT_SHELL.into(),
        });
        let passwd = accounts.passwd();
        let names: Vec<&str> = passwd.lines().map(|l| &l[..l.find(':').unwrap()]).collect();
        assert_eq!(names, ["root", "web", "_fw", "nobody"]);
        assert!(passwd.contains("_fw:*:900:900:_fw:/var/lib/fw:/usr/sbin/nologin\n"));
        assert_eq!(
            accounts.group_file(),
            "root:*:0:\n_fw:*:900:\nnogroup:*:65534:\n"
        );
    }

    #[test]
    fn names_and_paths_must_keep_the_files_parseable() {
        for good in ["fw", "_chrony", "systemd-network", "a1"] {
            check_name(good).unwrap();
        }
        for bad in ["", "Root", "1x", "-x", "a:b", "a b", "é", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_path("/var/lib/x").unwrap();
        for bad in ["relative", "/a:b", "/a\nb"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}
