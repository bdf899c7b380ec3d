//! What the e2e tests share: tauri-driver and a WebDriver session with the app, the one
//! polling helper ([`wait_until`]) and the waits built on it, clicks and typing, screenshots,
//! and a stand-in for Binance's public endpoints.

use std::fmt::Display;
use std::future::Future;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};

/// How long the driver may take to start listening, and the app to show a value.
pub(crate) const STARTUP: Duration = Duration::from_secs(60);
/// How often [`wait_until`] looks again.
const POLL: Duration = Duration::from_millis(100);

/// The window's minimum size (tauri.conf.json): every page must fit it.
pub(crate) const MIN_WINDOW: (u32, u32) = (880, 560);

/// Keyward is single-instance: tests that launch it take turns.
pub(crate) static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Polls `probe` every [`POLL`] until it returns `Ok`, and returns that value. While the
/// condition does not hold the probe returns `Err(what it saw)`; after `timeout` this panics
/// naming `what` and the last thing seen, having saved a screenshot of `window` (when given)
/// as `failure.png`. A probe that does not answer by the deadline is cut short.
///
/// The only place the e2e tests wait by polling: every wait below is a probe for it.
pub(crate) async fn wait_until<T, S, F, Fut>(what: &str, timeout: Duration, window: Option<&Client>, mut probe: F) -> T
where
    S: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: Option<S> = None;
    loop {
        if let Ok(seen) = tokio::time::timeout_at(deadline, probe()).await {
            match seen {
                Ok(value) => return value,
                Err(seen) => last = Some(seen),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let seen = last.map_or_else(|| "no answer".to_string(), |s| s.to_string());
            let shot = match window {
                Some(client) => format!(" (see {})", save_failure_screenshot(client).await),
                None => String::new(),
            };
            panic!("waited {timeout:?} until {what}; last seen: {seen}{shot}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What a WebDriver error says about an element a probe looked for.
pub(crate) fn seen(css: &str, e: CmdError) -> String {
    if e.is_no_such_element() {
        format!("no {css} on the page")
    } else {
        format!("{css}: {e}")
    }
}

/// The element `css`, once it is on the page.
pub(crate) async fn element(client: &Client, css: &str) -> Element {
    wait_until(&format!("{css} is on the page"), STARTUP, Some(client), || async move {
        client.find(Locator::Css(css)).await.map_err(|e| seen(css, e))
    })
    .await
}

/// The text of `css` once it is on the page, as it is then.
pub(crate) async fn text_of(client: &Client, css: &str) -> String {
    element(client, css).await.text().await.unwrap_or_else(|e| panic!("the text of {css}: {e}"))
}

/// For a probe: the text of `css` now, or what was seen instead (it is not on the page).
pub(crate) async fn current_text(client: &Client, css: &str) -> Result<String, String> {
    client.find(Locator::Css(css)).await.map_err(|e| seen(css, e))?.text().await.map_err(|e| seen(css, e))
}

/// Waits until the element's text contains `needle` (the UI updates asynchronously).
pub(crate) async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
    wait_until(&format!("{css} shows {needle:?}"), STARTUP, Some(client), || async move {
        let text = current_text(client, css).await?;
        if text.contains(needle) {
            Ok(text)
        } else {
            Err(format!("the text {text:?}"))
        }
    })
    .await
}

/// Waits until the input's current value ends with `suffix` (values are not element text).
pub(crate) async fn wait_for_value(client: &Client, css: &str, suffix: &str) -> String {
    wait_until(&format!("{css} holds a value ending in {suffix:?}"), STARTUP, Some(client), || async move {
        let value = client
            .find(Locator::Css(css))
            .await
            .map_err(|e| seen(css, e))?
            .prop("value")
            .await
            .map_err(|e| seen(css, e))?;
        match value {
            Some(value) if value.ends_with(suffix) => Ok(value),
            value => Err(format!("the value {value:?}")),
        }
    })
    .await
}

/// Waits until no element matches `css` (e.g. a revealed secret hiding itself).
pub(crate) async fn wait_until_gone(client: &Client, css: &str, within: Duration) {
    wait_until(&format!("{css} is gone"), within, Some(client), || async move {
        match client.find(Locator::Css(css)).await {
            Ok(_) => Err(format!("{css} still shown")),
            Err(e) if e.is_no_such_element() => Ok(()),
            Err(e) => Err(seen(css, e)),
        }
    })
    .await
}

pub(crate) async fn click(client: &Client, css: &str) {
    element(client, css).await.click().await.unwrap_or_else(|e| panic!("could not click {css}: {e}"));
}

pub(crate) async fn type_into(client: &Client, css: &str, text: &str) {
    let el = element(client, css).await;
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

pub(crate) fn screenshot_dir() -> PathBuf {
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

/// tauri-driver, killed when dropped. [`connect`] waits for it to listen.
pub(crate) struct Driver {
    child: Child,
    port: u16,
    /// The app binary the WebDriver session launches.
    app: PathBuf,
}

impl Driver {
    pub(crate) fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Like `start`, with extra environment variables for the app (e.g. KEYWARD_VAULT=file).
    ///
    /// The app runs with WebKit's accelerated compositing on (`keyward_desktop::webkit` turns
    /// it off by default): WebKitWebDriver's screenshots never answer without it (WebKitGTK
    /// 2.50), and these tests take one of every page. tests/installed.rs runs the default.
    pub(crate) fn start_with(data_dir: &Path, envs: &[(&str, &str)]) -> Self {
        let mut envs = envs.to_vec();
        envs.insert(0, ("WEBKIT_DISABLE_COMPOSITING_MODE", "0"));
        Self::start_app(Path::new(env!("CARGO_BIN_EXE_keyward-desktop")), data_dir, &envs)
    }

    /// Like `start_with`, for the app binary at `app` (the installed one, in tests/installed.rs).
    pub(crate) fn start_app(app: &Path, data_dir: &Path, envs: &[(&str, &str)]) -> Self {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "the desktop e2e test needs a display: run it with `make test` (xvfb-run)"
        );
        let port = free_port();
        let native_port = free_port();
        // Its own process group: WebKitWebDriver and the app it launches join it, so `drop`
        // ends all three even when a test fails before closing its session (a surviving app
        // would hold the single-instance lock and keep every later test from starting).
        let child = Command::new(tauri_driver())
            .process_group(0)
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
        Self { child, port, app: app.to_path_buf() }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // End the whole group (tauri-driver, WebKitWebDriver, the app), so nothing outlives
        // the test.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session with the app, once tauri-driver listens.
pub(crate) async fn connect(driver: &Driver) -> Client {
    connect_with_args(driver, &[]).await
}

/// Like [`connect`], launching the app with `args` (e.g. `--hidden`, as the login item does).
pub(crate) async fn connect_with_args(driver: &Driver, args: &[&str]) -> Client {
    let port = driver.port;
    wait_until(&format!("tauri-driver listens on port {port}"), STARTUP, None, || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map(drop).map_err(|e| e.to_string())
    })
    .await;
    // Two rustls crypto providers are compiled in (ring via reqwest, aws-lc-rs via
    // fantoccini); choose one explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let caps = serde_json::json!({
        "browserName": "wry",
        "tauri:options": { "application": driver.app, "args": args },
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

/// Saves a screenshot of the window as `{name}.png` in the screenshot folder once the latest
/// DOM change has been painted (two animation frames), so it shows what the test just saw.
pub(crate) async fn screenshot(client: &Client, name: &str) {
    client
        .execute_async(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()));",
            vec![],
        )
        .await
        .expect("the page paints");
    let png = client.screenshot().await.expect("screenshot");
    write_screenshot(name, &png);
}

/// The window as it is, for a failed wait, as `failure.png`; says where (or why there is none).
async fn save_failure_screenshot(client: &Client) -> String {
    match client.screenshot().await {
        Ok(png) => write_screenshot("failure", &png).display().to_string(),
        Err(e) => format!("no screenshot: {e}"),
    }
}

fn write_screenshot(name: &str, png: &[u8]) -> PathBuf {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("screenshot written");
    path
}

/// Serves `app` on 127.0.0.1 (a free port) for the rest of the test; returns its base URL.
pub(crate) async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
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
    serve(app).await
}

/// Scrolls the page content so that `css` is at the top of the window.
pub(crate) async fn scroll_to(client: &Client, css: &str) {
    client
        .execute(
            "document.querySelector(arguments[0]).scrollIntoView({ block: 'start' })",
            vec![serde_json::Value::from(css)],
        )
        .await
        .unwrap_or_else(|e| panic!("could not scroll to {css}: {e}"));
}

/// Fails naming what sticks out when any element of the page is wider than the content area
/// (text running out of its card), unless an ancestor clips or scrolls it on purpose.
pub(crate) async fn assert_fits(client: &Client, page: &str) {
    let script = r#"
        const main = document.querySelector('main.content');
        const limit = main.getBoundingClientRect().right + 1;
        const out = [];
        for (const el of main.querySelectorAll('*')) {
          const r = el.getBoundingClientRect();
          if (r.width === 0 || r.right <= limit) continue;
          let p = el.parentElement, clipped = false;
          while (p && p !== main) {
            if (getComputedStyle(p).overflowX !== 'visible') { clipped = true; break; }
            p = p.parentElement;
          }
          if (!clipped) out.push(`${el.tagName.toLowerCase()}.${el.className} (${Math.round(r.right - limit)} px): ${(el.textContent || '').trim().slice(0, 60)}`);
        }
        return out.slice(0, 5);
    "#;
    let found = client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("measuring {page}: {e}"));
    let sticking_out: Vec<String> = serde_json::from_value(found).unwrap_or_default();
    if !sticking_out.is_empty() {
        let shot = save_failure_screenshot(client).await;
        panic!("on {page}, content runs out of the window's content area: {sticking_out:#?} (see {shot})");
    }
}

/// A `redis-server` on a free loopback port with its own temporary directory (the shared
/// budget's store); stopped when dropped.
pub(crate) struct RedisServer {
    child: Option<Child>,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (make test installs it)");
        wait_until(&format!("redis-server answers on port {port}"), STARTUP, None, || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map(drop).map_err(|e| e.to_string())
        })
        .await;
        Self { child: Some(child), port, _dir: dir }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
