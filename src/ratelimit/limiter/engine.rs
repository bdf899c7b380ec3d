//! The queue engine: a call is charged on all its limits at once or waits in its provider's
//! queue (priority, then arrival) until they fit, its deadline passes, or a ban fails it.
//!
//! A caller that fits is charged under the lock and returns; one that does not enqueues a
//! waiter and waits, outside the lock, on a `watch` channel (granted, failed, or a new wake
//! time) and on the [`Timer`](crate::ratelimit::Timer) until the earliest time its limits could
//! fit. Whoever changes the state (a new caller, a timer, `observe`, a cancelled waiter) re-runs
//! the provider's queue ("pump"), which grants in order: priority first, then arrival.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::state::{
    amount, charge_one, limit_in, scope_key, to_delta, to_std, Cap, Charge, Denial, ProviderState, RuleState, Spend,
    WaitState, Waiter, HEALTH_CAP,
};
use super::{Limiter, LimiterConfig, State, BAN_SCOPE, PAUSE_LIMIT};
use crate::pipeline::limit::{Acquire, LimitError, Priority};
use crate::ratelimit::status::LimitEvent;
use crate::ratelimit::window::WindowMath;

enum Attempt {
    NotLoaded,
    Granted,
    Denied(Denial),
    Queued { key: (Priority, u64), rx: watch::Receiver<WaitState> },
}

impl ProviderState {
    /// The wait `charges` would face behind the waiters queued before `before`, and the limit
    /// that causes it (a fluid estimate; exact for an empty queue).
    fn estimate(
        &self,
        charges: &[Charge],
        before: (Priority, u64),
        cap: Option<&Cap>,
        now: DateTime<Utc>,
    ) -> (Duration, String) {
        let mut worst = match self.pause {
            Some(until) => (to_std(until - now), PAUSE_LIMIT.to_string()),
            // Named after the first limit even when no wait is expected (a deadline that has
            // already passed).
            None => {
                let first = charges.first().and_then(|c| self.rules.get(c.rule)).map(|rs| rs.rule.id.clone());
                (Duration::ZERO, first.unwrap_or_else(|| PAUSE_LIMIT.to_string()))
            }
        };
        for c in charges {
            let Some(rs) = self.rules.get(c.rule) else { continue };
            let Some((_, ls)) = rs.limits.iter().find(|(k, _)| *k == c.scope) else { continue };
            let ahead: f64 = self
                .queue
                .range(..before)
                .filter(|(_, w)| w.holds)
                .flat_map(|(_, w)| w.charges.iter())
                .filter(|o| o.rule == c.rule && o.scope == c.scope)
                .map(|o| o.amount)
                .sum();
            let mut eta = ls.window.eta_after(ahead, c.amount, now);
            if let Some(m) = ls.cap_window(cap) {
                eta = eta.max(m.eta(c.amount, now));
            }
            if eta > worst.0 {
                worst = (eta, rs.rule.id.clone());
            }
        }
        // A caller ahead that waits on a limit of its own holds this one up as long.
        let ahead = self.queue.range(..before).map(|(_, w)| w).filter(|w| {
            w.holds && w.charges.iter().any(|o| charges.iter().any(|c| c.rule == o.rule && c.scope == o.scope))
        });
        for w in ahead {
            if let Some((at, limit)) = &w.ready_at {
                let wait = to_std(*at - now);
                if wait > worst.0 {
                    worst = (wait, limit.clone());
                }
            }
        }
        worst
    }

    /// The cap `req` keeps to, if any: the health checks' share, or its caller's maximum.
    fn cap_for(&self, req: &Acquire<'_>, cfg: &LimiterConfig) -> Option<Cap> {
        let health = req.operation == self.health_op || req.caller.kind() == crate::caller::CallerKind::Monitor;
        if health {
            return (cfg.monitor_share < 1.0)
                .then(|| Cap { name: HEALTH_CAP.to_string(), fraction: cfg.monitor_share });
        }
        let fraction = *self.caller_shares.get(req.caller.as_str())?;
        (fraction < 1.0).then(|| Cap { name: req.caller.to_string(), fraction })
    }

