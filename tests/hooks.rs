//! Incoming webhooks and status feeds as a sending service sees them: `POST /hooks/<id>` on the
//! gateway's real port, signed with an HMAC computed here (not by Keyward's code), with the
//! hook's secret in the OS credential store; and a provider's status page served by a mock on
//! 127.0.0.1 that Keyward's own services poll.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use keyward::alerts::AlertFilter;
use keyward::hooks::{HookAuth, HookDeliveryView, HookView, IssuedHookView, NewHook};
use keyward::monitor::{HealthState, MonitorEvent};
use keyward::Keyward;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::support::mock_exchange::{Auth, MockExchange};
use crate::support::{keyward, stderr, stdout};

const MAINTENANCE_WEBHOOK: &str = include_str!("../src/hooks/samples/statuspage_maintenance.json");
const MAINTENANCE_SUMMARY: &str = include_str!("../src/hooks/samples/statuspage_summary.json");
/// Long enough for a loaded CI machine; every wait ends at the event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

struct Receiver {
    kw: Keyward,
    url: String,
    http: reqwest::Client,
    _server: keyward::gateway::GatewayServer,
    dir: tempfile::TempDir,
}

/// A Keyward on the OS credential store with its gateway on a free port.
async fn receiver() -> Receiver {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open(dir.path()).expect("core opens on the OS credential store");
    let server = keyward::gateway::serve(&kw, 0, CancellationToken::new()).await.expect("gateway listens");
    Receiver { kw, url: format!("http://{}", server.addr), http: reqwest::Client::new(), _server: server, dir }
}

