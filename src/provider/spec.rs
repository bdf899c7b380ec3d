//! The provider spec: everything Keyward needs to know to call one provider, as data.
//!
//! A spec is written in TOML (see the module docs of [`crate::provider`] for an example) and
//! deserialised into [`ProviderSpec`]. Unknown keys are refused (`deny_unknown_fields`) so a
//! typo like `timout_ms` is an error instead of a silently ignored setting. Parsing and
//! validation live in `validate.rs` ([`ProviderSpec::from_toml`], [`ProviderSpec::validate`]).

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::signing::{AuthParams, AuthScheme};

/// Default request timeout.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default number of attempts (first try included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default first backoff delay.
pub const DEFAULT_BASE_DELAY_MS: u64 = 200;
/// Default cap on one backoff delay.
pub const DEFAULT_MAX_DELAY_MS: u64 = 5_000;
/// Default cap on a response body (8 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;
/// The environment every spec must have.
pub const PRODUCTION: &str = "production";

/// Names of the standard logical operations. The pipeline normalises the responses of these;
/// a spec may define any other operation name too (e.g. `ping`, `api_usage`).
pub mod op {
    pub const SERVER_TIME: &str = "server_time";
    pub const SYSTEM_STATUS: &str = "system_status";
    pub const TICKER: &str = "ticker";
    pub const ORDER_BOOK: &str = "order_book";
    pub const BALANCES: &str = "balances";
    pub const OPEN_ORDERS: &str = "open_orders";
    pub const PLACE_ORDER: &str = "place_order";
    pub const CANCEL_ORDER: &str = "cancel_order";
    pub const KEY_PERMISSIONS: &str = "key_permissions";
}

/// Every standard operation, in a stable order.
pub const STANDARD_OPERATIONS: &[&str] = &[
    op::SERVER_TIME,
    op::SYSTEM_STATUS,
    op::TICKER,
    op::ORDER_BOOK,
    op::BALANCES,
    op::OPEN_ORDERS,
    op::PLACE_ORDER,
    op::CANCEL_ORDER,
    op::KEY_PERMISSIONS,
];

/// The class a standard operation must have, if it is fixed: placing and cancelling orders is
/// trading, whatever a spec says. Operations whose name starts with `withdraw` are withdrawals.
pub fn required_class(operation: &str) -> Option<OperationClass> {
    match operation {
        op::PLACE_ORDER | op::CANCEL_ORDER => Some(OperationClass::Trade),
        _ if operation.starts_with("withdraw") => Some(OperationClass::Withdraw),
        _ => None,
    }
}

