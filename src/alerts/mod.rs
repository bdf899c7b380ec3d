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
//!
//! This file is the facade ([`Alerts`] and its methods); the types are in `model.rs`, the
//! evaluation of an input against the rules in `engine.rs`.

mod db;
mod deliver;
mod engine;
mod input;
mod intake;
mod model;
mod payload;
mod quiet;
mod rules;
mod view;
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
use crate::store::Store;

pub use deliver::{DeliveryPolicy, Sleeper, TokioSleeper, MAX_CONCURRENT_DELIVERIES};
pub use input::{AlertInput, RateLimitLevel, ReportedHealth, Severity, ANNOUNCEMENT_TTL_HOURS, ANOMALY_TTL_HOURS};
pub use intake::AlertSender;
pub use model::{
    ActiveSummary, Alert, AlertError, AlertFilter, AlertNotice, AlertState, DeliveryFilter, DeliveryRecord,
    DeliveryResult, DeliveryStatus, DesktopChannel, NoticeKind, Suppression,
};
pub use payload::{signature, WebhookEvent, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
pub use quiet::{QuietHours, QuietZone};
pub use rules::{default_rules, NewRule, ProviderFilter, Rule, RuleChannels, RuleKind, DEFAULT_COOLDOWN, MAX_COOLDOWN};
pub use view::{AlertView, DeliveryResultView, DeliveryView, RuleView, WebhookView};
pub use webhook::{
    validate_url, MemoryWebhookSecrets, NewWebhook, VaultWebhookSecrets, Webhook, WebhookFormat, WebhookSecrets,
};

use deliver::{Job, PendingGuard};
use engine::{add_resolved, evaluate, Changes};

/// Settings key set once the default rules were written.
const DEFAULTS_SEEDED_KEY: &str = "alerts.default_rules_seeded";
/// The kinds whose default rule has been written (JSON list): a default added in a later
/// version is written once to databases made before it.
const DEFAULT_KINDS_KEY: &str = "alerts.default_rule_kinds";
/// Default rules added after the first release of the rules.
const LATER_DEFAULT_KINDS: &[&str] = &["circuit_open", "incoming", "budget", "usage_anomaly"];
/// Suggested history horizon for [`Alerts::prune`].
pub const HISTORY_DAYS: i64 = 90;
/// User agent of webhook requests.
const USER_AGENT: &str = concat!("keyward/", env!("CARGO_PKG_VERSION"));

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
            let setting = |key: &str| -> rusqlite::Result<Option<String>> {
                tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()
            };
            // The kinds whose default rule was written once (a user may delete one for good).
            let seeded: Vec<String> = match (setting(DEFAULTS_SEEDED_KEY)?, setting(DEFAULT_KINDS_KEY)?) {
                (None, _) => Vec::new(),
                (Some(_), Some(list)) => serde_json::from_str(&list).unwrap_or_default(),
                // Seeded before the list existed: every default but the later ones.
                (Some(_), None) => default_rules()
                    .iter()
                    .map(|r| r.kind.name().to_string())
                    .filter(|k| !LATER_DEFAULT_KINDS.contains(&k.as_str()))
                    .collect(),
            };
            let mut all = seeded.clone();
            // A kind that has a rule already needs no default (one added by hand, or by a
            // version that wrote it before the list knew it).
            let have: Vec<&'static str> = db::load_rules(&tx)?.iter().map(|r| r.kind.name()).collect();
            for rule in default_rules().into_iter().filter(|r| !seeded.iter().any(|k| k == r.kind.name())) {
                if have.contains(&rule.kind.name()) {
                    all.push(rule.kind.name().to_string());
                    continue;
                }
                tracing::info!(rule = %rule.name, "wrote a default alert rule");
                all.push(rule.kind.name().to_string());
                db::insert_rule(&tx, &rule, now)?;
            }
            for (key, value) in [(DEFAULTS_SEEDED_KEY, "1".to_string()), (DEFAULT_KINDS_KEY, json!(all).to_string())] {
                tx.execute(
                    "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    rusqlite::params![key, value, db::fmt_ts(now)],
                )?;
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

    /// A webhook as the Alerts page and `keyward alerts webhooks --json` show it: with its
    /// newest delivery attempt.
    pub fn webhook_view(&self, id: i64) -> Result<WebhookView, AlertError> {
        let hook = self.webhook(id)?;
        let last = self.deliveries(&DeliveryFilter { webhook_id: Some(id), alert_id: None, limit: 1 })?;
        Ok(WebhookView::new(&hook, last.first()))
    }

    /// Every webhook's view, in [`Alerts::webhooks`] order.
    pub fn webhook_views(&self) -> Result<Vec<WebhookView>, AlertError> {
        self.webhooks()?.iter().map(|w| self.webhook_view(w.id)).collect()
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
