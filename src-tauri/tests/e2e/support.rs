//! What the e2e tests share: tauri-driver and a WebDriver session with the app, the waits,
//! clicks and typing, screenshots, and a stand-in for Binance's public endpoints.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// How long the driver may take to start listening, and the app to show a value.
pub(crate) const STARTUP: Duration = Duration::from_secs(60);
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Keyward is single-instance: tests that launch it take turns.
pub(crate) static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
pub(crate) struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub(crate) fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Like `start`, with extra environment variables for the app (e.g. KEYWARD_VAULT=file).
    pub(crate) fn start_with(data_dir: &Path, envs: &[(&str, &str)]) -> Self {
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

pub(crate) async fn connect(driver: &Driver) -> Client {
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

pub(crate) async fn text_of(client: &Client, css: &str) -> String {
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

pub(crate) async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

pub(crate) async fn click(client: &Client, css: &str) {
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
pub(crate) async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
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
pub(crate) async fn mock_binance() -> String {
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

pub(crate) async fn type_into(client: &Client, css: &str, text: &str) {
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
pub(crate) async fn wait_until_gone(client: &Client, css: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while client.find(Locator::Css(css)).await.is_ok() {
        assert!(Instant::now() < deadline, "{css} was still shown after {within:?}");
        tokio::time::sleep(POLL).await;
    }
}