    fn try_acquire(
        &mut self,
        req: &Acquire<'_>,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
        cfg: &LimiterConfig,
        next_seq: &mut u64,
        events: &mut Vec<LimitEvent>,
    ) -> Attempt {
        if !self.loaded || (self.awaiting_published && self.published_op.as_deref() != Some(req.operation)) {
            return Attempt::NotLoaded;
        }
        self.clear_expired(now, events);
        if let Some(until) = self.ban {
            return Attempt::Denied(Denial::Blocked { limit: BAN_SCOPE.to_string(), remaining: to_std(until - now) });
        }
        // Health checks keep to their share (the spec's health-check operation, and anything
        // the monitor calls); a bot with a maximum share keeps to its own.
        let cap = self.cap_for(req, cfg);
        let cap = cap.as_ref();
        {
            let Self { id, rules, ops, any_op, queue, pause, .. } = self;
            let idxs = ops.get(req.operation).map_or(any_op.as_slice(), Vec::as_slice);
            if idxs.is_empty() && pause.is_none() {
                return Attempt::Granted;
            }
            // Earlier callers of the same or a higher priority on a shared limit go first.
            let behind = queue.iter().take_while(|((p, _), _)| *p <= req.priority).any(|(_, w)| {
                w.holds
                    && w.charges.iter().any(|c| {
                        idxs.contains(&c.rule)
                            && rules.get(c.rule).is_some_and(|rs| c.scope == scope_key(rs.rule.scope, req.key_label))
                    })
            });
            if pause.is_none() && !behind {
                let fits = idxs.iter().all(|&i| {
                    let Some(RuleState { rule, margin, limits, .. }) = rules.get_mut(i) else { return true };
                    let scope = scope_key(rule.scope, req.key_label);
                    let ls = limit_in(limits, rule, *margin, scope, cap, cfg);
                    ls.eta(amount(rule, req.weight), cap, now).is_zero()
                });
                if fits {
                    for &i in idxs {
                        let Some(rs) = rules.get_mut(i) else { continue };
                        let spend = Spend {
                            amount: amount(&rs.rule, req.weight),
                            cap,
                            operation: req.operation,
                            key_label: req.key_label,
                            caller: req.caller.as_str(),
                        };
                        let scope = scope_key(rs.rule.scope, req.key_label);
                        charge_one(rs, scope, &spend, id, cfg, now, events);
                    }
                    return Attempt::Granted;
                }
            }
        }

        let charges = self.charges_for(req.operation, req.key_label, req.weight);
        for c in &charges {
            if let Some(RuleState { rule, margin, limits, .. }) = self.rules.get_mut(c.rule) {
                limit_in(limits, rule, *margin, &c.scope, cap, cfg);
            }
        }
        let key = (req.priority, *next_seq);
        *next_seq += 1;
        let (wait, limit) = self.estimate(&charges, key, cap, now);
        if deadline.is_some_and(|d| now + to_delta(wait) > d) {
            return Attempt::Denied(Denial::Deadline { limit, wait });
        }
        let (tx, rx) = watch::channel(WaitState::Pending { wake_at: None });
        self.queue.insert(
            key,
            Waiter {
                operation: req.operation.to_string(),
                key_label: req.key_label.map(str::to_string),
                caller: req.caller.to_string(),
                weight: req.weight,
                cap: cap.cloned(),
                charges,
                deadline,
                ready_at: None,
                holds: true,
                tx,
            },
        );
        self.pump(now, cfg, events);
        Attempt::Queued { key, rx }
    }

    /// Grants every waiter that fits, in order; sets the others' wake times; fails those that
    /// can no longer meet their deadline, and all of them during a ban.
    pub(super) fn pump(&mut self, now: DateTime<Utc>, cfg: &LimiterConfig, events: &mut Vec<LimitEvent>) {
        self.clear_expired(now, events);
        if self.queue.is_empty() {
            return;
        }
        let Self { id, rules, queue, pause, ban, .. } = self;
        if let Some(until) = *ban {
            let remaining = to_std(until - now);
            for (_, w) in std::mem::take(queue) {
                w.tx.send_replace(WaitState::Failed(Denial::Blocked { limit: BAN_SCOPE.to_string(), remaining }));
            }
            return;
        }
        let pause_left = pause.map(|until| to_std(until - now));
        let mut blocked: Vec<(usize, String)> = Vec::new();
        queue.retain(|_, w| {
            if w.charges.iter().any(|c| blocked.iter().any(|(r, s)| *r == c.rule && *s == c.scope)) {
                w.ready_at = None;
                w.holds = true;
                blocked.extend(w.charges.iter().map(|c| (c.rule, c.scope.clone())));
                set_wake(&w.tx, None);
                return true;
            }
            // The wait for the limits themselves, and for the health-check share.
            let mut budget_eta = pause_left.unwrap_or(Duration::ZERO);
            let mut eta = budget_eta;
            let mut cause: Option<usize> = None;
            for c in &w.charges {
                let Some(RuleState { rule, margin, limits, .. }) = rules.get_mut(c.rule) else { continue };
                let ls = limit_in(limits, rule, *margin, &c.scope, w.cap.as_ref(), cfg);
                let own = ls.window.eta(c.amount, now);
                budget_eta = budget_eta.max(own);
                let e = ls.eta(c.amount, w.cap.as_ref(), now);
                if e > eta {
                    eta = e;
                    cause = Some(c.rule);
                }
            }
            if eta.is_zero() {
                for c in &w.charges {
                    let Some(rs) = rules.get_mut(c.rule) else { continue };
                    let spend = Spend {
                        amount: c.amount,
                        cap: w.cap.as_ref(),
                        operation: &w.operation,
                        key_label: w.key_label.as_deref(),
                        caller: &w.caller,
                    };
                    charge_one(rs, &c.scope, &spend, id, cfg, now, events);
                }
                w.tx.send_replace(WaitState::Granted);
                return false;
            }
            let limit = match cause.and_then(|i| rules.get(i)) {
                Some(rs) => rs.rule.id.as_str(),
                None => PAUSE_LIMIT,
            };
            if w.deadline.is_some_and(|d| now + to_delta(eta) > d) {
                w.tx.send_replace(WaitState::Failed(Denial::Deadline { limit: limit.to_string(), wait: eta }));
                return false;
            }
            let at = now + to_delta(eta);
            let unchanged = matches!(&w.ready_at, Some((t, l)) if *t == at && l == limit);
            if !unchanged {
                w.ready_at = Some((at, limit.to_string()));
            }
            set_wake(&w.tx, Some(at));
            w.holds = !budget_eta.is_zero();
            if w.holds {
                blocked.extend(w.charges.iter().map(|c| (c.rule, c.scope.clone())));
            }
            true
        });
    }
}

