//! SQL for the alert tables (migration 0008). Every function takes the connection, so the
//! engine can run several of them in one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::input::Severity;
use super::model::{Alert, AlertFilter, AlertState, DeliveryFilter, DeliveryRecord, DeliveryStatus, Suppression};
use super::payload::WebhookEvent;
use super::rules::{NewRule, ProviderFilter, Rule, RuleChannels, RuleKind};
use super::webhook::{Webhook, WebhookFormat};

pub(crate) use crate::store::{fmt_ts, ts_at};

fn bad(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::<dyn std::error::Error + Send + Sync>::from(msg))
}

fn opt_ts_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| bad(idx, format!("timestamp {s:?}: {e}")))
    })
    .transpose()
}

// ---------------------------------------------------------------------------------------------
// Rules

const RULE_COLUMNS: &str = "id, name, kind, params, enabled, providers, desktop, cooldown_secs, severity";

fn rule_from_row(row: &Row<'_>) -> rusqlite::Result<Rule> {
    let kind_name: String = row.get(2)?;
    let params_text: String = row.get(3)?;
    let params: serde_json::Value =
        serde_json::from_str(&params_text).map_err(|e| bad(3, format!("rule params {params_text:?}: {e}")))?;
    let kind = RuleKind::from_parts(&kind_name, &params).map_err(|e| bad(2, e))?;
    let providers: Option<String> = row.get(5)?;
    let providers = match providers {
        None => ProviderFilter::All,
        Some(text) => ProviderFilter::Only(
            serde_json::from_str::<Vec<String>>(&text).map_err(|e| bad(5, format!("rule providers {text:?}: {e}")))?,
        ),
    };
    let severity: Option<String> = row.get(8)?;
    let severity = match severity {
        None => None,
        Some(s) => Some(Severity::parse(&s).ok_or_else(|| bad(8, format!("severity {s:?}")))?),
    };
    let cooldown: i64 = row.get(7)?;
    Ok(Rule {
        id: row.get(0)?,
        name: row.get(1)?,
        kind,
        enabled: row.get(4)?,
        providers,
        channels: RuleChannels { desktop: row.get(6)?, webhooks: Vec::new() },
        cooldown: Duration::from_secs(u64::try_from(cooldown).unwrap_or(0)),
        severity,
    })
}

fn rule_webhooks(c: &Connection, rule_id: i64) -> rusqlite::Result<Vec<i64>> {
    let mut stmt =
        c.prepare_cached("SELECT webhook_id FROM alert_rule_webhooks WHERE rule_id = ?1 ORDER BY webhook_id")?;
    let ids = stmt.query_map([rule_id], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

pub(crate) fn load_rules(c: &Connection) -> rusqlite::Result<Vec<Rule>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id"))?;
    let mut rules = stmt.query_map([], rule_from_row)?.collect::<Result<Vec<_>, _>>()?;
    for r in &mut rules {
        r.channels.webhooks = rule_webhooks(c, r.id)?;
    }
    Ok(rules)
}

pub(crate) fn load_rule(c: &Connection, id: i64) -> rusqlite::Result<Option<Rule>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?1"))?;
    let rule = stmt.query_row([id], rule_from_row).optional()?;
    match rule {
        Some(mut r) => {
            r.channels.webhooks = rule_webhooks(c, r.id)?;
            Ok(Some(r))
        }
        None => Ok(None),
    }
}

fn providers_json(p: &ProviderFilter) -> Option<String> {
    match p {
        ProviderFilter::All => None,
        ProviderFilter::Only(list) => Some(serde_json::Value::from(list.clone()).to_string()),
    }
}

pub(crate) fn insert_rule(c: &Connection, r: &NewRule, now: DateTime<Utc>) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO alert_rules (name, kind, params, enabled, providers, desktop, cooldown_secs, severity, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            r.name.trim(),
            r.kind.name(),
            r.kind.params().to_string(),
            r.enabled,
            providers_json(&r.providers),
            r.channels.desktop,
            i64::try_from(r.cooldown.as_secs()).unwrap_or(i64::MAX),
            r.severity.map(Severity::as_str),
            fmt_ts(now),
        ],
    )?;
    let id = c.last_insert_rowid();
    set_rule_webhooks(c, id, &r.channels.webhooks)?;
    Ok(id)
}

