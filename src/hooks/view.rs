//! The one serialisable view of incoming hooks and their deliveries, shared by the Alerts page
//! and `keyward hooks … --json`. A hook's secret appears only in [`IssuedHookView`], once.

use super::{Delivery, Hook};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HookView {
    /// Random; the last segment of the URL.
    pub id: String,
    pub name: String,
    /// The provider its reports are about (else the payload's `provider`, if any).
    pub provider: Option<String>,
    /// "signature" (`X-Keyward-Signature`) or "urlSecret" (`?secret=` in the URL).
    pub auth: String,
    /// Where to send (`http://127.0.0.1:47311/hooks/<id>`), without any secret.
    pub url: String,
    pub created_at: String,
}

impl HookView {
    pub fn new(h: &Hook, base_url: &str) -> Self {
        Self {
            id: h.id.clone(),
            name: h.name.clone(),
            provider: h.provider.clone(),
            auth: h.auth.view_name().to_string(),
            url: format!("{}/hooks/{}", base_url.trim_end_matches('/'), h.id),
            created_at: h.created_at.to_rfc3339(),
        }
    }
}

/// A hook just created: its secret, shown this once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct IssuedHookView {
    pub hook: HookView,
    pub secret: String,
    /// The URL to give the sending service: with `?secret=` for a URL-secret hook.
    pub send_url: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HookDeliveryView {
    #[ts(type = "number")]
    pub id: i64,
    pub ts: String,
    pub hook_id: String,
    pub hook_name: String,
    /// What Keyward answered (202, 400, 401, 413, 429…).
    pub http_status: u16,
    /// "accepted", "bad_signature", "stale", "too_large", "malformed", "rate_limited", "error".
    pub result: String,
    /// What it became (alerts, provider states) or why it was refused.
    pub detail: String,
    #[ts(type = "number")]
    pub bytes: u64,
}

impl HookDeliveryView {
    pub fn new(d: &Delivery, hook_name: &str) -> Self {
        Self {
            id: d.id,
            ts: d.ts.to_rfc3339(),
            hook_id: d.hook_id.clone(),
            hook_name: hook_name.to_string(),
            http_status: d.http_status,
            result: d.result.clone(),
            detail: d.detail.clone(),
            bytes: d.bytes,
        }
    }
}
