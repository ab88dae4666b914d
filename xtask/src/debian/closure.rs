//! The dependency closure of some packages, chosen as apt does when it installs them on an
//! empty system (`apt-get install --no-install-recommends` with an empty dpkg status): one
//! candidate per package, the highest version in the indices; each `Pre-Depends` and `Depends`
//! group in order, skipped when a package already chosen satisfies it, otherwise the first
//! alternative that can be installed, a real package before the packages that `Provides` it.
//! Like apt, nothing is added for being `Essential` or `Priority: required`.

use std::collections::{BTreeMap, BTreeSet};

use super::control::Paragraph;
use super::relations::{self, Group, Relation, RelationError};
use super::version;

/// The only architecture installed; `all` packages go with it.
pub const ARCH: &str = "amd64";

/// One version of a binary package, as an index describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub name: String,
    pub version: String,
    /// The suite whose index lists it.
    pub suite: String,
    /// The .deb's path in the archive.
    pub filename: String,
    pub sha256: String,
    /// Unparsed: most packages are never looked at, so a field is parsed when chosen.
    pre_depends: String,
    depends: String,
    provides: Vec<Relation>,
    essential: bool,
    important: bool,
    /// apt's number for `Priority`: required 1 … extra 5, 0 when absent.
    priority: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("paragraph at line {line}: no `{field}` field")]
    MissingField { line: usize, field: &'static str },
    #[error("package `{name}`, paragraph at line {line}: {source}")]
    Relation {
        name: String,
        line: usize,
        source: RelationError,
    },
}

impl Available {
    /// The package a paragraph describes, if it installs on [`ARCH`].
    pub fn from_paragraph(
        paragraph: &Paragraph,
        suite: &str,
    ) -> Result<Option<Available>, IndexError> {
        let field = |field: &'static str| {
            paragraph.get(field).ok_or(IndexError::MissingField {
                line: paragraph.line,
                field,
            })
        };
        let architecture = field("Architecture")?;
        if architecture != ARCH && architecture != "all" {
            return Ok(None);
        }
        let name = field("Package")?;
        let provides = relations::parse(paragraph.get("Provides").unwrap_or(""), ARCH)
            .map_err(|source| IndexError::Relation {
                name: name.to_owned(),
                line: paragraph.line,
                source,
            })?
            .into_iter()
            .flatten()
            .collect();
        let yes = |field: &str| paragraph.get(field) == Some("yes");
        let priority = match paragraph.get("Priority") {
            None => 0,
            Some("required") => 1,
            Some("important") => 2,
            Some("standard") => 3,
            Some("optional") => 4,
            Some(_) => 5,
        };
        Ok(Some(Available {
            name: name.to_owned(),
            version: field("Version")?.to_owned(),
            suite: suite.to_owned(),
            filename: field("Filename")?.to_owned(),
            sha256: field("SHA256")?.to_owned(),
            pre_depends: paragraph.get("Pre-Depends").unwrap_or("").to_owned(),
            depends: paragraph.get("Depends").unwrap_or("").to_owned(),
            provides,
            essential: yes("Essential"),
            important: yes("Important"),
            priority,
        }))
    }

    /// `Pre-Depends` then `Depends`, in the order apt works through them.
    fn dependencies(&self) -> Result<Vec<Group>, RelationError> {
        let mut groups = relations::parse(&self.pre_depends, ARCH)?;
        groups.extend(relations::parse(&self.depends, ARCH)?);
        Ok(groups)
    }

    /// Whether this version satisfies one alternative, itself or through `Provides`. An
    /// unversioned `Provides` satisfies only an unversioned dependency.
    fn satisfies(&self, relation: &Relation) -> bool {
        self.is_real_match(relation) || self.provides_match(relation)
    }

    fn is_real_match(&self, relation: &Relation) -> bool {
        self.name == relation.name
            && relation
                .constraint
                .as_ref()
                .is_none_or(|(op, wanted)| op.holds(&self.version, wanted))
    }

    fn provides_match(&self, relation: &Relation) -> bool {
        self.provides.iter().any(|provided| {
            provided.name == relation.name
                && match (&relation.constraint, &provided.constraint) {
                    (None, _) => true,
                    (Some((op, wanted)), Some((relations::Op::Equal, version))) => {
                        op.holds(version, wanted)
                    }
                    (Some(_), _) => false,
                }
        })
    }
}

/// The relation fields in the order apt's cache generator reads them; each name it meets
/// there becomes a package of the cache, numbered in that order.
const CREATING_FIELDS: &[&str] = &[
    "Pre-Depends",
    "Depends",
    "Conflicts",
    "Breaks",
    "Recommends",
    "Suggests",
    "Replaces",
    "Enhances",
    "Provides",
];

