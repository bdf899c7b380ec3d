//! Health monitoring: scheduled checks, passive health from real traffic, the up / degraded /
//! down / maintenance / unknown state machine, history with rollups, uptime and incidents.
//!
//! ```text
//!  Scheduler (one task: min-heap of next-due times + semaphore)
//!     │ runs checks through a CheckRunner (default: the pipeline, caller "monitor")
//!     ▼
//!  Monitor::record(result) ──► Tracker (per provider, state.rs: verdict + confirmations)
//!     │                              │ Change
//!     │                              ▼
//!     ├──► broadcast: MonitorEvent::CheckCompleted / StateChanged (only on changes)
//!     └──► history writer thread (one connection, batched transactions):
//!            check_results, rollup_minute/hour/day, state_changes, incidents
//!  Monitor::ingest_passive(now) folds new `calls` rows (callers other than "monitor") into
//!  the same trackers.
//! ```
//!
//! - `state.rs`: the pure state machine ([`next`], [`verdict`]).
//! - `check.rs`: check configs (table `monitor_checks`), [`Probe`] and [`judge`].
//! - `runner.rs`: the [`CheckRunner`] trait and the default [`PipelineRunner`].
//! - `scheduler.rs`: the loop ([`Monitor::spawn`]).
//! - `history.rs`: the writer, rollups and the query functions.
//! - `passive.rs`: reading `calls`.
//!
//! Blocking methods (everything that reads or writes the database) must run off the async
//! runtime (`spawn_blocking`); [`Monitor::record`] never blocks.

mod check;
mod history;
mod passive;
mod runner;
mod scheduler;
mod state;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::provider::{ProviderError, Registry};
use crate::store::{Store, StoreError};

pub use check::{
    judge, kind_for as check_kind_for, BodyCondition, CheckConfig, CheckKind, CheckResult, MaintenanceReport, NewCheck,
    Probe, ProbeError, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, MIN_INTERVAL, MIN_TIMEOUT,
};
pub use history::{
    Agg, DayUptime, Histogram, Incident, LatencyPoint, PruneReport, Retention, RollupLevel, StateChangeRecord, Uptime,
    UptimeWindow,
};
pub use runner::{BoxFuture, CheckRunner, PipelineRunner};
pub use scheduler::{SchedulerHandle, SchedulerOptions};
pub use state::{
    confirm, next, verdict, with_announcements, Announcement, Baselines, Change, HealthState, Observation, Pending,
    ProviderHealth, Source, StateConfig, Step, Tracker,
};
pub use view::{CheckRunView, CheckView, LastCheckView, ProviderStatusView};

/// Capacity of the event channel; a receiver that falls further behind gets `Lagged`.
pub const EVENT_CAPACITY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("check \"{name}\" of provider \"{provider}\": {message}")]
    InvalidCheck { provider: String, name: String, message: String },
    #[error("provider \"{provider}\" already has a check named \"{name}\"")]
    DuplicateCheck { provider: String, name: String },
    #[error("there is no check with id {id}")]
    NoSuchCheck { id: i64 },
    #[error("monitor settings of provider \"{provider}\": {message}")]
    Settings { provider: String, message: String },
    #[error("the monitor's history writer has stopped")]
    WriterStopped,
    #[error("could not start the monitor's history writer: {0}")]
    Thread(#[source] std::io::Error),
}

impl MonitorError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            MonitorError::Store(_) => crate::ErrorKind::Storage,
            MonitorError::Provider(e) => e.kind(),
            MonitorError::InvalidCheck { .. } | MonitorError::Settings { .. } => crate::ErrorKind::Invalid,
            MonitorError::DuplicateCheck { .. } => crate::ErrorKind::Duplicate,
            MonitorError::NoSuchCheck { .. } => crate::ErrorKind::NotFound,
            MonitorError::WriterStopped | MonitorError::Thread(_) => crate::ErrorKind::Internal,
        }
    }
}

/// What the monitor tells front ends, on a `tokio::sync::broadcast` channel.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// A confirmed change of a provider's state (never repeated for the same state).
    StateChanged { provider: String, from: HealthState, to: HealthState, cause: String, at: DateTime<Utc> },
    /// A scheduled check finished (cheap; for live indicators and sparklines).
    CheckCompleted { provider: String, check_id: i64, ok: bool, latency: Duration, at: DateTime<Utc> },
}

