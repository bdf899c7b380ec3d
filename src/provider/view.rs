//! The one serialisable view of a provider as listed, shared by the Providers page and
//! `keyward provider list|show|set --json`.

use super::ProviderEntry;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct EnvironmentView {
    pub name: String,
    pub base_url: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    /// "exchange" or "market_data".
    pub kind: String,
    /// "preset", "modified" or "custom".
    pub origin: String,
    pub enabled: bool,
    /// The environment calls use.
    pub environment: String,
    pub environments: Vec<EnvironmentView>,
    /// The signing scheme (`hmac_sha256_query`, …).
    pub auth_scheme: String,
    pub operations: Vec<String>,
    /// Why the provider cannot be used, when it is discontinued.
    pub discontinued: Option<String>,
    pub docs_url: Option<String>,
}

impl From<&ProviderEntry> for ProviderView {
    fn from(e: &ProviderEntry) -> Self {
        let s = &e.spec;
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            kind: s.kind.as_str().to_string(),
            origin: e.origin.as_str().to_string(),
            enabled: e.enabled,
            environment: e.environment.clone(),
            environments: s
                .environments
                .iter()
                .map(|(name, env)| EnvironmentView { name: name.clone(), base_url: env.base_url.clone() })
                .collect(),
            auth_scheme: s.auth.scheme.id().to_string(),
            operations: s.endpoints.keys().cloned().collect(),
            discontinued: s.discontinued.as_ref().map(|d| format!("Discontinued since {}: {}", d.since, d.reason)),
            docs_url: s.docs_url.clone(),
        }
    }
}
