//! The pipeline's stages, one module each; `image` runs them in order.

mod apt_sources;
pub mod binaries;
pub mod boot_spec;
pub mod debian_index;
mod disk;
pub mod image;
pub mod ipe_rust;
mod kbuild;
mod kconfig;
pub mod kernel;
mod kernel_inputs;
pub mod kunit;
pub mod layer_stack;
pub mod outputs;
pub mod policy;
pub mod record;
mod rootfs;
pub mod sbom;
pub mod sealed;
pub mod session;
pub mod setup;
pub mod sign;
mod stage_sources;
mod timings;
mod tree;
pub mod validate;
pub mod verity;
