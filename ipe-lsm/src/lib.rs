//! IPE policy engine with the grammar and semantics of Linux 6.12 `security/ipe/`.
//!
//! The core (everything except [`host`]) uses only `core`, so the same files
//! build inside the kernel. Storage comes from the caller through
//! [`Vector`], which the kernel backs with fallible allocation.
#![no_std]
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod digest;
mod errno;
mod eval;
mod facts;
mod index;
mod model;
mod parser;
mod storage;
mod text;

#[cfg(feature = "alloc")]
pub mod host;

pub use digest::Digest;
pub use errno::Errno;
pub use eval::{Decision, Source, decide, property_matches};
pub use facts::{ALG_NAME_MAX, Config, DIGEST_MAX, FactDigest, Facts};
pub use index::{IndexEntry, IndexedPolicy};
pub use model::{Action, Op, Policy, Property, Rule, Version};
pub use parser::{ParseError, Reason, parse};
pub use storage::{OutOfMemory, Vector};
