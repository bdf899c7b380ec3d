//! Key DTOs for the Keys page (the key itself is the core's `KeyView`, the same the CLI prints). A secret crosses IPC only in `NewKeyDto`/`RotateDto` (the user
//! typed it) and in the explicit reveal reply.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use keyward::key_ops::PermissionReportView;
pub use keyward::keys::{KeyVersionView, KeyView};

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NewKeyDto {
    pub provider: String,
    pub label: String,
    pub environment: Option<String>,
    pub api_key: String,
    pub secret: String,
    pub passphrase: Option<String>,
    pub scopes: Vec<String>,
    /// YYYY-MM-DD or RFC 3339.
    pub expires_at: Option<String>,
    pub notes: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RotateDto {
    pub provider: String,
    pub label: String,
    pub api_key: Option<String>,
    pub secret: String,
    pub passphrase: Option<String>,
    /// Ask the exchange before switching (recommended).
    pub verify: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RotationDto {
    pub key: KeyView,
    pub previous_version: u32,
    pub verified: bool,
}

/// What "Export backup" wrote.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupExportDto {
    pub path: String,
    /// Keys written to the backup.
    pub exported: u32,
}

/// What "Import backup" did: keys added, and keys left alone because they already exist.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupImportDto {
    pub path: String,
    /// "provider/label" of every key added.
    pub imported: Vec<String>,
    /// "provider/label" of every key that already existed (left as it was).
    pub skipped: Vec<String>,
}

pub fn backup_import(path: &std::path::Path, r: &keyward::keys::ImportReport) -> BackupImportDto {
    BackupImportDto {
        path: path.display().to_string(),
        imported: r.imported.iter().map(|k| format!("{}/{}", k.provider, k.label)).collect(),
        skipped: r.skipped.clone(),
    }
}
