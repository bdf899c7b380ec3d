//! Alerts: rules, deduplication, cooldown, quiet hours, history, and the channels that carry
//! them (desktop notifications through the shell, outgoing webhooks).
//!
//! The monitor, the rate limiter and the key vault describe what they see as an
//! [`AlertInput`]; [`Alerts::handle`] evaluates it against the stored [`Rule`]s:
//!
//! - **Dedup.** An input maps to a dedup key (`state:binance/down`). While an alert of the same
//!   rule and key is open (active or acknowledged), repeats raise nothing.
//! - **Resolve.** Inputs that say a condition is over (`Recovered`, `ProviderState` to up,
//!   latency back under the threshold, a rate limit back to normal, a key rotated…) resolve
//!   the open alerts of that condition; a new variant of a condition (degraded → down)
//!   resolves the old one. Bans and maintenance announcements also end by themselves.
//! - **Cooldown.** A rule notifies at most once per cooldown for the same dedup key. A repeat
//!   inside the cooldown (a flapping provider) is still recorded and shown in the alert centre,
//!   but no notification or webhook goes out for it.
//! - **Quiet hours.** Inside the daily window, non-critical desktop notifications are held
//!   back; the alert is recorded, shown in the alert centre and sent to webhooks as usual.
//!   Critical alerts always notify.
//!
//! Everything is recorded in SQLite (`alerts`). Desktop delivery goes through
//! [`DesktopChannel`], implemented by the shell. Webhooks are delivered by a tokio worker
//! ([`Alerts::run_webhooks`]) with retries; every attempt lands in `webhook_deliveries`.
//!
//! The engine's own calls are blocking (SQLite): call them from blocking threads in async
//! code, or send inputs through [`AlertSender`] ([`Alerts::start_intake`]).

mod db;
mod deliver;
mod input;
mod intake;
mod payload;
mod quiet;
mod rules;
mod webhook;

#[cfg(test)]
mod tests;

use serde_json::json;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use secrecy::SecretString;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::store::{Store, StoreError};
use crate::vault::VaultError;

pub use deliver::{DeliveryPolicy, Sleeper, TokioSleeper, MAX_CONCURRENT_DELIVERIES};
pub use input::{AlertInput, ProviderStatus, RateLimitLevel, Severity, ANNOUNCEMENT_TTL_HOURS};
pub use intake::AlertSender;
pub use payload::{signature, WebhookEvent, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
pub use quiet::{QuietHours, QuietZone};
pub use rules::{default_rules, NewRule, ProviderFilter, Rule, RuleChannels, RuleKind, DEFAULT_COOLDOWN, MAX_COOLDOWN};
pub use webhook::{
    validate_url, MemoryWebhookSecrets, NewWebhook, VaultWebhookSecrets, Webhook, WebhookFormat, WebhookSecrets,
};

use deliver::{Job, PendingGuard};
use rules::Verdict;

/// Settings key set once the default rules were written.
const DEFAULTS_SEEDED_KEY: &str = "alerts.default_rules_seeded";
/// Suggested history horizon for [`Alerts::prune`].
pub const HISTORY_DAYS: i64 = 90;
/// User agent of webhook requests.
const USER_AGENT: &str = concat!("keyward/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("the webhook worker is already running")]
    AlreadyRunning,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not set up the webhook HTTP client: {0}")]
    Http(String),
    #[error("a background task failed: {0}")]
    Background(String),
}

impl From<rusqlite::Error> for AlertError {
    fn from(e: rusqlite::Error) -> Self {
        AlertError::Store(StoreError::Sql(e))
    }
}

impl AlertError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            AlertError::NotFound { .. } => "notFound",
            AlertError::Invalid(_) => "invalid",
            AlertError::AlreadyRunning => "conflict",
            AlertError::Vault(_) => "vault",
            AlertError::Store(_) => "storage",
            AlertError::Http(_) | AlertError::Background(_) => "internal",
        }
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    Active,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Active => "active",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AlertState::Active),
            "acknowledged" => Some(AlertState::Acknowledged),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

/// Why an alert's notifications were held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suppression {
    /// A repeat inside the rule's cooldown: no desktop notification, no webhook.
    Cooldown,
    /// Non-critical during quiet hours: no desktop notification (webhooks still sent).
    QuietHours,
}

impl Suppression {
    pub fn as_str(self) -> &'static str {
        match self {
            Suppression::Cooldown => "cooldown",
            Suppression::QuietHours => "quiet_hours",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cooldown" => Some(Suppression::Cooldown),
            "quiet_hours" => Some(Suppression::QuietHours),
            _ => None,
        }
    }
}

