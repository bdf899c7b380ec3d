//! The one call path for every caller (UI, CLI, monitors, the gateway):
//!
//! ```text
//! call:    cache -> failover -> per provider: prepare (environment, key, scope check)
//!          -> retry loop { attempt -> interpret (transform, exchange errors) -> record }
//! forward: prepare -> attempt (retried only when nothing reached the exchange) -> record
//! attempt: rate limit -> sign -> send -> rate-limit header sync
//! ```
//!
//! Two entries share the stages: [`Pipeline::call`] (an operation of the spec, normalised
//! result) and [`Pipeline::forward`] (a raw exchange request from the gateway, raw response).
//! Each attempt is signed afresh (new timestamp and nonce) and spends rate-limit budget, and
//! is recorded once, by [`Pipeline::finish`], after it was interpreted.

mod attempt;
mod batch;
pub mod breaker;
mod build;
mod cache;
mod forward;
pub mod limit;
pub mod markets;
pub mod record;
pub mod retry;
mod send;
pub mod transform;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::caller::{Caller, CallerKind};

use crate::clock::{Clock, SystemClock};
use crate::keys::{KeyError, Keys, Scope};
use crate::provider::{OperationClass, ProviderEntry, ProviderSpec, Registry};
use crate::signing::{self, NonceSource, TimeOffset};

pub use breaker::{BreakerState, BreakerView, Breakers};
pub use forward::{ForwardRequest, Forwarded};
pub use limit::{Priority, RateLimiter, Unlimited};
pub use markets::{Markets, Unified};
pub use record::{AttemptRecord, Outcome, Recorder};
pub use transform::Normalized;

use retry::{Backoff, Class, Failure};

/// Options of one call.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Key label to sign with (default: the provider's first key for the environment).
    pub key: Option<String>,
    /// Sign with this version of the key instead of the active one (verifying a rotation).
    pub key_version: Option<u32>,
    /// Environment (default: the provider's selected one).
    pub environment: Option<String>,
    /// Who is calling, for usage accounting and the limiter's caps (`"ui".into()` reads a name).
    pub caller: Caller,
    /// Return the provider's JSON as is instead of the normalised result.
    pub raw: bool,
    /// Skip the response cache.
    pub no_cache: bool,
    /// Providers to fail over to, in order, when this one cannot answer.
    pub failover: Vec<String>,
    /// Give up instead of waiting for rate-limit budget past this long.
    pub max_wait: Option<Duration>,
}

/// A call: `call(provider, operation, params, options)`.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub provider: String,
    pub operation: String,
    pub params: BTreeMap<String, String>,
    pub options: CallOptions,
}

