//! The gateway's HTTP side: `/<provider>/<the exchange's own path>` on 127.0.0.1 (HTTPS only
//! when bound anywhere else, see [`super::tls`]), a drop-in
//! for the exchange's base URL. Each request: find the token, check it (provider, source
//! address, scope), drop the bot's signature, map method + path to the spec's endpoint for its
//! weight and class, then [`crate::pipeline::Pipeline::forward`] (the shared budget, the real
//! key, a fresh signature) and return the exchange's answer as it was.

use crate::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::stats::{Refusal, UNKNOWN_BOT};
use super::tokens::{BotToken, TokenScope};
use super::wire::{self, Wire, TOKEN_HEADER};
use crate::pipeline::{CallError, ForwardRequest};
use crate::provider::{EndpointSpec, OperationClass, ProviderSpec};
use crate::signing::Body;
use crate::Keyward;

/// The largest request body a bot may send (orders are a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Response headers not passed back: hop-by-hop, and the encoding (the body is already
/// decompressed by the HTTP client).
const DROP_RESPONSE_HEADERS: &[&str] =
    &["connection", "transfer-encoding", "content-length", "content-encoding", "keep-alive"];

#[derive(Clone)]
struct Ctx {
    kw: Keyward,
}

/// A running gateway; [`GatewayServer::stop`] ends it.
pub struct GatewayServer {
    pub addr: SocketAddr,
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

impl GatewayServer {
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }
}

/// Where and how to listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Serve HTTPS only, with Keyward's certificate. [`Listen::on`] turns it on for every
    /// address but loopback; tests turn it on for loopback too.
    pub tls: bool,
}

impl Listen {
    /// `bind:port`, with TLS unless `bind` is loopback.
    pub fn on(bind: IpAddr, port: u16) -> Self {
        Self { bind, port, tls: !bind.is_loopback() }
    }
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors), as axum's own `serve` does.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Binds the configured address (`gateway.bind`, default 127.0.0.1) on `port` (0 picks a free
/// one) and serves until `cancel`: plain HTTP on loopback, HTTPS only anywhere else.
pub async fn serve(kw: &Keyward, port: u16, cancel: CancellationToken) -> Result<GatewayServer, std::io::Error> {
    let gw = kw.gateway().clone();
    let bind = tokio::task::spawn_blocking(move || gw.bind()).await.unwrap_or(super::DEFAULT_BIND);
    serve_on(kw, Listen::on(bind, port), cancel).await
}

/// Serves as `listen` says until `cancel`. With TLS, the certificate is loaded (or generated)
/// first; an error (a locked vault, say) means no gateway rather than one in clear text.
pub async fn serve_on(
    kw: &Keyward,
    listen: Listen,
    cancel: CancellationToken,
) -> Result<GatewayServer, std::io::Error> {
    let tls = if listen.tls {
        let gw = kw.gateway().clone();
        let made = tokio::task::spawn_blocking(move || gw.tls_config(listen.bind))
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        Some(made)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind((listen.bind, listen.port)).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/hooks/{id}", axum::routing::post(hook))
        .route("/groups/{name}/{operation}", axum::routing::get(group))
        .route(crate::metrics::PATH, axum::routing::get(metrics))
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Ctx { kw: kw.clone() });
    let stop = cancel.clone();
    let certificate = tls.as_ref().map(|(cert, _)| cert.clone());
    let join = match tls {
        None => tokio::spawn(async move {
            let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "the gateway stopped");
            }
        }),
        Some((_, config)) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            tokio::spawn(serve_tls(listener, acceptor, app, stop))
        }
    };
    match &certificate {
        Some(cert) => tracing::info!(%addr, fingerprint = %cert.fingerprint, "gateway listening (HTTPS only)"),
        None => tracing::info!(%addr, "gateway listening"),
    }
    kw.gateway().set_listening(Some(super::Listening { addr, certificate }));
    Ok(GatewayServer { addr, cancel, join })
}