fn set_wake(tx: &watch::Sender<WaitState>, wake_at: Option<DateTime<Utc>>) {
    tx.send_if_modified(|s| {
        let next = WaitState::Pending { wake_at };
        if *s == next {
            false
        } else {
            *s = next;
            true
        }
    });
}

/// Cancels a queued waiter whose future was dropped.
struct QueueGuard<'a> {
    limiter: &'a Limiter,
    provider: &'a str,
    key: (Priority, u64),
    armed: bool,
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.limiter.with_provider(self.provider, |ps, now, cfg, events| {
                if ps.queue.remove(&self.key).is_some() {
                    ps.pump(now, cfg, events);
                }
            });
        }
    }
}

impl Limiter {
    /// Charges `req` on every limit that applies, waiting in the queue if it does not fit now;
    /// reads the provider's rules (and published limits) on its first use.
    pub(super) async fn acquire_in_order(&self, req: Acquire<'_>) -> Result<(), LimitError> {
        let deadline =
            req.deadline.map(|d| self.shared.clock.now() + to_delta(d.saturating_duration_since(Instant::now())));
        let mut attempt = self.try_acquire(&req, deadline);
        if matches!(attempt, Attempt::NotLoaded) {
            self.load(req.provider, req.operation).await;
            attempt = self.try_acquire(&req, deadline);
        }
        match attempt {
            Attempt::Granted | Attempt::NotLoaded => Ok(()),
            Attempt::Denied(denial) => Err(denial.into_error(req.provider)),
            Attempt::Queued { key, rx } => self.wait(req.provider, key, rx, deadline).await,
        }
    }

    fn try_acquire(&self, req: &Acquire<'_>, deadline: Option<DateTime<Utc>>) -> Attempt {
        let now = self.shared.clock.now();
        let mut events = Vec::new();
        let attempt = {
            let mut st = self.lock();
            let cfg = st.config;
            let State { providers, next_seq, .. } = &mut *st;
            match providers.get_mut(req.provider) {
                Some(ps) => ps.try_acquire(req, now, deadline, &cfg, next_seq, &mut events),
                None => Attempt::NotLoaded,
            }
        };
        self.emit(events);
        attempt
    }

    /// A timer fired for the waiter `key`: re-run the queue, and fail the waiter if its
    /// deadline has come.
    fn on_timer(&self, provider: &str, key: (Priority, u64)) {
        self.with_provider(provider, |ps, now, cfg, events| {
            ps.pump(now, cfg, events);
            let expired = ps.queue.get(&key).and_then(|w| w.deadline).is_some_and(|d| d <= now);
            if expired {
                if let Some(w) = ps.queue.remove(&key) {
                    let (wait, limit) = ps.estimate(&w.charges, key, w.cap.as_ref(), now);
                    let limit = if limit.is_empty() { PAUSE_LIMIT.to_string() } else { limit };
                    w.tx.send_replace(WaitState::Failed(Denial::Deadline { limit, wait }));
                    ps.pump(now, cfg, events);
                }
            }
        });
    }

    async fn wait(
        &self,
        provider: &str,
        key: (Priority, u64),
        mut rx: watch::Receiver<WaitState>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<(), LimitError> {
        let mut guard = QueueGuard { limiter: self, provider, key, armed: true };
        loop {
            let state = rx.borrow_and_update().clone();
            let wake_at = match state {
                WaitState::Granted => {
                    guard.armed = false;
                    return Ok(());
                }
                WaitState::Failed(denial) => {
                    guard.armed = false;
                    return Err(denial.into_error(provider));
                }
                WaitState::Pending { wake_at } => wake_at,
            };
            let until = match (wake_at, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let closed = match until {
                Some(at) => {
                    let sleep = self.shared.timer.sleep_until(at);
                    tokio::select! {
                        changed = rx.changed() => changed.is_err(),
                        () = sleep => {
                            self.on_timer(provider, key);
                            false
                        }
                    }
                }
                None => rx.changed().await.is_err(),
            };
            if closed {
                // Only a dropped limiter closes the channel without a final answer.
                guard.armed = false;
                return Err(LimitError::Blocked {
                    provider: provider.to_string(),
                    limit: "limiter".into(),
                    remaining: Duration::ZERO,
                });
            }
        }
    }
}
