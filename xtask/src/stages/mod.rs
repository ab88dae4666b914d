//! The pipeline's stages, one module each; `image` runs them in order.

mod apt_sources;
pub mod image;
mod kconfig;
mod kernel;
mod policy;
mod rootfs;
pub mod setup;
mod verity;