/// The HTTPS accept loop (axum's low-level rustls pattern): each connection's TLS handshake,
/// then HTTP/1.1 or HTTP/2 as the client chose, with the peer address in every request's
/// extensions for the `ConnectInfo` extractor. A client that does not speak TLS is dropped.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    cancel: CancellationToken,
) {
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "the gateway could not accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let (acceptor, app, cancel) = (acceptor.clone(), app.clone(), cancel.clone());
        connections.spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                tower::Service::call(&mut app.clone(), req)
            });
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            let done = tokio::select! {
                done = conn.as_mut() => done,
                () = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = done {
                tracing::debug!(%peer, error = %e, "gateway connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

/// `POST /hooks/<id>`: an incoming webhook (see [`crate::hooks`]). No bot token: the hook's
/// own secret or signature authenticates it. 202 with what it became, or the refusal.
async fn hook(
    State(ctx): State<Ctx>,
    axum::extract::Path(id): axum::extract::Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let limit = crate::hooks::MAX_BODY_BYTES;
    let mut declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = if declared.is_some_and(|n| n > limit as u64) {
        // Read (and drop) what the client sends anyway, up to the gateway's own cap, so it gets
        // the 413 instead of a connection closed mid-upload; a larger body is refused unread.
        if declared.is_some_and(|n| n <= MAX_BODY_BYTES as u64) {
            let _ = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
        }
        Bytes::new()
    } else {
        match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            // Past the limit (a body without Content-Length, or a longer one than declared).
            Err(_) => {
                declared = Some(declared.unwrap_or(0).max(limit as u64 + 1));
                Bytes::new()
            }
        }
    };
    let url_secret = query_pairs(&uri).into_iter().find(|(k, _)| k == crate::hooks::SECRET_PARAM).map(|(_, v)| v);
    let signature = headers.get(crate::hooks::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let kw = ctx.kw.clone();
    let answer = tokio::task::spawn_blocking(move || {
        kw.receive_hook(
            &id,
            crate::hooks::Incoming {
                signature: signature.as_deref(),
                url_secret: url_secret.as_deref(),
                body: &body,
                declared_len: declared,
            },
        )
    })
    .await;
    match answer {
        Ok(Ok(receipt)) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"accepted": true, "hook": receipt.hook, "outcome": receipt.outcome})),
        )
            .into_response(),
        Ok(Err(refusal)) => {
            let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut resp = refuse(status, refusal.kind(), refusal.message());
            if let crate::hooks::Refusal::RateLimited { retry_after } = refusal {
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
                }
            }
            resp
        }
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, format!("the hook task failed: {e}")),
    }
}

/// `GET /metrics`: Prometheus's scrape, as the user allowed it (this machine only, or a bearer
/// token; see [`crate::metrics`]). A refusal names why, with `WWW-Authenticate` for a token.
async fn metrics(State(ctx): State<Ctx>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap) -> Response {
    let authorization =
        headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let kw = ctx.kw.clone();
    let scraped = tokio::task::spawn_blocking(move || {
        let allowed =
            crate::metrics::MetricsSettings::new(kw.store().clone()).check(peer.ip(), authorization.as_deref())?;
        Ok::<_, crate::metrics::MetricsError>(allowed.map(|()| crate::metrics::render(&kw)))
    })
    .await;
    match scraped {
        Ok(Ok(Ok(Ok(text)))) => {
            ([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
        }
        Ok(Ok(Err(refusal))) => {
            let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::FORBIDDEN);
            let mut resp = refuse(status, refusal.kind(), refusal.to_string());
            if status == StatusCode::UNAUTHORIZED {
                resp.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"keyward metrics\""),
                );
            }
            resp
        }
        Ok(Ok(Ok(Err(e)))) | Ok(Err(e)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.kind(), e.to_string()),
        Err(e) => {
            refuse(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, format!("the metrics task failed: {e}"))
        }
    }
}

/// A refusal: JSON naming what was refused, never forwarded.
fn refuse(status: StatusCode, kind: ErrorKind, message: String) -> Response {
    (status, axum::Json(json!({"error": {"kind": kind, "message": message}}))).into_response()
}

/// Query pairs, percent-decoded, in order.
fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query().map_or_else(Vec::new, |q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
}

