//! The send layer: one pooled reqwest client per provider (keep-alive, HTTP/2 where the server
//! offers it, gzip/brotli/deflate), the provider's timeout, and a response-size cap.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::provider::ProviderSpec;
use crate::signing::Signed;

const USER_AGENT: &str = concat!("Keyward/", env!("CARGO_PKG_VERSION"));
const POOL_IDLE: Duration = Duration::from_secs(90);
const ERROR_EXCERPT: usize = 300;

/// A pooled client for one timeout. Providers with the same timeout share it (and its
/// connection pool); their own headers are added per request.
pub fn client(spec: &ProviderSpec) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(Duration::from_millis(spec.timeout_ms))
        .connect_timeout(Duration::from_millis(spec.timeout_ms.min(10_000)))
        .pool_idle_timeout(POOL_IDLE)
        .gzip(true)
        .brotli(true)
        .deflate(true)
        .build()
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub latency: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    Connect,
    Timeout,
    Broken,
    TooLarge(u64),
}

pub struct Fail {
    pub kind: FailKind,
    pub message: String,
    pub latency: Duration,
}

fn fail(e: reqwest::Error, started: Instant) -> Fail {
    let kind = if e.is_connect() {
        FailKind::Connect
    } else if e.is_timeout() {
        FailKind::Timeout
    } else {
        FailKind::Broken
    };
    // Without the URL: a query string can carry an API key (api_key_query) or a signature.
    Fail { kind, message: e.without_url().to_string(), latency: started.elapsed() }
}

pub async fn send(
    client: &reqwest::Client,
    spec: &ProviderSpec,
    method: &str,
    base_url: &url::Url,
    env_headers: &std::collections::BTreeMap<String, String>,
    signed: &Signed,
) -> Result<Response, Fail> {
    let origin = base_url.origin().ascii_serialization();
    let url = format!("{origin}{}", signed.path_and_query);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut builder = client.request(method, url);
    for (name, value) in &spec.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            builder = builder.header(n, v);
        }
    }
    for (name, value) in env_headers {
        builder = builder.header(name, value);
    }
    for (name, value) in &signed.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &signed.body {
        builder = builder.body(body.clone());
    }
    let started = Instant::now();
    let mut resp = builder.send().await.map_err(|e| fail(e, started))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let cap = spec.max_response_bytes;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e, started))? {
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(Fail { kind: FailKind::TooLarge(cap), message: String::new(), latency: started.elapsed() });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, headers, body, latency: started.elapsed() })
}

/// A short excerpt of an error body for messages.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let mut excerpt: String = text.chars().take(ERROR_EXCERPT).collect();
    if text.chars().count() > ERROR_EXCERPT {
        excerpt.push('…');
    }
    excerpt
}
