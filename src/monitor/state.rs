//! The health state machine. Pure: every function takes `now` and the evidence as arguments.
//!
//! Each new piece of evidence (a check result or a passive call) produces a *verdict* — the
//! state the recent evidence points to, with a human-readable cause ([`verdict`]). A verdict
//! that differs from the current state only becomes the new state after
//! [`StateConfig::confirmations`] consecutive verdicts agree ([`next`]), so a flapping provider
//! does not produce a stream of changes. From up (or down), consecutive degraded and down
//! verdicts (or degraded and up ones) confirm together as the newest; a provider that fails
//! every other check shows as degraded through its error rate.
//!
//! Evidence is weighed by age: of each source (a check, or real traffic on one operation) the
//! latest result counts while it reports on its own cadence, or if it came after some current
//! run of opposite results began and was followed by at most `confirmations` of them: a call
//! that passed before an outage, or a failure from before a recovery, does not count. So a
//! provider all of whose current evidence fails is down within its confirmations, and one that
//! recovers is up within its confirmations. The error rate counts results since the last
//! outage only, so an outage's failures are not read as flakiness afterwards.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pipeline::transform::SystemState;

/// A provider's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealthState {
    Up,
    Degraded,
    Down,
    Maintenance,
    Unknown,
}

impl HealthState {
    pub const ALL: [HealthState; 5] =
        [HealthState::Up, HealthState::Degraded, HealthState::Down, HealthState::Maintenance, HealthState::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Up => "up",
            HealthState::Degraded => "degraded",
            HealthState::Down => "down",
            HealthState::Maintenance => "maintenance",
            HealthState::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<HealthState> {
        HealthState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether this state is a problem worth an incident.
    pub fn is_bad(self) -> bool {
        matches!(self, HealthState::Degraded | HealthState::Down | HealthState::Maintenance)
    }

    /// Order for "worst of": up < unknown < maintenance < degraded < down.
    pub fn severity(self) -> u8 {
        match self {
            HealthState::Up => 0,
            HealthState::Unknown => 1,
            HealthState::Maintenance => 2,
            HealthState::Degraded => 3,
            HealthState::Down => 4,
        }
    }

    /// On the up–degraded–down scale (where a mixed streak confirms as degraded).
    fn on_scale(self) -> bool {
        matches!(self, HealthState::Up | HealthState::Degraded | HealthState::Down)
    }
}

impl std::fmt::Display for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a piece of evidence came from: a scheduled check or real traffic (one source per
/// operation). Partial failure and latency baselines are per source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    Check(i64),
    Passive(String),
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub at: DateTime<Utc>,
    pub source: Source,
    /// The operation, for causes ("server_time failing").
    pub label: String,
    pub ok: bool,
    pub latency: Duration,
    /// Above the check's own latency threshold.
    pub slow: bool,
    /// What a status operation reported (status checks only).
    pub system: Option<(SystemState, Option<String>)>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Tuning of the state machine; per provider (stored as JSON overrides in
/// `monitor_providers.settings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateConfig {
    /// Consecutive agreeing verdicts before the state changes.
    pub confirmations: u32,
    /// Evidence older than this is ignored (error rate, partial failure).
    pub window_secs: u64,
    /// No evidence for this long: unknown. The monitor raises it to 3 × the provider's
    /// longest check interval.
    pub stale_after_secs: u64,
    /// Degraded when at least this share of the window's results failed…
    pub error_rate: f64,
    /// …and the window holds at least this many results.
    pub min_samples: usize,
    /// Degraded when a source's latency exceeds its baseline (p50 of its recent successful
    /// results) × this factor…
    pub latency_factor: f64,
    /// …and exceeds it by at least this many milliseconds (no alarms over 3 ms vs 1 ms).
    pub latency_min_delta_ms: u64,
    /// Successful results kept per source for the baseline.
    pub baseline_samples: usize,
    /// Fewer samples than this: no baseline yet.
    pub baseline_min_samples: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            confirmations: 2,
            window_secs: 300,
            stale_after_secs: 180,
            error_rate: 0.25,
            min_samples: 4,
            latency_factor: 3.0,
            latency_min_delta_ms: 100,
            baseline_samples: 30,
            baseline_min_samples: 5,
        }
    }
}

impl StateConfig {
    pub fn window(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.window_secs).unwrap_or(i64::MAX / 1000))
    }

    pub fn stale_after(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.stale_after_secs).unwrap_or(i64::MAX / 1000))
    }
}

/// The recent successful latencies of each source; `p50` is the baseline.
#[derive(Debug, Clone, Default)]
pub struct Baselines {
    samples: HashMap<Source, VecDeque<u32>>,
}

impl Baselines {
    /// Adds a successful result's latency (call after evaluating it, so a sample is never
    /// compared with itself).
    pub fn add(&mut self, source: &Source, latency: Duration, keep: usize) {
        let ms = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
        let ring = self.samples.entry(source.clone()).or_default();
        ring.push_back(ms);
        while ring.len() > keep.max(1) {
            ring.pop_front();
        }
    }