/// The token the bot sent: X-Keyward-Token, the exchange's own key header, or a bearer token.
fn find_token(headers: &HeaderMap, wire: &Wire) -> Option<String> {
    let names = std::iter::once(TOKEN_HEADER).chain(wire.key_headers.iter().copied()).chain(["authorization"]);
    for name in names {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            if let Some(token) = wire::token_in(name, value) {
                return Some(token);
            }
        }
    }
    None
}

/// Whether a spec path (`/api/v3/order`, `/v5/order/{id}`) matches a request path.
fn path_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

/// The spec's endpoint for this method and path, if it has one.
fn endpoint_for<'a>(spec: &'a ProviderSpec, method: &str, path: &str) -> Option<(&'a str, &'a EndpointSpec)> {
    spec.endpoints
        .iter()
        .filter(|(_, e)| e.method.as_str() == method && path_matches(&e.path, path))
        // An exact path wins over a template.
        .max_by_key(|(_, e)| e.path == path)
        .map(|(name, e)| (name.as_str(), e))
}

/// The bot's Gemini parameters: its payload without `request` and `nonce` (Keyward sets both).
fn gemini_params(payload: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(payload.trim()).ok()?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let map = value.as_object_mut()?;
    map.remove("request");
    map.remove("nonce");
    Some(value)
}

/// The class of a path the spec does not know: withdrawals by name; reads by method; for
/// exchanges whose private API is all POST (Kraken, Bitfinex, Gemini), reads unless the path
/// names orders, trades, transfers or cancels. Anything else that writes is a trade.
fn infer_class(scheme: crate::signing::AuthScheme, method: &Method, path: &str) -> OperationClass {
    use crate::signing::AuthScheme as A;
    let lower = path.to_ascii_lowercase();
    if lower.contains("withdraw") {
        return OperationClass::Withdraw;
    }
    if matches!(*method, Method::GET | Method::HEAD) {
        return OperationClass::Read;
    }
    let all_post = matches!(scheme, A::Kraken | A::BitfinexV2 | A::Gemini);
    let writes = ["order", "trade", "transfer", "cancel", "position", "stake", "earn", "convert"];
    if all_post && !writes.iter().any(|w| lower.contains(w)) {
        OperationClass::Read
    } else {
        OperationClass::Trade
    }
}

/// Drops the bot's signature, timestamp and nonce parameters; whether any but `recvWindow`
/// was there (the bot signed the request, so it wants it signed).
fn strip_sign_params(pairs: &mut Vec<(String, String)>, wire: &Wire) -> bool {
    let signed = pairs.iter().any(|(k, _)| wire.sign_params.contains(&k.as_str()) && k != "recvWindow");
    pairs.retain(|(k, _)| !wire.sign_params.contains(&k.as_str()));
    signed
}

fn needed_scope(class: OperationClass, signed: bool) -> TokenScope {
    match class {
        OperationClass::Withdraw => TokenScope::Withdraw,
        OperationClass::Trade => TokenScope::Trade,
        OperationClass::Read if signed => TokenScope::Read,
        OperationClass::Read => TokenScope::Market,
    }
}

/// A token without allowed addresses works from this machine only (loopback), whatever the
/// gateway binds: a bot on the LAN or in a container needs its address in `--allow-ip`.
fn ip_allowed(token: &BotToken, peer: std::net::IpAddr) -> bool {
    if token.allow_ips.is_empty() {
        return peer.is_loopback();
    }
    token.allow_ips.iter().any(|net| net.contains(&peer))
}

