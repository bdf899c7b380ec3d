//! The Settings page's secret-backend card: which backend protects the keys, and unlocking,
//! locking or creating the encrypted vault file when it is the backend.

use keyward::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use keyward::vault::{EncryptedFileStore, KdfParams, SecretString, VaultError};
use keyward::Keyward;
use serde::Serialize;
use tauri::State;
use ts_rs::TS;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::AppState;

/// The longest unlock the UI offers.

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VaultStatusDto {
    /// "os-keyring", "encrypted-file" or "memory".
    pub backend: String,
    pub name: String,
    pub available: bool,
    pub detail: String,
    pub reason: String,
    pub data_dir: String,
    pub log_dir: String,
    /// Set when the encrypted vault file is the backend.
    pub file: Option<VaultFileDto>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VaultFileDto {
    pub path: String,
    pub exists: bool,
    pub unlocked: bool,
    pub unlocked_until: Option<String>,
}

fn vault_error(e: VaultError) -> CommandError {
    CommandError::new(e.kind(), e.to_string())
}

fn file(kw: &Keyward) -> Result<Arc<EncryptedFileStore>, CommandError> {
    kw.vault_file().cloned().ok_or_else(|| {
        CommandError::new(
            ErrorKind::NotAllowed,
            "keys are kept in the OS credential store; there is no vault file to unlock",
        )
    })
}

fn status(kw: &Keyward) -> VaultStatusDto {
    let info = kw.info();
    let b = info.secret_backend;
    VaultStatusDto {
        backend: b.kind.as_str().into(),
        name: b.name,
        available: b.available,
        detail: b.detail,
        reason: info.secret_backend_reason,
        data_dir: info.data_dir.display().to_string(),
        log_dir: keyward::logging::log_dir(&info.data_dir).display().to_string(),
        file: kw.vault_file().map(|f| VaultFileDto {
            path: f.path().display().to_string(),
            exists: f.exists(),
            unlocked: f.is_unlocked(),
            unlocked_until: f.unlocked_until().map(|t| t.to_rfc3339()),
        }),
    }
}

#[tauri::command]
pub async fn vault_status(state: State<'_, AppState>) -> Result<VaultStatusDto, CommandError> {
    blocking(&state, |kw| Ok(status(&kw))).await
}

/// Unlocks the vault file for `minutes` (1 to 1440). Audited, success or failure.
#[tauri::command]
pub async fn vault_unlock(
    state: State<'_, AppState>,
    passphrase: String,
    minutes: u64,
) -> Result<VaultStatusDto, CommandError> {
    blocking(&state, move |kw| {
        kw.unlock_vault(kw.actor(), &SecretString::from(passphrase), Duration::from_secs(minutes.saturating_mul(60)))
            .map_err(vault_error)?;
        Ok(status(&kw))
    })
    .await
}

#[tauri::command]
pub async fn vault_lock(state: State<'_, AppState>) -> Result<VaultStatusDto, CommandError> {
    blocking(&state, |kw| {
        kw.lock_vault(kw.actor()).map_err(vault_error)?;
        Ok(status(&kw))
    })
    .await
}

/// Creates the vault file with a new passphrase (it stays locked).
#[tauri::command]
pub async fn vault_init(state: State<'_, AppState>, passphrase: String) -> Result<VaultStatusDto, CommandError> {
    blocking(&state, move |kw| {
        let file = file(&kw)?;
        EncryptedFileStore::create(
            file.path(),
            &SecretString::from(passphrase),
            KdfParams::default(),
            Arc::new(keyward::clock::SystemClock),
        )
        .map_err(vault_error)?;
        Ok(status(&kw))
    })
    .await
}
