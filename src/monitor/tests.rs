//! Monitor tests: history and rollups on a real SQLite file, events, passive health, the
//! scheduler under paused tokio time, and the pipeline runner against a local mock exchange.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tempfile::TempDir;
use tokio::sync::broadcast::error::TryRecvError;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::clock::{Clock, FakeClock};
use crate::pipeline::transform::SystemState;
use crate::store::Store;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().expect("valid date")
}

struct Fixture {
    _dir: TempDir,
    store: Store,
    clock: FakeClock,
    monitor: Monitor,
}

fn fixture_at(start: DateTime<Utc>) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("keyward.db")).expect("open store");
    let clock = FakeClock::at(start);
    let monitor = Monitor::open(store.clone(), Arc::new(clock.clone()), MonitorOptions::default()).expect("monitor");
    Fixture { _dir: dir, store, clock, monitor }
}

fn fixture() -> Fixture {
    fixture_at(t0())
}

fn result(provider: &str, check_id: i64, at: DateTime<Utc>, ok: bool, latency_ms: u64) -> CheckResult {
    CheckResult {
        check_id,
        provider: provider.to_string(),
        operation: "server_time".into(),
        kind: CheckKind::Operation,
        at,
        ok,
        status: Some(if ok { 200 } else { 503 }),
        latency: Duration::from_millis(latency_ms),
        slow: false,
        system: None,
        error: (!ok).then(|| ProbeError { kind: "status".into(), message: "HTTP 503, expected 2xx".into() }),
    }
}

fn count(store: &Store, sql: &str) -> i64 {
    store.with_conn(|c| Ok(c.query_row(sql, [], |r| r.get(0))?)).expect("query")
}

fn drain(rx: &mut tokio::sync::broadcast::Receiver<MonitorEvent>) -> Vec<MonitorEvent> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(e) => out.push(e),
            Err(TryRecvError::Empty | TryRecvError::Closed) => return out,
            Err(TryRecvError::Lagged(_)) => {}
        }
    }
}