pub(crate) fn update_rule(c: &Connection, id: i64, r: &NewRule, now: DateTime<Utc>) -> rusqlite::Result<usize> {
    let n = c.execute(
        "UPDATE alert_rules SET name = ?2, kind = ?3, params = ?4, enabled = ?5, providers = ?6, desktop = ?7,
                cooldown_secs = ?8, severity = ?9, updated_at = ?10
         WHERE id = ?1",
        params![
            id,
            r.name.trim(),
            r.kind.name(),
            r.kind.params().to_string(),
            r.enabled,
            providers_json(&r.providers),
            r.channels.desktop,
            i64::try_from(r.cooldown.as_secs()).unwrap_or(i64::MAX),
            r.severity.map(Severity::as_str),
            fmt_ts(now),
        ],
    )?;
    if n > 0 {
        set_rule_webhooks(c, id, &r.channels.webhooks)?;
    }
    Ok(n)
}

fn set_rule_webhooks(c: &Connection, rule_id: i64, webhooks: &[i64]) -> rusqlite::Result<()> {
    c.execute("DELETE FROM alert_rule_webhooks WHERE rule_id = ?1", [rule_id])?;
    let mut stmt =
        c.prepare_cached("INSERT OR IGNORE INTO alert_rule_webhooks (rule_id, webhook_id) VALUES (?1, ?2)")?;
    for w in webhooks {
        stmt.execute([rule_id, *w])?;
    }
    Ok(())
}

pub(crate) fn delete_rule(c: &Connection, id: i64) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM alert_rules WHERE id = ?1", [id])
}

// ---------------------------------------------------------------------------------------------
// Webhooks

const WEBHOOK_COLUMNS: &str = "id, name, url, format, secret_ref, allow_insecure_http, enabled, created_at";

fn webhook_from_row(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    let format: String = row.get(3)?;
    Ok(Webhook {
        id: row.get(0)?,
        name: row.get(1)?,
        url: row.get(2)?,
        format: WebhookFormat::parse(&format).ok_or_else(|| bad(3, format!("webhook format {format:?}")))?,
        secret_ref: row.get(4)?,
        allow_insecure_http: row.get(5)?,
        enabled: row.get(6)?,
        created_at: ts_at(row, 7)?,
    })
}

pub(crate) fn load_webhooks(c: &Connection) -> rusqlite::Result<Vec<Webhook>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id"))?;
    let hooks = stmt.query_map([], webhook_from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(hooks)
}

pub(crate) fn load_webhook(c: &Connection, id: i64) -> rusqlite::Result<Option<Webhook>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1"))?;
    stmt.query_row([id], webhook_from_row).optional()
}

pub(crate) fn webhook_name_taken(c: &Connection, name: &str) -> rusqlite::Result<bool> {
    c.query_row("SELECT EXISTS(SELECT 1 FROM webhooks WHERE name = ?1)", [name], |r| r.get(0))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_webhook(
    c: &Connection,
    name: &str,
    url: &str,
    format: WebhookFormat,
    secret_ref: Option<&str>,
    allow_insecure_http: bool,
    now: DateTime<Utc>,
) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO webhooks (name, url, format, secret_ref, allow_insecure_http, enabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
        params![name, url, format.as_str(), secret_ref, allow_insecure_http, fmt_ts(now)],
    )?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn set_webhook_secret_ref(c: &Connection, id: i64, secret_ref: Option<&str>) -> rusqlite::Result<usize> {
    c.execute("UPDATE webhooks SET secret_ref = ?2 WHERE id = ?1", params![id, secret_ref])
}

pub(crate) fn set_webhook_enabled(c: &Connection, id: i64, enabled: bool) -> rusqlite::Result<usize> {
    c.execute("UPDATE webhooks SET enabled = ?2 WHERE id = ?1", params![id, enabled])
}

pub(crate) fn delete_webhook(c: &Connection, id: i64) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM webhooks WHERE id = ?1", [id])
}