/// Numbers each name the first time a paragraph mentions it, as apt numbers the packages of
/// its cache (its package ID): the package itself, then the names in its relation fields.
/// `name:any` is a package of its own to apt, so it numbers nothing here.
pub fn number_names(paragraph: &Paragraph, ids: &mut BTreeMap<String, usize>) {
    let fields = CREATING_FIELDS
        .iter()
        .filter_map(|field| paragraph.get(field));
    let related = fields.flat_map(|field| field.split([',', '|']));
    for text in paragraph.get("Package").into_iter().chain(related) {
        let name = text.trim().split([' ', '\n', '\t', '(', '[', '<']).next();
        let Some(name) = name.filter(|n| !n.is_empty() && !n.ends_with(":any")) else {
            continue;
        };
        let name = name.split(':').next().unwrap_or(name);
        let next = ids.len();
        ids.entry(name.to_owned()).or_insert(next);
    }
}

/// The candidates: for each package name the highest version of all indices given.
#[derive(Debug, Default)]
pub struct Index {
    candidates: BTreeMap<String, Available>,
    /// Virtual name → the packages whose candidate provides it.
    providers: BTreeMap<String, BTreeSet<String>>,
    /// apt's package IDs, from [`number_names`]: its last tie-break between providers.
    ids: BTreeMap<String, usize>,
}

impl Index {
    /// Keeps the highest version of each name; of equal versions, the first given.
    pub fn new(
        packages: impl IntoIterator<Item = Available>,
        ids: BTreeMap<String, usize>,
    ) -> Index {
        let mut candidates: BTreeMap<String, Available> = BTreeMap::new();
        for package in packages {
            match candidates.get(&package.name) {
                Some(kept) if version::compare(&package.version, &kept.version).is_le() => {}
                _ => {
                    candidates.insert(package.name.clone(), package);
                }
            }
        }
        let mut providers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for package in candidates.values() {
            for provided in &package.provides {
                providers
                    .entry(provided.name.clone())
                    .or_default()
                    .insert(package.name.clone());
            }
        }
        Index {
            candidates,
            providers,
            ids,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Available> {
        self.candidates.get(name)
    }

    /// The candidate of a package someone asked for by name; `suites` names the indices for
    /// the error.
    pub fn candidate(&self, name: &str, suites: &str) -> Result<&Available, ResolveError> {
        self.get(name)
            .ok_or_else(|| match self.providers.get(name) {
                Some(providers) => ResolveError::Virtual {
                    name: name.to_owned(),
                    providers: providers.iter().cloned().collect::<Vec<_>>().join(", "),
                },
                None => ResolveError::Unknown {
                    name: name.to_owned(),
                    suites: suites.to_owned(),
                },
            })
    }

    /// The candidates that could satisfy one alternative, best first as apt's
    /// `CompareProviders` orders them for an empty system: the package of that name, then
    /// essential, then `Important: yes`, then by `Priority`, then by apt's package ID, highest
    /// first.
    fn solutions(&self, relation: &Relation) -> Vec<&Available> {
        let mut found: Vec<&Available> = self
            .providers
            .get(&relation.name)
            .into_iter()
            .flatten()
            .filter_map(|name| self.candidates.get(name))
            .filter(|candidate| candidate.provides_match(relation))
            .collect();
        let id = |c: &Available| self.ids.get(&c.name).copied().unwrap_or(0);
        found.sort_by(|a, b| {
            let key = |c: &Available| (!c.essential, !c.important, c.priority);
            key(a).cmp(&key(b)).then_with(|| id(b).cmp(&id(a)))
        });
        if let Some(real) = self
            .candidates
            .get(&relation.name)
            .filter(|real| real.is_real_match(relation))
        {
            found.retain(|c| c.name != real.name);
            found.insert(0, real);
        }
        found
    }
}

/// A package of the closure and the packages its dependencies were resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub package: Available,
    pub depends: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error(
        "no package `{name}` for {ARCH} in {suites}: check the name (`apt-cache search` \
         helps) and that the package lists are current"
    )]
    Unknown { name: String, suites: String },
    #[error("`{name}` is a virtual package, provided by {providers}: name the one to install")]
    Virtual { name: String, providers: String },
    #[error("{}: no candidate satisfies `{dependency}`", chain.join(" → "))]
    Unsatisfiable {
        /// From the requested package down to the one whose dependency fails.
        chain: Vec<String>,
        dependency: String,
    },
    #[error("`{name}` {version}: {source}")]
    Relation {
        name: String,
        version: String,
        source: RelationError,
    },
}

