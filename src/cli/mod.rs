//! The `keyward` command. Parsing and printing only: every action is one core call.

mod call;
mod key;
mod output;
mod provider;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::events::{CoreEvent, EventSink, LogSink};
use crate::{logging, Error, Keyward};

use output::Printer;

#[derive(Debug, Parser)]
#[command(
    name = "keyward",
    version,
    about = "Keyward: keys, providers, rate limits and health for your exchange APIs",
    long_about = "Keyward keeps exchange API keys in the OS credential store, signs and rate-limits \
                  every call, and watches provider health. This is its command-line front end; \
                  the desktop app and `keyward serve` share the same data directory."
)]
pub struct Cli {
    /// Data directory (default: the OS application-data directory).
    #[arg(long, global = true, env = crate::DATA_DIR_ENV, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the version, data directory, database schema and secret backend.
    Info,
    /// Run Keyward headless (monitors, alerts and the gateway) until Ctrl-C.
    Serve,
    /// Providers: list, show, add, set, reset, export, import, remove, enable, disable.
    #[command(subcommand)]
    Provider(provider::ProviderCmd),
    /// Call a provider through the pipeline (cache, retry, rate limit, sign, record).
    Call(call::CallArgs),
    /// API keys: add, list, remove. Secrets go to the OS credential store only.
    #[command(subcommand)]
    Key(key::KeyCmd),
}

/// Any error a command can end with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Core(#[from] Error),
    #[error(transparent)]
    Provider(#[from] crate::provider::ProviderError),
    #[error(transparent)]
    Spec(#[from] crate::provider::SpecError),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Call(#[from] crate::pipeline::CallError),
    #[error(transparent)]
    Check(#[from] crate::keys::CheckError),
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Core(e) => e.kind().as_str(),
            CliError::Provider(e) => e.kind(),
            CliError::Spec(_) => "invalidSpec",
            CliError::Key(_) => "key",
            CliError::Call(e) => e.kind(),
            CliError::Check(e) => e.kind(),
            CliError::Usage(_) => "usage",
        }
    }
}

/// A runtime for commands that make calls.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("could not start the async runtime: {e}")))
}

/// Entry point of the `keyward` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer { json: cli.json };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            printer.error(&e);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let data_dir = match cli.data_dir {
        Some(dir) => dir,
        None => crate::default_data_dir()?,
    };
    let stderr_level = match (cli.verbose, &cli.command) {
        (0, Command::Serve) | (1, _) => tracing::Level::INFO,
        (0, _) => tracing::Level::WARN,
        _ => tracing::Level::DEBUG,
    };
    let _log = logging::init(&data_dir, stderr_level)?;
    let printer = Printer { json: cli.json };
    let kw = Keyward::open(&data_dir)?;
    match cli.command {
        Command::Info => {
            printer.info(&kw.info());
            Ok(())
        }
        Command::Serve => Ok(serve(kw, &printer)?),
        Command::Provider(cmd) => provider::run(&kw, cmd, cli.json),
        Command::Call(args) => call::run(&kw, args, cli.json),
        Command::Key(cmd) => key::run(&kw, cmd, cli.json),
    }
}

fn serve(kw: Keyward, printer: &Printer) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("keyward-serve")
        .build()
        .map_err(|e| Error::Config(format!("could not start the async runtime: {e}")))?;
    runtime.block_on(async {
        // Listen for the stop signals before saying "ready", so a stop sent right after the
        // ready line is never missed.
        let shutdown = shutdown_signal()?;
        let sink = LogSink;
        sink.emit(CoreEvent::Ready { data_dir: kw.data_dir().display().to_string() });
        printer.ready(kw.data_dir());
        shutdown.await;
        tracing::info!("shutting down");
        Ok(())
    })
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM. The handlers are installed when this
/// returns, before the future is first polled.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Error> {
    let signal_error = |e: std::io::Error| Error::Config(format!("could not listen for stop signals: {e}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(signal_error)?;
        let mut int = signal(SignalKind::interrupt()).map_err(signal_error)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = signal_error;
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
