//! Webhook delivery against real receivers on 127.0.0.1:0 (axum).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::Value;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::*;

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

/// Replies with the scripted statuses first (with an optional Retry-After), then `then`.
struct Receiver {
    seen: Mutex<Vec<Seen>>,
    script: Mutex<VecDeque<(u16, Option<&'static str>)>>,
    then: u16,
}

impl Receiver {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

async fn receive(State(r): State<Arc<Receiver>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    r.seen.lock().expect("seen").push(Seen { path: uri.path().to_string(), headers, body: body.to_vec() });
    let (status, retry_after) = r.script.lock().expect("script").pop_front().unwrap_or((r.then, None));
    let status = StatusCode::from_u16(status).expect("status");
    match retry_after {
        Some(ra) => (status, [("Retry-After", ra)], "slow down").into_response(),
        None if status.is_success() => (status, "ok").into_response(),
        None => (status, "boom").into_response(),
    }
}

/// Starts a receiver and returns its base URL (`http://127.0.0.1:PORT`).
async fn receiver(script: &[(u16, Option<&'static str>)], then: u16) -> (String, Arc<Receiver>) {
    let state =
        Arc::new(Receiver { seen: Mutex::default(), script: Mutex::new(script.iter().copied().collect()), then });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(receive).with_state(Arc::clone(&state));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), state)
}

/// Records every wait and returns at once.
#[derive(Default)]
struct RecordingSleeper {
    waits: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    fn waits(&self) -> Vec<u64> {
        self.waits.lock().expect("waits").iter().map(|d| d.as_secs()).collect()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.waits.lock().expect("waits").push(duration);
        Box::pin(async {})
    }
}

struct Setup {
    h: Harness,
    sleeper: Arc<RecordingSleeper>,
    cancel: CancellationToken,
}

fn setup() -> Setup {
    let h = Harness::new();
    let sleeper = Arc::new(RecordingSleeper::default());
    let cancel = CancellationToken::new();
    h.alerts.run_webhooks_with(cancel.clone(), DeliveryPolicy::default(), sleeper.clone()).expect("worker");
    Setup { h, sleeper, cancel }
}

impl Setup {
    fn add_webhook(&self, name: &str, url: String, format: WebhookFormat, secret: Option<&str>) -> Webhook {
        self.h
            .alerts
            .add_webhook(NewWebhook {
                name: name.into(),
                url,
                format,
                secret: secret.map(|s| SecretString::from(s.to_string())),
                allow_insecure_http: false,
            })
            .expect("add webhook")
    }

    /// Routes the rule of `kind` to these webhooks.
    fn route(&self, kind: &str, webhooks: &[i64]) {
        let rule = self.h.rule_of_kind(kind);
        let mut new = NewRule::from(rule.clone());
        new.channels.webhooks = webhooks.to_vec();
        self.h.alerts.update_rule(rule.id, new).expect("route");
    }

    async fn raise_down(&self, provider: &str) -> Alert {
        let alert = self.h.handle(down(provider, 3)).remove(0);
        self.h.alerts.wait_for_deliveries().await;
        alert
    }

    fn deliveries_of(&self, alert_id: i64) -> Vec<DeliveryRecord> {
        let mut d = self
            .h
            .alerts
            .deliveries(&DeliveryFilter { alert_id: Some(alert_id), ..Default::default() })
            .expect("deliveries");
        d.reverse();
        d
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn a_receiver_gets_signed_json_and_verifies_the_hmac_independently() {
    let s = setup();
    let (base, rx) = receiver(&[], 200).await;
    let hook = s.add_webhook("ops", format!("{base}/hooks/keyward"), WebhookFormat::Json, Some("whsec-test-secret"));
    s.route("provider_down", &[hook.id]);

    let alert = s.raise_down("binance").await;

    let seen = rx.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.path, "/hooks/keyward");
    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header("x-keyward-signature"), format!("sha256={}", hmac_hex("whsec-test-secret", &req.body)));
    assert_ne!(req.header("x-keyward-signature"), format!("sha256={}", hmac_hex("another-secret", &req.body)));
    let body = req.json();
    assert_eq!(req.header("x-keyward-timestamp"), body["timestamp"].to_string(), "the signed body carries the time");
    assert_eq!(body["timestamp"], s.h.now().timestamp());
    assert_eq!(body["event"], "alert.raised");
    assert_eq!(req.header("x-keyward-event"), "alert.raised");
    assert_eq!(body["alert"]["id"], alert.id);
    assert_eq!(body["alert"]["title"], "binance is down");
    assert_eq!(body["alert"]["severity"], "critical");
    assert_eq!(body["alert"]["dedup_key"], "state:binance/down");

