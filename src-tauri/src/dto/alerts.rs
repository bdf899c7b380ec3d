//! Alert DTOs for the Alerts page: the alert centre. Alerts, rules, webhooks and deliveries are
//! the core's views (`keyward::alerts::AlertView`, …), shared with the CLI.

use serde::Serialize;
use ts_rs::TS;

use keyward::alerts::{AlertError, AlertView};

use crate::dto::CommandError;

impl From<AlertError> for CommandError {
    fn from(e: AlertError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

/// The alert centre: open alerts (active or acknowledged) and the resolved history.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AlertCentreDto {
    pub open: Vec<AlertView>,
    pub history: Vec<AlertView>,
}