/// One provider: an exchange or a market-data service.
///
/// Field order matters only for the TOML written by [`ProviderSpec::to_toml`]: plain values
/// first, then tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// Stable id, `[a-z0-9_-]+` (`binance`, `my-node`).
    pub id: String,
    /// Display name.
    pub name: String,
    pub kind: ProviderKind,
    /// Which response normaliser understands this provider's bodies (`binance` for Binance
    /// and its clones). Presets set it to their own id; `None` means raw bodies only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    /// The environment used unless the user picked another one.
    #[serde(default = "default_environment")]
    pub default_environment: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Bodies larger than this are cut off and the call fails.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// The operation the monitor calls to check health.
    #[serde(default = "default_health_check")]
    pub health_check: String,
    /// The operation that reports the provider's own status (maintenance, cancel-only, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_operation: Option<String>,
    /// The provider's hosted status page summary (Atlassian Statuspage
    /// `https://status.example.com/api/v2/summary.json`): while Keyward runs it is polled, and
    /// its incidents and maintenance feed the provider's health and alerts (`crate::hooks::feed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_feed: Option<String>,
    /// Set when the provider no longer exists; such a provider cannot be enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discontinued: Option<Discontinued>,
    /// Environment name → where it lives. `production` is required.
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    #[serde(default)]
    pub auth: AuthSpec,
    /// Extra headers sent with every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The retry policy of one endpoint class instead of `retry` (`[retry_by_class.trade]
    /// max_attempts = 1`). Orders are never resent blindly whatever it says: only a request
    /// that never reached the exchange is tried again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retry_by_class: BTreeMap<OperationClass, RetryPolicy>,
    /// When calls stop for a while after failures (the circuit breaker).
    #[serde(default, skip_serializing_if = "BreakerPolicy::is_default")]
    pub breaker: BreakerPolicy,
    /// How long past its cache TTL the last good answer of a cached read may still be served,
    /// marked stale, when the provider (and every failover member) fails; 0 = never.
    #[serde(default = "default_stale_if_error_ms", skip_serializing_if = "is_default_stale")]
    pub stale_if_error_ms: u64,
    /// What the provider bills: plans, which answers count, units per answer, budget.
    #[serde(default, skip_serializing_if = "super::billing::BillingSpec::is_default")]
    pub billing: super::billing::BillingSpec,
    /// Logical operation → endpoint.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointSpec>,
    /// The provider's rate limits, consumed by the rate limiter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimitRule>,
    /// Where the exchange publishes its current limits (Binance `exchangeInfo.rateLimits`);
    /// while Keyward runs, what it publishes replaces the matching rules' numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_limits: Option<PublishedLimitsSource>,
    /// Where the exchange lists its markets, so unified symbols (`BTC/USDT`) map to its own
    /// (`BTCUSDT`, `BTC-USDT`, `XBTUSDT`); without it, the family's naming rule is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markets: Option<MarketsSource>,
    /// Service-specific settings (e.g. `api_version`, `tier`), free-form.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, toml::Value>,
}

impl ProviderSpec {
    /// The retry policy of an endpoint class: its own, else the provider's.
    pub fn retry_for(&self, class: OperationClass) -> &RetryPolicy {
        self.retry_by_class.get(&class).unwrap_or(&self.retry)
    }

    /// The endpoint of a logical operation.
    pub fn endpoint(&self, operation: &str) -> Option<&EndpointSpec> {
        self.endpoints.get(operation)
    }

    /// Whether the spec maps `operation`.
    pub fn has_operation(&self, operation: &str) -> bool {
        self.endpoints.contains_key(operation)
    }

    /// The standard operations this spec maps, in [`STANDARD_OPERATIONS`] order.
    pub fn standard_operations(&self) -> Vec<&'static str> {
        STANDARD_OPERATIONS.iter().copied().filter(|op| self.has_operation(op)).collect()
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.get(name)
    }

    /// The base URL of an environment.
    pub fn base_url(&self, environment: &str) -> Option<&str> {
        self.environments.get(environment).map(|e| e.base_url.as_str())
    }

    /// The environment names, sorted.
    pub fn environment_names(&self) -> Vec<&str> {
        self.environments.keys().map(String::as_str).collect()
    }

    pub fn is_discontinued(&self) -> bool {
        self.discontinued.is_some()
    }

    /// The normaliser family: `family` when set, else the id.
    pub fn family_id(&self) -> &str {
        self.family.as_deref().unwrap_or(&self.id)
    }

    /// The rate-limit rules that a call of `operation` counts against.
    pub fn rules_for<'a>(&'a self, operation: &'a str) -> impl Iterator<Item = &'a RateLimitRule> + 'a {
        self.rate_limits.iter().filter(move |r| r.applies_to_operation(operation))
    }
}

fn default_environment() -> String {
    PRODUCTION.to_string()
}
fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_max_response_bytes() -> u64 {
    DEFAULT_MAX_RESPONSE_BYTES
}
fn default_health_check() -> String {
    op::SERVER_TIME.to_string()
}

/// Why and since when a provider no longer exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discontinued {
    /// Written as a TOML date (`since = 2022-11-11`) or a string (`"2022-11-11"`).
    #[serde(with = "date_serde")]
    pub since: NaiveDate,
    pub reason: String,
}

