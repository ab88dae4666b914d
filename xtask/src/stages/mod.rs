//! The pipeline's stages, one module each; `image` runs them in order.

mod apt_sources;
mod disk;
pub mod image;
pub mod ipe_rust;
mod kconfig;
mod kernel;
pub mod kunit;
pub mod policy;
mod rootfs;
mod sealed;
pub mod setup;
pub mod sign;
mod verity;
