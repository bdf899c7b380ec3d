//! The local gateway as a bot sees it: a Binance-style client with a Keyward token as its API
//! key and a placeholder secret calls `http://127.0.0.1:<port>/binance/…`; the signature-
//! verifying mock sees only Keyward's real key and valid signatures. Refusals never reach the
//! exchange, and a spent budget answers the exchange's own 429.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keyward::gateway::{NewToken, TokenScopes};
use keyward::keys::{NewKey, Scopes};
use keyward::vault::{ExposeSecret, MemoryStore, SecretString};
use keyward::Keyward;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::support::mock_exchange::{Auth, MockCreds, MockExchange, Scripted};
use crate::support::strict_exchange::StrictExchange;

const REAL_KEY: &str = "real-binance-key";
const REAL_SECRET: &str = "real-binance-secret-never-leaves";

struct Bot {
    kw: Keyward,
    url: String,
    http: reqwest::Client,
    _server: keyward::gateway::GatewayServer,
    _dir: tempfile::TempDir,
}

async fn gateway_on(base_url: &str, key_scopes: &str) -> Bot {
    gateway_for("binance", base_url, REAL_KEY, REAL_SECRET, None, key_scopes).await
}

/// A Keyward with `provider` pointed at `base_url`, its real key "main" in memory and the
/// gateway on a free port.
async fn gateway_for(
    provider: &str,
    base_url: &str,
    api_key: &str,
    secret: &str,
    passphrase: Option<&str>,
    key_scopes: &str,
) -> Bot {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core");
    kw.providers()
        .set(provider, &[("environments.production.base_url", base_url), ("retry.max_attempts", "1")])
        .expect("pointed at the mock");
    kw.keys()
        .add(
            NewKey {
                provider: provider.into(),
                label: "main".into(),
                environment: "production".into(),
                api_key: api_key.into(),
                secret: SecretString::from(secret.to_string()),
                passphrase: passphrase.map(|p| SecretString::from(p.to_string())),
                scopes: key_scopes.parse::<Scopes>().expect("scopes"),
                notes: String::new(),
                expires_at: None,
            },
            Utc::now(),
        )
        .expect("key");
    let server = keyward::gateway::serve(&kw, 0, CancellationToken::new()).await.expect("gateway listens");
    let url = format!("http://{}", server.addr);
    Bot { kw, url, http: reqwest::Client::new(), _server: server, _dir: dir }
}

/// A market-data and account-read token signing with "main", no wait limit of its own.
fn read_token(bot: &Bot, name: &str, provider: &str) -> String {
    bot.kw
        .gateway()
        .tokens()
        .create(
            NewToken {
                name: name.into(),
                provider: provider.into(),
                key_label: Some("main".into()),
                scopes: "market,read".parse().expect("scopes"),
                allow_ips: Vec::new(),
                max_wait: None,
                max_share: None,
            },
            false,
            Utc::now(),
        )
        .expect("token")
        .secret
        .expose_secret()
        .to_string()
}

fn token(bot: &Bot, name: &str, provider: &str, scopes: &str, allow_ips: &[&str]) -> String {
    let issued = bot
        .kw
        .gateway()
        .tokens()
        .create(
            NewToken {
                name: name.into(),
                provider: provider.into(),
                key_label: Some("main".into()),
                scopes: scopes.parse::<TokenScopes>().expect("scopes"),
                allow_ips: allow_ips
                    .iter()
                    .map(|ip| keyward::gateway::tokens::parse_allow_ip(ip).expect("ip"))
                    .collect(),
                max_wait: Some(Duration::from_millis(200)),
                max_share: None,
            },
            false,
            Utc::now(),
        )
        .expect("token");
    issued.secret.expose_secret().to_string()
}

fn mock_creds() -> MockCreds {
    MockCreds {
        api_key: REAL_KEY.into(),
        secret: REAL_SECRET.into(),
        passphrase: None,
        public_pem: None,
        private_pem: None,
    }
}

/// What a Binance client sends: its API key header and its own (here meaningless) signature.
fn signed_by_bot(path_and_query: &str) -> String {
    format!("{path_and_query}&timestamp=1700000000000&recvWindow=5000&signature=b0757a11ed0f0f0f")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_with_only_a_token_reads_its_account_and_places_an_order_signed_with_the_real_key() {
    let mock = MockExchange::start(Auth::BinanceHmac, Some(mock_creds())).await;
    mock.route("GET /api/v3/account", json!({"balances": [{"asset": "BTC", "free": "0.5", "locked": "0"}]}));
    mock.route("POST /api/v3/order", json!({"orderId": 42, "status": "NEW"}));
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "100000.00"}));
    let bot = gateway_on(&mock.base_url, "read,trade").await;
    let tok = token(&bot, "grid-bot", "binance", "market,read,trade", &[]);

    // Public data with the token in X-Keyward-Token (CCXT's `headers` option).
    let resp = bot
        .http
        .get(format!("{}/binance/api/v3/ticker/24hr?symbol=BTCUSDT", bot.url))
        .header("X-Keyward-Token", &tok)
        .send()
        .await
        .expect("ticker");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-keyward-wait-ms"), "{:?}", resp.headers());
    let ticker: Value = resp.json().await.expect("json");
    assert_eq!(ticker["lastPrice"], "100000.00", "the exchange's body, verbatim");

    // The account, signed by the bot with a placeholder secret: Keyward re-signs.
    let resp = bot
        .http
        .get(format!("{}/binance{}", bot.url, signed_by_bot("/api/v3/account?omitZeroBalances=true")))
        .header("X-MBX-APIKEY", &tok)
        .send()
        .await
        .expect("account");
    assert_eq!(resp.status(), 200);
    let account: Value = resp.json().await.expect("json");
    assert_eq!(account["balances"][0]["free"], "0.5");

    // An order, form body as CCXT sends it.
    let form = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=90000&timestamp=1700000000000&signature=feedface";
    let resp = bot
        .http
        .post(format!("{}/binance/api/v3/order", bot.url))
        .header("X-MBX-APIKEY", &tok)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("order");
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);

    assert_eq!(mock.rejected(), 0, "every request the exchange saw carried a valid signature");
    let seen = mock.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for s in &seen {
        let key = s.headers.get("x-mbx-apikey").cloned().unwrap_or_default();
        assert!(key.is_empty() || key == REAL_KEY, "the exchange sees the real key only: {key}");
        assert!(!s.query.contains("b0757a11") && !s.body.contains("feedface"), "the bot's signature is dropped: {s:?}");
        assert!(!format!("{s:?}").contains(&tok), "the token never reaches the exchange");
        assert!(!format!("{s:?}").contains(REAL_SECRET));
    }
    assert!(seen[2].body.contains("quantity=0.001") && seen[2].body.contains("price=90000"), "{:?}", seen[2]);

    // Usage and the limiter see the bot by name; its order is audited.
    bot.kw.pipeline().recorder().flush();
    let callers: Vec<String> = bot
        .kw
        .store()
        .with_conn(|c| {
            let mut stmt = c.prepare("SELECT DISTINCT caller FROM calls WHERE operation != 'exchange_info'")?;
            let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok(rows)
        })
        .expect("calls");
    assert_eq!(callers, vec!["bot:grid-bot".to_string()]);
    let stats = bot.kw.gateway().stats().snapshot();
    let grid = stats.iter().find(|s| s.name == "grid-bot").expect("stats");
    assert_eq!((grid.requests, grid.answered), (3, 3), "{grid:?}");
    let orders = wait_for_audit(&bot.kw, keyward::audit::AuditKind::GatewayOrder).await;
    assert_eq!(orders[0].detail["operation"], "place_order");
    assert_eq!(orders[0].detail["bot"], "grid-bot");
}

