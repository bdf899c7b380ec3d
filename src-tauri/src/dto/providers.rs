//! Provider DTOs for the Providers page.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use keyward::pipeline::{CallError, CallOutcome};
use keyward::provider::{Origin, ProviderEntry};
use keyward::signing::AuthScheme;

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct EnvironmentDto {
    pub name: String,
    pub base_url: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderSummaryDto {
    pub id: String,
    pub name: String,
    /// "exchange" or "market_data".
    pub kind: String,
    /// "preset", "modified" or "custom".
    pub origin: String,
    pub enabled: bool,
    pub environment: String,
    pub environments: Vec<EnvironmentDto>,
    pub auth_scheme: String,
    pub operations: Vec<String>,
    /// Why the provider cannot be used, when it is discontinued.
    pub discontinued: Option<String>,
    pub docs_url: Option<String>,
}

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
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderDetailDto {
    pub summary: ProviderSummaryDto,
    pub settings: ProviderSettingsDto,
    /// The full spec as TOML (export / advanced editing).
    pub toml: String,
    /// Every auth scheme id, for the scheme picker.
    pub auth_schemes: Vec<String>,
}

/// One `FIELD=VALUE` change, as `keyward provider set` takes it.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AssignmentDto {
    pub field: String,
    pub value: String,
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

pub fn summary(e: &ProviderEntry) -> ProviderSummaryDto {
    let s = &e.spec;
    ProviderSummaryDto {
        id: s.id.clone(),
        name: s.name.clone(),
        kind: s.kind.as_str().to_string(),
        origin: match e.origin {
            Origin::Preset => "preset",
            Origin::Modified => "modified",
            Origin::Custom => "custom",
        }
        .to_string(),
        enabled: e.enabled,
        environment: e.environment.clone(),
        environments: s
            .environments
            .iter()
            .map(|(name, env)| EnvironmentDto { name: name.clone(), base_url: env.base_url.clone() })
            .collect(),
        auth_scheme: s.auth.scheme.id().to_string(),
        operations: s.endpoints.keys().cloned().collect(),
        discontinued: s.discontinued.as_ref().map(|d| format!("Discontinued since {}: {}", d.since, d.reason)),
        docs_url: s.docs_url.clone(),
    }
}

pub fn detail(e: &ProviderEntry, toml: String) -> ProviderDetailDto {
    let s = &e.spec;
    ProviderDetailDto {
        summary: summary(e),
        settings: ProviderSettingsDto {
            name: s.name.clone(),
            default_environment: s.default_environment.clone(),
            timeout_ms: s.timeout_ms,
            max_response_bytes: s.max_response_bytes,
            retry_max_attempts: s.retry.max_attempts,
            retry_base_delay_ms: s.retry.base_delay_ms,
            retry_max_delay_ms: s.retry.max_delay_ms,
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
