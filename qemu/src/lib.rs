//! Booting an appliance in QEMU: the command line (pure, in [`machine`]) and a headless guest
//! driven through its serial console (in [`guest`]). This crate is the only place that runs QEMU.

pub mod guest;
pub mod machine;

pub use guest::{Guest, GuestError, Output, boots_to, run_interactive};
pub use machine::{Accel, Machine, UefiFirmware, UserNetwork};
