//! Errors of the metrics card (Settings) and the usage export (Usage page). The views are the
//! core's (`keyward::metrics::MetricsView`, `keyward::usage::export::ExportSaved`), shared with
//! `keyward gateway metrics --json` and `keyward usage export`.

use keyward::metrics::MetricsError;
use keyward::usage::export::ExportError;

use crate::dto::CommandError;

impl From<MetricsError> for CommandError {
    fn from(e: MetricsError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl From<ExportError> for CommandError {
    fn from(e: ExportError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}