/// The newest check result of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastCheck {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub latency: Duration,
}

/// One provider's current state, for the Status page and `keyward status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSnapshot {
    pub provider: String,
    pub state: HealthState,
    pub since: Option<DateTime<Utc>>,
    pub cause: String,
    pub last_check: Option<LastCheck>,
}

/// Monitor-wide settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MonitorOptions {
    pub retention: Retention,
    /// State-machine settings of providers that have no overrides.
    pub defaults: StateConfig,
}

struct Entry {
    tracker: Tracker,
    last: Option<LastCheck>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    options: MonitorOptions,
    events: broadcast::Sender<MonitorEvent>,
    writer: history::Writer,
    trackers: Mutex<HashMap<String, Entry>>,
    /// Per-provider overrides (from `monitor_providers.settings`).
    settings: Mutex<HashMap<String, StateConfig>>,
    /// The longest check interval of each provider (raises `stale_after`).
    intervals: Mutex<HashMap<String, Duration>>,
    passive_cursor: Mutex<Option<i64>>,
    /// Bumped after every check added, changed or removed (see [`Monitor::watch_checks`]).
    checks_changed: tokio::sync::watch::Sender<u64>,
    change_log: std::sync::OnceLock<crate::audit::ChangeLog>,
}

/// The monitor. Cheap to clone; every clone shares the trackers, the writer and the channel.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").field("store", &self.inner.store).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here can leave the maps half-updated in a way later code would misread.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Monitor {
    /// Opens the monitor on a migrated store: loads the persisted states and settings and
    /// starts the history writer (its own connection to the same file). Blocking.
    pub fn open(store: Store, clock: Arc<dyn Clock>, options: MonitorOptions) -> Result<Self, MonitorError> {
        let writer = history::Writer::start(store.path())?;
        let (persisted, checks) = store.with_conn(|c| Ok((history::persisted_states(c)?, check::list(c, None)?)))?;
        let mut settings = HashMap::new();
        let mut trackers = HashMap::new();
        for history::PersistedState { provider, state, since, cause, settings: json } in persisted {
            let config = parse_settings(&provider, &json, &options.defaults).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ignoring unreadable monitor settings");
                options.defaults.clone()
            });
            if json.trim() != "{}" && !json.trim().is_empty() {
                settings.insert(provider.clone(), config.clone());
            }
            let mut tracker = Tracker::new(config);
            tracker.health = ProviderHealth { state, since, cause, pending: None };
            trackers.insert(provider, Entry { tracker, last: None });
        }
        let mut intervals: HashMap<String, Duration> = HashMap::new();
        for c in checks.iter().filter(|c| c.enabled) {
            let e = intervals.entry(c.provider.clone()).or_default();
            *e = (*e).max(c.interval);
        }
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let monitor = Self {
            inner: Arc::new(Inner {
                store,
                clock,
                options,
                events,
                writer,
                trackers: Mutex::new(trackers),
                settings: Mutex::new(settings),
                intervals: Mutex::new(intervals),
                passive_cursor: Mutex::new(None),
                checks_changed: tokio::sync::watch::channel(0).0,
                change_log: std::sync::OnceLock::new(),
            }),
        };
        monitor.refresh_configs();
        Ok(monitor)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub fn options(&self) -> &MonitorOptions {
        &self.inner.options
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MonitorEvent> {
        self.inner.events.subscribe()
    }

    // -----------------------------------------------------------------------------------------
    // Check configuration (blocking)

    /// Every check, or one provider's, sorted by provider and name.
    pub fn checks(&self, provider: Option<&str>) -> Result<Vec<CheckConfig>, MonitorError> {
        Ok(self.inner.store.with_conn(|c| check::list(c, provider))?)
    }

    pub fn check(&self, id: i64) -> Result<CheckConfig, MonitorError> {
        self.inner.store.with_conn(|c| check::get(c, id))?.ok_or(MonitorError::NoSuchCheck { id })
    }

    pub fn add_check(&self, new: NewCheck) -> Result<CheckConfig, MonitorError> {
        let created = self.with_conn_m(|c| check::insert(c, &new))?;
        self.note_interval(&created);
        self.inner.checks_changed.send_modify(|g| *g += 1);
        self.audit_check("added", &created);
        Ok(created)
    }

    pub fn update_check(&self, check: &CheckConfig) -> Result<(), MonitorError> {
        self.with_conn_m(|c| check::update(c, check))?;
        self.inner.checks_changed.send_modify(|g| *g += 1);
        self.audit_check("edited", check);
        self.recompute_intervals()?;
        Ok(())
    }

    pub fn remove_check(&self, id: i64) -> Result<(), MonitorError> {
        let check = self.check(id)?;
        self.with_conn_m(|c| check::delete(c, id))?;
        self.inner.checks_changed.send_modify(|g| *g += 1);
        self.audit_check("removed", &check);
        self.recompute_intervals()?;
        Ok(())
    }

    /// Audits check and state-setting changes as `settings_changed` (set once, by
    /// `Keyward::open`).
    pub fn set_change_log(&self, log: crate::audit::ChangeLog) {
        let _ = self.inner.change_log.set(log);
    }

    fn audit_check(&self, action: &str, c: &CheckConfig) {
        if let Some(log) = self.inner.change_log.get() {
            let detail = serde_json::json!({
                "setting": "health check", "action": action, "id": c.id, "name": c.name,
                "operation": c.operation, "intervalSecs": c.interval.as_secs(), "enabled": c.enabled,
            });
            log.record(crate::audit::AuditKind::SettingsChanged, Some(&c.provider), detail);
        }
    }

    /// A receiver marked changed after every check added, changed or removed through this
    /// monitor in this process (the running scheduler follows it; see `service.rs`).
    pub fn watch_checks(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.checks_changed.subscribe()
    }

    /// Creates the default checks (the spec's `health_check`, and its `status_operation` when
    /// it has one) for every enabled provider that has no check yet. Returns what it created.
    pub fn ensure_default_checks(&self, registry: &Registry) -> Result<Vec<CheckConfig>, MonitorError> {
        let existing = self.checks(None)?;
        let mut created = Vec::new();
        for entry in registry.list()?.into_iter().filter(|e| e.enabled) {
            if existing.iter().any(|c| c.provider == entry.spec.id) {
                continue;
            }
            let mut wanted = vec![NewCheck::health(&entry.spec)];
            wanted.extend(NewCheck::status(&entry.spec).filter(|s| s.operation != entry.spec.health_check));
            for new in wanted {
                created.push(self.add_check(new)?);
            }
        }
        Ok(created)
    }

    /// A provider's state-machine settings (defaults merged with its overrides).
    pub fn provider_settings(&self, provider: &str) -> StateConfig {
        lock(&self.inner.settings).get(provider).cloned().unwrap_or_else(|| self.inner.options.defaults.clone())
    }

    /// Stores a provider's state-machine settings. Blocking.
    pub fn set_provider_settings(&self, provider: &str, config: StateConfig) -> Result<(), MonitorError> {
        if config.confirmations == 0 || !(0.0..=1.0).contains(&config.error_rate) || config.latency_factor < 1.0 {
            return Err(MonitorError::Settings {
                provider: provider.to_string(),
                message: format!(
                    "confirmations {} must be at least 1, error_rate {} between 0 and 1, latency_factor {} at least 1",
                    config.confirmations, config.error_rate, config.latency_factor
                ),
            });
        }
        let json = serde_json::to_string(&config)
            .map_err(|e| MonitorError::Settings { provider: provider.to_string(), message: e.to_string() })?;
        self.inner.store.with_conn(|c| {
            c.execute(
                "INSERT INTO monitor_providers (provider, settings) VALUES (?1, ?2)
                 ON CONFLICT(provider) DO UPDATE SET settings = excluded.settings",
                [provider, json.as_str()],
            )?;
            Ok(())
        })?;
        if let Some(log) = self.inner.change_log.get() {
            let detail = serde_json::json!({
                "setting": "monitor state settings", "action": "set", "confirmations": config.confirmations,
                "errorRate": config.error_rate, "latencyFactor": config.latency_factor,
            });
            log.record(crate::audit::AuditKind::SettingsChanged, Some(provider), detail);
        }
        lock(&self.inner.settings).insert(provider.to_string(), config);
        self.refresh_configs();
        Ok(())
    }

    /// `Store::with_conn` for closures that return a `MonitorError` (validation as well as SQL).
    fn with_conn_m<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, MonitorError>,
    ) -> Result<T, MonitorError> {
        let mut out = None;
        self.inner.store.with_conn(|c| {
            out = Some(f(c));
            Ok(())
        })?;
        // `with_conn` always runs the closure; the fallback is unreachable.
        out.unwrap_or(Err(MonitorError::WriterStopped))
    }

    fn note_interval(&self, c: &CheckConfig) {
        if c.enabled {
            let mut intervals = lock(&self.inner.intervals);
            let e = intervals.entry(c.provider.clone()).or_default();
            *e = (*e).max(c.interval);
        }
        self.refresh_configs();
    }

    fn recompute_intervals(&self) -> Result<(), MonitorError> {
        let checks = self.checks(None)?;
        let mut fresh: HashMap<String, Duration> = HashMap::new();
        for c in checks.iter().filter(|c| c.enabled) {
            let e = fresh.entry(c.provider.clone()).or_default();
            *e = (*e).max(c.interval);
        }
        *lock(&self.inner.intervals) = fresh;
        self.refresh_configs();
        Ok(())
    }

    /// The effective config of a provider: its settings, with `stale_after` at least 3 × its
    /// longest check interval.
    fn effective_config(&self, provider: &str) -> StateConfig {
        let mut config = self.provider_settings(provider);
        if let Some(interval) = lock(&self.inner.intervals).get(provider) {
            config.stale_after_secs = config.stale_after_secs.max(interval.as_secs().saturating_mul(3));
        }
        config
    }

    fn refresh_configs(&self) {
        let providers: Vec<String> = lock(&self.inner.trackers).keys().cloned().collect();
        let configs: Vec<(String, StateConfig)> =
            providers.into_iter().map(|p| (p.clone(), self.effective_config(&p))).collect();
        let mut trackers = lock(&self.inner.trackers);
        for (p, config) in configs {
            if let Some(e) = trackers.get_mut(&p) {
                e.tracker.config = config;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Evidence (never blocks)

    /// Feeds one judged check result: steps the provider's state machine, queues the result
    /// for the history writer and emits `CheckCompleted` (and `StateChanged` on a change).
    pub fn record(&self, result: CheckResult) -> Option<Change> {
        let provider = result.provider.clone();
        let last = LastCheck { at: result.at, ok: result.ok, latency: result.latency };
        let change = self.observe(&provider, result.observation(), result.at, Some(last));
        let _ = self.inner.events.send(MonitorEvent::CheckCompleted {
            provider: provider.clone(),
            check_id: result.check_id,
            ok: result.ok,
            latency: result.latency,
            at: result.at,
        });
        self.inner.writer.send(history::Msg::Result(result));
        if let Some(c) = &change {
            self.publish(&provider, c);
        }
        change
    }

    fn observe(&self, provider: &str, obs: Observation, now: DateTime<Utc>, last: Option<LastCheck>) -> Option<Change> {
        let config = {
            let trackers = lock(&self.inner.trackers);
            if trackers.contains_key(provider) {
                None
            } else {
                drop(trackers);
                Some(self.effective_config(provider))
            }
        };
        let mut trackers = lock(&self.inner.trackers);
        let entry = trackers
            .entry(provider.to_string())
            .or_insert_with(|| Entry { tracker: Tracker::new(config.unwrap_or_default()), last: None });
        if let Some(l) = last {
            if entry.last.map_or(true, |old| old.at <= l.at) {
                entry.last = Some(l);
            }
        }
        entry.tracker.observe(obs, now)
    }

    /// Records what a provider announces about itself (its status page, a status webhook):
    /// steps its state machine at once and emits `StateChanged` on a change. Never blocks.
    pub fn announce(&self, provider: &str, announcement: Announcement) -> Option<Change> {
        let now = announcement.at.max(self.inner.clock.now());
        let config = (!lock(&self.inner.trackers).contains_key(provider)).then(|| self.effective_config(provider));
        let change = {
            let mut trackers = lock(&self.inner.trackers);
            let entry = trackers
                .entry(provider.to_string())
                .or_insert_with(|| Entry { tracker: Tracker::new(config.unwrap_or_default()), last: None });
            entry.tracker.announce(announcement, now)
        };
        if let Some(c) = &change {
            self.publish(provider, c);
        }
        change
    }

    /// The sources (starting with `prefix`) whose announcements about `provider` still hold.
    pub fn announcing(&self, provider: &str, prefix: &str) -> Vec<String> {
        lock(&self.inner.trackers).get(provider).map(|e| e.tracker.announcing(prefix)).unwrap_or_default()
    }

    fn publish(&self, provider: &str, c: &Change) {
        tracing::info!(provider, from = %c.from, to = %c.to, cause = %c.cause, "provider state changed");
        self.inner.writer.send(history::Msg::Change { provider: provider.to_string(), change: c.clone() });
        let _ = self.inner.events.send(MonitorEvent::StateChanged {
            provider: provider.to_string(),
            from: c.from,
            to: c.to,
            cause: c.cause.clone(),
            at: c.at,
        });
    }

    /// Steps every provider's machine without new evidence: a provider whose checks went
    /// silent turns unknown. Returns the changes.
    pub fn evaluate(&self, now: DateTime<Utc>) -> Vec<(String, Change)> {
        let changes: Vec<(String, Change)> = {
            let mut trackers = lock(&self.inner.trackers);
            trackers.iter_mut().filter_map(|(p, e)| e.tracker.evaluate(now).map(|c| (p.clone(), c))).collect()
        };
        for (p, c) in &changes {
            self.publish(p, c);
        }
        changes
    }

    /// Folds the `calls` rows recorded since the last call (callers other than "monitor")
    /// into the providers' health. The first call starts at the rows of the last state
    /// window. Returns how many rows counted. Blocking.
    pub fn ingest_passive(&self, now: DateTime<Utc>) -> Result<usize, MonitorError> {
        let cursor = *lock(&self.inner.passive_cursor);
        let since = now - self.inner.options.defaults.window();
        let batch = self.inner.store.with_conn(|c| passive::read(c, cursor, since))?;
        let counted = batch.observations.len();
        for (provider, obs) in batch.observations {
            let at = obs.at;
            if let Some(c) = self.observe(&provider, obs, at, None) {
                self.publish(&provider, &c);
            }
        }
        *lock(&self.inner.passive_cursor) = Some(batch.cursor);
        Ok(counted)
    }

    /// Runs one check now (outside the schedule), records and returns its result. Used by
    /// `keyward checks run`.
    pub async fn run_check(&self, runner: &dyn CheckRunner, check: &CheckConfig) -> CheckResult {
        let result = scheduler::execute(runner, check, self.inner.clock.as_ref()).await;
        self.record(result.clone());
        result
    }

    /// Blocks until every result and change recorded so far is in the database.
    pub fn flush(&self) {
        self.inner.writer.flush();
    }

    /// Deletes raw results and rollups older than the retention. Blocking.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<PruneReport, MonitorError> {
        self.inner.writer.prune(now, self.inner.options.retention)
    }

    // -----------------------------------------------------------------------------------------
    // Queries (blocking; results written less than ~250 ms ago may not be visible: `flush`)

    /// The current state of every provider that has checks or has been seen.
    pub fn current_states(&self) -> Result<Vec<ProviderSnapshot>, MonitorError> {
        let checks = self.checks(None)?;
        let mut out: BTreeMap<String, ProviderSnapshot> = BTreeMap::new();
        {
            let trackers = lock(&self.inner.trackers);
            for (p, e) in trackers.iter() {
                out.insert(
                    p.clone(),
                    ProviderSnapshot {
                        provider: p.clone(),
                        state: e.tracker.health.state,
                        since: e.tracker.health.since,
                        cause: e.tracker.health.cause.clone(),
                        last_check: e.last,
                    },
                );
            }
        }
        for c in checks.iter().filter(|c| c.enabled) {
            out.entry(c.provider.clone()).or_insert_with(|| ProviderSnapshot {
                provider: c.provider.clone(),
                state: HealthState::Unknown,
                since: None,
                cause: "not checked yet".into(),
                last_check: None,
            });
        }
        let missing: Vec<String> =
            out.values().filter(|s| s.last_check.is_none()).map(|s| s.provider.clone()).collect();
        if !missing.is_empty() {
            let found = self.inner.store.with_conn(|c| {
                let mut v = Vec::new();
                for p in &missing {
                    if let Some((at, ok, latency)) = history::last_result(c, p)? {
                        v.push((p.clone(), LastCheck { at, ok, latency }));
                    }
                }
                Ok(v)
            })?;
            for (p, last) in found {
                if let Some(s) = out.get_mut(&p) {
                    s.last_check = Some(last);
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// The uptime of one provider over a window ending at `now`.
    pub fn uptime(&self, provider: &str, window: UptimeWindow, now: DateTime<Utc>) -> Result<Uptime, MonitorError> {
        Ok(self.inner.store.with_conn(|c| history::uptime(c, provider, window, now))?)
    }

    /// The uptime of every monitored provider, sorted by provider.
    pub fn uptime_all(&self, window: UptimeWindow, now: DateTime<Utc>) -> Result<Vec<(String, Uptime)>, MonitorError> {
        Ok(self.inner.store.with_conn(|c| history::uptime_all(c, window, now))?)
    }

    /// Latency (and counts) of one provider in buckets of `bucket` between `since` and `until`.
    pub fn latency_series(
        &self,
        provider: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        bucket: Duration,
    ) -> Result<Vec<LatencyPoint>, MonitorError> {
        Ok(self.inner.store.with_conn(|c| history::latency_series(c, provider, since, until, bucket))?)
    }

    /// One entry per UTC day, the last `days` days up to today (the uptime strip).
    pub fn daily_uptime(&self, provider: &str, days: u32, now: DateTime<Utc>) -> Result<Vec<DayUptime>, MonitorError> {
        Ok(self.inner.store.with_conn(|c| history::daily_uptime(c, provider, days, now))?)
    }

    /// Incidents open at or after `since` (all providers, or one), newest first.
    pub fn incidents(&self, provider: Option<&str>, since: DateTime<Utc>) -> Result<Vec<Incident>, MonitorError> {
        Ok(self.inner.store.with_conn(|c| history::incidents(c, provider, since))?)
    }

    /// State changes at or after `since`, oldest first.
    pub fn state_changes(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<StateChangeRecord>, MonitorError> {
        Ok(self.inner.store.with_conn(|c| history::state_changes(c, provider, since))?)
    }

    /// The spans of each state between `since` and `until` per provider (the state timeline
    /// chart): built from the recorded changes and the state before `since`.
    pub fn state_spans(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(String, Vec<StateSpan>)>, MonitorError> {
        let changes = self.state_changes(provider, since)?;
        let mut providers: Vec<String> = match provider {
            Some(p) => vec![p.to_string()],
            None => self.current_states()?.into_iter().map(|s| s.provider).collect(),
        };
        for c in &changes {
            if !providers.contains(&c.provider) {
                providers.push(c.provider.clone());
            }
        }
        providers.sort();
        let befores = self.inner.store.with_conn(|c| {
            providers
                .iter()
                .map(|p| Ok((p.clone(), history::state_before(c, p, since)?)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(befores
            .into_iter()
            .map(|(p, before)| {
                let mine: Vec<&StateChangeRecord> = changes.iter().filter(|c| c.provider == p).collect();
                let spans = spans_from(before.unwrap_or(HealthState::Unknown), &mine, since, until);
                (p, spans)
            })
            .collect())
    }
}

/// A period in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSpan {
    pub state: HealthState,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn spans_from(
    initial: HealthState,
    changes: &[&StateChangeRecord],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<StateSpan> {
    let mut spans = Vec::new();
    let mut state = initial;
    let mut from = since;
    for c in changes.iter().filter(|c| c.at >= since && c.at <= until) {
        if c.at > from {
            spans.push(StateSpan { state, from, to: c.at });
        }
        state = c.to;
        from = c.at;
    }
    if until > from {
        spans.push(StateSpan { state, from, to: until });
    }
    spans
}

fn parse_settings(provider: &str, json: &str, defaults: &StateConfig) -> Result<StateConfig, MonitorError> {
    if json.trim().is_empty() || json.trim() == "{}" {
        return Ok(defaults.clone());
    }
    // Missing fields fall back to the monitor-wide defaults.
    let mut base = serde_json::to_value(defaults)
        .map_err(|e| MonitorError::Settings { provider: provider.to_string(), message: e.to_string() })?;
    let over: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| MonitorError::Settings { provider: provider.to_string(), message: format!("{json}: {e}") })?;
    if let (Some(b), Some(o)) = (base.as_object_mut(), over.as_object()) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base)
        .map_err(|e| MonitorError::Settings { provider: provider.to_string(), message: format!("{json}: {e}") })
}

#[cfg(test)]
mod tests;
