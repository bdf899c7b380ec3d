//! The control server: axum on 127.0.0.1:0, bearer token, the running process's core.

use crate::caller::Caller;
use crate::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::limits::{parse_priority, AcquireBody, LimitRefusal, ObserveBody};
use super::{control_file, limit_views, CallBody, CallReply, ControlInfo, ErrorBody, ErrorDetail, Hello, UnlockBody};
use crate::audit::Actor;
use crate::vault::{SecretString, VaultError};
use crate::{Error, Keyward};

/// The largest request body the control API reads. Its bodies are a call's parameters or a
/// handful of response headers; a declared length above this is refused before any of the
/// body is read, and a body without a declared length is cut off here.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A running control server. Stop it with [`ControlServer::stop`] (or cancel its token); the
/// control file is removed when it stops.
pub struct ControlServer {
    info: ControlInfo,
    file: PathBuf,
    cancel: CancellationToken,
    join: tokio::task::JoinHandle<()>,
}

impl ControlServer {
    pub fn info(&self) -> &ControlInfo {
        &self.info
    }

    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.join.await;
        remove_if_ours(&self.file, &self.info.token);
    }
}

/// Removes the control file unless another process has replaced it since.
fn remove_if_ours(file: &std::path::Path, token: &str) {
    let ours = std::fs::read(file)
        .ok()
        .and_then(|b| serde_json::from_slice::<ControlInfo>(&b).ok())
        .is_some_and(|i| i.token == token);
    if ours {
        let _ = std::fs::remove_file(file);
    }
}

#[derive(Clone)]
struct Ctx {
    kw: Keyward,
    token_hash: [u8; 32],
}

/// Binds 127.0.0.1:0, writes the control file and serves until `cancel`. Must run inside a
/// tokio runtime.
pub async fn serve(kw: &Keyward, cancel: CancellationToken) -> Result<ControlServer, Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::Config(format!("could not open the local control port on 127.0.0.1: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Error::Config(format!("the local control port: {e}")))?;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let info = ControlInfo {
        url: format!("http://{addr}"),
        token: token.clone(),
        pid: std::process::id(),
        version: crate::VERSION.to_string(),
    };
    let file = control_file(kw.data_dir());
    write_private(&file, &info)?;
    let app = router(kw, &token);
    let stop = cancel.clone();
    let join = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the local control server stopped");
        }
    });
    tracing::info!(url = %info.url, "local control API listening");
    Ok(ControlServer { info, file, cancel, join })
}

/// The control API's routes behind its token check and body limit.
fn router(kw: &Keyward, token: &str) -> Router {
    let ctx = Ctx { kw: kw.clone(), token_hash: Sha256::digest(token.as_bytes()).into() };
    Router::new()
        .route("/v1/hello", get(hello))
        .route("/v1/call", post(call))
        .route("/v1/limits", get(limits))
        .route("/v1/limits/acquire", post(limits_acquire))
        .route("/v1/limits/observe", post(limits_observe))
        .route("/v1/gateway", get(gateway))
        .route("/v1/shared", get(shared))
        .route("/v1/gateway/tokens-changed", post(gateway_tokens_changed))
        .route("/v1/vault", get(vault))
        .route("/v1/vault/lock", post(vault_lock))
        .route("/v1/vault/unlock", post(vault_unlock))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(refuse_oversized))
        .layer(middleware::from_fn_with_state(ctx.clone(), authorize))
        .with_state(ctx)
}

/// Writes the control file readable by the user only, atomically (write, then rename).
fn write_private(file: &std::path::Path, info: &ControlInfo) -> Result<(), Error> {
    let bytes =
        serde_json::to_vec(info).map_err(|e| Error::Config(format!("could not encode the control file: {e}")))?;
    crate::vault::file::write_private(file, &bytes).map_err(|source| Error::Io {
        action: "write the control file",
        path: file.to_path_buf(),
        source,
    })
}

/// Accepts a request only with the right bearer token (compared as hashes, so the time taken
/// says nothing about the token).
async fn authorize(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| <[u8; 32]>::from(Sha256::digest(t.as_bytes())));
    if given != Some(ctx.token_hash) {
        return failure(ErrorKind::Unauthorized, "a valid control token is required".into());
    }
    next.run(req).await
}

/// Refuses a request whose declared `Content-Length` is above [`MAX_BODY_BYTES`] at once,
/// rather than waiting for (and buffering) a body it would refuse anyway.
async fn refuse_oversized(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > MAX_BODY_BYTES as u64) {
        return too_large(n);
    }
    next.run(req).await
}

fn too_large(declared: u64) -> Response {
    failure(
        ErrorKind::TooLarge,
        format!("a request body of {declared} bytes is larger than the {MAX_BODY_BYTES} bytes the control API reads"),
    )
}

/// A JSON request body whose rejection is answered like every other error of this API
/// (`{"error": {"kind", "message"}}`), naming the field serde names (`provider: missing
/// field`, `weight: invalid type`).
struct Body<T>(T);

