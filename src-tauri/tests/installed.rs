//! The installed package (issue 13): the `.deb` that `make package` builds, installed on this
//! machine by `scripts/install-test.sh` (`make install-test`, part of `make test`), which names
//! the installed binaries in `KEYWARD_INSTALLED_APP` and `KEYWARD_INSTALLED_CLI` and runs this
//! under Xvfb with a private gnome-keyring.
//!
//! Not part of a plain `cargo test` (`test = false` in Cargo.toml): without an installed package
//! there is nothing to test. Run by hand without those variables, it fails and says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{click, connect, current_text, screenshot_dir, wait_until, Driver, STARTUP};

// The e2e harness (tauri-driver, WebKitWebDriver, the waits); this test uses a few of its helpers.
#[allow(dead_code)]
#[path = "e2e/support.rs"]
mod support;

/// The installed binary named by `var`, which must be an absolute path to a file.
fn installed(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: this test checks the installed package; run it with `make install-test`")
    });
    assert!(path.is_absolute() && path.is_file(), "{var}={} is not an installed file", path.display());
    path
}

/// The text of `css` once it shows. Failures are reported without a WebDriver screenshot,
/// which never answers while WebKit's compositing is off (the app's default).
async fn shown(client: &fantoccini::Client, css: &str) -> String {
    wait_until(&format!("{css} shows a value"), STARTUP, None, || async move {
        current_text(client, css).await.and_then(|t| if t.is_empty() { Err("empty".to_string()) } else { Ok(t) })
    })
    .await
}

/// The X display as it is, from the X server rather than WebDriver, into the e2e screenshots.
fn screenshot_display(name: &str) -> PathBuf {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    let status = Command::new("import").args(["-window", "root"]).arg(&path).status().expect("import runs");
    assert!(status.success(), "import -window root {}: {status}", path.display());
    path
}

/// The pid in the control file the app's services write once they run.
fn announced_pid(data_dir: &Path) -> Result<u32, String> {
    let file = keyward::control::control_file(data_dir);
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let info: keyward::control::ControlInfo =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}: {text}", file.display()))?;
    Ok(info.pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_app_opens_its_window_and_answers_over_ipc() {
    let app = installed("KEYWARD_INSTALLED_APP");
    let data_dir = tempfile::tempdir().expect("tempdir");
    let driver = Driver::start_app(&app, data_dir.path(), &[]);
    let client = connect(&driver).await;

    assert_eq!(client.title().await.expect("title"), "Keyward");
    let (_, _, width, height) = client.get_window_rect().await.expect("window rect");
    // tauri.conf.json: 1200×780, never smaller than 880×560.
    assert!(width >= 880 && height >= 560, "the window is {width}×{height}");

    // A fresh install opens on the setup guide: its first IPC answer, rendered, is the core's
    // account of the first step.
    let first = shown(&client, "[data-testid=guide-step-detail]").await;
    assert!(first.contains("no key stored yet"), "the guide's first step: {first}");
    let shot = screenshot_display("installed-first-run");
    assert!(std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 10_000, "{} is a picture", shot.display());

    // Settings → About: values only the core knows.
    click(&client, "[data-testid=nav-settings]").await;
    assert_eq!(shown(&client, "[data-testid=info-version]").await, keyward::VERSION);
    assert_eq!(shown(&client, "[data-testid=info-data-dir]").await, data_dir.path().display().to_string());
    let schema = shown(&client, "[data-testid=info-schema]").await;
    assert!(schema.starts_with(&format!("v{}", keyward::store::LATEST_SCHEMA_VERSION)), "{schema}");
    assert_eq!(shown(&client, "[data-testid=info-backend-state]").await, "available");

    // The process behind the window is the installed binary, with its services running.
    let pid = wait_until("the app's services announce themselves", STARTUP, None, || async {
        announced_pid(data_dir.path())
    })
    .await;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the app's executable");
    assert_eq!(exe, app, "the running app (pid {pid})");

    // The installed command line reads the database the installed app created.
    let cli = installed("KEYWARD_INSTALLED_CLI");
    let out = Command::new(&cli)
        .args(["--json", "info", "--data-dir"])
        .arg(data_dir.path())
        .output()
        .expect("the installed keyward runs");
    assert!(out.status.success(), "keyward --json info: {}", String::from_utf8_lossy(&out.stderr));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("keyward --json info prints JSON");
    assert_eq!(info["version"], keyward::VERSION, "{info}");
    assert_eq!(info["dataDir"], data_dir.path().display().to_string(), "{info}");
    assert_eq!(info["schemaVersion"], keyward::store::LATEST_SCHEMA_VERSION, "{info}");
    assert_eq!(info["secretBackend"]["kind"], "os-keyring", "{info}");
    assert_eq!(info["secretBackend"]["available"], true, "{info}");

    client.close().await.expect("session closes");
}
