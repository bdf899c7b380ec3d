//! A new user's first run, at the minimum window size: the setup guide opens by itself, its
//! five steps are done against a local stand-in for Binance (a key stored and checked, Binance
//! watched with a passing connection test, the limit levels set, a failover group, the Usage
//! step showing the guide's own calls), and the dashboard then shows live tiles. Also "Start
//! Keyward when I log in" writing the login item.

use fantoccini::Locator;

use crate::support::{
    assert_fits, click, connect, connect_with_args, element, screenshot, serve, text_of, type_into, wait_for_text,
    wait_until, Driver, MIN_WINDOW, ONE_APP_AT_A_TIME, STARTUP,
};

/// Binance's public and key-permission endpoints, all healthy, and a safe key: read only,
/// restricted to an IP, no withdrawals.
async fn healthy_binance() -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/api/v3/time", get(|| async { axum::Json(serde_json::json!({"serverTime": 1_767_225_600_000_i64})) }))
        .route(
            "/api/v3/exchangeInfo",
            get(|| async {
                axum::Json(serde_json::json!({"timezone": "UTC", "symbols": [], "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
                ]}))
            }),
        )
        .route("/sapi/v1/system/status", get(|| async { axum::Json(serde_json::json!({"status": 0, "msg": "normal"})) }))
        .route(
            "/sapi/v1/account/apiRestrictions",
            get(|| async {
                axum::Json(serde_json::json!({
                    "ipRestrict": true, "enableReading": true, "enableWithdrawals": false, "enableSpotAndMarginTrading": false
                }))
            }),
        );
    serve(app).await
}

async fn step_state(client: &fantoccini::Client, step: &str) -> String {
    element(client, &format!("[data-testid=guide-step-{step}]"))
        .await
        .attr("data-state")
        .await
        .expect("data-state")
        .unwrap_or_default()
}

