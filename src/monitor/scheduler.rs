//! The scheduler: one task holding a min-heap of next-due times. When a check is due it is
//! spawned as its own task, which waits for a permit of a semaphore (bounded concurrency),
//! runs under the check's timeout and feeds [`Monitor::record`]. A check still running when
//! it is due again is skipped for that round, never run twice at once. First runs are spread
//! over each check's interval so 2,000 checks do not fire in the same millisecond.
//!
//! Cost is O(log n) per run and no timer per check: the loop sleeps until the earliest due
//! time, or until a command (add / update / remove / run now) or cancellation arrives.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::check::{judge, CheckConfig, CheckResult, Probe};
use super::runner::CheckRunner;
use super::Monitor;
use crate::clock::Clock;

/// Default number of checks in flight at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
/// How often passive health is read and silent providers are re-evaluated.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(15);
/// How often old history is pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Due checks are launched at most this often, in batches: 2,000 checks at 10 s wake the
/// loop 10 times a second instead of 200 (each wake costs a context switch, which a VM makes
/// dear). A check starts at most this late.
pub const LAUNCH_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerOptions {
    pub max_concurrency: usize,
    /// Passive ingestion and staleness sweeps; `None` turns them off (tests, benchmarks).
    pub housekeeping: Option<Duration>,
    /// Pruning; `None` turns it off.
    pub prune_every: Option<Duration>,
    /// Spread first runs over the interval (on by default).
    pub jitter_first_run: bool,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            housekeeping: Some(HOUSEKEEPING_EVERY),
            prune_every: Some(PRUNE_EVERY),
            jitter_first_run: true,
        }
    }
}

enum Command {
    Upsert(CheckConfig),
    Remove(i64),
    RunNow(i64, oneshot::Sender<Option<CheckResult>>),
}

/// Controls a running scheduler. Dropping it does not stop the loop: cancel its token.
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<Command>,
    join: JoinHandle<()>,
    cancel: CancellationToken,
}

impl SchedulerHandle {
    /// Adds a check or replaces its settings (a disabled check is removed from the schedule).
    pub fn upsert(&self, check: CheckConfig) {
        let _ = self.tx.send(Command::Upsert(check));
    }

    pub fn remove(&self, id: i64) {
        let _ = self.tx.send(Command::Remove(id));
    }

    /// Runs a scheduled check now; `None` if the scheduler has no such check or stopped.
    pub async fn run_now(&self, id: i64) -> Option<CheckResult> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::RunNow(id, tx)).ok()?;
        rx.await.ok().flatten()
    }

    /// Cancels the loop and waits for it (checks in flight finish on their own).
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }

    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

/// Runs a check under its timeout and judges the probe.
pub(crate) async fn execute(runner: &dyn CheckRunner, check: &CheckConfig, clock: &dyn Clock) -> CheckResult {
    let at = clock.now();
    let probe = match tokio::time::timeout(check.timeout, runner.run(check)).await {
        Ok(p) => p,
        Err(_) => Probe::failed("timeout", format!("no answer within {} ms", check.timeout.as_millis()), check.timeout),
    };
    judge(check, probe, at)
}

/// Spreads first runs: a stable offset in [0, interval) from the check id.
fn first_offset(id: i64, interval: Duration) -> Duration {
    let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
    // A multiplicative hash spreads consecutive ids evenly.
    let h = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Duration::from_millis(h % ms)
}

struct Scheduled {
    check: Arc<CheckConfig>,
    generation: u64,
}

struct Loop {
    monitor: Monitor,
    runner: Arc<dyn CheckRunner>,
    options: SchedulerOptions,
    checks: HashMap<i64, Scheduled>,
    heap: BinaryHeap<Reverse<(Instant, u64, i64)>>,
    running: HashSet<i64>,
    semaphore: Arc<Semaphore>,
    done_tx: mpsc::UnboundedSender<i64>,
    generation: u64,
    /// When due checks were last launched (see [`LAUNCH_EVERY`]).
    last_launch: Option<Instant>,
}

