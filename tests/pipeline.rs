//! The call pipeline against mock exchanges on 127.0.0.1 that verify signatures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use keyward::clock::{Clock, FakeClock};
use keyward::keys::{NewKey, Scopes};
use keyward::pipeline::{CallError, CallOptions, CallRequest, Normalized, Pipeline, Recorder, Unlimited};
use keyward::timer::ManualTimer;
use keyward::vault::{MemoryStore, SecretString};
use keyward::Keyward;
use serde_json::json;

use crate::support::mock_exchange::{Auth, MockCreds, MockExchange, Scripted};

pub(crate) struct Fixture {
    pub(crate) kw: Keyward,
    _dir: tempfile::TempDir,
}

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens");
    Fixture { kw, _dir: dir }
}

impl Fixture {
    pub(crate) fn point(&self, provider: &str, base_url: &str) {
        self.kw
            .providers()
            .set(provider, &[("environments.production.base_url".to_string(), base_url.to_string())])
            .expect("base URL accepted");
    }

    pub(crate) fn unset(&self, provider: &str, field: &str) {
        self.kw.providers().unset(provider, &[field]).expect("unset accepted");
    }

    pub(crate) fn set(&self, provider: &str, field: &str, value: &str) {
        self.kw.providers().set(provider, &[(field.to_string(), value.to_string())]).expect("setting accepted");
    }

    pub(crate) fn add_key(&self, provider: &str, label: &str, creds: &MockCreds, scopes: &str) {
        self.kw
            .keys()
            .add(
                NewKey {
                    provider: provider.into(),
                    label: label.into(),
                    environment: "production".into(),
                    api_key: creds.api_key.clone(),
                    secret: SecretString::from(creds.secret_for_keyward()),
                    passphrase: creds.passphrase.clone().map(SecretString::from),
                    scopes: scopes.parse::<Scopes>().expect("scopes"),
                    notes: String::new(),
                    expires_at: None,
                },
                chrono::Utc::now(),
            )
            .expect("key stored");
    }

    /// A mock of a keyed data provider on 127.0.0.1 whose `auth` checks `token`, the provider
    /// pointed at it with one attempt per call, and a key "main" holding the token as its secret.
    pub(crate) async fn keyed_mock(&self, provider: &str, auth: Auth, token: &str) -> MockExchange {
        let mock = MockExchange::start(auth, Some(MockCreds::hmac(token, token, None))).await;
        self.point(provider, &mock.base_url);
        self.add_key(provider, "main", &MockCreds::hmac(provider, token, None), "read");
        self.set(provider, "retry.max_attempts", "1");
        mock
    }

    pub(crate) fn endpoint(&self, provider: &str, op: &str) -> (String, String) {
        let spec = self.kw.providers().get(provider).expect("provider").spec;
        let e = spec.endpoints.get(op).unwrap_or_else(|| panic!("{provider} maps {op}"));
        let base = url::Url::parse(&spec.environments["production"].base_url).expect("url");
        (e.method.as_str().to_string(), format!("{}{}", base.path().trim_end_matches('/'), e.path))
    }

    pub(crate) async fn call(
        &self,
        provider: &str,
        op: &str,
        params: &[(&str, &str)],
    ) -> Result<keyward::pipeline::CallOutcome, CallError> {
        self.call_with(provider, op, params, CallOptions { caller: "test".into(), ..Default::default() }).await
    }

    pub(crate) async fn call_with(
        &self,
        provider: &str,
        op: &str,
        params: &[(&str, &str)],
        options: CallOptions,
    ) -> Result<keyward::pipeline::CallOutcome, CallError> {
        let params: BTreeMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.kw.pipeline().call(CallRequest { provider: provider.into(), operation: op.into(), params, options }).await
    }

    pub(crate) fn recorded(&self) -> Vec<(String, String, i64, Option<i64>, String)> {
        self.kw.pipeline().recorder().flush();
        self.kw
            .store()
            .with_conn(|c| {
                let mut stmt =
                    c.prepare("SELECT provider, operation, attempt, status, outcome FROM calls ORDER BY id")?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .expect("calls readable")
    }
}

impl MockCreds {
    pub(crate) fn hmac(api_key: &str, secret: &str, passphrase: Option<&str>) -> Self {
        MockCreds {
            api_key: api_key.into(),
            secret: secret.into(),
            passphrase: passphrase.map(String::from),
            public_pem: None,
            private_pem: None,
        }
    }

    /// What the user pastes into Keyward as the secret.
    fn secret_for_keyward(&self) -> String {
        self.private_pem.clone().unwrap_or_else(|| self.secret.clone())
    }
}

fn binance_creds() -> MockCreds {
    MockCreds::hmac(
        "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
        None,
    )
}

fn status_reply(status: u16) -> Scripted {
    Scripted { status, headers: vec![], body: json!({"msg": "unavailable"}).to_string() }
}

#[tokio::test]
async fn a_signed_binance_call_verifies_at_the_exchange_and_is_normalised() {
    let f = fixture();
    let creds = binance_creds();
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds.clone())).await;
    f.point("binance", &mock.base_url);
    f.add_key("binance", "main", &creds, "read");
    let (method, path) = f.endpoint("binance", "balances");
    mock.route(
        &format!("{method} {path}"),
        json!({"balances": [{"asset": "BTC", "free": "0.5", "locked": "0.1"}, {"asset": "USDT", "free": "1200", "locked": "0"}]}),
    );

