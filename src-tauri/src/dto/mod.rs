//! What crosses the IPC boundary. TypeScript types for these are generated into
//! `ui/src/ipc/bindings/` by ts-rs when the tests run (`cargo test -p keyward-desktop`).

pub mod alerts;
pub mod audit;
pub mod gateway;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod monitor;
pub mod providers;
pub mod usage;

use keyward::info::InfoView;
use keyward::ErrorKind;
use serde::Serialize;
use ts_rs::TS;

/// An error as the UI receives it: a stable kind to react to and a message to show.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<keyward::Error> for CommandError {
    fn from(e: keyward::Error) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

impl From<keyward::key_ops::CheckError> for CommandError {
    fn from(e: keyward::key_ops::CheckError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl From<keyward::hooks::HookError> for CommandError {
    fn from(e: keyward::hooks::HookError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl From<keyward::keys::KeyError> for CommandError {
    fn from(e: keyward::keys::KeyError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

/// The dashboard's facts: the core's [`InfoView`] (what `keyward info --json` prints) and why
/// this window runs no services.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AppInfoDto {
    #[serde(flatten)]
    pub info: InfoView,
    /// Why monitoring, alerts and the control API are not running in this window's process.
    pub services_problem: Option<String>,
}

impl From<keyward::Info> for AppInfoDto {
    fn from(i: keyward::Info) -> Self {
        Self { info: InfoView::from(&i), services_problem: None }
    }
}

impl From<keyward::provider::ProviderError> for CommandError {
    fn from(e: keyward::provider::ProviderError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl From<keyward::provider::SpecError> for CommandError {
    fn from(e: keyward::provider::SpecError) -> Self {
        Self::new(ErrorKind::InvalidSpec, e.to_string())
    }
}

impl From<keyward::pipeline::CallError> for CommandError {
    fn from(e: keyward::pipeline::CallError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}
