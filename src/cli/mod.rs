//! The `keyward` command. Parsing and printing only: every action is one core call.

mod alerts;
mod audit;
mod call;
mod gateway;
mod groups;
mod hooks;
mod key;
mod limits;
mod monitor;
mod output;
mod overview;
mod provider;
mod usage;
mod usage_export;
mod vault;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Is everything OK, and what needs me: providers, the tightest limits, open alerts, the
    /// last 24 hours, keys that need you, bots through the gateway.
    Overview,
    /// Run Keyward headless (monitors, alerts and the gateway) until Ctrl-C.
    Serve {
        /// Share account and key limits with the other Keywards using this Redis server
        /// (`redis://[:password@]host:port` or `rediss://…`); kept for later starts.
        #[arg(long, value_name = "URL")]
        shared_budget: Option<String>,
        /// With --shared-budget: these instances leave through one public IP (per-IP limits are
        /// shared too).
        #[arg(long, requires = "shared_budget")]
        egress_group: Option<String>,
    },
    /// Providers: list, show, add, set, reset, export, import, remove, enable, disable.
    #[command(subcommand)]
    Provider(provider::ProviderCmd),
    /// Call a provider through the pipeline (cache, retry, rate limit, sign, record).
    Call(call::CallArgs),
    /// API keys: add, list, show, reveal, check, rotate, retire-version, remove.
    #[command(subcommand)]
    Key(key::KeyCmd),
    /// The secret backend: status, init (encrypted file), unlock.
    #[command(subcommand)]
    Vault(vault::VaultCmd),
    /// The audit log: list, verify, export.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Provider health: state, last check and 24 h uptime per monitored provider.
    Status,
    /// Health checks: list, set, run.
    #[command(subcommand)]
    Checks(monitor::ChecksCmd),
    /// Alerts: list, ack, rules, webhooks, test-webhook.
    #[command(subcommand)]
    Alerts(alerts::AlertsCmd),
    /// Live rate-limit usage per limit: the running app's or `keyward serve`'s shared budget
    /// when one runs on this data directory.
    Limits {
        #[arg(long)]
        provider: Option<String>,
        /// `limits settings`: the safety margin and the levels that warn and turn critical.
        #[command(subcommand)]
        cmd: Option<limits::LimitsCmd>,
    },
    /// Calls, errors, weight, cost and latency per endpoint, key, caller or provider; `usage
    /// forecast` for this month, `usage anomalies` for unusual hours.
    Usage(usage::UsageArgs),
    /// The local gateway for bots: status, port, token add/list/disable/enable/rotate/revoke.
    #[command(subcommand)]
    Gateway(gateway::GatewayCmd),
    /// Failover groups for market data: list, add, remove, call.
    #[command(subcommand)]
    Groups(groups::GroupsCmd),
    /// Incoming webhooks (POST /hooks/<id> on the gateway's port): add, list, deliveries, remove.
    #[command(subcommand)]
    Hooks(hooks::HooksCmd),
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
    Check(#[from] crate::key_ops::CheckError),
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    Monitor(#[from] crate::monitor::MonitorError),
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
    #[error(transparent)]
    Remote(#[from] crate::control::RemoteError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    UsageData(#[from] crate::usage::UsageError),
    #[error(transparent)]
    UsageInsight(#[from] crate::usage::InsightError),
    #[error(transparent)]
    UsageExport(#[from] crate::usage::export::ExportError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error(transparent)]
    Gateway(#[from] crate::gateway::TokenError),
    #[error(transparent)]
    Group(#[from] crate::groups::GroupError),
    #[error(transparent)]
    Hooks(#[from] crate::hooks::HookError),
}

impl CliError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            CliError::Core(e) => e.kind(),
            CliError::Provider(e) => e.kind(),
            CliError::Spec(_) => crate::ErrorKind::InvalidSpec,
            CliError::Key(e) => e.kind(),
            CliError::Call(e) => e.kind(),
            CliError::Check(e) => e.kind(),
            CliError::Vault(e) => e.kind(),
            CliError::Audit(e) => e.kind(),
            CliError::Monitor(e) => e.kind(),
            CliError::Alerts(e) => e.kind(),
            CliError::Remote(e) => e.kind(),
            CliError::Usage(_) => crate::ErrorKind::Invalid,
            CliError::UsageData(e) => e.kind(),
            CliError::UsageInsight(e) => e.kind(),
            CliError::UsageExport(e) => e.kind(),
            CliError::Metrics(e) => e.kind(),
            CliError::Gateway(e) => e.kind(),
            CliError::Group(e) => e.kind(),
            CliError::Hooks(e) => e.kind(),
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
        (0, Command::Serve { .. }) | (1, _) => tracing::Level::INFO,
        (0, _) => tracing::Level::WARN,
        _ => tracing::Level::DEBUG,
    };
    let _log = logging::init(&data_dir, stderr_level)?;
    let printer = Printer { json: cli.json };
    let kw = Keyward::open_as(&data_dir, crate::audit::Actor::Cli)?;
    let stores_secrets = matches!(
        &cli.command,
        Command::Key(key::KeyCmd::Add { .. } | key::KeyCmd::ImportBackup { .. })
            | Command::Gateway(gateway::GatewayCmd::Bind { yes: true, .. })
            | Command::Hooks(hooks::HooksCmd::Add { .. })
    );
    unlock_vault_from_env(&kw, stores_secrets)?;
    if matches!(cli.command, Command::Key(_) | Command::Checks(_)) {
        share_running_limits(&kw)?;
    }
    let result = dispatch(&kw, cli.command, cli.json, &printer);
    kw.flush();
    result
}

/// The remote limiter of this command, when a Keyward runs on the data directory.
static REMOTE_LIMITS: std::sync::OnceLock<std::sync::Arc<crate::control::RemoteLimiter>> = std::sync::OnceLock::new();

/// Commands that call exchanges from this process (`key check`, `key rotate`, `checks run`)
/// spend the running Keyward's live budget when there is one.
fn share_running_limits(kw: &Keyward) -> Result<(), CliError> {
    let rt = runtime()?;
    if let Some(client) = rt.block_on(crate::control::ControlClient::discover(kw.data_dir())) {
        tracing::info!(running = %client.describe(), "sharing the running Keyward's rate-limit budget");
        if let Some(remote) = kw.share_running_limits(client) {
            let _ = REMOTE_LIMITS.set(remote);
        }
    }
    Ok(())
}

/// Waits until the exchange answers this command met have been reported to the running
/// Keyward (call it inside the command's runtime, before it ends).
pub(crate) async fn settle_remote_limits() {
    if let Some(remote) = REMOTE_LIMITS.get() {
        remote.settle().await;
    }
}

/// With the encrypted vault file as the backend, a one-shot command unlocks it for its own
/// lifetime from KEYWARD_VAULT_PASSPHRASE when that is set (never from an argument). A command
/// that stores secrets (`key add`, `key import-backup`) on a machine without an OS credential
/// store creates the vault file with that passphrase if there is none yet, and says so.
fn unlock_vault_from_env(kw: &Keyward, stores_secrets: bool) -> Result<(), CliError> {
    let Some(file) = kw.vault_file() else { return Ok(()) };
    if file.is_unlocked() {
        return Ok(());
    }
    if !file.exists() {
        if !stores_secrets {
            return Ok(());
        }
        let Ok(pass) = crate::vault::passphrase_from_env(crate::vault::PASSPHRASE_ENV) else { return Ok(()) };
        crate::vault::EncryptedFileStore::create(
            file.path(),
            &pass,
            crate::vault::KdfParams::default(),
            std::sync::Arc::new(crate::clock::SystemClock),
        )?;
        eprintln!(
            "keyward: created the encrypted vault file {} with the passphrase in {} (no OS credential store answers here)",
            file.path().display(),
            crate::vault::PASSPHRASE_ENV
        );
    }
    match crate::vault::passphrase_from_env(crate::vault::PASSPHRASE_ENV) {
        Ok(pass) => {
            vault::unlock(kw, file, &pass, std::time::Duration::from_secs(600))?;
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

fn dispatch(kw: &Keyward, command: Command, json: bool, printer: &Printer) -> Result<(), CliError> {
    let kw = kw.clone();
    match command {
        Command::Info => {
            printer.info(&kw.info());
            Ok(())
        }
        Command::Serve { shared_budget, egress_group } => {
            if let Some(url) = shared_budget {
                kw.set_shared_budget(Some(&url), egress_group)?;
            }
            serve(kw, printer)
        }
        Command::Overview => overview::run(&kw, json),
        Command::Provider(cmd) => provider::run(&kw, cmd, json),
        Command::Call(args) => call::run(&kw, args, json),
        Command::Groups(cmd) => groups::run(&kw, cmd, json),
        Command::Key(cmd) => key::run(&kw, cmd, json),
        Command::Vault(cmd) => vault::run(&kw, cmd, json),
        Command::Audit(cmd) => audit::run(&kw, cmd, json),
        Command::Status => monitor::status(&kw, json),
        Command::Checks(cmd) => monitor::checks(&kw, cmd, json),
        Command::Alerts(cmd) => alerts::run(&kw, cmd, json),
        Command::Limits { cmd: Some(limits::LimitsCmd::Settings(edit)), .. } => limits::settings(&kw, &edit, json),
        Command::Limits { cmd: Some(limits::LimitsCmd::Shared(edit)), .. } => limits::shared(&kw, &edit, json),
        Command::Limits { provider, cmd: None } => limits::run(&kw, provider.as_deref(), json),
        Command::Usage(args) => usage::run(&kw, args, json),
        Command::Gateway(cmd) => gateway::run(&kw, cmd, json),
        Command::Hooks(cmd) => hooks::run(&kw, cmd, json),
    }
}

fn serve(kw: Keyward, printer: &Printer) -> Result<(), CliError> {
    let runtime = runtime()?;
    runtime.block_on(async {
        // Listen for the stop signals before saying "ready", so a stop sent right after the
        // ready line is never missed.
        let shutdown = shutdown_signal()?;
        let services = crate::service::start(&kw).await?;
        let mut monitor_events = kw.monitor().subscribe();
        tracing::info!(data_dir = %kw.data_dir().display(), "ready");
        printer.ready(kw.data_dir());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                e = monitor_events.recv() => {
                    if let Ok(crate::monitor::MonitorEvent::StateChanged { provider, from, to, cause, .. }) = e {
                        tracing::warn!(%provider, from = from.as_str(), to = to.as_str(), %cause, "provider state changed");
                    }
                }
            }
        }
        tracing::info!("shutting down");
        services.stop().await;
        Ok(())
    })
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM. The handlers are installed when this
/// returns, before the future is first polled.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, CliError> {
    let signal_error = |e: std::io::Error| CliError::Usage(format!("could not listen for stop signals: {e}"));
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
