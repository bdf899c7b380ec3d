//! The one serialisable view of a key and its versions, shared by the Keys page, `keyward key
//! list|show|add|rotate --json`. Never holds a secret: the public key id is masked.

use super::{KeyRecord, KeyVersion, Risk};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RiskView {
    pub id: String,
    pub message: String,
}

impl From<&Risk> for RiskView {
    fn from(r: &Risk) -> Self {
        Self { id: r.id().to_string(), message: r.message() }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeyView {
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
    pub risks: Vec<RiskView>,
}

impl From<&KeyRecord> for KeyView {
    fn from(k: &KeyRecord) -> Self {
        let now = chrono::Utc::now();
        KeyView {
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
            risks: k.risks(now).iter().map(RiskView::from).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeyVersionView {
    pub version: u32,
    pub api_key_masked: String,
    pub active: bool,
    pub created_at: String,
    pub verified_at: Option<String>,
    pub retired_at: Option<String>,
}

impl From<&KeyVersion> for KeyVersionView {
    fn from(v: &KeyVersion) -> Self {
        KeyVersionView {
            version: v.version,
            api_key_masked: v.masked_api_key(),
            active: v.active,
            created_at: v.created_at.to_rfc3339(),
            verified_at: v.verified_at.map(|t| t.to_rfc3339()),
            retired_at: v.retired_at.map(|t| t.to_rfc3339()),
        }
    }
}