impl<T, S> FromRequest<S> for Body<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(body)) => Ok(Body(body)),
            Err(rejection) => Err(rejected(&rejection)),
        }
    }
}

fn rejected(rejection: &JsonRejection) -> Failure {
    let status = rejection.status();
    let kind = if status == StatusCode::PAYLOAD_TOO_LARGE { ErrorKind::TooLarge } else { ErrorKind::Invalid };
    Failure::with_status(status, kind, rejection.body_text())
}

/// The unlock body carries a passphrase: its rejection names the fields but never repeats a
/// value (serde's messages quote the value they could not read).
struct UnlockRequest(UnlockBody);

impl<S: Send + Sync> FromRequest<S> for UnlockRequest {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<UnlockBody>::from_request(req, state).await {
            Ok(Json(body)) => Ok(UnlockRequest(body)),
            Err(rejection) => {
                let status = rejection.status();
                let kind =
                    if status == StatusCode::PAYLOAD_TOO_LARGE { ErrorKind::TooLarge } else { ErrorKind::Invalid };
                Err(Failure::with_status(
                    status,
                    kind,
                    "the body must be JSON {\"passphrase\": string, \"seconds\": number} with content-type application/json"
                        .into(),
                ))
            }
        }
    }
}

fn failure(kind: ErrorKind, message: String) -> Response {
    Failure::new(kind, message).into_response()
}

/// An error answer: `{"error": {"kind", "message"}}` with the kind's HTTP status
/// ([`ErrorKind::http_status`]), or the one axum chose for a body it could not read.
struct Failure {
    status: StatusCode,
    kind: ErrorKind,
    message: String,
}

impl Failure {
    fn new(kind: ErrorKind, message: String) -> Self {
        let status = StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, kind, message }
    }

    fn with_status(status: StatusCode, kind: ErrorKind, message: String) -> Self {
        Self { status, kind, message }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: ErrorDetail { kind: self.kind, message: self.message } })).into_response()
    }
}

/// Runs blocking core work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Failure> + Send + 'static) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Failure::new(ErrorKind::Internal, format!("the request's task failed: {e}"))))
}

async fn hello(State(ctx): State<Ctx>) -> Json<Hello> {
    Json(Hello {
        pid: std::process::id(),
        version: crate::VERSION.to_string(),
        data_dir: ctx.kw.data_dir().display().to_string(),
        actor: ctx.kw.actor().as_str().to_string(),
    })
}

async fn call(State(ctx): State<Ctx>, Body(body): Body<CallBody>) -> Response {
    let raw = body.raw;
    match ctx.kw.call_body(body, Caller::CLI).await {
        Ok(out) => Json(CallReply::from_outcome(&out, raw)).into_response(),
        Err(e) => failure(e.kind(), e.to_string()),
    }
}

#[derive(Deserialize)]
struct LimitsQuery {
    provider: Option<String>,
}

async fn limits(State(ctx): State<Ctx>, Query(q): Query<LimitsQuery>) -> Response {
    let result = blocking(move || {
        limit_views(&ctx.kw, q.provider.as_deref()).map_err(|e| Failure::new(e.kind(), e.to_string()))
    })
    .await;
    match result {
        Ok(views) => Json(views).into_response(),
        Err(f) => f.into_response(),
    }
}

/// `GET /v1/shared`: the shared budget of the running Keyward (`null` when it keeps its own).
async fn shared(State(ctx): State<Ctx>) -> Response {
    Json(ctx.kw.shared_budget_view()).into_response()
}

async fn limits_acquire(State(ctx): State<Ctx>, Body(body): Body<AcquireBody>) -> Response {
    use crate::pipeline::limit::RateLimiter;
    let caller = Caller::parse(&body.caller);
    let req = crate::pipeline::limit::Acquire {
        provider: &body.provider,
        operation: &body.operation,
        key_label: body.key_label.as_deref(),
        caller: &caller,
        weight: body.weight,
        priority: parse_priority(&body.priority),
        // A wait too long to represent is no deadline at all.
        deadline: body.max_wait_ms.and_then(|ms| std::time::Instant::now().checked_add(Duration::from_millis(ms))),
    };
    // Waits in the limiter's queue like any call of this process; a caller that hangs up
    // drops this future and leaves the queue.
    match ctx.kw.limiter().acquire(req).await {
        Ok(()) => Json(serde_json::json!({"granted": true})).into_response(),
        Err(e) => (StatusCode::TOO_MANY_REQUESTS, Json(LimitRefusal::from_error(&e))).into_response(),
    }
}

async fn limits_observe(State(ctx): State<Ctx>, Body(body): Body<ObserveBody>) -> Response {
    use crate::pipeline::limit::RateLimiter;
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in &body.headers {
        if let (Ok(n), Ok(v)) =
            (axum::http::HeaderName::try_from(name.as_str()), axum::http::HeaderValue::try_from(value.as_str()))
        {
            headers.append(n, v);
        }
    }
    let call = crate::pipeline::limit::Answered {
        provider: &body.provider,
        operation: &body.operation,
        key_label: body.key_label.as_deref(),
    };
    ctx.kw.limiter().observe(call, body.status, &headers);
    Json(serde_json::json!({"observed": true})).into_response()
}

