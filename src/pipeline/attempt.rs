//! One attempt, shared by both entries: rate limit -> sign -> send -> rate-limit header sync.
//! The caller interprets the answer and records the attempt once with [`Pipeline::finish`].

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::breaker::Verdict;
use super::record::{AttemptRecord, Outcome};
use super::{limit, send, CallError, Pipeline, Prepared, Priority};
use crate::provider::ProviderSpec;
use crate::signing;

/// What every attempt of one request shares.
pub(super) struct Plan<'a> {
    pub prepared: &'a Prepared,
    /// The spec's operation, or the gateway's name for a path the spec does not know.
    pub operation: &'a str,
    pub caller: &'a crate::caller::Caller,
    pub weight: u32,
    pub priority: Priority,
    pub deadline: Option<Instant>,
    pub scheme: signing::AuthScheme,
    /// The request before signing (each attempt signs it afresh).
    pub unsigned: &'a signing::Request,
}

/// An attempt that was sent (or failed to be): the answer and its record, not yet written.
pub(super) struct Sent {
    pub result: Result<send::Response, send::Fail>,
    pub record: AttemptRecord,
    pub sent_at: DateTime<Utc>,
    /// How long the attempt waited for rate-limit budget.
    pub waited: Duration,
}

/// How a failed send is recorded.
pub(super) fn fail_outcome(kind: send::FailKind) -> Outcome {
    match kind {
        send::FailKind::Timeout => Outcome::Timeout,
        send::FailKind::TooLarge(_) => Outcome::ProviderError,
        _ => Outcome::Network,
    }
}

impl Pipeline {
    /// Acquires budget, signs with a fresh timestamp and nonce, sends, and reports the answer's
    /// headers to the limiter. Errors only when the budget is refused or signing fails (nothing
    /// sent); a failed send comes back in [`Sent::result`].
    pub(super) async fn attempt(&self, plan: &Plan<'_>, client: &reqwest::Client, n: u32) -> Result<Sent, CallError> {
        let p = plan.prepared;
        let spec = &p.entry.spec;
        let key_label = p.key.as_ref().map(|k| k.record.label.as_str());
        let breakers = &self.inner.breakers;
        breakers.admit(&spec.id, plan.operation, &spec.breaker).map_err(|r| CallError::CircuitOpen {
            provider: spec.id.clone(),
            operation: plan.operation.to_string(),
            scope: r.operation,
            state: r.state,
            until: r.until,
            reason: r.reason,
        })?;
        // An attempt that is not sent says nothing about the provider's health.
        let unsent = || breakers.record(&spec.id, plan.operation, &spec.breaker, Verdict::Neutral, "");
        let queued = Instant::now();
        let acquired = self
            .inner
            .limiter
            .acquire(limit::Acquire {
                provider: &spec.id,
                operation: plan.operation,
                key_label,
                caller: plan.caller,
                weight: plan.weight,
                priority: plan.priority,
                deadline: plan.deadline,
            })
            .await;
        if let Err(e) = acquired {
            self.inner.recorder.live().limit_refused(&spec.id);
            unsent();
            return Err(e.into());
        }
        let waited = queued.elapsed();
        self.inner.recorder.live().waited(&spec.id, waited);

        let now = self.offset(&spec.id).corrected(self.inner.clock.now());
        let nonce = self.inner.nonces.next(now);
        let signed = signing::sign(
            plan.scheme,
            &super::build::auth_params(spec),
            plan.unsigned,
            p.key.as_ref().map(|k| &k.credentials),
            now,
            nonce,
        )
        .map_err(|e| {
            unsent();
            CallError::Signing(e, spec.id.clone())
        })?;

        let sent_at = self.inner.clock.now();
        let result = send::send(client, spec, &plan.unsigned.method, &p.base_url, &p.env_headers, &signed).await;
        let mut record = AttemptRecord {
            ts: sent_at,
            provider: spec.id.clone(),
            environment: p.environment.clone(),
            operation: plan.operation.to_string(),
            key_label: key_label.map(str::to_string),
            caller: plan.caller.to_string(),
            attempt: n,
            status: None,
            outcome: Outcome::Ok,
            latency: result.as_ref().map_or_else(|f| f.latency, |r| r.latency),
            bytes_out: signed.body.as_ref().map_or(0, |b| b.len() as u64),
            bytes_in: 0,
            weight: plan.weight,
            cost: 0.0,
            units: 0.0,
        };
        if let Ok(resp) = &result {
            record.status = Some(resp.status);
            record.bytes_in = resp.body.len() as u64;
            let answered = limit::Answered { provider: &spec.id, operation: plan.operation, key_label };
            self.inner.limiter.observe(answered, resp.status, &resp.headers);
        }
        Ok(Sent { result, record, sent_at, waited })
    }

    /// Records an attempt with how it ended: the one place attempts are written, where the
    /// circuit breakers learn how the provider is doing, and where what the provider bills for
    /// it is counted (`body`: the answer, for the provider's own credit count or its items).
    pub(super) fn finish(&self, spec: &ProviderSpec, mut record: AttemptRecord, outcome: Outcome, body: Option<&[u8]>) {
        let outcome = match (outcome, record.status) {
            (Outcome::HttpError, Some(418 | 429)) => Outcome::Throttled,
            (o, _) => o,
        };
        record.outcome = outcome;
        let billing = &spec.billing;
        let endpoint = spec.endpoints.get(&record.operation);
        // A provider bills when it has plans, or prices an endpoint per call; exchanges do not.
        let bills = !billing.plans.is_empty() || endpoint.is_some_and(|e| e.cost > 0.0);
        if bills && billing.billed(record.status, outcome == Outcome::Ok, outcome == Outcome::Throttled) {
            let per_items = endpoint.and_then(|e| e.credits_per_items.as_ref());
            let answer: Option<serde_json::Value> =
                body.filter(|_| billing.reads_body(per_items)).and_then(|b| serde_json::from_slice(b).ok());
            record.units = billing.units(endpoint.and_then(|e| e.credits).unwrap_or(1.0), per_items, answer.as_ref());
            record.cost =
                endpoint.map_or(0.0, |e| e.cost * record.units) + billing.current_plan().metered(record.units);
        }
        let (verdict, detail) = verdict(outcome, record.status);
        self.inner.breakers.record(&record.provider, &record.operation, &spec.breaker, verdict, &detail);
        self.inner.recorder.record(record);
    }
}

/// How an attempt counts for the circuit breaker. Only answers that say the provider is unwell
/// count as failures (no connection, a timeout, HTTP 5xx); rate-limit answers (429, 418) and
/// refusals (403) are the limiter's business, and an exchange error in a 2xx body is the
/// caller's.
fn verdict(outcome: Outcome, status: Option<u16>) -> (Verdict, String) {
    match (outcome, status) {
        (Outcome::Ok, _) => (Verdict::Success, String::new()),
        (Outcome::Timeout, _) => (Verdict::Failure, "timeout".into()),
        (Outcome::Network, _) => (Verdict::Failure, "no connection".into()),
        (Outcome::HttpError, Some(s @ 500..=599)) => (Verdict::Failure, format!("HTTP {s}")),
        (Outcome::Throttled, _) | (Outcome::HttpError, Some(403)) => (Verdict::Neutral, String::new()),
        (Outcome::HttpError, Some(_)) => (Verdict::Success, String::new()),
        _ => (Verdict::Neutral, String::new()),
    }
}
