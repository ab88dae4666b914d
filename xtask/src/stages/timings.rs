//! How long each stage of a build took, printed at its end.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// The time each stage took, printed at the end of a build.
#[derive(Default)]
pub struct Timings(Vec<(&'static str, Duration)>);

impl Timings {
    pub fn time<T>(&mut self, stage: &'static str, run: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let result = run().with_context(|| format!("stage {stage}"));
        self.0.push((stage, started.elapsed()));
        result
    }

    pub fn report(&self) {
        let total: Duration = self.0.iter().map(|(_, took)| *took).sum();
        let stages: Vec<String> = self
            .0
            .iter()
            .map(|(stage, took)| format!("{stage} {:.2}s", took.as_secs_f64()))
            .collect();
        tracing::info!(
            "image: built in {:.2}s: {}",
            total.as_secs_f64(),
            stages.join(", ")
        );
    }
}