/// One recorded alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: i64,
    pub ts: DateTime<Utc>,
    /// The rule that raised it (`None` once that rule was removed).
    pub rule_id: Option<i64>,
    /// The rule's kind name at the time (`provider_down`).
    pub rule_kind: String,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    pub provider: String,
    pub dedup_key: String,
    pub state: AlertState,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub suppressed: Option<Suppression>,
    /// When it resolves by itself (the end of a ban, an old maintenance announcement).
    pub expires_at: Option<DateTime<Utc>>,
}

impl Alert {
    pub fn is_open(&self) -> bool {
        self.state != AlertState::Resolved
    }
}

/// Which alerts [`Alerts::list`] returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFilter {
    /// Empty: every state.
    pub states: Vec<AlertState>,
    pub provider: Option<String>,
    pub min_severity: Option<Severity>,
    pub since: Option<DateTime<Utc>>,
    /// 0: no limit.
    pub limit: u32,
}

impl Default for AlertFilter {
    fn default() -> Self {
        Self { states: Vec::new(), provider: None, min_severity: None, since: None, limit: 100 }
    }
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Raised,
    Resolved,
    Acknowledged,
}

/// The open alerts at a glance, for the tray icon colour and tooltip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActiveSummary {
    /// The worst severity among open, unacknowledged alerts (`None`: all clear).
    pub worst: Option<Severity>,
    /// Open alerts not yet acknowledged.
    pub unacknowledged: u32,
    /// Open alerts, acknowledged or not.
    pub open: u32,
    /// Title of the newest unacknowledged alert of the worst severity.
    pub headline: Option<String>,
}

/// A change the desktop shell shows: update the alert centre and the tray from `alert` and
/// `summary`; show an OS notification only when `notify` is true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertNotice {
    pub kind: NoticeKind,
    pub alert: Alert,
    /// Show a desktop notification (false for resolves, acknowledgements, rules without the
    /// desktop channel, cooldown repeats and non-critical alerts in quiet hours).
    pub notify: bool,
    pub summary: ActiveSummary,
}

/// The desktop side: the shell forwards notices to the UI, the tray and native notifications.
/// Called synchronously from the engine: must not block.
pub trait DesktopChannel: Send + Sync + 'static {
    fn notify(&self, notice: AlertNotice);
}

impl<F> DesktopChannel for F
where
    F: Fn(AlertNotice) + Send + Sync + 'static,
{
    fn notify(&self, notice: AlertNotice) {
        self(notice)
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Delivered,
    /// Failed; another attempt follows.
    Retrying,
    /// Failed for good (permanent error or attempts exhausted).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delivered" => Some(DeliveryStatus::Delivered),
            "retrying" => Some(DeliveryStatus::Retrying),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub ts: DateTime<Utc>,
    /// `None` for test deliveries.
    pub alert_id: Option<i64>,
    pub webhook_id: i64,
    pub event: WebhookEvent,
    pub attempt: u32,
    pub status: DeliveryStatus,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// Which delivery attempts [`Alerts::deliveries`] returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub webhook_id: Option<i64>,
    pub alert_id: Option<i64>,
    /// 0: no limit.
    pub limit: u32,
}

impl Default for DeliveryFilter {
    fn default() -> Self {
        Self { webhook_id: None, alert_id: None, limit: 100 }
    }
}

/// The outcome of [`Alerts::test_webhook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    pub webhook_id: i64,
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub elapsed: Duration,
}

/// The alert engine. Cheap to clone; every clone shares the same state.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    secrets: Arc<dyn WebhookSecrets>,
    desktop: RwLock<Option<Arc<dyn DesktopChannel>>>,
    jobs: mpsc::UnboundedSender<Job>,
    jobs_rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    pending: watch::Sender<usize>,
    http: reqwest::Client,
    change_log: std::sync::OnceLock<crate::audit::ChangeLog>,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").field("store", &self.inner.store).finish_non_exhaustive()
    }
}

/// What one evaluation changed, to be dispatched after the transaction committed.
#[derive(Default)]
struct Changes {
    raised: Vec<(Alert, Rule)>,
    resolved: Vec<Alert>,
    /// Webhooks to call: (webhook, event, alert).
    calls: Vec<(Webhook, WebhookEvent, Alert)>,
}

fn immediate(c: &Connection) -> rusqlite::Result<Transaction<'_>> {
    Transaction::new_unchecked(c, TransactionBehavior::Immediate)
}