fn add(r: &Receiver, name: &str, provider: Option<&str>, auth: HookAuth) -> IssuedHookView {
    r.kw.add_hook(&NewHook { name: name.into(), provider: provider.map(String::from), auth }).expect("hook created")
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, as docs/WEBHOOKS.md tells a sender to compute it.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn generic(title: &str, extra: Value) -> Vec<u8> {
    let mut v =
        json!({"title": title, "message": "from the test", "severity": "warning", "timestamp": Utc::now().timestamp()});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v.to_string().into_bytes()
}

async fn post(r: &Receiver, url: &str, body: Vec<u8>, signature: Option<&str>) -> (u16, Value) {
    let mut req = r.http.post(url).header("Content-Type", "application/json").body(body);
    if let Some(s) = signature {
        req = req.header("X-Keyward-Signature", s);
    }
    let resp = req.send().await.expect("the gateway answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn deliveries(r: &Receiver, hook: &str) -> Vec<HookDeliveryView> {
    r.kw.hook_deliveries(Some(hook)).expect("deliveries")
}

fn alert_titles(kw: &Keyward) -> Vec<String> {
    kw.alerts()
        .list(&AlertFilter { limit: 100, ..Default::default() })
        .expect("alerts")
        .into_iter()
        .map(|a| a.title)
        .collect()
}

fn state_of(kw: &Keyward, provider: &str) -> Option<(String, String)> {
    kw.provider_statuses()
        .expect("statuses")
        .into_iter()
        .find(|s| s.provider == provider)
        .map(|s| (s.state.clone(), s.cause.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_delivery_becomes_an_alert_and_is_listed_with_its_result() {
    let r = receiver().await;
    let hook = add(&r, "ops-bot", None, HookAuth::Signature);
    assert_eq!(hook.send_url, hook.hook.url, "a signed hook's URL holds no secret");
    assert!(hook.hook.url.starts_with(&r.url), "{} is on the gateway {}", hook.hook.url, r.url);

    let body = generic("Grid bot stopped", json!({"severity": "critical"}));
    let (status, answer) = post(&r, &hook.hook.url, body.clone(), Some(&sign(&hook.secret, &body))).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["outcome"][0], "alert \"Grid bot stopped\"");

    let alerts = r.kw.alerts().list(&AlertFilter::default()).expect("alerts");
    let alert = alerts.iter().find(|a| a.title == "Grid bot stopped").expect("the delivery raised an alert");
    assert_eq!(alert.severity.as_str(), "critical");
    assert_eq!(alert.body, "from the test (reported by hook ops-bot)");
    let listed = deliveries(&r, "ops-bot");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].http_status, listed[0].result.as_str()), (202, "accepted"));
    assert_eq!(listed[0].detail, "alert \"Grid bot stopped\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_missing_stale_and_replayed_signatures_are_refused_with_401() {
    let r = receiver().await;
    let hook = add(&r, "signed", None, HookAuth::Signature);
    let body = generic("Should not appear", json!({}));

    let (status, answer) = post(&r, &hook.hook.url, body.clone(), Some(&sign("not-the-secret", &body))).await;
    assert_eq!((status, answer["error"]["kind"].as_str()), (401, Some("unauthorized")), "{answer}");
    let (status, answer) = post(&r, &hook.hook.url, body.clone(), None).await;
    assert_eq!(status, 401);
    assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("X-Keyward-Signature header is missing")));

    let old = generic("Old news", json!({"timestamp": Utc::now().timestamp() - 600}));
    let (status, answer) = post(&r, &hook.hook.url, old.clone(), Some(&sign(&hook.secret, &old))).await;
    assert_eq!(status, 401, "a delivery sent 10 minutes ago is outside the tolerance: {answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("more than the 300 s allowed")), "{answer}");

    let fresh = generic("Once only", json!({}));
    let sig = sign(&hook.secret, &fresh);
    assert_eq!(post(&r, &hook.hook.url, fresh.clone(), Some(&sig)).await.0, 202);
    let (status, answer) = post(&r, &hook.hook.url, fresh, Some(&sig)).await;
    assert_eq!(status, 401, "the same delivery again is a replay: {answer}");

    let titles = alert_titles(&r.kw);
    assert!(titles.contains(&"Once only".to_string()));
    assert!(!titles.iter().any(|t| t == "Should not appear" || t == "Old news"), "{titles:?}");
    let results: Vec<(u16, String)> =
        deliveries(&r, "signed").into_iter().rev().map(|d| (d.http_status, d.result)).collect();
    let want = [(401, "bad_signature"), (401, "bad_signature"), (401, "stale"), (202, "accepted"), (401, "stale")];
    assert_eq!(results, want.map(|(s, r)| (s, r.to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_and_malformed_ones_400_naming_the_field() {
    let r = receiver().await;
    let hook = add(&r, "strict", None, HookAuth::Signature);

    let huge = generic(&"x".repeat(keyward::hooks::MAX_BODY_BYTES), json!({}));
    let (status, answer) = post(&r, &hook.hook.url, huge.clone(), Some(&sign(&hook.secret, &huge))).await;
    assert_eq!((status, answer["error"]["kind"].as_str()), (413, Some("tooLarge")), "{answer}");

    let not_json = b"title=hello".to_vec();
    let (status, answer) = post(&r, &hook.hook.url, not_json.clone(), Some(&sign(&hook.secret, &not_json))).await;
    assert_eq!((status, answer["error"]["kind"].as_str()), (400, Some("invalid")), "{answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("not JSON")), "{answer}");

    let bad_severity = generic("Loud", json!({"severity": "apocalyptic"}));
    let (status, answer) =
        post(&r, &hook.hook.url, bad_severity.clone(), Some(&sign(&hook.secret, &bad_severity))).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"].as_str().is_some_and(|m| m.contains("field \"severity\" = \"apocalyptic\"")),
        "{answer}"
    );

    let unknown = r.http.post(format!("{}/hooks/h0000000000000000", r.url)).body("{}").send().await.expect("answers");
    assert_eq!(unknown.status().as_u16(), 404);

    let results: Vec<String> = deliveries(&r, "strict").into_iter().rev().map(|d| d.result).collect();
    assert_eq!(results, ["too_large", "malformed", "malformed"]);
    assert!(!alert_titles(&r.kw).iter().any(|t| t == "Loud"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_limited_per_hook_with_429_and_retry_after() {
    let r = receiver().await;
    let noisy = add(&r, "noisy", None, HookAuth::UrlSecret);
    let quiet = add(&r, "quiet", None, HookAuth::UrlSecret);
    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..30 {
        let resp = r
            .http
            .post(&noisy.send_url)
            .body(json!({"title": format!("event {i}"), "severity": "info"}).to_string())
            .send()
            .await
            .expect("answers");
        if resp.status().as_u16() == 429 {
            retry_after = retry_after.or(resp.headers().get("retry-after").cloned());
        }
        statuses.push(resp.status().as_u16());
    }
    let elapsed = started.elapsed();
    let burst = keyward::hooks::flood::BURST as usize;
    assert!(statuses[..burst].iter().all(|s| *s == 202), "the burst passes: {statuses:?}");
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    // The bucket refills one request per REFILL_EVERY while the loop runs.
    let refilled = (elapsed.as_secs_f64() / keyward::hooks::flood::REFILL_EVERY.as_secs_f64()).ceil() as usize;
    assert!(accepted <= burst + refilled, "{accepted} accepted in {elapsed:?}: {statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry_after.is_some(), "a 429 says when to try again");

    let (status, _) = post(&r, &quiet.send_url, br#"{"title":"still heard"}"#.to_vec(), None).await;
    assert_eq!(status, 202, "another hook is not limited by this one's flood");
    let limited = deliveries(&r, "noisy").iter().filter(|d| d.result == "rate_limited").count();
    assert_eq!(limited, statuses.iter().filter(|s| **s == 429).count(), "every refusal is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statuspage_webhook_with_the_secret_in_the_url_puts_the_provider_in_maintenance() {
    let r = receiver().await;
    let hook = add(&r, "kraken-status", Some("kraken"), HookAuth::UrlSecret);
    assert!(hook.send_url.ends_with(&format!("?secret={}", hook.secret)));

    let (status, _) = post(&r, &hook.hook.url, MAINTENANCE_WEBHOOK.as_bytes().to_vec(), None).await;
    assert_eq!(status, 401, "without the URL's secret");
    let wrong = format!("{}?secret=kwh_wrong", hook.hook.url);
    assert_eq!(post(&r, &wrong, MAINTENANCE_WEBHOOK.as_bytes().to_vec(), None).await.0, 401);
    assert_ne!(state_of(&r.kw, "kraken").map(|s| s.0).as_deref(), Some("maintenance"));

    let (status, answer) = post(&r, &hook.send_url, MAINTENANCE_WEBHOOK.as_bytes().to_vec(), None).await;
    assert_eq!(status, 202, "{answer}");
    let (state, cause) = state_of(&r.kw, "kraken").expect("kraken is on the Status page");
    assert_eq!(state, "maintenance");
    assert_eq!(cause, "kraken-status: maintenance: Spot trading engine upgrade");
    assert!(alert_titles(&r.kw).contains(&"kraken-status: maintenance: Spot trading engine upgrade".to_string()));

    // The page reports the maintenance completed: the announcement is withdrawn.
    let done = MAINTENANCE_WEBHOOK
        .replace("\"status\": \"in_progress\",\n    \"updated_at\"", "\"status\": \"completed\",\n    \"updated_at\"");
    assert_ne!(done, MAINTENANCE_WEBHOOK, "the sample's status was replaced");
    assert_eq!(post(&r, &hook.send_url, done.into_bytes(), None).await.0, 202);
    assert_ne!(state_of(&r.kw, "kraken").map(|s| s.0).as_deref(), Some("maintenance"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_secret_is_in_the_credential_store_and_nowhere_in_the_database() {
    let r = receiver().await;
    let hook = add(&r, "secretive", None, HookAuth::Signature);
    let stored = r.kw.hooks().get("secretive").expect("stored");
    let from_store = r.kw.secrets().get(&stored.secret_ref).expect("in the OS credential store");
    assert_eq!(keyward::vault::ExposeSecret::expose_secret(&from_store), hook.secret.as_str());
    r.kw.flush();
    for file in ["keyward.db", "keyward.db-wal"] {
        let bytes = std::fs::read(r.dir.path().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&hook.secret), "the secret is in {file}");
    }
    r.kw.hooks().remove("secretive").expect("removed");
    assert!(r.kw.secrets().get(&stored.secret_ref).is_err(), "removing the hook deletes its secret");
    let body = generic("after removal", json!({}));
    assert_eq!(post(&r, &hook.hook.url, body, None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_feed_reporting_maintenance_puts_the_provider_in_maintenance_until_it_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw =
        Keyward::open_with_secrets(dir.path(), std::sync::Arc::new(keyward::vault::MemoryStore::new())).expect("core");
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/time", json!({"serverTime": 1_700_000_000_000_u64}));
    mock.route("GET /sapi/v1/system/status", json!({"status": 0, "msg": "normal"}));
    let summary: Value = serde_json::from_str(MAINTENANCE_SUMMARY).expect("sample");
    mock.route("GET /busy/api/v2/summary.json", summary);
    mock.route(
        "GET /calm/api/v2/summary.json",
        json!({"page": {"name": "Binance"}, "components": [{"name": "API", "status": "operational"}], "incidents": [], "scheduled_maintenances": []}),
    );
    // Through the same dotted path `keyward provider set binance status_feed=URL` uses.
    let feed = format!("{}/busy/api/v2/summary.json", mock.base_url);
    kw.providers()
        .set(
            "binance",
            &[
                ("environments.production.base_url".to_string(), mock.base_url.clone()),
                ("status_feed".to_string(), feed),
            ],
        )
        .expect("feed URL accepted");
    kw.providers().set_enabled("binance", true).expect("enabled");

    let mut events = kw.monitor().subscribe();
    let services = keyward::service::start(&kw).await.expect("services start");
    let change = wait_for_state(&mut events, "binance", HealthState::Maintenance).await;
    assert_eq!(change, "status page: maintenance in progress: Spot trading engine upgrade");
    let (state, _) = state_of(&kw, "binance").expect("on the Status page");
    assert_eq!(state, "maintenance");
    let titles = alert_titles(&kw);
    assert!(
        titles.iter().any(|t| t == "Binance status page: Delayed withdrawals (identified)"),
        "the page's open incident is an alert: {titles:?}"
    );
    assert!(
        titles.iter().any(|t| t == "binance announced maintenance"),
        "the scheduled drill is announced: {titles:?}"
    );

    // The page says all is well again (a new feed URL is read at once).
    let calm = format!("{}/calm/api/v2/summary.json", mock.base_url);
    kw.providers().set("binance", &[("status_feed".to_string(), calm)]).expect("feed URL accepted");
    wait_for_state(&mut events, "binance", HealthState::Up).await;
    let open: Vec<String> = kw
        .alerts()
        .list(&AlertFilter { limit: 100, ..Default::default() })
        .expect("alerts")
        .into_iter()
        .filter(|a| a.resolved_at.is_none() && a.title.contains("Delayed withdrawals"))
        .map(|a| a.title)
        .collect();
    assert!(open.is_empty(), "the incident that left the page is resolved: {open:?}");
    services.stop().await;
}

async fn wait_for_state(
    events: &mut tokio::sync::broadcast::Receiver<MonitorEvent>,
    provider: &str,
    want: HealthState,
) -> String {
    tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            match events.recv().await {
                Ok(MonitorEvent::StateChanged { provider: p, to, cause, .. }) if p == provider && to == want => {
                    return cause
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("monitor events ended: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{provider} did not turn {want} within {EVENT_TIMEOUT:?}"))
}

#[test]
fn the_cli_adds_lists_and_removes_hooks_printing_the_core_views() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = keyward(dir.path(), &["--json", "hooks", "add", "tv-alerts", "--provider", "binance", "--url-secret"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let issued: IssuedHookView = serde_json::from_str(&stdout(&out)).expect("the issued view");
    assert_eq!(issued.hook.auth, "urlSecret");
    assert!(issued.send_url.contains(&issued.secret));

    let out = keyward(dir.path(), &["--json", "hooks", "list"]);
    let listed: Vec<HookView> = serde_json::from_str(&stdout(&out)).expect("the list view");
    let kw = Keyward::open(dir.path()).expect("core");
    assert_eq!(listed, kw.hook_views().expect("views"), "the CLI prints what the desktop shows");
    assert_eq!(listed, vec![issued.hook.clone()]);
    assert!(!stdout(&out).contains(&issued.secret), "the list never shows the secret");

    let out = keyward(dir.path(), &["hooks", "add", "tv-alerts"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("a hook named \"tv-alerts\" exists already"), "{}", stderr(&out));
    let out = keyward(dir.path(), &["hooks", "add", "x", "--provider", "nosuch"]);
    assert!(stderr(&out).contains("hook provider \"nosuch\": there is no such provider"), "{}", stderr(&out));

    let out = keyward(dir.path(), &["hooks", "remove", "tv-alerts"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(kw.hook_views().expect("views").is_empty());

    let out = keyward(dir.path(), &["provider", "set", "kraken", "status_feed=htp://status.kraken.com"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("status_feed \"htp://status.kraken.com\" is not an http(s) URL"), "{}", stderr(&out));
    let out = keyward(
        dir.path(),
        &["provider", "set", "kraken", "status_feed=https://status.kraken.com/api/v2/summary.json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let spec = kw.providers().get("kraken").expect("kraken").spec;
    assert_eq!(spec.status_feed.as_deref(), Some("https://status.kraken.com/api/v2/summary.json"));
}
