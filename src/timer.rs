//! How the core waits: a [`Timer`] completes at a wall-clock instant read from a [`Clock`].
//! The limiter's queue and the pipeline's retry back-off both wait on one. Production sleeps on
//! tokio; tests drive a [`ManualTimer`] together with a [`FakeClock`], so they move time by
//! hand and never sleep.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::clock::{Clock, FakeClock};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that can wait until a wall-clock instant.
pub trait Timer: Send + Sync + 'static {
    /// Completes at `at` (as the limiter's clock tells time), or at once if that has passed.
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// Sleeps on the tokio timer for the time between the clock's `now` and `at`.
#[derive(Clone)]
pub struct TokioTimer {
    clock: Arc<dyn Clock>,
}

impl TokioTimer {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }
}

impl Timer for TokioTimer {
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let wait = (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}

type Sleepers = Vec<(DateTime<Utc>, oneshot::Sender<()>)>;

/// A timer for tests and simulations: it fires only when [`ManualTimer::advance`] moves its
/// [`FakeClock`] past a sleeper's instant. Clones share the clock and the sleepers.
#[derive(Clone)]
pub struct ManualTimer {
    clock: FakeClock,
    sleepers: Arc<Mutex<Sleepers>>,
    /// Fired whenever a sleeper starts waiting (see [`ManualTimer::next_sleeper`]).
    added: Arc<tokio::sync::Notify>,
}

impl ManualTimer {
    pub fn new(clock: FakeClock) -> Self {
        Self { clock, sleepers: Arc::new(Mutex::new(Vec::new())), added: Arc::new(tokio::sync::Notify::new()) }
    }

    pub fn clock(&self) -> &FakeClock {
        &self.clock
    }

    /// Moves the clock forward and wakes every sleeper whose instant has come.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        let now = self.clock.now();
        let due: Sleepers = {
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|p| p.into_inner());
            let (due, pending) = std::mem::take(&mut *sleepers).into_iter().partition(|(at, _)| *at <= now);
            *sleepers = pending;
            due
        };
        for (_, tx) in due {
            // A sleeper whose waiter went away has dropped its receiver; nothing to wake.
            let _ = tx.send(());
        }
    }

    /// Waits (without sleeping) until something sleeps on this timer, and returns the earliest
    /// instant a sleeper waits for: a test learns how long the code under test chose to wait.
    pub async fn next_sleeper(&self) -> DateTime<Utc> {
        loop {
            let notified = self.added.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let earliest = self.sleepers.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(at, _)| *at).min();
            if let Some(at) = earliest {
                return at;
            }
            notified.await;
        }
    }

    /// How many sleepers are waiting (dropped ones included until the next advance).
    pub fn pending(&self) -> usize {
        self.sleepers.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Timer for ManualTimer {
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        if at <= self.clock.now() {
            return Box::pin(std::future::ready(()));
        }
        let (tx, rx) = oneshot::channel();
        self.sleepers.lock().unwrap_or_else(|p| p.into_inner()).push((at, tx));
        self.added.notify_waiters();
        Box::pin(async move {
            // A dropped sender (the timer itself dropped) must not look like the instant came.
            if rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
