//! Subcommands with their own argument types: most wrap one library crate each; `run_qemu`
//! and `repro` drive built images; `lock` resolves Debian packages into `packages.lock`.

pub mod bench_boot;
pub mod bench_exec;
pub mod bench_remote_cache;
pub mod bench_update;
pub mod bench_verity;
pub mod bundle;
pub mod fsverity;
pub mod keys;
pub mod layers;
pub mod lock;
pub mod policy;
pub mod repro;
pub mod run_qemu;
pub mod sign;
pub mod verity;
