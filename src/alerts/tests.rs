//! Tests of the alert engine and the webhook worker. Time is a [`FakeClock`]; webhook retries
//! wait through a recording [`Sleeper`], so nothing here sleeps.

mod engine;
mod webhooks;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::clock::FakeClock;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).single().expect("valid date")
}

pub(super) struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub clock: FakeClock,
    pub alerts: Alerts,
    pub secrets: Arc<MemoryWebhookSecrets>,
    pub notices: Arc<Mutex<Vec<AlertNotice>>>,
}

impl Harness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("keyward.db")).expect("open store");
        let clock = FakeClock::at(t0());
        let secrets = Arc::new(MemoryWebhookSecrets::new());
        let alerts = Alerts::new(store.clone(), Arc::new(clock.clone()), secrets.clone()).expect("alerts");
        let notices: Arc<Mutex<Vec<AlertNotice>>> = Arc::default();
        let sink = Arc::clone(&notices);
        alerts.set_desktop(Arc::new(move |n: AlertNotice| sink.lock().expect("notices").push(n)));
        Self { dir, store, clock, alerts, secrets, notices }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn advance_mins(&self, mins: u64) {
        self.clock.advance(std::time::Duration::from_secs(mins * 60));
    }

    pub fn handle(&self, input: AlertInput) -> Vec<Alert> {
        self.alerts.handle(&input, self.now()).expect("handle")
    }

    /// Notices received since the last call.
    pub fn take_notices(&self) -> Vec<AlertNotice> {
        std::mem::take(&mut *self.notices.lock().expect("notices"))
    }

    pub fn rule_of_kind(&self, kind: &str) -> Rule {
        self.alerts.rules().expect("rules").into_iter().find(|r| r.kind.name() == kind).expect("rule of kind")
    }
}

pub(super) fn state(provider: &str, to: ReportedHealth, checks: u32) -> AlertInput {
    AlertInput::ProviderState {
        provider: provider.into(),
        from: ReportedHealth::Up,
        to,
        cause: Some("HTTP 503 from /api/v3/time".into()),
        consecutive_checks: checks,
    }
}

pub(super) fn down(provider: &str, checks: u32) -> AlertInput {
    state(provider, ReportedHealth::Down, checks)
}

pub(super) fn recovered(provider: &str) -> AlertInput {
    AlertInput::Recovered { provider: provider.into() }
}
