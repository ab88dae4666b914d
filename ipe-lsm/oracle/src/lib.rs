//! Differential oracle: runs upstream's C IPE (the parser and the evaluator,
//! compiled from the kernel tree by build.rs) and ipe-lsm on the same inputs
//! and compares the results.

pub mod bench;
mod canonical;
pub mod decide;
pub mod generate;
pub mod parse;
pub mod run;
pub mod scenario;
pub mod upstream;

pub use canonical::canonical;
pub use parse::{Outcome, diverges, ours};

/// Where the build looked for the kernel tree.
pub const KERNEL_SOURCE: &str = env!("IPE_ORACLE_KERNEL_SRC");
