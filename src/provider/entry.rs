//! A provider as the rest of Keyward sees it: the effective spec, where it comes from, and
//! the user's state (enabled, selected environment).

use serde::Serialize;

use super::origin::Origin;
use super::spec::{Environment, ProviderSpec};

/// A provider as the rest of Keyward sees it: the effective spec plus the user's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderEntry {
    pub spec: ProviderSpec,
    pub origin: Origin,
    /// Always false for a discontinued provider.
    pub enabled: bool,
    /// The selected environment; always one of `spec.environments`.
    pub environment: String,
    /// Set when the stored override of a preset could not be read; the preset is shown
    /// instead until the user resets or re-imports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ProviderEntry {
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The selected environment's settings.
    pub fn selected_environment(&self) -> Option<&Environment> {
        self.spec.environment(&self.environment)
    }

    /// The selected environment's base URL.
    pub fn base_url(&self) -> Option<&str> {
        self.spec.base_url(&self.environment)
    }
}
