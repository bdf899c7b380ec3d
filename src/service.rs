//! The long-running services of one Keyward process (the desktop app or `keyward serve`):
//! the health-check scheduler, the alert webhook worker, and the bridges that turn monitor
//! and rate-limit events into alert inputs. Front ends subscribe to the same events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::alerts::{AlertInput, RateLimitLevel, ReportedHealth};
use crate::monitor::{CheckConfig, HealthState, MonitorEvent, PipelineRunner, SchedulerHandle, SchedulerOptions};
use crate::pipeline::BreakerState;
use crate::ratelimit::{LimitEvent, UsageLevel};
use crate::{Error, Keyward};

/// How often alert housekeeping (ban and announcement expiry) runs.
const ALERT_TICK: Duration = Duration::from_secs(60);

/// How often every key's expiry and rotate-by dates are sent to the alert rules (which decide
/// whether they are inside their reminder window).
const KEY_REMINDERS: Duration = Duration::from_secs(6 * 3600);
/// How often each provider's month-to-date cost is compared with its budget.
const BUDGET_CHECK: Duration = Duration::from_secs(300);
/// How often raw call rows past their retention are deleted (at start, then hourly).
const USAGE_PRUNE: Duration = Duration::from_secs(3600);
/// How often the service looks for a newly ended hour to scan for usage anomalies (each hour
/// is scanned once, a minute after it ends; see `Keyward::scan_usage_anomalies`).
const USAGE_ANOMALY_TICK: Duration = Duration::from_secs(5 * 60);

/// How often the scheduled checks are compared with the database even when nothing in this
/// process changed them (a `keyward checks set` or `provider enable` from another process).
const CHECK_SYNC: Duration = Duration::from_secs(15);

/// How often the limits exchanges publish (Binance exchangeInfo) are read again.
const PUBLISHED_LIMITS_EVERY: Duration = crate::published_limits::FRESH_FOR;
/// How soon a failed read of published limits is tried again.
const PUBLISHED_LIMITS_RETRY: Duration = Duration::from_secs(5 * 60);