    let d = s.deliveries_of(alert.id);
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].attempt, d[0].status, d[0].http_status, d[0].webhook_id),
        (1, DeliveryStatus::Delivered, Some(200), hook.id)
    );
    assert_eq!(d[0].event, WebhookEvent::Raised);
}

#[tokio::test]
async fn slack_webhooks_receive_text_and_blocks() {
    let s = setup();
    let (base, rx) = receiver(&[], 200).await;
    let hook = s.add_webhook("slack", format!("{base}/services/T0/B0/XYZ"), WebhookFormat::Slack, None);
    s.route("provider_down", &[hook.id]);
    s.raise_down("kraken").await;

    let seen = rx.seen();
    let body = seen[0].json();
    assert!(seen[0].header("x-keyward-signature").is_empty(), "no secret, no signature");
    assert_eq!(body["text"], "🔴 kraken is down");
    let blocks = body["blocks"].as_array().expect("blocks");
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap_or_default()).collect();
    assert_eq!(types, vec!["header", "section", "context"]);
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert!(blocks[1]["text"]["text"].as_str().unwrap_or_default().contains("3 consecutive checks"));
    assert!(blocks[2]["elements"][0]["text"].as_str().unwrap_or_default().contains("critical"));

    // A recovery is shown green with a tick.
    s.route("recovered", &[hook.id]);
    s.h.handle(recovered("kraken"));
    s.h.alerts.wait_for_deliveries().await;
    let mut texts: Vec<String> =
        rx.seen().iter().map(|r| r.json()["text"].as_str().unwrap_or_default().to_string()).collect();
    texts[1..].sort(); // the resolve and the recovery are delivered concurrently
    assert_eq!(texts, vec!["🔴 kraken is down", "✅ Resolved: kraken is down", "✅ kraken recovered"]);
}

#[tokio::test]
async fn discord_webhooks_receive_content_and_embeds_without_mentions() {
    let s = setup();
    let (base, rx) = receiver(&[], 204).await;
    let hook = s.add_webhook("discord", format!("{base}/api/webhooks/1/abc"), WebhookFormat::Discord, None);
    s.route("maintenance", &[hook.id]);
    let alert =
        s.h.handle(AlertInput::MaintenanceAnnounced {
            provider: "kraken".into(),
            message: "Upgrade @everyone".into(),
            starts_at: None,
        })
        .remove(0);
    s.h.alerts.wait_for_deliveries().await;

    let body = rx.seen()[0].json();
    assert_eq!(body["content"], "🔵 kraken announced maintenance");
    let embed = &body["embeds"][0];
    assert_eq!(embed["title"], "kraken announced maintenance");
    assert!(embed["description"].as_str().unwrap_or_default().contains("Upgrade"));
    assert_eq!(embed["color"], 0x3B82F6);
    assert_eq!(embed["fields"][1]["value"], "kraken");
    assert!(embed["timestamp"].is_string());
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    assert_eq!(s.deliveries_of(alert.id)[0].http_status, Some(204));
}