pub(crate) fn existing_webhook_ids(c: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = c.prepare_cached("SELECT id FROM webhooks")?;
    let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// Alerts

const ALERT_COLUMNS: &str = "id, ts, rule_id, rule_kind, severity, title, body, provider, dedup_key, state, \
                             acknowledged_at, resolved_at, suppressed, expires_at";

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Alert> {
    let severity: String = row.get(4)?;
    let state: String = row.get(9)?;
    let suppressed: Option<String> = row.get(12)?;
    Ok(Alert {
        id: row.get(0)?,
        ts: ts_at(row, 1)?,
        rule_id: row.get(2)?,
        rule_kind: row.get(3)?,
        severity: Severity::parse(&severity).ok_or_else(|| bad(4, format!("severity {severity:?}")))?,
        title: row.get(5)?,
        body: row.get(6)?,
        provider: row.get(7)?,
        dedup_key: row.get(8)?,
        state: AlertState::parse(&state).ok_or_else(|| bad(9, format!("state {state:?}")))?,
        acknowledged_at: opt_ts_at(row, 10)?,
        resolved_at: opt_ts_at(row, 11)?,
        suppressed: match suppressed {
            None => None,
            Some(s) => Some(Suppression::parse(&s).ok_or_else(|| bad(12, format!("suppressed {s:?}")))?),
        },
        expires_at: opt_ts_at(row, 13)?,
    })
}

/// A row to insert.
pub(crate) struct NewAlert<'a> {
    pub ts: DateTime<Utc>,
    pub rule_id: i64,
    pub rule_kind: &'a str,
    pub severity: Severity,
    pub title: &'a str,
    pub body: &'a str,
    pub provider: &'a str,
    pub dedup_key: &'a str,
    pub resolved: bool,
    pub suppressed: Option<Suppression>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub(crate) fn insert_alert(c: &Connection, a: &NewAlert<'_>) -> rusqlite::Result<Alert> {
    let ts = fmt_ts(a.ts);
    c.execute(
        "INSERT INTO alerts (ts, rule_id, rule_kind, severity, title, body, provider, dedup_key, state, resolved_at,
                             suppressed, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            ts,
            a.rule_id,
            a.rule_kind,
            a.severity.as_str(),
            a.title,
            a.body,
            a.provider,
            a.dedup_key,
            if a.resolved { "resolved" } else { "active" },
            a.resolved.then(|| ts.clone()),
            a.suppressed.map(Suppression::as_str),
            a.expires_at.map(fmt_ts),
        ],
    )?;
    let id = c.last_insert_rowid();
    get_alert(c, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

pub(crate) fn get_alert(c: &Connection, id: i64) -> rusqlite::Result<Option<Alert>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"))?;
    stmt.query_row([id], alert_from_row).optional()
}

/// Whether `rule_id` has an open (active or acknowledged) alert under `dedup_key`.
pub(crate) fn has_open(c: &Connection, rule_id: i64, dedup_key: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS(SELECT 1 FROM alerts WHERE dedup_key = ?2 AND rule_id = ?1 AND state <> 'resolved')",
        params![rule_id, dedup_key],
        |r| r.get(0),
    )
}

/// When `rule_id` last notified for `dedup_key` (alerts held back by cooldown do not count).
pub(crate) fn last_notified(c: &Connection, rule_id: i64, dedup_key: &str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let mut stmt = c.prepare_cached(
        "SELECT ts FROM alerts WHERE rule_id = ?1 AND dedup_key = ?2 AND suppressed IS NOT 'cooldown'
         ORDER BY ts DESC LIMIT 1",
    )?;
    stmt.query_row(params![rule_id, dedup_key], |r| ts_at(r, 0)).optional()
}

fn resolve_ids(c: &Connection, ids: Vec<i64>, now: DateTime<Utc>) -> rusqlite::Result<Vec<Alert>> {
    let mut out = Vec::with_capacity(ids.len());
    let mut stmt = c.prepare_cached("UPDATE alerts SET state = 'resolved', resolved_at = ?2 WHERE id = ?1")?;
    for id in ids {
        stmt.execute(params![id, fmt_ts(now)])?;
        if let Some(a) = get_alert(c, id)? {
            out.push(a);
        }
    }
    Ok(out)
}