/// Running services; stop them with [`Services::stop`].
pub struct Services {
    cancel: CancellationToken,
    control: crate::control::ControlServer,
    /// `None` when its port could not be opened (logged; the rest runs).
    gateway: Option<crate::gateway::GatewayServer>,
    scheduler: Arc<SchedulerHandle>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn status(s: HealthState) -> ReportedHealth {
    match s {
        HealthState::Up => ReportedHealth::Up,
        HealthState::Degraded => ReportedHealth::Degraded,
        HealthState::Down => ReportedHealth::Down,
        HealthState::Maintenance => ReportedHealth::Maintenance,
        HealthState::Unknown => ReportedHealth::Unknown,
    }
}

/// Starts monitoring (default checks for every enabled provider), the webhook worker and the
/// event bridges. Must run inside a tokio runtime.
pub async fn start(kw: &Keyward) -> Result<Services, Error> {
    // One running Keyward per data directory: two would keep two rate-limit budgets.
    if let Some(running) = crate::control::ControlClient::discover(kw.data_dir()).await {
        return Err(Error::AlreadyRunning { what: running.describe(), data_dir: kw.data_dir().to_path_buf() });
    }
    let cancel = CancellationToken::new();
    let control = crate::control::serve(kw, cancel.child_token()).await?;
    let gateway = start_gateway(kw, cancel.child_token()).await;
    // Subscribe before reading, so a change made while reading is not missed.
    let registry_changes = kw.providers().watch();
    let check_changes = kw.monitor().watch_checks();
    let kw2 = kw.clone();
    let checks = tokio::task::spawn_blocking(move || wanted_checks(&kw2))
        .await
        .map_err(|e| Error::Config(format!("the monitor set-up task failed: {e}")))??;
    let scheduled: HashMap<i64, CheckConfig> = checks.iter().map(|c| (c.id, c.clone())).collect();
    let scheduler = Arc::new(kw.monitor().spawn(
        checks,
        Arc::new(PipelineRunner::new(kw.pipeline().clone())),
        SchedulerOptions::default(),
        cancel.clone(),
    ));
    let mut tasks = Vec::new();
    // Account and key limits shared with other machines, when set up (before any call).
    match kw.start_shared_budget(cancel.child_token()) {
        Ok(Some(handle)) => tasks.push(handle),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "the shared budget is off"),
    }
    match kw.alerts().run_webhooks(cancel.child_token()) {
        Ok(handle) => tasks.push(handle),
        Err(e) => tracing::error!(error = %e, "webhook delivery is off"),
    }
    tasks.push(tokio::spawn(sync_checks(
        kw.clone(),
        Arc::clone(&scheduler),
        scheduled,
        (registry_changes, check_changes),
        cancel.clone(),
    )));
    tasks.push(tokio::spawn(sync_published_limits(kw.clone(), kw.providers().watch(), cancel.clone())));
    tasks.push(tokio::spawn(status_feeds(kw.clone(), kw.providers().watch(), cancel.clone())));
    tasks.push(tokio::spawn(monitor_bridge(kw.clone(), cancel.clone())));
    tasks.push(tokio::spawn(limit_bridge(kw.clone(), cancel.clone())));
    tasks.push(tokio::spawn(breaker_bridge(kw.clone(), cancel.clone())));
    tasks.push(tokio::spawn(refresh_ahead(kw.clone(), cancel.clone())));
    tasks.push(tokio::spawn(every(kw.clone(), ALERT_TICK, cancel.clone(), "alert housekeeping", |kw| {
        kw.alerts().tick(Utc::now())
    })));
    tasks.push(tokio::spawn(every(kw.clone(), KEY_REMINDERS, cancel.clone(), "key reminders", send_key_reminders)));
    tasks.push(tokio::spawn(every(kw.clone(), BUDGET_CHECK, cancel.clone(), "budget alerts", send_budget_alerts)));
    tasks.push(tokio::spawn(every(kw.clone(), USAGE_PRUNE, cancel.clone(), "pruning old call rows", |kw| {
        let pruned = kw.usage().prune(chrono::Utc::now())?;
        if pruned > 0 {
            tracing::info!(
                pruned,
                "pruned raw call rows past their retention (their counts stay in the hourly totals)"
            );
        }
        Ok::<_, crate::usage::UsageError>(pruned)
    })));
    tasks.push(tokio::spawn(every(
        kw.clone(),
        USAGE_ANOMALY_TICK,
        cancel.clone(),
        "scanning usage for anomalies",
        |kw| kw.scan_usage_anomalies(Utc::now()),
    )));
    // Key-use audit rows are written while the process runs, not only at exit.
    tasks.push(tokio::spawn(every(
        kw.clone(),
        crate::audit::USE_FLUSH_INTERVAL,
        cancel.clone(),
        "writing key-use audit rows",
        |kw| kw.audit().flush_uses(Utc::now()),
    )));
    Ok(Services { cancel, control, gateway, scheduler, tasks })
}

/// The gateway on its configured port (`KEYWARD_GATEWAY_PORT` overrides it for this run).
async fn start_gateway(kw: &Keyward, cancel: CancellationToken) -> Option<crate::gateway::GatewayServer> {
    let from_env = std::env::var(GATEWAY_PORT_ENV).ok().and_then(|p| p.trim().parse::<u16>().ok());
    let port = match from_env {
        Some(p) => p,
        None => {
            let gw = kw.gateway().clone();
            tokio::task::spawn_blocking(move || gw.port()).await.unwrap_or(crate::gateway::DEFAULT_PORT)
        }
    };
    match crate::gateway::serve(kw, port, cancel).await {
        Ok(server) => Some(server),
        Err(e) => {
            tracing::error!(port, error = %e, "the gateway could not start; bots cannot call through Keyward until it can (a taken port: set another with `keyward gateway port`; a locked vault: unlock it and restart)");
            None
        }
    }
}

