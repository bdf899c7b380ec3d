//! Audit DTOs for the Audit page: a page of rows and where an export went. Rows, the filter and
//! the chain check are the core's views (`keyward::audit::AuditRowView`, …), shared with the CLI.

use serde::Serialize;
use ts_rs::TS;

use keyward::audit::{AuditError, AuditRowView};

use crate::dto::CommandError;

impl From<AuditError> for CommandError {
    fn from(e: AuditError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

/// A page of rows, newest first.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditPageDto {
    pub rows: Vec<AuditRowView>,
    /// More (older) rows match: ask again with `beforeId` set to the last row's id.
    pub has_more: bool,
}

/// Where an export was written.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditExportDto {
    pub path: String,
    /// "jsonl" or "csv".
    pub format: String,
    #[ts(type = "number")]
    pub rows: u64,
}
