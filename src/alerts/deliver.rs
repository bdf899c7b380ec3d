//! The webhook delivery worker: one tokio task takes jobs from an unbounded queue and runs up
//! to [`MAX_CONCURRENT_DELIVERIES`] deliveries at once. Each delivery retries transient
//! failures (connection errors, timeouts, 408, 425, 429, 5xx) with exponential backoff,
//! honouring `Retry-After`, and records every attempt in `webhook_deliveries`.
//!
//! Waiting goes through a [`Sleeper`], so tests record the exact backoff instead of sleeping
//! (tokio's `time::pause` needs the `test-util` feature, which this crate does not enable).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::db::{self, NewDelivery};
use super::payload::{self, Payload, WebhookEvent};
use super::webhook::Webhook;
use super::{Alert, AlertError, Alerts, DeliveryResult, DeliveryStatus};

/// How many webhook deliveries run at the same time.
pub const MAX_CONCURRENT_DELIVERIES: usize = 8;
/// How much of an error response body is kept in the delivery record.
const ERROR_BODY_CHARS: usize = 200;
/// Recorded for deliveries that were still waiting when Keyward stopped.
const SHUTDOWN_ERROR: &str = "Keyward stopped before this delivery could be retried";

/// Retry policy of webhook deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further failure.
    pub base_delay: Duration,
    /// The longest backoff between two attempts.
    pub max_delay: Duration,
    /// The longest `Retry-After` that is honoured as given.
    pub max_retry_after: Duration,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
        }
    }
}

impl DeliveryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): 1 s, 2 s, 4 s … or the
    /// server's `Retry-After` when that is longer.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let backoff = self.base_delay.saturating_mul(factor).min(self.max_delay);
        match retry_after {
            Some(ra) => backoff.max(ra.min(self.max_retry_after)),
            None => backoff,
        }
    }
}

/// Waits. The worker's only way to pass time.
pub trait Sleeper: Send + Sync + 'static {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Counts a queued or running delivery until dropped.
pub(crate) struct PendingGuard {
    pending: tokio::sync::watch::Sender<usize>,
}