#[tokio::test]
async fn a_receiver_that_fails_twice_then_succeeds_gets_three_recorded_attempts() {
    let s = setup();
    let (base, rx) = receiver(&[(500, None), (503, None)], 200).await;
    let hook = s.add_webhook("flaky", format!("{base}/h"), WebhookFormat::Json, Some("k"));
    s.route("provider_down", &[hook.id]);
    let alert = s.raise_down("okx").await;

    let d = s.deliveries_of(alert.id);
    let got: Vec<(u32, DeliveryStatus, Option<u16>)> = d.iter().map(|x| (x.attempt, x.status, x.http_status)).collect();
    assert_eq!(
        got,
        vec![
            (1, DeliveryStatus::Retrying, Some(500)),
            (2, DeliveryStatus::Retrying, Some(503)),
            (3, DeliveryStatus::Delivered, Some(200)),
        ]
    );
    assert_eq!(d[0].error.as_deref(), Some("HTTP 500: boom"));
    assert_eq!(s.sleeper.waits(), vec![1, 2], "exponential backoff from one second");
    let seen = rx.seen();
    assert_eq!(seen.len(), 3);
    let ids: Vec<String> = seen.iter().map(|r| r.header("x-keyward-delivery")).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && !id.is_empty()), "one delivery id across retries: {ids:?}");
}

#[tokio::test]
async fn a_permanently_failing_receiver_leaves_a_visible_failure_after_five_attempts() {
    let s = setup();
    let (base, rx) = receiver(&[], 500).await;
    let hook = s.add_webhook("down", format!("{base}/h"), WebhookFormat::Json, None);
    s.route("provider_down", &[hook.id]);
    let alert = s.raise_down("bybit").await;

    assert_eq!(rx.seen().len(), 5);
    assert_eq!(s.sleeper.waits(), vec![1, 2, 4, 8]);
    let d = s.deliveries_of(alert.id);
    assert_eq!(d.len(), 5);
    let last = d.last().expect("last");
    assert_eq!((last.attempt, last.status), (5, DeliveryStatus::Failed));
    assert_eq!(last.error.as_deref(), Some("HTTP 500: boom"));
    let failed =
        s.h.alerts
            .deliveries(&DeliveryFilter { webhook_id: Some(hook.id), ..Default::default() })
            .expect("deliveries")
            .into_iter()
            .filter(|x| x.status == DeliveryStatus::Failed)
            .count();
    assert_eq!(failed, 1, "one final failure per delivery");
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let s = setup();
    let (base, rx) = receiver(&[(429, Some("7"))], 200).await;
    let hook = s.add_webhook("limited", format!("{base}/h"), WebhookFormat::Json, None);
    s.route("provider_down", &[hook.id]);
    let alert = s.raise_down("binance").await;

    assert_eq!(s.sleeper.waits(), vec![7]);
    assert_eq!(rx.seen().len(), 2);
    let d = s.deliveries_of(alert.id);
    assert_eq!((d[0].http_status, d[1].status), (Some(429), DeliveryStatus::Delivered));
}

#[tokio::test]
async fn a_client_error_other_than_429_is_not_retried() {
    let s = setup();
    let (base, rx) = receiver(&[], 404).await;
    let hook = s.add_webhook("gone", format!("{base}/h"), WebhookFormat::Json, None);
    s.route("provider_down", &[hook.id]);
    let alert = s.raise_down("binance").await;

    assert_eq!(rx.seen().len(), 1);
    assert!(s.sleeper.waits().is_empty());
    let d = s.deliveries_of(alert.id);
    assert_eq!((d.len(), d[0].status, d[0].http_status), (1, DeliveryStatus::Failed, Some(404)));
}

