//! One budget across machines, against a real `redis-server` (the Debian package, started here
//! on a free loopback port with a temporary directory): the shared charge script per window
//! kind, and three Keyward instances (separate data directories) sharing an account limit of a
//! strict exchange — within it with Redis, over it without, and safe while Redis is stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward::pipeline::{CallOptions, CallRequest};
use keyward::provider::{RateLimitCounts, RateLimitKind, RateLimitRule, RateLimitScope};
use keyward::ratelimit::shared::redis::{ChargeAnswer, RedisStore, SharedCharge};
use keyward::vault::MemoryStore;
use keyward::Keyward;
use tokio_util::sync::CancellationToken;

use crate::support::strict_exchange::StrictExchange;

/// How long a freshly started (or restarted) Redis may take to answer.
const REDIS_STARTUP: Duration = Duration::from_secs(20);

/// A `redis-server` on 127.0.0.1 for one test; stopped when dropped.
struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    password: Option<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn redis_server_bin() -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let p = PathBuf::from(dir).join("redis-server");
        if p.exists() {
            return p;
        }
    }
    panic!("redis-server is not installed: `make test` installs the redis-server package (scripts/setup-system.sh)");
}

impl RedisServer {
    async fn start() -> Self {
        Self::start_with(None).await
    }

    async fn start_with(password: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut me = Self { child: None, port: free_port(), dir, password: password.map(str::to_string) };
        me.launch().await;
        me
    }

