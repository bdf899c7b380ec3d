//! Key DTOs for the Keys page. A secret crosses IPC only in `NewKeyDto`/`RotateDto` (the user
//! typed it) and in the explicit reveal reply.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use keyward::key_ops::PermissionReport;
use keyward::keys::{KeyRecord, KeyVersion, Risk};

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RiskDto {
    pub id: String,
    pub message: String,
}

impl From<&Risk> for RiskDto {
    fn from(r: &Risk) -> Self {
        Self { id: r.id().to_string(), message: r.message() }
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeyDto {
    pub provider: String,
    pub label: String,
    pub environment: String,
    /// Last 4 characters only.
    pub api_key_masked: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub rotate_by: Option<String>,
    #[ts(type = "number")]
    pub rotation_days: i64,
    pub rotation_due: bool,
    pub expired: bool,
    #[ts(type = "number")]
    pub age_days: i64,
    pub active_version: u32,
    pub has_passphrase: bool,
    pub permissions_checked_at: Option<String>,
    pub risks: Vec<RiskDto>,
}

pub fn key(k: &KeyRecord) -> KeyDto {
    let now = chrono::Utc::now();
    KeyDto {
        provider: k.provider.clone(),
        label: k.label.clone(),
        environment: k.environment.clone(),
        api_key_masked: k.masked_api_key(),
        scopes: k.scopes.iter().map(|s| s.as_str().to_string()).collect(),
        created_at: k.created_at.to_rfc3339(),
        last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
        expires_at: k.expires_at.map(|t| t.to_rfc3339()),
        rotate_by: k.rotate_by.map(|t| t.to_rfc3339()),
        rotation_days: k.rotation_days,
        rotation_due: k.rotation_due(now),
        expired: k.is_expired(now),
        age_days: (now - k.created_at).num_days(),
        active_version: k.active_version,
        has_passphrase: k.has_passphrase,
        permissions_checked_at: k.permissions_checked_at.map(|t| t.to_rfc3339()),
        risks: k.risks(now).iter().map(RiskDto::from).collect(),
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeyVersionDto {
    pub version: u32,
    pub api_key_masked: String,
    pub active: bool,
    pub created_at: String,
    pub verified_at: Option<String>,
    pub retired_at: Option<String>,
}

pub fn version(v: &KeyVersion) -> KeyVersionDto {
    KeyVersionDto {
        version: v.version,
        api_key_masked: v.masked_api_key(),
        active: v.active,
        created_at: v.created_at.to_rfc3339(),
        verified_at: v.verified_at.map(|t| t.to_rfc3339()),
        retired_at: v.retired_at.map(|t| t.to_rfc3339()),
    }
}

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
    pub key: KeyDto,
    pub previous_version: u32,
    pub verified: bool,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PermissionReportDto {
    pub read: Option<bool>,
    pub trade: Option<bool>,
    pub withdraw: Option<bool>,
    pub ip_restricted: Option<bool>,
    pub risks: Vec<RiskDto>,
}

impl From<&PermissionReport> for PermissionReportDto {
    fn from(r: &PermissionReport) -> Self {
        let p = &r.permissions;
        Self {
            read: p.read,
            trade: p.trade,
            withdraw: p.withdraw,
            ip_restricted: p.ip_restricted,
            risks: r.risks.iter().map(RiskDto::from).collect(),
        }
    }
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