#[tokio::test]
async fn resolves_are_sent_but_cooldown_repeats_are_not() {
    let s = setup();
    let (base, rx) = receiver(&[], 200).await;
    let hook = s.add_webhook("ops", format!("{base}/h"), WebhookFormat::Json, None);
    s.route("provider_down", &[hook.id]);

    s.raise_down("kucoin").await;
    s.h.advance_mins(2);
    s.h.handle(recovered("kucoin"));
    s.h.advance_mins(2);
    let repeat = s.h.handle(down("kucoin", 3)).remove(0);
    assert_eq!(repeat.suppressed, Some(Suppression::Cooldown));
    s.h.alerts.wait_for_deliveries().await;

    let events: Vec<String> =
        rx.seen().iter().map(|r| r.json()["event"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(events, vec!["alert.raised", "alert.resolved"]);
    assert!(s.deliveries_of(repeat.id).is_empty());
}

#[tokio::test]
async fn quiet_hours_do_not_hold_back_webhooks() {
    let s = setup();
    let (base, rx) = receiver(&[], 200).await;
    let hook = s.add_webhook("ops", format!("{base}/h"), WebhookFormat::Json, None);
    s.route("provider_degraded", &[hook.id]);
    s.h.alerts
        .set_quiet_hours(Some(QuietHours::parse("00:00", "23:59", QuietZone::Offset(0)).expect("valid")))
        .expect("set");
    let a = s.h.handle(state("gemini", ReportedHealth::Degraded, 3)).remove(0);
    s.h.alerts.wait_for_deliveries().await;
    assert_eq!(a.suppressed, Some(Suppression::QuietHours));
    assert_eq!(rx.seen().len(), 1);
}

#[tokio::test]
async fn test_webhook_sends_a_test_payload_and_reports_the_result() {
    let s = setup();
    let (base, rx) = receiver(&[(500, None)], 200).await;
    let hook = s.add_webhook("ops", format!("{base}/h"), WebhookFormat::Json, Some("whsec-x"));

    let failed = s.h.alerts.test_webhook(hook.id).await.expect("test");
    assert!(!failed.delivered);
    assert_eq!((failed.http_status, failed.error.as_deref()), (Some(500), Some("HTTP 500: boom")));
    let ok = s.h.alerts.test_webhook(hook.id).await.expect("test");
    assert_eq!((ok.delivered, ok.http_status, ok.error), (true, Some(200), None));
    assert_eq!(rx.seen().len(), 2, "a test is one attempt, no retries");

    let req = &rx.seen()[1];
    assert_eq!(req.json()["event"], "test");
    assert_eq!(req.header("x-keyward-signature"), format!("sha256={}", hmac_hex("whsec-x", &req.body)));

    let d = s.h.alerts.deliveries(&DeliveryFilter { webhook_id: Some(hook.id), ..Default::default() }).expect("d");
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|x| x.event == WebhookEvent::Test && x.alert_id.is_none()));

    let err = s.h.alerts.test_webhook(777).await.expect_err("unknown");
    assert!(matches!(err, AlertError::NotFound { what: "webhook", id: 777 }), "{err}");
}

#[tokio::test]
async fn an_unreachable_webhook_fails_without_leaking_its_url() {
    let s = setup();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let hook = s.add_webhook(
        "slack",
        format!("http://127.0.0.1:{port}/services/T0/B0/SECRETTOKEN"),
        WebhookFormat::Slack,
        None,
    );
    let result = s.h.alerts.test_webhook(hook.id).await.expect("test");
    assert!(!result.delivered);
    let error = result.error.expect("error");
    assert!(error.starts_with("could not connect"), "{error}");
    assert!(!error.contains("SECRETTOKEN"), "{error}");
    assert!(!format!("{hook:?}").contains("SECRETTOKEN"));
    assert_eq!(hook.display_url(), "http://127.0.0.1/…");
}

#[tokio::test]
async fn the_webhook_secret_never_reaches_the_database_file() {
    const CANARY: &str = "whsec-CANARY-7f3a9b21c4";
    const CANARY2: &str = "whsec-CANARY-rotated-55e1";
    let s = setup();
    let (base, rx) = receiver(&[(500, None)], 200).await;
    let hook = s.add_webhook("ops", format!("{base}/h"), WebhookFormat::Json, Some(CANARY));
    s.route("provider_down", &[hook.id]);
    s.raise_down("binance").await;
    s.h.alerts.test_webhook(hook.id).await.expect("test");
    let rotated =
        s.h.alerts.set_webhook_secret(hook.id, Some(SecretString::from(CANARY2.to_string()))).expect("rotate");
    s.h.alerts.test_webhook(hook.id).await.expect("test");
    assert_eq!(rx.seen().len(), 4);

    // The secret is in the credential store under the reference, the reference in SQLite.
    let reference = rotated.secret_ref.clone().expect("secret ref");
    assert!(reference.starts_with("webhook-hmac-"));
    assert!(s.h.secrets.get(&reference).expect("get").is_some());
    assert!(s.h.secrets.get(hook.secret_ref.as_deref().expect("old ref")).expect("get").is_none(), "old one removed");

    let db = s.h.store.path().to_path_buf();
    let mut scanned = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(bytes) = std::fs::read(&path) {
            scanned += bytes.len();
            for canary in [CANARY, CANARY2] {
                assert!(
                    !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                    "{canary} found in {}",
                    path.display()
                );
            }
        }
    }
    assert!(scanned > 0);
    for w in s.h.alerts.webhooks().expect("webhooks") {
        assert!(!format!("{w:?}").contains("CANARY"));
    }
    assert!(s.h.dir.path().exists());
}

