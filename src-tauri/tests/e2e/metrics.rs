//! Settings → Prometheus metrics and Usage → Export in the real app: a user scrapes the running
//! app's `/metrics` from this machine, switches to token access (the token shown once; a scrape
//! without it is refused, with it answered), and exports the Usage page's rows to a file whose
//! path the page shows and which reads back to those rows.

use std::time::Duration;

use keyward::pipeline::AttemptRecord;
use keyward::usage::export::UsageExport;

use crate::support::{click, connect, screenshot, scroll_to, wait_for_text, Driver, ONE_APP_AT_A_TIME, STARTUP};

/// One HTTP/1.1 GET of `url` (`http://127.0.0.1:port/metrics`), optionally with a bearer token:
/// status and body.
async fn scrape(url: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_once('/').map(|(a, p)| (a.to_string(), format!("/{p}"))).expect("host and path");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).expect("the gateway accepts connections");
        stream.set_read_timeout(Some(STARTUP)).expect("read timeout");
        stream.write_all(request.as_bytes()).expect("request sent");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("the gateway answers in time");
        let text = String::from_utf8_lossy(&raw).to_string();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    })
    .await
    .expect("scrape task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_scrapes_metrics_chooses_token_access_and_exports_usage_to_a_file() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    {
        // Calls recorded earlier (the Usage page reads them from the database).
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        for (minutes, operation) in [(5, "ticker"), (15, "ticker"), (25, "server_time")] {
            let at = chrono::Utc::now() - chrono::Duration::minutes(minutes);
            kw.pipeline().recorder().record(AttemptRecord {
                latency: Duration::from_millis(40),
                bytes_in: 10,
                weight: 2,
                ..AttemptRecord::answered(at, "binance", operation, "ui")
            });
        }
        kw.flush();
    }
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    // Settings: the URL of the running gateway's /metrics, readable from this machine.
    click(&client, "[data-testid=nav-settings]").await;
    let url = wait_for_text(&client, "[data-testid=metrics-url]", "http://127.0.0.1:").await;
    assert!(url.ends_with("/metrics"), "{url}");
    wait_for_text(&client, "[data-testid=metrics-scrape-config]", "job_name: keyward").await;
    let (status, body) = scrape(&url, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("keyward_build_info"), "{body}");

    // Token access: the token is shown once, and only it opens /metrics.
    click(&client, "[data-testid=metrics-access-token]").await;
    let token = wait_for_text(&client, "[data-testid=metrics-token-secret]", "kwm_").await;
    wait_for_text(&client, "[data-testid=metrics-scrape-config]", "credentials_file").await;
    scroll_to(&client, "[data-testid=metrics-card]").await;
    screenshot(&client, "settings-metrics-token").await;
    let (status, body) = scrape(&url, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("no metrics token"), "{body}");
    let (status, body) = scrape(&url, Some(token.trim())).await;
    assert_eq!(status, 200, "{body}");
    click(&client, "[data-testid=metrics-token-done]").await;

    // Usage: export the day's rows by endpoint as CSV; the page says where the file went.
    click(&client, "[data-testid=nav-usage]").await;
    wait_for_text(&client, "[data-testid=usage-table]", "binance ticker").await;
    click(&client, "[data-testid=usage-export-csv]").await;
    let saved = wait_for_text(&client, "[data-testid=usage-export-saved]", ".csv").await;
    scroll_to(&client, "[data-testid=usage-export]").await;
    screenshot(&client, "usage-export").await;
    assert!(saved.contains("2 rows"), "{saved}");
    let path = saved.split(" to ").nth(1).expect("the path").trim().to_string();
    let export =
        UsageExport::from_csv(&std::fs::read_to_string(&path).expect("the exported file")).expect("reads back");
    let groups: Vec<(String, u64)> = export.rows.iter().map(|r| (r.row.group.clone(), r.row.calls)).collect();
    assert_eq!(groups, vec![("binance ticker".to_string(), 2), ("binance server_time".to_string(), 1)]);
}