    let out = f.call("binance", "balances", &[]).await.expect("signed call succeeds");
    assert_eq!(mock.rejected(), 0);
    assert_eq!(mock.hits(), 1);
    match out.data {
        Normalized::Balances(b) => {
            assert_eq!(b.len(), 2);
            assert_eq!((b[0].asset.as_str(), b[0].free.as_str(), b[0].locked.as_str()), ("BTC", "0.5", "0.1"));
        }
        other => panic!("expected balances, got {other:?}"),
    }
    let seen = &mock.seen()[0];
    assert!(seen.query.contains("timestamp="), "query: {}", seen.query);
    assert!(seen.query.contains("recvWindow=5000"), "query: {}", seen.query);
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_by_the_exchange_and_reported_as_http_401() {
    let f = fixture();
    let creds = binance_creds();
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds.clone())).await;
    f.point("binance", &mock.base_url);
    let wrong = MockCreds::hmac(&creds.api_key, "not-the-secret", None);
    f.add_key("binance", "main", &wrong, "read");
    let err = f.call("binance", "balances", &[]).await.expect_err("bad signature");
    assert_eq!(mock.rejected(), 1);
    assert_eq!(mock.hits(), 1, "a 401 is not retried");
    match &err {
        CallError::Http { status, .. } => assert_eq!(*status, 401),
        other => panic!("expected HTTP 401, got {other:?}"),
    }
    assert!(!err.to_string().contains("not-the-secret"), "the secret leaked into: {err}");
}

#[tokio::test]
async fn kraken_private_calls_sign_path_and_nonce_and_nonces_keep_increasing() {
    let f = fixture();
    let creds = MockCreds::hmac(
        "kraken-key",
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==",
        None,
    );
    let mock = MockExchange::start(Auth::Kraken, Some(creds.clone())).await;
    f.point("kraken", &mock.base_url);
    f.add_key("kraken", "main", &creds, "read");
    let (method, path) = f.endpoint("kraken", "balances");
    assert_eq!(method, "POST");
    mock.route(&format!("POST {path}"), json!({"error": [], "result": {"XXBT": "1.25", "ZUSD": "300.5"}}));
    for _ in 0..5 {
        let out = f.call("kraken", "balances", &[]).await.expect("kraken call");
        assert!(matches!(out.data, Normalized::Balances(ref b) if b.len() == 2), "{:?}", out.data);
    }
    assert_eq!(mock.rejected(), 0, "every signature and nonce accepted");
    assert_eq!(mock.hits(), 5);
}

#[tokio::test]
async fn kraken_errors_inside_a_200_body_are_reported_with_their_code() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("kraken", &mock.base_url);
    let (_, path) = f.endpoint("kraken", "server_time");
    mock.route(&format!("GET {path}"), json!({"error": ["EService:Unavailable"], "result": {}}));
    let err = f.call("kraken", "server_time", &[]).await.expect_err("exchange error");
    match err {
        CallError::Exchange { code, message, .. } => {
            assert_eq!(code, "EService");
            assert_eq!(message, "Unavailable");
        }
        other => panic!("expected an exchange error, got {other:?}"),
    }
}

fn ec_key_pair() -> (String, String) {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let secret = p256::SecretKey::random(&mut rand::thread_rng());
    let private = secret.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
    let public = secret.public_key().to_public_key_pem(LineEnding::LF).expect("pem");
    (private, public)
}

#[tokio::test]
async fn every_signed_scheme_is_accepted_by_an_exchange_that_checks_it() {
    let (private_pem, public_pem) = ec_key_pair();
    let b64_secret = base64::engine::general_purpose::STANDARD.encode(b"coinbase-exchange-secret-bytes-32");
    let cases: Vec<(&str, Auth, MockCreds)> = vec![
        ("binance", Auth::BinanceHmac, binance_creds()),
        ("kucoin", Auth::Kucoin, MockCreds::hmac("kc-key", "kc-secret", Some("kc-pass"))),
        ("okx", Auth::Okx, MockCreds::hmac("okx-key", "okx-secret", Some("okx-pass"))),
        ("bybit", Auth::BybitV5, MockCreds::hmac("bybit-key", "bybit-secret", None)),
        ("coinbase_exchange", Auth::CoinbaseExchange, MockCreds::hmac("cbx-key", &b64_secret, Some("cbx-pass"))),
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
        ("gemini", Auth::Gemini, MockCreds::hmac("gemini-key", "gemini-secret", None)),
        ("bitfinex", Auth::BitfinexV2, MockCreds::hmac("bfx-key", "bfx-secret", None)),
        ("bitstamp", Auth::BitstampV2, MockCreds::hmac("bitstamp-key", "bitstamp-secret", None)),
    ];
    for (provider, auth, creds) in cases {
        let f = fixture();
        let mock = MockExchange::start(auth, Some(creds.clone())).await;
        f.point(provider, &mock.base_url);
        f.add_key(provider, "main", &creds, "read");
        let (method, path) = f.endpoint(provider, "balances");
        let ok_code = if provider == "kucoin" { "200000" } else { "0" };
        mock.route(&format!("{method} {path}"), json!({"code": ok_code, "retCode": 0, "data": [], "result": {}}));
        let out = f.call(provider, "balances", &[]).await;
        assert!(out.is_ok(), "{provider}: {:?}", out.err());
        assert_eq!(mock.rejected(), 0, "{provider}: signature rejected");
        assert_eq!(mock.hits(), 1, "{provider}");
    }
}