/// The token a bot presented, if it is known, enabled and allowed from `peer`; else the refusal
/// to send.
async fn bot_token(ctx: &Ctx, presented: String, peer: SocketAddr, stats: &super::Stats) -> Result<BotToken, Response> {
    let tokens = ctx.kw.gateway().tokens().clone();
    // A token looked up in the last second is answered from memory; only a miss blocks.
    let found = match tokens.cached(&presented) {
        Some(found) => Ok(Ok(found)),
        None => tokio::task::spawn_blocking(move || tokens.authenticate(&presented)).await,
    };
    let token = match found {
        Ok(Ok(Some(t))) => t,
        Ok(Ok(None)) => {
            let message = "unknown Keyward token (revoked, rotated or mistyped)".to_string();
            stats.refused(UNKNOWN_BOT, Refusal::UnknownToken, &message);
            return Err(refuse(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message));
        }
        Ok(Err(e)) => return Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, e.kind(), e.to_string())),
        Err(e) => {
            let message = format!("token lookup failed: {e}");
            return Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, message));
        }
    };
    if token.disabled {
        let bot = &token.name;
        let message = format!("token \"{bot}\" is disabled; enable it with `keyward gateway token enable {bot}`");
        stats.refused(bot, Refusal::Disabled, &message);
        return Err(refuse(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message));
    }
    if !ip_allowed(&token, peer.ip()) {
        let bot = &token.name;
        let message = format!("token \"{bot}\" may not be used from {} (not in its allowed addresses)", peer.ip());
        stats.refused(bot, Refusal::Ip, &message);
        return Err(refuse(StatusCode::FORBIDDEN, ErrorKind::PermissionDenied, message));
    }
    Ok(token)
}

/// `GET /groups/<name>/<operation>?symbol=BTC/USDT`: market data through a failover group, for
/// bots that want Keyward's failover rather than one exchange: the normalised answer (the
/// JSON `keyward groups call --json` prints), with `X-Keyward-Route` (`binance=failed;
/// kraken=answered`) and, for a stale answer, `X-Keyward-Stale-Age`. The token needs the market
/// scope and must be for one of the group's members.
async fn group(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::extract::Path((name, operation)): axum::extract::Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let stats = ctx.kw.gateway().stats().clone();
    let Some(presented) = find_token(&headers, &Wire::of(crate::signing::AuthScheme::None)) else {
        let message = "no Keyward token: send it in X-Keyward-Token or as Authorization: Bearer".to_string();
        stats.refused(UNKNOWN_BOT, Refusal::NoToken, &message);
        return refuse(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message);
    };
    let token = match bot_token(&ctx, presented, peer, &stats).await {
        Ok(t) => t,
        Err(refused) => return refused,
    };
    let bot = token.name.clone();
    if !token.scopes.allows(TokenScope::Market) {
        let message = format!("token \"{bot}\" may not read market data (it has {})", token.scopes);
        stats.refused(&bot, Refusal::Scope, &message);
        return refuse(StatusCode::FORBIDDEN, ErrorKind::PermissionDenied, message);
    }
    let kw = ctx.kw.clone();
    let lookup = name.clone();
    let members = match tokio::task::spawn_blocking(move || kw.failover_group(&lookup)).await {
        Ok(Ok(g)) => g.members,
        Ok(Err(e)) => return refuse(StatusCode::NOT_FOUND, e.kind(), e.to_string()),
        Err(e) => {
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, format!("group lookup failed: {e}"))
        }
    };
    if !members.contains(&token.provider) {
        let message = format!("token \"{bot}\" is for {}, which is not a member of \"{name}\"", token.provider);
        stats.refused(&bot, Refusal::WrongProvider, &message);
        return refuse(StatusCode::FORBIDDEN, ErrorKind::PermissionDenied, message);
    }
    let params: std::collections::BTreeMap<String, String> = query_pairs(&uri).into_iter().collect();
    match ctx.kw.call_group(&name, &operation, params, crate::caller::Caller::bot(&bot)).await {
        Ok(out) => {
            stats.forwarded(&bot, 0, Duration::ZERO, out.status);
            let route: Vec<String> = out.route.iter().map(|s| format!("{}={}", s.provider, s.outcome)).collect();
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&route.join("; ")) {
                headers.insert(HeaderName::from_static("x-keyward-route"), v);
            }
            if let Some(age) = out.stale_age {
                headers.insert(HeaderName::from_static("x-keyward-stale-age"), HeaderValue::from(age.as_secs()));
            }
            (StatusCode::OK, headers, axum::Json(crate::control::CallReply::from_outcome(&out, false))).into_response()
        }
        Err(e) => {
            let message = e.to_string();
            stats.failed(&bot, &message);
            let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
            refuse(status, e.kind(), message)
        }
    }
}

