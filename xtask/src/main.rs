//! `cargo xtask`: the appliance builder's command line. Thin: parse, then dispatch.

mod cache;
mod cmd;
mod exec;
mod flags;
mod layers;
mod lockfile;
mod project;
mod run_qemu;
mod stages;
mod suite;

use std::process::ExitCode;

use clap::Parser;
use flags::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug,kbuild=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("APPLIANCE_LOG")
        .unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let project = project::Project::discover()?;
    match command {
        Command::Setup => {
            let toolchain = stages::setup::run(&project)?;
            tracing::info!(
                "setup: ready; kernel source {}",
                toolchain.kernel_source.display()
            );
        }
        Command::Image(args) => {
            stages::image::build(&project, &image_request(&project, &args.image, args.ipe))?;
        }
        Command::RunQemu(args) => run_qemu::run(&project, &args)?,
        Command::Test(args) => return suite::run(&project, &args),
        Command::Kunit(args) => return suite::run_kunit_only(&project, &args),
        Command::Lock(args) => lock(&project, &args)?,
        Command::Policy(args) => cmd::policy::run(&args)?,
        Command::Keys(args) => cmd::keys::run(&args)?,
        Command::Sign(args) => cmd::sign::run(&args)?,
        Command::Verity(args) => cmd::verity::run(&args)?,
        Command::Fsverity(args) => cmd::fsverity::run(&args)?,
        Command::Bench(flags::BenchCommand::Verity(args)) => cmd::bench_verity::run(&args)?,
        Command::Bench(flags::BenchCommand::Exec(args)) => cmd::bench_exec::run(&project, &args)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn image_request(
    project: &project::Project,
    args: &flags::ImageArgs,
    ipe: flags::Ipe,
) -> stages::image::ImageRequest {
    stages::image::ImageRequest {
        layers: args.layers.names.clone(),
        name: args.name.clone(),
        source_date_epoch: args.source_date_epoch,
        ipe,
        signer: match (&args.signing_cert, &args.external_signer) {
            (Some(cert), Some(command)) => stages::sign::SignerChoice::External {
                cert: cert.clone(),
                command: command.clone(),
            },
            _ => stages::sign::SignerChoice::DevKeys(project.root.join(&args.keys)),
        },
        policy_version: args.policy_version.clone(),
    }
}

fn lock(project: &project::Project, args: &flags::LockArgs) -> anyhow::Result<()> {
    let mut lock = project.lock.clone();
    for name in &args.packages {
        let (pin, _) = stages::setup::pin_candidate(&project.cache, name, &args.suite)?;
        tracing::info!("pinned {} {} ({})", pin.name, pin.version, pin.sha256);
        lock.upsert(pin);
    }
    cache::write_atomic(
        &project.root.join(lockfile::FILE_NAME),
        lock.render().as_bytes(),
    )
}
