//! Key operations that talk to the exchange: the permission check and verifying a new
//! version during rotation. Both go through the pipeline like every other call.

use chrono::Utc;

use super::{permissions, KeyError, KeyPermissions, Keys, Risk};
use crate::pipeline::{CallError, CallOptions, CallRequest, Pipeline};
use crate::provider::Registry;

/// The outcome of "Check permissions".
#[derive(Debug, Clone)]
pub struct PermissionReport {
    pub permissions: KeyPermissions,
    pub risks: Vec<Risk>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Provider(#[from] crate::provider::ProviderError),
    #[error("{provider} has no key-permission endpoint; check the key's permissions on the exchange's website")]
    NoEndpoint { provider: String },
    #[error("{provider}'s key-permission answer was not understood (family \"{family}\")")]
    NotUnderstood { provider: String, family: String },
}

impl CheckError {
    pub fn kind(&self) -> &'static str {
        match self {
            CheckError::Key(_) => "key",
            CheckError::Call(e) => e.kind(),
            CheckError::Provider(e) => e.kind(),
            CheckError::NoEndpoint { .. } => "notSupported",
            CheckError::NotUnderstood { .. } => "badResponse",
        }
    }
}

/// Asks the exchange what the key can do, stores the answer and returns the risks.
pub async fn check_permissions(
    registry: &Registry,
    keys: &Keys,
    pipeline: &Pipeline,
    provider: &str,
    label: &str,
) -> Result<PermissionReport, CheckError> {
    let (spec, record) = {
        let (registry, keys) = (registry.clone(), keys.clone());
        let (provider, label) = (provider.to_string(), label.to_string());
        tokio::task::spawn_blocking(move || -> Result<_, CheckError> {
            Ok((registry.get(&provider)?.spec, keys.get(&provider, &label)?))
        })
        .await
        .map_err(|e| CallError::Internal(e.to_string()))??
    };
    if !spec.endpoints.contains_key("key_permissions") {
        return Err(CheckError::NoEndpoint { provider: spec.name.clone() });
    }
    let out = pipeline
        .call(CallRequest {
            provider: provider.to_string(),
            operation: "key_permissions".into(),
            params: Default::default(),
            options: CallOptions {
                key: Some(label.to_string()),
                caller: "keys".into(),
                no_cache: true,
                ..Default::default()
            },
        })
        .await?;
    let family = spec.family.clone().unwrap_or_else(|| spec.id.clone());
    let perms = permissions::parse(&family, &out.raw)
        .ok_or_else(|| CheckError::NotUnderstood { provider: spec.name.clone(), family })?;
    let now = Utc::now();
    let risks = permissions::risks(&perms, record.scopes, now);
    let (keys, stored) = (keys.clone(), perms.clone());
    tokio::task::spawn_blocking(move || keys.store_permissions(record.id, &stored, now))
        .await
        .map_err(|e| CallError::Internal(e.to_string()))??;
    Ok(PermissionReport { permissions: perms, risks })
}

/// Verifies `version` of a key against the exchange with a signed read (key_permissions
/// where the provider has it, else balances), and records the verification.
pub async fn verify_version(
    registry: &Registry,
    keys: &Keys,
    pipeline: &Pipeline,
    provider: &str,
    label: &str,
    version: u32,
) -> Result<(), CheckError> {
    let spec = {
        let (registry, provider) = (registry.clone(), provider.to_string());
        tokio::task::spawn_blocking(move || registry.get(&provider))
            .await
            .map_err(|e| CallError::Internal(e.to_string()))??
            .spec
    };
    let operation = ["key_permissions", "balances"]
        .into_iter()
        .find(|op| spec.endpoints.get(*op).is_some_and(|e| e.signed))
        .ok_or_else(|| CheckError::NoEndpoint { provider: spec.name.clone() })?;
    pipeline
        .call(CallRequest {
            provider: provider.to_string(),
            operation: operation.into(),
            params: Default::default(),
            options: CallOptions {
                key: Some(label.to_string()),
                key_version: Some(version),
                caller: "keys".into(),
                no_cache: true,
                ..Default::default()
            },
        })
        .await?;
    let (keys, provider, label) = (keys.clone(), provider.to_string(), label.to_string());
    tokio::task::spawn_blocking(move || keys.mark_verified(&provider, &label, version, Utc::now()))
        .await
        .map_err(|e| CallError::Internal(e.to_string()))??;
    Ok(())
}