/// Environment variable that sets the gateway's port for one run (0: any free port).
pub const GATEWAY_PORT_ENV: &str = "KEYWARD_GATEWAY_PORT";

/// The checks the scheduler should run: every enabled check of an enabled provider, after
/// creating the default checks of enabled providers that have none. Blocking.
pub fn wanted_checks(kw: &Keyward) -> Result<Vec<CheckConfig>, Error> {
    let monitor = kw.monitor();
    monitor
        .ensure_default_checks(kw.providers())
        .map_err(|e| Error::Config(format!("could not set up health checks: {e}")))?;
    let enabled: std::collections::HashSet<String> = kw
        .providers()
        .list()
        .map_err(|e| Error::Config(format!("could not read providers: {e}")))?
        .into_iter()
        .filter(|e| e.enabled)
        .map(|e| e.spec.id)
        .collect();
    Ok(monitor
        .checks(None)
        .map_err(|e| Error::Config(format!("could not read health checks: {e}")))?
        .into_iter()
        .filter(|c| c.enabled && enabled.contains(&c.provider))
        .collect())
}

/// What to send the scheduler so it runs `wanted` when it runs `scheduled`: checks to add or
/// replace (new or changed settings), and ids to drop.
pub fn check_plan(scheduled: &HashMap<i64, CheckConfig>, wanted: &[CheckConfig]) -> (Vec<CheckConfig>, Vec<i64>) {
    let upserts = wanted.iter().filter(|c| scheduled.get(&c.id) != Some(c)).cloned().collect();
    let keep: std::collections::HashSet<i64> = wanted.iter().map(|c| c.id).collect();
    let mut removals: Vec<i64> = scheduled.keys().filter(|id| !keep.contains(id)).copied().collect();
    removals.sort_unstable();
    (upserts, removals)
}

/// Keeps the scheduler's checks equal to [`wanted_checks`]: at once when a check or provider
/// changes in this process, and every [`CHECK_SYNC`] for changes made by other processes.
async fn sync_checks(
    kw: Keyward,
    scheduler: Arc<SchedulerHandle>,
    mut scheduled: HashMap<i64, CheckConfig>,
    (mut registry, mut checks): (tokio::sync::watch::Receiver<u64>, tokio::sync::watch::Receiver<u64>),
    cancel: CancellationToken,
) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + CHECK_SYNC, CHECK_SYNC);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = registry.changed() => if r.is_err() { return },
            r = checks.changed() => if r.is_err() { return },
            _ = interval.tick() => {}
        }
        registry.borrow_and_update();
        checks.borrow_and_update();
        let kw2 = kw.clone();
        let wanted = match tokio::task::spawn_blocking(move || wanted_checks(&kw2)).await {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not re-read the health checks");
                continue;
            }
            Err(_) => continue,
        };
        let (upserts, removals) = check_plan(&scheduled, &wanted);
        if upserts.is_empty() && removals.is_empty() {
            continue;
        }
        tracing::info!(changed = upserts.len(), removed = removals.len(), "health checks changed");
        for id in removals {
            scheduled.remove(&id);
            scheduler.remove(id);
        }
        for c in upserts {
            scheduled.insert(c.id, c.clone());
            scheduler.upsert(c);
        }
    }
}

impl Services {
    /// Where the local control API listens.
    pub fn control(&self) -> &crate::control::ControlInfo {
        self.control.info()
    }

