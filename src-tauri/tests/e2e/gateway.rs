//! The Gateway page in the real app: a user creates a bot token (shown once), a "bot" calls
//! Binance through the running app's gateway with it, and the page shows the bot's numbers.

use fantoccini::Locator;

use crate::support::{
    click, connect, mock_binance, screenshot, text_of, type_into, wait_for_text, Driver, ONE_APP_AT_A_TIME, STARTUP,
};

/// One HTTP/1.1 request to the gateway, as a bot's HTTP client would send it: status and the
/// whole response.
async fn bot_get(gateway: &str, path: &str, token: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = gateway.trim_start_matches("http://").to_string();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-Keyward-Token: {token}\r\nConnection: close\r\n\r\n");
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
    .expect("request task")
}

/// Runs `tests/ccxt/server_time.py` with the CCXT of `.tools/venv` (made by `make test`).
async fn ccxt_server_time(gateway: &str, token: &str) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("KEYWARD_CCXT_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".tools/venv/bin/python"));
    assert!(python.exists(), "{} is missing: `make test` creates it with CCXT", python.display());
    let (script, gateway, token) = (root.join("tests/ccxt/server_time.py"), gateway.to_string(), token.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python).arg(script).arg(gateway).arg(token).output().expect("python runs")
    })
    .await
    .expect("the bot ran");
    assert!(out.status.success(), "the CCXT bot failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the bot prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_creates_a_bot_token_and_sees_the_bots_requests_live() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let base_url = mock_binance().await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        kw.providers()
            .set("binance", &[("environments.production.base_url", base_url.as_str())])
            .expect("point binance at the mock");
    }
    // The driver starts the app with KEYWARD_GATEWAY_PORT=0: the gateway takes a free port.
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-gateway]").await;
    let url = wait_for_text(&client, "[data-testid=gateway-url]", "http://127.0.0.1:").await;
    assert_ne!(url, format!("http://127.0.0.1:{}", keyward::gateway::DEFAULT_PORT), "a free port, not the default");
    wait_for_text(&client, "[data-testid=gateway-empty]", "Create a token, then point your bot at").await;

    // Create a market-data token for Binance.
    click(&client, "[data-testid=gateway-new]").await;
    wait_for_text(&client, "[data-testid=gateway-form-provider]", "Binance").await;
    client
        .find(Locator::Css("[data-testid=gateway-form-provider]"))
        .await
        .expect("provider select")
        .select_by_value("binance")
        .await
        .expect("choose Binance");
    type_into(&client, "[data-testid=gateway-form-name]", "e2e-bot").await;
    click(&client, "[data-testid=gateway-form-submit]").await;

    // Shown once, in a box that says so.
    let secret = wait_for_text(&client, "[data-testid=gateway-secret]", "kwg_").await;
    let issued = text_of(&client, "[data-testid=gateway-issued]").await;
    assert!(issued.contains("shown once — store it in your bot's config now"), "{issued}");
    let row = wait_for_text(&client, "[data-testid=gateway-token-e2e-bot]", "binance").await;
    assert!(row.contains("market") && row.contains("active") && !row.contains(&secret), "{row}");
    let snippet = wait_for_text(&client, "[data-testid=gateway-snippet]", "ccxt.binance").await;
    assert!(snippet.contains(&format!("{url}/binance/api/v3")), "{snippet}");
    screenshot(&client, "gateway-token").await;

    // A real CCXT bot calls Binance through the app's gateway with the token…
    let answer = ccxt_server_time(&url, &secret).await;
    assert_eq!(answer["serverTime"], 1_767_225_600_000_i64, "the mock exchange's answer, verbatim: {answer}");
    let (status, answer) = bot_get(&url, "/binance/api/v3/time", &secret).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-keyward-wait-ms"), "{answer}");
    // …and tries an account read its market-only token does not allow.
    let (status, answer) = bot_get(&url, "/binance/api/v3/account?timestamp=1&signature=bot", &secret).await;
    assert_eq!(status, 403, "{answer}");

    // The page shows the bot's numbers (read every 2 s).
    wait_for_text(&client, "[data-testid=gateway-bot-requests-e2e-bot]", "2").await;
    let bot = wait_for_text(&client, "[data-testid=gateway-bot-e2e-bot]", "scope 1").await;
    assert!(bot.contains("read the account"), "the refusal is the last error: {bot}");

    // Dismissed, the token's text is gone from the page for good.
    click(&client, "[data-testid=gateway-issued-done]").await;
    let page = wait_for_text(&client, "[data-testid=page-gateway]", "Bots, live").await;
    assert!(!page.contains(&secret), "the token is shown only once");
    screenshot(&client, "gateway").await;
    client
        .execute("document.querySelector('[data-testid=gateway-snippets]').scrollIntoView()", vec![])
        .await
        .expect("scroll to the configuration");
    screenshot(&client, "gateway-config").await;

    client.close().await.expect("session closes");

    // Only the token's hash is stored.
    let db = std::fs::read(data_dir.path().join(keyward::DATABASE_FILE)).expect("db");
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "the token text is in the database");
}