async fn wait_for_audit(kw: &Keyward, kind: keyward::audit::AuditKind) -> Vec<keyward::audit::AuditRow> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows =
            kw.audit().list(&keyward::audit::AuditFilter { event: Some(kind), ..Default::default() }).expect("audit");
        if !rows.is_empty() || tokio::time::Instant::now() > deadline {
            return rows;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_never_reach_the_exchange() {
    let mock = MockExchange::start(Auth::BinanceHmac, Some(mock_creds())).await;
    mock.route("GET /api/v3/account", json!({"balances": []}));
    let bot = gateway_on(&mock.base_url, "read,trade").await;
    let market_only = token(&bot, "watcher", "binance", "market", &[]);
    let kraken = token(&bot, "kraken-bot", "kraken", "market,read", &[]);
    let elsewhere = token(&bot, "lan-bot", "binance", "market,read,trade", &["10.0.0.0/8"]);
    let trader = token(&bot, "trader", "binance", "market,read,trade", &[]);
    let revoked = token(&bot, "old-bot", "binance", "market,read", &[]);
    bot.kw.gateway().tokens().revoke("old-bot").expect("revoke");
    let disabled = token(&bot, "paused-bot", "binance", "market,read", &[]);
    bot.kw.gateway().tokens().set_disabled("paused-bot", true).expect("disable");

    let account = signed_by_bot("/api/v3/account?x=1");
    // (what, token, method, path, status, the refusal says)
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, &'a str, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("no token", None, "GET", account.as_str(), 401, "no Keyward token"),
        ("unknown token", Some("kwg_not-a-real-token"), "GET", account.as_str(), 401, "unknown Keyward token"),
        ("revoked token", Some(revoked.as_str()), "GET", account.as_str(), 401, "unknown Keyward token"),
        ("disabled token", Some(disabled.as_str()), "GET", account.as_str(), 401, "is disabled"),
        ("wrong scope", Some(market_only.as_str()), "GET", account.as_str(), 403, "needs the read scope"),
        ("wrong provider", Some(kraken.as_str()), "GET", account.as_str(), 403, "is for kraken, not binance"),
        (
            "address outside the allowlist",
            Some(elsewhere.as_str()),
            "GET",
            account.as_str(),
            403,
            "may not be used from 127.0.0.1",
        ),
        (
            "withdrawal without the scope",
            Some(trader.as_str()),
            "POST",
            "/sapi/v1/capital/withdraw/apply?coin=BTC&amount=1&timestamp=1&signature=ab",
            403,
            "needs the withdraw scope",
        ),
    ];
    for (what, tok, method, path, status, says) in cases {
        let mut req = bot.http.request(method.parse().expect("method"), format!("{}/binance{path}", bot.url));
        if let Some(t) = tok {
            req = req.header("X-MBX-APIKEY", t);
        }
        let resp = req.send().await.expect("answer");
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let body: Value = resp.json().await.expect("JSON refusal");
        let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(says), "{what}: {message}");
    }
    assert_eq!(mock.hits(), 0, "nothing refused was forwarded");
    let stats = bot.kw.gateway().stats().snapshot();
    let refused: u64 = stats.iter().flat_map(|s| s.refused.values()).sum();
    assert_eq!(refused, 8, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_past_its_wait_limit_gets_binances_own_429_and_the_exchange_never_sees_one() {
    // 30 weight per 2 s, published in exchangeInfo; the ticker costs 2.
    let ex = StrictExchange::start(30, 2).await;
    let bot = gateway_on(&ex.base_url, "read").await;
    let tok = token(&bot, "hammer", "binance", "market", &[]);
    let mut ok = 0;
    let mut limited = 0;
    for _ in 0..40 {
        let resp = bot
            .http
            .get(format!("{}/binance/api/v3/ticker/24hr?symbol=BTCUSDT", bot.url))
            .header("X-Keyward-Token", &tok)
            .send()
            .await
            .expect("answer");
        match resp.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                let retry: u64 = resp.headers()["retry-after"].to_str().expect("text").parse().expect("seconds");
                assert!((1..=2).contains(&retry), "Retry-After {retry}");
                let body: Value = resp.json().await.expect("json");
                assert_eq!(body["code"], -1003, "Binance's rate-limit code, so the bot's library backs off: {body}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // The exchangeInfo read took 20 of the window's 30: four tickers fit (2 % margin), the rest
    // of this window's requests are answered by Keyward.
    assert!(ok >= 1 && limited > 0 && ok + limited == 40, "ok {ok}, limited {limited}");
    let counts = ex.counts();
    assert_eq!((counts.too_many, counts.banned), (0, 0), "the exchange never saw an over-limit request: {counts:?}");
    let stats = bot.kw.gateway().stats().snapshot();
    assert_eq!(stats[0].refused.get("deadline").copied(), Some(limited), "{stats:?}");
}

/// `keyward gateway …` against the running Keyward, as a user sets a bot up from a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_creates_a_token_from_the_cli_sees_the_bot_in_status_and_revokes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core");
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "97000.5"}));
    kw.providers().set("binance", &[("environments.production.base_url", mock.base_url.as_str())]).expect("mock");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    kw.gateway().set_port(port).expect("port");
    let services = keyward::service::start(&kw).await.expect("services start");
    assert_eq!(services.gateway().map(|a| a.port()), Some(port), "the gateway listens on its configured port");

    let run = |args: Vec<&'static str>| {
        let data = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || crate::support::keyward(&data, &args))
    };
    let out = run(vec![
        "--json",
        "gateway",
        "token",
        "add",
        "--name",
        "ticker-bot",
        "--provider",
        "binance",
        "--scopes",
        "market",
    ])
    .await
    .expect("joined");
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let created: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let tok = created["secret"].as_str().expect("the token, shown once").to_string();
    assert_eq!(created["baseUrl"], format!("http://127.0.0.1:{port}/binance"));
    assert_eq!(created["token"]["scopes"], serde_json::json!(["market"]), "the same token view as the Gateway page");
    let listed = run(vec!["gateway", "token", "list"]).await.expect("joined");
    assert!(!crate::support::stdout(&listed).contains(&tok), "listing never shows the token");

    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/binance/api/v3/ticker/24hr?symbol=BTCUSDT");
    let resp = http.get(&url).header("X-Keyward-Token", &tok).send().await.expect("ticker");
    assert_eq!(resp.status(), 200);

    let out = run(vec!["--json", "gateway", "status"]).await.expect("joined");
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["url"], format!("http://127.0.0.1:{port}"));
    assert_eq!(status["bots"][0]["name"], "ticker-bot", "{status}");
    assert_eq!(status["bots"][0]["requests"], 1, "{status}");

    let out = run(vec!["gateway", "token", "revoke", "ticker-bot"]).await.expect("joined");
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    // The CLI told the running gateway: the very next request is refused.
    let resp = http.get(&url).header("X-Keyward-Token", &tok).send().await.expect("answer");
    assert_eq!(resp.status(), 401, "the revoked token no longer works");
    assert_eq!(mock.seen().len(), 1, "only the request made before the revocation reached the exchange");
    services.stop().await;
}

