//! Tauri commands, one module per page: arguments in, one core call, DTO out. No business
//! logic lives here; the workflows are `Keyward` methods shared with the CLI and control API.

pub mod alerts;
pub mod audit;
pub mod gateway;
pub mod groups;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod monitor;
pub mod overview;
pub mod providers;
pub mod shared;
pub mod usage;
pub mod usage_export;
pub mod vault;

use keyward::Keyward;
use tauri::State;

use crate::dto::{AppInfoDto, CommandError};
use crate::AppState;

/// Runs blocking core work (SQLite, the credential store) off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(Keyward) -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    let core = state.core()?;
    tokio::task::spawn_blocking(move || f(core))
        .await
        .map_err(|e| CommandError::internal(format!("a background task failed: {e}")))?
}

/// Facts for the dashboard: version, data dir, schema version, secret backend.
#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfoDto, CommandError> {
    let problem = state.services_problem();
    blocking(&state, move |kw| Ok(AppInfoDto { services_problem: problem, ..kw.info().into() })).await
}
