//! Tauri commands: arguments in, one core call, DTO out.

use tauri::State;

use crate::dto::{AppInfoDto, CommandError};
use crate::AppState;

/// Facts for the dashboard: version, data dir, schema version, secret backend.
#[tauri::command]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfoDto, CommandError> {
    let core = state.core()?;
    // Probing the credential store is a blocking D-Bus round trip.
    let info = tokio::task::spawn_blocking(move || core.info())
        .await
        .map_err(|e| CommandError::internal(format!("the info task failed: {e}")))?;
    Ok(info.into())
}