/// The DER bytes inside a PEM block, decoded here (not by the code under test).
fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body is base64")
}

/// The database file and its WAL, as bytes.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let db = dir.join(keyward::DATABASE_FILE);
    let mut bytes = std::fs::read(&db).expect("database file");
    let wal = db.with_file_name(format!("{}-wal", keyward::DATABASE_FILE));
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_bound_beyond_loopback_serves_https_only_with_the_certificate_keyward_made() {
    let mock = MockExchange::start(Auth::BinanceHmac, Some(mock_creds())).await;
    mock.route("GET /api/v3/account", json!({"balances": [{"asset": "BTC", "free": "0.5", "locked": "0"}]}));
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core");
    kw.providers()
        .set("binance", &[("environments.production.base_url", mock.base_url.as_str()), ("retry.max_attempts", "1")])
        .expect("binance pointed at the mock");
    kw.keys()
        .add(
            NewKey {
                provider: "binance".into(),
                label: "main".into(),
                environment: "production".into(),
                api_key: REAL_KEY.into(),
                secret: SecretString::from(REAL_SECRET.to_string()),
                passphrase: None,
                scopes: "read".parse::<Scopes>().expect("scopes"),
                notes: String::new(),
                expires_at: None,
            },
            Utc::now(),
        )
        .expect("key");

    // Every address: refused until confirmed, then HTTPS only with a certificate made now.
    let every: std::net::IpAddr = "0.0.0.0".parse().expect("ip");
    let err = kw.gateway().set_bind(every, false).expect_err("needs a confirmation");
    assert_eq!(err.kind(), "confirmationNeeded");
    assert!(err.to_string().contains("0.0.0.0") && err.to_string().contains("--allow-ip"), "{err}");
    assert_eq!(kw.gateway().bind().to_string(), "127.0.0.1", "nothing changed");
    let cert = kw.gateway().set_bind(every, true).expect("confirmed").expect("a certificate for TLS");
    assert_eq!(kw.gateway().bind(), every);
    let expected = Sha256::digest(pem_der(&cert.pem)).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
    assert_eq!(cert.fingerprint, expected, "the fingerprint is SHA-256 of the certificate, colon-separated");

    let server = keyward::gateway::serve(&kw, 0, CancellationToken::new()).await.expect("gateway listens");
    assert!(server.addr.ip().is_unspecified(), "bound as configured: {}", server.addr);
    let port = server.addr.port();
    let view = kw.gateway().view();
    assert_eq!(view.url, Some(format!("https://0.0.0.0:{port}")));
    assert_eq!(view.bind, "0.0.0.0");
    assert_eq!(view.fingerprint.as_deref(), Some(cert.fingerprint.as_str()), "the certificate made at bind time");

    let mut t = Bot { kw: kw.clone(), url: String::new(), http: reqwest::Client::new(), _server: server, _dir: dir };
    let here = token(&t, "local-bot", "binance", "market,read", &[]);
    let pinned = token(&t, "pinned-bot", "binance", "market,read", &["127.0.0.1/32"]);
    let elsewhere = token(&t, "lan-bot", "binance", "market,read", &["10.0.0.0/8"]);
    t.url = format!("https://127.0.0.1:{port}");
    let account = format!("/binance{}", signed_by_bot("/api/v3/account?x=1"));

    // A bot that trusts only Keyward's certificate reaches the exchange, by IP or by name.
    let trusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem.as_bytes()).expect("PEM"))
        .build()
        .expect("client");
    for base in [format!("https://127.0.0.1:{port}"), format!("https://localhost:{port}")] {
        let resp =
            trusting.get(format!("{base}{account}")).header("X-MBX-APIKEY", &here).send().await.expect("over TLS");
        assert_eq!(resp.status(), 200, "{base}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["balances"][0]["asset"], "BTC");
    }
    assert_eq!(mock.hits(), 2);
    // Allowed addresses are checked against the real peer on the TLS path too.
    let resp = trusting.get(format!("{}{account}", t.url)).header("X-MBX-APIKEY", &pinned).send().await.expect("ok");
    assert_eq!(resp.status(), 200, "--allow-ip 127.0.0.1");
    let resp = trusting.get(format!("{}{account}", t.url)).header("X-MBX-APIKEY", &elsewhere).send().await.expect("no");
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.expect("json");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("may not be used from 127.0.0.1"), "{body}");
    assert_eq!(mock.hits(), 3, "the refused request did not reach the exchange");

    // A client that does not trust the certificate fails the handshake; plain HTTP gets nothing.
    let err = t.http.get(format!("{}{account}", t.url)).header("X-MBX-APIKEY", &here).send().await;
    assert!(err.as_ref().is_err_and(reqwest::Error::is_connect), "untrusted certificate: {err:?}");
    let plain = format!("http://127.0.0.1:{port}{account}");
    let err = t.http.get(plain).header("X-MBX-APIKEY", &here).send().await;
    assert!(err.is_err(), "plain HTTP to the TLS port: {err:?}");
    assert_eq!(mock.hits(), 3, "neither reached the exchange");

    // The private key is in the secret store only; the certificate may be in the database.
    let key_pem = kw
        .secrets()
        .get(&keyward::gateway::tls::key_account(t._dir.path()))
        .expect("the key is in the secret store")
        .expose_secret()
        .to_string();
    assert!(key_pem.contains("PRIVATE KEY"));
    kw.flush();
    let db = database_bytes(t._dir.path());
    let key_der = pem_der(&key_pem);
    let key_b64_line = key_pem.lines().nth(1).expect("a base64 line");
    assert!(contains(&db, cert.pem.lines().nth(1).expect("line").as_bytes()), "sanity: the certificate is there");
    assert!(!contains(&db, &key_der), "the private key's bytes are not in the database");
    assert!(!contains(&db, key_b64_line.as_bytes()), "nor its PEM text");
    for entry in std::fs::read_dir(t._dir.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("file");
            assert!(!contains(&bytes, key_b64_line.as_bytes()), "{} holds the key", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_default_stays_plain_http_without_a_certificate() {
    let bot = gateway_on("http://127.0.0.1:9", "read").await;
    assert!(bot.url.starts_with("http://127.0.0.1:"), "{}", bot.url);
    let view = bot.kw.gateway().view();
    assert_eq!((view.bind.as_str(), view.fingerprint), ("127.0.0.1", None));
    assert_eq!(bot.kw.gateway().certificate().expect("read"), None, "no certificate is made for loopback");
    // Back to loopback needs no confirmation.
    assert_eq!(bot.kw.gateway().set_bind("::1".parse().expect("ip"), false).expect("loopback"), None);
}

#[test]
fn the_cli_refuses_a_lan_bind_without_yes_and_shows_the_fingerprint_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = crate::support::keyward(dir.path(), &["--json", "gateway", "bind", "0.0.0.0"]);
    assert!(!out.status.success());
    let err = crate::support::stderr(&out);
    assert!(err.contains("confirmationNeeded") && err.contains("HTTPS"), "{err}");

    // With --yes (the key goes to an encrypted vault file here, not the OS store).
    let run = |args: &[&str]| {
        std::process::Command::new(crate::support::keyward_bin())
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env_remove(keyward::DATA_DIR_ENV)
            .env("KEYWARD_VAULT", "file")
            .env("KEYWARD_VAULT_PASSPHRASE", "correct horse battery staple")
            .output()
            .expect("keyward runs")
    };
    let out = run(&["--json", "gateway", "bind", "0.0.0.0", "--yes"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let set: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let fingerprint = set["fingerprint"].as_str().expect("fingerprint").to_string();
    assert_eq!(set["tls"], true);
    let out = run(&["gateway", "status"]);
    let text = crate::support::stdout(&out);
    assert!(text.contains(&format!("https://127.0.0.1:{}", keyward::gateway::DEFAULT_PORT)), "{text}");
    assert!(text.contains(&fingerprint) && text.contains("--allow-ip"), "{text}");
    let out = run(&["gateway", "cert"]);
    assert!(crate::support::stdout(&out).starts_with("-----BEGIN CERTIFICATE-----"));
    let out = run(&["--json", "gateway", "bind", "127.0.0.1"]);
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let out = run(&["--json", "gateway", "status"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!((status["bind"].clone(), status["fingerprint"].clone()), (json!("127.0.0.1"), Value::Null));
}

/// The Python of the virtual environment `make test` creates with CCXT in it
/// (`KEYWARD_CCXT_PYTHON` overrides it).
fn ccxt_python() -> std::path::PathBuf {
    let python = std::env::var_os("KEYWARD_CCXT_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: `make test` creates the virtual environment with CCXT (make ccxt)",
        python.display()
    );
    python
}

fn binance_market() -> Value {
    json!({"timezone": "UTC", "serverTime": 1_700_000_000_000_i64, "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    ], "symbols": [{
        "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8,
        "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": true, "ocoAllowed": true,
        "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"}
        ],
        "permissions": ["SPOT"], "permissionSets": [["SPOT"]]
    }]})
}

fn binance_order(status: &str) -> Value {
    json!({"symbol": "BTCUSDT", "orderId": 4242, "clientOrderId": "kw-test", "transactTime": 1_700_000_000_000_i64,
           "time": 1_700_000_000_000_i64, "price": "90000.00", "origQty": "0.00100", "executedQty": "0.00000",
           "cummulativeQuoteQty": "0.00", "status": status, "timeInForce": "GTC", "type": "LIMIT", "side": "BUY"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_ccxt_binance_bot_trades_through_the_gateway_holding_only_a_token() {
    let mock = MockExchange::start(Auth::BinanceHmac, Some(mock_creds())).await;
    mock.route("GET /api/v3/exchangeInfo", binance_market());
    mock.route(
        "GET /api/v3/ticker/24hr",
        json!({"symbol": "BTCUSDT", "lastPrice": "97000.50", "bidPrice": "97000.00", "askPrice": "97001.00",
               "volume": "12.5", "quoteVolume": "1212500", "openTime": 1_699_913_600_000_i64, "closeTime": 1_700_000_000_000_i64}),
    );
    mock.route(
        "GET /api/v3/depth",
        json!({"lastUpdateId": 7, "bids": [["96999.99", "1.5"]], "asks": [["97001.00", "2.0"]]}),
    );
    mock.route(
        "GET /api/v3/account",
        json!({"accountType": "SPOT", "canTrade": true, "balances": [{"asset": "BTC", "free": "0.50000000", "locked": "0.00000000"}]}),
    );
    mock.route("POST /api/v3/order", binance_order("NEW"));
    mock.route("GET /api/v3/openOrders", json!([binance_order("NEW")]));
    mock.route("DELETE /api/v3/order", binance_order("CANCELED"));
    let bot = gateway_on(&mock.base_url, "read,trade").await;
    let tok = token(&bot, "ccxt-bot", "binance", "market,read,trade", &[]);

    let python = ccxt_python();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ccxt/binance_bot.py");
    let url = bot.url.clone();
    let tok2 = tok.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python).arg(script).arg(url).arg(tok2).output().expect("python runs")
    })
    .await
    .expect("joined");
    assert!(out.status.success(), "the CCXT bot failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).expect("the bot prints JSON");
    assert_eq!(result["markets"], json!(["BTC/USDT"]));
    assert_eq!(result["ticker"], 97000.5);
    assert_eq!(result["best_bid"], 96999.99);
    assert_eq!(result["balance_btc"], 0.5);
    assert_eq!(result["order_id"], "4242");
    assert_eq!(result["open_orders"], json!(["4242"]));
    assert_eq!(result["cancelled"], "canceled");

    assert_eq!(mock.rejected(), 0, "every signed request carried Keyward's valid signature");
    let seen = mock.seen();
    let signed: Vec<_> = seen.iter().filter(|s| s.headers.contains_key("x-mbx-apikey")).collect();
    assert!(signed.len() >= 4, "account, order, open orders and cancel were signed: {seen:?}");
    for s in &seen {
        let shown = format!("{s:?}");
        assert!(
            !shown.contains(&tok) && !shown.contains("placeholder-keyward-signs"),
            "nothing of the bot's reaches the exchange: {shown}"
        );
        if let Some(key) = s.headers.get("x-mbx-apikey") {
            assert_eq!(key, REAL_KEY);
        }
    }
    let stats = bot.kw.gateway().stats().snapshot();
    let ccxt = stats.iter().find(|s| s.name == "ccxt-bot").expect("the bot's numbers");
    assert!(ccxt.requests >= 7 && ccxt.refused.is_empty(), "{ccxt:?}");
}

fn okx_currencies() -> Vec<Value> {
    ["BTC", "USDT"]
        .iter()
        .map(|c| {
            json!({"ccy": c, "name": c, "chain": format!("{c}-Main"), "canDep": true, "canWd": true,
                   "canInternal": true, "minWd": "0.001", "maxWd": "100", "wdTickSz": "8", "minFee": "0.0001",
                   "maxFee": "0.001", "mainNet": true})
        })
        .collect()
}

/// One exchange's CCXT bot through the gateway: `fetch_ticker` and `fetch_balance` with only a
/// token, against a mock that verifies that exchange's signature scheme.
struct OtherExchange {
    ccxt_id: &'static str,
    provider: &'static str,
    auth: Auth,
    passphrase: Option<&'static str>,
    symbol: &'static str,
    asset: &'static str,
    routes: Vec<(&'static str, Value)>,
    last: f64,
    free: f64,
}

async fn ccxt_ticker_and_balance(ex: OtherExchange) {
    // Kraken and Coinbase Exchange take base64 secrets.
    let secret = "c2VjcmV0LW9mLXRoZS1leGNoYW5nZQ==";
    let creds = MockCreds {
        api_key: format!("real-{}-key", ex.provider),
        secret: secret.into(),
        passphrase: ex.passphrase.map(str::to_string),
        public_pem: None,
        private_pem: None,
    };
    let mock = MockExchange::start(ex.auth, Some(creds.clone())).await;
    for (route, body) in &ex.routes {
        mock.route(route, body.clone());
    }
    let bot = gateway_for(ex.provider, &mock.base_url, &creds.api_key, secret, ex.passphrase, "read").await;
    let tok = read_token(&bot, &format!("{}-bot", ex.provider), ex.provider);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ccxt/ticker_balance.py");
    let args: Vec<String> = vec![
        script.display().to_string(),
        ex.ccxt_id.into(),
        ex.provider.into(),
        bot.url.clone(),
        tok.clone(),
        ex.symbol.into(),
        ex.asset.into(),
    ];
    let python = ccxt_python();
    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new(python).args(args).output().expect("python"))
            .await
            .expect("joined");
    assert!(
        out.status.success(),
        "{}: the CCXT bot failed:\n{}\nthe exchange saw: {:?}",
        ex.provider,
        String::from_utf8_lossy(&out.stderr),
        mock.seen().iter().map(|s| format!("{} {}", s.method, s.path)).collect::<Vec<_>>()
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(result["last"], ex.last, "{}: {result}", ex.provider);
    assert_eq!(result["free"], ex.free, "{}: {result}", ex.provider);
    assert_eq!(mock.rejected(), 0, "{}: every signed request verified", ex.provider);
    let seen = mock.seen();
    assert!(
        seen.iter().any(|s| s.headers.values().any(|v| v.contains(&creds.api_key))),
        "{}: signed with the real key",
        ex.provider
    );
    assert!(!format!("{seen:?}").contains(&tok), "{}: the token never reaches the exchange", ex.provider);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_ccxt_bots_for_kraken_okx_and_bybit_read_tickers_and_balances_through_the_gateway() {
    ccxt_ticker_and_balance(OtherExchange {
        ccxt_id: "kraken",
        provider: "kraken",
        auth: Auth::Kraken,
        passphrase: None,
        symbol: "BTC/USD",
        asset: "BTC",
        routes: vec![
            (
                "GET /0/public/AssetPairs",
                json!({"error": [], "result": {"XXBTZUSD": {
                    "altname": "XBTUSD", "wsname": "XBT/USD", "aclass_base": "currency", "base": "XXBT",
                    "aclass_quote": "currency", "quote": "ZUSD", "lot": "unit", "cost_decimals": 5, "pair_decimals": 1,
                    "lot_decimals": 8, "lot_multiplier": 1, "leverage_buy": [], "leverage_sell": [],
                    "fees": [[0, 0.26]], "fees_maker": [[0, 0.16]], "fee_volume_currency": "ZUSD",
                    "margin_call": 80, "margin_stop": 40, "ordermin": "0.0001", "costmin": "0.5",
                    "tick_size": "0.1", "status": "online"}}}),
            ),
            (
                "GET /0/public/Ticker",
                json!({"error": [], "result": {"XXBTZUSD": {
                    "a": ["97001.0", "1", "1.000"], "b": ["97000.0", "1", "1.000"], "c": ["97000.5", "0.001"],
                    "v": ["10", "20"], "p": ["97000", "97000"], "t": [100, 200], "l": ["96000", "96000"],
                    "h": ["98000", "98000"], "o": "96500"}}}),
            ),
            (
                "GET /0/public/Assets",
                json!({"error": [], "result": {
                    "XXBT": {"aclass": "currency", "altname": "XBT", "decimals": 10, "display_decimals": 5, "status": "enabled"},
                    "ZUSD": {"aclass": "currency", "altname": "USD", "decimals": 4, "display_decimals": 2, "status": "enabled"}}}),
            ),
            ("POST /0/private/BalanceEx", json!({"error": [], "result": {"XXBT": {"balance": "0.5", "hold_trade": "0"}}})),
        ],
        last: 97000.5,
        free: 0.5,
    })
    .await;

    let okx_instrument = json!({"instType": "SPOT", "instId": "BTC-USDT", "uly": "", "instFamily": "", "baseCcy": "BTC",
        "quoteCcy": "USDT", "settleCcy": "", "ctValCcy": "", "optType": "", "stk": "", "listTime": "1606468572000",
        "expTime": "", "lever": "10", "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001", "ctVal": "",
        "ctMult": "", "ctType": "", "alias": "", "state": "live", "maxLmtSz": "9999999999", "maxMktSz": "1000000"});
    ccxt_ticker_and_balance(OtherExchange {
        ccxt_id: "okx",
        provider: "okx",
        auth: Auth::Okx,
        passphrase: Some("okx-passphrase"),
        symbol: "BTC/USDT",
        asset: "BTC",
        routes: vec![
            ("GET /api/v5/public/instruments", json!({"code": "0", "msg": "", "data": [okx_instrument]})),
            ("GET /api/v5/asset/currencies", json!({"code": "0", "msg": "", "data": okx_currencies()})),
            (
                "GET /api/v5/market/ticker",
                json!({"code": "0", "msg": "", "data": [{"instType": "SPOT", "instId": "BTC-USDT", "last": "97000.5",
                    "lastSz": "0.1", "askPx": "97001", "askSz": "1", "bidPx": "97000", "bidSz": "1", "open24h": "96000",
                    "high24h": "98000", "low24h": "95000", "volCcy24h": "100", "vol24h": "1", "ts": "1700000000000",
                    "sodUtc0": "96000", "sodUtc8": "96000"}]}),
            ),
            (
                "GET /api/v5/account/balance",
                json!({"code": "0", "msg": "", "data": [{"totalEq": "1000", "uTime": "1700000000000", "details": [
                    {"ccy": "BTC", "availBal": "0.5", "cashBal": "0.5", "frozenBal": "0", "eq": "0.5",
                     "availEq": "0.5", "uTime": "1700000000000"}]}]}),
            ),
        ],
        last: 97000.5,
        free: 0.5,
    })
    .await;

    ccxt_ticker_and_balance(OtherExchange {
        ccxt_id: "bybit",
        provider: "bybit",
        auth: Auth::BybitV5,
        passphrase: None,
        symbol: "BTC/USDT",
        asset: "BTC",
        routes: vec![
            (
                "GET /v5/asset/coin/query-info",
                json!({"retCode": 0, "retMsg": "OK", "result": {"rows": [
                    {"name": "BTC", "coin": "BTC", "remainAmount": "100", "chains": [{"chainType": "BTC", "confirmation": "1",
                     "withdrawFee": "0.0005", "depositMin": "0.0001", "withdrawMin": "0.001", "chain": "BTC",
                     "chainDeposit": "1", "chainWithdraw": "1", "minAccuracy": "8"}]}]}, "retExtInfo": {},
                    "time": 1_700_000_000_000_i64}),
            ),
            (
                "GET /v5/market/instruments-info",
                json!({"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "nextPageCursor": "", "list": [{
                    "symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "innovation": "0", "status": "Trading",
                    "marginTrading": "both", "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001",
                    "minOrderQty": "0.000048", "maxOrderQty": "71.73956243", "minOrderAmt": "1", "maxOrderAmt": "2000000"},
                    "priceFilter": {"tickSize": "0.01"}}]}, "retExtInfo": {}, "time": 1_700_000_000_000_i64}),
            ),
            (
                "GET /v5/market/tickers",
                json!({"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": [{
                    "symbol": "BTCUSDT", "bid1Price": "97000", "bid1Size": "1", "ask1Price": "97001", "ask1Size": "1",
                    "lastPrice": "97000.5", "prevPrice24h": "96000", "price24hPcnt": "0.01", "highPrice24h": "98000",
                    "lowPrice24h": "95000", "turnover24h": "1000000", "volume24h": "10"}]}, "retExtInfo": {},
                    "time": 1_700_000_000_000_i64}),
            ),
            (
                "GET /v5/user/query-api",
                json!({"retCode": 0, "retMsg": "", "result": {"id": "1", "note": "bot", "readOnly": 1, "ips": ["*"],
                    "type": 1, "unified": 1, "uta": 1, "userID": 1, "permissions": {}}, "retExtInfo": {},
                    "time": 1_700_000_000_000_i64}),
            ),
            (
                "GET /v5/account/info",
                json!({"retCode": 0, "retMsg": "OK", "result": {"unifiedMarginStatus": 4, "marginMode": "REGULAR_MARGIN",
                    "isMasterTrader": false, "spotHedgingStatus": "OFF", "updatedTime": "1700000000000"},
                    "retExtInfo": {}, "time": 1_700_000_000_000_i64}),
            ),
            (
                "GET /v5/account/wallet-balance",
                json!({"retCode": 0, "retMsg": "OK", "result": {"list": [{"accountType": "UNIFIED", "totalEquity": "1000",
                    "coin": [{"coin": "BTC", "equity": "0.5", "walletBalance": "0.5", "locked": "0",
                              "availableToWithdraw": "0.5", "free": "0.5", "totalOrderIM": "0", "totalPositionIM": "0"}]}]},
                    "retExtInfo": {}, "time": 1_700_000_000_000_i64}),
            ),
        ],
        last: 97000.5,
        free: 0.5,
    })
    .await;
}

