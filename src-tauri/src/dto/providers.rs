//! Provider DTOs for the Providers page.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use keyward::pipeline::{CallError, CallOutcome};
use keyward::provider::{
    auth_scheme, http_method, operation_class, whole_number, AuthChange, BreakerChange, EndpointChange, FieldError,
    OperationClass, ProviderEntry, ProviderView, RetryChange, SettingsChange, SpecError,
};
use keyward::signing::AuthScheme;

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct EndpointDto {
    pub operation: String,
    pub method: String,
    pub path: String,
    /// "query", "json" or "form".
    pub body: String,
    pub weight: u32,
    pub cost: f64,
    #[ts(type = "number")]
    pub cache_ttl_ms: u64,
    pub signed: bool,
    /// "read", "trade" or "withdraw".
    pub class: String,
    pub required: Vec<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HeaderDto {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderSettingsDto {
    pub name: String,
    pub default_environment: String,
    #[ts(type = "number")]
    pub timeout_ms: u64,
    #[ts(type = "number")]
    pub max_response_bytes: u64,
    pub retry_max_attempts: u32,
    #[ts(type = "number")]
    pub retry_base_delay_ms: u64,
    #[ts(type = "number")]
    pub retry_max_delay_ms: u64,
    /// The circuit breaker (see `BreakerPolicy`): failures in a row that open it (0: off).
    pub breaker_consecutive_failures: u32,
    pub breaker_failure_rate_percent: u32,
    pub breaker_min_calls: u32,
    #[ts(type = "number")]
    pub breaker_open_ms: u64,
    #[ts(type = "number")]
    pub breaker_max_open_ms: u64,
    pub breaker_half_open_probes: u32,
    /// How long past its TTL a cached answer may be served, marked stale, when calls fail.
    #[ts(type = "number")]
    pub stale_if_error_ms: u64,
    /// Attempts for reads and for orders when they differ from `retryMaxAttempts`; `null`:
    /// the provider's.
    pub retry_read_max_attempts: Option<u32>,
    pub retry_trade_max_attempts: Option<u32>,
    pub auth_scheme: String,
    pub auth_header_name: Option<String>,
    pub auth_query_param: Option<String>,
    #[ts(type = "number | null")]
    pub auth_recv_window_ms: Option<u64>,
    pub auth_key_version: Option<u8>,
    pub auth_passphrase_required: bool,
    pub headers: Vec<HeaderDto>,
    pub endpoints: Vec<EndpointDto>,
    pub health_check: String,
    pub status_operation: Option<String>,
    /// The status page summary URL (`status_feed`) Keyward polls for incidents and maintenance.
    pub status_feed: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderDetailDto {
    pub summary: ProviderView,
    pub settings: ProviderSettingsDto,
    /// The full spec as TOML (export / advanced editing).
    pub toml: String,
    /// Every auth scheme id, for the scheme picker.
    pub auth_schemes: Vec<String>,
}

/// What the Providers form changes, field by field with the types of [`ProviderSettingsDto`]:
/// an omitted field stays as it is. The optional auth fields take `null` to clear them.
/// Numbers are JSON numbers; [`SettingsChangeDto::to_change`] turns them into the whole
/// numbers the spec holds, refusing `-5` or `1.5` with the field's name.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct SettingsChangeDto {
    #[ts(optional)]
    pub name: Option<String>,
    #[ts(optional)]
    pub timeout_ms: Option<f64>,
    #[ts(optional)]
    pub max_response_bytes: Option<f64>,
    /// The status page summary URL; `null` removes it.
    #[serde(default, with = "clearable")]
    #[ts(optional, as = "Option<Option<String>>")]
    pub status_feed: Option<Option<String>>,
    #[ts(optional)]
    pub retry_max_attempts: Option<f64>,
    #[ts(optional)]
    pub retry_base_delay_ms: Option<f64>,
    #[ts(optional)]
    pub retry_max_delay_ms: Option<f64>,
    #[ts(optional)]
    pub breaker_consecutive_failures: Option<f64>,
    #[ts(optional)]
    pub breaker_failure_rate_percent: Option<f64>,
    #[ts(optional)]
    pub breaker_min_calls: Option<f64>,
    #[ts(optional)]
    pub breaker_open_ms: Option<f64>,
    #[ts(optional)]
    pub breaker_max_open_ms: Option<f64>,
    #[ts(optional)]
    pub breaker_half_open_probes: Option<f64>,
    #[ts(optional)]
    pub stale_if_error_ms: Option<f64>,
    /// `null` clears the class's own attempts.
    #[serde(default, with = "clearable")]
    #[ts(optional, as = "Option<Option<f64>>")]
    pub retry_read_max_attempts: Option<Option<f64>>,
    #[serde(default, with = "clearable")]
    #[ts(optional, as = "Option<Option<f64>>")]
    pub retry_trade_max_attempts: Option<Option<f64>>,
    /// An id of `authSchemes`.
    #[ts(optional)]
    pub auth_scheme: Option<String>,
    #[serde(default, with = "clearable")]
    #[ts(optional, as = "Option<Option<String>>")]
    pub auth_header_name: Option<Option<String>>,
    #[serde(default, with = "clearable")]
    #[ts(optional, as = "Option<Option<String>>")]
    pub auth_query_param: Option<Option<String>>,
    #[serde(default, with = "clearable")]
    #[ts(optional, as = "Option<Option<f64>>")]
    pub auth_recv_window_ms: Option<Option<f64>>,
    #[serde(default, with = "clearable")]
    #[ts(optional, as = "Option<Option<f64>>")]
    pub auth_key_version: Option<Option<f64>>,
    /// Environment name → its new base URL.
    #[serde(default)]
    pub base_urls: BTreeMap<String, String>,
    /// Operation → its changed columns.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointChangeDto>,
}

/// The changed columns of one endpoint row; omitted = unchanged.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[ts(export)]
pub struct EndpointChangeDto {
    /// GET, POST, PUT, DELETE or PATCH.
    #[ts(optional)]
    pub method: Option<String>,
    #[ts(optional)]
    pub path: Option<String>,
    #[ts(optional)]
    pub weight: Option<f64>,
    #[ts(optional)]
    pub cost: Option<f64>,
    #[ts(optional)]
    pub cache_ttl_ms: Option<f64>,
    /// read, trade or withdraw.
    #[ts(optional)]
    pub class: Option<String>,
}

/// Absent → `None` (unchanged, with `serde(default)`), `null` → `Some(None)` (clear),
/// a value → `Some(Some(v))`.
mod clearable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

impl SettingsChangeDto {
    /// The core's typed change. Every number or name that does not fit its field is listed
    /// in one error, named as the spec names the field (`endpoints.ticker.weight -1 …`).
    pub fn to_change(&self, provider: &str) -> Result<SettingsChange, SpecError> {
        let mut errors = Refused::default();
        let change = SettingsChange {
            name: self.name.clone(),
            timeout_ms: self.timeout_ms.and_then(|v| errors.ok(whole_number("timeout_ms", v))),
            max_response_bytes: self.max_response_bytes.and_then(|v| errors.ok(whole_number("max_response_bytes", v))),
            status_feed: self.status_feed.clone().map(|v| v.filter(|u| !u.trim().is_empty())),
            retry: RetryChange {
                max_attempts: self.retry_max_attempts.and_then(|v| errors.ok(whole_number("retry.max_attempts", v))),
                base_delay_ms: self.retry_base_delay_ms.and_then(|v| errors.ok(whole_number("retry.base_delay_ms", v))),
                max_delay_ms: self.retry_max_delay_ms.and_then(|v| errors.ok(whole_number("retry.max_delay_ms", v))),
            },
            breaker: BreakerChange {
                consecutive_failures: self
                    .breaker_consecutive_failures
                    .and_then(|v| errors.ok(whole_number("breaker.consecutive_failures", v))),
                failure_rate_percent: self
                    .breaker_failure_rate_percent
                    .and_then(|v| errors.ok(whole_number("breaker.failure_rate_percent", v))),
                min_calls: self.breaker_min_calls.and_then(|v| errors.ok(whole_number("breaker.min_calls", v))),
                open_ms: self.breaker_open_ms.and_then(|v| errors.ok(whole_number("breaker.open_ms", v))),
                max_open_ms: self.breaker_max_open_ms.and_then(|v| errors.ok(whole_number("breaker.max_open_ms", v))),
                half_open_probes: self
                    .breaker_half_open_probes
                    .and_then(|v| errors.ok(whole_number("breaker.half_open_probes", v))),
            },
            stale_if_error_ms: self.stale_if_error_ms.and_then(|v| errors.ok(whole_number("stale_if_error_ms", v))),
            class_attempts: [
                (OperationClass::Read, &self.retry_read_max_attempts, "retry_by_class.read.max_attempts"),
                (OperationClass::Trade, &self.retry_trade_max_attempts, "retry_by_class.trade.max_attempts"),
            ]
            .into_iter()
            .filter_map(|(class, change, field)| {
                change.map(|v| (class, Some(v.map(|v| errors.ok(whole_number(field, v)).unwrap_or(0)))))
            })
            .collect(),
            auth: AuthChange {
                scheme: self.auth_scheme.as_deref().and_then(|s| errors.ok(auth_scheme("auth.scheme", s))),
                header_name: self.auth_header_name.clone(),
                query_param: self.auth_query_param.clone(),
                recv_window_ms: self
                    .auth_recv_window_ms
                    .map(|v| v.and_then(|v| errors.ok(whole_number("auth.recv_window_ms", v)))),
                key_version: self
                    .auth_key_version
                    .map(|v| v.and_then(|v| errors.ok(whole_number("auth.key_version", v)))),
            },
            environments: self.base_urls.clone(),
            endpoints: self
                .endpoints
                .iter()
                .map(|(op, e)| {
                    let at = |column: &str| format!("endpoints.{op}.{column}");
                    let change = EndpointChange {
                        method: e.method.as_deref().and_then(|m| errors.ok(http_method(&at("method"), m))),
                        path: e.path.clone(),
                        weight: e.weight.and_then(|v| errors.ok(whole_number(&at("weight"), v))),
                        cost: e.cost,
                        cache_ttl_ms: e.cache_ttl_ms.and_then(|v| errors.ok(whole_number(&at("cache_ttl_ms"), v))),
                        class: e.class.as_deref().and_then(|c| errors.ok(operation_class(&at("class"), c))),
                    };
                    (op.clone(), change)
                })
                .collect(),
        };
        if errors.0.is_empty() {
            Ok(change)
        } else {
            Err(SpecError::Validation { provider: provider.to_string(), errors: errors.0 })
        }
    }
}

/// The field errors found while reading a change.
#[derive(Default)]
struct Refused(Vec<FieldError>);

impl Refused {
    fn ok<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CheckDto {
    pub operation: String,
    pub ok: bool,
    pub status: Option<u16>,
    #[ts(type = "number")]
    pub latency_ms: u64,
    /// One line: the normalised result, or the error message.
    pub summary: String,
    pub error_kind: Option<String>,
}

pub fn detail(e: &ProviderEntry, toml: String) -> ProviderDetailDto {
    let s = &e.spec;
    ProviderDetailDto {
        summary: ProviderView::from(e),
        settings: ProviderSettingsDto {
            name: s.name.clone(),
            default_environment: s.default_environment.clone(),
            timeout_ms: s.timeout_ms,
            max_response_bytes: s.max_response_bytes,
            retry_max_attempts: s.retry.max_attempts,
            retry_base_delay_ms: s.retry.base_delay_ms,
            retry_max_delay_ms: s.retry.max_delay_ms,
            breaker_consecutive_failures: s.breaker.consecutive_failures,
            breaker_failure_rate_percent: s.breaker.failure_rate_percent,
            breaker_min_calls: s.breaker.min_calls,
            breaker_open_ms: s.breaker.open_ms,
            breaker_max_open_ms: s.breaker.max_open_ms,
            breaker_half_open_probes: s.breaker.half_open_probes,
            stale_if_error_ms: s.stale_if_error_ms,
            retry_read_max_attempts: s.retry_by_class.get(&OperationClass::Read).map(|r| r.max_attempts),
            retry_trade_max_attempts: s.retry_by_class.get(&OperationClass::Trade).map(|r| r.max_attempts),
            auth_scheme: s.auth.scheme.id().to_string(),
            auth_header_name: s.auth.header_name.clone(),
            auth_query_param: s.auth.query_param.clone(),
            auth_recv_window_ms: s.auth.recv_window_ms,
            auth_key_version: s.auth.key_version,
            auth_passphrase_required: s.auth.passphrase_required,
            headers: s.headers.iter().map(|(n, v)| HeaderDto { name: n.clone(), value: v.clone() }).collect(),
            endpoints: s
                .endpoints
                .iter()
                .map(|(op, ep)| EndpointDto {
                    operation: op.clone(),
                    method: ep.method.as_str().to_string(),
                    path: ep.path.clone(),
                    body: ep.body_kind().as_str().to_string(),
                    weight: ep.weight,
                    cost: ep.cost,
                    cache_ttl_ms: ep.cache_ttl_ms,
                    signed: ep.signed,
                    class: ep.class.as_str().to_string(),
                    required: ep.required.clone(),
                })
                .collect(),
            health_check: s.health_check.clone(),
            status_operation: s.status_operation.clone(),
            status_feed: s.status_feed.clone(),
        },
        toml,
        auth_schemes: AuthScheme::ALL.iter().map(|a| a.id().to_string()).collect(),
    }
}

pub fn check(operation: &str, result: Result<CallOutcome, CallError>, latency_ms: u64) -> CheckDto {
    match result {
        Ok(out) => CheckDto {
            operation: operation.to_string(),
            ok: true,
            status: Some(out.status),
            latency_ms: out.latency.as_millis() as u64,
            summary: out.data.to_text().unwrap_or_else(|| "answered".into()),
            error_kind: None,
        },
        Err(e) => CheckDto {
            operation: operation.to_string(),
            ok: false,
            status: match &e {
                CallError::Http { status, .. } => Some(*status),
                _ => None,
            },
            latency_ms,
            summary: e.to_string(),
            error_kind: Some(e.kind().to_string()),
        },
    }
}
