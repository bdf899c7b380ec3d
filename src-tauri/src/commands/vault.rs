//! The Settings page's secret-backend card: which backend protects the keys, and unlocking,
//! locking or creating the encrypted vault file when it is the backend.

use std::time::Duration;

use keyward::vault::{SecretString, VaultError, VaultStatus};
use tauri::State;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::AppState;

fn vault_error(e: VaultError) -> CommandError {
    CommandError::new(e.kind(), e.to_string())
}

#[tauri::command]
pub async fn vault_status(state: State<'_, AppState>) -> Result<VaultStatus, CommandError> {
    blocking(&state, |kw| Ok(kw.vault_status())).await
}

/// Unlocks the vault file for `minutes` (1 to 1440). Audited, success or failure.
#[tauri::command]
pub async fn vault_unlock(
    state: State<'_, AppState>,
    passphrase: String,
    minutes: u64,
) -> Result<VaultStatus, CommandError> {
    blocking(&state, move |kw| {
        kw.unlock_vault(kw.actor(), &SecretString::from(passphrase), Duration::from_secs(minutes.saturating_mul(60)))
            .map_err(vault_error)?;
        Ok(kw.vault_status())
    })
    .await
}

#[tauri::command]
pub async fn vault_lock(state: State<'_, AppState>) -> Result<VaultStatus, CommandError> {
    blocking(&state, |kw| {
        kw.lock_vault(kw.actor()).map_err(vault_error)?;
        Ok(kw.vault_status())
    })
    .await
}

/// Creates the vault file with a new passphrase (it stays locked).
#[tauri::command]
pub async fn vault_init(state: State<'_, AppState>, passphrase: String) -> Result<VaultStatus, CommandError> {
    blocking(&state, move |kw| {
        kw.init_vault(&SecretString::from(passphrase)).map_err(vault_error)?;
        Ok(kw.vault_status())
    })
    .await
}
