//! A mock exchange on 127.0.0.1:0 that checks every private request's signature the way the
//! exchange documents it. The verification here is written independently of `src/signing`
//! (from the exchanges' documentation), so a signer bug cannot hide behind a matching bug.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// How the mock checks signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Public,
    BinanceHmac,
    Kraken,
    Kucoin,
    Okx,
    BybitV5,
    CoinbaseExchange,
    /// Verified with this P-256 public key (SEC1 bytes in `MockCreds::secret`... see below).
    CoinbaseJwt,
    Gemini,
    BitfinexV2,
    BitstampV2,
    ApiKeyHeader(&'static str),
    ApiKeyQuery(&'static str),
}

#[derive(Clone)]
pub struct MockCreds {
    pub api_key: String,
    /// The HMAC secret as the exchange issued it (base64 text for Kraken / Coinbase Exchange).
    pub secret: String,
    pub passphrase: Option<String>,
    /// For CoinbaseJwt: the PEM public key that verifies the JWT.
    pub public_pem: Option<String>,
    /// For CoinbaseJwt: the PEM private key the user gives Keyward.
    pub private_pem: Option<String>,
}

/// A scripted reply that is served before the normal routes.
#[derive(Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    pub headers: HashMap<String, String>,
}

#[derive(Clone)]
struct Shared {
    auth: Auth,
    creds: Option<MockCreds>,
    host: Arc<Mutex<String>>,
    routes: Arc<Mutex<HashMap<String, Value>>>,
    script: Arc<Mutex<VecDeque<Scripted>>>,
    hits: Arc<AtomicUsize>,
    info_hits: Arc<AtomicUsize>,
    info_queries: Arc<Mutex<Vec<String>>>,
    rejected: Arc<AtomicUsize>,
    last_nonce: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub struct MockExchange {
    pub base_url: String,
    shared: Shared,
    _server: tokio::task::JoinHandle<()>,
}

impl MockExchange {
    pub async fn start(auth: Auth, creds: Option<MockCreds>) -> Self {
        let shared = Shared {
            auth,
            creds,
            host: Arc::new(Mutex::new(String::new())),
            routes: Arc::new(Mutex::new(HashMap::new())),
            script: Arc::new(Mutex::new(VecDeque::new())),
            hits: Arc::new(AtomicUsize::new(0)),
            info_hits: Arc::new(AtomicUsize::new(0)),
            info_queries: Arc::new(Mutex::new(Vec::new())),
            rejected: Arc::new(AtomicUsize::new(0)),
            last_nonce: Arc::new(AtomicU64::new(0)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        *shared.host.lock().expect("lock") = addr.to_string();
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url: format!("http://{addr}"), shared, _server: server }
    }

    /// Serves `body` for `METHOD /path` (e.g. "GET /api/v3/account").
    pub fn route(&self, method_and_path: &str, body: Value) {
        self.shared.routes.lock().expect("lock").insert(method_and_path.to_string(), body);
    }

    /// Serves these replies, in order, before anything else.
    pub fn script(&self, replies: impl IntoIterator<Item = Scripted>) {
        self.shared.script.lock().expect("lock").extend(replies);
    }

    /// Requests that reached the mock (including rejected ones).
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Requests for `GET /api/v3/exchangeInfo`, where Keyward reads the limits Binance
    /// publishes before its first call to a provider. They are answered apart (see [`handle`])
    /// and not counted in [`MockExchange::hits`] or [`MockExchange::seen`].
    pub fn info_hits(&self) -> usize {
        self.shared.info_hits.load(Ordering::SeqCst)
    }

    /// The query strings of the exchangeInfo requests.
    pub fn info_queries(&self) -> Vec<String> {
        self.shared.info_queries.lock().expect("lock").clone()
    }

    /// Requests whose signature did not verify.
    pub fn rejected(&self) -> usize {
        self.shared.rejected.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }
}

/// The limits the mock publishes when a test has not routed `GET /api/v3/exchangeInfo` itself:
/// Binance's documented ones.
fn default_exchange_info() -> Value {
    json!({"timezone": "UTC", "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ], "symbols": []})
}

async fn handle(State(s): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    // Keyward asks Binance-style exchanges for their published limits before the first call;
    // tests that count or script requests are about the calls they make, so this one is
    // answered apart (a test that routes it gets its own answer).
    if method == Method::GET && uri.path() == "/api/v3/exchangeInfo" {
        s.info_hits.fetch_add(1, Ordering::SeqCst);
        s.info_queries.lock().expect("lock").push(uri.query().unwrap_or("").to_string());
        let routed = s.routes.lock().expect("lock").get("GET /api/v3/exchangeInfo").cloned();
        return axum::Json(routed.unwrap_or_else(default_exchange_info)).into_response();
    }
    s.hits.fetch_add(1, Ordering::SeqCst);
    let body = String::from_utf8_lossy(&body).into_owned();
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let header_map: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    s.seen.lock().expect("lock").push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: body.clone(),
        headers: header_map.clone(),
    });

    if let Some(reply) = s.script.lock().expect("lock").pop_front() {
        let mut resp = (StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK), reply.body).into_response();
        for (k, v) in reply.headers {
            resp.headers_mut().insert(k, v.parse().expect("header value"));
        }
        return resp;
    }

