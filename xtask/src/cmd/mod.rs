//! Subcommands that wrap one library crate each, with their own argument types.

pub mod bench_exec;
pub mod bench_verity;
pub mod fsverity;
pub mod keys;
pub mod policy;
pub mod sign;
pub mod verity;