    /// Where the gateway listens, if it could open its port.
    pub fn gateway(&self) -> Option<std::net::SocketAddr> {
        self.gateway.as_ref().map(|g| g.addr)
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        self.control.stop().await;
        if let Some(g) = self.gateway {
            g.stop().await;
        }
        for t in self.tasks {
            let _ = t.await;
        }
        // The sync task held the only other reference and has ended; were it still alive, the
        // cancelled token stops the loop anyway.
        if let Ok(scheduler) = Arc::try_unwrap(self.scheduler) {
            scheduler.stop().await;
        }
    }
}

/// Reads the limits providers publish about themselves (their spec's `published_limits`) and
/// hands them to the limiter: for every enabled provider and every provider this process has
/// called, at start, when a provider is enabled or edited, and every [`PUBLISHED_LIMITS_EVERY`]
/// (every [`PUBLISHED_LIMITS_RETRY`] after a failure). The question goes through the pipeline
/// like any other call, so it is rate-limited too.
pub async fn refresh_published_limits(kw: &Keyward) -> Result<usize, Vec<String>> {
    let registry = kw.providers().clone();
    let entries = tokio::task::spawn_blocking(move || registry.list())
        .await
        .map_err(|e| vec![e.to_string()])?
        .map_err(|e| vec![e.to_string()])?;
    let called = kw.limiter().loaded_providers();
    let mut applied = 0;
    let mut failures = Vec::new();
    for entry in entries.into_iter().filter(|e| e.enabled || called.contains(&e.spec.id)) {
        if entry.spec.published_limits.is_none() {
            continue;
        }
        match kw.published_limits().fetch(&entry.spec).await {
            Ok(list) => {
                let updates = kw.limiter().set_published(&entry.spec, list);
                for u in &updates {
                    tracing::info!(provider = %entry.spec.id, rule = %u.rule, from = ?u.from, to = ?u.to,
                        "the exchange publishes a different limit; using it");
                }
                applied += 1;
            }
            Err(e) => {
                tracing::warn!(provider = %entry.spec.id, error = %e, "could not read the published rate limits");
                failures.push(e);
            }
        }
    }
    if failures.is_empty() {
        Ok(applied)
    } else {
        Err(failures)
    }
}

async fn sync_published_limits(
    kw: Keyward,
    mut registry: tokio::sync::watch::Receiver<u64>,
    cancel: CancellationToken,
) {
    loop {
        let wait = match refresh_published_limits(&kw).await {
            Ok(_) => PUBLISHED_LIMITS_EVERY,
            Err(_) => PUBLISHED_LIMITS_RETRY,
        };
        registry.borrow_and_update();
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = registry.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Reads the providers' status feeds at start, every [`crate::hooks::feed::FEED_EVERY`], and at
/// once when a provider changes (a feed URL set or removed, a provider enabled).
async fn status_feeds(kw: Keyward, mut registry: tokio::sync::watch::Receiver<u64>, cancel: CancellationToken) {
    let mut feeds = crate::hooks::feed::Feeds::default();
    let mut interval = tokio::time::interval(crate::hooks::feed::FEED_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = registry.changed() => if r.is_err() { return },
            _ = interval.tick() => {}
        }
        registry.borrow_and_update();
        let (read, errors) = tokio::select! {
            _ = cancel.cancelled() => return,
            done = feeds.poll_all(&kw) => done,
        };
        if read > 0 || !errors.is_empty() {
            tracing::debug!(read, failed = errors.len(), "status feeds read");
        }
    }
}

/// Monitor events → alert inputs: a state change, then one input per check while the
/// provider stays in a bad state (so "down for N checks" rules can count).
async fn monitor_bridge(kw: Keyward, cancel: CancellationToken) {
    let mut events = kw.monitor().subscribe();
    let mut bad: HashMap<String, (HealthState, HealthState, String, u32)> = HashMap::new();
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = events.recv() => e,
        };
        let event = match event {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        match event {
            MonitorEvent::StateChanged { provider, from, to, cause, .. } => {
                if to.is_bad() {
                    bad.insert(provider.clone(), (from, to, cause.clone(), 2));
                } else {
                    bad.remove(&provider);
                }
                kw.alert_sender().send(AlertInput::ProviderState {
                    provider,
                    from: status(from),
                    to: status(to),
                    cause: Some(cause),
                    consecutive_checks: 2,
                });
            }
            MonitorEvent::CheckCompleted { provider, ok, .. } => {
                if let Some((from, to, cause, n)) = bad.get_mut(&provider) {
                    if !ok {
                        *n += 1;
                        kw.alert_sender().send(AlertInput::ProviderState {
                            provider: provider.clone(),
                            from: status(*from),
                            to: status(*to),
                            cause: Some(cause.clone()),
                            consecutive_checks: *n,
                        });
                    }
                }
            }
        }
    }
}