impl Monitor {
    /// Starts the scheduler on the current tokio runtime with these checks (disabled ones
    /// are ignored). Checks are not re-read from the database: send changes through the
    /// handle.
    pub fn spawn(
        &self,
        checks: Vec<CheckConfig>,
        runner: Arc<dyn CheckRunner>,
        options: SchedulerOptions,
        cancel: CancellationToken,
    ) -> SchedulerHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let mut lp = Loop {
            monitor: self.clone(),
            runner,
            semaphore: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
            options,
            checks: HashMap::new(),
            heap: BinaryHeap::new(),
            running: HashSet::new(),
            done_tx,
            generation: 0,
            last_launch: None,
        };
        let now = Instant::now();
        for c in checks {
            lp.upsert(c, now, true);
        }
        let join = tokio::spawn(lp.run(rx, done_rx, cancel.clone()));
        SchedulerHandle { tx, join, cancel }
    }

    /// Loads the enabled checks and starts the scheduler with the pipeline runner.
    pub async fn start(
        &self,
        runner: Arc<dyn CheckRunner>,
        options: SchedulerOptions,
        cancel: CancellationToken,
    ) -> Result<SchedulerHandle, super::MonitorError> {
        let me = self.clone();
        let checks = tokio::task::spawn_blocking(move || me.checks(None))
            .await
            .map_err(|e| super::MonitorError::Thread(std::io::Error::other(e.to_string())))??;
        Ok(self.spawn(checks, runner, options, cancel))
    }
}

impl Loop {
    fn upsert(&mut self, check: CheckConfig, now: Instant, first: bool) {
        let id = check.id;
        if !check.enabled {
            self.checks.remove(&id);
            return;
        }
        self.generation += 1;
        let offset =
            if first && self.options.jitter_first_run { first_offset(id, check.interval) } else { Duration::ZERO };
        self.heap.push(Reverse((now + offset, self.generation, id)));
        self.checks.insert(id, Scheduled { check: Arc::new(check), generation: self.generation });
    }

    fn launch(&mut self, check: Arc<CheckConfig>, reply: Option<oneshot::Sender<Option<CheckResult>>>) {
        self.running.insert(check.id);
        let monitor = self.monitor.clone();
        let runner = Arc::clone(&self.runner);
        let semaphore = Arc::clone(&self.semaphore);
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let id = check.id;
            let result = match semaphore.acquire_owned().await {
                Ok(_permit) => {
                    let result = execute(runner.as_ref(), &check, monitor.clock().as_ref()).await;
                    monitor.record(result.clone());
                    Some(result)
                }
                Err(_) => None,
            };
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
            let _ = done.send(id);
        });
    }

    fn due(&mut self, now: Instant) {
        while let Some(Reverse((at, generation, id))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(s) = self.checks.get(&id).filter(|s| s.generation == generation) else { continue };
            let check = Arc::clone(&s.check);
            let mut next = at + check.interval;
            if next <= now {
                // Fell behind (a long pause): skip the missed rounds.
                next = now + check.interval;
            }
            self.heap.push(Reverse((next, generation, id)));
            if self.running.contains(&id) {
                tracing::debug!(check = id, "check still running; skipping this round");
                continue;
            }
            self.launch(check, None);
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut done: mpsc::UnboundedReceiver<i64>,
        cancel: CancellationToken,
    ) {
        let far = Duration::from_secs(86_400);
        let mut housekeeping = self.options.housekeeping.map(|every| {
            let mut i = tokio::time::interval_at(Instant::now() + every, every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        let mut prune = self.options.prune_every.map(|every| {
            let mut i = tokio::time::interval_at(Instant::now() + every, every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        loop {
            let next_due = self.heap.peek().map_or_else(|| Instant::now() + far, |Reverse((at, _, _))| *at);
            let next_due = self.last_launch.map_or(next_due, |last| next_due.max(last + LAUNCH_EVERY));
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(id) = done.recv() => { self.running.remove(&id); }
                cmd = commands.recv() => match cmd {
                    Some(Command::Upsert(c)) => self.upsert(c, Instant::now(), false),
                    Some(Command::Remove(id)) => { self.checks.remove(&id); }
                    Some(Command::RunNow(id, reply)) => match self.checks.get(&id).map(|s| Arc::clone(&s.check)) {
                        Some(check) => self.launch(check, Some(reply)),
                        None => { let _ = reply.send(None); }
                    },
                    // Every handle dropped: keep running until cancelled.
                    None => { commands = mpsc::unbounded_channel().1; }
                },
                _ = tokio::time::sleep_until(next_due) => {
                    let now = Instant::now();
                    self.last_launch = Some(now);
                    self.due(now);
                }
                _ = tick(&mut housekeeping) => {
                    let monitor = self.monitor.clone();
                    tokio::task::spawn_blocking(move || {
                        let now = monitor.clock().now();
                        if let Err(e) = monitor.ingest_passive(now) {
                            tracing::warn!(error = %e, "could not read passive health from recorded calls");
                        }
                        monitor.evaluate(now);
                    });
                }
                _ = tick(&mut prune) => {
                    let monitor = self.monitor.clone();
                    tokio::task::spawn_blocking(move || match monitor.prune(monitor.clock().now()) {
                        Ok(r) => tracing::info!(?r, "pruned monitor history"),
                        Err(e) => tracing::warn!(error = %e, "could not prune monitor history"),
                    });
                }
            }
        }
        tracing::info!("monitor scheduler stopped");
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