/// The result of a call.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The provider that answered (differs from the requested one after failover).
    pub provider: String,
    pub environment: String,
    pub operation: String,
    pub status: u16,
    pub attempts: u32,
    pub latency: Duration,
    pub from_cache: bool,
    /// Set when every provider failed and this is the last good answer, kept past its TTL
    /// (the provider's `stale_if_error_ms`): how old it is.
    pub stale_age: Option<Duration>,
    /// Why a fresh answer could not be had (the last provider's error), with `stale_age`.
    pub stale_because: Option<String>,
    /// Which providers were tried, in order, and what each did (one step without failover).
    pub route: Vec<RouteStep>,
    pub data: Normalized,
    /// The raw JSON body.
    pub raw: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Provider(#[from] crate::provider::ProviderError),
    #[error("provider \"{provider}\" has no operation \"{operation}\" (it has: {known})")]
    UnknownOperation { provider: String, operation: String, known: String },
    #[error("provider \"{provider}\" has no environment \"{environment}\" (it has: {known})")]
    UnknownEnvironment { provider: String, environment: String, known: String },
    #[error("{provider} {operation}: {message}")]
    BadParams { provider: String, operation: String, message: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("key \"{label}\" may not {operation} on {provider}: the operation needs the {needed} scope and the key has only {has}. Nothing was sent")]
    PermissionDenied { provider: String, operation: String, label: String, needed: &'static str, has: String },
    #[error("could not sign the {provider} request: {0}", provider = .1)]
    Signing(#[source] signing::SignError, String),
    #[error(transparent)]
    RateLimit(#[from] limit::LimitError),
    #[error("{provider} {operation}: no answer after {attempts} attempt(s): {message}")]
    Unreachable { provider: String, operation: String, attempts: u32, message: String, timeout: bool },
    #[error("{provider} {operation}: HTTP {status}: {message}")]
    Http { provider: String, operation: String, status: u16, message: String },
    #[error("{provider} {operation}: the exchange reported error {code}: {message}")]
    Exchange { provider: String, operation: String, code: String, message: String },
    #[error("{provider} {operation}: the order's status is unknown ({detail}). It may or may not have been executed; it was not resent. Check open orders before placing it again")]
    StatusUnknown { provider: String, operation: String, detail: String },
    #[error("{provider} {operation}: the response is larger than the {limit}-byte cap")]
    TooLarge { provider: String, operation: String, limit: u64 },
    #[error("{provider} {operation}: the response is not valid JSON: {message}")]
    BadResponse { provider: String, operation: String, message: String },
    #[error("{provider} {operation}: not sent, the circuit breaker {scope} is {} ({reason}){}. Keyward stopped calling it for a while so it can recover", state.as_str(), until.map(|t| format!("; it tries again at {}", t.format("%H:%M:%S UTC"))).unwrap_or_default(), scope = match .scope { Some(op) => format!("of its {op} endpoint"), None => "of the provider".to_string() })]
    CircuitOpen {
        provider: String,
        operation: String,
        /// The endpoint whose breaker refused, `None` for the provider's own.
        scope: Option<String>,
        state: BreakerState,
        until: Option<DateTime<Utc>>,
        reason: String,
    },
    #[error("{provider} has no market {symbol}{}", if .known.is_empty() { String::new() } else { format!(" (it lists {} markets, e.g. {})", .count, .known) })]
    UnknownMarket { provider: String, symbol: String, count: usize, known: String },
    #[error("internal error: {0}")]
    Internal(String),
    /// The same failure, shared by every caller that waited on one coalesced request.
    #[error("{0}")]
    Shared(Arc<CallError>),
}

impl CallError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            CallError::Provider(e) => e.kind(),
            CallError::UnknownOperation { .. } | CallError::UnknownEnvironment { .. } | CallError::BadParams { .. } => {
                crate::ErrorKind::Invalid
            }
            CallError::Key(e) => e.kind(),
            CallError::PermissionDenied { .. } => crate::ErrorKind::PermissionDenied,
            CallError::Signing(..) => crate::ErrorKind::Signing,
            CallError::RateLimit(_) => crate::ErrorKind::RateLimited,
            CallError::Unreachable { timeout: true, .. } => crate::ErrorKind::Timeout,
            CallError::Unreachable { .. } => crate::ErrorKind::Network,
            CallError::Http { .. } => crate::ErrorKind::Http,
            CallError::Exchange { .. } => crate::ErrorKind::Exchange,
            CallError::StatusUnknown { .. } => crate::ErrorKind::StatusUnknown,
            CallError::TooLarge { .. } => crate::ErrorKind::TooLarge,
            CallError::BadResponse { .. } => crate::ErrorKind::BadResponse,
            CallError::CircuitOpen { .. } => crate::ErrorKind::CircuitOpen,
            CallError::UnknownMarket { .. } => crate::ErrorKind::NotFound,
            CallError::Internal(_) => crate::ErrorKind::Internal,
            CallError::Shared(e) => e.kind(),
        }
    }

    /// The error itself, through the [`CallError::Shared`] of a coalesced request.
    pub fn root(&self) -> &CallError {
        match self {
            CallError::Shared(e) => e.root(),
            other => other,
        }
    }

    /// Answers that are errors in disguise (an exchange's "throttled" note in a 200, a body
    /// that is not what the operation returns): the last good answer may stand in for them,
    /// though another provider would not do better.
    fn may_serve_stale(&self) -> bool {
        match self {
            CallError::Shared(e) => e.may_serve_stale(),
            CallError::BadResponse { .. } => true,
            CallError::Exchange { code, .. } => code == transform::THROTTLED,
            _ => false,
        }
    }

    /// Whether failing over to another provider may help.
    fn fail_over(&self) -> bool {
        match self {
            CallError::Shared(e) => e.fail_over(),
            other => matches!(
                other,
                CallError::Unreachable { .. }
                    | CallError::Http { status: 500..=599, .. }
                    | CallError::RateLimit(_)
                    | CallError::CircuitOpen { .. }
                    | CallError::UnknownMarket { .. }
            ),
        }
    }
}