/// Rate-limit events → alert inputs.
async fn limit_bridge(kw: Keyward, cancel: CancellationToken) {
    let mut events = kw.limiter().subscribe();
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = events.recv() => e,
        };
        let event = match event {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        let input = match event {
            LimitEvent::Threshold { provider, limit, level, used_pct, .. } => AlertInput::RateLimit {
                provider,
                limit,
                level: match level {
                    UsageLevel::Normal => RateLimitLevel::Normal,
                    UsageLevel::Warn => RateLimitLevel::Warn,
                    UsageLevel::Critical => RateLimitLevel::Critical,
                },
                used_pct,
            },
            LimitEvent::Banned { provider, retry_after, .. } => AlertInput::RateLimitBan {
                provider,
                until: Utc::now() + chrono::Duration::from_std(retry_after).unwrap_or_default(),
            },
            LimitEvent::Cleared { provider, limit: Some(limit), .. } => {
                AlertInput::RateLimit { provider, limit, level: RateLimitLevel::Normal, used_pct: 0.0 }
            }
            LimitEvent::Cleared { .. } | LimitEvent::Paused { .. } | LimitEvent::Published { .. } => continue,
        };
        kw.alert_sender().send(input);
    }
}

/// How often hot cache entries are checked for a refresh.
const REFRESH_TICK: Duration = Duration::from_millis(200);
/// The most of each rate limit refreshes ahead may take.
pub const REFRESH_SHARE: f64 = 0.1;

/// Refresh-ahead: keeps hot cache entries fresh within [`REFRESH_SHARE`] of each limit.
async fn refresh_ahead(kw: Keyward, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(REFRESH_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        for provider in kw.pipeline().refreshed_providers() {
            kw.limiter().set_caller_share(&provider, crate::caller::Caller::REFRESH.as_str(), Some(REFRESH_SHARE));
        }
        kw.pipeline().refresh_ahead().await;
    }
}

/// Circuit-breaker changes → alert inputs (opened raises, closed resolves; half-open is
/// only shown on the Status page).
async fn breaker_bridge(kw: Keyward, cancel: CancellationToken) {
    let mut changes = kw.pipeline().breakers().subscribe();
    loop {
        let change = tokio::select! {
            _ = cancel.cancelled() => return,
            c = changes.recv() => c,
        };
        let b = match change {
            Ok(b) => b,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        let open = match b.state {
            BreakerState::Open => true,
            BreakerState::Closed => false,
            BreakerState::HalfOpen => continue,
        };
        let until =
            b.until.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
        kw.alert_sender().send(AlertInput::CircuitBreaker {
            provider: b.provider,
            operation: b.operation,
            open,
            until,
            reason: b.reason,
        });
    }
}

/// Runs blocking `work` off the async runtime every `period` (the first time at once) until
/// `cancel`; a failure is logged with `what`.
async fn every<T: 'static, E: std::fmt::Display + 'static>(
    kw: Keyward,
    period: Duration,
    cancel: CancellationToken,
    what: &'static str,
    work: fn(&Keyward) -> Result<T, E>,
) {
    let mut interval = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        let kw = kw.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = work(&kw) {
                tracing::warn!(error = %e, "{what} failed");
            }
        })
        .await;
    }
}