/// Where one environment lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// `https://host[:port][/prefix]`. The request URL is this with any trailing `/` removed,
    /// followed by the endpoint path.
    #[serde(default)]
    pub base_url: String,
    /// Headers only this environment sends (OKX demo trading: `x-simulated-trading = "1"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// One of [`AuthScheme::ALL`], by id (`binance_hmac`).
    #[serde(with = "scheme_serde", default = "default_scheme")]
    pub scheme: AuthScheme,
    /// Header that carries the key (`api_key_header`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// Query parameter that carries the key (`api_key_query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_param: Option<String>,
    /// Binance / Bybit receive window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv_window_ms: Option<u64>,
    /// KuCoin API key version (1, 2 or 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_version: Option<u8>,
    /// The key needs a passphrase besides key and secret. Schemes that always need one
    /// (kucoin, okx, coinbase_exchange) imply it; see [`AuthSpec::needs_passphrase`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub passphrase_required: bool,
    /// The provider also works without a key (CoinGecko's public API); when a key is
    /// configured it is sent on every call, signed or not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub key_optional: bool,
}

impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            scheme: AuthScheme::None,
            header_name: None,
            query_param: None,
            recv_window_ms: None,
            key_version: None,
            passphrase_required: false,
            key_optional: false,
        }
    }
}

impl AuthSpec {
    /// Whether a key for this provider must come with a passphrase.
    pub fn needs_passphrase(&self) -> bool {
        self.passphrase_required || self.scheme.needs_passphrase()
    }

    /// The signing parameters for [`crate::signing::sign`].
    pub fn params(&self) -> AuthParams {
        AuthParams {
            header_name: self.header_name.clone(),
            query_param: self.query_param.clone(),
            recv_window_ms: self.recv_window_ms,
            key_version: self.key_version,
        }
    }
}

fn default_scheme() -> AuthScheme {
    AuthScheme::None
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How failed attempts are retried (the classification of errors lives in the pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 means no retries.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_base_delay_ms")]
    pub base_delay_ms: u64,
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base_delay_ms: DEFAULT_BASE_DELAY_MS,
            max_delay_ms: DEFAULT_MAX_DELAY_MS,
        }
    }
}

fn default_max_attempts() -> u32 {
    DEFAULT_MAX_ATTEMPTS
}
fn default_base_delay_ms() -> u64 {
    DEFAULT_BASE_DELAY_MS
}
fn default_max_delay_ms() -> u64 {
    DEFAULT_MAX_DELAY_MS
}

/// The default of [`ProviderSpec::stale_if_error_ms`]: five minutes.
pub const DEFAULT_STALE_IF_ERROR_MS: u64 = 300_000;

fn default_stale_if_error_ms() -> u64 {
    DEFAULT_STALE_IF_ERROR_MS
}

fn is_default_stale(ms: &u64) -> bool {
    *ms == DEFAULT_STALE_IF_ERROR_MS
}

/// A circuit breaker per provider, and per endpoint when the provider fails partially:
/// closed → open after `consecutive_failures` failures in a row, or when at least
/// `failure_rate_percent` of the calls in the last `window_ms` failed (with at least
/// `min_calls` calls); open for `open_ms`, doubled on each trip in a row up to `max_open_ms`;
/// then half-open, letting `half_open_probes` calls through, which close it when they all
/// succeed and open it again when one fails. Failures are answers that say the provider is
/// unwell: no connection, a timeout, HTTP 5xx. Rate-limit answers (429, 418) and client errors
/// are the limiter's and the caller's business and do not count.
///
/// The defaults follow Envoy's outlier detection (5 consecutive 5xx, 50 % over a minimum of
/// calls, ejection time growing with each ejection) and resilience4j (a few half-open probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerPolicy {
    /// Failures in a row that open it; 0 turns the breaker off.
    pub consecutive_failures: u32,
    /// Share of failed calls in the window that opens it, in percent; 0 turns this rule off.
    pub failure_rate_percent: u32,
    /// The failure rate only counts with at least this many calls in the window.
    pub min_calls: u32,
    pub window_ms: u64,
    /// How long it stays open after the first trip.
    pub open_ms: u64,
    /// The longest it stays open after trips in a row.
    pub max_open_ms: u64,
    /// Calls let through while half-open; all must succeed to close it.
    pub half_open_probes: u32,
    /// Also keep a breaker per endpoint, so one failing endpoint stops alone.
    pub per_endpoint: bool,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate_percent: 50,
            min_calls: 20,
            window_ms: 60_000,
            open_ms: 15_000,
            max_open_ms: 300_000,
            half_open_probes: 2,
            per_endpoint: true,
        }
    }
}

