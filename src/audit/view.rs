//! The one serialisable view of audit rows, the chain check and the list filter, shared by the
//! Audit page and `keyward audit list|verify --json`. Rows hold metadata only (see the module
//! docs), so the views never carry a secret.

use chrono::{DateTime, Utc};

use super::{Actor, AuditError, AuditFilter, AuditKind, AuditRow, SealStatus, Tamper, VerifyReport};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditRowView {
    #[ts(type = "number")]
    pub id: i64,
    /// RFC 3339, UTC, with milliseconds.
    pub ts: String,
    /// ui, cli, gateway or system.
    pub actor: String,
    /// key_created, key_used, … (`AuditKind`).
    pub event: String,
    pub provider: Option<String>,
    pub key_label: Option<String>,
    /// The event's metadata as recorded (an object; `null` when there is none).
    #[ts(type = "Record<string, unknown> | null")]
    pub detail: serde_json::Value,
    pub hash: String,
}

impl From<&AuditRow> for AuditRowView {
    fn from(r: &AuditRow) -> Self {
        Self {
            id: r.id,
            ts: r.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            actor: r.actor.as_str().to_string(),
            event: r.event.as_str().to_string(),
            provider: r.provider.clone(),
            key_label: r.key_label.clone(),
            detail: r.detail.clone(),
            hash: r.hash.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TamperView {
    /// edited, inserted, deleted, forged (a seal does not verify) or unsealed.
    pub kind: String,
    #[ts(type = "number")]
    pub row_id: i64,
    pub message: String,
}

/// The chain check: intact, or every problem found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditVerifyView {
    pub intact: bool,
    #[ts(type = "number")]
    pub rows_checked: u64,
    /// The last row's hash (empty when the chain is broken).
    pub last_hash: String,
    /// "checked" (the audit key vouched for the log), "notYetSealed" or "notChecked"; empty
    /// when the chain is broken.
    pub seals: String,
    /// The first row sealed with the audit key, when the seals were checked.
    #[ts(type = "number | null")]
    pub sealed_since: Option<i64>,
    /// One sentence on the seals, for people.
    pub seal_note: String,
    pub problems: Vec<TamperView>,
}

impl AuditVerifyView {
    pub fn verified(r: &VerifyReport) -> Self {
        Self {
            intact: true,
            rows_checked: r.rows_checked,
            last_hash: r.last_hash.clone(),
            seals: r.seals.as_str().to_string(),
            sealed_since: match r.seals {
                SealStatus::Checked { since } => Some(since),
                _ => None,
            },
            seal_note: r.seals.describe(),
            problems: Vec::new(),
        }
    }

    pub fn tampered(problems: &[Tamper]) -> Self {
        Self {
            intact: false,
            rows_checked: 0,
            last_hash: String::new(),
            seals: String::new(),
            sealed_since: None,
            seal_note: String::new(),
            problems: problems
                .iter()
                .map(|t| TamperView { kind: t.kind.as_str().to_string(), row_id: t.row_id, message: t.message.clone() })
                .collect(),
        }
    }

    /// The check's outcome as a view: a broken chain is an answer, not an error; other errors
    /// (the database) stay errors.
    pub fn of(result: Result<VerifyReport, AuditError>) -> Result<Self, AuditError> {
        match result {
            Ok(report) => Ok(Self::verified(&report)),
            Err(AuditError::Tampered { problems }) => Ok(Self::tampered(&problems)),
            Err(e) => Err(e),
        }
    }
}

/// Which rows to list or export, as text from a form or the command line. Missing or empty
/// fields match everything; [`AuditQuery::filter`] names a bad field and its value.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(export)]
pub struct AuditQuery {
    #[ts(optional)]
    pub provider: Option<String>,
    #[ts(optional)]
    pub key_label: Option<String>,
    /// An `AuditKind` name (key_created, …).
    #[ts(optional)]
    pub event: Option<String>,
    /// ui, cli, gateway or system.
    #[ts(optional)]
    pub actor: Option<String>,
    /// RFC 3339, inclusive.
    #[ts(optional)]
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    #[ts(optional)]
    pub until: Option<String>,
    /// Page backwards: rows older than this id.
    #[ts(optional, type = "number")]
    pub before_id: Option<i64>,
    /// Page size.
    #[ts(optional)]
    pub limit: Option<u32>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn time(field: &'static str, s: Option<&str>) -> Result<Option<DateTime<Utc>>, AuditError> {
    s.map(|s| {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| AuditError::BadFilter {
            field,
            value: s.to_string(),
            expected: "an RFC 3339 time".into(),
        })
    })
    .transpose()
}

impl AuditQuery {
    /// The core filter, or the first bad field (`audit filter event "key_stolen" is not one
    /// of key_created, …`).
    pub fn filter(&self) -> Result<AuditFilter, AuditError> {
        let event = non_empty(&self.event)
            .map(|e| {
                AuditKind::parse(e).ok_or_else(|| AuditError::BadFilter {
                    field: "event",
                    value: e.to_string(),
                    expected: format!(
                        "one of {}",
                        AuditKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                })
            })
            .transpose()?;
        let actor = non_empty(&self.actor)
            .map(|a| {
                Actor::parse(a).ok_or_else(|| AuditError::BadFilter {
                    field: "actor",
                    value: a.to_string(),
                    expected: format!(
                        "one of {}",
                        Actor::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                })
            })
            .transpose()?;
        Ok(AuditFilter {
            provider: non_empty(&self.provider).map(str::to_string),
            key_label: non_empty(&self.key_label).map(str::to_string),
            event,
            actor,
            since: time("since", non_empty(&self.since))?,
            until: time("until", non_empty(&self.until))?,
            before_id: self.before_id,
            limit: self.limit.map(|l| l as usize),
        })
    }
}

/// The choices of the event and actor filters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditOptions {
    pub events: Vec<String>,
    pub actors: Vec<String>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            events: AuditKind::ALL.iter().map(|k| k.as_str().to_string()).collect(),
            actors: Actor::ALL.iter().map(|a| a.as_str().to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn empty_fields_match_everything_and_bad_values_are_named() {
        let f = AuditQuery {
            provider: Some(" ".into()),
            event: Some("key_created".into()),
            actor: Some("".into()),
            ..Default::default()
        }
        .filter()
        .expect("valid filter");
        assert_eq!(f.provider, None);
        assert_eq!(f.event, Some(AuditKind::KeyCreated));
        assert_eq!(f.actor, None);

        let err = AuditQuery { event: Some("key_stolen".into()), ..Default::default() }.filter().expect_err("unknown");
        assert_eq!(err.kind(), ErrorKind::Invalid);
        let text = err.to_string();
        assert!(text.contains("event \"key_stolen\"") && text.contains("key_created"), "{text}");
        let err = AuditQuery { since: Some("yesterday".into()), ..Default::default() }.filter().expect_err("bad time");
        assert!(err.to_string().contains("since \"yesterday\" is not an RFC 3339 time"), "{err}");
    }
}
