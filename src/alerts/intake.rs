//! A non-blocking way in: [`AlertSender::send`] queues an input for a dedicated thread that
//! runs [`Alerts::handle`] (SQLite is blocking). The rate limiter and the monitor loops use it
//! so that raising an alert never blocks a request or an async task.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use super::{AlertInput, Alerts};

enum Msg {
    Input(AlertInput),
    Flush(Sender<()>),
}

/// Cheap to clone; the intake thread ends when the last sender is dropped.
#[derive(Clone)]
pub struct AlertSender {
    tx: Sender<Msg>,
}

impl std::fmt::Debug for AlertSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSender").finish_non_exhaustive()
    }
}

impl AlertSender {
    /// Queues `input`; it is evaluated at the engine clock's "now" when its turn comes. Never
    /// blocks.
    pub fn send(&self, input: AlertInput) {
        if self.tx.send(Msg::Input(input)).is_err() {
            tracing::warn!("the alert intake thread has stopped; an alert input was dropped");
        }
    }

    /// Blocks until every input sent so far has been handled (tests, shutdown).
    pub fn flush(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
    }
}

impl Alerts {
    /// Starts the intake thread and returns its sender.
    pub fn start_intake(&self) -> AlertSender {
        let (tx, rx) = mpsc::channel();
        let alerts = self.clone();
        let spawned = thread::Builder::new().name("keyward-alerts".into()).spawn(move || intake(alerts, rx));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the alert intake thread; alerts sent to it are dropped");
        }
        AlertSender { tx }
    }
}

fn intake(alerts: Alerts, rx: Receiver<Msg>) {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Input(input) => {
                let now = alerts.inner.clock.now();
                if let Err(e) = alerts.handle(&input, now) {
                    tracing::error!(error = %e, provider = input.provider(), "could not evaluate an alert input");
                }
            }
            Msg::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