    let private = s.auth != Auth::Public && (header_map.keys().any(|k| is_auth_header(k)) || is_private_path(&path));
    if private {
        let host = s.host.lock().expect("lock").clone();
        if let Err(why) = verify(&s, method.as_str(), &host, &path, &query, &body, &header_map) {
            s.rejected.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"code": -1022, "msg": format!("Signature for this request is not valid: {why}")})),
            )
                .into_response();
        }
    }
    let key = format!("{} {}", method, path);
    let routed = s.routes.lock().expect("lock").get(&key).cloned();
    match routed {
        Some(v) => axum::Json(v).into_response(),
        None => {
            (StatusCode::NOT_FOUND, axum::Json(json!({"code": -1, "msg": format!("no route {key}")}))).into_response()
        }
    }
}

fn is_auth_header(k: &str) -> bool {
    matches!(
        k,
        "x-mbx-apikey"
            | "api-key"
            | "api-sign"
            | "kc-api-key"
            | "ok-access-key"
            | "x-bapi-api-key"
            | "cb-access-key"
            | "authorization"
            | "x-gemini-apikey"
            | "bfx-apikey"
            | "x-auth"
    )
}

fn is_private_path(path: &str) -> bool {
    path.contains("/private/")
        || path.contains("/account")
        || path.contains("/order")
        || path.contains("/sapi/v1/account")
}

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hmac384(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha384>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hmac512(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha512>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn header<'a>(h: &'a HashMap<String, String>, name: &str) -> Result<&'a str, String> {
    h.get(name).map(String::as_str).ok_or_else(|| format!("missing header {name}"))
}

fn fresh(ts_ms: i64, window_ms: i64) -> Result<(), String> {
    if (now_ms() - ts_ms).abs() > window_ms {
        return Err(format!("timestamp {ts_ms} outside the {window_ms} ms window"));
    }
    Ok(())
}