impl BreakerPolicy {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Off: it never opens.
    pub fn disabled(&self) -> bool {
        self.consecutive_failures == 0 && self.failure_rate_percent == 0
    }
}

/// One logical operation mapped to an HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    #[serde(default)]
    pub method: HttpMethod,
    /// Path from the base URL, starting with `/`. `{name}` placeholders are filled from the
    /// call's params (or `params` defaults) and removed from the query/body.
    #[serde(default)]
    pub path: String,
    /// Where the parameters go; `None` = the method's default ([`EndpointSpec::body_kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyKind>,
    /// Rate-limit weight of one call (the provider's own unit, e.g. Binance request weight).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Money cost of one call in USD (for metered data APIs), ≥ 0.
    #[serde(default)]
    pub cost: f64,
    /// How long a response may be served from the cache; 0 = never cached.
    #[serde(default)]
    pub cache_ttl_ms: u64,
    /// Needs credentials (signed or keyed).
    #[serde(default)]
    pub signed: bool,
    #[serde(default)]
    pub class: OperationClass,
    /// Parameters the caller must give (unless `params` has a default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// Default parameter values, overridden by the caller's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, toml::Value>,
    /// A weight that depends on a parameter (Binance order-book depth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_by: Option<WeightBy>,
    /// Concurrent single-market calls the exchange can answer in one multi-market call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSpec>,
    /// Billed units (calls or credits) of one billed answer; `None`: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<f64>,
    /// One more credit for every block of items the answer returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits_per_items: Option<super::billing::CreditsPerItems>,
}

/// How concurrent calls for single markets become one call for several (Binance's
/// `ticker/24hr?symbols=["BTCUSDT","ETHUSDT"]`, weight 2 for up to 20 where one costs 2 each):
/// calls that differ only in `from` and arrive within `window_ms` are sent together, `param`
/// listing their markets; each caller gets the item of the answer whose `key` names its
/// market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    pub from: String,
    pub param: String,
    #[serde(default)]
    pub format: BatchFormat,
    /// The most markets in one call.
    pub max: u32,
    /// The weight of one batched call.
    pub weight: u32,
    pub key: String,
    #[serde(default = "default_batch_window_ms")]
    pub window_ms: u64,
}

fn default_batch_window_ms() -> u64 {
    10
}

/// How the markets of a batch are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchFormat {
    /// `["BTCUSDT","ETHUSDT"]`
    #[default]
    JsonArray,
    /// `BTCUSDT,ETHUSDT`
    Comma,
}

/// `weight` by the value of one numeric parameter: the first step whose bound is at least the
/// value wins; above every bound the last step's weight applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightBy {
    pub param: String,
    /// `[[max_value, weight], …]` in ascending order of `max_value`.
    pub steps: Vec<(u64, u32)>,
}

impl EndpointSpec {
    /// The weight of a call with these (already merged) parameters.
    pub fn weight_for(&self, params: &BTreeMap<String, String>) -> u32 {
        let Some(by) = &self.weight_by else { return self.weight };
        let Some(value) = params.get(&by.param).and_then(|v| v.trim().parse::<u64>().ok()) else { return self.weight };
        by.steps.iter().find(|(max, _)| value <= *max).or_else(|| by.steps.last()).map_or(self.weight, |(_, w)| *w)
    }
}

