//! Usage errors for the Usage page. The table itself is the core's view
//! (`keyward::usage::UsageSummary`), shared with `keyward usage --json`.

use keyward::usage::UsageError;

use crate::dto::CommandError;

impl From<UsageError> for CommandError {
    fn from(e: UsageError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl From<keyward::usage::InsightError> for CommandError {
    fn from(e: keyward::usage::InsightError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}
