//! dm-verity and fs-verity in Rust.
