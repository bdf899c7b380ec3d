//! The one serialisable view of the secret backend and the vault file, shared by the Settings
//! page, `keyward vault status --json` and the control API (`GET /v1/vault`).

use chrono::{DateTime, Utc};

use super::EncryptedFileStore;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VaultStatus {
    /// "os-keyring", "encrypted-file" or "memory" (`BackendKind`).
    pub backend: String,
    /// Human name, e.g. "Secret Service (GNOME Keyring, KWallet)".
    pub name: String,
    /// Whether the store answered a probe just now.
    pub available: bool,
    /// One sentence a user can act on.
    pub detail: String,
    /// Why this backend was chosen.
    pub reason: String,
    pub data_dir: String,
    pub log_dir: String,
    /// Set when the encrypted vault file is the backend.
    pub file: Option<VaultFileStatus>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VaultFileStatus {
    pub path: String,
    pub exists: bool,
    pub unlocked: bool,
    /// RFC 3339.
    #[ts(type = "string | null")]
    pub unlocked_until: Option<DateTime<Utc>>,
}

impl From<&EncryptedFileStore> for VaultFileStatus {
    fn from(f: &EncryptedFileStore) -> Self {
        Self {
            path: f.path().display().to_string(),
            exists: f.exists(),
            unlocked: f.is_unlocked(),
            unlocked_until: f.unlocked_until(),
        }
    }
}