async fn handle(
    State(ctx): State<Ctx>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let stats = ctx.kw.gateway().stats().clone();
    let full = uri.path();
    let (provider, rest) = match full.trim_start_matches('/').split_once('/') {
        Some((p, r)) if !p.is_empty() => (p.to_string(), format!("/{r}")),
        _ => {
            return refuse(
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                format!(
                    "{full} is not an exchange path: use /<provider>/<the exchange's path>, e.g. /binance/api/v3/time"
                ),
            )
        }
    };
    let kw = ctx.kw.clone();
    let entry = match tokio::task::spawn_blocking({
        let provider = provider.clone();
        move || kw.providers().get(&provider)
    })
    .await
    {
        Ok(Ok(entry)) => entry,
        Ok(Err(e)) => return refuse(StatusCode::NOT_FOUND, e.kind(), e.to_string()),
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                format!("provider lookup failed: {e}"),
            )
        }
    };
    let spec = &entry.spec;
    let scheme = spec.auth.scheme;
    let wire = Wire::of(scheme);

    // Who is it? Key-only schemes carry the key (the token) in the spec's own header or query
    // parameter; that is dropped too, Keyward sends the real one.
    let auth = spec.auth.params();
    let key_header = auth.header_name.as_deref().map(str::to_ascii_lowercase);
    let mut query = query_pairs(&uri);
    let in_query = auth.query_param.as_deref().and_then(|name| {
        let found = query.iter().find(|(k, _)| k == name).and_then(|(_, v)| wire::token_in("", v));
        query.retain(|(k, _)| k != name);
        found
    });
    let in_key_header = key_header
        .as_deref()
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| wire::token_in("", v));
    let Some(presented) = find_token(&headers, &wire).or(in_key_header).or(in_query) else {
        let message = format!(
            "no Keyward token: send it as the exchange's API key ({}), in X-Keyward-Token, or as Authorization: Bearer",
            wire.key_headers.first().copied().unwrap_or("X-Keyward-Token")
        );
        stats.refused(UNKNOWN_BOT, Refusal::NoToken, &message);
        return refuse(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message);
    };
    let token = match bot_token(&ctx, presented, peer, &stats).await {
        Ok(t) => t,
        Err(refused) => return refused,
    };
    let bot = token.name.clone();
    if token.provider != spec.id {
        let message = format!("token \"{bot}\" is for {}, not {}", token.provider, spec.id);
        stats.refused(&bot, Refusal::WrongProvider, &message);
        return refuse(StatusCode::FORBIDDEN, ErrorKind::PermissionDenied, message);
    }

    // What is it? The bot's signature, timestamp and nonce go; Keyward signs again.
    let mut bot_signed = wire.sign_headers.iter().any(|h| headers.contains_key(*h) && !wire.key_headers.contains(h));
    bot_signed |= strip_sign_params(&mut query, &wire);
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let body = if body.is_empty() {
        Body::None
    } else if content_type.starts_with("application/json") {
        match serde_json::from_slice(&body) {
            Ok(v) => Body::Json(v),
            Err(e) => {
                let message = format!("the request body is not valid JSON: {e}");
                stats.refused(&bot, Refusal::BadRequest, &message);
                return refuse(StatusCode::BAD_REQUEST, ErrorKind::Invalid, message);
            }
        }
    } else {
        // Form bodies (Binance, Kraken), also when the bot sent no content type.
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        bot_signed |= strip_sign_params(&mut pairs, &wire);
        Body::Form(pairs)
    };
    // Gemini: the parameters travel in the base64 JSON payload header, not the body.
    let body = match (scheme, &body, headers.get("x-gemini-payload").and_then(|v| v.to_str().ok())) {
        (crate::signing::AuthScheme::Gemini, Body::None | Body::Form(_), Some(payload)) => {
            match gemini_params(payload) {
                Some(params) => {
                    bot_signed = true;
                    Body::Json(params)
                }
                None => {
                    let message = "X-GEMINI-PAYLOAD is not base64 of a JSON object".to_string();
                    stats.refused(&bot, Refusal::BadRequest, &message);
                    return refuse(StatusCode::BAD_REQUEST, ErrorKind::Invalid, message);
                }
            }
        }
        _ => body,
    };
    let method_name = method.as_str().to_ascii_uppercase();
    // Public market data the spec caches: its last good answer may stand in when the exchange fails.
    let keep_for = match endpoint_for(spec, &method_name, &rest) {
        Some((_, e))
            if method_name == "GET" && !e.signed && !bot_signed && e.cache_ttl_ms > 0 && spec.stale_if_error_ms > 0 =>
        {
            Some(Duration::from_millis(e.cache_ttl_ms.saturating_add(spec.stale_if_error_ms)))
        }
        _ => None,
    };
    let stale_key = keep_for.map(|_| {
        let mut q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        q.sort();
        format!("{}|{rest}?{}", spec.id, q.join("&"))
    });
    let (operation, class, signed, weight) = match endpoint_for(spec, &method_name, &rest) {
        Some((name, e)) => {
            let mut params: std::collections::BTreeMap<String, String> = query.iter().cloned().collect();
            if let Body::Form(pairs) = &body {
                params.extend(pairs.iter().cloned());
            }
            (name.to_string(), e.class, e.signed || bot_signed, e.weight_for(&params))
        }
        None => (format!("{method_name} {rest}"), infer_class(scheme, &method, &rest), bot_signed, 1),
    };
    let scope = needed_scope(class, signed);
    if !token.scopes.allows(scope) {
        let message = format!(
            "token \"{bot}\" may not {} ({operation} needs the {} scope; it has {})",
            match scope {
                TokenScope::Market => "read market data",
                TokenScope::Read => "read the account",
                TokenScope::Trade => "trade",
                TokenScope::Withdraw => "withdraw",
            },
            scope.as_str(),
            token.scopes
        );
        stats.refused(&bot, Refusal::Scope, &message);
        return refuse(StatusCode::FORBIDDEN, ErrorKind::PermissionDenied, message);
    }
    if signed && token.key_label.is_none() {
        let message = format!("token \"{bot}\" has no key to sign with; it is for public market data only");
        stats.refused(&bot, Refusal::Scope, &message);
        return refuse(StatusCode::FORBIDDEN, ErrorKind::PermissionDenied, message);
    }

    // A bot with a maximum share keeps to it on every limit of the provider.
    let caller = crate::caller::Caller::bot(&bot);
    ctx.kw.limiter().set_caller_share(&spec.id, caller.as_str(), token.max_share);
    let cancel = method_name == "DELETE" || operation == "cancel_order";
    let req = ForwardRequest {
        provider: spec.id.clone(),
        key: if signed { token.key_label.clone() } else { None },
        operation: operation.clone(),
        class,
        cancel,
        weight,
        sign: signed,
        method: method_name.clone(),
        path: rest.clone(),
        query,
        body,
        caller,
        max_wait: Some(token.max_wait),
    };
    let result = ctx.kw.pipeline().forward_entry(entry.clone(), req).await;
    if class != OperationClass::Read {
        audit_order(&ctx.kw, &token, &operation, result.as_ref().ok().map(|f| f.status));
    }
    // The exchange failed in a way another try later could fix: the last good answer, stale.
    let failed_because = match &result {
        Ok(fwd) if fwd.status >= 500 => Some(format!("{} answered HTTP {}", spec.id, fwd.status)),
        Err(e @ (CallError::Unreachable { .. } | CallError::CircuitOpen { .. })) => Some(e.to_string()),
        _ => None,
    };
    if let (Some(because), Some(key)) = (&failed_because, &stale_key) {
        if let Some((kept, age)) = ctx.kw.gateway().last_good().get(key, chrono::Utc::now()) {
            stats.forwarded(&bot, weight, Duration::ZERO, kept.status);
            let mut out = HeaderMap::new();
            for (name, value) in &kept.headers {
                if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
                    out.append(n, v);
                }
            }
            out.insert(HeaderName::from_static("x-keyward-stale-age"), HeaderValue::from(age.as_secs()));
            if let Ok(v) = HeaderValue::from_str(&because.replace(['\r', '\n'], " ")) {
                out.insert(HeaderName::from_static("x-keyward-stale-because"), v);
            }
            let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
            return (status, out, kept.body.clone()).into_response();
        }
    }
    match result {
        Ok(fwd) => {
            stats.forwarded(&bot, weight, fwd.waited, fwd.status);
            let mut out = HeaderMap::new();
            for (name, value) in &fwd.headers {
                if !DROP_RESPONSE_HEADERS.contains(&name.as_str()) {
                    out.append(name.clone(), value.clone());
                }
            }
            if let (Some(key), Some(keep), true) = (&stale_key, keep_for, (200..300).contains(&fwd.status)) {
                let headers = out.iter().map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec())).collect();
                let kept = super::stale::Kept {
                    status: fwd.status,
                    headers,
                    body: fwd.body.clone(),
                    at: chrono::Utc::now(),
                    keep,
                };
                ctx.kw.gateway().last_good().keep(key.clone(), kept);
            }
            let waited = u64::try_from(fwd.waited.as_millis()).unwrap_or(u64::MAX);
            out.insert(HeaderName::from_static("x-keyward-wait-ms"), HeaderValue::from(waited));
            let status = StatusCode::from_u16(fwd.status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, out, fwd.body).into_response()
        }
        Err(CallError::RateLimit(e)) => {
            let message = format!("Keyward: {e}; the bot's wait limit is {} ms", token.max_wait.as_millis());
            stats.refused(&bot, Refusal::Deadline, &message);
            let retry = match &e {
                crate::pipeline::limit::LimitError::WouldExceedDeadline { wait, .. } => *wait,
                crate::pipeline::limit::LimitError::Blocked { remaining, .. } => *remaining,
            };
            let secs = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
            let body = wire::rate_limited_body(scheme, &message);
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", secs.max(1).to_string())], axum::Json(body))
                .into_response()
        }
        Err(e) => {
            let message = e.to_string();
            stats.failed(&bot, &message);
            let status = match &e {
                CallError::PermissionDenied { .. } => StatusCode::FORBIDDEN,
                CallError::Key(_) => StatusCode::SERVICE_UNAVAILABLE,
                CallError::StatusUnknown { .. } => StatusCode::GATEWAY_TIMEOUT,
                CallError::Unreachable { timeout: true, .. } => StatusCode::GATEWAY_TIMEOUT,
                CallError::Provider(_) | CallError::UnknownEnvironment { .. } => StatusCode::NOT_FOUND,
                CallError::Signing(..) | CallError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_GATEWAY,
            };
            refuse(status, e.kind(), message)
        }
    }
}