/// One provider of a call's route: what it did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RouteStep {
    pub provider: String,
    /// "answered", "failed", "skipped" (not tried: down, maintenance, breaker open, no such
    /// market) or "stale" (its last good answer was served).
    pub outcome: String,
    /// Why it failed or was skipped; the symbol it was asked for when it answered.
    pub detail: String,
}

impl RouteStep {
    pub fn new(provider: &str, outcome: &str, detail: impl Into<String>) -> Self {
        Self { provider: provider.to_string(), outcome: outcome.to_string(), detail: detail.into() }
    }
}

/// A provider's failed call, with its last good answer when one may be served instead.
struct Failed {
    error: CallError,
    stale: Option<cache::Stale>,
}

impl From<CallError> for Failed {
    fn from(error: CallError) -> Self {
        Self { error, stale: None }
    }
}

/// The pipeline. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

/// A handle that does not keep the pipeline alive (for parts the pipeline itself holds, such
/// as the limiter's source of published limits).
#[derive(Clone)]
pub struct WeakPipeline {
    inner: std::sync::Weak<Inner>,
}

impl WeakPipeline {
    pub fn upgrade(&self) -> Option<Pipeline> {
        self.inner.upgrade().map(|inner| Pipeline { inner })
    }
}

struct Inner {
    registry: Registry,
    keys: Keys,
    limiter: Arc<dyn RateLimiter>,
    recorder: Recorder,
    cache: cache::ResponseCache,
    /// Pooled HTTP clients by timeout (keep-alive connections are per host inside each).
    clients: Mutex<HashMap<String, reqwest::Client>>,
    nonces: NonceSource,
    offsets: Mutex<HashMap<String, Arc<TimeOffset>>>,
    clock: Arc<dyn Clock>,
    /// What the retry back-off waits on (a [`crate::timer::ManualTimer`] in tests).
    timer: Arc<dyn crate::timer::Timer>,
    breakers: Breakers,
    markets: Markets,
    batches: batch::Batches,
}

/// Everything one attempt needs, resolved once per provider.
struct Prepared {
    entry: ProviderEntry,
    environment: String,
    base_url: url::Url,
    env_headers: BTreeMap<String, String>,
    key: Option<crate::keys::ResolvedKey>,
}

impl Pipeline {
    pub fn new(registry: Registry, keys: Keys, limiter: Arc<dyn RateLimiter>, recorder: Recorder) -> Self {
        Self::with_clock(registry, keys, limiter, recorder, Arc::new(SystemClock))
    }

    pub fn with_clock(
        registry: Registry,
        keys: Keys,
        limiter: Arc<dyn RateLimiter>,
        recorder: Recorder,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let timer = Arc::new(crate::timer::TokioTimer::new(Arc::clone(&clock)));
        Self::with_timing(registry, keys, limiter, recorder, clock, timer)
    }