    /// The median of the source's recent successful latencies, once there are enough.
    pub fn p50(&self, source: &Source, min_samples: usize) -> Option<Duration> {
        let ring = self.samples.get(source)?;
        if ring.len() < min_samples.max(1) {
            return None;
        }
        let mut sorted: Vec<u32> = ring.iter().copied().collect();
        sorted.sort_unstable();
        Some(Duration::from_millis(u64::from(sorted[sorted.len() / 2])))
    }

    pub fn forget(&mut self, source: &Source) {
        self.samples.remove(source);
    }
}

/// A change waiting for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub to: HealthState,
    pub count: u32,
    pub cause: String,
}

/// A provider's current state and the change it may be heading for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderHealth {
    pub state: HealthState,
    pub since: Option<DateTime<Utc>>,
    pub cause: String,
    pub pending: Option<Pending>,
}

impl Default for ProviderHealth {
    fn default() -> Self {
        Self { state: HealthState::Unknown, since: None, cause: String::new(), pending: None }
    }
}

/// A confirmed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: HealthState,
    pub to: HealthState,
    pub cause: String,
    pub at: DateTime<Utc>,
}

/// The result of one step of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub health: ProviderHealth,
    pub change: Option<Change>,
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// What the recent evidence says, ignoring confirmations. `recent` is in time order (oldest
/// first); `baselines` must not include the newest observation yet.
pub fn verdict(
    recent: &[Observation],
    baselines: &Baselines,
    config: &StateConfig,
    now: DateTime<Utc>,
) -> (HealthState, String) {
    let window_start = now - config.window();
    let stale_start = now - config.stale_after();
    let Some(newest) = recent.iter().rev().find(|o| o.at <= now) else {
        return (HealthState::Unknown, "no check results yet".into());
    };
    if newest.at < stale_start {
        return (HealthState::Unknown, format!("no results for {} s", (now - newest.at).num_seconds()));
    }
    let in_window: Vec<&Observation> = recent.iter().filter(|o| o.at >= window_start && o.at <= now).collect();

    // The newest status report decides maintenance; other failures during it are expected.
    if let Some((state, message)) = in_window.iter().rev().find_map(|o| o.system.as_ref()) {
        if matches!(state, SystemState::Maintenance | SystemState::CancelOnly | SystemState::PostOnly) {
            let cause = match message.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => format!("the exchange reports {}: {m}", state.as_str()),
                None => format!("the exchange reports {}", state.as_str()),
            };
            return (HealthState::Maintenance, cause);
        }
    }

    // The latest result of each source that reported within the window, weighed by age: a
    // passing result older than the failures around it is not evidence that the provider works.
    let mut views = SourceViews::default();
    // The newest moment an outage (every current source failing, `confirmations` results in a
    // row) was seen: failures up to it are the outage, not flakiness.
    let mut outage_end = None;
    let mut down_run = 0u32;
    for o in &in_window {
        views.add(o);
        if o.ok {
            down_run = 0;
        } else if views.all_failing(config.confirmations) {
            down_run += 1;
            if down_run >= config.confirmations.max(1) {
                outage_end = Some(o.at);
            }
        }
    }
    let mut latest: Vec<&Observation> = views.current(config.confirmations);
    latest.sort_by(|a, b| a.label.cmp(&b.label));
    let failing: Vec<&&Observation> = latest.iter().filter(|o| !o.ok).collect();
    if !latest.is_empty() && failing.len() == latest.len() {
        let first = failing[0];
        let why = first.error.as_deref().unwrap_or("failed");
        let cause = if latest.len() == 1 {
            format!("{} failing: {why}", first.label)
        } else {
            format!("all {} checks failing; {}: {why}", latest.len(), first.label)
        };
        return (HealthState::Down, cause);
    }
    if !failing.is_empty() {
        let names: Vec<&str> = failing.iter().map(|o| o.label.as_str()).collect();
        return (
            HealthState::Degraded,
            format!("partial failure: {} failing, {} passing", names.join(", "), latest.len() - failing.len()),
        );
    }

    // Flakiness: the share of failures since the last outage (whose failures the down state
    // already told), so a provider that recovered is up within its confirmations.
    let since_outage: Vec<&&Observation> =
        in_window.iter().filter(|o| outage_end.map_or(true, |end| o.at > end)).collect();
    let failures = since_outage.iter().filter(|o| !o.ok).count();
    if since_outage.len() >= config.min_samples.max(1) {
        let rate = failures as f64 / since_outage.len() as f64;
        if rate >= config.error_rate {
            return (
                HealthState::Degraded,
                format!(
                    "error rate {:.0}% ({failures} of {}) over the last {} s",
                    rate * 100.0,
                    since_outage.len(),
                    config.window_secs
                ),
            );
        }
    }

    for o in &latest {
        if o.slow {
            return (HealthState::Degraded, format!("{} took {} ms, above its threshold", o.label, ms(o.latency)));
        }
        if let Some(base) = baselines.p50(&o.source, config.baseline_min_samples) {
            let limit = base.as_secs_f64() * config.latency_factor;
            let delta = o.latency.saturating_sub(base);
            if o.latency.as_secs_f64() > limit && ms(delta) >= u128::from(config.latency_min_delta_ms) {
                let factor = o.latency.as_secs_f64() / base.as_secs_f64().max(0.001);
                return (
                    HealthState::Degraded,
                    format!("{} took {} ms, {factor:.1}× its usual {} ms", o.label, ms(o.latency), ms(base)),
                );
            }
        }
    }
    match outage_end {
        Some(end) => (
            HealthState::Up,
            format!("{} check(s) passing; recovered from an outage {} s ago", latest.len(), (now - end).num_seconds()),
        ),
        None => (HealthState::Up, format!("{} check(s) passing", latest.len())),
    }
}