/// Trade- and withdraw-class requests of a bot are audited one by one (reads are counted in
/// the per-minute key-use rows). Off the request path.
fn audit_order(kw: &Keyward, token: &BotToken, operation: &str, status: Option<u16>) {
    use crate::audit::{Actor, AuditEvent, AuditKind};
    let mut event = AuditEvent::new(Actor::Gateway, AuditKind::GatewayOrder)
        .provider(token.provider.clone())
        .detail(json!({"bot": token.name, "operation": operation, "status": status}));
    event.key_label = token.key_label.clone();
    let audit = kw.audit().clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = audit.append(event, chrono::Utc::now()) {
            tracing::error!(error = %e, "could not audit a bot's order");
        }
    });
}

/// How long a bot may wait unless its token says otherwise (for docs and the UI).
pub const fn default_max_wait() -> Duration {
    super::tokens::DEFAULT_MAX_WAIT
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::AuthScheme;

    #[test]
    fn unknown_paths_get_a_class_from_their_method_and_name() {
        assert_eq!(infer_class(AuthScheme::BinanceHmac, &Method::GET, "/api/v3/myTrades"), OperationClass::Read);
        assert_eq!(
            infer_class(AuthScheme::BinanceHmac, &Method::POST, "/sapi/v1/asset/transfer"),
            OperationClass::Trade
        );
        assert_eq!(infer_class(AuthScheme::Kraken, &Method::POST, "/0/private/BalanceEx"), OperationClass::Read);
        assert_eq!(infer_class(AuthScheme::Kraken, &Method::POST, "/0/private/AddOrder"), OperationClass::Trade);
        assert_eq!(infer_class(AuthScheme::Kraken, &Method::POST, "/0/private/Withdraw"), OperationClass::Withdraw);
        assert_eq!(
            infer_class(AuthScheme::BinanceHmac, &Method::POST, "/sapi/v1/capital/withdraw/apply"),
            OperationClass::Withdraw
        );
    }

    fn token_allowing(allow: &[&str]) -> BotToken {
        BotToken {
            id: 1,
            name: "lan-bot".into(),
            provider: "binance".into(),
            key_label: None,
            scopes: "market".parse().expect("scopes"),
            allow_ips: allow.iter().map(|a| super::super::tokens::parse_allow_ip(a).expect("cidr")).collect(),
            max_wait: Duration::from_secs(1),
            max_share: None,
            hint: "kwg_abc".into(),
            created_at: chrono::Utc::now(),
            rotated_at: None,
            disabled: false,
        }
    }

    #[test]
    fn a_token_without_allowed_addresses_is_refused_from_another_machine_and_works_once_allowed() {
        let lan: std::net::IpAddr = "192.168.1.7".parse().expect("ip");
        let docker: std::net::IpAddr = "172.17.0.2".parse().expect("ip");
        let open = token_allowing(&[]);
        assert!(ip_allowed(&open, "127.0.0.1".parse().expect("ip")));
        assert!(ip_allowed(&open, "::1".parse().expect("ip")));
        assert!(!ip_allowed(&open, lan), "loopback only without --allow-ip");
        assert!(!ip_allowed(&open, docker));
        let allowed = token_allowing(&["192.168.1.0/24", "172.17.0.2"]);
        assert!(ip_allowed(&allowed, lan));
        assert!(ip_allowed(&allowed, docker));
        assert!(!ip_allowed(&allowed, "192.168.2.7".parse().expect("ip")));
    }

    #[test]
    fn tls_is_on_for_every_bind_address_but_loopback() {
        assert!(!Listen::on("127.0.0.1".parse().expect("ip"), 0).tls);
        assert!(!Listen::on("::1".parse().expect("ip"), 0).tls);
        assert!(Listen::on("0.0.0.0".parse().expect("ip"), 0).tls);
        assert!(Listen::on("192.168.1.20".parse().expect("ip"), 0).tls);
        assert!(Listen::on("::".parse().expect("ip"), 0).tls);
    }

    #[test]
    fn paths_match_templates_segment_by_segment() {
        assert!(path_matches("/api/v3/order", "/api/v3/order"));
        assert!(path_matches("/v5/order/{id}", "/v5/order/42"));
        assert!(!path_matches("/api/v3/order", "/api/v3/order/test"));
        assert!(!path_matches("/api/v3/order", "/api/v3/orders"));
    }

    #[test]
    fn tokens_are_found_in_the_exchange_key_header_a_bearer_or_x_keyward_token() {
        let wire = Wire::of(AuthScheme::BinanceHmac);
        let mut h = HeaderMap::new();
        h.insert("x-mbx-apikey", HeaderValue::from_static("kwg_abc"));
        assert_eq!(find_token(&h, &wire).as_deref(), Some("kwg_abc"));
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer kwg_xyz"));
        assert_eq!(find_token(&h, &wire).as_deref(), Some("kwg_xyz"));
        let mut h = HeaderMap::new();
        h.insert("x-mbx-apikey", HeaderValue::from_static("a-real-binance-key"));
        assert_eq!(find_token(&h, &wire), None, "a real exchange key is not a token");
        // Coinbase Advanced Trade: CCXT signs a JWT whose key name (`kid`, `sub`) is the token.
        let jwt = "eyJhbGciOiJFUzI1NiIsImtpZCI6Imt3Z19jYiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJrd2dfY2IifQ.c2ln";
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(&format!("Bearer {jwt}")).expect("header"));
        assert_eq!(find_token(&h, &Wire::of(AuthScheme::CoinbaseJwt)).as_deref(), Some("kwg_cb"));
        let mut h = HeaderMap::new();
        h.insert("x-auth", HeaderValue::from_static("BITSTAMP kwg_b"));
        assert_eq!(find_token(&h, &Wire::of(AuthScheme::BitstampV2)).as_deref(), Some("kwg_b"));
    }
}