fn changes(events: &[MonitorEvent]) -> Vec<(HealthState, HealthState)> {
    events
        .iter()
        .filter_map(|e| match e {
            MonitorEvent::StateChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rollups and uptime

#[test]
fn rollups_are_maintained_per_minute_hour_and_day_as_results_arrive() {
    let f = fixture();
    // Three hours, one result every 10 s; every tenth fails.
    let mut failures = 0;
    for i in 0..(3 * 360) {
        let at = t0() + chrono::Duration::seconds(10 * i);
        let ok = i % 10 != 9;
        failures += i64::from(!ok);
        f.monitor.record(result("kraken", 1, at, ok, 100 + (i as u64 % 50)));
    }
    f.monitor.flush();
    assert_eq!(count(&f.store, "SELECT COUNT(*) FROM check_results"), 1080);
    assert_eq!(count(&f.store, "SELECT COUNT(*) FROM rollup_minute"), 180);
    assert_eq!(count(&f.store, "SELECT COUNT(*) FROM rollup_hour"), 3);
    assert_eq!(count(&f.store, "SELECT COUNT(*) FROM rollup_day"), 1);
    for table in ["rollup_minute", "rollup_hour", "rollup_day"] {
        assert_eq!(count(&f.store, &format!("SELECT SUM(count) FROM {table}")), 1080, "{table}");
        assert_eq!(count(&f.store, &format!("SELECT SUM(failures) FROM {table}")), failures, "{table}");
    }
    let (min, max, p95): (i64, i64, i64) = f
        .store
        .with_conn(|c| {
            Ok(c.query_row("SELECT lat_min, lat_max, lat_p95 FROM rollup_day", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?)
        })
        .expect("day row");
    // Latencies 100..149 ms; the 149s (i % 50 == 49) are all failures.
    assert_eq!((min, max), (100, 148));
    assert!((135..=148).contains(&p95), "p95 {p95}");
    let now = t0() + chrono::Duration::hours(3);
    let up = f.monitor.uptime("kraken", UptimeWindow::Day, now).expect("uptime");
    assert_eq!((up.checks, up.failures), (1080, failures as u64));
    assert!((up.ratio().expect("data") - 0.9).abs() < 1e-9);
}

#[test]
fn a_bucket_continues_where_it_left_off_after_a_restart() {
    let f = fixture();
    for i in 0..3 {
        f.monitor.record(result("kraken", 1, t0() + chrono::Duration::seconds(10 * i), true, 100));
    }
    f.monitor.flush();
    let path = f.store.path().to_path_buf();
    drop(f.monitor);
    let store = Store::open(&path).expect("reopen");
    let monitor = Monitor::open(store.clone(), Arc::new(f.clock.clone()), MonitorOptions::default()).expect("monitor");
    for i in 3..6 {
        monitor.record(result("kraken", 1, t0() + chrono::Duration::seconds(10 * i), i != 5, 300));
    }
    monitor.flush();
    let (n, failures, lat_count, lat_sum): (i64, i64, i64, i64) = store
        .with_conn(|c| {
            Ok(c.query_row("SELECT count, failures, lat_count, lat_sum FROM rollup_minute", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?)
        })
        .expect("row");
    assert_eq!((n, failures, lat_count, lat_sum), (6, 1, 5, 3 * 100 + 2 * 300));
}

#[test]
fn uptime_over_each_window_matches_the_raw_results() {
    let now = t0() + chrono::Duration::days(400) + chrono::Duration::minutes(30);
    let f = fixture_at(now);
    let mut raw = Vec::new();
    // One result per hour for 400 days; failures cluster on some days.
    for h in 0..(400 * 24) {
        let at = now - chrono::Duration::hours(h) - chrono::Duration::minutes(7);
        let day = h / 24;
        let ok = !((day % 13 == 0 && h % 3 == 0) || (day == 2 && h % 24 < 12));
        raw.push((at, ok));
        f.monitor.record(result("binance", 1, at, ok, 50));
    }
    f.monitor.flush();
    for window in UptimeWindow::ALL {
        let start = window.start_ms(now);
        let inside: Vec<&(DateTime<Utc>, bool)> =
            raw.iter().filter(|(at, _)| at.timestamp_millis() >= start && *at <= now).collect();
        let want = Uptime {
            checks: inside.len() as u64,
            failures: inside.iter().filter(|(_, ok)| !ok).count() as u64,
            maintenance: 0,
        };
        let got = f.monitor.uptime("binance", window, now).expect("uptime");
        assert_eq!(got, want, "window {}", window.as_str());
    }
    let day = f.monitor.uptime("binance", UptimeWindow::Day, now).expect("24h");
    assert!(day.checks >= 24 && day.checks <= 25, "{day:?}");
}

#[test]
fn uptime_all_lists_every_monitored_provider_with_its_own_numbers() {
    let f = fixture();
    let now = t0() + chrono::Duration::hours(1);
    for i in 0..10 {
        let at = t0() + chrono::Duration::minutes(i);
        f.monitor.record(result("a", 1, at, true, 10));
        f.monitor.record(result("b", 2, at, i % 2 == 0, 10));
    }
    f.monitor.set_provider_settings("c", StateConfig::default()).expect("settings");
    f.monitor.flush();
    let all = f.monitor.uptime_all(UptimeWindow::Quarter, now).expect("uptime_all");
    let names: Vec<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(all[0].1.ratio(), Some(1.0));
    assert_eq!(all[1].1.ratio(), Some(0.5));
    assert_eq!(all[2].1.ratio(), None, "no data is not 0 %");
}

#[test]
fn latency_series_merges_minutes_into_the_requested_bucket() {
    let f = fixture();
    for i in 0..60 {
        let at = t0() + chrono::Duration::seconds(10 * i);
        let latency = if i < 30 { 100 } else { 400 };
        f.monitor.record(result("okx", 1, at, i != 45, latency));
    }
    f.monitor.flush();
    let until = t0() + chrono::Duration::minutes(10);
    let minutes = f.monitor.latency_series("okx", t0(), until, Duration::from_secs(60)).expect("series");
    assert_eq!(minutes.len(), 10);
    assert!(minutes.iter().all(|p| p.count == 6));
    let fives = f.monitor.latency_series("okx", t0(), until, Duration::from_secs(300)).expect("series");
    assert_eq!(fives.len(), 2);
    assert_eq!(fives[0].start, t0());
    assert_eq!((fives[0].count, fives[0].failures), (30, 0));
    assert_eq!(fives[0].avg, Some(Duration::from_millis(100)));
    assert_eq!((fives[1].count, fives[1].failures), (30, 1));
    assert_eq!(fives[1].max, Some(Duration::from_millis(400)));
    assert_eq!(fives[1].p95, Some(Duration::from_millis(400)), "clamped to max");
    let hourly = f.monitor.latency_series("okx", t0(), until, Duration::from_secs(3600)).expect("series");
    assert_eq!(hourly.len(), 1);
    assert_eq!(hourly[0].count, 60);
}

#[test]
fn daily_uptime_has_one_entry_per_day_and_none_for_days_without_data() {
    let now = t0() + chrono::Duration::days(89) + chrono::Duration::hours(12);
    let f = fixture_at(now);
    f.monitor.record(result("kraken", 1, now - chrono::Duration::days(3), false, 10));
    f.monitor.record(result("kraken", 1, now - chrono::Duration::days(3), true, 10));
    f.monitor.record(result("kraken", 1, now, true, 10));
    f.monitor.flush();
    let days = f.monitor.daily_uptime("kraken", 90, now).expect("days");
    assert_eq!(days.len(), 90);
    assert_eq!(days[0].day, t0().date_naive());
    assert_eq!(days[89].day, now.date_naive());
    assert_eq!(days[89].uptime.ratio(), Some(1.0));
    assert_eq!(days[86].uptime.ratio(), Some(0.5));
    assert_eq!(days.iter().filter(|d| d.uptime.checks == 0).count(), 88);
}

#[test]
fn pruning_drops_raw_results_and_rollups_past_their_retention_only() {
    let now = t0() + chrono::Duration::days(30);
    let f = fixture_at(now);
    for days_ago in [20, 8, 3, 1, 0] {
        f.monitor.record(result("bybit", 1, now - chrono::Duration::days(days_ago), true, 10));
    }
    f.monitor.flush();
    let report = f.monitor.prune(now).expect("prune");
    assert_eq!(report.results, 2, "older than 7 days");
    assert_eq!(report.minutes, 3, "older than 2 days");
    assert_eq!((report.hours, report.days), (0, 0));
    assert_eq!(count(&f.store, "SELECT COUNT(*) FROM check_results"), 3);
    assert_eq!(count(&f.store, "SELECT COUNT(*) FROM rollup_minute"), 2);
    let q = f.monitor.uptime("bybit", UptimeWindow::Quarter, now).expect("uptime");
    assert_eq!(q.checks, 5, "day rollups keep the long range");
    let later = now + chrono::Duration::days(401);
    let report = f.monitor.prune(later).expect("prune");
    assert_eq!(report.days, 5);
    assert_eq!(count(&f.store, "SELECT COUNT(*) FROM rollup_hour"), 0);
}

// ---------------------------------------------------------------------------------------------
// States, events, incidents

#[test]
fn events_report_every_check_but_state_changes_only_when_they_happen() {
    let f = fixture();
    let mut rx = f.monitor.subscribe();
    let mut at = t0();
    for ok in
        [true, true, true, false, false, false, false, true, true, true, true, true, true, true, true, true, true, true]
    {
        at += chrono::Duration::seconds(30);
        f.monitor.record(result("kraken", 1, at, ok, 50));
    }
    let events = drain(&mut rx);
    let completed = events.iter().filter(|e| matches!(e, MonitorEvent::CheckCompleted { .. })).count();
    assert_eq!(completed, 18);
    let ch = changes(&events);
    assert_eq!(ch.first(), Some(&(HealthState::Unknown, HealthState::Up)));
    assert!(ch.contains(&(HealthState::Up, HealthState::Down)));
    assert_eq!(ch.last().map(|c| c.1), Some(HealthState::Up));
    for pair in ch.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "changes chain: {ch:?}");
        assert_ne!(pair[0].0, pair[0].1);
    }
    assert!(ch.len() <= 4, "{ch:?}");
}

#[test]
fn incidents_span_from_the_first_bad_state_to_recovery_with_the_worst_state() {
    let f = fixture();
    let mut at = t0();
    let mut step = |ok: bool, system: Option<SystemState>, check: i64| {
        at += chrono::Duration::seconds(30);
        let mut r = result("kraken", check, at, ok, 50);
        if let Some(s) = system {
            r.kind = CheckKind::Status;
            r.operation = "system_status".into();
            r.system = Some((s, Some("upgrade".into())));
        }
        f.monitor.record(r);
        at
    };
    for _ in 0..3 {
        step(true, None, 1);
    }
    step(true, Some(SystemState::Maintenance), 2);
    let started = step(true, Some(SystemState::Maintenance), 2);
    step(false, None, 1);
    step(false, Some(SystemState::Normal), 2);
    step(false, None, 1);
    step(false, Some(SystemState::Normal), 2);
    let mut ended = None;
    for _ in 0..30 {
        let t = step(true, None, 1);
        step(true, Some(SystemState::Normal), 2);
        if f.monitor.current_states().expect("states")[0].state == HealthState::Up {
            ended = Some(t + chrono::Duration::seconds(30));
            break;
        }
    }
    f.monitor.flush();
    let incidents = f.monitor.incidents(None, t0()).expect("incidents");
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let inc = &incidents[0];
    assert_eq!(inc.provider, "kraken");
    assert_eq!(inc.started_at, started);
    assert_eq!(inc.state, HealthState::Down, "worst state of the incident");
    assert_eq!(inc.cause, "the exchange reports maintenance: upgrade");
    assert_eq!(inc.ended_at, ended);
    assert!(inc.duration(at) > chrono::Duration::minutes(2));
    let changes = f.monitor.state_changes(Some("kraken"), t0()).expect("changes");
    assert_eq!(changes.first().map(|c| c.to), Some(HealthState::Up));
    assert!(changes.iter().any(|c| c.to == HealthState::Maintenance));
    assert!(f.monitor.incidents(Some("other"), t0()).expect("none").is_empty());
}

#[test]
fn state_and_last_check_survive_a_restart() {
    let f = fixture();
    let mut at = t0();
    for ok in [true, false, false] {
        at += chrono::Duration::seconds(30);
        f.monitor.record(result("kraken", 1, at, ok, 70));
    }
    f.monitor.flush();
    drop(f.monitor);
    let monitor =
        Monitor::open(f.store.clone(), Arc::new(f.clock.clone()), MonitorOptions::default()).expect("monitor");
    let states = monitor.current_states().expect("states");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].state, HealthState::Down);
    assert_eq!(states[0].since, Some(at));
    assert!(states[0].cause.contains("server_time failing"));
    assert_eq!(states[0].last_check, Some(LastCheck { at, ok: false, latency: Duration::from_millis(70) }));
}

#[test]
fn state_spans_cover_the_range_from_the_recorded_changes() {
    let f = fixture();
    let mut at = t0();
    for ok in [true, false, false, true, true, true, true, true, true, true, true, true] {
        at += chrono::Duration::minutes(1);
        f.monitor.record(result("kraken", 1, at, ok, 70));
    }
    f.monitor.flush();
    let until = at + chrono::Duration::minutes(1);
    let spans = f.monitor.state_spans(None, t0(), until).expect("spans");
    assert_eq!(spans.len(), 1);
    let (p, s) = &spans[0];
    assert_eq!(p, "kraken");
    assert_eq!(s.first().map(|x| (x.state, x.from)), Some((HealthState::Unknown, t0())));
    assert_eq!(s.last().map(|x| (x.state, x.to)), Some((HealthState::Up, until)));
    assert!(s.iter().any(|x| x.state == HealthState::Down));
    for pair in s.windows(2) {
        assert_eq!(pair[0].to, pair[1].from);
    }
}

#[test]
fn provider_settings_change_the_confirmations_and_persist() {
    let f = fixture();
    let cfg = StateConfig { confirmations: 3, ..StateConfig::default() };
    f.monitor.set_provider_settings("kraken", cfg.clone()).expect("set");
    let mut at = t0();
    let mut rx = f.monitor.subscribe();
    for ok in [true, false, false] {
        at += chrono::Duration::seconds(30);
        f.monitor.record(result("kraken", 1, at, ok, 70));
    }
    assert_eq!(changes(&drain(&mut rx)), [(HealthState::Unknown, HealthState::Up)], "2 failures are not 3");
    at += chrono::Duration::seconds(30);
    f.monitor.record(result("kraken", 1, at, false, 70));
    assert_eq!(changes(&drain(&mut rx)), [(HealthState::Up, HealthState::Down)]);
    let reopened =
        Monitor::open(f.store.clone(), Arc::new(f.clock.clone()), MonitorOptions::default()).expect("monitor");
    assert_eq!(reopened.provider_settings("kraken").confirmations, 3);
    let bad = StateConfig { confirmations: 0, ..StateConfig::default() };
    let err = f.monitor.set_provider_settings("kraken", bad).expect_err("0 confirmations");
    assert!(err.to_string().contains("confirmations 0"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Passive health

fn attempt(
    caller: &str,
    status: Option<u16>,
    outcome: crate::pipeline::Outcome,
    ts: DateTime<Utc>,
) -> crate::pipeline::AttemptRecord {
    crate::pipeline::AttemptRecord {
        status,
        outcome,
        latency: Duration::from_millis(80),
        bytes_in: 10,
        ..crate::pipeline::AttemptRecord::answered(ts, "kraken", "ticker", caller)
    }
}

#[test]
fn passive_health_counts_real_traffic_but_not_the_monitors_own_calls_or_client_errors() {
    use crate::pipeline::Outcome;
    let f = fixture();
    let recorder = crate::pipeline::Recorder::start(f.store.clone());
    let now = f.clock.now();
    recorder.record(attempt("bot", Some(200), Outcome::Ok, now));
    recorder.flush();
    assert_eq!(f.monitor.ingest_passive(now).expect("ingest"), 1);
    assert_eq!(f.monitor.current_states().expect("states")[0].state, HealthState::Up);

    // The monitor's own failures and a bot's 4xx / 429 say nothing about kraken's health.
    for _ in 0..5 {
        recorder.record(attempt(crate::caller::Caller::MONITOR.as_str(), Some(503), Outcome::HttpError, now));
        recorder.record(attempt("bot", Some(400), Outcome::HttpError, now));
        recorder.record(attempt("bot", Some(429), Outcome::HttpError, now));
    }
    recorder.flush();
    assert_eq!(f.monitor.ingest_passive(now).expect("ingest"), 0);
    assert_eq!(f.monitor.current_states().expect("states")[0].state, HealthState::Up);

    // Real 5xx and timeouts do.
    recorder.record(attempt("gateway:bot1", Some(502), Outcome::HttpError, now));
    recorder.record(attempt("cli", None, Outcome::Timeout, now));
    recorder.flush();
    assert_eq!(f.monitor.ingest_passive(now).expect("ingest"), 2);
    let state = &f.monitor.current_states().expect("states")[0];
    assert_eq!(state.state, HealthState::Down);
    assert!(state.cause.contains("ticker failing"), "{}", state.cause);
    assert_eq!(f.monitor.ingest_passive(now).expect("nothing new"), 0);
}

#[test]
fn passive_ingestion_starts_with_the_recent_window_only() {
    use crate::pipeline::Outcome;
    let f = fixture();
    let recorder = crate::pipeline::Recorder::start(f.store.clone());
    let now = f.clock.now();
    recorder.record(attempt("bot", None, Outcome::Network, now - chrono::Duration::hours(2)));
    recorder.record(attempt("bot", Some(200), Outcome::Ok, now - chrono::Duration::seconds(10)));
    recorder.flush();
    assert_eq!(f.monitor.ingest_passive(now).expect("ingest"), 1, "the 2-hour-old row is history");
}

// ---------------------------------------------------------------------------------------------
// Checks configuration

#[test]
fn checks_are_stored_validated_and_default_from_the_spec() {
    let f = fixture();
    let registry = crate::provider::Registry::new(f.store.clone()).expect("registry");
    registry.set_enabled("binance", true).expect("enable");
    registry.set_enabled("coinbase", true).expect("enable");
    let created = f.monitor.ensure_default_checks(&registry).expect("defaults");
    let binance: Vec<&CheckConfig> = created.iter().filter(|c| c.provider == "binance").collect();
    assert_eq!(binance.len(), 2);
    assert_eq!((binance[0].kind, binance[0].operation.as_str()), (CheckKind::Operation, "server_time"));
    assert_eq!((binance[1].kind, binance[1].operation.as_str()), (CheckKind::Status, "system_status"));
    assert_eq!(binance[0].interval, DEFAULT_INTERVAL);
    assert!(f.monitor.ensure_default_checks(&registry).expect("again").is_empty(), "idempotent");

    let mut ticker = NewCheck::operation("binance", "ticker").with_interval(Duration::from_secs(10));
    ticker.params.insert("symbol".into(), "BTCUSDT".into());
    ticker.body = Some(BodyCondition { pointer: "/symbol".into(), equals: Some(serde_json::json!("BTCUSDT")) });
    ticker.degraded_above = Some(Duration::from_millis(800));
    ticker.expect_status = Some(200);
    let mut stored = f.monitor.add_check(ticker.clone()).expect("add");
    assert_eq!(f.monitor.check(stored.id).expect("get"), stored);
    let dup = f.monitor.add_check(ticker).expect_err("duplicate name");
    assert_eq!(dup.kind(), "duplicate");
    stored.interval = Duration::from_secs(60);
    stored.enabled = false;
    f.monitor.update_check(&stored).expect("update");
    assert_eq!(f.monitor.check(stored.id).expect("get"), stored);
    stored.interval = Duration::from_millis(10);
    let err = f.monitor.update_check(&stored).expect_err("too short");
    assert!(err.to_string().contains("interval 10 ms"), "{err}");
    f.monitor.remove_check(stored.id).expect("remove");
    assert_eq!(f.monitor.check(stored.id).expect_err("gone").kind(), "notFound");
    let states = f.monitor.current_states().expect("states");
    assert!(states.iter().any(|s| s.provider == "coinbase" && s.state == HealthState::Unknown));
}

// ---------------------------------------------------------------------------------------------
// Scheduler (paused tokio time)

#[derive(Default)]
struct CountingRunner {
    runs: Mutex<Vec<(i64, tokio::time::Instant)>>,
    hang: Vec<i64>,
}

impl CheckRunner for CountingRunner {
    fn run<'a>(&'a self, check: &'a CheckConfig) -> BoxFuture<'a, Probe> {
        Box::pin(async move {
            self.runs.lock().expect("lock").push((check.id, tokio::time::Instant::now()));
            if self.hang.contains(&check.id) {
                std::future::pending::<()>().await;
            }
            Probe::ok(200, Duration::from_millis(5), None)
        })
    }
}

impl CountingRunner {
    fn count(&self, id: i64) -> usize {
        self.runs.lock().expect("lock").iter().filter(|(i, _)| *i == id).count()
    }
}

fn sched_check(id: i64, provider: &str, interval_s: u64, timeout_s: u64) -> CheckConfig {
    CheckConfig {
        id,
        provider: provider.into(),
        name: format!("c{id}"),
        kind: CheckKind::Operation,
        operation: "server_time".into(),
        params: Default::default(),
        interval: Duration::from_secs(interval_s),
        timeout: Duration::from_secs(timeout_s),
        expect_status: None,
        body: None,
        degraded_above: None,
        enabled: true,
    }
}

fn quiet() -> SchedulerOptions {
    SchedulerOptions { housekeeping: None, prune_every: None, jitter_first_run: false, ..SchedulerOptions::default() }
}

/// Moves paused time forward one second at a time, letting spawned tasks run in between.
async fn advance(secs: u64) {
    for _ in 0..secs {
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn checks_run_at_their_intervals_and_cancellation_stops_them() {
    let f = fixture();
    let runner = Arc::new(CountingRunner::default());
    let cancel = CancellationToken::new();
    let mut rx = f.monitor.subscribe();
    let handle = f.monitor.spawn(
        vec![sched_check(1, "a", 10, 5), sched_check(2, "b", 30, 5)],
        runner.clone(),
        quiet(),
        cancel.clone(),
    );
    advance(0).await;
    tokio::task::yield_now().await;
    advance(60).await;
    // t = 0, 10, ..., 60 and t = 0, 30, 60.
    assert_eq!(runner.count(1), 7);
    assert_eq!(runner.count(2), 3);
    let runs = runner.runs.lock().expect("lock").clone();
    let first = runs[0].1;
    let gaps: Vec<u64> = runs.iter().filter(|(i, _)| *i == 1).map(|(_, t)| (*t - first).as_secs()).collect();
    assert_eq!(gaps, [0, 10, 20, 30, 40, 50, 60]);
    let completed = drain(&mut rx).into_iter().filter(|e| matches!(e, MonitorEvent::CheckCompleted { .. })).count();
    assert_eq!(completed, 10);

    handle.stop().await;
    advance(120).await;
    assert_eq!(runner.count(1), 7, "no runs after cancellation");
    assert_eq!(runner.count(2), 3);
}

#[tokio::test(start_paused = true)]
async fn a_check_still_running_is_skipped_and_times_out_as_a_failure() {
    let f = fixture();
    let runner = Arc::new(CountingRunner { hang: vec![1], ..CountingRunner::default() });
    let cancel = CancellationToken::new();
    let mut rx = f.monitor.subscribe();
    let _handle = f.monitor.spawn(vec![sched_check(1, "a", 10, 25)], runner.clone(), quiet(), cancel.clone());
    advance(26).await;
    assert_eq!(runner.count(1), 1, "the rounds at 10 s and 20 s were skipped");
    let failed: Vec<MonitorEvent> =
        drain(&mut rx).into_iter().filter(|e| matches!(e, MonitorEvent::CheckCompleted { ok: false, .. })).collect();
    assert_eq!(failed.len(), 1);
    advance(5).await;
    assert_eq!(runner.count(1), 2, "runs again at 30 s");
    cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn checks_can_be_added_changed_removed_and_run_now() {
    let f = fixture();
    let runner = Arc::new(CountingRunner::default());
    let cancel = CancellationToken::new();
    let handle = f.monitor.spawn(vec![], runner.clone(), quiet(), cancel.clone());
    handle.upsert(sched_check(5, "a", 10, 5));
    advance(21).await;
    assert_eq!(runner.count(5), 3);
    handle.upsert(sched_check(5, "a", 60, 5));
    advance(30).await;
    assert_eq!(runner.count(5), 4, "runs once on the change, then every 60 s");
    let result = handle.run_now(5).await.expect("scheduled check");
    assert!(result.ok);
    assert_eq!(runner.count(5), 5);
    handle.remove(5);
    advance(120).await;
    assert_eq!(runner.count(5), 5);
    assert!(handle.run_now(5).await.is_none());
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_by_the_semaphore() {
    let f = fixture();
    let runner = Arc::new(CountingRunner { hang: (1..=10).collect(), ..CountingRunner::default() });
    let cancel = CancellationToken::new();
    let checks = (1..=10).map(|i| sched_check(i, "a", 10, 100)).collect();
    let opts = SchedulerOptions { max_concurrency: 3, ..quiet() };
    let _handle = f.monitor.spawn(checks, runner.clone(), opts, cancel.clone());
    advance(5).await;
    assert_eq!(runner.runs.lock().expect("lock").len(), 3);
    cancel.cancel();
}

// ---------------------------------------------------------------------------------------------
// The default runner: the pipeline against a local mock Binance

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Normal,
    Down,
    Slow,
    Malformed,
    Maintenance,
}

#[derive(Clone)]
struct Mock {
    mode: Arc<Mutex<Mode>>,
    hits: Arc<AtomicUsize>,
    status_hits: Arc<AtomicU32>,
}

async fn mock_binance() -> (String, Mock) {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    async fn time(State(m): State<Mock>) -> Response {
        m.hits.fetch_add(1, Ordering::SeqCst);
        let mode = *m.mode.lock().expect("lock");
        match mode {
            Mode::Down => (StatusCode::SERVICE_UNAVAILABLE, "{\"code\":-1,\"msg\":\"down\"}").into_response(),
            Mode::Malformed => (StatusCode::OK, "<html>upstream error</html>").into_response(),
            Mode::Slow => {
                // The exchange is slow: this is the behaviour under test, not a wait.
                tokio::time::sleep(Duration::from_millis(400)).await;
                axum::Json(serde_json::json!({"serverTime": Utc::now().timestamp_millis()})).into_response()
            }
            _ => axum::Json(serde_json::json!({"serverTime": Utc::now().timestamp_millis()})).into_response(),
        }
    }
    async fn status(State(m): State<Mock>) -> Response {
        m.status_hits.fetch_add(1, Ordering::SeqCst);
        let mode = *m.mode.lock().expect("lock");
        if mode == Mode::Down {
            return (StatusCode::SERVICE_UNAVAILABLE, "{\"code\":-1,\"msg\":\"down\"}").into_response();
        }
        let body = if mode == Mode::Maintenance {
            serde_json::json!({"status": 1, "msg": "system maintenance"})
        } else {
            serde_json::json!({"status": 0, "msg": "normal"})
        };
        axum::Json(body).into_response()
    }

    let mock = Mock {
        mode: Arc::new(Mutex::new(Mode::Normal)),
        hits: Arc::new(AtomicUsize::new(0)),
        status_hits: Arc::new(AtomicU32::new(0)),
    };
    let app = axum::Router::new()
        .route("/api/v3/time", get(time))
        .route("/sapi/v1/system/status", get(status))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), mock)
}

#[tokio::test]
async fn pipeline_checks_see_a_provider_go_down_slow_malformed_and_into_maintenance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = crate::Keyward::open_with_secrets(dir.path(), Arc::new(crate::vault::MemoryStore::new())).expect("open");
    let (url, mock) = mock_binance().await;
    kw.providers()
        .set("binance", &[("environments.production.base_url", url.as_str()), ("retry.max_attempts", "1")])
        .expect("point binance at the mock");
    let spec = kw.providers().get("binance").expect("binance").spec;
    let clock = Arc::new(crate::clock::SystemClock);
    let monitor = Monitor::open(kw.store().clone(), clock, MonitorOptions::default()).expect("monitor");
    let health = monitor.add_check(NewCheck::health(&spec)).expect("health check");
    let status = monitor.add_check(NewCheck::status(&spec).expect("binance has a status operation")).expect("status");
    let runner = PipelineRunner::new(kw.pipeline().clone());
    let mut rx = monitor.subscribe();
    let set = |m: Mode| *mock.mode.lock().expect("lock") = m;

    // Normal: up, and a baseline of a few ms.
    for _ in 0..6 {
        let r = monitor.run_check(&runner, &health).await;
        assert!(r.ok, "{r:?}");
    }
    let r = monitor.run_check(&runner, &status).await;
    assert!(r.ok && r.maintenance().is_none(), "{r:?}");
    assert_eq!(changes(&drain(&mut rx)), [(HealthState::Unknown, HealthState::Up)]);
    assert_eq!(mock.hits.load(Ordering::SeqCst), 6, "one request per check run");

    // Slow: still 200, but far above its own baseline.
    set(Mode::Slow);
    for _ in 0..2 {
        let r = monitor.run_check(&runner, &health).await;
        assert!(r.ok && r.latency >= Duration::from_millis(400), "{r:?}");
    }
    let events = drain(&mut rx);
    assert_eq!(changes(&events), [(HealthState::Up, HealthState::Degraded)]);
    assert!(
        matches!(&events[..], [.., MonitorEvent::StateChanged { cause, .. }] if cause.contains("server_time took"))
    );

    set(Mode::Normal);
    for _ in 0..2 {
        monitor.run_check(&runner, &health).await;
    }
    assert_eq!(changes(&drain(&mut rx)), [(HealthState::Degraded, HealthState::Up)]);

    // Down: every route answers 503. The status endpoint's pass came before the health
    // check's failures began, so it no longer counts: down within the confirmations.
    set(Mode::Down);
    for _ in 0..2 {
        let r = monitor.run_check(&runner, &health).await;
        assert!(!r.ok);
        assert_eq!(r.status, Some(503));
        assert!(r.error.as_ref().is_some_and(|e| e.message.starts_with("HTTP 503, expected 2xx")), "{r:?}");
        assert!(!monitor.run_check(&runner, &status).await.ok);
    }
    let events = drain(&mut rx);
    assert_eq!(changes(&events), [(HealthState::Up, HealthState::Down)]);
    assert!(
        events.iter().any(
            |e| matches!(e, MonitorEvent::StateChanged { cause, .. } if cause.starts_with("all 2 checks failing"))
        ),
        "{events:?}"
    );

    // Recovers; then a malformed body (200 with HTML) on one endpoint is a partial failure.
    set(Mode::Normal);
    for _ in 0..4 {
        monitor.run_check(&runner, &health).await;
        monitor.run_check(&runner, &status).await;
    }
    let back = changes(&drain(&mut rx));
    assert_eq!(back.last().map(|c| c.1), Some(HealthState::Up), "{back:?}");
    // The status check keeps passing between them, as it would on its schedule.
    set(Mode::Malformed);
    for _ in 0..2 {
        let r = monitor.run_check(&runner, &health).await;
        assert_eq!(r.error.as_ref().map(|e| e.kind.as_str()), Some("badResponse"), "{r:?}");
        assert!(monitor.run_check(&runner, &status).await.ok);
    }
    let events = drain(&mut rx);
    assert_eq!(changes(&events), [(HealthState::Up, HealthState::Degraded)]);
    assert!(
        events.iter().any(|e| matches!(e, MonitorEvent::StateChanged { cause, .. }
            if cause == "partial failure: server_time failing, 1 passing")),
        "{events:?}"
    );

    // Maintenance announced by /sapi/v1/system/status {status: 1}.
    set(Mode::Maintenance);
    for _ in 0..2 {
        let r = monitor.run_check(&runner, &status).await;
        assert!(r.ok);
        assert_eq!(r.maintenance().map(|m| m.state), Some(SystemState::Maintenance));
    }
    let events = drain(&mut rx);
    assert_eq!(changes(&events), [(HealthState::Degraded, HealthState::Maintenance)]);
    assert!(matches!(&events[..], [.., MonitorEvent::StateChanged { cause, .. }]
        if cause == "the exchange reports maintenance: system maintenance"));
    assert_eq!(mock.status_hits.load(Ordering::SeqCst), 11, "no cached status answers");

    // The checks went through the pipeline as caller "monitor", and passive health skips them.
    kw.pipeline().recorder().flush();
    let monitor_calls = count(kw.store(), "SELECT COUNT(*) FROM calls WHERE caller = 'monitor'");
    assert_eq!(monitor_calls, 29);
    assert_eq!(monitor.ingest_passive(Utc::now()).expect("ingest"), 0);
    monitor.flush();
    let incidents = monitor.incidents(Some("binance"), Utc::now() - chrono::Duration::hours(1)).expect("incidents");
    assert_eq!(incidents.len(), 3, "{incidents:?}");
    assert!(incidents[0].ended_at.is_none(), "the maintenance incident is open");
}