#[tokio::test]
async fn transient_failures_are_retried_and_each_attempt_is_recorded() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "retry.base_delay_ms", "1");
    let (_, path) = f.endpoint("binance", "server_time");
    mock.script([status_reply(503), status_reply(502)]);
    mock.route(&format!("GET {path}"), json!({"serverTime": 1_700_000_000_000_i64}));
    let out = f.call("binance", "server_time", &[]).await.expect("third attempt succeeds");
    assert_eq!(out.attempts, 3);
    assert_eq!(mock.hits(), 3);
    assert!(
        matches!(out.data, Normalized::ServerTime { server_time } if server_time.timestamp_millis() == 1_700_000_000_000)
    );
    let rows: Vec<_> = f.recorded().into_iter().filter(|r| r.1 == "server_time").collect();
    let statuses: Vec<Option<i64>> = rows.iter().map(|r| r.3).collect();
    assert_eq!(statuses, vec![Some(503), Some(502), Some(200)]);
    assert_eq!(rows.iter().map(|r| r.2).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(rows.iter().all(|r| r.0 == "binance" && r.1 == "server_time"));
}

#[tokio::test]
async fn retries_stop_at_the_configured_attempts() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "retry.base_delay_ms", "1");
    f.set("binance", "retry.max_attempts", "2");
    mock.script([status_reply(503), status_reply(503), status_reply(503)]);
    let err = f.call("binance", "server_time", &[]).await.expect_err("gives up");
    assert!(matches!(err, CallError::Http { status: 503, .. }), "{err:?}");
    assert_eq!(mock.hits(), 2);
}

/// The pipeline of `f` on a fake clock and a manual timer: retry back-offs finish when the
/// test moves time.
fn paused_pipeline(f: &Fixture) -> (Pipeline, FakeClock, ManualTimer) {
    let clock = FakeClock::at(chrono::Utc::now());
    let timer = ManualTimer::new(clock.clone());
    let pipeline = Pipeline::with_timing(
        f.kw.providers().clone(),
        f.kw.keys().clone(),
        Arc::new(Unlimited),
        Recorder::start(f.kw.store().clone()),
        Arc::new(clock.clone()),
        Arc::new(timer.clone()),
    );
    (pipeline, clock, timer)
}

fn server_time(pipeline: &Pipeline) -> tokio::task::JoinHandle<Result<keyward::pipeline::CallOutcome, CallError>> {
    let pipeline = pipeline.clone();
    tokio::spawn(async move {
        pipeline
            .call(CallRequest {
                provider: "binance".into(),
                operation: "server_time".into(),
                params: BTreeMap::new(),
                options: CallOptions { caller: "test".into(), ..Default::default() },
            })
            .await
    })
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "retry.base_delay_ms", "1");
    let (_, path) = f.endpoint("binance", "server_time");
    mock.script([Scripted { status: 429, headers: vec![("retry-after", "7".into())], body: "{}".into() }]);
    mock.route(&format!("GET {path}"), json!({"serverTime": 1_700_000_000_000_i64}));
    let (pipeline, clock, timer) = paused_pipeline(&f);
    let call = server_time(&pipeline);
    let wake = timer.next_sleeper().await;
    assert_eq!(wake - clock.now(), chrono::Duration::seconds(7), "the retry waits what Retry-After says");
    assert_eq!(mock.hits(), 1, "nothing is resent while it waits");
    timer.advance(Duration::from_secs(7));
    let out = call.await.expect("task").expect("succeeds after waiting");
    assert_eq!(out.attempts, 2);
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn a_failed_attempt_backs_off_between_half_and_all_of_the_configured_delay() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "retry.base_delay_ms", "4000");
    let (_, path) = f.endpoint("binance", "server_time");
    mock.script([status_reply(503)]);
    mock.route(&format!("GET {path}"), json!({"serverTime": 1_700_000_000_000_i64}));
    let (pipeline, clock, timer) = paused_pipeline(&f);
    let call = server_time(&pipeline);
    let wait = timer.next_sleeper().await - clock.now();
    assert!(
        wait >= chrono::Duration::seconds(2) && wait <= chrono::Duration::seconds(4),
        "jittered back-off of a 4 s base: {wait}"
    );
    timer.advance(Duration::from_secs(4));
    assert_eq!(call.await.expect("task").expect("second attempt").attempts, 2);
}

