//! `update-alternatives --install`, settled at build time as dpkg's automatic mode would settle it
//! once every package is installed: of the packages offering an alternative, the highest
//! priority wins; on a tie, the package whose name sorts last, so the choice is deterministic.
//! Pure.

use std::collections::BTreeMap;

use super::maintscripts::Alternative;

/// Where dpkg keeps the chosen alternatives: `LINK` → `/etc/alternatives/NAME` → `PATH`.
pub const ALTERNATIVES_DIR: &str = "/etc/alternatives";

/// A symlink to create at `link`, pointing to `target`; both absolute paths in the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub link: String,
    pub target: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chosen {
    /// Sorted by link.
    pub links: Vec<Link>,
    /// Offers left out because their path is not in the image (an exclusion removed it).
    pub warnings: Vec<String>,
}

/// Settles every offered alternative. `exists` says whether a path is in the image; a slave
/// whose path is not (a trimmed manual page) is skipped, as `update-alternatives` skips it.
/// Offers that disagree on a group's link, or two groups claiming one link, are refused.
pub fn choose(
    offers: &[(String, Alternative)],
    exists: &dyn Fn(&str) -> bool,
) -> Result<Chosen, String> {
    let mut groups: BTreeMap<&str, Vec<(&str, &Alternative)>> = BTreeMap::new();
    for (package, offer) in offers {
        groups
            .entry(offer.name.as_str())
            .or_default()
            .push((package, offer));
    }
    let mut chosen = Chosen::default();
    let mut owners: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for (name, group) in groups {
        let (first_package, first) = group[0];
        if let Some((package, other)) = group.iter().find(|(_, o)| o.link != first.link) {
            return Err(format!(
                "alternative `{name}`: {first_package} installs it as {} but {package} as {}; \
                 leave one of the packages out",
                first.link, other.link
            ));
        }
        let mut present = Vec::new();
        for &(package, offer) in &group {
            if exists(&offer.path) {
                present.push((package, offer));
            } else {
                chosen.warnings.push(format!(
                    "alternative `{name}`: {package} offers {}, which is not in the image \
                     (excluded?); it is left out of the choice",
                    offer.path
                ));
            }
        }
        let Some(&(package, winner)) = present
            .iter()
            .max_by(|a, b| (a.1.priority, a.0).cmp(&(b.1.priority, b.0)))
        else {
            continue;
        };
        let slaves = winner
            .slaves
            .iter()
            .filter(|slave| exists(&slave.path))
            .map(|slave| (&slave.link, &slave.name, &slave.path));
        for (link, name, path) in [(&winner.link, &winner.name, &winner.path)]
            .into_iter()
            .chain(slaves)
        {
            if let Some((other, other_package)) = owners.insert(link.clone(), (name, package)) {
                return Err(format!(
                    "{link} is claimed by alternative `{other}` ({other_package}) and `{name}` \
                     ({package}); leave one of the packages out"
                ));
            }
            let chosen_path = format!("{ALTERNATIVES_DIR}/{name}");
            chosen.links.push(Link {
                link: link.clone(),
                target: chosen_path.clone(),
            });
            chosen.links.push(Link {
                link: chosen_path,
                target: path.clone(),
            });
        }
    }
    chosen.links.sort();
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::maintscripts::Slave;

    fn offer(package: &str, name: &str, path: &str, priority: i32) -> (String, Alternative) {
        (
            package.to_owned(),
            Alternative {
                link: format!("/usr/bin/{name}"),
                name: name.to_owned(),
                path: path.to_owned(),
                priority,
                slaves: vec![Slave {
                    link: format!("/usr/share/man/man1/{name}.1.gz"),
                    name: format!("{name}.1.gz"),
                    path: format!("/usr/share/man/man1/{package}.1.gz"),
                }],
            },
        )
    }

    fn link(link: &str, target: &str) -> Link {
        Link {
            link: link.to_owned(),
            target: target.to_owned(),
        }
    }

    #[test]
    fn the_highest_priority_wins_whatever_the_order() {
        let mut offers = vec![
            offer("vim-tiny", "vi", "/usr/bin/vim.tiny", 15),
            offer("nvi", "vi", "/usr/bin/nvi", 30),
            offer("busybox", "vi", "/bin/busybox", 10),
        ];
        let expected = vec![
            link("/etc/alternatives/vi", "/usr/bin/nvi"),
            link("/usr/bin/vi", "/etc/alternatives/vi"),
        ];
        for _ in 0..offers.len() {
            offers.rotate_left(1);
            let chosen = choose(&offers, &|path| !path.contains("/man/")).unwrap();
            assert_eq!(chosen.links, expected);
            assert!(chosen.warnings.is_empty());
        }
    }

    #[test]
    fn a_tie_goes_to_the_package_whose_name_sorts_last() {
        let offers = [
            offer("zed", "editor", "/usr/bin/zed", 20),
            offer("acme", "editor", "/usr/bin/acme", 20),
        ];
        let chosen = choose(&offers, &|_| true).unwrap();
        assert!(
            chosen
                .links
                .contains(&link("/etc/alternatives/editor", "/usr/bin/zed"))
        );
        assert!(chosen.links.contains(&link(
            "/etc/alternatives/editor.1.gz",
            "/usr/share/man/man1/zed.1.gz"
        )));
        assert_eq!(chosen.links.len(), 4);
    }

    #[test]
    fn an_offer_whose_path_was_excluded_is_left_out_with_a_warning() {
        let offers = [
            offer("big", "pager", "/usr/bin/big", 90),
            offer("small", "pager", "/usr/bin/small", 10),
        ];
        let chosen = choose(&offers, &|path| path != "/usr/bin/big").unwrap();
        assert!(
            chosen
                .links
                .contains(&link("/etc/alternatives/pager", "/usr/bin/small"))
        );
        assert_eq!(chosen.warnings.len(), 1);
        assert!(chosen.warnings[0].contains("big offers /usr/bin/big"));
    }

    #[test]
    fn conflicting_links_are_refused_naming_both_packages() {
        let mut other = offer("b", "vi", "/usr/bin/b", 1);
        other.1.link = "/bin/vi".to_owned();
        let error = choose(&[offer("a", "vi", "/usr/bin/a", 1), other], &|_| true).unwrap_err();
        assert!(
            error.contains("a installs it as /usr/bin/vi but b as /bin/vi"),
            "{error}"
        );
        let mut clash = offer("b", "view", "/usr/bin/b", 1);
        clash.1.link = "/usr/bin/vi".to_owned();
        let error = choose(&[offer("a", "vi", "/usr/bin/a", 1), clash], &|_| true).unwrap_err();
        assert!(
            error.contains("claimed by alternative `vi` (a) and `view` (b)"),
            "{error}"
        );
    }
}
