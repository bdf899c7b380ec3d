//! End-to-end test of the real desktop app: the built `keyward-desktop` binary in a real
//! WebKitGTK window under Xvfb, driven through tauri-driver and WebKitWebDriver.
//!
//! `make test` provides what this needs: a display (xvfb-run), a session bus with an unlocked
//! gnome-keyring (dbus-run-session), and tauri-driver in `.tools/bin`. Screenshots of every page
//! are written to `target/e2e/`.
//!
//! Each journey through a page is a module; what they share (the driver, the waits, clicks and
//! screenshots, a stand-in for Binance) is in `support`.

use std::time::Duration;

use fantoccini::Locator;

use support::{
    assert_fits, click, connect, element, mock_binance, screenshot, text_of, type_into, wait_for_text, wait_until_gone,
    Driver, MIN_WINDOW, ONE_APP_AT_A_TIME,
};

mod backup;
mod failover;
mod gateway;
mod hooks;
mod limits_audit;
mod metrics;
mod setup;
mod shared;
mod status;
mod support;
mod usage;
mod vault;

const PAGES: &[(&str, &str)] = &[
    ("dashboard", "Dashboard"),
    ("keys", "Keys"),
    ("providers", "Providers"),
    ("status", "Status"),
    ("limits", "Rate limits"),
    ("gateway", "Gateway"),
    ("failover", "Failover"),
    ("usage", "Usage"),
    ("alerts", "Alerts"),
    ("audit", "Audit"),
    ("settings", "Settings"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn about_shows_core_values_and_every_page_opens_and_fits_the_minimum_window() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    assert_eq!(client.title().await.expect("title"), "Keyward");
    // A fresh data directory opens on the setup guide; "Later" goes to the dashboard, which
    // offers it again.
    element(&client, "[data-testid=page-setup]").await;
    click(&client, "[data-testid=guide-close]").await;
    wait_for_text(&client, "[data-testid=guide-banner]", "0 of 5 steps done").await;
    wait_for_text(&client, "[data-testid=overall-headline]", "No provider enabled yet").await;

    // Values that can only come from the Rust core, in Settings → About.
    click(&client, "[data-testid=nav-settings]").await;
    assert_eq!(text_of(&client, "[data-testid=info-version]").await, keyward::VERSION);
    let schema = text_of(&client, "[data-testid=info-schema]").await;
    assert!(schema.starts_with(&format!("v{}", keyward::store::LATEST_SCHEMA_VERSION)), "{schema}");
    assert_eq!(text_of(&client, "[data-testid=info-data-dir]").await, data_dir.path().display().to_string());
    let backend = text_of(&client, "[data-testid=info-backend]").await;
    assert!(backend.contains("Secret Service"), "secret backend shown: {backend}");
    assert_eq!(text_of(&client, "[data-testid=info-backend-state]").await, "available");
    assert!(data_dir.path().join(keyward::DATABASE_FILE).exists(), "the app created its database");

    client.set_window_size(MIN_WINDOW.0, MIN_WINDOW.1).await.expect("the minimum window size");
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
        assert_fits(&client, id).await;
        screenshot(&client, &format!("page-{id}")).await;
    }

    client.close().await.expect("session closes");
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

    let field = element(&client, "[data-testid=base-url-production]").await;
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
    // The versions below follow at once, while the dialog still shows what happened.
    wait_for_text(&client, "[data-testid=key-version-2]", "active").await;
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