impl PendingGuard {
    pub(crate) fn new(pending: &tokio::sync::watch::Sender<usize>) -> Self {
        pending.send_modify(|n| *n += 1);
        Self { pending: pending.clone() }
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// One webhook call to make.
pub(crate) struct Job {
    pub webhook: Webhook,
    pub event: WebhookEvent,
    pub alert: Alert,
    pub _pending: PendingGuard,
}

/// How one HTTP attempt ended.
#[derive(Debug)]
pub(crate) enum AttemptOutcome {
    Delivered { status: u16 },
    Retryable { status: Option<u16>, error: String, retry_after: Option<Duration> },
    Permanent { status: Option<u16>, error: String },
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Makes one HTTP attempt. Error texts never contain the URL (a Slack or Discord URL is
/// itself a credential).
pub(crate) async fn send_once(
    http: &reqwest::Client,
    url: &str,
    payload: Payload,
    timeout: Duration,
    now: DateTime<Utc>,
) -> AttemptOutcome {
    let mut req = http.post(url).timeout(timeout).body(payload.body);
    for (name, value) in payload.headers {
        req = req.header(name, value);
    }
    match req.send().await {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                return AttemptOutcome::Delivered { status };
            }
            let retry_after = crate::http_headers::retry_after(resp.headers(), now);
            let mut text = String::new();
            while text.chars().count() < ERROR_BODY_CHARS {
                match resp.chunk().await {
                    Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => break,
                }
            }
            let text: String = text.trim().chars().take(ERROR_BODY_CHARS).collect();
            let mut error = format!("HTTP {status}");
            if resp.status().is_redirection() {
                error.push_str(" (redirects are not followed; use the final URL)");
            } else if !text.is_empty() {
                error.push_str(": ");
                error.push_str(&text);
            }
            match status {
                408 | 425 | 429 | 500..=599 => AttemptOutcome::Retryable { status: Some(status), error, retry_after },
                _ => AttemptOutcome::Permanent { status: Some(status), error },
            }
        }
        Err(e) => {
            let what = if e.is_timeout() {
                format!("timed out after {} ms", timeout.as_millis())
            } else if e.is_connect() {
                "could not connect".to_string()
            } else {
                "request failed".to_string()
            };
            let e = e.without_url();
            AttemptOutcome::Retryable { status: None, error: format!("{what}: {}", error_chain(&e)), retry_after: None }
        }
    }
}

impl Alerts {
    async fn fetch_secret(&self, webhook: &Webhook) -> Result<Option<SecretString>, AlertError> {
        let Some(reference) = webhook.secret_ref.clone() else {
            return Ok(None);
        };
        let secrets = Arc::clone(&self.inner.secrets);
        let name = webhook.name.clone();
        let got = tokio::task::spawn_blocking(move || secrets.get(&reference))
            .await
            .map_err(|e| AlertError::Background(e.to_string()))?;
        match got {
            Ok(Some(s)) => Ok(Some(s)),
            Ok(None) => Err(AlertError::Invalid(format!(
                "the HMAC secret of webhook \"{name}\" is missing from the credential store; set it again"
            ))),
            Err(e) => Err(AlertError::Vault(e)),
        }
    }

    pub(crate) async fn record_delivery(&self, d: NewDelivery) {
        let store = self.inner.store.clone();
        let res = tokio::task::spawn_blocking(move || store.with_conn(|c| Ok(db::insert_delivery(c, &d)?))).await;
        match res {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "could not record a webhook delivery"),
            Err(e) => tracing::error!(error = %e, "could not record a webhook delivery"),
        }
    }

    /// Sends the test payload to webhook `id` once (no retries), records the attempt and says
    /// how it went.
    pub async fn test_webhook(&self, id: i64) -> Result<DeliveryResult, AlertError> {
        let this = self.clone();
        let webhook = tokio::task::spawn_blocking(move || this.webhook(id))
            .await
            .map_err(|e| AlertError::Background(e.to_string()))??;
        let now = self.inner.clock.now();
        let started = Instant::now();
        let (status, error) = match self.fetch_secret(&webhook).await {
            Err(e) => (None, Some(e.to_string())),
            Ok(secret) => {
                let delivery_id = format!("test-{}-{}", webhook.id, now.timestamp_millis());
                let payload = payload::build(
                    webhook.format,
                    WebhookEvent::Test,
                    None,
                    &webhook.name,
                    &delivery_id,
                    now,
                    secret.as_ref(),
                );
                match send_once(&self.inner.http, &webhook.url, payload, DeliveryPolicy::default().timeout, now).await {
                    AttemptOutcome::Delivered { status } => (Some(status), None),
                    AttemptOutcome::Retryable { status, error, .. } | AttemptOutcome::Permanent { status, error } => {
                        (status, Some(error))
                    }
                }
            }
        };
        let delivered = error.is_none();
        self.record_delivery(NewDelivery {
            ts: now,
            alert_id: None,
            webhook_id: webhook.id,
            event: WebhookEvent::Test,
            attempt: 1,
            status: if delivered { DeliveryStatus::Delivered } else { DeliveryStatus::Failed },
            http_status: status,
            error: error.clone(),
        })
        .await;
        Ok(DeliveryResult { webhook_id: webhook.id, delivered, http_status: status, error, elapsed: started.elapsed() })
    }

    /// Delivers one job with retries.
    async fn deliver(&self, job: Job, policy: DeliveryPolicy, sleeper: &dyn Sleeper, cancel: &CancellationToken) {
        let Job { webhook, event, alert, _pending } = job;
        let record =
            |attempt: u32, status: DeliveryStatus, http_status: Option<u16>, error: Option<String>| NewDelivery {
                ts: self.inner.clock.now(),
                alert_id: Some(alert.id),
                webhook_id: webhook.id,
                event,
                attempt,
                status,
                http_status,
                error,
            };
        let secret = match self.fetch_secret(&webhook).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(webhook = %webhook.name, alert = alert.id, error = %e, "webhook not delivered");
                self.record_delivery(record(1, DeliveryStatus::Failed, None, Some(e.to_string()))).await;
                return;
            }
        };
        let delivery_id = format!(
            "{}-{}-{}",
            alert.id,
            webhook.id,
            if event == WebhookEvent::Resolved { "resolved" } else { "raised" }
        );
        let max_attempts = policy.max_attempts.max(1);
        for attempt in 1..=max_attempts {
            let now = self.inner.clock.now();
            let payload =
                payload::build(webhook.format, event, Some(&alert), &webhook.name, &delivery_id, now, secret.as_ref());
            let outcome = send_once(&self.inner.http, &webhook.url, payload, policy.timeout, now).await;
            match outcome {
                AttemptOutcome::Delivered { status } => {
                    self.record_delivery(record(attempt, DeliveryStatus::Delivered, Some(status), None)).await;
                    tracing::debug!(webhook = %webhook.name, alert = alert.id, attempt, "webhook delivered");
                    return;
                }
                AttemptOutcome::Retryable { status, error, retry_after } if attempt < max_attempts => {
                    self.record_delivery(record(attempt, DeliveryStatus::Retrying, status, Some(error))).await;
                    let wait = policy.delay(attempt, retry_after);
                    tracing::info!(webhook = %webhook.name, alert = alert.id, attempt, ?wait, "webhook delivery failed; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => {
                            self.record_delivery(record(attempt + 1, DeliveryStatus::Failed, None, Some(SHUTDOWN_ERROR.into()))).await;
                            return;
                        }
                        _ = sleeper.sleep(wait) => {}
                    }
                }
                AttemptOutcome::Retryable { status, error, .. } | AttemptOutcome::Permanent { status, error } => {
                    tracing::warn!(webhook = %webhook.name, alert = alert.id, attempt, %error, "webhook delivery failed");
                    self.record_delivery(record(attempt, DeliveryStatus::Failed, status, Some(error))).await;
                    return;
                }
            }
        }
    }

    /// Records a job that will never be attempted.
    pub(crate) async fn record_undelivered(&self, job: Job, error: &str) {
        self.record_delivery(NewDelivery {
            ts: self.inner.clock.now(),
            alert_id: Some(job.alert.id),
            webhook_id: job.webhook.id,
            event: job.event,
            attempt: 1,
            status: DeliveryStatus::Failed,
            http_status: None,
            error: Some(error.to_string()),
        })
        .await;
    }

    /// The worker loop.
    pub(crate) async fn worker(
        self,
        mut rx: mpsc::UnboundedReceiver<Job>,
        policy: DeliveryPolicy,
        sleeper: Arc<dyn Sleeper>,
        cancel: CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_DELIVERIES));
        loop {
            let job = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            let permit = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    self.record_undelivered(job, SHUTDOWN_ERROR).await;
                    break;
                }
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let this = self.clone();
            let sleeper = Arc::clone(&sleeper);
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let _permit = permit;
                this.deliver(job, policy, sleeper.as_ref(), &cancel).await;
            });
        }
        rx.close();
        while let Ok(job) = rx.try_recv() {
            self.record_undelivered(job, SHUTDOWN_ERROR).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_and_retry_after_wins_when_longer() {
        let p = DeliveryPolicy::default();
        let waits: Vec<u64> = (1..=4).map(|a| p.delay(a, None).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8]);
        assert_eq!(p.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(p.delay(3, Some(Duration::from_millis(10))), Duration::from_secs(4));
        assert_eq!(p.delay(1, Some(Duration::from_secs(86_400))), p.max_retry_after);
    }
}
