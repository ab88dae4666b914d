//! `ipe-differential`: ipe-lsm against upstream's C IPE at scale. Prints the
//! number of cases tried and every divergence; exits non-zero on any.
//!
//! ```text
//! cargo run --release -p ipe-lsm-oracle --bin ipe-differential -- parse --inputs 10000000 --seed 1
//! cargo run --release -p ipe-lsm-oracle --bin ipe-differential -- eval --cases 1000000 --seed 1
//! cargo run --release -p ipe-lsm-oracle --bin ipe-differential -- bench
//! ```

use std::fmt::Display;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use ipe_lsm_oracle::run::{Sink, Tally};
use ipe_lsm_oracle::{KERNEL_SOURCE, bench, decide, parse};

#[derive(Parser)]
#[command(about = "ipe-lsm against upstream IPE's C parser and evaluator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse generated policy texts with both parsers; compare errnos and
    /// the parsed policies.
    Parse {
        #[arg(long, default_value_t = 10_000_000)]
        inputs: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Decide random events under random policies with upstream's eval.c,
    /// ipe-lsm's linear scan and its index; compare action and matched rule.
    Eval {
        #[arg(long, default_value_t = 1_000_000)]
        cases: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Time decisions of the three evaluators on 10, 1,000 and 10,000 rules.
    Bench {
        /// Minimum length of one timed run, in milliseconds.
        #[arg(long, default_value_t = 50)]
        sample_ms: u64,
    },
}

/// Prints each divergence to stdout and, every `step` cases, progress to
/// stderr.
struct Print {
    what: &'static str,
    step: u64,
    next: u64,
    started: Instant,
}

impl Print {
    fn new(what: &'static str, step: u64, started: Instant) -> Self {
        Print {
            what,
            step,
            next: step,
            started,
        }
    }
}

impl<D: Display> Sink<D> for Print {
    fn divergence(&mut self, divergence: D) -> ControlFlow<()> {
        println!("DIVERGENCE\n{divergence}\n");
        ControlFlow::Continue(())
    }

    fn progress(&mut self, tried: u64) {
        if tried >= self.next {
            eprintln!("{tried} {} ({:.0?})", self.what, self.started.elapsed());
            self.next = (tried / self.step + 1) * self.step;
        }
    }
}

fn summary(what: &str, tally: Tally, positive: &str, started: Instant) -> ExitCode {
    println!(
        "{} {what} tried, {} {positive}, {} divergences, {:.1?}",
        tally.tried,
        tally.positive,
        tally.divergences,
        started.elapsed()
    );
    if tally.divergences == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    println!("kernel tree: {KERNEL_SOURCE}");
    let started = Instant::now();
    match cli.command {
        Command::Parse { inputs, seed } => {
            println!("parse: {inputs} inputs, seed {seed}");
            let mut sink = Print::new("inputs", 1_000_000, started);
            let tally = parse::run(seed, inputs, &mut sink);
            summary("inputs", tally, "accepted by both", started)
        }
        Command::Eval { cases, seed } => {
            println!(
                "eval: {cases} cases, seed {seed}, {} events per policy",
                decide::EVENTS_PER_POLICY
            );
            let mut sink = Print::new("cases", 100_000, started);
            let tally = decide::run(seed, cases, &mut sink);
            summary("cases", tally, "decided by a rule", started)
        }
        Command::Bench { sample_ms } => match bench::measure(Duration::from_millis(sample_ms)) {
            Ok(rows) => {
                print!("{}", bench::table(&rows));
                ExitCode::SUCCESS
            }
            Err(divergence) => {
                println!("DIVERGENCE\n{divergence}");
                ExitCode::FAILURE
            }
        },
    }
}