    async fn launch(&mut self) {
        let child = Command::new(redis_server_bin())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(self.password.iter().flat_map(|p| ["--requirepass".to_string(), p.clone()]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + REDIS_STARTUP;
        loop {
            if RedisStore::connect(&self.url(), &self.url()).await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {} within {REDIS_STARTUP:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
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

fn charge(key: &str, kind: RateLimitKind, capacity: f64, interval_ms: u64, amount: f64) -> SharedCharge {
    SharedCharge {
        key: key.into(),
        kind,
        capacity,
        interval_ms,
        decay_per_sec: 1.0,
        amount,
        period: String::new(),
        extra: 0.0,
    }
}

async fn fits(store: &RedisStore, charges: Vec<SharedCharge>) -> ChargeAnswer {
    store.charge("t:pause", &charges).await.expect("redis answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_charge_keeps_each_window_kind_like_the_local_limiter() {
    let redis = RedisServer::start().await;
    let store = RedisStore::connect(&redis.url(), &redis.url()).await.expect("connect");

    // Fixed window: 10 per minute; the 11th waits for the next aligned window (< 60 s).
    let fixed = charge("t:fixed", RateLimitKind::FixedWindow, 10.0, 60_000, 1.0);
    for _ in 0..10 {
        assert_eq!(fits(&store, vec![fixed.clone()]).await, ChargeAnswer::Charged);
    }
    match fits(&store, vec![fixed.clone()]).await {
        ChargeAnswer::Wait { wait, limit: Some(0) } => assert!(wait <= Duration::from_secs(60) && !wait.is_zero()),
        other => panic!("the 11th call fits: {other:?}"),
    }

    // Sliding window: 3 per second; the 4th waits until the oldest leaves (≤ 1 s).
    let sliding = charge("t:sliding", RateLimitKind::SlidingWindow, 3.0, 1000, 1.0);
    for _ in 0..3 {
        assert_eq!(fits(&store, vec![sliding.clone()]).await, ChargeAnswer::Charged);
    }
    match fits(&store, vec![sliding.clone()]).await {
        ChargeAnswer::Wait { wait, .. } => assert!(wait <= Duration::from_millis(1000), "{wait:?}"),
        other => panic!("the 4th call fits: {other:?}"),
    }

    // Decaying counter (Kraken): 10 at most, draining 1 per second; full, one more waits ~1 s.
    let decaying = charge("t:decaying", RateLimitKind::DecayingCounter, 10.0, 0, 10.0);
    assert_eq!(fits(&store, vec![decaying.clone()]).await, ChargeAnswer::Charged);
    match fits(&store, vec![SharedCharge { amount: 1.0, ..decaying.clone() }]).await {
        ChargeAnswer::Wait { wait, .. } => {
            assert!(wait >= Duration::from_millis(900) && wait <= Duration::from_millis(1000), "{wait:?}")
        }
        other => panic!("an overfull counter fits: {other:?}"),
    }

    // Pool window (KuCoin): 2 per 5 s from the first call.
    let pool = charge("t:pool", RateLimitKind::PoolWindow, 2.0, 5000, 1.0);
    assert_eq!(fits(&store, vec![pool.clone()]).await, ChargeAnswer::Charged);
    assert_eq!(fits(&store, vec![pool.clone()]).await, ChargeAnswer::Charged);
    match fits(&store, vec![pool.clone()]).await {
        ChargeAnswer::Wait { wait, .. } => {
            assert!(wait <= Duration::from_millis(5000) && wait > Duration::from_millis(4000))
        }
        other => panic!("the pool's 3rd call fits: {other:?}"),
    }

    // Monthly quota: 5 this month; the 6th waits until the month ends.
    let monthly = SharedCharge {
        period: "2026-12|3600000".into(),
        ..charge("t:month", RateLimitKind::MonthlyQuota, 5.0, 0, 5.0)
    };
    assert_eq!(fits(&store, vec![monthly.clone()]).await, ChargeAnswer::Charged);
    assert_eq!(
        fits(&store, vec![SharedCharge { amount: 1.0, ..monthly.clone() }]).await,
        ChargeAnswer::Wait { wait: Duration::from_millis(3_600_000), limit: Some(0) }
    );

    // All or none: a call on a free limit and a full one charges neither.
    let free = charge("t:free", RateLimitKind::FixedWindow, 1.0, 60_000, 1.0);
    assert!(matches!(fits(&store, vec![free.clone(), fixed.clone()]).await, ChargeAnswer::Wait { limit: Some(1), .. }));
    assert_eq!(fits(&store, vec![free.clone()]).await, ChargeAnswer::Charged, "the free limit was not charged");

    // A pause (a 429 seen by any instance) holds every call of the provider.
    store.pause("t:pause", Duration::from_secs(30)).await.expect("pause");
    assert!(matches!(
        fits(&store, vec![charge("t:other", RateLimitKind::FixedWindow, 100.0, 1000, 1.0)]).await,
        ChargeAnswer::Wait { limit: None, .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_script_decides_like_the_local_windows_on_the_same_calls() {
    use keyward::ratelimit::window::{Window, WindowMath};
    let redis = RedisServer::start().await;
    let store = RedisStore::connect(&redis.url(), &redis.url()).await.expect("connect");
    let hour = Some(3_600_000);
    let rule = |kind, interval_ms, decay_per_sec| RateLimitRule {
        id: "r".into(),
        published: None,
        kind,
        scope: RateLimitScope::Account,
        limit: 10.0,
        interval_ms,
        decay_per_sec,
        counts: RateLimitCounts::Weight,
        applies_to: vec![],
        weight_header: None,
        remaining_header: None,
    };
    // Windows an hour long (and a counter that drains a unit per 1,000 s), so nothing resets
    // between the two clocks while the calls run.
    let cases = [
        rule(RateLimitKind::FixedWindow, hour, None),
        rule(RateLimitKind::SlidingWindow, hour, None),
        rule(RateLimitKind::DecayingCounter, None, Some(0.001)),
        rule(RateLimitKind::PoolWindow, hour, None),
        rule(RateLimitKind::MonthlyQuota, None, None),
    ];
    let amounts = [3.0, 3.0, 2.5, 1.0, 0.5, 2.0, 0.25];
    let margin = 1.0;
    for r in cases {
        let mut local = Window::for_rule(&r, r.limit, margin, Duration::ZERO);
        let key = format!("same:{:?}", r.kind);
        for (i, amount) in amounts.iter().enumerate() {
            let now = chrono::Utc::now();
            let local_fits = local.eta(*amount, now).is_zero();
            if local_fits {
                local.take(*amount, now);
            }
            let c = SharedCharge {
                key: key.clone(),
                kind: r.kind,
                capacity: r.limit - margin,
                interval_ms: r.interval_ms.unwrap_or(1000),
                decay_per_sec: r.decay_per_sec.unwrap_or(1.0),
                amount: *amount,
                period: "2026-12|86400000".into(),
                extra: 0.0,
            };
            let shared_fits = fits(&store, vec![c]).await == ChargeAnswer::Charged;
            assert_eq!(shared_fits, local_fits, "{:?}, call {i} of {amount}", r.kind);
        }
    }
}

/// The strict exchange's account budget: weight per aligned 2 s window, and new orders.
const LIMIT: u64 = 60;
const ORDER_LIMIT: u64 = 50;
const WINDOW_MS: u64 = 2000;
const RUN: Duration = Duration::from_secs(5);

/// A provider like Binance but with one account-scoped weight limit and no published limits,
/// pointed at `url`.
fn open_instance(dir: &tempfile::TempDir, url: &str) -> Keyward {
    open_instance_with(dir, url, LIMIT, WINDOW_MS)
}

/// An instance whose provider also limits the account's new orders, with a key of that
/// account stored under its own label (the same API key on every machine).
fn open_trading_instance(dir: &tempfile::TempDir, url: &str, label: &str) -> Keyward {
    let kw = open_instance_with(dir, url, 200, WINDOW_MS);
    let mut spec = kw.providers().get("strictx").expect("strictx").spec;
    spec.rate_limits.push(RateLimitRule {
        id: "account_orders".into(),
        published: None,
        kind: RateLimitKind::FixedWindow,
        scope: RateLimitScope::Account,
        limit: ORDER_LIMIT as f64,
        interval_ms: Some(WINDOW_MS),
        decay_per_sec: None,
        counts: RateLimitCounts::Requests,
        applies_to: vec!["place_order".into()],
        weight_header: None,
        remaining_header: None,
    });
    kw.providers().update(spec).expect("the order limit is added");
    kw.keys()
        .add(
            keyward::keys::NewKey {
                provider: "strictx".into(),
                label: label.into(),
                environment: "production".into(),
                api_key: "SHARED-ACCOUNT-KEY-7Qx".into(),
                secret: keyward::vault::SecretString::from("shared-account-secret".to_string()),
                passphrase: None,
                scopes: "read,trade".parse().expect("scopes"),
                notes: String::new(),
                expires_at: None,
            },
            chrono::Utc::now(),
        )
        .expect("the account's key");
    kw
}

fn order(instance: usize, label: &str) -> CallRequest {
    CallRequest {
        provider: "strictx".into(),
        operation: "place_order".into(),
        params: BTreeMap::from([
            ("symbol".to_string(), "BTCUSDT".to_string()),
            ("side".to_string(), "BUY".to_string()),
            ("type".to_string(), "MARKET".to_string()),
            ("quantity".to_string(), "0.001".to_string()),
        ]),
        options: CallOptions {
            caller: format!("bot-{instance}").as_str().into(),
            key: Some(label.to_string()),
            no_cache: true,
            ..CallOptions::default()
        },
    }
}

/// Each of the instances places orders and reads tickers as fast as it can until `stop`.
async fn drive_trading(instances: &[(Keyward, String)], stop: Instant) {
    let mut tasks = Vec::new();
    for (i, (kw, label)) in instances.iter().enumerate() {
        let (kw2, label) = (kw.clone(), label.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < stop {
                let _ = kw2.pipeline().call(order(i, &label)).await;
            }
        }));
        let kw3 = kw.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < stop {
                let _ = kw3.pipeline().call(ticker(i)).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller");
    }
}

fn open_instance_with(dir: &tempfile::TempDir, url: &str, limit: u64, window_ms: u64) -> Keyward {
    let kw = Keyward::open_with_secrets(dir.path(), Arc::new(MemoryStore::new())).expect("core opens");
    let mut spec = kw.providers().get("binance").expect("binance").spec;
    spec.id = "strictx".into();
    spec.name = "Strict exchange".into();
    spec.published_limits = None;
    spec.rate_limits = vec![RateLimitRule {
        id: "account_weight".into(),
        published: None,
        kind: RateLimitKind::FixedWindow,
        scope: RateLimitScope::Account,
        limit: limit as f64,
        interval_ms: Some(window_ms),
        decay_per_sec: None,
        counts: RateLimitCounts::Weight,
        applies_to: vec![],
        weight_header: Some(format!("x-mbx-used-weight-{}s", window_ms / 1000)),
        remaining_header: None,
    }];
    for env in spec.environments.values_mut() {
        env.base_url = url.to_string();
    }
    spec.retry.max_attempts = 1;
    kw.providers().add(spec).expect("the strict provider is added");
    kw
}

fn ticker(instance: usize) -> CallRequest {
    CallRequest {
        provider: "strictx".into(),
        operation: "ticker".into(),
        params: BTreeMap::from([("symbol".to_string(), "BTCUSDT".to_string())]),
        options: CallOptions {
            caller: format!("bot-{instance}").as_str().into(),
            no_cache: true,
            ..CallOptions::default()
        },
    }
}

/// Three instances call as fast as they can until `stop`; returns the calls answered.
async fn drive(instances: &[Keyward], stop: Instant) -> u32 {
    let tasks: Vec<_> = instances
        .iter()
        .enumerate()
        .map(|(i, kw)| {
            let kw = kw.clone();
            tokio::spawn(async move {
                let mut ok = 0u32;
                while Instant::now() < stop {
                    if kw.pipeline().call(ticker(i)).await.is_ok() {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.expect("caller");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_an_account_limit_through_redis_and_exceed_it_without() {
    let redis = RedisServer::start().await;
    let ex = StrictExchange::start_with(LIMIT, WINDOW_MS, crate::support::strict_exchange::Weights::BINANCE).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let instances: Vec<Keyward> = dirs.iter().map(|d| open_instance(d, &ex.base_url)).collect();
    let cancel = CancellationToken::new();
    for kw in &instances {
        kw.set_shared_budget(Some(&redis.url()), None).expect("shared budget set");
        kw.start_shared_budget(cancel.child_token()).expect("started").expect("configured");
    }
    let ok = drive(&instances, Instant::now() + RUN).await;
    let counts = ex.counts();
    assert_eq!((counts.too_many, counts.banned), (0, 0), "no over-limit request reached the exchange: {counts:?}");
    // The budget was used, not just respected: some window took ≥ 95 % of the account limit.
    let best = counts.accepted.iter().map(|(_, w)| *w).max().unwrap_or(0);
    assert!(best as f64 >= LIMIT as f64 * 0.95, "the best window used {best} of {LIMIT}: {counts:?} ({ok} calls)");
    let view = instances[0].shared_budget_view().expect("the shared budget runs");
    assert!(view.online, "{view:?}");
    assert!(view.shared_limits.iter().any(|l| l.contains("strictx account_weight")), "{view:?}");
    cancel.cancel();

    // The same three, each with its own budget: together they go over the account limit.
    let ex = StrictExchange::start_with(LIMIT, WINDOW_MS, crate::support::strict_exchange::Weights::BINANCE).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let alone: Vec<Keyward> = dirs.iter().map(|d| open_instance(d, &ex.base_url)).collect();
    drive(&alone, Instant::now() + RUN).await;
    let counts = ex.counts();
    assert!(counts.too_many + counts.banned > 0, "without sharing the exchange saw over-limit requests: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_each_instance_keeps_to_its_share_and_sharing_resumes_when_it_returns() {
    let mut redis = RedisServer::start().await;
    let ex = StrictExchange::start_with(LIMIT, WINDOW_MS, crate::support::strict_exchange::Weights::BINANCE).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let instances: Vec<Keyward> = dirs.iter().map(|d| open_instance(d, &ex.base_url)).collect();
    let cancel = CancellationToken::new();
    for kw in &instances {
        kw.set_shared_budget(Some(&redis.url()), None).expect("shared budget set");
        kw.start_shared_budget(cancel.child_token()).expect("started").expect("configured");
    }
    // Every instance has seen the others' heartbeats before the outage.
    for kw in &instances {
        let shared = kw.shared_budget().expect("running");
        shared.heartbeat().await;
    }
    for kw in &instances {
        let shared = kw.shared_budget().expect("running");
        shared.heartbeat().await;
        assert_eq!(shared.view().alive, 3, "{:?}", shared.view());
    }
    let calling = tokio::spawn({
        let instances = instances.clone();
        async move { drive(&instances, Instant::now() + RUN).await }
    });
    // Redis stops once the run is under way.
    let deadline = Instant::now() + RUN;
    while ex.counts().ok < 10 {
        assert!(Instant::now() < deadline, "the callers did not get going: {:?}", ex.counts());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    redis.stop();
    let ok = calling.await.expect("callers");
    let counts = ex.counts();
    assert_eq!((counts.too_many, counts.banned), (0, 0), "no over-limit request while Redis was down: {counts:?}");
    assert!(ok > 0);
    let view = instances[0].shared_budget_view().expect("running");
    assert!(
        !view.online && view.problem.as_deref().is_some_and(|p| p.starts_with("shared budget offline")),
        "{view:?}"
    );
    let deadline = Instant::now() + REDIS_STARTUP;
    while !instances[0].alerts().active().expect("alerts").iter().any(|a| a.title == "Shared budget offline") {
        assert!(Instant::now() < deadline, "no 'Shared budget offline' alert was raised");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Redis comes back on the same port: the next heartbeat rejoins by itself.
    redis.launch().await;
    let shared = instances[0].shared_budget().expect("running");
    let deadline = Instant::now() + REDIS_STARTUP;
    while !shared.view().online {
        assert!(Instant::now() < deadline, "sharing did not resume: {:?}", shared.view());
        shared.heartbeat().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyward_serve_joins_a_password_protected_redis_and_the_cli_shows_it_without_the_password() {
    use std::io::{BufRead, BufReader};
    let redis = RedisServer::start_with(Some("s3cret-redis-pw")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("redis://:s3cret-redis-pw@127.0.0.1:{}", redis.port);
    let mut serve = Command::new(crate::support::keyward_bin())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--shared-budget", &url])
        .env(keyward::service::GATEWAY_PORT_ENV, "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    BufReader::new(serve.stdout.take().expect("stdout")).read_line(&mut line).expect("a ready line");
    assert!(line.contains("ready"), "{line}");

    let data = dir.path().to_path_buf();
    let deadline = Instant::now() + REDIS_STARTUP;
    let live = loop {
        let data = data.clone();
        let out = tokio::task::spawn_blocking(move || crate::support::keyward(&data, &["--json", "limits", "shared"]))
            .await
            .expect("cli");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        if v["live"]["online"] == true {
            break v;
        }
        assert!(Instant::now() < deadline, "the running Keyward did not join Redis: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(live["settings"]["url"], format!("redis://127.0.0.1:{}", redis.port));
    assert_eq!(live["live"]["alive"], 1);
    assert!(!live.to_string().contains("s3cret"), "the password is never shown: {live}");

    let _ = Command::new("kill").arg("-TERM").arg(serve.id().to_string()).status();
    let _ = serve.wait();
    // The password is in the credential store, not in the data directory.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(!bytes.windows(15).any(|w| w == b"s3cret-redis-pw"), "the password is in {}", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_limit_is_charged_in_reserved_blocks_that_save_round_trips() {
    // 10,000 weight per 10 s: blocks of 1 % (98 units after the margin) serve 49 tickers each.
    let redis = RedisServer::start().await;
    let ex = StrictExchange::start_with(10_000, 10_000, crate::support::strict_exchange::Weights::BINANCE).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open_instance_with(&dir, &ex.base_url, 10_000, 10_000);
    kw.set_shared_budget(Some(&redis.url()), None).expect("shared budget set");
    let cancel = CancellationToken::new();
    kw.start_shared_budget(cancel.child_token()).expect("started").expect("configured");
    for _ in 0..200 {
        kw.pipeline().call(ticker(0)).await.expect("a call within the limit");
    }
    let view = kw.shared_budget_view().expect("running");
    assert_eq!(view.round_trips + view.from_blocks, 200, "{view:?}");
    assert!(view.from_blocks >= 150, "most calls spent a reserved block: {view:?}");
    // Redis counted at least what was spent: the blocks are charged before they are spent.
    let store = RedisStore::connect(&redis.url(), &redis.url()).await.expect("connect");
    let probe = SharedCharge {
        key: "kw:strictx:account_weight:default".into(),
        kind: RateLimitKind::FixedWindow,
        capacity: 400.0,
        interval_ms: 10_000,
        decay_per_sec: 1.0,
        amount: 1.0,
        period: String::new(),
        extra: 0.0,
    };
    let counted_at_least_spent = match store.charge("t:pause", &[probe]).await.expect("answer") {
        ChargeAnswer::Wait { .. } => true,
        // The run straddled a window boundary: the new window holds less than everything.
        ChargeAnswer::Charged => ex.counts().accepted.len() > 1,
    };
    assert!(counted_at_least_spent, "400 of the 10 s window are already counted");
    assert_eq!(ex.counts().too_many, 0);
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_an_accounts_order_and_weight_limits_and_exceed_them_without() {
    let start = |order_limit| {
        StrictExchange::start_with_orders(
            200,
            WINDOW_MS,
            crate::support::strict_exchange::Weights::BINANCE,
            order_limit,
        )
    };
    let redis = RedisServer::start().await;
    let ex = start(Some(ORDER_LIMIT)).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let cancel = CancellationToken::new();
    let instances: Vec<(Keyward, String)> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let label = format!("machine-{i}");
            let kw = open_trading_instance(d, &ex.base_url, &label);
            kw.set_shared_budget(Some(&redis.url()), None).expect("shared budget set");
            kw.start_shared_budget(cancel.child_token()).expect("started").expect("configured");
            (kw, label)
        })
        .collect();
    drive_trading(&instances, Instant::now() + RUN).await;
    let counts = ex.counts();
    assert_eq!((counts.too_many, counts.banned, counts.orders_refused), (0, 0, 0), "{counts:?}");
    let best_orders = counts.orders.iter().map(|(_, n)| *n).max().unwrap_or(0);
    assert!(
        best_orders as f64 >= ORDER_LIMIT as f64 * 0.95,
        "the best window placed {best_orders} of {ORDER_LIMIT} orders: {counts:?}"
    );
    let best_weight = counts.accepted.iter().map(|(_, w)| *w).max().unwrap_or(0);
    assert!(best_weight as f64 >= 200.0 * 0.95, "the best window used {best_weight} of 200 weight: {counts:?}");
    cancel.cancel();

    let ex = start(Some(ORDER_LIMIT)).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let alone: Vec<(Keyward, String)> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let label = format!("machine-{i}");
            (open_trading_instance(d, &ex.base_url, &label), label)
        })
        .collect();
    drive_trading(&alone, Instant::now() + RUN).await;
    let counts = ex.counts();
    assert!(counts.orders_refused > 0, "without sharing the account's order limit was exceeded: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_exchange_reports_raises_the_shared_counts_and_never_lowers_them() {
    let redis = RedisServer::start().await;
    let store = RedisStore::connect(&redis.url(), &redis.url()).await.expect("connect");
    let minute = Duration::from_millis(61_000);

    // Fixed window: the window key (as the instance computes it) is raised to 9 of 10.
    let window = chrono::Utc::now().timestamp_millis() / 60_000;
    store.raise(&format!("r:fixed:{window}"), RateLimitKind::FixedWindow, 9.0, minute).await.expect("raise");
    store.raise(&format!("r:fixed:{window}"), RateLimitKind::FixedWindow, 2.0, minute).await.expect("lower report");
    let fixed = charge("r:fixed", RateLimitKind::FixedWindow, 10.0, 60_000, 2.0);
    assert!(matches!(fits(&store, vec![fixed]).await, ChargeAnswer::Wait { .. }), "9 + 2 > 10: never lowered to 2");

    // Sliding window: the reported 9 of 10 is in the window now.
    store.raise("r:sliding", RateLimitKind::SlidingWindow, 9.0, minute).await.expect("raise");
    let sliding = charge("r:sliding", RateLimitKind::SlidingWindow, 10.0, 60_000, 1.0);
    assert_eq!(fits(&store, vec![sliding.clone()]).await, ChargeAnswer::Charged);
    assert!(matches!(fits(&store, vec![sliding]).await, ChargeAnswer::Wait { .. }));

    // Decaying counter: raised to its maximum, it must drain first.
    store.raise("r:decaying", RateLimitKind::DecayingCounter, 10.0, minute).await.expect("raise");
    let decaying = charge("r:decaying", RateLimitKind::DecayingCounter, 10.0, 0, 1.0);
    assert!(matches!(fits(&store, vec![decaying]).await, ChargeAnswer::Wait { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_in_one_egress_group_share_a_per_ip_limit_and_others_keep_theirs() {
    let redis = RedisServer::start().await;
    let ex = StrictExchange::start_with(LIMIT, WINDOW_MS, crate::support::strict_exchange::Weights::BINANCE).await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let cancel = CancellationToken::new();
    let instances: Vec<Keyward> = dirs
        .iter()
        .map(|d| {
            let kw = open_instance(d, &ex.base_url);
            // The same limit counted per IP: the three leave through one address (loopback).
            let mut spec = kw.providers().get("strictx").expect("strictx").spec;
            spec.rate_limits[0].scope = RateLimitScope::Ip;
            kw.providers().update(spec).expect("per-IP limit");
            kw.set_shared_budget(Some(&redis.url()), Some("lab".into())).expect("shared budget set");
            kw.start_shared_budget(cancel.child_token()).expect("started").expect("configured");
            kw
        })
        .collect();
    drive(&instances, Instant::now() + RUN).await;
    let counts = ex.counts();
    assert_eq!((counts.too_many, counts.banned), (0, 0), "the egress group shared the per-IP limit: {counts:?}");
    let view = instances[0].shared_budget_view().expect("running");
    assert!(view.shared_limits.iter().any(|l| l.contains("(egress group)")), "{view:?}");
    cancel.cancel();

    // Without an egress group a per-IP limit stays each machine's own: not shared.
    let dir = tempfile::tempdir().expect("tempdir");
    let kw = open_instance(&dir, &ex.base_url);
    let mut spec = kw.providers().get("strictx").expect("strictx").spec;
    spec.rate_limits[0].scope = RateLimitScope::Ip;
    kw.providers().update(spec).expect("per-IP limit");
    kw.set_shared_budget(Some(&redis.url()), None).expect("shared budget set");
    let cancel = CancellationToken::new();
    kw.start_shared_budget(cancel.child_token()).expect("started").expect("configured");
    kw.pipeline().call(ticker(0)).await.expect("a call");
    let view = kw.shared_budget_view().expect("running");
    assert!(view.shared_limits.is_empty(), "nothing shared: {view:?}");
    cancel.cancel();
}