/// Per source: the latest result, when the one before it came, and the times of its current
/// run of results with the same outcome. Built in time order.
#[derive(Default)]
struct SourceViews<'a> {
    sources: Vec<SourceView<'a>>,
}

struct SourceView<'a> {
    latest: &'a Observation,
    previous_at: Option<DateTime<Utc>>,
    /// The current run of passes (or failures), oldest first; ends with `latest`.
    run: Vec<DateTime<Utc>>,
}

impl<'a> SourceViews<'a> {
    fn add(&mut self, o: &'a Observation) {
        match self.sources.iter_mut().find(|v| v.latest.source == o.source) {
            Some(v) => {
                if v.latest.ok != o.ok {
                    v.run.clear();
                }
                v.previous_at = Some(v.latest.at);
                v.latest = o;
                v.run.push(o.at);
            }
            None => self.sources.push(SourceView { latest: o, previous_at: None, run: vec![o.at] }),
        }
    }

    /// Whether a source's latest result still counts next to the sources that say the
    /// opposite. It does while it reports on its own cadence (the newest opposite result is
    /// less than 1.5 × its own last gap after it). Otherwise it counts only if it came after
    /// some opposite run began and that source has said the opposite at most `confirmations`
    /// times since: a call that passed before an outage, or a failure from before a recovery,
    /// does not count.
    fn counts(&self, v: &SourceView<'_>, confirmations: u32) -> bool {
        let at = v.latest.at;
        let others: Vec<&SourceView<'_>> = self.sources.iter().filter(|o| o.latest.ok != v.latest.ok).collect();
        if others.is_empty() {
            return true;
        }
        // A source that reports on its own cadence is current.
        let newest = others.iter().map(|o| o.latest.at).max().unwrap_or(at);
        if v.previous_at.is_some_and(|prev| newest - at <= (at - prev) * 3 / 2) {
            return true;
        }
        others.iter().any(|o| {
            let began_before = o.run.first().is_some_and(|start| at >= *start);
            let since = o.run.len() - o.run.partition_point(|t| *t <= at);
            began_before && since <= confirmations.max(1) as usize
        })
    }

    /// The latest result of every source whose evidence is current.
    fn current(&self, confirmations: u32) -> Vec<&'a Observation> {
        self.sources.iter().filter(|v| self.counts(v, confirmations)).map(|v| v.latest).collect()
    }

    /// Every source with current evidence fails.
    fn all_failing(&self, confirmations: u32) -> bool {
        let current = self.current(confirmations);
        !current.is_empty() && current.iter().all(|o| !o.ok)
    }
}

/// One step: the verdict, then confirmations.
pub fn next(
    health: &ProviderHealth,
    recent: &[Observation],
    baselines: &Baselines,
    config: &StateConfig,
    now: DateTime<Utc>,
) -> Step {
    let (candidate, cause) = verdict(recent, baselines, config, now);
    confirm(health, candidate, cause, config, now)
}

/// Applies one verdict to the state with the confirmation rule.
pub fn confirm(
    health: &ProviderHealth,
    candidate: HealthState,
    cause: String,
    config: &StateConfig,
    now: DateTime<Utc>,
) -> Step {
    let current = health.state;
    if candidate == current {
        let mut health = health.clone();
        health.pending = None;
        return Step { health, change: None };
    }
    let pending = match &health.pending {
        Some(p) if p.to == candidate => Pending { to: candidate, count: p.count + 1, cause },
        // From up or down, consecutive verdicts that move the same way on the up–degraded–down
        // scale (degraded then down: every source failing after the first) confirm together,
        // as the newest.
        Some(p)
            if p.to.on_scale() && candidate.on_scale() && current.on_scale() && current != HealthState::Degraded =>
        {
            Pending { to: candidate, count: p.count + 1, cause }
        }
        _ => Pending { to: candidate, count: 1, cause },
    };
    // Leaving "unknown" (start-up, or after a gap) needs no second opinion.
    let needed = if current == HealthState::Unknown { 1 } else { config.confirmations.max(1) };
    if pending.count >= needed && pending.to != current {
        let change = Change { from: current, to: pending.to, cause: pending.cause.clone(), at: now };
        let health = ProviderHealth { state: pending.to, since: Some(now), cause: pending.cause, pending: None };
        return Step { health, change: Some(change) };
    }
    let mut health = health.clone();
    health.pending = Some(pending);
    Step { health, change: None }
}

