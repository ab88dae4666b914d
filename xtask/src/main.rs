//! `cargo xtask`: the appliance builder's command line. Thin: parse, then dispatch.
//!
//! Modules depend one way: this file and `flags` → commands (`cmd/`) and the test suite
//! (`suite/`) → `stages/` → the libraries (`cache`, `debian`, `dynamic_loader`, `exec`,
//! `layers`, `lockfile`, `project`, `guests`, `logfile`, `remote_cache` and the workspace
//! crates).
//! `suite/imports.rs` checks that no import circle forms.

mod args;
mod cache;
mod cmd;
mod debian;
mod dynamic_loader;
mod exec;
mod firmware;
mod flags;
mod gpt;
mod guests;
mod layers;
mod lockfile;
mod logfile;
mod project;
mod remote_cache;
mod stages;
mod suite;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use flags::{Cli, Command};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter::LevelFilter, fmt};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if let Err(error) = remote_cache::configure(
        cli.remote_cache.as_deref(),
        cli.remote_cache_mode,
        cli.remote_cache_keys.as_deref(),
    ) {
        eprintln!("error: {error:#}");
        return ExitCode::FAILURE;
    }
    let result = run(cli.command);
    remote_cache::log_summary();
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Stderr at the chosen level, in colour only on a terminal; the build log gets everything
/// down to debug, without colour.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug,kbuild=info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("APPLIANCE_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_target(false)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .with(
            fmt::layer()
                .with_target(false)
                .with_ansi(false)
                .with_writer(logfile::LogFile)
                .with_filter(LevelFilter::DEBUG),
        )
        .init();
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let session = stages::session::Session::new(project::Project::discover()?);
    let project = &session.project;
    match command {
        Command::Setup => {
            let toolchain = session.toolchain()?;
            tracing::info!(
                "setup: ready; kernel source {}",
                toolchain.kernel_source.display()
            );
        }
        Command::Image(args) => {
            let request = args.image.request(&project.root, args.ipe)?;
            stages::image::build(&session, &request)?;
        }
        Command::Bundle(args) => cmd::bundle::run(&session, &args)?,
        Command::RunQemu(args) => cmd::run_qemu::run(project, &args)?,
        Command::Test(args) => return suite::run(&session, &args),
        Command::Kunit(args) => return suite::run_kunit_only(&session, &args),
        Command::Repro(args) => return cmd::repro::run(&session, &args),
        Command::Layers(args) => cmd::layers::run(&session, &args)?,
        Command::Lock(args) => cmd::lock::run(project, &args)?,
        Command::Policy(args) => cmd::policy::run(&args)?,
        Command::Keys(args) => cmd::keys::run(&args)?,
        Command::Sign(args) => cmd::sign::run(&args, &project.root)?,
        Command::Verity(args) => cmd::verity::run(&args)?,
        Command::Fsverity(args) => cmd::fsverity::run(&args)?,
        Command::Bench(flags::BenchCommand::Verity(args)) => cmd::bench_verity::run(&args)?,
        Command::Bench(flags::BenchCommand::Exec(args)) => cmd::bench_exec::run(&session, &args)?,
        Command::Bench(flags::BenchCommand::Boot(args)) => cmd::bench_boot::run(&session, &args)?,
        Command::Bench(flags::BenchCommand::Update(args)) => {
            cmd::bench_update::run(&session, &args)?
        }
        Command::Bench(flags::BenchCommand::RemoteCache(args)) => {
            cmd::bench_remote_cache::run(&session, &args)?
        }
    }
    Ok(ExitCode::SUCCESS)
}
