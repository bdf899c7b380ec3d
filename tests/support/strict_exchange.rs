//! A strict Binance-style exchange on 127.0.0.1:0: it publishes its request-weight limit in
//! `GET /api/v3/exchangeInfo` (like Binance), counts weight per clock-aligned window, answers
//! 429 with Retry-After over the limit, and bans (418) a client that sends again before the
//! Retry-After it was given — the way a real exchange punishes a client that ignores 429s.
//! It can also fail every request with 503 for a while (an outage).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// How long a 418 ban lasts here.
const BAN: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Clone)]
pub struct StrictCounts {
    pub ok: u64,
    pub too_many: u64,
    pub banned: u64,
    pub unavailable: u64,
    pub info: u64,
    /// Accepted weight per window start (ms since the epoch).
    pub accepted: Vec<(i64, u64)>,
    /// Orders refused over the order limit (429, code -1015), and accepted orders per window.
    pub orders_refused: u64,
    pub orders: Vec<(i64, u64)>,
}

/// The weight of each route (exchangeInfo always costs 20, as on Binance).
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub time: u64,
    pub ticker: u64,
    pub depth: u64,
}

impl Weights {
    /// Binance's: server time 1, 24 h ticker 2, order book 5.
    pub const BINANCE: Weights = Weights { time: 1, ticker: 2, depth: 5 };
}

struct Inner {
    limit: u64,
    /// Orders (`POST /api/v3/order`) per window of the account, when limited.
    order_limit: Option<u64>,
    window_ms: i64,
    weights: Weights,
    used_header: HeaderName,
    down: AtomicBool,
    state: Mutex<StrictState>,
}

#[derive(Default)]
struct StrictState {
    window: i64,
    used: u64,
    orders_used: u64,
    retry_until: i64,
    banned_until: i64,
    counts: StrictCounts,
}

pub struct StrictExchange {
    pub base_url: String,
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl StrictExchange {
    /// `limit` weight per `window_secs` (aligned to the clock), published in exchangeInfo.
    pub async fn start(limit: u64, window_secs: u64) -> Self {
        Self::start_with(limit, window_secs * 1000, Weights::BINANCE).await
    }

    /// `limit` weight per `window_ms` (whole seconds, aligned to the clock) with these route
    /// weights.
    pub async fn start_with(limit: u64, window_ms: u64, weights: Weights) -> Self {
        Self::start_with_orders(limit, window_ms, weights, None).await
    }

    /// Like `start_with`, also limiting orders (`POST /api/v3/order`) to `order_limit` per
    /// window, as an exchange limits an account's new orders.
    pub async fn start_with_orders(limit: u64, window_ms: u64, weights: Weights, order_limit: Option<u64>) -> Self {
        let inner = Arc::new(Inner {
            limit,
            order_limit,
            window_ms: window_ms as i64,
            weights,
            used_header: HeaderName::from_bytes(format!("x-mbx-used-weight-{}s", window_ms / 1000).as_bytes())
                .expect("header name"),
            down: AtomicBool::new(false),
            state: Mutex::new(StrictState::default()),
        });
        let app = axum::Router::new().fallback(handle).with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url: format!("http://{addr}"), inner }
    }

    /// Answer 503 to everything (true) or serve normally (false).
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    pub fn counts(&self) -> StrictCounts {
        self.inner.state.lock().expect("lock").counts.clone()
    }
}

fn weight_of(weights: Weights, path: &str) -> u64 {
    match path {
        "/api/v3/exchangeInfo" => 20,
        "/api/v3/ticker/24hr" => weights.ticker,
        "/api/v3/depth" => weights.depth,
        "/api/v3/time" => weights.time,
        _ => 1,
    }
}

async fn handle(State(ex): State<Arc<Inner>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    if ex.down.load(Ordering::SeqCst) {
        ex.state.lock().expect("lock").counts.unavailable += 1;
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"code": -1, "msg": "Service unavailable"})))
            .into_response();
    }
    let now = now_ms();
    let mut st = ex.state.lock().expect("lock");
    let window = now - now.rem_euclid(ex.window_ms);
    if window != st.window {
        st.window = window;
        st.used = 0;
        st.orders_used = 0;
    }
    let retry_secs = |until: i64| ((until - now).max(0) as u64).div_ceil(1000).max(1);
    if now < st.banned_until || now < st.retry_until {
        if now >= st.banned_until {
            st.banned_until = now + BAN.as_millis() as i64;
        }
        st.counts.banned += 1;
        let secs = retry_secs(st.banned_until);
        let body = json!({"code": -1003, "msg": "Way too many requests; IP banned"});
        return (StatusCode::IM_A_TEAPOT, [("retry-after", secs.to_string())], Json(body)).into_response();
    }
    let weight = weight_of(ex.weights, &path);
    let mut headers = HeaderMap::new();
    if st.used + weight > ex.limit {
        st.counts.too_many += 1;
        let secs = retry_secs(window + ex.window_ms);
        st.retry_until = now + secs as i64 * 1000;
        headers.insert("retry-after", HeaderValue::from(secs));
        headers.insert(ex.used_header.clone(), HeaderValue::from(st.used));
        return (StatusCode::TOO_MANY_REQUESTS, headers, Json(json!({"code": -1003, "msg": "Too many requests"})))
            .into_response();
    }
    let is_order = path == "/api/v3/order";
    if is_order && ex.order_limit.is_some_and(|limit| st.orders_used + 1 > limit) {
        st.counts.orders_refused += 1;
        headers.insert("retry-after", HeaderValue::from(retry_secs(window + ex.window_ms)));
        let body = json!({"code": -1015, "msg": "Too many new orders"});
        return (StatusCode::TOO_MANY_REQUESTS, headers, Json(body)).into_response();
    }
    st.used += weight;
    headers.insert(ex.used_header.clone(), HeaderValue::from(st.used));
    if is_order {
        st.orders_used += 1;
        match st.counts.orders.last_mut() {
            Some((w, n)) if *w == window => *n += 1,
            _ => st.counts.orders.push((window, 1)),
        }
    }
    let body: Value = match path.as_str() {
        "/api/v3/exchangeInfo" => {
            st.counts.info += 1;
            json!({"timezone": "UTC", "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND",
                 "intervalNum": ex.window_ms / 1000, "limit": ex.limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ], "symbols": []})
        }
        "/api/v3/time" => json!({"serverTime": now}),
        "/api/v3/ticker/24hr" => {
            json!({"symbol": "BTCUSDT", "lastPrice": "100000.00", "bidPrice": "99999.99", "askPrice": "100000.01"})
        }
        "/api/v3/depth" => json!({"lastUpdateId": 1, "bids": [["99999.99", "1.0"]], "asks": [["100000.01", "2.0"]]}),
        "/sapi/v1/system/status" => json!({"status": 0, "msg": "normal"}),
        "/api/v3/order" => json!({"symbol": "BTCUSDT", "orderId": st.counts.ok + 1, "status": "NEW"}),
        _ => {
            return (StatusCode::NOT_FOUND, headers, Json(json!({"code": -1, "msg": format!("no route {path}")})))
                .into_response()
        }
    };
    st.counts.ok += 1;
    match st.counts.accepted.last_mut() {
        Some((w, n)) if *w == window => *n += weight,
        _ => st.counts.accepted.push((window, weight)),
    }
    (StatusCode::OK, headers, Json(body)).into_response()
}