async fn gateway(State(ctx): State<Ctx>) -> Response {
    let gw = ctx.kw.gateway().clone();
    match tokio::task::spawn_blocking(move || gw.view()).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => failure(ErrorKind::Internal, format!("gateway status: {e}")),
    }
}

/// Another process changed bot tokens: look them up afresh.
async fn gateway_tokens_changed(State(ctx): State<Ctx>) -> Response {
    ctx.kw.gateway().tokens().forget();
    Json(serde_json::json!({"ok": true})).into_response()
}

async fn vault(State(ctx): State<Ctx>) -> Response {
    let kw = ctx.kw.clone();
    match tokio::task::spawn_blocking(move || kw.vault_status()).await {
        Ok(status) => Json(status).into_response(),
        Err(e) => failure(ErrorKind::Internal, format!("vault status: {e}")),
    }
}

/// The status and kind a refused lock or unlock answers with.
fn vault_failure(e: &VaultError) -> Failure {
    let status = match e {
        VaultError::NoVaultFile => StatusCode::CONFLICT,
        VaultError::UnlockDuration { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    };
    Failure::with_status(status, e.kind(), e.to_string())
}

/// A lock asked by a command-line client: the core's rule, audited as the CLI's.
async fn vault_lock(State(ctx): State<Ctx>) -> Response {
    let kw = ctx.kw.clone();
    match blocking(move || kw.lock_vault(Actor::Cli).map(|_| kw.vault_status()).map_err(|e| vault_failure(&e))).await {
        Ok(status) => Json(status).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn vault_unlock(State(ctx): State<Ctx>, UnlockRequest(body): UnlockRequest) -> Response {
    let UnlockBody { passphrase, seconds } = body;
    let pass = SecretString::from(passphrase);
    let kw = ctx.kw.clone();
    let result = blocking(move || {
        kw.unlock_vault(Actor::Cli, &pass, Duration::from_secs(seconds))
            .map(|_| kw.vault_status())
            .map_err(|e| vault_failure(&e))
    })
    .await;
    match result {
        Ok(status) => Json(status).into_response(),
        Err(f) => f.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body as HttpBody;
    use tower::ServiceExt;

    use super::*;

    const TOKEN: &str = "test-token";

    fn app() -> (tempfile::TempDir, Router) {
        let dir = tempfile::tempdir().expect("tempdir");
        let kw = Keyward::open_with_secrets(dir.path(), Arc::new(crate::vault::MemoryStore::new())).expect("core");
        let app = router(&kw, TOKEN);
        (dir, app)
    }

    /// A body that arrives in pieces with no declared length, as a chunked upload does.
    fn streamed(total: usize) -> HttpBody {
        let piece = vec![b' '; 64 * 1024];
        let pieces = total.div_ceil(piece.len());
        let stream = futures::stream::iter(
            (0..pieces).map(move |_| Ok::<_, std::io::Error>(axum::body::Bytes::from(piece.clone()))),
        );
        HttpBody::from_stream(stream)
    }

    async fn post(app: Router, path: &str, body: HttpBody) -> (StatusCode, serde_json::Value) {
        let req = Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("request");
        let resp = app.oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024).await.expect("answer body");
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn a_body_without_a_declared_length_is_cut_off_at_the_limit() {
        for path in ["/v1/call", "/v1/limits/acquire", "/v1/limits/observe", "/v1/vault/unlock"] {
            let (_dir, app) = app();
            let (status, body) = post(app, path, streamed(MAX_BODY_BYTES + 1)).await;
            assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {body}");
            assert_eq!(body["error"]["kind"], "tooLarge", "{path}: {body}");
        }
    }

    #[tokio::test]
    async fn a_body_under_the_limit_is_read() {
        let (_dir, app) = app();
        // Whitespace around a valid body: well under the limit, so it reaches the handler.
        let mut text = vec![b' '; MAX_BODY_BYTES - 200];
        text.extend_from_slice(br#"{"provider": "zz-none", "operation": "ticker", "status": 200, "headers": []}"#);
        let (status, body) = post(app, "/v1/limits/observe", HttpBody::from(text)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["observed"], true);
    }

    #[tokio::test]
    async fn a_wrong_body_is_answered_as_an_api_error_naming_the_field() {
        let (_dir, app) = app();
        let (status, body) =
            post(app.clone(), "/v1/limits/acquire", HttpBody::from(r#"{"provider": "x", "operation": "y"}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["kind"], "invalid");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("weight")), "{body}");
        let (status, body) =
            post(app, "/v1/vault/unlock", HttpBody::from(r#"{"passphrase": 123456789, "seconds": "x"}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["message"].as_str().expect("a message");
        assert!(message.contains("passphrase") && !message.contains("123456789"), "{message}");
    }
}
