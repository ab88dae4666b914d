//! Subcommands with their own argument types: most wrap one library crate each; `run_qemu`
//! and `repro` drive built images.

pub mod bench_exec;
pub mod bench_verity;
pub mod fsverity;
pub mod keys;
pub mod layers;
pub mod policy;
pub mod repro;
pub mod run_qemu;
pub mod sign;
pub mod verity;
