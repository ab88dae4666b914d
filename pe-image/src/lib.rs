//! PE/COFF images for UEFI, in memory and without I/O.
//!
//! - [`PeImage`]: the parsed headers and section table of an EFI application,
//!   every offset checked against the file.
//! - [`authenticode`]: the byte ranges the Authenticode image hash covers, and
//!   appending a signature as the certificate table.
//! - [`checksum`]: the optional-header CheckSum.
//! - [`uki`]: a Unified Kernel Image: systemd-stub with `.osrel`, `.cmdline`,
//!   `.linux` and `.initrd` sections appended.
//!
//! Hashing and signing live in the `signing` crate; this one only knows the
//! layout, so each rule is unit-tested on plain bytes.

pub mod authenticode;
pub mod checksum;
mod error;
mod headers;
pub mod uki;

pub use error::{Error, Result};
pub use headers::{PeImage, Section};

#[cfg(test)]
mod test_image;
