//! What crosses the IPC boundary. TypeScript types for these are generated into
//! `ui/src/ipc/bindings/` by ts-rs when the tests run (`cargo test -p keyward-desktop`).

pub mod alerts;
pub mod audit;
pub mod gateway;
pub mod keys;
pub mod limits;
pub mod monitor;
pub mod providers;
pub mod usage;

use serde::Serialize;
use ts_rs::TS;

/// An error as the UI receives it: a stable kind to react to and a message to show.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CommandError {
    pub kind: String,
    pub message: String,
}

impl From<keyward::Error> for CommandError {
    fn from(e: keyward::Error) -> Self {
        Self { kind: e.kind().as_str().to_string(), message: e.to_string() }
    }
}

impl CommandError {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self { kind: kind.to_string(), message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("internal", message)
    }
}

impl From<keyward::key_ops::CheckError> for CommandError {
    fn from(e: keyward::key_ops::CheckError) -> Self {
        match e {
            keyward::key_ops::CheckError::Key(k) => k.into(),
            other => Self::new(other.kind(), other.to_string()),
        }
    }
}

impl From<keyward::keys::KeyError> for CommandError {
    fn from(e: keyward::keys::KeyError) -> Self {
        let kind = match &e {
            keyward::keys::KeyError::NotFound { .. } | keyward::keys::KeyError::NoKeyForProvider { .. } => "notFound",
            keyward::keys::KeyError::Duplicate { .. } => "duplicate",
            keyward::keys::KeyError::Invalid { .. } | keyward::keys::KeyError::BackupPassphrase { .. } => "invalid",
            keyward::keys::KeyError::WrongBackupPassphrase { .. } => "wrongPassphrase",
            keyward::keys::KeyError::Expired { .. } => "keyExpired",
            keyward::keys::KeyError::Vault(_) => "vault",
            _ => "key",
        };
        Self::new(kind, e.to_string())
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SecretBackendDto {
    /// "os-keyring" or "memory".
    pub kind: String,
    pub name: String,
    pub available: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AppInfoDto {
    pub version: String,
    pub data_dir: String,
    pub database_path: String,
    pub schema_version: u32,
    pub latest_schema_version: u32,
    pub secret_backend: SecretBackendDto,
    /// Why monitoring, alerts and the control API are not running in this window's process.
    pub services_problem: Option<String>,
}

impl From<keyward::Info> for AppInfoDto {
    fn from(i: keyward::Info) -> Self {
        Self {
            version: i.version,
            data_dir: i.data_dir.display().to_string(),
            database_path: i.database_path.display().to_string(),
            schema_version: i.schema_version,
            latest_schema_version: i.latest_schema_version,
            secret_backend: SecretBackendDto {
                kind: i.secret_backend.kind.as_str().to_string(),
                name: i.secret_backend.name,
                available: i.secret_backend.available,
                detail: i.secret_backend.detail,
            },
            services_problem: None,
        }
    }
}

impl From<keyward::provider::ProviderError> for CommandError {
    fn from(e: keyward::provider::ProviderError) -> Self {
        Self { kind: e.kind().to_string(), message: e.to_string() }
    }
}

impl From<keyward::provider::SpecError> for CommandError {
    fn from(e: keyward::provider::SpecError) -> Self {
        Self { kind: "invalidSpec".to_string(), message: e.to_string() }
    }
}

impl From<keyward::pipeline::CallError> for CommandError {
    fn from(e: keyward::pipeline::CallError) -> Self {
        Self { kind: e.kind().to_string(), message: e.to_string() }
    }
}