fn default_weight() -> u32 {
    1
}

impl EndpointSpec {
    /// Where the parameters go: the explicit `body`, else query for GET/DELETE and JSON for
    /// POST/PUT/PATCH.
    pub fn body_kind(&self) -> BodyKind {
        self.body.unwrap_or(match self.method {
            HttpMethod::Get | HttpMethod::Delete => BodyKind::Query,
            HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch => BodyKind::Json,
        })
    }

    /// The `{name}` placeholders of the path, in order. Malformed braces are reported by
    /// validation; here they are skipped.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    out.push(&after[..close]);
                    rest = &after[close + 1..];
                }
                None => break,
            }
        }
        out
    }

    /// Whether the parameter has a default value or is listed as required.
    pub fn knows_param(&self, name: &str) -> bool {
        self.params.contains_key(name) || self.required.iter().any(|r| r == name)
    }
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
    Put,
    Delete,
    Patch,
}

impl HttpMethod {
    pub const ALL: &'static [HttpMethod] =
        &[HttpMethod::Get, HttpMethod::Post, HttpMethod::Put, HttpMethod::Delete, HttpMethod::Patch];

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Patch => "PATCH",
        }
    }

    /// Parses an upper-case method name.
    pub fn parse(s: &str) -> Option<HttpMethod> {
        HttpMethod::ALL.iter().copied().find(|m| m.as_str() == s)
    }
}

/// Where an endpoint's parameters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    /// In the query string.
    Query,
    /// As an `application/json` body.
    Json,
    /// As an `application/x-www-form-urlencoded` body.
    Form,
}

impl BodyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyKind::Query => "query",
            BodyKind::Json => "json",
            BodyKind::Form => "form",
        }
    }
}

/// What an operation may do; key scopes and gateway tokens are checked against it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationClass {
    /// Reads data; safe to retry and cache.
    #[default]
    Read,
    /// Places, changes or cancels orders; never retried blindly.
    Trade,
    /// Moves funds off the exchange.
    Withdraw,
}

impl OperationClass {
    pub const ALL: &'static [OperationClass] = &[OperationClass::Read, OperationClass::Trade, OperationClass::Withdraw];

    pub fn as_str(self) -> &'static str {
        match self {
            OperationClass::Read => "read",
            OperationClass::Trade => "trade",
            OperationClass::Withdraw => "withdraw",
        }
    }
}

/// Exchange or market-data service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Exchange,
    MarketData,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Exchange => "exchange",
            ProviderKind::MarketData => "market_data",
        }
    }
}

/// One rate limit the provider enforces.
/// An operation whose answer lists the exchange's current limits, and its format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedLimitsSource {
    /// The operation to call (`exchange_info`).
    pub operation: String,
    pub format: PublishedLimitsFormat,
}

/// How to read an exchange's list of markets: the answer of `operation` holds a list (or an
/// object of entries) at the dotted path `list`; each entry names the exchange's symbol in
/// `symbol` (`"$key"`: the object key) and its assets either in `base` and `quote` or together
/// in `pair` split at `separator` (Kraken's `wsname` "XBT/USD"). `aliases` renames the
/// exchange's asset codes to the common ones (Kraken's XBT → BTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketsSource {
    pub operation: String,
    #[serde(default)]
    pub list: String,
    pub symbol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
}

/// How to read published limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishedLimitsFormat {
    /// `{"rateLimits": [{"rateLimitType", "interval", "intervalNum", "limit"}]}`.
    Binance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitRule {
    /// Unique within the spec (`request_weight`, `orders_1d`).
    pub id: String,
    /// The exchange's name for this budget in its published limits (`REQUEST_WEIGHT`,
    /// `ORDERS`); see [`ProviderSpec::published_limits`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    pub kind: RateLimitKind,
    pub scope: RateLimitScope,
    /// Budget per window (or counter maximum, or monthly quota).
    pub limit: f64,
    /// Window length; required for `fixed_window`, `sliding_window` and `pool_window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// How fast a `decaying_counter` drains, per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_per_sec: Option<f64>,
    /// What a call adds: its endpoint weight (default) or 1 per request.
    #[serde(default, skip_serializing_if = "RateLimitCounts::is_weight")]
    pub counts: RateLimitCounts,
    /// Operations this rule applies to; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applies_to: Vec<String>,
    /// Response header reporting the server-side usage of this budget
    /// (`x-mbx-used-weight-1m`). Lower-case; HTTP header names are case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_header: Option<String>,
    /// Response header reporting what is left of this budget (`gw-ratelimit-remaining`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_header: Option<String>,
}