/// The closure of `requested` over `index`, keyed by package name.
pub fn resolve(
    index: &Index,
    requested: &[String],
    omitted: &BTreeSet<String>,
    suites: &str,
) -> Result<BTreeMap<String, Chosen>, ResolveError> {
    let mut resolver = Resolver {
        index,
        omitted,
        chosen: BTreeMap::new(),
    };
    for name in requested {
        resolver.install(index.candidate(name, suites)?)?;
    }
    Ok(resolver.chosen)
}

struct Resolver<'a> {
    index: &'a Index,
    /// Packages never installed: a dependency group naming one is left unmet, on purpose
    /// (`[[omit]]` in packages.lock says why for each).
    omitted: &'a BTreeSet<String>,
    chosen: BTreeMap<String, Chosen>,
}

impl Resolver<'_> {
    /// Chooses `package`, then what its dependencies need, depth first as apt's `MarkInstall`.
    fn install(&mut self, package: &Available) -> Result<(), ResolveError> {
        if self.chosen.contains_key(&package.name) {
            return Ok(());
        }
        let groups = package
            .dependencies()
            .map_err(|source| ResolveError::Relation {
                name: package.name.clone(),
                version: package.version.clone(),
                source,
            })?;
        // Chosen before its dependencies, so that a dependency circle ends here.
        self.chosen.insert(
            package.name.clone(),
            Chosen {
                package: package.clone(),
                depends: BTreeSet::new(),
            },
        );
        let mut depends = BTreeSet::new();
        for group in &groups {
            if group
                .iter()
                .any(|relation| self.omitted.contains(&relation.name))
            {
                continue;
            }
            let choice = match self.already_satisfied(group) {
                Some(name) => name,
                None => self.install_one_of(group).map_err(|mut error| {
                    if let ResolveError::Unsatisfiable { chain, .. } = &mut error {
                        chain.insert(0, package.name.clone());
                    }
                    error
                })?,
            };
            depends.insert(choice);
        }
        if let Some(chosen) = self.chosen.get_mut(&package.name) {
            chosen.depends = depends;
        }
        Ok(())
    }

    /// A package already chosen that satisfies the group, trying the alternatives in order.
    fn already_satisfied(&self, group: &Group) -> Option<String> {
        group.iter().find_map(|relation| {
            let real = self
                .chosen
                .get(&relation.name)
                .filter(|c| c.package.is_real_match(relation));
            real.or_else(|| {
                self.index
                    .providers
                    .get(&relation.name)?
                    .iter()
                    .filter_map(|name| self.chosen.get(name))
                    .find(|c| c.package.satisfies(relation))
            })
            .map(|c| c.package.name.clone())
        })
    }

    /// Installs the first solution of the group whose own dependencies can be met; a failed
    /// attempt leaves nothing chosen.
    fn install_one_of(&mut self, group: &Group) -> Result<String, ResolveError> {
        let mut seen = BTreeSet::new();
        let solutions: Vec<&Available> = group
            .iter()
            .flat_map(|relation| self.index.solutions(relation))
            .filter(|candidate| seen.insert(candidate.name.clone()))
            .collect();
        let mut failure = None;
        for candidate in solutions {
            let before = self.chosen.clone();
            match self.install(candidate) {
                Ok(()) => return Ok(candidate.name.clone()),
                Err(error) => {
                    self.chosen = before;
                    failure.get_or_insert(error);
                }
            }
        }
        Err(failure.unwrap_or_else(|| ResolveError::Unsatisfiable {
            chain: Vec::new(),
            dependency: render(group),
        }))
    }
}

fn render(group: &Group) -> String {
    group
        .iter()
        .map(|relation| match &relation.constraint {
            Some((op, version)) => format!("{} ({} {version})", relation.name, op.symbol()),
            None => relation.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// For each package of a closure, the requested packages whose closure holds it.
pub fn pulled_by(
    closure: &BTreeMap<String, Chosen>,
    requested: &[String],
) -> BTreeMap<String, BTreeSet<String>> {
    let mut pulled: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for top in requested {
        let mut stack = vec![top.clone()];
        while let Some(name) = stack.pop() {
            let entry = pulled.entry(name.clone()).or_default();
            if !entry.insert(top.clone()) {
                continue;
            }
            if let Some(chosen) = closure.get(&name) {
                stack.extend(chosen.depends.iter().cloned());
            }
        }
    }
    pulled
}

#[cfg(test)]
mod tests;
