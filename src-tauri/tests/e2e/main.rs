//! End-to-end test of the real desktop app: the built `keyward-desktop` binary in a real
//! WebKitGTK window under Xvfb, driven through tauri-driver and WebKitWebDriver.
//!
//! `make test` provides what this needs: a display (xvfb-run), a session bus with an unlocked
//! gnome-keyring (dbus-run-session), and tauri-driver in `.tools/bin`. Screenshots of every page
//! are written to `target/e2e/`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

mod backup;
mod gateway;
mod limits_audit;
mod status;
mod vault;

/// How long the driver may take to start listening, and the app to show a value.
const STARTUP: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// Keyward is single-instance: tests that launch it take turns.
static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const PAGES: &[(&str, &str)] = &[
    ("dashboard", "Dashboard"),
    ("keys", "Keys"),
    ("providers", "Providers"),
    ("status", "Status"),
    ("limits", "Rate limits"),
    ("gateway", "Gateway"),
    ("usage", "Usage"),
    ("alerts", "Alerts"),
    ("audit", "Audit"),
    ("settings", "Settings"),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn screenshot_dir() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    target.join("e2e")
}

fn tauri_driver() -> PathBuf {
    if let Some(p) = std::env::var_os("TAURI_DRIVER") {
        return PathBuf::from(p);
    }
    let local = workspace_root().join(".tools/bin/tauri-driver");
    assert!(
        local.exists(),
        "tauri-driver not found at {}; `make test` installs it (or set TAURI_DRIVER)",
        local.display()
    );
    local
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// tauri-driver, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Like `start`, with extra environment variables for the app (e.g. KEYWARD_VAULT=file).
    fn start_with(data_dir: &Path, envs: &[(&str, &str)]) -> Self {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "the desktop e2e test needs a display: run it with `make test` (xvfb-run)"
        );
        let port = free_port();
        let native_port = free_port();
        let child = Command::new(tauri_driver())
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("KEYWARD_DATA_DIR", data_dir)
            // The app's bot gateway on a free port: never the default one a real Keyward (or
            // another test run) may hold.
            .env(keyward::service::GATEWAY_PORT_ENV, "0")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tauri-driver starts");
        let driver = Self { child, port };
        let deadline = Instant::now() + STARTUP;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not listen on port {port} within {STARTUP:?}");
            std::thread::sleep(POLL);
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // End tauri-driver's WebKitWebDriver too, so nothing outlives the test.
        let _ = Command::new("pkill").args(["-KILL", "-P", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(driver: &Driver) -> Client {
    // Two rustls crypto providers are compiled in (ring via reqwest, aws-lc-rs via
    // fantoccini); choose one explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = env!("CARGO_BIN_EXE_keyward-desktop");
    let caps = serde_json::json!({
        "browserName": "wry",
        "tauri:options": { "application": app },
    });
    let caps = match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("capabilities are an object"),
    };
    let url = format!("http://127.0.0.1:{}", driver.port);
    let mut builder = ClientBuilder::rustls().expect("TLS roots");
    builder.capabilities(caps);
    tokio::time::timeout(STARTUP, builder.connect(&url))
        .await
        .unwrap_or_else(|_| panic!("no WebDriver session with the Keyward app within {STARTUP:?}"))
        .expect("a WebDriver session with the Keyward app")
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(STARTUP)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
        .text()
        .await
        .expect("element text")
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_core_values_and_every_page_opens() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    assert_eq!(client.title().await.expect("title"), "Keyward");

    // Values that can only come from the Rust core.
    assert_eq!(text_of(&client, "[data-testid=info-version]").await, keyward::VERSION);
    assert_eq!(
        text_of(&client, "[data-testid=info-schema]").await,
        format!("v{}", keyward::store::LATEST_SCHEMA_VERSION)
    );
    assert_eq!(text_of(&client, "[data-testid=info-data-dir]").await, data_dir.path().display().to_string());
    let backend = text_of(&client, "[data-testid=info-backend]").await;
    assert!(backend.contains("Secret Service"), "secret backend shown: {backend}");
    assert_eq!(text_of(&client, "[data-testid=info-backend-state]").await, "available");
    assert!(data_dir.path().join(keyward::DATABASE_FILE).exists(), "the app created its database");
    screenshot(&client, "dashboard").await;

    for (id, title) in PAGES.iter().rev() {
        client
            .find(Locator::Css(&format!("[data-testid=nav-{id}]")))
            .await
            .expect("nav button")
            .click()
            .await
            .expect("click");
        let heading = text_of(&client, &format!("[data-testid=page-{id}] h1")).await;
        assert_eq!(heading, *title, "page {id}");
        screenshot(&client, &format!("page-{id}")).await;
    }

    client.close().await.expect("session closes");
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(STARTUP)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("could not click {css}: {e}"));
}

/// Waits until the element's text contains `needle` (the UI updates asynchronously).
async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + STARTUP;
    let mut last = None;
    loop {
        if let Ok(el) = client.find(Locator::Css(css)).await {
            if let Ok(text) = el.text().await {
                if text.contains(needle) {
                    return text;
                }
                last = Some(text);
            }
        }
        if Instant::now() >= deadline {
            // Keep what the window showed, to see why.
            screenshot(client, "failure").await;
            match last {
                Some(text) => panic!("{css} never showed {needle:?}; last text: {text:?} (see target/e2e/failure.png)"),
                None => panic!("{css} never appeared (see target/e2e/failure.png)"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A stand-in for Binance's public endpoints on 127.0.0.1.
async fn mock_binance() -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/api/v3/time", get(|| async { axum::Json(serde_json::json!({"serverTime": 1_767_225_600_000_i64})) }))
        .route(
            "/api/v3/exchangeInfo",
            get(|| async {
                // Binance's current limits: the 10-second order budget differs from the preset's
                // per-second rule, so the app must take it from here.
                axum::Json(serde_json::json!({"timezone": "UTC", "symbols": [], "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000}
                ]}))
            }),
        )
        .route(
            "/sapi/v1/system/status",
            get(|| async { axum::Json(serde_json::json!({"status": 1, "msg": "system maintenance"})) }),
        )
        .route(
            "/sapi/v1/account/apiRestrictions",
            get(|| async {
                axum::Json(serde_json::json!({
                    "ipRestrict": false, "enableReading": true, "enableWithdrawals": true, "enableSpotAndMarginTrading": false
                }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_points_binance_at_a_local_server_and_tests_the_connection() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let base_url = mock_binance().await;
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-providers]").await;
    click(&client, "[data-testid=provider-row-binance]").await;
    wait_for_text(&client, "[data-testid=provider-title]", "Binance").await;

    let field = client
        .wait()
        .at_most(STARTUP)
        .for_element(Locator::Css("[data-testid=base-url-production]"))
        .await
        .expect("base URL field");
    field.clear().await.expect("clear");
    field.send_keys(&base_url).await.expect("type the base URL");
    click(&client, "[data-testid=provider-save]").await;
    wait_for_text(&client, "[data-testid=provider-notice]", "Saved 1 change").await;
    wait_for_text(&client, "[data-testid=provider-row-binance]", "modified").await;

    click(&client, "[data-testid=provider-test]").await;
    let time = wait_for_text(&client, "[data-testid=check-server_time]", "OK").await;
    assert!(time.contains("2026-01-01T00:00:00.000Z"), "server time shown: {time}");
    let status = wait_for_text(&client, "[data-testid=check-system_status]", "OK").await;
    assert!(status.contains("maintenance"), "status shown: {status}");
    screenshot(&client, "providers").await;

    // A bad value is refused with the field and value named, and nothing is saved.
    let timeout = client.find(Locator::Css("[data-testid=timeout]")).await.expect("timeout field");
    timeout.clear().await.expect("clear");
    timeout.send_keys("0").await.expect("type");
    click(&client, "[data-testid=provider-save]").await;
    let err = wait_for_text(&client, "[data-testid=provider-error]", "timeout_ms").await;
    assert!(err.contains('0'), "error names the value: {err}");
    screenshot(&client, "providers-error").await;

    client.close().await.expect("session closes");
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let el = client
        .wait()
        .at_most(STARTUP)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"));
    // A controlled input may re-render its old value after `clear()` (WebDriver's clear fires
    // no input event): delete what is left key by key, then type, and check the result.
    for _ in 0..3 {
        el.clear().await.expect("clear");
        let left = el.prop("value").await.expect("value").unwrap_or_default();
        if !left.is_empty() {
            let backspaces = "\u{e003}".repeat(left.chars().count());
            el.send_keys(&backspaces).await.expect("delete");
        }
        el.send_keys(text).await.expect("type");
        if el.prop("value").await.expect("value").unwrap_or_default() == text {
            return;
        }
    }
    panic!("{css} would not take the text {text:?}");
}

/// Waits until no element matches `css` (e.g. a revealed secret hiding itself).
async fn wait_until_gone(client: &Client, css: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while client.find(Locator::Css(css)).await.is_ok() {
        assert!(Instant::now() < deadline, "{css} was still shown after {within:?}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_adds_reveals_checks_and_rotates_a_key() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let base_url = mock_binance().await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        kw.providers()
            .set("binance", &[("environments.production.base_url", base_url.as_str())])
            .expect("point binance at the mock");
    }
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-keys]").await;
    wait_for_text(&client, "[data-testid=keys-empty]", "No keys yet").await;
    screenshot(&client, "keys-empty").await;

    click(&client, "[data-testid=key-add]").await;
    wait_for_text(&client, "[data-testid=add-key-provider]", "Binance").await;
    client
        .find(Locator::Css("[data-testid=add-key-provider]"))
        .await
        .expect("provider select")
        .select_by_value("binance")
        .await
        .expect("choose Binance");
    type_into(&client, "[data-testid=add-key-label]", "e2e-main").await;
    type_into(&client, "[data-testid=add-key-apikey]", "e2e-public-key-Bx9Q").await;
    type_into(&client, "[data-testid=add-key-secret]", "e2e-secret-value-41").await;
    click(&client, "[data-testid=add-key-submit]").await;
    let row = wait_for_text(&client, "[data-testid='key-row-binance/e2e-main']", "Bx9Q").await;
    assert!(!row.contains("e2e-public-key"), "the key is masked: {row}");

    // Reveal needs a confirmation, shows the secret, and hides it again by itself.
    click(&client, "[data-testid=key-reveal]").await;
    click(&client, "[data-testid=reveal-confirm-yes]").await;
    wait_for_text(&client, "[data-testid=key-secret]", "e2e-secret-value-41").await;
    screenshot(&client, "keys-revealed").await;
    wait_until_gone(&client, "[data-testid=key-secret]", Duration::from_secs(25)).await;

    // Check permissions: the mock says withdrawals are on and there is no IP restriction.
    click(&client, "[data-testid=key-check]").await;
    let report = wait_for_text(&client, "[data-testid=key-report]", "withdraw").await;
    assert!(report.contains("withdrawals are enabled"), "{report}");
    wait_for_text(&client, "[data-testid=risk-no_ip_restriction]", "no ip restriction").await;

    // Rotate: a new secret becomes version 2 after the exchange accepts it.
    click(&client, "[data-testid=key-rotate]").await;
    type_into(&client, "[data-testid=rotate-secret]", "e2e-rotated-secret-42").await;
    click(&client, "[data-testid=rotate-submit]").await;
    let done = wait_for_text(&client, "[data-testid=rotate-done]", "version 2").await;
    assert!(done.contains("verified"), "{done}");
    screenshot(&client, "keys-rotated").await;

    client.close().await.expect("session closes");

    // The secret never reached the database.
    let db = std::fs::read(data_dir.path().join(keyward::DATABASE_FILE)).expect("db");
    for secret in [&b"e2e-secret-value-41"[..], b"e2e-rotated-secret-42"] {
        assert!(!db.windows(secret.len()).any(|w| w == secret), "a secret is in the database");
    }
    let kw = keyward::Keyward::open(data_dir.path()).expect("core");
    let versions = kw.keys().versions("binance", "e2e-main").expect("versions");
    assert_eq!(versions.iter().find(|v| v.active).map(|v| v.version), Some(2));
}