#[tokio::test]
async fn an_order_that_meets_a_5xx_is_status_unknown_and_never_resent() {
    let f = fixture();
    let creds = binance_creds();
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds.clone())).await;
    f.point("binance", &mock.base_url);
    f.add_key("binance", "trader", &creds, "read,trade");
    mock.script([status_reply(503)]);
    let err = f
        .call(
            "binance",
            "place_order",
            &[("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.01")],
        )
        .await
        .expect_err("status unknown");
    assert!(matches!(err, CallError::StatusUnknown { .. }), "{err:?}");
    assert_eq!(err.kind(), "statusUnknown");
    assert!(err.to_string().contains("not resent"), "{err}");
    assert_eq!(mock.hits(), 1, "an order is never retried blindly");
}

#[tokio::test]
async fn a_read_only_key_cannot_place_an_order_and_nothing_is_sent() {
    let f = fixture();
    let creds = binance_creds();
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds.clone())).await;
    f.point("binance", &mock.base_url);
    f.add_key("binance", "reader", &creds, "read");
    let err = f
        .call(
            "binance",
            "place_order",
            &[("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.01")],
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, CallError::PermissionDenied { .. }), "{err:?}");
    assert!(err.to_string().contains("trade scope"), "{err}");
    assert_eq!(mock.hits(), 0, "nothing reached the exchange");
}

#[tokio::test]
async fn an_expired_key_is_never_used() {
    let f = fixture();
    let creds = binance_creds();
    let mock = MockExchange::start(Auth::BinanceHmac, Some(creds.clone())).await;
    f.point("binance", &mock.base_url);
    f.kw.keys()
        .add(
            NewKey {
                provider: "binance".into(),
                label: "old".into(),
                environment: "production".into(),
                api_key: creds.api_key.clone(),
                secret: SecretString::from(creds.secret.clone()),
                passphrase: None,
                scopes: Scopes::default(),
                notes: String::new(),
                expires_at: Some(chrono::Utc::now() - chrono::Duration::days(1)),
            },
            chrono::Utc::now(),
        )
        .expect("stored");
    let err = f.call("binance", "balances", &[]).await.expect_err("expired");
    assert_eq!(err.kind(), "keyExpired");
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(mock.hits(), 0);
}

#[tokio::test]
async fn identical_concurrent_cacheable_calls_reach_the_exchange_once() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "endpoints.ticker.cache_ttl_ms", "60000");
    let (_, path) = f.endpoint("binance", "ticker");
    mock.route(
        &format!("GET {path}"),
        json!({"symbol": "BTCUSDT", "bidPrice": "100.0", "askPrice": "100.5", "lastPrice": "100.2"}),
    );
    let calls = (0..10).map(|_| f.call("binance", "ticker", &[("symbol", "BTCUSDT")]));
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{:?}", results.iter().find(|r| r.is_err()));
    assert_eq!(mock.hits(), 1, "one upstream call for ten identical requests");
    let again = f.call("binance", "ticker", &[("symbol", "BTCUSDT")]).await.expect("cached");
    assert!(again.from_cache);
    assert_eq!(mock.hits(), 1);
    let other = f.call("binance", "ticker", &[("symbol", "ETHUSDT")]).await.expect("other symbol");
    assert!(!other.from_cache);
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn an_unreachable_provider_fails_over_to_the_next() {
    let f = fixture();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    f.point("binance", &dead_url);
    f.set("binance", "retry.max_attempts", "1");
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("bybit", &mock.base_url);
    let (_, path) = f.endpoint("bybit", "server_time");
    mock.route(&format!("GET {path}"), json!({"retCode": 0, "retMsg": "OK", "result": {"timeSecond": "1700000000"}}));
    let out = f
        .call_with(
            "binance",
            "server_time",
            &[],
            CallOptions { caller: "test".into(), failover: vec!["bybit".into()], ..Default::default() },
        )
        .await
        .expect("bybit answers");
    assert_eq!(out.provider, "bybit");
    assert!(matches!(out.data, Normalized::ServerTime { server_time } if server_time.timestamp() == 1_700_000_000));
}

#[tokio::test]
async fn a_response_above_the_size_cap_is_refused() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "max_response_bytes", "64");
    let (_, path) = f.endpoint("binance", "server_time");
    mock.route(&format!("GET {path}"), json!({"serverTime": 1, "padding": "x".repeat(500)}));
    let err = f.call("binance", "server_time", &[]).await.expect_err("too large");
    assert_eq!(err.kind(), "tooLarge");
}

