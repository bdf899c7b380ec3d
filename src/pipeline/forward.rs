//! The gateway's entry: a raw exchange request from a bot, signed with the real key and sent
//! through the same budget, returned as the exchange answered it.

use std::time::{Duration, Instant};

use super::attempt::{self, Plan};
use super::record::Outcome;
use super::{priority_of, scheme_for, send, CallError, Pipeline, Priority, Want};
use crate::provider::OperationClass;
use crate::signing::{Body, Request};

/// A request to pass to an exchange as it is, but for its credentials.
#[derive(Debug, Clone)]
pub struct ForwardRequest {
    pub provider: String,
    /// Label of the key to sign with; `None` sends it unsigned (public market data).
    pub key: Option<String>,
    /// The spec's operation the path matched, or a name for a path it does not know
    /// (`"GET /api/v3/exchangeInfo"`): what the limiter, usage and the audit log call it.
    pub operation: String,
    pub class: OperationClass,
    /// Cancels go first when budget is short.
    pub cancel: bool,
    pub weight: u32,
    /// Sign it (the path is a signed endpoint, or the bot sent credentials for it).
    pub sign: bool,
    /// Upper-case HTTP method.
    pub method: String,
    /// Path below the provider's base URL (`/api/v3/order`).
    pub path: String,
    /// Query parameters in order, without the bot's signature, timestamp and key.
    pub query: Vec<(String, String)>,
    pub body: Body,
    /// Who is calling (a bot: [`Caller::bot`](crate::caller::Caller::bot)).
    pub caller: crate::caller::Caller,
    /// Wait at most this long for budget.
    pub max_wait: Option<Duration>,
}

/// The exchange's answer, as it was.
#[derive(Debug)]
pub struct Forwarded {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    /// How long the request waited for rate-limit budget.
    pub waited: Duration,
}

impl Pipeline {
    /// Sends `req` through the budget with the real key. Only a request that never reached
    /// the exchange (connection refused) is retried; an order whose answer was lost comes
    /// back as [`CallError::StatusUnknown`] and is not resent.
    pub async fn forward(&self, req: ForwardRequest) -> Result<Forwarded, CallError> {
        let entry = self.inner.registry.get(&req.provider)?;
        self.forward_entry(entry, req).await
    }

    /// [`Pipeline::forward`] with the provider's entry already read (the gateway has it).
    pub async fn forward_entry(
        &self,
        entry: crate::provider::ProviderEntry,
        req: ForwardRequest,
    ) -> Result<Forwarded, CallError> {
        super::check_discontinued(&entry.spec)?;
        let want = Want {
            operation: req.operation.clone(),
            class: req.class,
            signed: req.sign,
            key: req.key.clone(),
            key_version: None,
            environment: None,
        };
        let p = self.prepare_entry(entry, want).await?;
        let spec = &p.entry.spec;
        let client = self.client(spec)?;
        let host = match p.base_url.port() {
            Some(port) => format!("{}:{port}", p.base_url.host_str().unwrap_or_default()),
            None => p.base_url.host_str().unwrap_or_default().to_string(),
        };
        let unsigned = Request {
            method: req.method.clone(),
            host,
            path: format!("{}{}", p.base_url.path().trim_end_matches('/'), req.path),
            query: req.query.clone(),
            body: req.body.clone(),
        };
        let priority =
            if req.cancel { Priority::CancelOrder } else { priority_of(&req.operation, req.class, req.sign) };
        let plan = Plan {
            prepared: &p,
            operation: &req.operation,
            caller: &req.caller,
            weight: req.weight,
            priority,
            deadline: req.max_wait.map(|w| Instant::now() + w),
            scheme: scheme_for(spec, req.sign, p.key.is_some()),
            unsigned: &unsigned,
        };
        let max_attempts = spec.retry_for(req.class).max_attempts.max(1);
        let mut waited = Duration::ZERO;
        let mut n = 0;
        loop {
            n += 1;
            let sent = self.attempt(&plan, &client, n).await?;
            waited += sent.waited;
            match sent.result {
                Ok(resp) => {
                    let ok = (200..300).contains(&resp.status);
                    self.finish(spec, sent.record, if ok { Outcome::Ok } else { Outcome::HttpError }, Some(&resp.body));
                    if ok {
                        self.key_used(&p, &req.caller);
                    }
                    return Ok(Forwarded { status: resp.status, headers: resp.headers, body: resp.body, waited });
                }
                Err(f) => {
                    self.finish(spec, sent.record, attempt::fail_outcome(f.kind), None);
                    if f.kind == send::FailKind::Connect && n < max_attempts {
                        continue;
                    }
                    let (provider, operation) = (spec.id.clone(), req.operation.clone());
                    return Err(match f.kind {
                        send::FailKind::TooLarge(limit) => CallError::TooLarge { provider, operation, limit },
                        send::FailKind::Connect => CallError::Unreachable {
                            provider,
                            operation,
                            attempts: n,
                            message: f.message,
                            timeout: false,
                        },
                        _ if req.class != OperationClass::Read => {
                            CallError::StatusUnknown { provider, operation, detail: f.message }
                        }
                        kind => CallError::Unreachable {
                            provider,
                            operation,
                            attempts: n,
                            message: f.message,
                            timeout: kind == send::FailKind::Timeout,
                        },
                    });
                }
            }
        }
    }
}