/// A provider's state as the provider itself announces it (its status page, or a webhook from
/// a status service), not inferred from evidence. It holds until the same source announces
/// something else, so a maintenance window reported once lasts until its end is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Who says so (`status feed`, `hook coinbase-status incident p31zjtct2jer`): a later
    /// announcement of the same source replaces this one.
    pub source: String,
    /// `Maintenance`, `Degraded` or `Down`; `Up` (or `Unknown`) withdraws the source's
    /// announcement.
    pub state: HealthState,
    /// Shown as the state's cause ("status page: Scheduled maintenance of spot trading").
    pub cause: String,
    pub at: DateTime<Utc>,
}

/// Folds the announcements into a verdict: announced maintenance wins (failures during it are
/// expected, as with a status endpoint); an announced outage or degradation counts when it is
/// worse than what the evidence says, or when there is no evidence.
pub fn with_announcements<'a>(
    verdict: (HealthState, String),
    announced: impl IntoIterator<Item = &'a Announcement>,
) -> (HealthState, String) {
    let mut worst: Option<&Announcement> = None;
    for a in announced.into_iter().filter(|a| a.state.is_bad()) {
        let rank = |s: HealthState| if s == HealthState::Maintenance { u8::MAX } else { s.severity() };
        if worst.map_or(true, |w| rank(a.state) > rank(w.state) || (a.state == w.state && a.at > w.at)) {
            worst = Some(a);
        }
    }
    match worst {
        Some(a) if a.state == HealthState::Maintenance => (a.state, a.cause.clone()),
        Some(a) if verdict.0 == HealthState::Unknown || a.state.severity() > verdict.0.severity() => {
            (a.state, a.cause.clone())
        }
        _ => verdict,
    }
}

/// The in-memory evidence of one provider.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    pub health: ProviderHealth,
    pub recent: VecDeque<Observation>,
    pub baselines: Baselines,
    pub config: StateConfig,
    /// What the provider announces about itself, by source.
    pub announced: std::collections::BTreeMap<String, Announcement>,
}

/// Most observations kept per provider, whatever the window.
pub const MAX_RECENT: usize = 256;