#[tokio::test]
async fn a_discontinued_provider_cannot_be_called() {
    let f = fixture();
    let err = f.call("ftx", "server_time", &[]).await.expect_err("FTX is gone");
    assert!(err.to_string().contains("2022"), "{err}");
}

#[tokio::test]
async fn missing_required_parameters_are_named_before_anything_is_sent() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    let err = f.call("binance", "order_book", &[]).await.expect_err("symbol missing");
    assert!(err.to_string().contains("`symbol`"), "{err}");
    assert_eq!(mock.hits(), 0);
    let err = f.call("binance", "no_such_op", &[]).await.expect_err("unknown op");
    assert!(err.to_string().contains("no_such_op") && err.to_string().contains("server_time"), "{err}");
}

#[tokio::test]
async fn data_providers_send_their_key_in_the_documented_header_or_query_parameter() {
    // CoinMarketCap: X-CMC_PRO_API_KEY header.
    let f = fixture();
    let creds = MockCreds::hmac("cmc-key-123", "cmc-key-123", None);
    let mock = MockExchange::start(Auth::ApiKeyHeader("x-cmc_pro_api_key"), Some(creds.clone())).await;
    f.point("coinmarketcap", &mock.base_url);
    // The token is the secret (kept in the credential store); the "API key" is only a label.
    f.add_key("coinmarketcap", "main", &MockCreds::hmac("cmc", "cmc-key-123", None), "read");
    let (method, path) = f.endpoint("coinmarketcap", "ticker");
    mock.route(&format!("{method} {path}"), json!({"data": {}, "status": {"error_code": 0}}));
    f.call("coinmarketcap", "ticker", &[]).await.expect("CoinMarketCap call");
    assert_eq!(mock.rejected(), 0);
    let seen = mock.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, path);
    assert!(seen[0].query.contains("symbol=BTC"), "defaults are sent: {}", seen[0].query);
    assert_eq!(seen[0].headers.get("x-cmc_pro_api_key").map(String::as_str), Some("cmc-key-123"));

    // Alpha Vantage: apikey query parameter; an error never shows the URL with the key.
    let f = fixture();
    let creds = MockCreds::hmac("av-key-456", "av-key-456", None);
    let mock = MockExchange::start(Auth::ApiKeyQuery("apikey"), Some(creds.clone())).await;
    f.point("alphavantage", &mock.base_url);
    f.add_key("alphavantage", "main", &MockCreds::hmac("av", "av-key-456", None), "read");
    let (method, path) = f.endpoint("alphavantage", "ticker");
    mock.route(&format!("{method} {path}"), json!({"Realtime Currency Exchange Rate": {}}));
    f.call("alphavantage", "ticker", &[]).await.expect("Alpha Vantage call");
    assert_eq!(mock.rejected(), 0);
    assert!(mock.seen()[0].query.contains("apikey=av-key-456"));
    assert!(mock.seen()[0].body.is_empty());

    f.point("alphavantage", "http://127.0.0.1:9");
    f.set("alphavantage", "retry.max_attempts", "1");
    let err = f.call("alphavantage", "stock_quote", &[("symbol", "IBM")]).await.expect_err("nothing listens on port 9");
    assert!(!err.to_string().contains("av-key-456"), "the key leaked into: {err}");
}

