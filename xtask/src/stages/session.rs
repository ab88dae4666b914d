//! What a run works out once and every build of it shares: the project, setup's toolchain, the
//! keys of each signer and the resolved layers of each layer list.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use anyhow::Result;

use super::layer_stack::{self, Ipe, Layers};
use super::setup::{self, Toolchain};
use super::sign::{self, Keys, SignerChoice};
use crate::project::Project;

/// Resolved layers by the layer list and IPE that asked for them.
type LayersByRequest = BTreeMap<(Vec<String>, Ipe), Rc<Layers>>;

pub struct Session {
    pub project: Project,
    toolchain: OnceCell<Toolchain>,
    keys: RefCell<Vec<(SignerChoice, Rc<Keys>)>>,
    layers: RefCell<LayersByRequest>,
}

impl Session {
    pub fn new(project: Project) -> Session {
        Session {
            project,
            toolchain: OnceCell::new(),
            keys: RefCell::default(),
            layers: RefCell::default(),
        }
    }

    /// Host tools and pinned inputs, set up on first use.
    pub fn toolchain(&self) -> Result<&Toolchain> {
        if let Some(toolchain) = self.toolchain.get() {
            return Ok(toolchain);
        }
        let toolchain = setup::run(&self.project)?;
        Ok(self.toolchain.get_or_init(|| toolchain))
    }

    pub fn keys(&self, choice: &SignerChoice) -> Result<Rc<Keys>> {
        if let Some((_, keys)) = self.keys.borrow().iter().find(|(c, _)| c == choice) {
            return Ok(keys.clone());
        }
        let keys = Rc::new(sign::load(choice)?);
        self.keys.borrow_mut().push((choice.clone(), keys.clone()));
        Ok(keys)
    }

    pub fn layers(&self, names: &[String], ipe: Ipe) -> Result<Rc<Layers>> {
        let key = (names.to_vec(), ipe);
        if let Some(layers) = self.layers.borrow().get(&key) {
            return Ok(layers.clone());
        }
        let layers = Rc::new(layer_stack::resolve(&self.project, names, ipe)?);
        self.layers.borrow_mut().insert(key, layers.clone());
        Ok(layers)
    }
}
