//! Keyward core: the crypto trader's control room for exchange and data-provider APIs.
//!
//! This crate holds everything that is not presentation: storage, the secret vault, and (as
//! they land) providers, the call pipeline, rate limits, monitoring and alerts. The desktop
//! shell (`src-tauri/`), the `keyward` CLI and the local gateway are thin front ends over the
//! [`Keyward`] facade. This crate never depends on tauri.
//!
//! ```no_run
//! let kw = keyward::Keyward::open(keyward::default_data_dir()?)?;
//! println!("schema v{}", kw.info().schema_version);
//! # Ok::<(), keyward::Error>(())
//! ```

pub mod alerts;
pub mod audit;
pub mod caller;
pub mod charts;
pub mod cli;
pub mod clock;
pub mod control;
pub mod error;
pub mod gateway;
pub mod groups;
pub mod hooks;
pub mod http_headers;
pub mod info;
pub mod key_ops;
pub mod keys;
pub mod logging;
pub mod metrics;

pub mod monitor;
pub mod overview;
pub mod pipeline;
pub mod provider;
pub mod published_limits;
pub mod ratelimit;
pub mod service;
pub mod setup;
pub mod shared_budget;
pub mod signing;
pub mod store;
pub mod timer;
pub mod usage;
pub mod vault;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::{Error, ErrorKind};

use alerts::{AlertSender, Alerts, VaultWebhookSecrets};
use audit::{Actor, Audit};
use clock::SystemClock;
use keys::Keys;
use monitor::{Monitor, MonitorOptions};
use pipeline::{Pipeline, Recorder};
use provider::Registry;
use ratelimit::{Limiter, LimiterSlot};
use store::Store;
use vault::{BackendInfo, EncryptedFileStore, SecretStore};

/// The version of this build, as shown on the dashboard and by `keyward info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Environment variable that overrides the data directory for every front end.
pub const DATA_DIR_ENV: &str = "KEYWARD_DATA_DIR";

/// File name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "keyward.db";

/// The longest a vault file stays unlocked in one go.
pub const MAX_VAULT_UNLOCK: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The OS application-data directory Keyward uses when neither `--data-dir` nor
/// `KEYWARD_DATA_DIR` says otherwise (`~/.local/share/keyward` on Linux,
/// `~/Library/Application Support/Keyward` on macOS, `%APPDATA%\Keyward` on Windows).
pub fn default_data_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let base = dirs::data_dir().ok_or(Error::NoDataDir)?;
    let name = if cfg!(any(target_os = "macos", target_os = "windows")) { "Keyward" } else { "keyward" };
    Ok(base.join(name))
}

/// What the dashboard and `keyward info` show: facts read from the running core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub version: String,
    pub data_dir: PathBuf,
    pub database_path: PathBuf,
    pub schema_version: u32,
    pub latest_schema_version: u32,
    pub secret_backend: BackendInfo,
    /// Why this backend was chosen (OS store answered, vault file exists, KEYWARD_VAULT=…).
    pub secret_backend_reason: String,
}

/// The core handle shared by the desktop app, the CLI and the gateway.
///
/// Cheap to clone: every field is an internally synchronised handle.
#[derive(Clone)]
pub struct Keyward {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    store: Store,
    secrets: Arc<dyn SecretStore>,
    vault_file: Option<Arc<EncryptedFileStore>>,
    backend_reason: String,
    providers: Registry,
    keys: Keys,
    limiter: Limiter,
    /// What the pipeline charges: `limiter`, or the running Keyward's (see
    /// [`Keyward::share_running_limits`]).
    limiter_slot: Arc<LimiterSlot>,
    pipeline: Pipeline,
    published: published_limits::PublishedLimits,
    audit: Audit,
    monitor: Monitor,
    alerts: Alerts,
    alert_sender: AlertSender,
    gateway: gateway::Gateway,
    hooks: hooks::Hooks,
    actor: Actor,
    /// The budget shared with other machines through Redis, once `service::start` set it up.
    shared: std::sync::OnceLock<Arc<ratelimit::shared::SharedLimiter>>,
}

impl std::fmt::Debug for Keyward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyward").field("data_dir", &self.inner.data_dir).finish_non_exhaustive()
    }
}