#[tokio::test]
async fn a_deeper_order_book_is_charged_its_documented_weight() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    let (_, path) = f.endpoint("binance", "order_book");
    mock.route(&format!("GET {path}"), json!({"bids": [["1", "2"]], "asks": [["3", "4"]]}));
    f.call("binance", "order_book", &[("symbol", "BTCUSDT")]).await.expect("default depth");
    f.call("binance", "order_book", &[("symbol", "BTCUSDT"), ("limit", "1000")]).await.expect("deep book");
    f.call("binance", "order_book", &[("symbol", "BTCUSDT"), ("limit", "5000")]).await.expect("deepest book");
    f.kw.pipeline().recorder().flush();
    let weights: Vec<i64> =
        f.kw.store()
            .with_conn(|c| {
                let mut stmt = c.prepare("SELECT weight FROM calls WHERE operation = 'order_book' ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .expect("weights");
    assert_eq!(weights, vec![5, 50, 250]);
    assert!(mock.seen()[1].query.contains("limit=1000"));
    let usage = f.kw.limiter().snapshot();
    let w = usage.iter().find(|s| s.provider == "binance" && s.limit_id == "request_weight").expect("request_weight");
    // …plus the 20 of the exchangeInfo read of Binance's published limits before the first call.
    assert_eq!(w.used, 305.0 + 20.0, "the limiter charged the same weights");
}

async fn call_on(
    pipeline: &Pipeline,
    provider: &str,
    op: &str,
    failover: &[&str],
) -> Result<keyward::pipeline::CallOutcome, CallError> {
    call_with_params(pipeline, provider, op, BTreeMap::new(), failover).await
}

async fn call_with_params(
    pipeline: &Pipeline,
    provider: &str,
    op: &str,
    params: BTreeMap<String, String>,
    failover: &[&str],
) -> Result<keyward::pipeline::CallOutcome, CallError> {
    pipeline
        .call(CallRequest {
            provider: provider.into(),
            operation: op.into(),
            params,
            options: CallOptions {
                caller: "test".into(),
                failover: failover.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        })
        .await
}

#[tokio::test]
async fn a_failing_provider_trips_its_breaker_calls_fail_over_at_once_and_probes_close_it() {
    use keyward::pipeline::BreakerState;
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "retry.max_attempts", "1");
    let backup = MockExchange::start(Auth::Public, None).await;
    f.point("bybit", &backup.base_url);
    let (_, bybit_path) = f.endpoint("bybit", "server_time");
    backup.route(
        &format!("GET {bybit_path}"),
        json!({"retCode": 0, "retMsg": "OK", "result": {"timeSecond": "1700000000"}}),
    );
    let (pipeline, clock, _timer) = paused_pipeline(&f);
    mock.script((0..5).map(|_| status_reply(503)));
    for _ in 0..5 {
        let err = call_on(&pipeline, "binance", "server_time", &[]).await.expect_err("503");
        assert!(matches!(err, CallError::Http { status: 503, .. }), "{err:?}");
    }
    assert_eq!(mock.hits(), 5);

    // Open: refused at once, nothing reaches the exchange, and the message says why and when.
    let err = call_on(&pipeline, "binance", "server_time", &[]).await.expect_err("open");
    assert_eq!(err.kind(), keyward::ErrorKind::CircuitOpen);
    let text = err.to_string();
    assert!(
        text.contains("circuit breaker of the provider is open") && text.contains("5 failures in a row: HTTP 503"),
        "{text}"
    );
    assert!(text.contains("tries again at"), "{text}");
    assert_eq!(mock.hits(), 5, "an open breaker sends nothing");
    let views = pipeline.breakers().views();
    assert!(views.iter().any(|v| v.provider == "binance" && v.operation.is_none() && v.state == BreakerState::Open));

    // With somewhere to go, the call fails over without trying binance.
    let out = call_on(&pipeline, "binance", "server_time", &["bybit"]).await.expect("bybit answers");
    assert_eq!(out.provider, "bybit");
    assert_eq!(mock.hits(), 5);

    // After the open time the next calls are probes; binance is back, so two successes close it.
    let (_, path) = f.endpoint("binance", "server_time");
    mock.route(&format!("GET {path}"), json!({"serverTime": 1_700_000_000_000_i64}));
    clock.advance(Duration::from_secs(15));
    assert_eq!(pipeline.breakers().views()[0].state, BreakerState::HalfOpen);
    for _ in 0..2 {
        let out = call_on(&pipeline, "binance", "server_time", &["bybit"]).await.expect("binance again");
        assert_eq!(out.provider, "binance", "the probes go to binance, not to the failover");
    }
    assert!(pipeline.breakers().views().is_empty(), "closed: {:?}", pipeline.breakers().views());
    assert_eq!(mock.hits(), 7);
}

fn ticker_body(last: &str) -> serde_json::Value {
    json!({"symbol": "BTCUSDT", "bidPrice": "100.0", "askPrice": "100.5", "lastPrice": last})
}

async fn ticker_on(pipeline: &Pipeline, failover: &[&str]) -> Result<keyward::pipeline::CallOutcome, CallError> {
    let params = [("symbol".to_string(), "BTCUSDT".to_string())].into();
    call_with_params(pipeline, "binance", "ticker", params, failover).await
}

#[tokio::test]
async fn when_every_provider_fails_the_last_good_answer_is_served_stale_until_its_max_staleness() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "retry.max_attempts", "1");
    f.set("binance", "endpoints.ticker.cache_ttl_ms", "1000");
    f.set("binance", "stale_if_error_ms", "60000");
    // One caller at a time: no batch window to wait on the paused clock.
    f.unset("binance", "endpoints.ticker.batch");
    let (_, path) = f.endpoint("binance", "ticker");
    mock.route(&format!("GET {path}"), ticker_body("100.2"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    f.point("bybit", &dead);
    f.set("bybit", "retry.max_attempts", "1");
    let (pipeline, clock, _timer) = paused_pipeline(&f);

    let fresh = ticker_on(&pipeline, &["bybit"]).await.expect("fresh");
    assert_eq!((fresh.stale_age, fresh.from_cache), (None, false));
    // Within the TTL the cache answers; past it, binance fails (503) and bybit is down.
    clock.advance(Duration::from_millis(500));
    assert!(ticker_on(&pipeline, &["bybit"]).await.expect("cached").from_cache);
    mock.script((0..20).map(|_| status_reply(503)));
    clock.advance(Duration::from_secs(30));
    let stale = ticker_on(&pipeline, &["bybit"]).await.expect("the last good answer");
    assert_eq!(stale.stale_age, Some(Duration::from_millis(30_500)));
    assert_eq!(stale.provider, "binance");
    assert!(
        matches!(&stale.data, Normalized::Ticker { last, .. } if last.as_deref() == Some("100.2")),
        "{:?}",
        stale.data
    );
    let why = stale.stale_because.clone().unwrap_or_default();
    assert!(why.contains("bybit") && why.contains("no answer"), "the last provider's error: {why}");
    let reply = keyward::control::CallReply::from_outcome(&stale, false);
    assert_eq!(reply.stale_age_ms, Some(30_500));

    // TTL (1 s) + max staleness (60 s) later, there is nothing left to serve: a clear error.
    clock.advance(Duration::from_millis(30_501));
    let err = ticker_on(&pipeline, &["bybit"]).await.expect_err("too old to serve");
    assert!(err.to_string().contains("bybit"), "{err}");
    // An answer fetched with no_cache (a health check) is never served stale.
    let mut options = CallOptions { caller: "test".into(), no_cache: true, ..Default::default() };
    options.failover.clear();
    let err = pipeline
        .call(CallRequest {
            provider: "binance".into(),
            operation: "ticker".into(),
            params: [("symbol".to_string(), "BTCUSDT".to_string())].into(),
            options,
        })
        .await
        .expect_err("no stale answer for no_cache");
    assert!(matches!(err, CallError::Http { status: 503, .. } | CallError::CircuitOpen { .. }), "{err:?}");
}

#[tokio::test]
async fn errors_in_disguise_are_never_cached_and_a_throttle_note_gets_the_stale_answer() {
    let f = fixture();
    let mock = f.keyed_mock("alphavantage", Auth::ApiKeyQuery("apikey"), "av-key-456").await;
    let (method, path) = f.endpoint("alphavantage", "market_status");
    let route = format!("{method} {path}");
    let note =
        json!({"Note": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day."});
    let (pipeline, clock, _timer) = paused_pipeline(&f);
    let market_status = || {
        pipeline.call(CallRequest {
            provider: "alphavantage".into(),
            operation: "market_status".into(),
            params: BTreeMap::new(),
            options: CallOptions { caller: "test".into(), ..Default::default() },
        })
    };

    // A throttle note in an HTTP 200 is an error, and it is not cached: the next call asks again.
    mock.route(&route, note.clone());
    let err = market_status().await.expect_err("throttled");
    assert!(matches!(err.root(), CallError::Exchange { code, .. } if code == "throttled"), "{err:?}");
    mock.route(&route, json!({"markets": [{"market_type": "Equity", "current_status": "open"}]}));
    market_status().await.expect("answered");
    assert_eq!(mock.hits(), 2, "the note was not cached");

    // Past the hour of cache, a throttle note is answered with the last good answer, stale.
    mock.route(&route, note);
    clock.advance(Duration::from_secs(3600 + 10));
    let stale = market_status().await.expect("stale answer instead of the note");
    assert_eq!(stale.stale_age, Some(Duration::from_secs(3610)));
    assert!(stale.stale_because.unwrap_or_default().contains("25 requests per day"));
    assert_eq!(mock.hits(), 3);
}

#[tokio::test]
async fn an_empty_order_book_is_an_error_and_not_cached() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "endpoints.order_book.cache_ttl_ms", "60000");
    f.set("binance", "stale_if_error_ms", "0");
    let (_, path) = f.endpoint("binance", "order_book");
    mock.route(&format!("GET {path}"), json!({"lastUpdateId": 1, "bids": [], "asks": []}));
    let err = f.call("binance", "order_book", &[("symbol", "BTCUSDT")]).await.expect_err("empty");
    assert!(err.to_string().contains("the order book is empty"), "{err}");
    mock.route(&format!("GET {path}"), json!({"lastUpdateId": 2, "bids": [["100.0", "1"]], "asks": [["100.5", "2"]]}));
    let out = f.call("binance", "order_book", &[("symbol", "BTCUSDT")]).await.expect("a book");
    assert!(!out.from_cache, "the empty book was not cached");
    assert_eq!(mock.hits(), 2);
}

#[tokio::test]
async fn hot_entries_are_refreshed_ahead_and_cold_ones_are_left_to_expire() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "endpoints.ticker.cache_ttl_ms", "1000");
    f.unset("binance", "endpoints.ticker.batch");
    let (_, path) = f.endpoint("binance", "ticker");
    mock.route(&format!("GET {path}"), ticker_body("100.2"));
    let (pipeline, clock, _timer) = paused_pipeline(&f);

    ticker_on(&pipeline, &[]).await.expect("first read fetches");
    assert_eq!(mock.hits(), 1);
    assert_eq!(pipeline.refresh_ahead().await, 0, "not due before three quarters of the TTL");
    clock.advance(Duration::from_millis(800));
    assert!(ticker_on(&pipeline, &[]).await.expect("cached").from_cache);
    assert_eq!(pipeline.refresh_ahead().await, 1, "read recently and past 750 ms: refreshed");
    assert_eq!(mock.hits(), 2);
    // 1.1 s after the first fetch the reader still gets a cached answer, refreshed at 0.8 s.
    clock.advance(Duration::from_millis(300));
    assert!(ticker_on(&pipeline, &[]).await.expect("still cached").from_cache);
    assert_eq!(mock.hits(), 2);
    let refresher = mock.seen().last().map(|s| s.path.clone());
    assert_eq!(refresher.as_deref(), Some(path.as_str()));

    // Nobody reads it any more: it is refreshed while warm, then dropped.
    clock.advance(Duration::from_millis(600));
    assert_eq!(pipeline.refresh_ahead().await, 1);
    clock.advance(Duration::from_secs(5));
    assert_eq!(pipeline.refresh_ahead().await, 0, "cold: not refreshed");
    assert_eq!(mock.hits(), 3);
    pipeline.recorder().flush();
    let callers: Vec<String> =
        f.kw.store()
            .with_conn(|c| {
                let mut stmt = c.prepare("SELECT caller FROM calls ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
                Ok(rows)
            })
            .expect("calls readable");
    assert_eq!(callers, vec!["test", "refresh", "refresh"], "refreshes are recorded as the refresh caller");
}

#[tokio::test]
async fn concurrent_single_symbol_reads_go_out_as_one_batch_and_each_gets_its_own_answer() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "endpoints.ticker.cache_ttl_ms", "0");
    let (_, path) = f.endpoint("binance", "ticker");
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT"];
    let items: Vec<serde_json::Value> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"symbol": s, "bidPrice": "1", "askPrice": "2", "lastPrice": format!("{}.5", i + 10)}))
        .collect();
    mock.route(&format!("GET {path}"), json!(items));
    let (pipeline, clock, timer) = paused_pipeline(&f);
    let calls: Vec<_> = symbols
        .iter()
        .map(|s| {
            let pipeline = pipeline.clone();
            let symbol = s.to_string();
            tokio::spawn(async move {
                pipeline
                    .call(CallRequest {
                        provider: "binance".into(),
                        operation: "ticker".into(),
                        params: [("symbol".to_string(), symbol)].into(),
                        options: CallOptions { caller: "test".into(), ..Default::default() },
                    })
                    .await
            })
        })
        .collect();
    // The first call waits the 10 ms window; the others join its batch.
    let wake = timer.next_sleeper().await;
    assert_eq!(wake - clock.now(), chrono::Duration::milliseconds(10));
    while pipeline.batched_waiting() < symbols.len() {
        tokio::task::yield_now().await;
    }
    timer.advance(Duration::from_millis(10));
    for (i, call) in calls.into_iter().enumerate() {
        let out = call.await.expect("task").expect("answered");
        let want = format!("{}.5", i + 10);
        assert!(
            matches!(&out.data, Normalized::Ticker { last, .. } if last.as_deref() == Some(want.as_str())),
            "{i}: {:?}",
            out.data
        );
    }
    assert_eq!(mock.hits(), 1, "one request for five symbols");
    let query = urlencoding_decode(&mock.seen()[0].query);
    assert!(query.starts_with("symbols=[\"BTCUSDT\""), "{query}");
    pipeline.recorder().flush();
    let weight: i64 =
        f.kw.store()
            .with_conn(|c| Ok(c.query_row("SELECT SUM(weight) FROM calls", [], |r| r.get(0))?))
            .expect("weight");
    assert_eq!(weight, 2, "a batch of up to 20 weighs 2, where five single calls weigh 10");
}

