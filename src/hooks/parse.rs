//! The bodies an incoming hook accepts, each turned into [`Report`]s:
//!
//! - a status-page webhook (`page` + `incident` or `component_update`, see [`super::statuspage`]);
//! - Keyward's own outgoing alert JSON (`event` + `alert`), so one Keyward can feed another;
//! - the generic shape any tool can send: `title`, `message`, `severity` (`info`, `warning`,
//!   `critical`), and optionally `provider`, `state` (`maintenance`, `degraded`, `down`, `up`),
//!   `id` (later reports with the same id update or, with `resolved: true`, resolve it).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::statuspage::{self, WebhookPayload};
use super::Report;
use crate::alerts::Severity;
use crate::monitor::HealthState;

/// The longest title and message kept from a body (the rest is cut off).
const MAX_TITLE: usize = 200;
const MAX_MESSAGE: usize = 2000;

fn cut(text: &str, max: usize) -> String {
    let t = text.trim();
    match t.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

fn text<'a>(v: &'a Value, field: &str) -> Result<Option<&'a str>, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(format!("field \"{field}\" = {other} is not a string")),
    }
}

/// The body's send time (`timestamp`: Unix seconds, or an RFC 3339 string), if it has one.
pub fn body_time(v: &Value) -> Result<Option<DateTime<Utc>>, String> {
    match v.get("timestamp") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|s| Utc.timestamp_opt(s, 0).single())
            .map(Some)
            .ok_or_else(|| format!("field \"timestamp\" = {n} is not a time in Unix seconds")),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| format!("field \"timestamp\" = {s:?} is not an RFC 3339 time")),
        Some(other) => Err(format!("field \"timestamp\" = {other} is neither Unix seconds nor an RFC 3339 time")),
    }
}

fn severity(v: &Value) -> Result<Severity, String> {
    match text(v, "severity")? {
        None => Ok(Severity::Warning),
        Some(s) => Severity::parse(s.trim())
            .ok_or_else(|| format!("field \"severity\" = {s:?} is not one of info, warning, critical")),
    }
}

fn state(v: &Value) -> Result<Option<HealthState>, String> {
    match text(v, "state")? {
        None => Ok(None),
        Some(s) => match HealthState::parse(s.trim()) {
            Some(st @ (HealthState::Maintenance | HealthState::Degraded | HealthState::Down | HealthState::Up)) => {
                Ok(Some(st))
            }
            _ => Err(format!("field \"state\" = {s:?} is not one of maintenance, degraded, down, up")),
        },
    }
}

fn slug(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}

/// Parses a body. `origin_name` prefixes status-page titles (the hook's name). Errors say which
/// field was wrong and how.
pub fn parse(body: &[u8], origin_name: &str) -> Result<(Value, Vec<Report>), String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("the body is JSON but not an object".into());
    }
    let reports = if WebhookPayload::looks_like(&value) {
        let payload: WebhookPayload =
            serde_json::from_value(value.clone()).map_err(|e| format!("the status-page payload does not read: {e}"))?;
        statuspage::webhook_reports(&payload, origin_name)?
    } else if let (Some(event), Some(alert)) = (value.get("event").and_then(Value::as_str), value.get("alert")) {
        vec![keyward_alert(event, alert)?]
    } else {
        vec![generic(&value)?]
    };
    Ok((value, reports))
}

/// Keyward's own outgoing alert JSON.
fn keyward_alert(event: &str, alert: &Value) -> Result<Report, String> {
    let title = text(alert, "title")?.filter(|t| !t.trim().is_empty()).ok_or("field \"alert.title\" is missing")?;
    let subject = match text(alert, "dedup_key")? {
        Some(k) => format!("alert {k}"),
        None => format!("alert {}", slug(title)),
    };
    Ok(Report {
        subject,
        title: cut(title, MAX_TITLE),
        message: cut(text(alert, "body")?.unwrap_or_default(), MAX_MESSAGE),
        severity: severity(alert)?,
        provider: text(alert, "provider")?.map(str::trim).filter(|p| !p.is_empty()).map(String::from),
        state: None,
        starts_at: None,
        resolved: event == "alert.resolved",
    })
}