fn verify(
    s: &Shared,
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    body: &str,
    h: &HashMap<String, String>,
) -> Result<(), String> {
    let c = s.creds.as_ref().ok_or("mock has no credentials")?;
    let path_q = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
    match s.auth {
        Auth::Public => Ok(()),
        Auth::ApiKeyHeader(name) => (header(h, name)? == c.api_key).then_some(()).ok_or_else(|| "wrong key".into()),
        Auth::ApiKeyQuery(name) => {
            let ok = url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == name && v == c.api_key.as_str());
            ok.then_some(()).ok_or_else(|| "wrong or missing key parameter".into())
        }
        Auth::BinanceHmac => {
            if header(h, "x-mbx-apikey")? != c.api_key {
                return Err("wrong X-MBX-APIKEY".into());
            }
            // The signature is the last parameter of the query string; it signs everything
            // before it plus the body.
            let (payload_q, sig) = query
                .rsplit_once("&signature=")
                .or_else(|| query.strip_prefix("signature=").map(|s| ("", s)))
                .ok_or("no signature parameter")?;
            let payload = format!("{payload_q}{body}");
            let expected = hex::encode(hmac256(c.secret.as_bytes(), payload.as_bytes()));
            if expected != sig {
                return Err("HMAC mismatch".into());
            }
            let ts = url::form_urlencoded::parse(payload.as_bytes())
                .find(|(k, _)| k == "timestamp")
                .and_then(|(_, v)| v.parse::<i64>().ok())
                .ok_or("no timestamp")?;
            fresh(ts, 5000)
        }
        Auth::Kraken => {
            if header(h, "api-key")? != c.api_key {
                return Err("wrong API-Key".into());
            }
            let nonce: u64 = url::form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "nonce")
                .and_then(|(_, v)| v.parse().ok())
                .ok_or("no nonce in the body")?;
            let mut sha = Sha256::new();
            sha.update(format!("{nonce}{body}").as_bytes());
            let mut msg = path.as_bytes().to_vec();
            msg.extend_from_slice(&sha.finalize());
            let secret = B64.decode(&c.secret).map_err(|e| e.to_string())?;
            if B64.encode(hmac512(&secret, &msg)) != header(h, "api-sign")? {
                return Err("API-Sign mismatch".into());
            }
            let prev = s.last_nonce.fetch_max(nonce, Ordering::SeqCst);
            if nonce <= prev {
                return Err(format!("EAPI:Invalid nonce ({nonce} <= {prev})"));
            }
            Ok(())
        }
        Auth::Kucoin => {
            let ts = header(h, "kc-api-timestamp")?;
            let msg = format!("{ts}{method}{path_q}{body}");
            if B64.encode(hmac256(c.secret.as_bytes(), msg.as_bytes())) != header(h, "kc-api-sign")? {
                return Err("KC-API-SIGN mismatch".into());
            }
            let pass = c.passphrase.as_deref().ok_or("mock has no passphrase")?;
            let expected_pass = match header(h, "kc-api-key-version")? {
                "1" => pass.to_string(),
                _ => B64.encode(hmac256(c.secret.as_bytes(), pass.as_bytes())),
            };
            if header(h, "kc-api-passphrase")? != expected_pass {
                return Err("KC-API-PASSPHRASE mismatch".into());
            }
            fresh(ts.parse().map_err(|_| "bad timestamp")?, 5000)
        }
        Auth::Okx => {
            let ts = header(h, "ok-access-timestamp")?;
            let msg = format!("{ts}{method}{path_q}{body}");
            if B64.encode(hmac256(c.secret.as_bytes(), msg.as_bytes())) != header(h, "ok-access-sign")? {
                return Err("OK-ACCESS-SIGN mismatch".into());
            }
            if Some(header(h, "ok-access-passphrase")?) != c.passphrase.as_deref() {
                return Err("wrong passphrase".into());
            }
            let t = chrono::DateTime::parse_from_rfc3339(ts).map_err(|e| format!("timestamp {ts}: {e}"))?;
            fresh(t.timestamp_millis(), 30_000)
        }
        Auth::BybitV5 => {
            let ts = header(h, "x-bapi-timestamp")?;
            let recv = header(h, "x-bapi-recv-window")?;
            let payload = if method == "GET" { query } else { body };
            let msg = format!("{ts}{}{recv}{payload}", c.api_key);
            if hex::encode(hmac256(c.secret.as_bytes(), msg.as_bytes())) != header(h, "x-bapi-sign")? {
                return Err("X-BAPI-SIGN mismatch".into());
            }
            fresh(ts.parse().map_err(|_| "bad timestamp")?, recv.parse().unwrap_or(5000))
        }
        Auth::CoinbaseExchange => {
            let ts = header(h, "cb-access-timestamp")?;
            let msg = format!("{ts}{method}{path_q}{body}");
            let secret = B64.decode(&c.secret).map_err(|e| e.to_string())?;
            if B64.encode(hmac256(&secret, msg.as_bytes())) != header(h, "cb-access-sign")? {
                return Err("CB-ACCESS-SIGN mismatch".into());
            }
            if Some(header(h, "cb-access-passphrase")?) != c.passphrase.as_deref() {
                return Err("wrong passphrase".into());
            }
            fresh(ts.parse::<i64>().map_err(|_| "bad timestamp")? * 1000, 30_000)
        }
        Auth::CoinbaseJwt => {
            use p256::ecdsa::signature::Verifier;
            use p256::pkcs8::DecodePublicKey;
            let token = header(h, "authorization")?.strip_prefix("Bearer ").ok_or("not a Bearer token")?;
            let parts: Vec<&str> = token.split('.').collect();
            if parts.len() != 3 {
                return Err("not a JWT".into());
            }
            let head: Value = serde_json::from_slice(&B64URL.decode(parts[0]).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let claims: Value = serde_json::from_slice(&B64URL.decode(parts[1]).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            if head["alg"] != "ES256" || head["kid"] != c.api_key.as_str() {
                return Err(format!("bad JWT header {head}"));
            }
            let key = p256::ecdsa::VerifyingKey::from_public_key_pem(c.public_pem.as_deref().ok_or("no public key")?)
                .map_err(|e| e.to_string())?;
            let sig = p256::ecdsa::Signature::from_slice(&B64URL.decode(parts[2]).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
                .map_err(|_| "JWT signature does not verify")?;
            let uri = format!("{method} {host}{path}");
            if claims["uri"] != uri.as_str() || claims["sub"] != c.api_key.as_str() || claims["iss"] != "cdp" {
                return Err(format!("bad claims {claims} (expected uri {uri})"));
            }
            let now = chrono::Utc::now().timestamp();
            let (nbf, exp) = (claims["nbf"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
            if nbf > now + 5 || exp < now || exp - nbf > 120 {
                return Err(format!("JWT not valid now (nbf {nbf}, exp {exp}, now {now})"));
            }
            Ok(())
        }
        Auth::Gemini => {
            if header(h, "x-gemini-apikey")? != c.api_key {
                return Err("wrong X-GEMINI-APIKEY".into());
            }
            let payload_b64 = header(h, "x-gemini-payload")?;
            if hex::encode(hmac384(c.secret.as_bytes(), payload_b64.as_bytes())) != header(h, "x-gemini-signature")? {
                return Err("X-GEMINI-SIGNATURE mismatch".into());
            }
            let payload: Value = serde_json::from_slice(&B64.decode(payload_b64).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            if payload["request"] != path {
                return Err(format!("payload request {} is not {path}", payload["request"]));
            }
            Ok(())
        }
        Auth::BitstampV2 => {
            // "BITSTAMP " + key + verb + host + path + ?query + content type + nonce + timestamp
            // + version + body, hex HMAC-SHA256 (Bitstamp HTTP API v2 authentication).
            let x_auth = header(h, "x-auth")?;
            if x_auth != format!("BITSTAMP {}", c.api_key) {
                return Err("wrong X-Auth".into());
            }
            let (nonce, ts, version) =
                (header(h, "x-auth-nonce")?, header(h, "x-auth-timestamp")?, header(h, "x-auth-version")?);
            let content_type = if body.is_empty() { "" } else { header(h, "content-type")? };
            let q = if query.is_empty() { String::new() } else { format!("?{query}") };
            let msg = format!("{x_auth}{method}{host}{path}{q}{content_type}{nonce}{ts}{version}{body}");
            if !hex::encode(hmac256(c.secret.as_bytes(), msg.as_bytes()))
                .eq_ignore_ascii_case(header(h, "x-auth-signature")?)
            {
                return Err("X-Auth-Signature mismatch".into());
            }
            if nonce.len() != 36 {
                return Err(format!("X-Auth-Nonce {nonce} is not 36 characters"));
            }
            fresh(ts.parse().map_err(|_| "bad timestamp")?, 150_000)
        }
        Auth::BitfinexV2 => {
            if header(h, "bfx-apikey")? != c.api_key {
                return Err("wrong bfx-apikey".into());
            }
            let nonce = header(h, "bfx-nonce")?;
            let api_path = path.strip_prefix('/').unwrap_or(path);
            let msg = format!("/api/{}{nonce}{body}", api_path.strip_prefix("api/").unwrap_or(api_path));
            if hex::encode(hmac384(c.secret.as_bytes(), msg.as_bytes())) != header(h, "bfx-signature")? {
                return Err("bfx-signature mismatch".into());
            }
            Ok(())
        }
    }
}