fn urlencoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes()).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

#[tokio::test]
async fn an_endpoint_class_can_have_its_own_retry_policy() {
    let f = fixture();
    let mock = MockExchange::start(Auth::Public, None).await;
    f.point("binance", &mock.base_url);
    f.set("binance", "retry.base_delay_ms", "1");
    f.set("binance", "retry.max_attempts", "3");
    f.set("binance", "retry_by_class.read.max_attempts", "1");
    let spec = f.kw.providers().get("binance").expect("binance").spec;
    assert_eq!(spec.retry_for(keyward::provider::OperationClass::Read).max_attempts, 1);
    assert_eq!(
        spec.retry_for(keyward::provider::OperationClass::Trade).max_attempts,
        3,
        "other classes keep the provider's"
    );
    assert!(f.kw.providers().export_toml("binance").expect("toml").contains("[retry_by_class.read]"));
    mock.script([status_reply(503), status_reply(503)]);
    let err = f.call("binance", "server_time", &[]).await.expect_err("no retry for reads");
    assert!(matches!(err, CallError::Http { status: 503, .. }), "{err:?}");
    assert_eq!(mock.hits(), 1);
    let bad = f.kw.providers().set("binance", &[("retry_by_class.trade.max_attempts", "0")]);
    let msg = bad.expect_err("zero attempts").to_string();
    assert!(msg.contains("retry_by_class.trade.max_attempts"), "{msg}");
}