impl Alerts {
    /// Opens the engine on `store` (migration 0008 must have run) and writes the default rules
    /// the first time. `secrets` holds the webhook HMAC secrets: back it with the OS
    /// credential store ([`VaultWebhookSecrets`]).
    pub fn new(store: Store, clock: Arc<dyn Clock>, secrets: Arc<dyn WebhookSecrets>) -> Result<Self, AlertError> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| AlertError::Http(e.to_string()))?;
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        let (pending, _) = watch::channel(0usize);
        let alerts = Self {
            inner: Arc::new(Inner {
                store,
                clock,
                secrets,
                desktop: RwLock::new(None),
                jobs,
                jobs_rx: Mutex::new(Some(jobs_rx)),
                pending,
                http,
                change_log: std::sync::OnceLock::new(),
            }),
        };
        alerts.seed_defaults()?;
        Ok(alerts)
    }

    fn seed_defaults(&self) -> Result<(), AlertError> {
        let now = self.inner.clock.now();
        self.inner.store.with_conn(|c| {
            let tx = immediate(c)?;
            let seeded: Option<String> = tx
                .query_row("SELECT value FROM settings WHERE key = ?1", [DEFAULTS_SEEDED_KEY], |r| r.get(0))
                .optional()?;
            if seeded.is_none() {
                for rule in default_rules() {
                    db::insert_rule(&tx, &rule, now)?;
                }
                tx.execute(
                    "INSERT INTO settings (key, value, updated_at) VALUES (?1, '1', ?2)",
                    rusqlite::params![DEFAULTS_SEEDED_KEY, db::fmt_ts(now)],
                )?;
                tracing::info!("wrote the default alert rules");
            }
            tx.commit()?;
            Ok(())
        })?;
        Ok(())
    }

    /// Audits rule, quiet-hours and webhook changes as `settings_changed` (set once, by
    /// `Keyward::open`).
    pub fn set_change_log(&self, log: crate::audit::ChangeLog) {
        let _ = self.inner.change_log.set(log);
    }

    fn audit_change(&self, detail: serde_json::Value) {
        if let Some(log) = self.inner.change_log.get() {
            log.record(crate::audit::AuditKind::SettingsChanged, None, detail);
        }
    }

    /// Sets where desktop notices go (the shell; `keyward serve` may log them).
    pub fn set_desktop(&self, channel: Arc<dyn DesktopChannel>) {
        let mut slot = self.inner.desktop.write().unwrap_or_else(|p| p.into_inner());
        *slot = Some(channel);
    }

    fn desktop(&self) -> Option<Arc<dyn DesktopChannel>> {
        self.inner.desktop.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    // -----------------------------------------------------------------------------------------
    // Evaluation

    /// Evaluates one input at `now`: resolves what it ends, raises what the rules say, records
    /// everything, then notifies the desktop channel and queues webhook calls. Returns the
    /// alerts it raised (including ones held back by cooldown) followed by those it resolved.
    /// Blocking.
    pub fn handle(&self, input: &AlertInput, now: DateTime<Utc>) -> Result<Vec<Alert>, AlertError> {
        let changes = self.inner.store.with_conn(|c| {
            let tx = immediate(c)?;
            let changes = evaluate(&tx, input, now)?;
            tx.commit()?;
            Ok(changes)
        })?;
        let mut out: Vec<Alert> = changes.raised.iter().map(|(a, _)| a.clone()).collect();
        out.extend(changes.resolved.iter().cloned());
        self.dispatch(changes);
        Ok(out)
    }

    /// Resolves alerts whose time has passed (ended bans, old announcements). [`handle`]
    /// does this too; a long-running front end calls it about once a minute so the tray
    /// clears without new input.
    ///
    /// [`handle`]: Alerts::handle
    pub fn tick(&self, now: DateTime<Utc>) -> Result<Vec<Alert>, AlertError> {
        let changes = self.inner.store.with_conn(|c| {
            let tx = immediate(c)?;
            let mut changes = Changes::default();
            let expired = db::resolve_expired(&tx, now)?;
            add_resolved(&tx, &mut changes, expired)?;
            tx.commit()?;
            Ok(changes)
        })?;
        let out = changes.resolved.clone();
        self.dispatch(changes);
        Ok(out)
    }

    fn dispatch(&self, changes: Changes) {
        let desktop = self.desktop();
        let summary = if desktop.is_some() && (!changes.raised.is_empty() || !changes.resolved.is_empty()) {
            self.summary().unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not summarise the open alerts");
                ActiveSummary::default()
            })
        } else {
            ActiveSummary::default()
        };
        if let Some(desktop) = &desktop {
            for (alert, rule) in &changes.raised {
                let notify = rule.channels.desktop && alert.suppressed.is_none();
                desktop.notify(AlertNotice {
                    kind: NoticeKind::Raised,
                    alert: alert.clone(),
                    notify,
                    summary: summary.clone(),
                });
            }
            for alert in &changes.resolved {
                desktop.notify(AlertNotice {
                    kind: NoticeKind::Resolved,
                    alert: alert.clone(),
                    notify: false,
                    summary: summary.clone(),
                });
            }
        }
        for (alert, _) in &changes.raised {
            tracing::info!(id = alert.id, severity = alert.severity.as_str(), title = %alert.title, suppressed = ?alert.suppressed, "alert raised");
        }
        for (webhook, event, alert) in changes.calls {
            let job = Job { webhook, event, alert, _pending: PendingGuard::new(&self.inner.pending) };
            if let Err(mpsc::error::SendError(job)) = self.inner.jobs.send(job) {
                tracing::warn!(webhook = %job.webhook.name, alert = job.alert.id, "the webhook worker has stopped; delivery dropped");
                let _ = self.inner.store.with_conn(|c| {
                    Ok(db::insert_delivery(
                        c,
                        &db::NewDelivery {
                            ts: self.inner.clock.now(),
                            alert_id: Some(job.alert.id),
                            webhook_id: job.webhook.id,
                            event: job.event,
                            attempt: 1,
                            status: DeliveryStatus::Failed,
                            http_status: None,
                            error: Some("the webhook worker was not running".into()),
                        },
                    )?)
                });
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // History

    /// Acknowledges an alert: it stays open (and still resolves later) but no longer counts
    /// as unacknowledged for the tray. Acknowledging a resolved alert only records the time.
    pub fn acknowledge(&self, id: i64) -> Result<Alert, AlertError> {
        let now = self.inner.clock.now();
        let alert = self.inner.store.with_conn(|c| {
            if db::acknowledge(c, id, now)? == 0 {
                return Ok(None);
            }
            Ok(db::get_alert(c, id)?)
        })?;
        let alert = alert.ok_or(AlertError::NotFound { what: "alert", id })?;
        if let Some(desktop) = self.desktop() {
            let summary = self.summary().unwrap_or_default();
            desktop.notify(AlertNotice {
                kind: NoticeKind::Acknowledged,
                alert: alert.clone(),
                notify: false,
                summary,
            });
        }
        Ok(alert)
    }

    pub fn alert(&self, id: i64) -> Result<Alert, AlertError> {
        self.inner.store.with_conn(|c| Ok(db::get_alert(c, id)?))?.ok_or(AlertError::NotFound { what: "alert", id })
    }

    /// Recorded alerts, newest first.
    pub fn list(&self, filter: &AlertFilter) -> Result<Vec<Alert>, AlertError> {
        Ok(self.inner.store.with_conn(|c| Ok(db::list_alerts(c, filter)?))?)
    }

    /// Open alerts (active or acknowledged), newest first.
    pub fn active(&self) -> Result<Vec<Alert>, AlertError> {
        let now = self.inner.clock.now();
        let filter =
            AlertFilter { states: vec![AlertState::Active, AlertState::Acknowledged], limit: 0, ..Default::default() };
        let mut open = self.list(&filter)?;
        open.retain(|a| a.expires_at.map_or(true, |t| t > now));
        Ok(open)
    }

    /// Deletes resolved alerts and delivery records older than `before` (open alerts are
    /// kept whatever their age). Returns how many alerts and delivery records went. The
    /// headless service calls it daily, e.g. with a 90-day horizon ([`HISTORY_DAYS`]).
    pub fn prune(&self, before: DateTime<Utc>) -> Result<(usize, usize), AlertError> {
        Ok(self.inner.store.with_conn(|c| {
            let tx = immediate(c)?;
            let counts = db::prune(&tx, before)?;
            tx.commit()?;
            Ok(counts)
        })?)
    }

    /// The open alerts at a glance (tray colour and tooltip).
    pub fn summary(&self) -> Result<ActiveSummary, AlertError> {
        let open = self.active()?;
        let unacked: Vec<&Alert> = open.iter().filter(|a| a.state == AlertState::Active).collect();
        let worst = unacked.iter().map(|a| a.severity).max();
        let headline = worst.and_then(|w| unacked.iter().find(|a| a.severity == w).map(|a| a.title.clone()));
        Ok(ActiveSummary {
            worst,
            unacknowledged: u32::try_from(unacked.len()).unwrap_or(u32::MAX),
            open: u32::try_from(open.len()).unwrap_or(u32::MAX),
            headline,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Rules

    pub fn rules(&self) -> Result<Vec<Rule>, AlertError> {
        Ok(self.inner.store.with_conn(|c| Ok(db::load_rules(c)?))?)
    }

    pub fn rule(&self, id: i64) -> Result<Rule, AlertError> {
        self.inner
            .store
            .with_conn(|c| Ok(db::load_rule(c, id)?))?
            .ok_or(AlertError::NotFound { what: "alert rule", id })
    }

    fn check_rule(c: &Connection, rule: &NewRule) -> Result<(), AlertError> {
        rule.validate().map_err(AlertError::Invalid)?;
        let known = db::existing_webhook_ids(c)?;
        if let Some(missing) = rule.channels.webhooks.iter().find(|w| !known.contains(w)) {
            return Err(AlertError::Invalid(format!("rule \"{}\": there is no webhook with id {missing}", rule.name)));
        }
        Ok(())
    }

    pub fn add_rule(&self, rule: NewRule) -> Result<Rule, AlertError> {
        let result = self.add_rule_inner(rule);
        if let Ok(v) = &result {
            self.audit_change(json!({"setting": "alert rule", "action": "added", "id": v.id, "name": v.name}));
        }
        result
    }

    fn add_rule_inner(&self, rule: NewRule) -> Result<Rule, AlertError> {
        let now = self.inner.clock.now();
        let id = self.inner.store.with_conn(|c| {
            let tx = immediate(c)?;
            if let Err(e) = Self::check_rule(&tx, &rule) {
                return Ok(Err(e));
            }
            let id = db::insert_rule(&tx, &rule, now)?;
            tx.commit()?;
            Ok(Ok(id))
        })??;
        self.rule(id)
    }

    /// Replaces rule `id` with `rule`. Disabling a rule resolves its open alerts.
    pub fn update_rule(&self, id: i64, rule: NewRule) -> Result<Rule, AlertError> {
        let result = self.update_rule_inner(id, rule);
        if let Ok(v) = &result {
            self.audit_change(
                json!({"setting": "alert rule", "action": "edited", "id": v.id, "name": v.name, "enabled": v.enabled}),
            );
        }
        result
    }

    fn update_rule_inner(&self, id: i64, rule: NewRule) -> Result<Rule, AlertError> {
        let now = self.inner.clock.now();
        let changes = self.inner.store.with_conn(|c| {
            let tx = immediate(c)?;
            if let Err(e) = Self::check_rule(&tx, &rule) {
                return Ok(Err(e));
            }
            if db::update_rule(&tx, id, &rule, now)? == 0 {
                return Ok(Err(AlertError::NotFound { what: "alert rule", id }));
            }
            let mut changes = Changes::default();
            if !rule.enabled {
                changes.resolved = db::resolve_rule(&tx, id, now)?;
            }
            tx.commit()?;
            Ok(Ok(changes))
        })??;
        self.dispatch(changes);
        self.rule(id)
    }

    pub fn set_rule_enabled(&self, id: i64, enabled: bool) -> Result<Rule, AlertError> {
        let mut rule = NewRule::from(self.rule(id)?);
        rule.enabled = enabled;
        self.update_rule(id, rule)
    }

    /// Removes a rule; its open alerts are resolved, its history stays.
    pub fn remove_rule(&self, id: i64) -> Result<Rule, AlertError> {
        let result = self.remove_rule_inner(id);
        if let Ok(v) = &result {
            self.audit_change(json!({"setting": "alert rule", "action": "removed", "id": v.id, "name": v.name}));
        }
        result
    }

    fn remove_rule_inner(&self, id: i64) -> Result<Rule, AlertError> {
        let rule = self.rule(id)?;
        let now = self.inner.clock.now();
        let changes = self.inner.store.with_conn(|c| {
            let tx = immediate(c)?;
            let changes = Changes { resolved: db::resolve_rule(&tx, id, now)?, ..Default::default() };
            db::delete_rule(&tx, id)?;
            tx.commit()?;
            Ok(changes)
        })?;
        self.dispatch(changes);
        Ok(rule)
    }

    /// Adds back the default rules whose kind has no rule at all; returns the ones added.
    pub fn restore_default_rules(&self) -> Result<Vec<Rule>, AlertError> {
        let result = self.restore_default_rules_inner();
        if let Ok(v) = &result {
            self.audit_change(json!({"setting": "alert rules", "action": "defaults restored", "added": v.len()}));
        }
        result
    }

    fn restore_default_rules_inner(&self) -> Result<Vec<Rule>, AlertError> {
        let now = self.inner.clock.now();
        let ids = self.inner.store.with_conn(|c| {
            let tx = immediate(c)?;
            let have: Vec<&'static str> = db::load_rules(&tx)?.iter().map(|r| r.kind.name()).collect();
            let mut ids = Vec::new();
            for rule in default_rules().into_iter().filter(|r| !have.contains(&r.kind.name())) {
                ids.push(db::insert_rule(&tx, &rule, now)?);
            }
            tx.commit()?;
            Ok(ids)
        })?;
        ids.into_iter().map(|id| self.rule(id)).collect()
    }

    // -----------------------------------------------------------------------------------------
    // Quiet hours

    pub fn quiet_hours(&self) -> Result<Option<QuietHours>, AlertError> {
        let text = self.inner.store.setting(quiet::SETTING_KEY)?;
        match text.filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(t) => QuietHours::from_json(&t).map(Some).map_err(AlertError::Invalid),
        }
    }

    /// Sets (or with `None` clears) the quiet hours.
    pub fn set_quiet_hours(&self, quiet: Option<QuietHours>) -> Result<(), AlertError> {
        let result = self.set_quiet_hours_inner(quiet);
        if result.is_ok() {
            self.audit_change(json!({"setting": "quiet hours", "action": "set"}));
        }
        result
    }

    fn set_quiet_hours_inner(&self, quiet: Option<QuietHours>) -> Result<(), AlertError> {
        match quiet {
            Some(q) => {
                q.validate().map_err(AlertError::Invalid)?;
                self.inner.store.set_setting(quiet::SETTING_KEY, &q.to_json())?;
            }
            None => {
                self.inner.store.with_conn(|c| {
                    c.execute("DELETE FROM settings WHERE key = ?1", [quiet::SETTING_KEY])?;
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Webhooks

    pub fn webhooks(&self) -> Result<Vec<Webhook>, AlertError> {
        Ok(self.inner.store.with_conn(|c| Ok(db::load_webhooks(c)?))?)
    }

    pub fn webhook(&self, id: i64) -> Result<Webhook, AlertError> {
        self.inner
            .store
            .with_conn(|c| Ok(db::load_webhook(c, id)?))?
            .ok_or(AlertError::NotFound { what: "webhook", id })
    }

    /// Adds a webhook. Its secret goes to the credential store first; if the row cannot be
    /// written, the secret is removed again. Blocking (credential store, SQLite).
    pub fn add_webhook(&self, new: NewWebhook) -> Result<Webhook, AlertError> {
        let result = self.add_webhook_inner(new);
        if let Ok(v) = &result {
            self.audit_change(json!({"setting": "webhook", "action": "added", "id": v.id, "name": v.name}));
        }
        result
    }

    fn add_webhook_inner(&self, new: NewWebhook) -> Result<Webhook, AlertError> {
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(AlertError::Invalid("webhook name \"\" is empty; give the webhook a name".into()));
        }
        validate_url(&new.url, new.allow_insecure_http).map_err(AlertError::Invalid)?;
        if self.inner.store.with_conn(|c| Ok(db::webhook_name_taken(c, &name)?))? {
            return Err(AlertError::Invalid(format!("a webhook named \"{name}\" already exists")));
        }
        let secret_ref = match &new.secret {
            Some(secret) => {
                let reference = webhook::new_secret_ref();
                self.inner.secrets.put(&reference, secret)?;
                Some(reference)
            }
            None => None,
        };
        let now = self.inner.clock.now();
        let inserted = self.inner.store.with_conn(|c| {
            Ok(db::insert_webhook(c, &name, &new.url, new.format, secret_ref.as_deref(), new.allow_insecure_http, now)?)
        });
        match inserted {
            Ok(id) => self.webhook(id),
            Err(e) => {
                if let Some(reference) = &secret_ref {
                    if let Err(del) = self.inner.secrets.delete(reference) {
                        tracing::warn!(error = %del, "could not remove the secret of a webhook that was not added");
                    }
                }
                Err(e.into())
            }
        }
    }

    /// Sets, replaces or (with `None`) removes a webhook's HMAC secret. Blocking.
    pub fn set_webhook_secret(&self, id: i64, secret: Option<SecretString>) -> Result<Webhook, AlertError> {
        let result = self.set_webhook_secret_inner(id, secret);
        if let Ok(v) = &result {
            self.audit_change(
                json!({"setting": "webhook", "action": "signing key changed", "id": v.id, "name": v.name}),
            );
        }
        result
    }

    fn set_webhook_secret_inner(&self, id: i64, secret: Option<SecretString>) -> Result<Webhook, AlertError> {
        let hook = self.webhook(id)?;
        let new_ref = match &secret {
            Some(s) => {
                let reference = webhook::new_secret_ref();
                self.inner.secrets.put(&reference, s)?;
                Some(reference)
            }
            None => None,
        };
        self.inner.store.with_conn(|c| Ok(db::set_webhook_secret_ref(c, id, new_ref.as_deref())?))?;
        if let Some(old) = &hook.secret_ref {
            if let Err(e) = self.inner.secrets.delete(old) {
                tracing::warn!(webhook = %hook.name, error = %e, "could not remove the old webhook secret");
            }
        }
        self.webhook(id)
    }

    pub fn set_webhook_enabled(&self, id: i64, enabled: bool) -> Result<Webhook, AlertError> {
        let result = self.set_webhook_enabled_inner(id, enabled);
        if let Ok(v) = &result {
            let action = if v.enabled { "enabled" } else { "disabled" };
            self.audit_change(json!({"setting": "webhook", "action": action, "id": v.id, "name": v.name}));
        }
        result
    }

    fn set_webhook_enabled_inner(&self, id: i64, enabled: bool) -> Result<Webhook, AlertError> {
        if self.inner.store.with_conn(|c| Ok(db::set_webhook_enabled(c, id, enabled)?))? == 0 {
            return Err(AlertError::NotFound { what: "webhook", id });
        }
        self.webhook(id)
    }

    /// Removes a webhook, its delivery records, its place in every rule and its secret.
    pub fn remove_webhook(&self, id: i64) -> Result<Webhook, AlertError> {
        let result = self.remove_webhook_inner(id);
        if let Ok(v) = &result {
            self.audit_change(json!({"setting": "webhook", "action": "removed", "id": v.id, "name": v.name}));
        }
        result
    }

    fn remove_webhook_inner(&self, id: i64) -> Result<Webhook, AlertError> {
        let hook = self.webhook(id)?;
        self.inner.store.with_conn(|c| Ok(db::delete_webhook(c, id)?))?;
        if let Some(reference) = &hook.secret_ref {
            self.inner.secrets.delete(reference)?;
        }
        Ok(hook)
    }

    /// Recorded delivery attempts, newest first.
    pub fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, AlertError> {
        Ok(self.inner.store.with_conn(|c| Ok(db::list_deliveries(c, filter)?))?)
    }

    /// Starts the webhook delivery worker on the current tokio runtime with the default policy.
    /// Webhook calls queued before it starts are delivered once it runs. Only one worker may
    /// run per engine. Cancel `cancel` to stop it: deliveries waiting for a retry are recorded
    /// as failed.
    pub fn run_webhooks(&self, cancel: CancellationToken) -> Result<tokio::task::JoinHandle<()>, AlertError> {
        self.run_webhooks_with(cancel, DeliveryPolicy::default(), Arc::new(TokioSleeper))
    }

    /// Like [`Alerts::run_webhooks`] with an explicit retry policy and sleeper.
    pub fn run_webhooks_with(
        &self,
        cancel: CancellationToken,
        policy: DeliveryPolicy,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<tokio::task::JoinHandle<()>, AlertError> {
        let rx =
            self.inner.jobs_rx.lock().unwrap_or_else(|p| p.into_inner()).take().ok_or(AlertError::AlreadyRunning)?;
        let this = self.clone();
        Ok(tokio::spawn(this.worker(rx, policy, sleeper, cancel)))
    }

    /// Waits until every queued webhook call has finished (delivered or failed for good).
    /// Only meaningful while the worker runs.
    pub async fn wait_for_deliveries(&self) {
        let mut rx = self.inner.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// Reads the quiet hours inside a transaction (the store's own helper would lock again).
fn quiet_hours_in(c: &Connection) -> Option<QuietHours> {
    let text: Option<String> = c
        .query_row("SELECT value FROM settings WHERE key = ?1", [quiet::SETTING_KEY], |r| r.get(0))
        .optional()
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not read the quiet hours");
            None
        });
    match text.filter(|t| !t.is_empty()).map(|t| QuietHours::from_json(&t)) {
        Some(Ok(q)) => Some(q),
        Some(Err(e)) => {
            tracing::error!(error = %e, "ignoring unreadable quiet hours");
            None
        }
        None => None,
    }
}

/// Adds resolved alerts and the webhook calls that announce them (to the webhooks of their
/// rule, unless the raise itself was held back by cooldown).
fn add_resolved(c: &Connection, changes: &mut Changes, resolved: Vec<Alert>) -> rusqlite::Result<()> {
    for alert in resolved {
        if alert.suppressed != Some(Suppression::Cooldown) {
            if let Some(rule) = alert.rule_id.map(|id| db::load_rule(c, id)).transpose()?.flatten() {
                for wid in &rule.channels.webhooks {
                    if let Some(hook) = db::load_webhook(c, *wid)?.filter(|w| w.enabled) {
                        changes.calls.push((hook, WebhookEvent::Resolved, alert.clone()));
                    }
                }
            }
        }
        changes.resolved.push(alert);
    }
    Ok(())
}

/// How the provider was unwell before a recovery: the earliest start and a phrase.
fn recovery_context(resolved: &[Alert]) -> Option<(DateTime<Utc>, String)> {
    let since = resolved.iter().map(|a| a.ts).min()?;
    let what = if resolved.iter().any(|a| a.dedup_key.ends_with("/down")) {
        "being down"
    } else if resolved.iter().any(|a| a.dedup_key.ends_with("/degraded")) {
        "being degraded"
    } else {
        "maintenance"
    };
    Some((since, what.to_string()))
}

/// The core of [`Alerts::handle`], inside one transaction.
fn evaluate(c: &Connection, input: &AlertInput, now: DateTime<Utc>) -> rusqlite::Result<Changes> {
    let mut changes = Changes::default();
    let expired = db::resolve_expired(c, now)?;
    add_resolved(c, &mut changes, expired)?;

    // Conditions this input ends, whatever the rules.
    let state_prefix = format!("{}/", input::state_family(input.provider()));
    let mut state_resolved = Vec::new();
    for (prefix, keep) in input.resolves(now) {
        let resolved = db::resolve_prefix(c, &prefix, keep.as_deref(), None, now)?;
        if prefix == state_prefix {
            state_resolved.extend(resolved.iter().cloned());
        }
        add_resolved(c, &mut changes, resolved)?;
    }
    let recovered_something = input.is_recovery() && !state_resolved.is_empty();

    let signal = input.signal(now);
    let quiet = quiet_hours_in(c);
    let provider = input.provider();
    for rule in db::load_rules(c)?.into_iter().filter(|r| r.enabled && r.providers.matches(provider)) {
        match rules::judge(&rule.kind, input, now, recovered_something) {
            Verdict::Ignore => {}
            Verdict::Resolve { prefix } => {
                let resolved = db::resolve_prefix(c, &prefix, None, Some(rule.id), now)?;
                add_resolved(c, &mut changes, resolved)?;
            }
            Verdict::Fire => {
                let is_recovery_rule = rule.kind == RuleKind::Recovered;
                let (key, default_severity) = match (&signal, is_recovery_rule) {
                    (_, true) => (format!("recovered:{}/up", input::esc(provider)), Severity::Info),
                    (Some(s), false) => (s.dedup_key(), s.severity),
                    (None, false) => continue,
                };
                if !is_recovery_rule && db::has_open(c, rule.id, &key)? {
                    continue;
                }
                let severity = rule.severity.unwrap_or(default_severity);
                let in_cooldown = db::last_notified(c, rule.id, &key)?
                    .is_some_and(|last| now.signed_duration_since(last).to_std().map_or(true, |d| d < rule.cooldown));
                let suppressed = if in_cooldown {
                    Some(Suppression::Cooldown)
                } else if rule.channels.desktop
                    && severity < Severity::Critical
                    && quiet.is_some_and(|q| q.contains(now))
                {
                    Some(Suppression::QuietHours)
                } else {
                    None
                };
                let context = if is_recovery_rule { recovery_context(&state_resolved) } else { None };
                let (title, body) = rules::describe(&rule.kind, input, now, context);
                let alert = db::insert_alert(
                    c,
                    &db::NewAlert {
                        ts: now,
                        rule_id: rule.id,
                        rule_kind: rule.kind.name(),
                        severity,
                        title: &title,
                        body: &body,
                        provider,
                        dedup_key: &key,
                        resolved: is_recovery_rule,
                        suppressed,
                        expires_at: if is_recovery_rule { None } else { input.expires_at(now) },
                    },
                )?;
                if suppressed != Some(Suppression::Cooldown) {
                    for wid in &rule.channels.webhooks {
                        if let Some(hook) = db::load_webhook(c, *wid)?.filter(|w| w.enabled) {
                            changes.calls.push((hook, WebhookEvent::Raised, alert.clone()));
                        }
                    }
                }
                changes.raised.push((alert, rule));
            }
        }
    }
    Ok(changes)
}