#[tokio::test]
async fn webhooks_are_validated_and_removal_cleans_up() {
    let s = setup();
    let err =
        s.h.alerts
            .add_webhook(NewWebhook {
                name: "remote".into(),
                url: "http://hooks.example.com/x".into(),
                format: WebhookFormat::Json,
                secret: None,
                allow_insecure_http: false,
            })
            .expect_err("plain http to a remote host");
    assert!(err.to_string().contains("plain http"), "{err}");

    let hook = s.add_webhook("ops", "https://hooks.example.com/x".into(), WebhookFormat::Json, Some("s"));
    let err = s.h.alerts.add_webhook(NewWebhook {
        name: "ops".into(),
        url: "https://hooks.example.com/y".into(),
        format: WebhookFormat::Json,
        secret: None,
        allow_insecure_http: false,
    });
    assert!(err.expect_err("duplicate").to_string().contains("\"ops\" already exists"));

    s.route("provider_down", &[hook.id]);
    let reference = hook.secret_ref.clone().expect("ref");
    s.h.alerts.remove_webhook(hook.id).expect("remove");
    assert!(s.h.secrets.get(&reference).expect("get").is_none());
    assert!(s.h.rule_of_kind("provider_down").channels.webhooks.is_empty());
    assert!(s.h.alerts.webhooks().expect("list").is_empty());
}

/// Never finishes; tells the test when a delivery started waiting.
struct StuckSleeper {
    waiting: tokio::sync::mpsc::UnboundedSender<Duration>,
}

impl Sleeper for StuckSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let _ = self.waiting.send(duration);
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn stopping_the_worker_records_a_waiting_retry_as_failed() {
    let h = Harness::new();
    let (tx, mut waiting) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let worker = h
        .alerts
        .run_webhooks_with(cancel.clone(), DeliveryPolicy::default(), Arc::new(StuckSleeper { waiting: tx }))
        .expect("worker");
    assert!(matches!(h.alerts.run_webhooks(cancel.clone()), Err(AlertError::AlreadyRunning)));
    let (base, _rx) = receiver(&[], 503).await;
    let hook = h
        .alerts
        .add_webhook(NewWebhook {
            name: "ops".into(),
            url: format!("{base}/h"),
            format: WebhookFormat::Json,
            secret: None,
            allow_insecure_http: false,
        })
        .expect("add");
    let rule = h.rule_of_kind("provider_down");
    let mut new = NewRule::from(rule.clone());
    new.channels.webhooks = vec![hook.id];
    h.alerts.update_rule(rule.id, new).expect("route");
    let alert = h.handle(down("binance", 3)).remove(0);

    assert_eq!(waiting.recv().await, Some(Duration::from_secs(1)));
    cancel.cancel();
    h.alerts.wait_for_deliveries().await;
    worker.await.expect("worker ends");

    let mut d = h.alerts.deliveries(&DeliveryFilter { alert_id: Some(alert.id), ..Default::default() }).expect("d");
    d.reverse();
    let got: Vec<(u32, DeliveryStatus)> = d.iter().map(|x| (x.attempt, x.status)).collect();
    assert_eq!(got, vec![(1, DeliveryStatus::Retrying), (2, DeliveryStatus::Failed)]);
    assert!(d[1].error.as_deref().unwrap_or_default().contains("stopped"));
}