/// The headers a bot of `scheme` sends with its own (meaningless) signature; its key is the
/// token. Keyward drops all of them and signs again.
fn bot_headers(provider: &str, tok: &str, path: &str) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let junk = "0badc0de".to_string();
    match provider {
        "binance" => vec![("X-MBX-APIKEY", tok.into())],
        "kucoin" => vec![
            ("KC-API-KEY", tok.into()),
            ("KC-API-SIGN", junk.clone()),
            ("KC-API-TIMESTAMP", "1".into()),
            ("KC-API-PASSPHRASE", "placeholder".into()),
            ("KC-API-KEY-VERSION", "2".into()),
        ],
        "okx" => vec![
            ("OK-ACCESS-KEY", tok.into()),
            ("OK-ACCESS-SIGN", junk.clone()),
            ("OK-ACCESS-TIMESTAMP", "2020-01-01T00:00:00.000Z".into()),
            ("OK-ACCESS-PASSPHRASE", "placeholder".into()),
        ],
        "bybit" => vec![
            ("X-BAPI-API-KEY", tok.into()),
            ("X-BAPI-SIGN", junk.clone()),
            ("X-BAPI-TIMESTAMP", "1".into()),
            ("X-BAPI-RECV-WINDOW", "5000".into()),
        ],
        "coinbase_exchange" => vec![
            ("CB-ACCESS-KEY", tok.into()),
            ("CB-ACCESS-SIGN", junk.clone()),
            ("CB-ACCESS-TIMESTAMP", "1".into()),
            ("CB-ACCESS-PASSPHRASE", "placeholder".into()),
        ],
        // Coinbase Advanced Trade: CCXT signs a JWT naming its key (the token) in `kid` and
        // `sub` with the placeholder key; Keyward reads the name and drops the JWT.
        "coinbase" => {
            let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            let jwt = format!(
                "{}.{}.{}",
                b64(json!({"alg": "ES256", "kid": tok, "typ": "JWT", "nonce": "1"})),
                b64(json!({"sub": tok, "iss": "cdp", "uri": format!("GET 127.0.0.1{path}")})),
                junk
            );
            vec![("Authorization", format!("Bearer {jwt}"))]
        }
        "gemini" => {
            let payload = base64::engine::general_purpose::STANDARD
                .encode(format!(r#"{{"request":"{path}","nonce":1,"account":"primary"}}"#));
            vec![("X-GEMINI-APIKEY", tok.into()), ("X-GEMINI-PAYLOAD", payload), ("X-GEMINI-SIGNATURE", junk.clone())]
        }
        "bitfinex" => vec![("bfx-apikey", tok.into()), ("bfx-nonce", "1".into()), ("bfx-signature", junk.clone())],
        "bitstamp" => vec![
            ("X-Auth", format!("BITSTAMP {tok}")),
            ("X-Auth-Signature", junk.clone()),
            ("X-Auth-Nonce", "1".into()),
            ("X-Auth-Timestamp", "1".into()),
            ("X-Auth-Version", "v2".into()),
        ],
        "kraken" => vec![("API-Key", tok.into()), ("API-Sign", junk)],
        other => panic!("no bot headers for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signing_preset_is_re_signed_with_the_real_key_and_verified_by_an_exchange_that_checks_it() {
    use base64::Engine as _;
    let (private_pem, public_pem) = {
        use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let secret = p256::SecretKey::random(&mut rand::thread_rng());
        (
            secret.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
            secret.public_key().to_public_key_pem(LineEnding::LF).expect("pem"),
        )
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let hmac = |key: &str, secret: String, pass: Option<&str>| MockCreds {
        api_key: key.into(),
        secret,
        passphrase: pass.map(str::to_string),
        public_pem: None,
        private_pem: None,
    };
    let cases: Vec<(&str, Auth, MockCreds)> = vec![
        ("binance", Auth::BinanceHmac, hmac("bn-key", "bn-secret".into(), None)),
        ("kraken", Auth::Kraken, hmac("kr-key", b64("kraken-secret-bytes"), None)),
        ("kucoin", Auth::Kucoin, hmac("kc-key", "kc-secret".into(), Some("kc-pass"))),
        ("okx", Auth::Okx, hmac("okx-key", "okx-secret".into(), Some("okx-pass"))),
        ("bybit", Auth::BybitV5, hmac("bybit-key", "bybit-secret".into(), None)),
        (
            "coinbase_exchange",
            Auth::CoinbaseExchange,
            hmac("cbx-key", b64("coinbase-exchange-secret-bytes-32"), Some("cbx-pass")),
        ),
        (
            "coinbase",
            Auth::CoinbaseJwt,
            MockCreds {
                api_key: "organizations/org-1/apiKeys/key-1".into(),
                secret: String::new(),
                passphrase: None,
                public_pem: Some(public_pem),
                private_pem: Some(private_pem),
            },
        ),
        ("gemini", Auth::Gemini, hmac("gemini-key", "gemini-secret".into(), None)),
        ("bitfinex", Auth::BitfinexV2, hmac("bfx-key", "bfx-secret".into(), None)),
        ("bitstamp", Auth::BitstampV2, hmac("bitstamp-key", "bitstamp-secret".into(), None)),
    ];
    for (provider, auth, creds) in cases {
        let mock = MockExchange::start(auth, Some(creds.clone())).await;
        let secret = creds.private_pem.clone().unwrap_or_else(|| creds.secret.clone());
        let bot =
            gateway_for(provider, &mock.base_url, &creds.api_key, &secret, creds.passphrase.as_deref(), "read").await;
        let tok = read_token(&bot, "bot", provider);
        let spec = bot.kw.providers().get(provider).expect("spec").spec;
        let e = &spec.endpoints["balances"];
        let (method, path) = (e.method.as_str().to_string(), e.path.clone());
        let ok_code = if provider == "kucoin" { "200000" } else { "0" };
        mock.route(&format!("{method} {path}"), json!({"code": ok_code, "retCode": 0, "data": [], "result": {}}));
        let mut req =
            reqwest::Client::new().request(method.parse().expect("method"), format!("{}/{provider}{path}", bot.url));
        for (name, value) in bot_headers(provider, &tok, &path) {
            req = req.header(name, value);
        }
        req = match (method.as_str(), provider) {
            ("GET", _) | (_, "gemini") => req,
            (_, "kraken") => req.header("content-type", "application/x-www-form-urlencoded").body("nonce=1"),
            (_, "bitstamp") => req.header("content-type", "application/x-www-form-urlencoded").body(""),
            _ => req.header("content-type", "application/json").body("{}"),
        };
        let resp = req.send().await.expect("answer");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{provider}: {text}");
        assert_eq!(mock.rejected(), 0, "{provider}: the exchange rejected Keyward's signature");
        let seen = mock.seen();
        assert_eq!(seen.len(), 1, "{provider}: {seen:?}");
        let shown = format!("{seen:?}");
        assert!(
            !shown.contains(&tok) && !shown.contains("0badc0de"),
            "{provider}: the bot's credentials were dropped: {shown}"
        );
        if provider == "gemini" {
            let payload = &seen[0].headers["x-gemini-payload"];
            let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(payload).expect("b64"))
                .expect("utf8");
            assert!(decoded.contains(r#""account":"primary""#), "the bot's parameters survive re-signing: {decoded}");
        }
        bot._server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_with_a_max_share_gets_only_its_part_and_leaves_the_rest_to_the_others() {
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route("GET /api/v3/exchangeInfo", json!({"rateLimits": [], "symbols": []}));
    mock.route("GET /api/v3/ticker/24hr", json!({"symbol": "BTCUSDT", "lastPrice": "97000.50"}));
    let bot = gateway_on(&mock.base_url, "read").await;
    // 100 weight per rolling minute (no clock-aligned boundary to fall on during the test).
    bot.kw
        .providers()
        .set(
            "binance",
            &[(
                "rate_limits",
                r#"[{id = "request_weight", kind = "sliding_window", scope = "ip", limit = 100, interval_ms = 60000}]"#,
            )],
        )
        .expect("rule");
    let new = |name: &str, share: Option<f64>| {
        bot.kw
            .create_gateway_token(
                NewToken {
                    name: name.into(),
                    provider: "binance".into(),
                    key_label: None,
                    scopes: "market".parse().expect("scopes"),
                    allow_ips: Vec::new(),
                    max_wait: Some(Duration::from_millis(100)),
                    max_share: share,
                },
                false,
            )
            .expect("token")
            .secret
            .expose_secret()
            .to_string()
    };
    let greedy = new("greedy", Some(0.4));
    let polite = new("polite", None);
    let ticker = |tok: String| {
        let http = bot.http.clone();
        let url = format!("{}/binance/api/v3/ticker/24hr?symbol=BTCUSDT", bot.url);
        async move { http.get(url).header("X-Keyward-Token", tok).send().await.expect("answer").status().as_u16() }
    };
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(ticker(greedy.clone()).await);
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    // The ticker weighs 2: 40 % of 100 is 20 tickers; the rest wait past 100 ms and get a 429.
    assert_eq!(ok, 20, "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(ticker(polite.clone()).await, 200, "the other bot still has the rest of the budget");
    let listed = bot.kw.gateway().tokens().get("greedy").expect("token");
    assert_eq!(listed.max_share, Some(0.4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_gets_the_last_good_ticker_marked_stale_while_the_exchange_fails() {
    let mock = MockExchange::start(Auth::Public, None).await;
    mock.route(
        "GET /api/v3/ticker/24hr",
        json!({"symbol": "BTCUSDT", "bidPrice": "100.0", "askPrice": "100.5", "lastPrice": "100.2"}),
    );
    let bot = gateway_on(&mock.base_url, "read").await;
    let tok = token(&bot, "ticker-bot", "binance", "market", &[]);
    let get = |path: &'static str| {
        let (http, url, tok) = (bot.http.clone(), bot.url.clone(), tok.clone());
        async move { http.get(format!("{url}/binance{path}")).header("X-Keyward-Token", tok).send().await.expect("answer") }
    };
    let fresh = get("/api/v3/ticker/24hr?symbol=BTCUSDT").await;
    assert_eq!(fresh.status(), 200);
    assert!(fresh.headers().get("x-keyward-stale-age").is_none());

    // Binance fails: the bot gets the same body, marked stale, instead of a 503.
    mock.script((0..3).map(|_| Scripted { status: 503, headers: vec![], body: "{}".into() }));
    let stale = get("/api/v3/ticker/24hr?symbol=BTCUSDT").await;
    assert_eq!(stale.status(), 200);
    let age: u64 = stale.headers()["x-keyward-stale-age"].to_str().expect("text").parse().expect("seconds");
    assert!(age <= 5, "{age}");
    let because = stale.headers()["x-keyward-stale-because"].to_str().expect("text").to_string();
    assert!(because.contains("HTTP 503"), "{because}");
    let body: Value = stale.json().await.expect("JSON");
    assert_eq!(body["lastPrice"], "100.2");

    // Another symbol was never answered: the exchange's own failure reaches the bot.
    let other = get("/api/v3/ticker/24hr?symbol=ETHUSDT").await;
    assert_eq!(other.status(), 503);
    assert!(other.headers().get("x-keyward-stale-age").is_none());
}
