//! Debian package metadata, pure: deb822 control text, dpkg's version order, relation fields,
//! and the dependency closure apt would install. The indices are read in `stages::debian_index`.

pub mod closure;
pub mod control;
pub mod relations;
pub mod version;
