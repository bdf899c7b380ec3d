//! The one serialisable view of [`Info`](crate::Info): the dashboard's facts and `keyward
//! info --json`.

use crate::vault::BackendInfo;
use crate::Info;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SecretBackendView {
    /// "os-keyring", "encrypted-file" or "memory".
    pub kind: String,
    pub name: String,
    pub available: bool,
    pub detail: String,
}

impl From<&BackendInfo> for SecretBackendView {
    fn from(b: &BackendInfo) -> Self {
        Self {
            kind: b.kind.as_str().to_string(),
            name: b.name.clone(),
            available: b.available,
            detail: b.detail.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct InfoView {
    pub version: String,
    pub data_dir: String,
    pub database_path: String,
    pub schema_version: u32,
    pub latest_schema_version: u32,
    pub secret_backend: SecretBackendView,
    /// Why this backend was chosen.
    pub secret_backend_reason: String,
}

impl From<&Info> for InfoView {
    fn from(i: &Info) -> Self {
        Self {
            version: i.version.clone(),
            data_dir: i.data_dir.display().to_string(),
            database_path: i.database_path.display().to_string(),
            schema_version: i.schema_version,
            latest_schema_version: i.latest_schema_version,
            secret_backend: SecretBackendView::from(&i.secret_backend),
            secret_backend_reason: i.secret_backend_reason.clone(),
        }
    }
}