impl RateLimitRule {
    pub fn applies_to_operation(&self, operation: &str) -> bool {
        self.applies_to.is_empty() || self.applies_to.iter().any(|o| o == operation)
    }
}

/// How a rate limit counts time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitKind {
    /// Windows aligned to the clock (Binance: a minute window starts at :00).
    FixedWindow,
    /// A rolling window ending now.
    SlidingWindow,
    /// A counter that grows per call and drains continuously (Kraken; also a token bucket
    /// with `limit` = burst and `decay_per_sec` = rate).
    DecayingCounter,
    /// A fixed window that starts at the first request of the window (KuCoin pools).
    PoolWindow,
    /// A calendar-month quota (data APIs with monthly credits).
    MonthlyQuota,
}

impl RateLimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitKind::FixedWindow => "fixed_window",
            RateLimitKind::SlidingWindow => "sliding_window",
            RateLimitKind::DecayingCounter => "decaying_counter",
            RateLimitKind::PoolWindow => "pool_window",
            RateLimitKind::MonthlyQuota => "monthly_quota",
        }
    }

    /// Whether the kind needs `interval_ms`.
    pub fn needs_interval(self) -> bool {
        matches!(self, RateLimitKind::FixedWindow | RateLimitKind::SlidingWindow | RateLimitKind::PoolWindow)
    }
}

/// Whose budget a rate limit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitScope {
    /// Shared by everything calling from this machine's IP address.
    Ip,
    /// Shared by every key of the account (Binance UID, OKX user id, Coinbase profile).
    Account,
    /// Per API key.
    Key,
}

impl RateLimitScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitScope::Ip => "ip",
            RateLimitScope::Account => "account",
            RateLimitScope::Key => "key",
        }
    }
}

/// What one call adds to a rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitCounts {
    /// The endpoint's `weight`.
    #[default]
    Weight,
    /// 1 per request, whatever the weight (Binance RAW_REQUESTS and ORDERS).
    Requests,
}

impl RateLimitCounts {
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimitCounts::Weight => "weight",
            RateLimitCounts::Requests => "requests",
        }
    }

    fn is_weight(&self) -> bool {
        *self == RateLimitCounts::Weight
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(HttpMethod, BodyKind, OperationClass, ProviderKind, RateLimitKind, RateLimitScope, RateLimitCounts);

/// `AuthScheme` as its id string (`"binance_hmac"`); unknown ids fail with the
/// [`crate::signing::UnknownScheme`] message.
mod scheme_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::signing::AuthScheme;

    pub fn serialize<S: Serializer>(scheme: &AuthScheme, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(scheme.id())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AuthScheme, D::Error> {
        let id = String::deserialize(d)?;
        id.parse::<AuthScheme>().map_err(D::Error::custom)
    }
}

/// A date as `YYYY-MM-DD`: read from a TOML date or a string, written as a string (so JSON
/// consumers see a plain string too).
mod date_serde {
    use chrono::NaiveDate;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    const FORMAT: &str = "%Y-%m-%d";

    pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&date.format(FORMAT).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            other => return Err(D::Error::custom(format!("expected a date like 2022-11-11, found {other}"))),
        };
        NaiveDate::parse_from_str(&text, FORMAT)
            .map_err(|e| D::Error::custom(format!("\"{text}\" is not a date like 2022-11-11: {e}")))
    }
}