/// Sends every key's expiry and rotation dates to the alerts (reminders before the dates;
/// the rules resolve them once a key is rotated or its date moves out of the window).
pub fn send_key_reminders(kw: &Keyward) -> Result<usize, Error> {
    let keys = kw.keys().list(None).map_err(|e| Error::Config(format!("could not read keys: {e}")))?;
    let mut sent = 0;
    for k in keys {
        if let Some(expires_at) = k.expires_at {
            kw.alert_sender().send(AlertInput::KeyExpiring {
                provider: k.provider.clone(),
                label: k.label.clone(),
                expires_at,
            });
            sent += 1;
        }
        if let Some(due) = k.rotate_by {
            kw.alert_sender().send(AlertInput::RotationDue {
                provider: k.provider.clone(),
                label: k.label.clone(),
                due,
            });
            sent += 1;
        }
    }
    Ok(sent)
}

/// The setting that remembers the last budget threshold alerted for a provider
/// (`<month>:<percent>`), so each threshold alerts once a month however often this runs.
fn budget_alerted_key(provider: &str) -> String {
    format!("billing.alerted.{provider}")
}

/// Sends an alert for every provider whose month-to-date cost reached a budget percentage it
/// had not reached before this month. Returns how many were sent.
pub fn send_budget_alerts(kw: &Keyward) -> Result<usize, crate::usage::UsageError> {
    let view = kw.billing()?;
    let store = kw.store();
    let mut sent = 0;
    for b in &view.providers {
        let (Some(budget), Some(used)) = (b.budget, b.budget_used_pct) else { continue };
        let Some(threshold) = crate::usage::billing::crossed(&b.alert_at, used) else { continue };
        let key = budget_alerted_key(&b.provider);
        let mark = format!("{}:{threshold}", view.month);
        let last = store.setting(&key)?;
        // Only a higher threshold than the last one alerted this month.
        let already = last
            .as_deref()
            .and_then(|l| l.split_once(':'))
            .is_some_and(|(month, pct)| month == view.month && pct.parse::<u32>().is_ok_and(|p| p >= threshold));
        if already {
            continue;
        }
        kw.alert_sender().send(AlertInput::Budget {
            provider: b.provider.clone(),
            month: view.month.clone(),
            threshold_pct: threshold,
            cost: b.cost,
            budget,
            currency: b.currency.clone(),
        });
        store.set_setting(&key, &mark)?;
        sent += 1;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::NewCheck;

    fn check(id: i64, interval: u64) -> CheckConfig {
        let n = NewCheck::operation("binance", "server_time");
        CheckConfig {
            id,
            provider: n.provider,
            name: n.operation.clone(),
            kind: n.kind,
            operation: n.operation,
            params: n.params,
            interval: Duration::from_secs(interval),
            timeout: n.timeout,
            expect_status: None,
            body: None,
            degraded_above: None,
            enabled: true,
        }
    }

    #[test]
    fn the_plan_adds_new_checks_replaces_changed_ones_and_drops_the_rest() {
        let scheduled: HashMap<i64, CheckConfig> =
            [check(1, 30), check(2, 30), check(3, 30)].into_iter().map(|c| (c.id, c)).collect();
        let wanted = vec![check(1, 30), check(2, 60), check(4, 30)];
        let (upserts, removals) = check_plan(&scheduled, &wanted);
        assert_eq!(upserts.iter().map(|c| c.id).collect::<Vec<_>>(), vec![2, 4]);
        assert_eq!(upserts[0].interval, Duration::from_secs(60));
        assert_eq!(removals, vec![3]);
        let (upserts, removals) = check_plan(&wanted.iter().map(|c| (c.id, c.clone())).collect(), &wanted);
        assert!(upserts.is_empty() && removals.is_empty(), "nothing changed, nothing sent");
    }
}