/// `{title, message, severity, provider?, state?, id?, resolved?}`.
fn generic(v: &Value) -> Result<Report, String> {
    let title = text(v, "title")?.map(str::trim).unwrap_or_default();
    if title.is_empty() {
        return Err(
            "field \"title\" is missing or empty; send {\"title\", \"message\", \"severity\"} or a status-page payload"
                .into(),
        );
    }
    let resolved = match v.get("resolved") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("field \"resolved\" = {other} is not true or false")),
    };
    let subject = match v.get("id") {
        None | Some(Value::Null) => format!("report {}", slug(title)),
        Some(Value::String(s)) if !s.trim().is_empty() => format!("report {}", s.trim()),
        Some(Value::Number(n)) => format!("report {n}"),
        Some(other) => return Err(format!("field \"id\" = {other} is not a string or a number")),
    };
    let mut state = state(v)?;
    if resolved && state.is_some() {
        state = Some(HealthState::Up);
    }
    Ok(Report {
        subject,
        title: cut(title, MAX_TITLE),
        message: cut(text(v, "message")?.unwrap_or_default(), MAX_MESSAGE),
        severity: severity(v)?,
        provider: text(v, "provider")?.map(str::trim).filter(|p| !p.is_empty()).map(String::from),
        state,
        starts_at: None,
        resolved: resolved || state == Some(HealthState::Up),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generic_shape_reads_every_field() {
        let body = br#"{"title":"Bot stopped","message":"grid-bot exited","severity":"critical","provider":"binance","state":"down","id":7}"#;
        let (_, reports) = parse(body, "ops").expect("parses");
        let r = &reports[0];
        assert_eq!(r.title, "Bot stopped");
        assert_eq!(r.message, "grid-bot exited");
        assert_eq!(r.severity, Severity::Critical);
        assert_eq!(r.provider.as_deref(), Some("binance"));
        assert_eq!(r.state, Some(HealthState::Down));
        assert_eq!(r.subject, "report 7");
        assert!(!r.resolved);
    }

    #[test]
    fn bad_fields_are_named_with_their_value() {
        let cases: [(&[u8], &str); 6] = [
            (b"not json", "not JSON"),
            (b"[1,2]", "not an object"),
            (br#"{"message":"x"}"#, "field \"title\" is missing"),
            (br#"{"title":"x","severity":"loud"}"#, "field \"severity\" = \"loud\""),
            (br#"{"title":"x","state":"exploded"}"#, "field \"state\" = \"exploded\""),
            (br#"{"title":5}"#, "field \"title\" = 5 is not a string"),
        ];
        for (body, want) in cases {
            let err = parse(body, "ops").expect_err("refused");
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn keywards_own_alert_json_is_accepted() {
        let body = br#"{"event":"alert.resolved","timestamp":1772366400,"alert":{"title":"binance is down","body":"b","severity":"critical","provider":"binance","dedup_key":"state:binance/down"}}"#;
        let (value, reports) = parse(body, "other keyward").expect("parses");
        assert_eq!(reports[0].subject, "alert state:binance/down");
        assert!(reports[0].resolved);
        assert_eq!(body_time(&value).expect("time").map(|t| t.timestamp()), Some(1_772_366_400));
    }

    #[test]
    fn the_body_time_reads_seconds_and_rfc3339() {
        let v: Value = serde_json::json!({"timestamp": "2026-03-01T12:00:00Z"});
        assert_eq!(body_time(&v).expect("reads").map(|t| t.timestamp()), Some(1_772_366_400));
        let err = body_time(&serde_json::json!({"timestamp": "noon"})).expect_err("bad");
        assert!(err.contains("\"noon\""), "{err}");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "x".repeat(5000);
        let body = serde_json::json!({"title": long, "message": long}).to_string();
        let (_, reports) = parse(body.as_bytes(), "ops").expect("parses");
        assert_eq!(reports[0].title.chars().count(), MAX_TITLE + 1);
        assert_eq!(reports[0].message.chars().count(), MAX_MESSAGE + 1);
    }
}
