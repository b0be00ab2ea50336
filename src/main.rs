//! The `cognigate` command line: parse, set up logging, run, map to exit codes
//! (0 ok, 1 invalid config or runtime failure, 2 usage error).

use clap::{Parser, Subcommand};
use cognigate::commands::{self, Report};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "cognigate",
    version,
    about = "Authenticating reverse proxy for Amazon Cognito JWTs"
)]
struct Cli {
    /// Serve with this config (same as `cognigate run --config FILE`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve: proxy listener + admin listener.
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a config; with --fetch also fetch every issuer's JWKS.
    Check {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long)]
        fetch: bool,
    },
    /// Exit 0 if URL answers 200 within 2 s, else 1 (a shell-free container health check).
    Health {
        #[arg(long)]
        url: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match (cli.command, cli.config) {
        (Some(command), None) => command,
        (None, Some(config)) => Command::Run { config },
        (Some(_), Some(_)) => usage("give --config to the subcommand, not before it"),
        (None, None) => usage("a subcommand or --config FILE is required (see --help)"),
    };
    cognigate::telemetry::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(dispatch(command))
}

async fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Run { config } => match cognigate::app::run(&config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("{e:#}")),
        },
        Command::Check { config, fetch } => finish(commands::check::check(&config, fetch).await),
        Command::Health { url } => match commands::health::probe(&url).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
    }
}

#[expect(clippy::print_stdout, reason = "command output belongs on stdout")]
fn finish(report: Report) -> ExitCode {
    for line in &report.stdout {
        println!("{line}");
    }
    for line in &report.stderr {
        eprintln!("{line}");
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn fail(message: &str) -> ExitCode {
    for line in message.lines() {
        eprintln!("cognigate: {line}");
    }
    ExitCode::from(1)
}

fn usage(message: &str) -> ! {
    eprintln!("cognigate: {message}");
    std::process::exit(2)
}
