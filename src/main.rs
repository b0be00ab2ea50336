//! The `cognigate` command line: parse, set up logging, run, map to exit codes
//! (0 ok, 1 invalid config or runtime failure, 2 usage error).

use clap::{Parser, Subcommand, ValueEnum};
use cognigate::commands::explain::{Query, TokenSource};
use cognigate::commands::token::{DEFAULT_CLIENT_ID, DEFAULT_ISSUER, MintOptions, parse_claim};
use cognigate::commands::{self, Report};
use cognigate::config::TokenUse;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// jemalloc rather than the system allocator: its size-class slabs keep no headers
/// beside each block, so an idle connection's mostly unused 8 KiB hyper buffers cost
/// the one page written rather than three, and it returns freed memory after a burst
/// (benches/RESULTS.md, "Memory: idle connections give their buffers back"). Built with its background thread on (the
/// `background_threads` feature) and dirty pages purged after 1 s
/// (`.cargo/config.toml`): otherwise pages are returned only on later allocator
/// calls, so the buffers of connections parked when traffic stops (`server::park`)
/// would stay resident until traffic resumes. Its thread cache is also set larger
/// there, for hyper's per-request read buffers.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Zero-setup demo: local issuer, echo upstream, proxy on 127.0.0.1:PORT, curl commands to try.
    Demo {
        /// Port of the proxy listener (on 127.0.0.1).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Mint a Cognito-shaped token signed by a local dev key, or generate such a key.
    Token(TokenArgs),
    /// Print, without serving, what the proxy would do with a request, step by step.
    Explain {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The bearer token the request carries.
        #[arg(long, value_name = "T", conflicts_with = "token_file")]
        token: Option<String>,
        /// Read the bearer token from this file.
        #[arg(long, value_name = "F")]
        token_file: Option<PathBuf>,
        /// Fetch every issuer's JWKS and verify the signature for real.
        #[arg(long)]
        fetch: bool,
        /// The request's Cookie header (e.g. a browser session's cookies, with [login]).
        #[arg(long, value_name = "COOKIES")]
        cookie: Option<String>,
        /// HTTP method, e.g. GET.
        method: String,
        /// http://host/path?query, or just /path?query.
        url: String,
    },
    /// Exit 0 if URL answers 200 within 2 s, else 1 (a shell-free container health check).
    Health {
        #[arg(long)]
        url: String,
    },
}

/// `cognigate token`: mint with `--key FILE --sub S ...`, or `--generate-key FILE [--jwks FILE]`.
#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// PEM RSA private key to sign with.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "generate_key",
        requires = "sub"
    )]
    key: Option<PathBuf>,
    /// `sub` (and, unless --username, the user name).
    #[arg(long, value_name = "S", requires = "key")]
    sub: Option<String>,
    /// `cognito:groups`, comma-separated.
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    groups: Vec<String>,
    /// `scope`, space-separated (access tokens).
    #[arg(long, value_name = "\"x y\"")]
    scope: Option<String>,
    /// Lifetime, e.g. 15m, 1h.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// Kind of token.
    #[arg(long, value_enum, default_value_t = Use::Access)]
    token_use: Use,
    /// `client_id` (access) or `aud` (id).
    #[arg(long, value_name = "C", default_value = DEFAULT_CLIENT_ID)]
    client_id: String,
    /// `iss`.
    #[arg(long, value_name = "URL", default_value = DEFAULT_ISSUER)]
    issuer: String,
    /// `username` (access) / `cognito:username` (id); default: the sub.
    #[arg(long, value_name = "U")]
    username: Option<String>,
    /// `email` (id tokens).
    #[arg(long, value_name = "E")]
    email: Option<String>,
    /// A further claim, its value in JSON: custom:tenant_id='"acme"'; repeatable.
    #[arg(long, value_name = "K=JSON", value_parser = parse_claim)]
    claim: Vec<(String, serde_json::Value)>,
    /// Write a new RSA private key (mode 0600) here and print its JWKS.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "sub", "groups", "scope", "username", "email", "claim"])]
    generate_key: Option<PathBuf>,
    /// With --generate-key: write the JWKS to this file instead of stdout.
    #[arg(long, value_name = "FILE", requires = "generate_key")]
    jwks: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Use {
    Access,
    Id,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match (cli.command, cli.config) {
        (Some(command), None) => command,
        (None, Some(config)) => Command::Run { config },
        (Some(_), Some(_)) => usage("give --config to the subcommand, not before it"),
        (None, None) => usage("a subcommand or --config FILE is required (see --help)"),
    };
    let _flush_logs_on_exit = cognigate::telemetry::init_logging();
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(dispatch(command))
}

/// One worker per CPU the process may run on (affinity and cgroup quota aware, so a
/// sidecar limited to one core gets one), overridable with `TOKIO_WORKER_THREADS`. On a
/// single core the current-thread scheduler wins: the multi-thread one would add
/// cross-thread wake-ups and work-stealing bookkeeping for nothing (benches/RESULTS.md).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(cores);
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

async fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Run { config } => match cognigate::app::run(&config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("{e:#}")),
        },
        Command::Check { config, fetch } => finish(commands::check::check(&config, fetch).await),
        Command::Demo { port } => demo(port).await,
        Command::Token(args) => finish_or_fail(token(args)),
        Command::Explain {
            config,
            token,
            token_file,
            fetch,
            cookie,
            method,
            url,
        } => {
            let token = match (token, token_file) {
                (Some(t), _) => TokenSource::Inline(t),
                (None, Some(f)) => TokenSource::File(f),
                (None, None) => TokenSource::None,
            };
            let query = Query {
                method,
                url,
                token,
                fetch,
                cookie,
            };
            finish_or_fail(commands::explain::explain(&config, &query).await)
        }
        Command::Health { url } => match commands::health::probe(&url).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
    }
}

fn token(args: TokenArgs) -> Result<Report, String> {
    if let Some(key) = args.generate_key {
        return commands::token::generate_key(&key, args.jwks.as_deref());
    }
    let (Some(key), Some(sub)) = (args.key, args.sub) else {
        usage("token: give --key FILE --sub S, or --generate-key FILE");
    };
    let options = MintOptions {
        sub,
        groups: args.groups,
        scope: args.scope,
        ttl: args.ttl,
        token_use: match args.token_use {
            Use::Access => TokenUse::Access,
            Use::Id => TokenUse::Id,
        },
        client_id: args.client_id,
        issuer: args.issuer,
        username: args.username,
        email: args.email,
        claims: args.claim,
    };
    commands::token::mint_token(&key, &options)
}

/// Runs the demo until SIGINT / SIGTERM.
async fn demo(port: u16) -> ExitCode {
    // Before anything serves: whoever reads the banner may signal at once.
    let signalled = match cognigate::app::shutdown_signal() {
        Ok(signalled) => signalled,
        Err(e) => return fail(&format!("cannot install signal handlers: {e}")),
    };
    let demo = match commands::demo::start(port).await {
        Ok(demo) => demo,
        Err(e) => return fail(&e),
    };
    print_lines(&demo.banner);
    signalled.await;
    tracing::info!("shutdown signal received");
    demo.stop().await;
    ExitCode::SUCCESS
}

fn finish_or_fail(result: Result<Report, String>) -> ExitCode {
    match result {
        Ok(report) => finish(report),
        Err(e) => fail(&e),
    }
}

#[expect(clippy::print_stdout, reason = "command output belongs on stdout")]
fn print_lines(lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
}

fn finish(report: Report) -> ExitCode {
    print_lines(&report.stdout);
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