/// Resolves open alerts whose dedup key starts with `prefix`, except `keep`, optionally only
/// those of one rule.
pub(crate) fn resolve_prefix(
    c: &Connection,
    prefix: &str,
    keep: Option<&str>,
    rule_id: Option<i64>,
    now: DateTime<Utc>,
) -> rusqlite::Result<Vec<Alert>> {
    let mut stmt = c.prepare_cached(
        "SELECT id FROM alerts
         WHERE state <> 'resolved' AND substr(dedup_key, 1, length(?1)) = ?1
           AND (?2 IS NULL OR dedup_key <> ?2) AND (?3 IS NULL OR rule_id = ?3)
         ORDER BY id",
    )?;
    let ids = stmt.query_map(params![prefix, keep, rule_id], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
    resolve_ids(c, ids, now)
}

/// Resolves open alerts whose `expires_at` has passed.
pub(crate) fn resolve_expired(c: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<Alert>> {
    let mut stmt = c.prepare_cached(
        "SELECT id FROM alerts WHERE state <> 'resolved' AND expires_at IS NOT NULL AND expires_at <= ?1 ORDER BY id",
    )?;
    let ids = stmt.query_map([fmt_ts(now)], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
    resolve_ids(c, ids, now)
}

/// Resolves every open alert of one rule (it was disabled or removed).
pub(crate) fn resolve_rule(c: &Connection, rule_id: i64, now: DateTime<Utc>) -> rusqlite::Result<Vec<Alert>> {
    let mut stmt = c.prepare_cached("SELECT id FROM alerts WHERE state <> 'resolved' AND rule_id = ?1 ORDER BY id")?;
    let ids = stmt.query_map([rule_id], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
    resolve_ids(c, ids, now)
}

pub(crate) fn acknowledge(c: &Connection, id: i64, now: DateTime<Utc>) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE alerts SET acknowledged_at = COALESCE(acknowledged_at, ?2),
                           state = CASE state WHEN 'active' THEN 'acknowledged' ELSE state END
         WHERE id = ?1",
        params![id, fmt_ts(now)],
    )
}

pub(crate) fn list_alerts(c: &Connection, f: &AlertFilter) -> rusqlite::Result<Vec<Alert>> {
    let states: Vec<&str> = f.states.iter().map(|s| s.as_str()).collect();
    let states_json = (!states.is_empty()).then(|| serde_json::Value::from(states).to_string());
    let min_rank = f.min_severity.map(|s| match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    });
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
         WHERE (?1 IS NULL OR state IN (SELECT value FROM json_each(?1)))
           AND (?2 IS NULL OR provider = ?2)
           AND (?3 IS NULL OR (CASE severity WHEN 'info' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END) >= ?3)
           AND (?4 IS NULL OR ts >= ?4)
         ORDER BY ts DESC, id DESC
         LIMIT ?5"
    ))?;
    let limit = if f.limit == 0 { i64::MAX } else { i64::from(f.limit) };
    let rows = stmt
        .query_map(params![states_json, f.provider, min_rank, f.since.map(fmt_ts), limit], alert_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Deletes resolved alerts and delivery records older than `before`; returns (alerts, deliveries).
pub(crate) fn prune(c: &Connection, before: DateTime<Utc>) -> rusqlite::Result<(usize, usize)> {
    let cutoff = fmt_ts(before);
    let deliveries = c.execute("DELETE FROM webhook_deliveries WHERE ts < ?1", [&cutoff])?;
    let alerts = c.execute("DELETE FROM alerts WHERE state = 'resolved' AND ts < ?1", [&cutoff])?;
    Ok((alerts, deliveries))
}

// ---------------------------------------------------------------------------------------------
// Deliveries

pub(crate) struct NewDelivery {
    pub ts: DateTime<Utc>,
    pub alert_id: Option<i64>,
    pub webhook_id: i64,
    pub event: WebhookEvent,
    pub attempt: u32,
    pub status: DeliveryStatus,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

pub(crate) fn insert_delivery(c: &Connection, d: &NewDelivery) -> rusqlite::Result<i64> {
    c.execute(
        "INSERT INTO webhook_deliveries (ts, alert_id, webhook_id, event, attempt, status, http_status, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            fmt_ts(d.ts),
            d.alert_id,
            d.webhook_id,
            d.event.as_str(),
            d.attempt,
            d.status.as_str(),
            d.http_status,
            d.error,
        ],
    )?;
    Ok(c.last_insert_rowid())
}

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let event: String = row.get(4)?;
    let status: String = row.get(6)?;
    Ok(DeliveryRecord {
        id: row.get(0)?,
        ts: ts_at(row, 1)?,
        alert_id: row.get(2)?,
        webhook_id: row.get(3)?,
        event: WebhookEvent::parse(&event).ok_or_else(|| bad(4, format!("event {event:?}")))?,
        attempt: row.get(5)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad(6, format!("status {status:?}")))?,
        http_status: row.get(7)?,
        error: row.get(8)?,
    })
}

pub(crate) fn list_deliveries(c: &Connection, f: &DeliveryFilter) -> rusqlite::Result<Vec<DeliveryRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, ts, alert_id, webhook_id, event, attempt, status, http_status, error FROM webhook_deliveries
         WHERE (?1 IS NULL OR webhook_id = ?1) AND (?2 IS NULL OR alert_id = ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let limit = if f.limit == 0 { i64::MAX } else { i64::from(f.limit) };
    let rows =
        stmt.query_map(params![f.webhook_id, f.alert_id, limit], delivery_from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