impl Keyward {
    /// Opens (creating if needed) the data directory, migrates its database and connects to
    /// the secret backend (the OS credential store, or the encrypted vault file where none is
    /// reachable). Events are attributed to the system.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_as(data_dir, Actor::System)
    }

    /// Like [`Keyward::open`], attributing audited actions to `actor` (the CLI, the desktop UI).
    pub fn open_as(data_dir: impl AsRef<Path>, actor: Actor) -> Result<Self, Error> {
        let data_dir = data_dir.as_ref();
        create_dir(data_dir)?;
        let selected = vault::select_backend(data_dir, Arc::new(SystemClock))?;
        Self::build(data_dir, selected.store, selected.file, selected.reason, actor)
    }

    /// Like [`Keyward::open`] with an explicit secret store (tests use the in-memory one).
    pub fn open_with_secrets(data_dir: impl AsRef<Path>, secrets: Arc<dyn SecretStore>) -> Result<Self, Error> {
        Self::build(data_dir.as_ref(), secrets, None, "chosen by the caller".into(), Actor::System)
    }

    fn build(
        data_dir: &Path,
        secrets: Arc<dyn SecretStore>,
        vault_file: Option<Arc<EncryptedFileStore>>,
        backend_reason: String,
        actor: Actor,
    ) -> Result<Self, Error> {
        create_dir(data_dir)?;
        let data_dir = data_dir.to_path_buf();
        let db_path = data_dir.join(DATABASE_FILE);
        let fresh = !db_path.exists();
        let store = Store::open(&db_path)?;
        // The audit key lives in the secret store, not the database; see `audit::seal`.
        let audit = Audit::sealed(store.clone(), Arc::clone(&secrets), audit::key_account(&data_dir));
        if fresh {
            audit.discard_stale_key();
        }
        let change_log = audit::ChangeLog::new(audit.clone(), actor);
        let providers =
            Registry::new(store.clone()).map_err(|e| Error::Config(e.to_string()))?.with_change_log(change_log.clone());
        let keys = Keys::new(store.clone(), Arc::clone(&secrets), audit.clone(), actor);
        let limiter = Limiter::new(providers.clone(), Arc::new(SystemClock));
        limiter.apply_settings(&ratelimit::LimitSettings::load(&store)?);
        let limiter_slot = Arc::new(LimiterSlot::new(Arc::new(limiter.clone())));
        let pipeline =
            Pipeline::new(providers.clone(), keys.clone(), limiter_slot.clone(), Recorder::start(store.clone()));
        pipeline.markets().persist_to(store.clone());
        // Every provider's published limits are read on its first call, enabled or not.
        let published = published_limits::PublishedLimits::new(pipeline.downgrade(), store.clone());
        limiter.set_published_source(Arc::new(published.clone()));
        let monitor = Monitor::open(store.clone(), Arc::new(SystemClock), MonitorOptions::default())
            .map_err(|e| Error::Config(format!("could not open the health monitor: {e}")))?;
        let alerts =
            Alerts::new(store.clone(), Arc::new(SystemClock), Arc::new(VaultWebhookSecrets::new(Arc::clone(&secrets))))
                .map_err(|e| Error::Config(format!("could not open the alerts: {e}")))?;
        let hooks = hooks::Hooks::new(store.clone(), Arc::clone(&secrets), Arc::new(SystemClock));
        hooks.set_change_log(change_log.clone());
        monitor.set_change_log(change_log.clone());
        alerts.set_change_log(change_log);
        let alert_sender = alerts.start_intake();
        let gateway = gateway::Gateway::new(
            store.clone(),
            gateway::Tokens::new(store.clone(), audit.clone(), actor),
            Arc::clone(&secrets),
            gateway::tls::key_account(&data_dir),
        );
        tracing::info!(data_dir = %data_dir.display(), schema = store.schema_version(), "keyward core opened");
        Ok(Self {
            inner: Arc::new(Inner {
                data_dir,
                store,
                secrets,
                vault_file,
                backend_reason,
                providers,
                keys,
                limiter,
                limiter_slot,
                pipeline,
                published,
                audit,
                monitor,
                alerts,
                alert_sender,
                gateway,
                hooks,
                actor,
                shared: std::sync::OnceLock::new(),
            }),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.inner.secrets
    }

    /// The local gateway for bots: tokens, live numbers, where it listens.
    pub fn gateway(&self) -> &gateway::Gateway {
        &self.inner.gateway
    }

    /// Incoming webhooks: create, list, remove, deliveries (see [`hooks`]).
    pub fn hooks(&self) -> &hooks::Hooks {
        &self.inner.hooks
    }

    /// Unlocks the encrypted vault file for `duration` (1 second to [`MAX_VAULT_UNLOCK`]), for
    /// every front end: the attempt is audited as `actor`'s (`vault_unlocked`, or
    /// `vault_unlock_failed` for a wrong passphrase). Returns when it locks again. Blocking
    /// (Argon2id takes a moment).
    pub fn unlock_vault(
        &self,
        actor: Actor,
        passphrase: &vault::SecretString,
        duration: std::time::Duration,
    ) -> Result<chrono::DateTime<chrono::Utc>, vault::VaultError> {
        let file = self.vault_file().ok_or(vault::VaultError::NoVaultFile)?;
        if duration.is_zero() || duration > MAX_VAULT_UNLOCK {
            return Err(vault::VaultError::UnlockDuration { seconds: duration.as_secs() });
        }
        let now = chrono::Utc::now();
        let kind = |k| audit::AuditEvent::new(actor, k);
        match file.unlock(passphrase, duration) {
            Ok(until) => {
                let _ = self.audit().append(kind(audit::AuditKind::VaultUnlocked), now);
                Ok(until)
            }
            Err(e) => {
                if matches!(e, vault::VaultError::WrongPassphrase { .. }) {
                    let _ = self.audit().append(kind(audit::AuditKind::VaultUnlockFailed), now);
                }
                Err(e)
            }
        }
    }

    /// Locks the vault file now; audited as `actor`'s when it was unlocked (locking a locked
    /// vault is not an event). Returns whether it was unlocked.
    pub fn lock_vault(&self, actor: Actor) -> Result<bool, vault::VaultError> {
        let file = self.vault_file().ok_or(vault::VaultError::NoVaultFile)?;
        let was_unlocked = file.is_unlocked();
        file.lock();
        if was_unlocked {
            let _ =
                self.audit().append(audit::AuditEvent::new(actor, audit::AuditKind::VaultLocked), chrono::Utc::now());
        }
        Ok(was_unlocked)
    }

    /// Creates the encrypted vault file with a new passphrase (it stays locked). Blocking.
    pub fn init_vault(&self, passphrase: &vault::SecretString) -> Result<(), vault::VaultError> {
        let file = self.vault_file().ok_or(vault::VaultError::NoVaultFile)?;
        vault::EncryptedFileStore::create(
            file.path(),
            passphrase,
            vault::KdfParams::default(),
            Arc::new(clock::SystemClock),
        )?;
        Ok(())
    }

    /// The secret backend and the vault file, as the Settings page, `keyward vault status` and
    /// `GET /v1/vault` show them. Probes the backend (blocking).
    pub fn vault_status(&self) -> vault::VaultStatus {
        let info = self.info();
        let b = info.secret_backend;
        vault::VaultStatus {
            backend: b.kind.as_str().into(),
            name: b.name,
            available: b.available,
            detail: b.detail,
            reason: info.secret_backend_reason,
            log_dir: logging::log_dir(&info.data_dir).display().to_string(),
            data_dir: info.data_dir.display().to_string(),
            file: self.vault_file().map(|f| vault::VaultFileStatus::from(f.as_ref())),
        }
    }

    /// Creates a bot token for the gateway, checking that its provider and key exist (a token
    /// for a typo could never work) and that its wait limit is at most a minute. Blocking.
    pub fn create_gateway_token(
        &self,
        new: gateway::NewToken,
        allow_withdraw: bool,
    ) -> Result<gateway::IssuedToken, gateway::TokenError> {
        let invalid = |field: &'static str, value: &str, expected: String| gateway::TokenError::Invalid {
            field,
            value: value.to_string(),
            expected,
        };
        if self.providers().get(&new.provider).is_err() {
            return Err(invalid("provider", &new.provider, "a provider id (see `keyward provider list`)".into()));
        }
        if let Some(label) = &new.key_label {
            if self.keys().get(&new.provider, label).is_err() {
                return Err(invalid(
                    "key",
                    label,
                    format!("the label of a {} key (see `keyward key list`)", new.provider),
                ));
            }
        }
        if let Some(wait) = new.max_wait.filter(|w| *w > gateway::tokens::MAX_WAIT_LIMIT) {
            return Err(invalid("max_wait_ms", &wait.as_millis().to_string(), "at most 60000 (a minute)".into()));
        }
        self.gateway().tokens().create(new, allow_withdraw, chrono::Utc::now())
    }

    /// Loads the rate-limit rules of every enabled provider (or of `provider` alone, enabled
    /// or not) into this process's limiter, so limits show before the first call. Returns the
    /// providers loaded; an unknown `provider` is named in the error, with suggestions. Blocking.
    pub fn load_limit_rules(&self, provider: Option<&str>) -> Result<Vec<String>, provider::ProviderError> {
        let entries = match provider {
            Some(id) => vec![self.providers().get(id)?],
            None => self.providers().list()?.into_iter().filter(|e| e.enabled).collect(),
        };
        Ok(entries
            .iter()
            .map(|e| {
                self.limiter().apply_spec(&e.spec);
                e.spec.id.clone()
            })
            .collect())
    }

    /// The provider catalog: presets, overrides and custom providers.
    pub fn providers(&self) -> &Registry {
        &self.inner.providers
    }

    /// API key metadata and secrets.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The one call path.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// The limits providers publish about themselves (read on first use, stored, refreshed by
    /// the running services).
    pub fn published_limits(&self) -> &published_limits::PublishedLimits {
        &self.inner.published
    }

    /// Makes this process's calls spend the live budget of the Keyward running on the same data
    /// directory (a CLI command while the app or `keyward serve` runs). Returns the remote
    /// limiter, whose `settle` the command awaits before it exits; `None` if already shared.
    pub fn share_running_limits(&self, client: control::ControlClient) -> Option<Arc<control::RemoteLimiter>> {
        let local: Arc<dyn crate::pipeline::limit::RateLimiter> = Arc::new(self.inner.limiter.clone());
        let remote = Arc::new(control::RemoteLimiter::new(client, local));
        self.inner.limiter_slot.use_remote(remote.clone()).then_some(remote)
    }

    /// The exchange-accurate rate limiter every call goes through.
    pub fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    /// The append-only, hash-chained audit log.
    pub fn audit(&self) -> &Audit {
        &self.inner.audit
    }

    /// Health checks, states, uptime history.
    pub fn monitor(&self) -> &Monitor {
        &self.inner.monitor
    }

    /// Alert rules, history and webhooks.
    pub fn alerts(&self) -> &Alerts {
        &self.inner.alerts
    }

    /// Where monitors, the limiter and the key vault send alert inputs (never blocks).
    pub fn alert_sender(&self) -> &AlertSender {
        &self.inner.alert_sender
    }

    /// The encrypted vault file, when it is the secret backend.
    pub fn vault_file(&self) -> Option<&Arc<EncryptedFileStore>> {
        self.inner.vault_file.as_ref()
    }

    /// Calls, errors, weight and cost per endpoint, key, caller and provider, from the
    /// recorded attempts (table `calls`).
    pub fn usage(&self) -> usage::UsageReader {
        usage::UsageReader::new(self.inner.store.clone())
    }

    /// The usage table (Usage page, `keyward usage`), with the calls still queued in this process
    /// written first so the table includes them.
    pub fn usage_table(
        &self,
        range: usage::UsageRange,
        group_by: usage::GroupBy,
        provider: Option<String>,
    ) -> Result<usage::UsageSummary, usage::UsageError> {
        self.inner.pipeline.recorder().flush();
        let now = self.inner.monitor.clock().now();
        let mut table = self.usage().table(range, group_by, provider.clone(), now)?;
        let q = range.query(now, provider.filter(|p| !p.trim().is_empty()), usage::GroupBy::Provider);
        table.currency = self.usage_currency(&q)?;
        Ok(table)
    }

    /// The currency the costs of `q`'s range are in: the one the providers with calls in it
    /// bill in (USD when every provider does, as every preset does, or without calls); `None`
    /// when they bill in several. The Usage table and the export name it.
    pub fn usage_currency(&self, q: &usage::UsageQuery) -> Result<Option<String>, usage::UsageError> {
        let specs = self.providers().list().map_err(Box::new)?;
        let mut currencies: Vec<String> = if specs.iter().all(|e| e.spec.billing.currency == "USD") {
            vec!["USD".into()]
        } else {
            let by_provider = usage::UsageQuery { group_by: usage::GroupBy::Provider, ..q.clone() };
            self.usage()
                .summary(&by_provider)?
                .iter()
                .filter_map(|r| specs.iter().find(|e| e.spec.id == r.group).map(|e| e.spec.billing.currency.clone()))
                .collect()
        };
        currencies.sort();
        currencies.dedup();
        Ok(match currencies.as_slice() {
            [] => Some("USD".into()),
            [one] => Some(one.clone()),
            _ => None,
        })
    }

    /// This month's bill per provider (the Usage page's billing panel, `keyward usage billing`),
    /// with the calls still queued in this process written first.
    pub fn billing(&self) -> Result<usage::billing::BillingView, usage::UsageError> {
        self.inner.pipeline.recorder().flush();
        let providers: Vec<(provider::ProviderSpec, bool)> =
            self.providers().list().map_err(Box::new)?.into_iter().map(|e| (e.spec, e.enabled)).collect();
        self.usage().billing(&providers, self.inner.monitor.clock().now())
    }

    /// Sets a provider's plan, its prices and the budget (the Usage page's form) in one
    /// validated, audited write; another plan also sets the rate limits it declares.
    pub fn set_billing(
        &self,
        provider: &str,
        edit: &usage::billing::BillingEdit,
    ) -> Result<provider::ProviderEntry, provider::ProviderError> {
        let mut spec = self.providers().get(provider)?.spec;
        edit.apply_to(&mut spec);
        self.providers().update(spec)
    }

    /// One monitored provider's state as the Status page and `keyward status` show it: with its
    /// display name and last 24 h uptime.
    pub fn provider_status(
        &self,
        s: &monitor::ProviderSnapshot,
    ) -> Result<monitor::ProviderStatusView, monitor::MonitorError> {
        let monitor = &self.inner.monitor;
        let day = monitor.uptime(&s.provider, monitor::UptimeWindow::Day, monitor.clock().now())?;
        let name = self.providers().get(&s.provider).map(|e| e.spec.name).unwrap_or_else(|_| s.provider.clone());
        let mut view = monitor::ProviderStatusView::new(s, name, &day);
        view.breakers =
            self.inner.pipeline.breakers().views().into_iter().filter(|b| b.provider == s.provider).collect();
        Ok(view)
    }

    /// Every monitored provider's state, with the results still queued in this process first.
    pub fn provider_statuses(&self) -> Result<Vec<monitor::ProviderStatusView>, monitor::MonitorError> {
        self.inner.monitor.flush();
        self.inner.monitor.current_states()?.iter().map(|s| self.provider_status(s)).collect()
    }

    /// The safety margin and the usage levels that warn and turn critical (setup guide, Rate
    /// limits page, `keyward limits settings`).
    pub fn limit_settings(&self) -> Result<ratelimit::LimitSettings, Error> {
        Ok(ratelimit::LimitSettings::load(&self.inner.store)?)
    }

    /// Validates, stores and applies the limiter's settings at once; audited. A `keyward serve`
    /// on the same data directory reads them when it starts.
    pub fn set_limit_settings(&self, s: ratelimit::LimitSettings) -> Result<ratelimit::LimitSettings, Error> {
        s.save(&self.inner.store)?;
        self.inner.limiter.apply_settings(&s);
        audit::ChangeLog::new(self.inner.audit.clone(), self.inner.actor).record(
            audit::AuditKind::SettingsChanged,
            None,
            serde_json::json!({
                "setting": "rate-limit settings", "action": "set", "marginPct": s.margin_pct,
                "warnPct": s.warn_pct, "criticalPct": s.critical_pct,
            }),
        );
        Ok(s)
    }

    /// Who this handle acts for in the audit log.
    pub fn actor(&self) -> Actor {
        self.inner.actor
    }

    /// Writes the pending aggregated key-use counts and queued call records. One-shot front
    /// ends call it before exiting.
    pub fn flush(&self) {
        self.inner.pipeline.recorder().flush();
        if let Err(e) = self.inner.audit.flush_all_uses(chrono::Utc::now()) {
            tracing::error!(error = %e, "could not write key-use audit rows");
        }
        self.inner.monitor.flush();
    }

    /// Reads the facts the dashboard shows. Probing the secret backend may block briefly
    /// (a D-Bus round trip on Linux): call it off the async runtime.
    pub fn info(&self) -> Info {
        Info {
            version: VERSION.to_string(),
            data_dir: self.inner.data_dir.clone(),
            database_path: self.inner.store.path().to_path_buf(),
            schema_version: self.inner.store.schema_version(),
            latest_schema_version: store::LATEST_SCHEMA_VERSION,
            secret_backend: self.inner.secrets.backend_info(),
            secret_backend_reason: self.inner.backend_reason.clone(),
        }
    }
}

fn create_dir(data_dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
        action: "create the data directory",
        path: data_dir.to_path_buf(),
        source,
    })
}
