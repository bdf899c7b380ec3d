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

/// How long the driver may take to start listening, and the app to show a value.
const STARTUP: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

const PAGES: &[(&str, &str)] = &[
    ("dashboard", "Dashboard"),
    ("keys", "Keys"),
    ("providers", "Providers"),
    ("status", "Status"),
    ("limits", "Rate limits"),
    ("usage", "Usage"),
    ("alerts", "Alerts"),
    ("audit", "Audit"),
    ("settings", "Settings"),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
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
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "the desktop e2e test needs a display: run it with `make test` (xvfb-run)"
        );
        let port = free_port();
        let native_port = free_port();
        let child = Command::new(tauri_driver())
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("KEYWARD_DATA_DIR", data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(driver: &Driver) -> Client {
    let app = env!("CARGO_BIN_EXE_keyward-desktop");
    let caps = serde_json::json!({
        "browserName": "wry",
        "tauri:options": { "application": app },
    });
    let caps = match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("capabilities are an object"),
    };
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
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
        screenshot(&client, id).await;
    }

    client.close().await.expect("session closes");
}
