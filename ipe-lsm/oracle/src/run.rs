//! The loop shared by the tests and `ipe-differential`: count cases, hand
//! each divergence to a sink, report progress.

use std::ops::ControlFlow;

/// Where a run's divergences and progress go.
pub trait Sink<D> {
    /// One divergence; `Break` stops the run.
    fn divergence(&mut self, divergence: D) -> ControlFlow<()>;

    /// Called after each batch with the number of cases tried so far.
    fn progress(&mut self, _tried: u64) {}
}

/// Collects divergences as text and stops after `limit` of them (the tests).
pub struct Collect {
    pub limit: usize,
    pub found: Vec<String>,
}

impl Collect {
    pub fn new(limit: usize) -> Self {
        Collect {
            limit,
            found: Vec::new(),
        }
    }
}

impl<D: std::fmt::Display> Sink<D> for Collect {
    fn divergence(&mut self, divergence: D) -> ControlFlow<()> {
        self.found.push(divergence.to_string());
        if self.found.len() >= self.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Cases compared.
    pub tried: u64,
    /// Cases both sides accepted (parse) or decided with a rule (eval).
    pub positive: u64,
    /// Cases where the sides differed.
    pub divergences: u64,
}
