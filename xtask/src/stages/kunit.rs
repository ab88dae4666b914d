//! Stage `kunit`: the KUnit kernel. The appliance's kernel (same patches, fragments and Rust IPE
//! sources) plus `ipe-lsm/kernel/kunit.config`, in an object tree of its own; its suites run at
//! boot, then it powers off. Cache key: the kernel stage's, which includes that fragment.

use std::path::PathBuf;

use anyhow::Result;

use super::kernel;
use super::kernel_inputs::kernel_inputs;
use super::layer_stack::Ipe;
use super::session::Session;

/// The fragment that turns the appliance's configuration into the KUnit kernel's.
const FRAGMENT: &str = "ipe-lsm/kernel/kunit.config";

/// What the KUnit kernel needs on its command line besides the layers' console: run, then
/// power off (no root filesystem is needed), and leave QEMU on a panic.
pub const CMDLINE: &str = "kunit_shutdown=poweroff panic=-1";

pub struct KunitKernel {
    pub bzimage: PathBuf,
    /// The layers' kernel command line (the console).
    pub cmdline: String,
}

/// Builds the KUnit kernel for these layers, with the Rust IPE: its suite is the one here.
pub fn build(session: &Session, layers: &[String]) -> Result<KunitKernel> {
    let layers = session.layers(layers, Ipe::Rust)?;
    let inputs = kernel_inputs(
        &session.project.root,
        session.toolchain()?,
        &layers.resolved,
        vec![session.project.root.join(FRAGMENT)],
        kernel::Flavour::KUnit,
        // Not shipped: any fixed time will do.
        0,
    )?;
    tracing::info!("kunit: the KUnit kernel");
    let kernel = kernel::build(&session.project.cache, &inputs)?;
    let mut cmdline = layers.resolved.kernel_cmdline.clone();
    cmdline.push(CMDLINE.to_owned());
    Ok(KunitKernel {
        bzimage: kernel.bzimage,
        cmdline: cmdline.join(" "),
    })
}
