//! Debian package metadata, pure: deb822 control text, dpkg's version order, relation fields,
//! the dependency closure apt would install, and what installing a package without running it
//! means: its maintainer scripts read, its alternatives chosen, its documentation trimmed. The
//! indices are read in `stages::debian_index`, the packages unpacked in `stages::packages`.

pub mod alternatives;
pub mod closure;
pub mod control;
pub mod maintscripts;
pub mod relations;
pub mod reviewed_scripts;
pub mod trim;
pub mod version;
