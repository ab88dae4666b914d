//! `cargo xtask policy check FILE...`: validate IPE policies with the same
//! engine (and so the same verdicts and errnos) as the appliance kernel.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

/// Work with IPE policy files.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files exactly as Linux 6.12 IPE would parse them.
    ///
    /// Prints `FILE: ok`, or `FILE: ERRNO line N token `T`: why` with the errno
    /// the kernel would return (EBADMSG, EINVAL, ERANGE, ENOMEM). Exits non-zero
    /// unless every file is ok.
    Check {
        /// Policy files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(args: &PolicyArgs) -> Result<()> {
    match &args.command {
        PolicyCommand::Check { files } => check(files),
    }
}

fn check(files: &[PathBuf]) -> Result<()> {
    let mut failed = 0_usize;
    for file in files {
        let text = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        match ipe_lsm::host::check(&text) {
            Ok(()) => println!("{}: ok", file.display()),
            Err(diagnostic) => {
                println!("{}: {diagnostic}", file.display());
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} policy files rejected", files.len());
    }
    Ok(())
}