impl Tracker {
    pub fn new(config: StateConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// Adds one observation and steps the machine.
    pub fn observe(&mut self, obs: Observation, now: DateTime<Utc>) -> Option<Change> {
        let keep_from = now - self.config.window().max(self.config.stale_after());
        while self.recent.front().is_some_and(|o| o.at < keep_from) || self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        // Evidence normally arrives in order; a late one is inserted in place.
        let pos = self.recent.iter().rposition(|o| o.at <= obs.at).map_or(0, |p| p + 1);
        let (source, ok, latency) = (obs.source.clone(), obs.ok, obs.latency);
        self.recent.insert(pos, obs);
        let change = self.step(now, false);
        if ok {
            self.baselines.add(&source, latency, self.config.baseline_samples);
        }
        change
    }

    /// Steps the machine without new evidence (turns a silent provider unknown).
    pub fn evaluate(&mut self, now: DateTime<Utc>) -> Option<Change> {
        self.step(now, false)
    }

    /// Records what the provider announces about itself and steps the machine. The provider's
    /// own word needs no second opinion: the change (into the announced state, or back to
    /// what the evidence says when an announcement is withdrawn) applies at once.
    pub fn announce(&mut self, announcement: Announcement, now: DateTime<Utc>) -> Option<Change> {
        if announcement.state.is_bad() {
            self.announced.insert(announcement.source.clone(), announcement);
        } else {
            self.announced.remove(&announcement.source);
        }
        self.step(now, true)
    }

    /// The sources whose announcements start with `prefix` (a feed's or a hook's own).
    pub fn announcing(&self, prefix: &str) -> Vec<String> {
        self.announced.keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }

    fn step(&mut self, now: DateTime<Utc>, at_once: bool) -> Option<Change> {
        let evidence = verdict(self.recent.make_contiguous(), &self.baselines, &self.config, now);
        let (candidate, cause) = with_announcements(evidence, self.announced.values());
        let step = if at_once {
            let config = StateConfig { confirmations: 1, ..self.config.clone() };
            let health = ProviderHealth { pending: None, ..self.health.clone() };
            confirm(&health, candidate, cause, &config, now)
        } else {
            confirm(&self.health, candidate, cause, &self.config, now)
        };
        self.health = step.health;
        step.change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};
    use chrono::TimeZone;

    const CHECK: Duration = Duration::from_secs(30);

    fn clock() -> FakeClock {
        FakeClock::at(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("valid date"))
    }

    fn obs(clock: &FakeClock, source: i64, ok: bool, latency_ms: u64) -> Observation {
        Observation {
            at: clock.now(),
            source: Source::Check(source),
            label: format!("op{source}"),
            ok,
            latency: Duration::from_millis(latency_ms),
            slow: false,
            system: None,
            error: (!ok).then(|| "HTTP 503".to_string()),
        }
    }

    /// Feeds one observation per check interval; returns the changes.
    fn feed(t: &mut Tracker, clock: &FakeClock, items: impl IntoIterator<Item = Observation>) -> Vec<Change> {
        let mut changes = Vec::new();
        for mut o in items {
            clock.advance(CHECK);
            o.at = clock.now();
            changes.extend(t.observe(o, clock.now()));
        }
        changes
    }

    fn up_tracker(clock: &FakeClock) -> Tracker {
        let mut t = Tracker::new(StateConfig::default());
        let changes = feed(&mut t, clock, (0..10).map(|_| obs(clock, 1, true, 100)));
        assert_eq!(t.health.state, HealthState::Up);
        assert_eq!(changes.len(), 1, "unknown -> up once");
        t
    }

    #[test]
    fn first_result_leaves_unknown_without_waiting_for_confirmations() {
        let clock = clock();
        let mut t = Tracker::new(StateConfig::default());
        let changes = feed(&mut t, &clock, [obs(&clock, 1, true, 80)]);
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].from, changes[0].to), (HealthState::Unknown, HealthState::Up));
    }

    #[test]
    fn goes_down_only_after_two_consecutive_failures() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        assert!(feed(&mut t, &clock, [obs(&clock, 1, false, 100)]).is_empty(), "one failure is not enough");
        assert_eq!(t.health.state, HealthState::Up);
        assert_eq!(t.health.pending.as_ref().map(|p| p.to), Some(HealthState::Down));
        let changes = feed(&mut t, &clock, [obs(&clock, 1, false, 100)]);
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].from, changes[0].to), (HealthState::Up, HealthState::Down));
        assert!(changes[0].cause.contains("op1 failing: HTTP 503"), "{}", changes[0].cause);
        assert_eq!(changes[0].at, clock.now());
    }

    #[test]
    fn confirmations_are_configurable() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        t.config.confirmations = 4;
        assert!(feed(&mut t, &clock, (0..3).map(|_| obs(&clock, 1, false, 100))).is_empty());
        assert_eq!(feed(&mut t, &clock, [obs(&clock, 1, false, 100)]).len(), 1);
        assert_eq!(t.health.state, HealthState::Down);
    }

    #[test]
    fn a_single_blip_between_successes_changes_nothing() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        let seq = [true, true, false, true, true, true, false, true].map(|ok| obs(&clock, 1, ok, 100));
        assert!(feed(&mut t, &clock, seq).is_empty());
        assert_eq!(t.health.state, HealthState::Up);
    }

    #[test]
    fn flapping_is_suppressed_to_one_change_to_degraded() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        let seq: Vec<Observation> = (0..20).map(|i| obs(&clock, 1, i % 2 == 0, 100)).collect();
        let changes = feed(&mut t, &clock, seq);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!((changes[0].from, changes[0].to), (HealthState::Up, HealthState::Degraded));
        assert!(!changes.iter().any(|c| c.to == HealthState::Down));
    }

    #[test]
    fn degrades_when_latency_is_well_above_the_providers_own_baseline() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        // 3.0 x 100 ms = 300 ms: 280 ms is slow-ish but within the factor.
        assert!(feed(&mut t, &clock, [obs(&clock, 1, true, 280)]).is_empty());
        let changes = feed(&mut t, &clock, (0..2).map(|_| obs(&clock, 1, true, 900)));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].to, HealthState::Degraded);
        assert!(
            changes[0].cause.contains("op1 took 900 ms") && changes[0].cause.contains("usual 100 ms"),
            "{}",
            changes[0].cause
        );
    }

    #[test]
    fn latency_baseline_is_per_provider_so_a_slow_but_steady_provider_stays_up() {
        let clock = clock();
        let mut t = Tracker::new(StateConfig::default());
        let changes = feed(&mut t, &clock, (0..20).map(|_| obs(&clock, 1, true, 1500)));
        assert_eq!(changes.len(), 1);
        assert_eq!(t.health.state, HealthState::Up);
    }

    #[test]
    fn tiny_latencies_do_not_alarm_below_the_minimum_delta() {
        let clock = clock();
        let mut t = Tracker::new(StateConfig::default());
        feed(&mut t, &clock, (0..10).map(|_| obs(&clock, 1, true, 2)));
        assert!(feed(&mut t, &clock, (0..5).map(|_| obs(&clock, 1, true, 40))).is_empty());
        assert_eq!(t.health.state, HealthState::Up);
    }

    #[test]
    fn degrades_on_a_check_threshold_without_a_baseline() {
        let clock = clock();
        let mut t = Tracker::new(StateConfig::default());
        let mut slow = obs(&clock, 1, true, 700);
        slow.slow = true;
        let changes = feed(&mut t, &clock, [slow]);
        assert_eq!(changes[0].to, HealthState::Degraded);
        assert!(changes[0].cause.contains("above its threshold"));
    }

    #[test]
    fn degrades_on_a_rising_error_rate_over_the_window() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        // Isolated failures, each followed by a success: never two in a row, but the share
        // of failures in the window climbs past 25 %.
        let seq = [true, true, false, true, true, false, true, false, true].map(|ok| obs(&clock, 1, ok, 100));
        let changes = feed(&mut t, &clock, seq);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!((changes[0].from, changes[0].to), (HealthState::Up, HealthState::Degraded));
        assert_eq!(changes[0].cause, "error rate 27% (3 of 11) over the last 300 s");
    }

    #[test]
    fn verdict_names_the_error_rate_when_latest_results_pass() {
        let clock = clock();
        let mut recent = Vec::new();
        for ok in [false, true, false, true, true] {
            clock.advance(CHECK);
            recent.push(obs(&clock, 1, ok, 100));
        }
        let (state, cause) = verdict(&recent, &Baselines::default(), &StateConfig::default(), clock.now());
        assert_eq!(state, HealthState::Degraded);
        assert_eq!(cause, "error rate 40% (2 of 5) over the last 300 s");
    }

    #[test]
    fn partial_failure_degrades_instead_of_down() {
        let clock = clock();
        let mut t = Tracker::new(StateConfig::default());
        feed(&mut t, &clock, (0..4).flat_map(|_| [obs(&clock, 1, true, 100), obs(&clock, 2, true, 100)]));
        assert_eq!(t.health.state, HealthState::Up);
        let changes =
            feed(&mut t, &clock, (0..2).flat_map(|_| [obs(&clock, 1, true, 100), obs(&clock, 2, false, 100)]));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].to, HealthState::Degraded);
        assert_eq!(changes[0].cause, "partial failure: op2 failing, 1 passing");
    }

    #[test]
    fn passive_failures_of_one_operation_count_as_partial_failure() {
        let clock = clock();
        let mut recent = vec![obs(&clock, 1, true, 100)];
        let mut passive = obs(&clock, 0, false, 100);
        passive.source = Source::Passive("ticker".into());
        passive.label = "ticker".into();
        recent.push(passive);
        let (state, cause) = verdict(&recent, &Baselines::default(), &StateConfig::default(), clock.now());
        assert_eq!(state, HealthState::Degraded);
        assert!(cause.contains("ticker failing"));
    }

    #[test]
    fn maintenance_announced_by_the_status_endpoint_wins_over_failures() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        let mut status = obs(&clock, 2, true, 50);
        status.system = Some((SystemState::Maintenance, Some("system upgrade".into())));
        let failing = obs(&clock, 1, false, 100);
        let changes = feed(&mut t, &clock, [status.clone(), failing.clone(), status.clone()]);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].to, HealthState::Maintenance);
        assert_eq!(changes[0].cause, "the exchange reports maintenance: system upgrade");
    }

    #[test]
    fn cancel_only_and_post_only_count_as_maintenance() {
        let clock = clock();
        for st in [SystemState::CancelOnly, SystemState::PostOnly] {
            let mut o = obs(&clock, 2, true, 50);
            o.system = Some((st, None));
            let (state, cause) = verdict(&[o], &Baselines::default(), &StateConfig::default(), clock.now());
            assert_eq!(state, HealthState::Maintenance);
            assert!(cause.contains(st.as_str()));
        }
    }

    #[test]
    fn recovers_to_up_once_failures_leave_the_window() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        feed(&mut t, &clock, (0..4).map(|_| obs(&clock, 1, false, 100)));
        assert_eq!(t.health.state, HealthState::Down);
        let changes = feed(&mut t, &clock, (0..12).map(|_| obs(&clock, 1, true, 100)));
        assert_eq!(t.health.state, HealthState::Up);
        assert_eq!(changes.last().map(|c| c.to), Some(HealthState::Up));
        // Down -> up within the confirmations: the outage's failures are not flakiness.
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].cause.contains("recovered from an outage"), "{}", changes[0].cause);
        assert!(changes.iter().all(|c| c.from != HealthState::Up));
    }

    fn passive(clock: &FakeClock, op: &str, ok: bool) -> Observation {
        Observation {
            at: clock.now(),
            source: Source::Passive(op.into()),
            label: op.into(),
            ok,
            latency: Duration::from_millis(20),
            slow: false,
            system: None,
            error: (!ok).then(|| "HTTP 503".to_string()),
        }
    }

    /// The hardening issue's scenario: `keyward serve`, one server_time check every 2 s, the
    /// exchangeInfo call made at start passed; then the exchange answers 503 to everything for
    /// 20 s (ten failed checks, and a bot's ticker calls failing too), then recovers (eleven
    /// passing checks). Returns the changes and the state after each check.
    fn outage_scenario(ticker_during_outage: bool) -> (Vec<Change>, Vec<HealthState>) {
        let clock = clock();
        let every = Duration::from_secs(2);
        let mut t = Tracker::new(StateConfig::default());
        let mut changes = Vec::new();
        let mut states = Vec::new();
        changes.extend(t.observe(passive(&clock, "exchange_info", true), clock.now()));
        let check = |t: &mut Tracker, ok: bool, ticker: Option<bool>| {
            clock.advance(every);
            let mut c = obs(&clock, 1, ok, 30);
            c.label = "server_time".into();
            let mut out: Vec<Change> = t.observe(c, clock.now()).into_iter().collect();
            if let Some(ok) = ticker {
                clock.advance(Duration::from_millis(500));
                out.extend(t.observe(passive(&clock, "ticker", ok), clock.now()));
            }
            (out, t.health.state)
        };
        for _ in 0..5 {
            let (c, s) = check(&mut t, true, Some(true));
            changes.extend(c);
            states.push(s);
        }
        for _ in 0..10 {
            let (c, s) = check(&mut t, false, ticker_during_outage.then_some(false));
            changes.extend(c);
            states.push(s);
        }
        for _ in 0..11 {
            let (c, s) = check(&mut t, true, Some(true));
            changes.extend(c);
            states.push(s);
        }
        (changes, states)
    }

    #[test]
    fn a_total_outage_is_down_within_its_confirmations_and_recovery_is_up_within_its_confirmations() {
        for ticker in [false, true] {
            let (changes, states) = outage_scenario(ticker);
            // Up for the first five checks, down from the second failed check on.
            assert!(states[..5].iter().all(|s| *s == HealthState::Up), "{states:?}");
            // Down on the second failure: the second failed check, or the bot's failed call
            // right after the first one.
            let first = if ticker { HealthState::Down } else { HealthState::Up };
            assert_eq!(states[5], first, "ticker {ticker}: {states:?}");
            assert!(states[6..15].iter().all(|s| *s == HealthState::Down), "ticker {ticker}: {states:?} {changes:?}");
            // Up again on the second passing result (the check and the bot's next call), and it
            // stays up.
            assert_eq!(states[15], HealthState::Up, "ticker {ticker}: {states:?}");
            assert!(states[16..].iter().all(|s| *s == HealthState::Up), "ticker {ticker}: {states:?} {changes:?}");
            let path: Vec<(HealthState, HealthState)> = changes.iter().map(|c| (c.from, c.to)).collect();
            assert_eq!(
                path,
                vec![
                    (HealthState::Unknown, HealthState::Up),
                    (HealthState::Up, HealthState::Down),
                    (HealthState::Down, HealthState::Up)
                ],
                "never degraded on the way: {changes:?}"
            );
            assert!(changes[1].cause.starts_with("server_time failing") || changes[1].cause.contains("checks failing"));
            assert!(changes[2].cause.contains("recovered from an outage"), "{}", changes[2].cause);
        }
    }

    #[test]
    fn a_passive_result_from_before_the_failures_does_not_count_as_passing() {
        let clock = clock();
        let mut recent = vec![passive(&clock, "exchange_info", true)];
        for _ in 0..2 {
            clock.advance(Duration::from_secs(2));
            recent.push(obs(&clock, 1, false, 30));
        }
        let (state, cause) = verdict(&recent, &Baselines::default(), &StateConfig::default(), clock.now());
        assert_eq!(state, HealthState::Down, "{cause}");
    }

    #[test]
    fn one_success_early_in_a_long_run_of_failures_stops_counting_once_it_falls_silent() {
        let clock = clock();
        let mut recent = vec![obs(&clock, 1, false, 30)];
        clock.advance(Duration::from_millis(100));
        recent.push(passive(&clock, "ticker", true));
        let config = StateConfig::default();
        let (state, _) = verdict(&recent, &Baselines::default(), &config, clock.now());
        assert_eq!(state, HealthState::Up, "a newer success supersedes one failure");
        clock.advance(Duration::from_secs(2));
        recent.push(obs(&clock, 1, false, 30));
        let (state, _) = verdict(&recent, &Baselines::default(), &config, clock.now());
        assert_eq!(state, HealthState::Degraded, "passing during the failures: partial");
        for _ in 0..3 {
            clock.advance(Duration::from_secs(2));
            recent.push(obs(&clock, 1, false, 30));
        }
        let (state, cause) = verdict(&recent, &Baselines::default(), &config, clock.now());
        assert_eq!(state, HealthState::Down, "{cause}");
    }

    #[test]
    fn a_source_that_keeps_passing_next_to_busy_failing_traffic_is_partial_failure() {
        // A bot hammers a failing endpoint ten times a second; the server_time check passes
        // every 2 s: partial failure, never down.
        let clock = clock();
        let mut t = Tracker::new(StateConfig::default());
        let mut states = Vec::new();
        for round in 0..10 {
            clock.advance(Duration::from_millis(100));
            let mut c = obs(&clock, 1, true, 30);
            c.label = "server_time".into();
            t.observe(c, clock.now());
            for _ in 0..19 {
                clock.advance(Duration::from_millis(100));
                t.observe(passive(&clock, "order_book", round < 1), clock.now());
            }
            states.push(t.health.state);
        }
        assert!(!states.contains(&HealthState::Down), "{states:?}");
        assert_eq!(t.health.state, HealthState::Degraded, "{states:?}");
        assert!(t.health.cause.contains("order_book failing, 1 passing"), "{}", t.health.cause);
    }

    #[test]
    fn maintenance_ends_when_the_status_endpoint_says_normal() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        let mut m = obs(&clock, 2, true, 50);
        m.system = Some((SystemState::Maintenance, None));
        feed(&mut t, &clock, [m.clone(), m]);
        assert_eq!(t.health.state, HealthState::Maintenance);
        let mut n = obs(&clock, 2, true, 50);
        n.system = Some((SystemState::Normal, None));
        let changes = feed(&mut t, &clock, [n.clone(), obs(&clock, 1, true, 100), n]);
        assert_eq!(t.health.state, HealthState::Up, "{changes:?}");
    }

    #[test]
    fn silence_turns_the_state_unknown() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        clock.advance(Duration::from_secs(60));
        assert!(t.evaluate(clock.now()).is_none(), "still fresh");
        clock.advance(Duration::from_secs(200));
        assert!(t.evaluate(clock.now()).is_none(), "first confirmation");
        let change = t.evaluate(clock.now()).expect("second confirmation");
        assert_eq!(change.to, HealthState::Unknown);
        assert!(change.cause.starts_with("no results for"), "{}", change.cause);
    }

    #[test]
    fn state_names_round_trip() {
        for s in HealthState::ALL {
            assert_eq!(HealthState::parse(s.as_str()), Some(s));
        }
        assert!(HealthState::Down.severity() > HealthState::Degraded.severity());
    }

    fn announced(clock: &FakeClock, source: &str, state: HealthState, cause: &str) -> Announcement {
        Announcement { source: source.into(), state, cause: cause.into(), at: clock.now() }
    }

    #[test]
    fn announced_maintenance_applies_at_once_and_holds_until_withdrawn() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        let change = t
            .announce(announced(&clock, "status feed", HealthState::Maintenance, "status page: upgrade"), clock.now())
            .expect("no confirmation needed");
        assert_eq!((change.from, change.to), (HealthState::Up, HealthState::Maintenance));
        assert_eq!(change.cause, "status page: upgrade");
        // Failing checks during it are expected; passing ones do not end it either.
        assert!(feed(&mut t, &clock, (0..4).map(|_| obs(&clock, 1, false, 100))).is_empty());
        assert!(feed(&mut t, &clock, (0..4).map(|_| obs(&clock, 1, true, 100))).is_empty());
        assert_eq!(t.health.state, HealthState::Maintenance);
        let change =
            t.announce(announced(&clock, "status feed", HealthState::Up, "all systems operational"), clock.now());
        assert_eq!(change.map(|c| c.to), Some(HealthState::Up), "the checks pass: up at once");
    }

    #[test]
    fn an_announcement_without_any_checks_still_sets_the_state() {
        let clock = clock();
        let mut t = Tracker::new(StateConfig::default());
        let change = t.announce(announced(&clock, "hook x", HealthState::Maintenance, "db upgrade"), clock.now());
        assert_eq!(change.map(|c| c.to), Some(HealthState::Maintenance));
        clock.advance(Duration::from_secs(3600));
        assert!(t.evaluate(clock.now()).is_none(), "silence does not end an announced maintenance");
        let change = t.announce(announced(&clock, "hook x", HealthState::Up, ""), clock.now());
        assert_eq!(change.map(|c| c.to), Some(HealthState::Unknown), "back to what the (missing) evidence says");
    }

    #[test]
    fn an_announced_outage_counts_only_when_worse_than_the_evidence() {
        let clock = clock();
        let mut t = up_tracker(&clock);
        let change = t.announce(announced(&clock, "hook a", HealthState::Degraded, "incident: slow"), clock.now());
        assert_eq!(change.map(|c| c.to), Some(HealthState::Degraded));
        feed(&mut t, &clock, (0..2).map(|_| obs(&clock, 1, false, 100)));
        assert_eq!(t.health.state, HealthState::Down, "the evidence is worse than the announcement");
        // Two sources: withdrawing one keeps the other.
        t.announce(announced(&clock, "hook b", HealthState::Maintenance, "window"), clock.now());
        t.announce(announced(&clock, "hook a", HealthState::Up, ""), clock.now());
        assert_eq!(t.health.state, HealthState::Maintenance);
        assert_eq!(t.announcing("hook "), vec!["hook b".to_string()]);
    }
}
