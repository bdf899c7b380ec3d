//! The Rate limits and Audit pages in the real app: Binance's request weight moves live when
//! the user tests the connection, and the key created before the app started is in an intact,
//! exportable audit chain.

use std::time::Duration;

use chrono::Timelike;
use fantoccini::Client;
use keyward::keys::NewKey;
use keyward::vault::SecretString;

use crate::support::{
    click, connect, current_text, mock_binance, screenshot, wait_for_text, wait_until, Driver, ONE_APP_AT_A_TIME,
    STARTUP,
};

const WEIGHT: &str = "[data-testid='gauge-used-binance-request_weight-ip']";

/// The used amount of a gauge ("12 / 6,000 0.2 %" → 12).
fn used(gauge: &str) -> Option<f64> {
    gauge.split(" / ").next()?.replace(',', "").trim().parse().ok()
}

/// Waits until the gauge shows more than `than` used.
async fn wait_for_used_above(client: &Client, css: &str, than: f64) -> f64 {
    wait_until(&format!("{css} shows more than {than} used"), STARTUP, Some(client), || async move {
        let text = current_text(client, css).await?;
        used(&text).filter(|n| *n > than).ok_or(format!("the text {text:?}"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_watches_binance_weight_move_and_verifies_the_audit_chain() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let base_url = mock_binance().await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        kw.providers()
            .set("binance", &[("environments.production.base_url", base_url.as_str())])
            .expect("point binance at the mock");
        kw.providers().set_enabled("binance", true).expect("enable binance");
        kw.keys()
            .add(
                NewKey {
                    environment: "production".into(),
                    provider: "binance".into(),
                    label: "e2e-audit".into(),
                    api_key: "e2e-public-key-Au7T".into(),
                    secret: SecretString::from("e2e-audit-secret".to_string()),
                    passphrase: None,
                    scopes: "read".parse().expect("scopes"),
                    notes: String::new(),
                    expires_at: None,
                },
                chrono::Utc::now(),
            )
            .expect("add a key (writes a key_created audit row)");
    }
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    // The gauge is there before any call: the page loads the rules of every enabled provider.
    click(&client, "[data-testid=nav-limits]").await;
    wait_for_text(&client, WEIGHT, "/ 6,000").await;
    // The limits Binance publishes (exchangeInfo) replace the preset's: the order budget is
    // 100 per 10 s there, not the preset's 10 per second.
    wait_for_text(&client, "[data-testid='gauge-published-binance-request_weight-ip']", "from the exchange").await;
    wait_for_text(&client, "[data-testid='gauge-used-binance-orders_1s-default']", "/ 100").await;

    // Binance's weight window is clock-aligned to the UTC minute: start late in a minute and
    // the window could reset between the call and the check. Begin in a fresh one instead.
    wait_until("the UTC minute has at least 20 s left", Duration::from_secs(30), None, || async {
        match chrono::Utc::now().second() {
            0..40 => Ok(()),
            second => Err(format!("second {second}")),
        }
    })
    .await;
    click(&client, "[data-testid=nav-providers]").await;
    click(&client, "[data-testid=provider-row-binance]").await;
    wait_for_text(&client, "[data-testid=provider-title]", "Binance").await;
    click(&client, "[data-testid=provider-test]").await;
    wait_for_text(&client, "[data-testid=check-server_time]", "OK").await;

    click(&client, "[data-testid=nav-limits]").await;
    let after = wait_for_used_above(&client, WEIGHT, 0.0).await;
    assert!(after >= 1.0, "server_time costs weight 1; the gauge shows {after}");
    let reset = wait_for_text(&client, "[data-testid='gauge-reset-binance-request_weight-ip']", "resets in").await;
    assert!(reset.contains(" s") || reset.contains("min"), "a countdown: {reset}");
    wait_for_text(&client, "[data-testid=limits-live]", "Live").await;

    // Who spent it: the test connection's server_time call.
    click(&client, "[data-testid='gauge-binance-request_weight-ip'] button").await;
    wait_for_text(&client, "[data-testid=breakdown-ops]", "server_time").await;
    // …by the app itself (the test connection) and by Keyward reading Binance's published limits.
    let callers = wait_for_text(&client, "[data-testid=breakdown-callers]", "ui").await;
    assert!(callers.contains("keyward"), "callers: {callers}");
    screenshot(&client, "limits").await;

    // The Usage page counts the same test-connection call per endpoint, with the core's chart.
    click(&client, "[data-testid=nav-usage]").await;
    let usage = wait_for_text(&client, "[data-testid=usage-table]", "binance server_time").await;
    assert!(usage.contains("Total"), "a totals row: {usage}");
    wait_for_text(&client, "[data-testid=usage-chart]", "").await;
    screenshot(&client, "usage").await;

    // The audit log has the key created before the app started, in an intact chain.
    click(&client, "[data-testid=nav-audit]").await;
    let table = wait_for_text(&client, "[data-testid=audit-table]", "key_created").await;
    assert!(table.contains("e2e-audit"), "the row names the key: {table}");
    assert!(!table.contains("e2e-audit-secret"), "no secret in the log: {table}");
    click(&client, "[data-testid=audit-verify]").await;
    let verdict = wait_for_text(&client, "[data-testid=audit-verify-result]", "intact").await;
    assert!(!verdict.contains("(0 rows)"), "{verdict}");
    // Sealed with the audit key the core keeps in the credential store (not the database).
    let seals = wait_for_text(&client, "[data-testid=audit-seal-note]", "sealed").await;
    assert!(seals.contains("Every row is sealed with Keyward's audit key"), "{seals}");

    // Export: the file lands in the data dir's exports folder and the page says where.
    click(&client, "[data-testid=audit-export-csv]").await;
    let exported = wait_for_text(&client, "[data-testid=audit-export-result]", "Wrote").await;
    let exports = data_dir.path().join("exports");
    assert!(exported.contains(&exports.display().to_string()), "{exported}");
    let files: Vec<_> = std::fs::read_dir(&exports).expect("exports folder").flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let csv = std::fs::read_to_string(&files[0]).expect("csv");
    assert!(csv.starts_with("id,ts,actor,event,") && csv.contains("key_created"), "{csv}");
    screenshot(&client, "audit").await;

    client.close().await.expect("session closes");
}