    /// Everything explicit: tests pass a fake clock and a [`crate::timer::ManualTimer`] so retry
    /// back-offs complete when the test moves time, never by sleeping.
    pub fn with_timing(
        registry: Registry,
        keys: Keys,
        limiter: Arc<dyn RateLimiter>,
        recorder: Recorder,
        clock: Arc<dyn Clock>,
        timer: Arc<dyn crate::timer::Timer>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                keys,
                limiter,
                recorder,
                cache: cache::ResponseCache::new(Arc::clone(&clock)),
                clients: Mutex::new(HashMap::new()),
                nonces: NonceSource::new(Utc::now()),
                offsets: Mutex::new(HashMap::new()),
                breakers: Breakers::new(Arc::clone(&clock)),
                markets: Markets::default(),
                batches: batch::Batches::default(),
                clock,
                timer,
            }),
        }
    }

    pub fn downgrade(&self) -> WeakPipeline {
        WeakPipeline { inner: Arc::downgrade(&self.inner) }
    }

    pub fn recorder(&self) -> &Recorder {
        &self.inner.recorder
    }

    /// The learned lists of markets (unified symbols).
    pub fn markets(&self) -> &Markets {
        &self.inner.markets
    }

    /// The circuit breakers (per provider and endpoint) of every call through this pipeline.
    pub fn breakers(&self) -> &Breakers {
        &self.inner.breakers
    }

    /// Makes a call through every layer. When every provider fails in a way another provider
    /// or time might fix, the freshest last good answer of any of them (within its
    /// `stale_if_error_ms`) is returned instead, marked with its age.
    pub async fn call(&self, req: CallRequest) -> Result<CallOutcome, CallError> {
        self.call_routed(req, Vec::new()).await
    }

    /// [`Pipeline::call`] with the steps a caller already decided (members of a failover group
    /// it skipped) at the head of the route.
    pub async fn call_routed(&self, req: CallRequest, mut route: Vec<RouteStep>) -> Result<CallOutcome, CallError> {
        let mut candidates = vec![req.provider.clone()];
        candidates.extend(req.options.failover.iter().filter(|p| **p != req.provider).cloned());
        let mut last_err = None;
        let mut stale: Option<cache::Stale> = None;
        for (i, provider) in candidates.iter().enumerate() {
            match self.call_one(provider, &req).await {
                Ok((outcome, symbol)) => {
                    route.push(RouteStep::new(provider, "answered", symbol.unwrap_or_default()));
                    return Ok(CallOutcome { route, ..outcome });
                }
                Err(Failed { error: e, stale: s }) if e.fail_over() || e.may_serve_stale() => {
                    let outcome = if matches!(e.root(), CallError::CircuitOpen { .. } | CallError::UnknownMarket { .. })
                    {
                        "skipped"
                    } else {
                        "failed"
                    };
                    route.push(RouteStep::new(provider, outcome, e.to_string()));
                    if let Some(s) = s.filter(|s| stale.as_ref().map_or(true, |best| s.age < best.age)) {
                        stale = Some(s);
                    }
                    if !e.fail_over() {
                        last_err = Some(e);
                        break;
                    }
                    // Only a call with somewhere else to go fails over; the error itself
                    // reaches the caller.
                    if let Some(next) = candidates.get(i + 1) {
                        tracing::warn!(provider = %provider, operation = %req.operation, next = %next, error = %e,
                            "failing over to the next provider");
                    } else if candidates.len() > 1 {
                        tracing::warn!(operation = %req.operation, tried = %candidates.join(", "), error = %e,
                            "every provider of the failover list failed");
                    }
                    last_err = Some(e);
                }
                Err(Failed { error, .. }) => return Err(error),
            }
        }
        let err = last_err.unwrap_or_else(|| CallError::Internal("no provider to call".into()));
        match stale {
            Some(s) => {
                tracing::warn!(provider = %s.outcome.provider, operation = %req.operation, age = ?s.age, error = %err,
                    "serving the last good answer, stale");
                route.push(RouteStep::new(&s.outcome.provider, "stale", format!("{} s old", s.age.as_secs())));
                Ok(CallOutcome {
                    stale_age: Some(s.age),
                    stale_because: Some(err.to_string()),
                    from_cache: true,
                    route,
                    ..s.outcome
                })
            }
            None => Err(err),
        }
    }

    /// One provider: its answer, and the symbol it was asked for when the call named a
    /// unified one.
    async fn call_one(&self, provider: &str, req: &CallRequest) -> Result<(CallOutcome, Option<String>), Failed> {
        let prepared = self.prepare(provider, req).await.map_err(Failed::from)?;
        let spec = &prepared.entry.spec;
        let endpoint = spec.endpoints.get(&req.operation).ok_or_else(|| unknown_op(spec, &req.operation))?;
        let (params, symbol) = self.unify(spec, &req.operation, &req.params).await?;
        let mapped;
        let req = match symbol {
            Some(_) => {
                mapped = CallRequest { params, ..req.clone() };
                &mapped
            }
            None => req,
        };
        // `no_cache` (health checks, key checks) wants the provider's own answer: no cached one,
        // and no stale one either.
        let cacheable = endpoint.cache_ttl_ms > 0 && endpoint.class == OperationClass::Read && !req.options.no_cache;
        if !cacheable {
            return Ok((self.attempts(&prepared, req).await?, symbol));
        }
        let cache_key = cache::key(
            &spec.id,
            &prepared.environment,
            &req.operation,
            &req.params,
            prepared.key.as_ref().map(|k| k.record.label.as_str()),
            req.options.raw,
        );
        let ttl = Duration::from_millis(endpoint.cache_ttl_ms);
        let max_stale = Duration::from_millis(spec.stale_if_error_ms);
        let fetched =
            self.inner.cache.get_or_fetch(cache_key.clone(), ttl, max_stale, self.attempts(&prepared, req)).await;
        match fetched {
            Ok((outcome, fresh)) => {
                if endpoint.cost == 0.0 {
                    self.inner.cache.touch(&cache_key, req, ttl, max_stale, fresh);
                }
                Ok((CallOutcome { from_cache: !fresh, ..outcome }, symbol))
            }
            Err(error) => {
                let stale = if error.fail_over() || error.may_serve_stale() {
                    self.inner.cache.stale(&cache_key, ttl, max_stale).await
                } else {
                    None
                };
                Err(Failed { error, stale })
            }
        }
    }

    /// Refresh-ahead: fetches again every hot cache entry (read in the last few TTLs, free
    /// market data with a TTL up to a minute) that is past three quarters of its TTL, so
    /// readers keep getting cached answers instead of waiting on the exchange. Refreshes go
    /// through the rate limiter as the caller `refresh`, which the service holds to a share
    /// of each limit. Returns how many entries were refreshed. The service runs it a few times
    /// a second; tests call it after moving the clock.
    pub async fn refresh_ahead(&self) -> usize {
        let due = self.inner.cache.due();
        let refreshes = due.into_iter().map(|(key, hot)| async move {
            let req = CallRequest {
                options: CallOptions { caller: crate::caller::Caller::REFRESH, ..hot.request.options.clone() },
                ..hot.request.clone()
            };
            let fetched = match self.prepare(&req.provider, &req).await {
                Ok(prepared) => self.attempts(&prepared, &req).await,
                Err(e) => Err(e),
            };
            match fetched {
                Ok(outcome) => {
                    self.inner.cache.refreshed(&key, outcome, hot.ttl, hot.max_stale).await;
                    true
                }
                Err(e) => {
                    tracing::debug!(provider = %req.provider, operation = %req.operation, error = %e, "refresh-ahead failed");
                    self.inner.cache.refresh_failed(&key);
                    false
                }
            }
        });
        futures_util::future::join_all(refreshes).await.into_iter().filter(|ok| *ok).count()
    }

    /// Calls waiting in batches being gathered.
    pub fn batched_waiting(&self) -> usize {
        self.inner.batches.waiting()
    }

    /// The providers whose cache entries are refreshed ahead.
    pub fn refreshed_providers(&self) -> Vec<String> {
        self.inner.cache.hot_providers()
    }

    /// A unified `symbol=BTC/USDT` becomes the provider's own parameter and name
    /// (`pair=XBTUSDT`); other parameters, and native symbols, stay as they are.
    async fn unify(
        &self,
        spec: &ProviderSpec,
        operation: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<(BTreeMap<String, String>, Option<String>), CallError> {
        let Some(unified) = params.get("symbol").and_then(|s| Unified::parse(s)) else {
            return Ok((params.clone(), None));
        };
        let Some(param) = markets::symbol_param(spec, operation) else {
            return Err(CallError::BadParams {
                provider: spec.id.clone(),
                operation: operation.to_string(),
                message: format!("symbol \"{unified}\": this operation takes no market"),
            });
        };
        let native = self.native_symbol(spec, &unified).await?;
        let mut out = params.clone();
        out.remove("symbol");
        out.insert(param.to_string(), native.clone());
        Ok((out, Some(format!("{param}={native}"))))
    }

    /// The provider's own name of `unified`: from its list of markets (fetched and learned on
    /// first use), else its family's naming rule.
    async fn native_symbol(&self, spec: &ProviderSpec, unified: &Unified) -> Result<String, CallError> {
        let now = self.inner.clock.now();
        let family = spec.family.as_deref().unwrap_or(spec.id.as_str());
        let by_rule = || {
            markets::by_rule(family, unified).ok_or_else(|| CallError::BadParams {
                provider: spec.id.clone(),
                operation: "symbol".into(),
                message: format!(
                    "symbol \"{unified}\": {} does not list its markets, so Keyward cannot name this market for it; use its own symbol",
                    spec.id
                ),
            })
        };
        let Some(source) = &spec.markets else { return by_rule() };
        let map = match self.inner.markets.learned(&spec.id, now) {
            Some(map) => map,
            None => {
                let req = CallRequest {
                    provider: spec.id.clone(),
                    operation: source.operation.clone(),
                    params: BTreeMap::new(),
                    options: CallOptions { caller: crate::caller::Caller::KEYWARD, raw: true, ..Default::default() },
                };
                let listed = Box::pin(self.call(req))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|out| markets::parse(source, &out.raw));
                match listed {
                    Ok(map) => self.inner.markets.remember(&spec.id, map, now),
                    Err(e) => {
                        tracing::warn!(provider = %spec.id, error = %e, "could not read the list of markets; naming by rule");
                        return by_rule();
                    }
                }
            }
        };
        map.symbols.get(&unified.to_string()).cloned().ok_or_else(|| CallError::UnknownMarket {
            provider: spec.id.clone(),
            symbol: unified.to_string(),
            count: map.symbols.len(),
            known: map.symbols.keys().take(3).cloned().collect::<Vec<_>>().join(", "),
        })
    }

    async fn prepare(&self, provider: &str, req: &CallRequest) -> Result<Prepared, CallError> {
        let entry = self.inner.registry.get(provider)?;
        check_discontinued(&entry.spec)?;
        let endpoint =
            entry.spec.endpoints.get(&req.operation).ok_or_else(|| unknown_op(&entry.spec, &req.operation))?;
        let want = Want {
            operation: req.operation.clone(),
            class: endpoint.class,
            signed: endpoint.signed,
            key: req.options.key.clone(),
            key_version: req.options.key_version,
            environment: req.options.environment.clone(),
        };
        self.prepare_entry(entry, want).await
    }

    /// Resolves the environment, base URL and key for one provider, and checks that the key
    /// may do what is asked. Reading the (cached) spec is cheap; the credential store may
    /// block, so signed requests resolve their key off the runtime.
    async fn prepare_entry(&self, entry: ProviderEntry, want: Want) -> Result<Prepared, CallError> {
        let inner = Arc::clone(&self.inner);
        let now = self.inner.clock.now();
        let needs_key = want.key.is_some() || entry.spec.auth.key_optional || want.signed;
        let prepare = move || -> Result<Prepared, CallError> {
            let spec = &entry.spec;
            check_discontinued(spec)?;
            let environment = want.environment.clone().unwrap_or_else(|| entry.environment.clone());
            let env = spec.environments.get(&environment).ok_or_else(|| CallError::UnknownEnvironment {
                provider: spec.id.clone(),
                environment: environment.clone(),
                known: spec.environments.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
            let base_url = url::Url::parse(&env.base_url)
                .map_err(|e| CallError::Internal(format!("base URL {} of {}: {e}", env.base_url, spec.id)))?;
            let resolved = if needs_key {
                match inner.keys.resolve_version(&spec.id, want.key.as_deref(), &environment, want.key_version, now) {
                    // A provider whose key is optional (CoinGecko's demo key) works without one.
                    Err(KeyError::NoKeyForProvider { .. }) if spec.auth.key_optional && !want.signed => None,
                    other => Some(other?),
                }
            } else {
                None
            };
            if let Some(key) = &resolved {
                let needed = match want.class {
                    OperationClass::Read => Scope::Read,
                    OperationClass::Trade => Scope::Trade,
                    OperationClass::Withdraw => Scope::Withdraw,
                };
                if !key.record.scopes.allows(needed) {
                    return Err(CallError::PermissionDenied {
                        provider: spec.id.clone(),
                        operation: want.operation.clone(),
                        label: key.record.label.clone(),
                        needed: needed.as_str(),
                        has: key.record.scopes.to_string(),
                    });
                }
            }
            let env_headers = env.headers.clone();
            Ok(Prepared { entry, environment, base_url, env_headers, key: resolved })
        };
        if !needs_key {
            return prepare();
        }
        tokio::task::spawn_blocking(prepare)
            .await
            .map_err(|e| CallError::Internal(format!("the prepare task failed: {e}")))?
    }

    fn client(&self, spec: &ProviderSpec) -> Result<reqwest::Client, CallError> {
        let key = spec.timeout_ms.to_string();
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client =
            send::client(spec).map_err(|e| CallError::Internal(format!("HTTP client for {}: {e}", spec.id)))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    fn offset(&self, provider: &str) -> Arc<TimeOffset> {
        let mut offsets = self.inner.offsets.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(offsets.entry(provider.to_string()).or_insert_with(|| Arc::new(TimeOffset::new())))
    }

    /// The call entry's retry loop: one [`Pipeline::attempt`] after another, each answer
    /// interpreted (transform, exchange errors) and recorded once, retried as the policy says.
    async fn attempts(&self, p: &Prepared, req: &CallRequest) -> Result<CallOutcome, CallError> {
        let spec = &p.entry.spec;
        let endpoint = spec.endpoints.get(&req.operation).ok_or_else(|| unknown_op(spec, &req.operation))?;
        if let Some(batch) = endpoint.batch.as_ref().filter(|_| !req.options.raw) {
            if req.params.contains_key(&batch.from) {
                return self.batched(p, req, endpoint, batch).await;
            }
        }
        self.attempts_with(p, req, endpoint).await
    }

    /// [`Pipeline::attempts`] against `endpoint` as given (a batch's variant of the spec's).
    async fn attempts_with(
        &self,
        p: &Prepared,
        req: &CallRequest,
        endpoint: &crate::provider::EndpointSpec,
    ) -> Result<CallOutcome, CallError> {
        let spec = &p.entry.spec;
        let client = self.client(spec)?;
        let mutating = endpoint.class != OperationClass::Read;
        let backoff = Backoff {
            base: Duration::from_millis(spec.retry_for(endpoint.class).base_delay_ms),
            max: Duration::from_millis(spec.retry_for(endpoint.class).max_delay_ms),
        };
        let max_attempts = spec.retry_for(endpoint.class).max_attempts.max(1);
        let started = Instant::now();
        // Parameter-dependent weights (Binance order-book depth) are charged in full.
        let weight = {
            let mut merged: BTreeMap<String, String> = endpoint
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect();
            merged.extend(req.params.iter().map(|(k, v)| (k.clone(), v.clone())));
            endpoint.weight_for(&merged)
        };
        // Parameters are checked before any budget is spent.
        let unsigned = build::request(spec, endpoint, &req.operation, &p.base_url, &req.params)?;
        let plan = attempt::Plan {
            prepared: p,
            operation: &req.operation,
            caller: &req.options.caller,
            weight,
            priority: priority_of(&req.operation, endpoint.class, endpoint.signed),
            deadline: req.options.max_wait.map(|w| Instant::now() + w),
            scheme: scheme_for(spec, endpoint.signed, p.key.is_some()),
            unsigned: &unsigned,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self.attempt(&plan, &client, attempt).await?;
            let record = sent.record;
            let failure = match sent.result {
                Ok(resp) if (200..300).contains(&resp.status) => {
                    match transform::parse(spec, &req.operation, &resp.body) {
                        Ok((raw, data)) => {
                            if req.operation == "server_time" {
                                if let Normalized::ServerTime { server_time } = &data {
                                    self.offset(&spec.id).record(*server_time, sent.sent_at, self.inner.clock.now());
                                }
                            }
                            self.finish(spec, record, Outcome::Ok, Some(&resp.body));
                            self.key_used(p, &req.options.caller);
                            return Ok(CallOutcome {
                                provider: spec.id.clone(),
                                environment: p.environment.clone(),
                                operation: req.operation.clone(),
                                status: resp.status,
                                attempts: attempt,
                                latency: started.elapsed(),
                                from_cache: false,
                                stale_age: None,
                                stale_because: None,
                                route: Vec::new(),
                                data: if req.options.raw { Normalized::Raw } else { data },
                                raw,
                            });
                        }
                        Err(transform::ParseError::Exchange { code, message }) => {
                            let outcome =
                                if code == transform::THROTTLED { Outcome::Throttled } else { Outcome::ProviderError };
                            self.finish(spec, record, outcome, Some(&resp.body));
                            return Err(CallError::Exchange {
                                provider: spec.id.clone(),
                                operation: req.operation.clone(),
                                code,
                                message,
                            });
                        }
                        Err(transform::ParseError::NotJson(message) | transform::ParseError::Empty(message)) => {
                            self.finish(spec, record, Outcome::ProviderError, Some(&resp.body));
                            return Err(CallError::BadResponse {
                                provider: spec.id.clone(),
                                operation: req.operation.clone(),
                                message,
                            });
                        }
                    }
                }
                Ok(resp) => {
                    self.finish(spec, record, Outcome::HttpError, Some(&resp.body));
                    let retry_after = crate::http_headers::retry_after(&resp.headers, self.inner.clock.now());
                    let failure = Failure::Status { status: resp.status, retry_after };
                    (failure, send::error_message(&resp.body), Some(resp.status))
                }
                Err(f) => {
                    self.finish(spec, record, attempt::fail_outcome(f.kind), None);
                    if let send::FailKind::TooLarge(limit) = f.kind {
                        return Err(CallError::TooLarge {
                            provider: spec.id.clone(),
                            operation: req.operation.clone(),
                            limit,
                        });
                    }
                    let failure = if f.kind == send::FailKind::Connect { Failure::Connect } else { Failure::AfterSend };
                    (failure, f.message, None)
                }
            };

            let (failure, message, status) = failure;
            match retry::classify(failure, mutating) {
                Class::Unknown => {
                    return Err(CallError::StatusUnknown {
                        provider: spec.id.clone(),
                        operation: req.operation.clone(),
                        detail: match status {
                            Some(s) => format!("HTTP {s}: {message}"),
                            None => message,
                        },
                    })
                }
                Class::Transient { retry_after } if attempt < max_attempts => {
                    let wait = backoff.delay(attempt + 1, retry_after, &mut rand::thread_rng());
                    tracing::info!(provider = %spec.id, operation = %req.operation, attempt, ?wait, "retrying");
                    let until = chrono::Duration::from_std(wait)
                        .ok()
                        .and_then(|d| self.inner.clock.now().checked_add_signed(d))
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    self.inner.timer.sleep_until(until).await;
                }
                _ => {
                    return Err(match status {
                        Some(status) => CallError::Http {
                            provider: spec.id.clone(),
                            operation: req.operation.clone(),
                            status,
                            message,
                        },
                        None => CallError::Unreachable {
                            provider: spec.id.clone(),
                            operation: req.operation.clone(),
                            attempts: attempt,
                            timeout: matches!(failure, Failure::AfterSend),
                            message,
                        },
                    })
                }
            }
        }
    }

    /// A key that signed an answered call: its "last used" time (batched with the call rows)
    /// and the per-minute use count of the audit log.
    fn key_used(&self, p: &Prepared, caller: &Caller) {
        let Some(k) = &p.key else { return };
        let now: DateTime<Utc> = self.inner.clock.now();
        self.inner.recorder.key_used(k.record.id, now);
        let actor = match caller.kind() {
            CallerKind::Cli => crate::audit::Actor::Cli,
            CallerKind::Ui => crate::audit::Actor::Ui,
            CallerKind::Bot => crate::audit::Actor::Gateway,
            _ => crate::audit::Actor::System,
        };
        self.inner.keys.record_use(actor, &k.record.provider, &k.record.label, now);
    }
}

/// Who goes first when budget is short: cancels, orders, account reads, market data.
fn priority_of(operation: &str, class: OperationClass, signed: bool) -> Priority {
    match (operation, class) {
        ("cancel_order", _) => Priority::CancelOrder,
        (_, OperationClass::Trade | OperationClass::Withdraw) => Priority::Order,
        _ if signed => Priority::Account,
        _ => Priority::MarketData,
    }
}

/// What a caller needs from a provider: the key resolution and scope check of
/// [`Pipeline::prepare_entry`].
struct Want {
    operation: String,
    class: OperationClass,
    signed: bool,
    key: Option<String>,
    key_version: Option<u32>,
    environment: Option<String>,
}

/// Public endpoints of signing exchanges go out unsigned; key-only schemes (header, query,
/// bearer, basic) send the key whenever there is one.
fn scheme_for(spec: &ProviderSpec, signed: bool, have_key: bool) -> signing::AuthScheme {
    use signing::AuthScheme as A;
    match (have_key, signed, spec.auth.scheme) {
        (false, _, _) => A::None,
        (true, true, s) => s,
        (true, false, s @ (A::ApiKeyHeader | A::ApiKeyQuery | A::Bearer | A::Basic)) => s,
        (true, false, _) => A::None,
    }
}

/// A discontinued provider is never called (its exchange is gone).
fn check_discontinued(spec: &ProviderSpec) -> Result<(), CallError> {
    match &spec.discontinued {
        Some(d) => Err(CallError::Provider(crate::provider::ProviderError::Discontinued {
            id: spec.id.clone(),
            name: spec.name.clone(),
            since: d.since,
            reason: d.reason.clone(),
        })),
        None => Ok(()),
    }
}

fn unknown_op(spec: &ProviderSpec, operation: &str) -> CallError {
    CallError::UnknownOperation {
        provider: spec.id.clone(),
        operation: operation.to_string(),
        known: spec.endpoints.keys().cloned().collect::<Vec<_>>().join(", "),
    }
}
