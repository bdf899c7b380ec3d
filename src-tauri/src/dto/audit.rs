//! Audit DTOs for the Audit page: rows, filters, the chain check and exports.

use keyward::ErrorKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use keyward::audit::{Actor, AuditError, AuditFilter, AuditKind, AuditRow, SealStatus, Tamper, VerifyReport};

use crate::dto::CommandError;

impl From<AuditError> for CommandError {
    fn from(e: AuditError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

/// One top-level field of a row's `detail`: strings as they are, other values as compact JSON.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DetailFieldDto {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditRowDto {
    #[ts(type = "number")]
    pub id: i64,
    /// RFC 3339, UTC.
    pub ts: String,
    /// ui, cli, gateway or system.
    pub actor: String,
    /// key_created, key_used, … (`AuditKind`).
    pub event: String,
    pub provider: Option<String>,
    pub key_label: Option<String>,
    pub detail: Vec<DetailFieldDto>,
    pub hash: String,
}

fn detail_fields(detail: &serde_json::Value) -> Vec<DetailFieldDto> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match detail {
        serde_json::Value::Object(map) => {
            map.iter().map(|(k, v)| DetailFieldDto { key: k.clone(), value: text(v) }).collect()
        }
        serde_json::Value::Null => Vec::new(),
        other => vec![DetailFieldDto { key: String::new(), value: text(other) }],
    }
}

pub fn row(r: &AuditRow) -> AuditRowDto {
    AuditRowDto {
        id: r.id,
        ts: r.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        actor: r.actor.as_str().to_string(),
        event: r.event.as_str().to_string(),
        provider: r.provider.clone(),
        key_label: r.key_label.clone(),
        detail: detail_fields(&r.detail),
        hash: r.hash.clone(),
    }
}

/// A page of rows, newest first.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditPageDto {
    pub rows: Vec<AuditRowDto>,
    /// More (older) rows match: ask again with `beforeId` set to the last row's id.
    pub has_more: bool,
}

/// Which rows to list or export. Missing or empty fields match everything.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(export)]
pub struct AuditFilterDto {
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
    /// Page size (list only).
    #[ts(optional)]
    pub limit: Option<u32>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn time(field: &str, s: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, CommandError> {
    s.map(|s| {
        chrono::DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&chrono::Utc)).map_err(|_| {
            CommandError::new(ErrorKind::Invalid, format!("audit filter {field} \"{s}\" is not an RFC 3339 time"))
        })
    })
    .transpose()
}

/// The core filter for `f` (without `limit`; the command sets it).
pub fn filter(f: &AuditFilterDto) -> Result<AuditFilter, CommandError> {
    let event = non_empty(&f.event)
        .map(|e| {
            AuditKind::parse(e).ok_or_else(|| {
                let known: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
                CommandError::new(ErrorKind::Invalid, format!("audit event \"{e}\" is not one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let actor = non_empty(&f.actor)
        .map(|a| {
            Actor::parse(a).ok_or_else(|| {
                let known: Vec<&str> = Actor::ALL.iter().map(|k| k.as_str()).collect();
                CommandError::new(ErrorKind::Invalid, format!("audit actor \"{a}\" is not one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    Ok(AuditFilter {
        provider: non_empty(&f.provider).map(str::to_string),
        key_label: non_empty(&f.key_label).map(str::to_string),
        event,
        actor,
        since: time("since", non_empty(&f.since))?,
        until: time("until", non_empty(&f.until))?,
        before_id: f.before_id,
        limit: None,
    })
}

/// The choices of the event and actor filters.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditOptionsDto {
    pub events: Vec<String>,
    pub actors: Vec<String>,
}

pub fn options() -> AuditOptionsDto {
    AuditOptionsDto {
        events: AuditKind::ALL.iter().map(|k| k.as_str().to_string()).collect(),
        actors: Actor::ALL.iter().map(|a| a.as_str().to_string()).collect(),
    }
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TamperDto {
    /// edited, inserted, deleted, forged (a seal does not verify) or unsealed.
    pub kind: String,
    #[ts(type = "number")]
    pub row_id: i64,
    pub message: String,
}

/// The chain check: intact, or every problem found.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AuditVerifyDto {
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
    pub problems: Vec<TamperDto>,
}

pub fn verified(r: &VerifyReport) -> AuditVerifyDto {
    AuditVerifyDto {
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

pub fn tampered(problems: &[Tamper]) -> AuditVerifyDto {
    AuditVerifyDto {
        intact: false,
        rows_checked: 0,
        last_hash: String::new(),
        seals: String::new(),
        sealed_since: None,
        seal_note: String::new(),
        problems: problems
            .iter()
            .map(|t| TamperDto { kind: t.kind.as_str().to_string(), row_id: t.row_id, message: t.message.clone() })
            .collect(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_fields_match_everything_and_bad_names_are_named() {
        let f = filter(&AuditFilterDto {
            provider: Some(" ".into()),
            event: Some("key_created".into()),
            actor: Some("".into()),
            ..Default::default()
        })
        .expect("valid filter");
        assert_eq!(f.provider, None);
        assert_eq!(f.event, Some(AuditKind::KeyCreated));
        assert_eq!(f.actor, None);

        let err =
            filter(&AuditFilterDto { event: Some("key_stolen".into()), ..Default::default() }).expect_err("unknown");
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains("\"key_stolen\"") && err.message.contains("key_created"), "{}", err.message);
        let err =
            filter(&AuditFilterDto { since: Some("yesterday".into()), ..Default::default() }).expect_err("bad time");
        assert!(err.message.contains("since \"yesterday\""), "{}", err.message);
    }

    #[test]
    fn detail_fields_keep_strings_bare_and_other_values_as_json() {
        let fields = detail_fields(&serde_json::json!({"scopes": "read,trade", "count": 3, "by_actor": {"ui": 2}}));
        let pairs: Vec<(&str, &str)> = fields.iter().map(|f| (f.key.as_str(), f.value.as_str())).collect();
        assert!(pairs.contains(&("scopes", "read,trade")));
        assert!(pairs.contains(&("count", "3")));
        assert!(pairs.contains(&("by_actor", "{\"ui\":2}")));
    }
}
