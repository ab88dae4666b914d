//! Stage `layers`: the layers an image is made of (the requested ones, then the IPE's own),
//! loaded and resolved. Pure apart from reading the layer files; no cache.

use anyhow::Result;

use super::ipe_rust;
use crate::layers::{self, Layer, LayerErrors, ResolvedLayers};
use crate::project::Project;

/// The IPE implementation built into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Ipe {
    /// Linux 6.12's own security/ipe (C).
    Upstream,
    /// security/ipe_rust: the C shim with the ipe-lsm engine in Rust.
    Rust,
}

impl Ipe {
    pub fn name(self) -> &'static str {
        match self {
            Ipe::Upstream => "upstream",
            Ipe::Rust => "rust",
        }
    }

    /// The output folder of an image with this IPE when tests or benchmarks build both: the
    /// default IPE's is the plain name.
    pub fn output_name(self, name: &str) -> String {
        match self {
            Ipe::Rust => name.to_owned(),
            Ipe::Upstream => format!("{name}-upstream"),
        }
    }
}

/// The layers as loaded (for hashing and error locations) and as merged.
pub struct Layers {
    pub loaded: Vec<Layer>,
    pub resolved: ResolvedLayers,
}

/// The named layers, loaded and resolved; `Ipe::Rust` appends the `ipe-rust` layer.
pub fn resolve(project: &Project, names: &[String], ipe: Ipe) -> Result<Layers> {
    let mut layer_names = names.to_vec();
    if ipe == Ipe::Rust && !layer_names.iter().any(|l| l == ipe_rust::LAYER) {
        layer_names.push(ipe_rust::LAYER.to_owned());
    }
    let mut loaded = Vec::new();
    let mut unreadable = Vec::new();
    for name in &layer_names {
        match layers::load(&project.layers_dir(), name) {
            Ok(layer) => loaded.push(layer),
            Err(error) => unreadable.push(error),
        }
    }
    // Every problem at once: the files that do not parse, and what the others get wrong.
    let resolved = layers::resolve(&loaded, &|name| {
        project
            .lock
            .closure(name)
            .err()
            .map(|error| error.to_string())
    });
    match resolved {
        Ok(resolved) if unreadable.is_empty() => Ok(Layers { loaded, resolved }),
        Ok(_) => Err(LayerErrors(unreadable).into()),
        Err(LayerErrors(more)) => {
            unreadable.extend(more);
            Err(LayerErrors(unreadable).into())
        }
    }
}