async fn wait_step_done(client: &fantoccini::Client, step: &str) {
    wait_until(&format!("step {step} is done"), STARTUP, Some(client), || async move {
        match step_state(client, step).await.as_str() {
            "done" => Ok(()),
            other => Err(format!("step {step} is {other}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_completes_the_setup_guide_and_lands_on_a_live_dashboard() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("home");
    let base_url = healthy_binance().await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        kw.providers()
            .set("binance", &[("environments.production.base_url", base_url.as_str())])
            .expect("point binance at the mock");
    }
    let home_dir = home.path().display().to_string();
    let driver = Driver::start_with(data_dir.path(), &[("HOME", home_dir.as_str())]);
    let client = connect(&driver).await;
    client.set_window_size(MIN_WINDOW.0, MIN_WINDOW.1).await.expect("the minimum window size");

    // 1. The first start opens on the guide, at its first step.
    element(&client, "[data-testid=page-setup]").await;
    wait_for_text(&client, "[data-testid=guide-body-key] h2", "Add your first API key").await;
    assert_fits(&client, "setup-1-key").await;
    screenshot(&client, "setup-1-key").await;
    client
        .find(Locator::Css("[data-testid=add-key-provider]"))
        .await
        .expect("provider select")
        .select_by_value("binance")
        .await
        .expect("choose Binance");
    type_into(&client, "[data-testid=add-key-label]", "main").await;
    type_into(&client, "[data-testid=add-key-apikey]", "setup-public-key-Zq7W").await;
    type_into(&client, "[data-testid=add-key-secret]", "setup-secret-value-77").await;
    click(&client, "[data-testid=add-key-submit]").await;
    wait_for_text(&client, "[data-testid=guide-key-added]", "Zq7W").await;
    // The permission check against the exchange runs by itself.
    wait_for_text(&client, "[data-testid=guide-key-safe]", "No risk found").await;
    let report = text_of(&client, "[data-testid=guide-key-report]").await;
    assert!(report.contains("withdraw no") && report.contains("IP restricted yes"), "{report}");
    screenshot(&client, "setup-1-key-stored").await;
    click(&client, "[data-testid=guide-next]").await;
    wait_step_done(&client, "key").await;

    // 2. Watch Binance (the guide suggests it: there is a key for it) and test the connection.
    click(&client, "[data-testid=guide-watch-binance]").await;
    element(&client, "[data-testid=guide-watched-binance]").await;
    click(&client, "[data-testid=guide-test]").await;
    wait_for_text(&client, "[data-testid=guide-test-ok]", "passing").await;
    wait_step_done(&client, "monitor").await;
    assert_fits(&client, "setup-2-monitor").await;
    screenshot(&client, "setup-2-monitor").await;
    click(&client, "[data-testid=guide-next]").await;

    // 3. The limit levels, with the live gauges beside them.
    let warn = element(&client, "[data-testid=limit-warn]").await;
    warn.clear().await.expect("clear");
    warn.send_keys("70").await.expect("type");
    let critical = element(&client, "[data-testid=limit-critical]").await;
    critical.clear().await.expect("clear");
    critical.send_keys("60").await.expect("type");
    // Refused before anything is sent, naming the value.
    wait_for_text(&client, "[data-testid=limit-critical-error]", "60 %").await;
    critical.clear().await.expect("clear");
    critical.send_keys("90").await.expect("type");
    click(&client, "[data-testid=limit-settings-save]").await;
    wait_for_text(&client, "[data-testid=limit-settings-saved]", "in force").await;
    wait_step_done(&client, "limits").await;
    element(&client, "[data-testid=guide-gauges] .gauge").await;
    assert_fits(&client, "setup-3-limits").await;
    screenshot(&client, "setup-3-limits").await;
    click(&client, "[data-testid=guide-next]").await;

    // 4. A failover group for market data.
    wait_for_text(&client, "[data-testid=guide-failover-hint]", "a group needs two").await;
    click(&client, "[data-testid=guide-member-binance]").await;
    click(&client, "[data-testid=guide-member-kraken]").await;
    click(&client, "[data-testid=guide-group-save]").await;
    wait_for_text(&client, "[data-testid=guide-groups]", "binance → kraken").await;
    wait_step_done(&client, "failover").await;
    assert_fits(&client, "setup-4-failover").await;
    screenshot(&client, "setup-4-failover").await;
    click(&client, "[data-testid=guide-next]").await;

    // 5. The Usage step shows the calls the guide itself made.
    let calls = wait_for_text(&client, "[data-testid=guide-usage-calls]", "calls in the last 24 hours").await;
    let n: u64 = calls.split_whitespace().next().and_then(|n| n.replace(',', "").parse().ok()).unwrap_or(0);
    assert!(n >= 3, "the key check and the connection test were recorded: {calls}");
    screenshot(&client, "setup-5-usage").await;
    click(&client, "[data-testid=guide-next]").await;

    // The dashboard: live tiles, no setup banner any more.
    element(&client, "[data-testid=page-dashboard]").await;
    wait_for_text(&client, "[data-testid=tile-provider-binance]", "up").await;
    wait_for_text(&client, "[data-testid=overall-headline]", "Binance is up").await;
    let today = text_of(&client, "[data-testid=tile-today-calls]").await;
    assert!(!today.starts_with('0'), "today's calls: {today}");
    element(&client, "[data-testid=tile-limits] .mini-bar").await;
    wait_for_text(&client, "[data-testid=tile-keys-ok]", "1 key stored; none needs you").await;
    assert!(client.find(Locator::Css("[data-testid=guide-banner]")).await.is_err(), "the guide is complete");
    assert_fits(&client, "dashboard").await;
    screenshot(&client, "dashboard").await;

    // Start at login: the OS login item starts Keyward hidden.
    click(&client, "[data-testid=nav-settings]").await;
    let toggle = element(&client, "[data-testid=autostart-toggle]").await;
    wait_until("the login item is read", STARTUP, Some(&client), || {
        let toggle = toggle.clone();
        async move {
            toggle.prop("disabled").await.map_err(|e| e.to_string()).and_then(|d| {
                if d.as_deref() == Some("false") {
                    Ok(())
                } else {
                    Err(format!("disabled {d:?}"))
                }
            })
        }
    })
    .await;
    toggle.click().await.expect("click");
    let entry = home.path().join(".config/autostart/Keyward.desktop");
    wait_until("the login item is written", STARTUP, Some(&client), || {
        let entry = entry.clone();
        async move { std::fs::read_to_string(&entry).map_err(|e| format!("{}: {e}", entry.display())) }
    })
    .await;
    let desktop = std::fs::read_to_string(&entry).expect("login item");
    assert!(desktop.contains("keyward-desktop --hidden"), "{desktop}");
    element(&client, "[data-testid=vault-name]").await;
    element(&client, "[data-testid=info-version]").await;
    assert_fits(&client, "settings").await;
    screenshot(&client, "settings-about").await;
    click(&client, "[data-testid=autostart-toggle]").await;
    wait_until("the login item is removed", STARTUP, Some(&client), || {
        let entry = entry.clone();
        async move {
            if entry.exists() {
                Err("still there".to_string())
            } else {
                Ok(())
            }
        }
    })
    .await;

    client.close().await.expect("session closes");

    // What the guide did is in the core.
    let kw = keyward::Keyward::open(data_dir.path()).expect("core");
    assert_eq!(kw.keys().list(None).expect("keys").len(), 1);
    let limits = kw.limit_settings().expect("limit settings");
    assert_eq!((limits.warn_pct, limits.critical_pct), (70.0, 90.0));
    assert_eq!(kw.failover_groups().expect("groups")[0].members, vec!["binance".to_string(), "kraken".to_string()]);
    let guide = kw.setup_guide().expect("guide");
    assert!(guide.complete, "{guide:?}");
}

/// What the login item starts: `keyward-desktop --hidden` shows no window, yet monitoring, the
/// control API and the gateway run (the tray icon opens the window).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_at_login_keyward_runs_hidden_in_the_tray() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let driver = Driver::start(data_dir.path());
    let client = connect_with_args(&driver, &[keyward_desktop::HIDDEN_ARG]).await;
    let control = data_dir.path().join(keyward::control::CONTROL_FILE);
    wait_until("the services announce the control API", STARTUP, None, || {
        let control = control.clone();
        async move { std::fs::read_to_string(&control).map_err(|e| format!("{}: {e}", control.display())) }
    })
    .await;
    let hidden = client.execute("return document.visibilityState", vec![]).await.expect("visibility");
    assert_eq!(hidden, "hidden", "the window stays hidden");
    let running = keyward::control::ControlClient::discover(data_dir.path()).await.expect("the running app answers");
    assert!(running.describe().starts_with("the Keyward desktop app"), "{}", running.describe());
    let gateway = running.gateway().await.expect("the gateway's state");
    assert!(gateway.url.is_some_and(|u| u.starts_with("http://127.0.0.1:")), "the gateway listens for bots");
    client.close().await.expect("session closes");
}
