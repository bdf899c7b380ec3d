//! Check definitions (table `monitor_checks`), what a runner reports ([`Probe`]) and how a
//! probe is judged against the check's expectations ([`judge`]).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::state::{Observation, Source};
use super::MonitorError;
use crate::pipeline::transform::SystemState;
use crate::provider::ProviderSpec;
use crate::store::StoreError;

/// Default interval between two runs of a check.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Default time a check may take before it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest interval a check may have.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest timeout a check may have.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);

/// What a check calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// Any operation (default: the spec's `health_check`).
    Operation,
    /// The spec's `status_operation`: maintenance / cancel-only / post-only become the
    /// maintenance state.
    Status,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Operation => "operation",
            CheckKind::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<CheckKind> {
        match s {
            "operation" => Some(CheckKind::Operation),
            "status" => Some(CheckKind::Status),
            _ => None,
        }
    }
}

/// A condition on the JSON body (RFC 6901 pointer): the value exists, or equals `equals`.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyCondition {
    pub pointer: String,
    pub equals: Option<Value>,
}

/// One scheduled check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    pub id: i64,
    pub provider: String,
    /// Unique per provider; defaults to the operation.
    pub name: String,
    pub kind: CheckKind,
    pub operation: String,
    pub params: BTreeMap<String, String>,
    pub interval: Duration,
    pub timeout: Duration,
    /// `None`: any 2xx.
    pub expect_status: Option<u16>,
    pub body: Option<BodyCondition>,
    /// Slower than this: degraded, whatever the baseline says.
    pub degraded_above: Option<Duration>,
    pub enabled: bool,
}

/// A check to create. `NewCheck::health(spec)` and `NewCheck::status(spec)` fill the defaults
/// from the provider spec.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCheck {
    pub provider: String,
    pub name: Option<String>,
    pub kind: CheckKind,
    pub operation: String,
    pub params: BTreeMap<String, String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub expect_status: Option<u16>,
    pub body: Option<BodyCondition>,
    pub degraded_above: Option<Duration>,
    pub enabled: bool,
}

/// The kind of a check of `operation`, refusing an operation the provider does not have.
pub fn kind_for(spec: &ProviderSpec, operation: &str) -> Result<CheckKind, MonitorError> {
    if !spec.has_operation(operation) {
        return Err(MonitorError::InvalidCheck {
            provider: spec.id.clone(),
            name: operation.to_string(),
            message: format!(
                "\"{operation}\" is not an operation of provider \"{}\"; choose one of: {}",
                spec.id,
                spec.endpoints.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(if spec.status_operation.as_deref() == Some(operation) { CheckKind::Status } else { CheckKind::Operation })
}

impl NewCheck {
    /// A check of `spec`'s `operation`, for every front end: the operation must be one of the
    /// provider's, and the spec's status operation (exchange maintenance) makes a status check.
    pub fn for_spec(spec: &ProviderSpec, operation: &str) -> Result<Self, MonitorError> {
        Ok(Self { kind: kind_for(spec, operation)?, ..Self::operation(&spec.id, operation) })
    }

    /// A check of `operation` with the default interval and timeout.
    pub fn operation(provider: &str, operation: &str) -> Self {
        Self {
            provider: provider.to_string(),
            name: None,
            kind: CheckKind::Operation,
            operation: operation.to_string(),
            params: BTreeMap::new(),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            expect_status: None,
            body: None,
            degraded_above: None,
            enabled: true,
        }
    }

    /// The spec's `health_check` operation.
    pub fn health(spec: &ProviderSpec) -> Self {
        let mut c = Self::operation(&spec.id, &spec.health_check);
        c.timeout = Duration::from_millis(spec.timeout_ms).clamp(MIN_TIMEOUT, DEFAULT_TIMEOUT);
        c
    }

    /// The spec's `status_operation`, if it has one.
    pub fn status(spec: &ProviderSpec) -> Option<Self> {
        let op = spec.status_operation.as_deref()?;
        let mut c = Self::operation(&spec.id, op);
        c.kind = CheckKind::Status;
        c.timeout = Duration::from_millis(spec.timeout_ms).clamp(MIN_TIMEOUT, DEFAULT_TIMEOUT);
        Some(c)
    }

    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
}

fn invalid(provider: &str, name: &str, message: String) -> MonitorError {
    MonitorError::InvalidCheck { provider: provider.to_string(), name: name.to_string(), message }
}

/// Checks the values a user can set; messages name the field and the value.
pub fn validate(
    provider: &str,
    name: &str,
    operation: &str,
    interval: Duration,
    timeout: Duration,
    expect_status: Option<u16>,
    body: Option<&BodyCondition>,
) -> Result<(), MonitorError> {
    if provider.is_empty() {
        return Err(invalid(provider, name, "the provider is empty".into()));
    }
    if operation.is_empty() {
        return Err(invalid(provider, name, "the operation is empty".into()));
    }
    if interval < MIN_INTERVAL {
        return Err(invalid(
            provider,
            name,
            format!("interval {} ms is below the minimum of 1000 ms", interval.as_millis()),
        ));
    }
    if timeout < MIN_TIMEOUT {
        return Err(invalid(
            provider,
            name,
            format!("timeout {} ms is below the minimum of 100 ms", timeout.as_millis()),
        ));
    }
    if let Some(s) = expect_status.filter(|s| !(100..=599).contains(s)) {
        return Err(invalid(provider, name, format!("expected status {s} is not an HTTP status")));
    }
    if let Some(b) = body.filter(|b| !b.pointer.is_empty() && !b.pointer.starts_with('/')) {
        return Err(invalid(provider, name, format!("body pointer \"{}\" must start with / (RFC 6901)", b.pointer)));
    }
    Ok(())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

const COLUMNS: &str = "id, provider, name, kind, operation, params, interval_ms, timeout_ms, expect_status,
                       body_pointer, body_equals, degraded_ms, enabled";

fn from_row(row: &Row<'_>) -> rusqlite::Result<CheckConfig> {
    let kind: String = row.get(3)?;
    let params: String = row.get(5)?;
    let pointer: Option<String> = row.get(9)?;
    let equals: Option<String> = row.get(10)?;
    let u = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
    Ok(CheckConfig {
        id: row.get(0)?,
        provider: row.get(1)?,
        name: row.get(2)?,
        kind: CheckKind::parse(&kind).unwrap_or(CheckKind::Operation),
        operation: row.get(4)?,
        params: serde_json::from_str(&params).unwrap_or_default(),
        interval: u(row.get(6)?),
        timeout: u(row.get(7)?),
        expect_status: row.get::<_, Option<i64>>(8)?.and_then(|s| u16::try_from(s).ok()),
        body: pointer
            .map(|pointer| BodyCondition { pointer, equals: equals.and_then(|e| serde_json::from_str(&e).ok()) }),
        degraded_above: row.get::<_, Option<i64>>(11)?.map(u),
        enabled: row.get::<_, i64>(12)? != 0,
    })
}

pub(crate) fn list(conn: &Connection, provider: Option<&str>) -> Result<Vec<CheckConfig>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM monitor_checks WHERE (?1 IS NULL OR provider = ?1) ORDER BY provider, name");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([provider], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<CheckConfig>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM monitor_checks WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], from_row).optional()?)
}

fn params_json(params: &BTreeMap<String, String>) -> String {
    serde_json::to_string(params).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn insert(conn: &Connection, c: &NewCheck) -> Result<CheckConfig, MonitorError> {
    let name = c.name.clone().unwrap_or_else(|| c.operation.clone());
    validate(&c.provider, &name, &c.operation, c.interval, c.timeout, c.expect_status, c.body.as_ref())?;
    let exists: Option<i64> = conn
        .query_row("SELECT id FROM monitor_checks WHERE provider = ?1 AND name = ?2", params![c.provider, name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(StoreError::from)?;
    if exists.is_some() {
        return Err(MonitorError::DuplicateCheck { provider: c.provider.clone(), name });
    }
    let now = now_text();
    conn.execute(
        "INSERT INTO monitor_checks (provider, name, kind, operation, params, interval_ms, timeout_ms, expect_status,
                                     body_pointer, body_equals, degraded_ms, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
        params![
            c.provider,
            name,
            c.kind.as_str(),
            c.operation,
            params_json(&c.params),
            ms(c.interval),
            ms(c.timeout),
            c.expect_status,
            c.body.as_ref().map(|b| b.pointer.clone()),
            c.body.as_ref().and_then(|b| b.equals.as_ref()).map(Value::to_string),
            c.degraded_above.map(ms),
            c.enabled,
            now,
        ],
    )
    .map_err(StoreError::from)?;
    let id = conn.last_insert_rowid();
    get(conn, id)?.ok_or(MonitorError::NoSuchCheck { id })
}

pub(crate) fn update(conn: &Connection, c: &CheckConfig) -> Result<(), MonitorError> {
    validate(&c.provider, &c.name, &c.operation, c.interval, c.timeout, c.expect_status, c.body.as_ref())?;
    let n = conn
        .execute(
            "UPDATE monitor_checks SET name = ?2, kind = ?3, operation = ?4, params = ?5, interval_ms = ?6,
                    timeout_ms = ?7, expect_status = ?8, body_pointer = ?9, body_equals = ?10, degraded_ms = ?11,
                    enabled = ?12, updated_at = ?13
             WHERE id = ?1",
            params![
                c.id,
                c.name,
                c.kind.as_str(),
                c.operation,
                params_json(&c.params),
                ms(c.interval),
                ms(c.timeout),
                c.expect_status,
                c.body.as_ref().map(|b| b.pointer.clone()),
                c.body.as_ref().and_then(|b| b.equals.as_ref()).map(Value::to_string),
                c.degraded_above.map(ms),
                c.enabled,
                now_text(),
            ],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                MonitorError::DuplicateCheck { provider: c.provider.clone(), name: c.name.clone() }
            }
            other => MonitorError::Store(other.into()),
        })?;
    if n == 0 {
        return Err(MonitorError::NoSuchCheck { id: c.id });
    }
    Ok(())
}

pub(crate) fn delete(conn: &Connection, id: i64) -> Result<(), MonitorError> {
    let n = conn.execute("DELETE FROM monitor_checks WHERE id = ?1", [id]).map_err(StoreError::from)?;
    if n == 0 {
        return Err(MonitorError::NoSuchCheck { id });
    }
    Ok(())
}

/// Why a probe failed, with a stable kind (the pipeline's `CallError::kind()` for the default
/// runner: "timeout", "network", "http", "badResponse", …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    pub kind: String,
    pub message: String,
}

/// What a runner saw. The monitor judges it against the check ([`judge`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probe {
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    pub latency: Duration,
    /// The parsed JSON body of a 2xx response.
    pub body: Option<Value>,
    /// What a status operation reported.
    pub system: Option<(SystemState, Option<String>)>,
    /// Set when the call failed (an HTTP error status also sets `status`).
    pub error: Option<ProbeError>,
}

impl Probe {
    pub fn ok(status: u16, latency: Duration, body: Option<Value>) -> Self {
        Self { status: Some(status), latency, body, ..Self::default() }
    }

    pub fn failed(kind: &str, message: impl Into<String>, latency: Duration) -> Self {
        Self { latency, error: Some(ProbeError { kind: kind.to_string(), message: message.into() }), ..Self::default() }
    }
}

/// Maintenance reported by a status check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub state: SystemState,
    pub message: Option<String>,
}

/// One judged result of a scheduled check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub check_id: i64,
    pub provider: String,
    pub operation: String,
    pub kind: CheckKind,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub status: Option<u16>,
    pub latency: Duration,
    /// Slower than the check's `degraded_above`.
    pub slow: bool,
    /// What a status check reported (any state, normal included).
    pub system: Option<(SystemState, Option<String>)>,
    pub error: Option<ProbeError>,
}

impl CheckResult {
    /// The maintenance this result announces, if any.
    pub fn maintenance(&self) -> Option<MaintenanceReport> {
        match &self.system {
            Some((state @ (SystemState::Maintenance | SystemState::CancelOnly | SystemState::PostOnly), message)) => {
                Some(MaintenanceReport { state: *state, message: message.clone() })
            }
            _ => None,
        }
    }

    /// The state machine's view of this result.
    pub fn observation(&self) -> Observation {
        Observation {
            at: self.at,
            source: Source::Check(self.check_id),
            label: self.operation.clone(),
            ok: self.ok,
            latency: self.latency,
            slow: self.slow,
            system: self.system.clone(),
            error: self.error.as_ref().map(|e| e.message.clone()),
        }
    }
}

fn describe(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}…", &s[..s.char_indices().nth(80).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

/// Judges a probe: expected status, body condition, latency threshold, maintenance.
pub fn judge(check: &CheckConfig, probe: Probe, at: DateTime<Utc>) -> CheckResult {
    let mut result = CheckResult {
        check_id: check.id,
        provider: check.provider.clone(),
        operation: check.operation.clone(),
        kind: check.kind,
        at,
        ok: false,
        status: probe.status,
        latency: probe.latency,
        slow: false,
        system: None,
        error: None,
    };
    let fail = |kind: &str, message: String| Some(ProbeError { kind: kind.to_string(), message });
    let status_matches = match (probe.status, check.expect_status) {
        (Some(s), Some(want)) => s == want,
        (Some(s), None) => (200..300).contains(&s),
        (None, _) => false,
    };
    match (&probe.error, probe.status) {
        // The status alone decides when the runner saw one (an expected 404, an unexpected 503).
        (Some(_), Some(_)) | (None, Some(_)) if !status_matches => {
            let s = probe.status.unwrap_or_default();
            let want = check.expect_status.map_or_else(|| "2xx".to_string(), |w| w.to_string());
            let detail = probe.error.as_ref().map(|e| format!(": {}", e.message)).unwrap_or_default();
            result.error = fail("status", format!("HTTP {s}, expected {want}{detail}"));
            return result;
        }
        (Some(e), None) => {
            result.error = Some(e.clone());
            return result;
        }
        (Some(e), Some(_)) if e.kind != "http" => {
            result.error = Some(e.clone());
            return result;
        }
        (None, None) => {
            result.error = fail("internal", "the runner reported neither a status nor an error".into());
            return result;
        }
        _ => {}
    }
    if let Some(cond) = &check.body {
        let found = probe.body.as_ref().and_then(|b| b.pointer(&cond.pointer));
        match (found, &cond.equals) {
            (None, _) => {
                result.error = fail("body", format!("the body has no {}", cond.pointer));
                return result;
            }
            (Some(v), Some(want)) if v != want => {
                result.error =
                    fail("body", format!("body {} is {}, expected {}", cond.pointer, describe(v), describe(want)));
                return result;
            }
            _ => {}
        }
    }
    result.ok = true;
    result.slow = check.degraded_above.is_some_and(|t| probe.latency > t);
    if check.kind == CheckKind::Status {
        result.system = probe.system;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check() -> CheckConfig {
        CheckConfig {
            id: 7,
            provider: "binance".into(),
            name: "server_time".into(),
            kind: CheckKind::Operation,
            operation: "server_time".into(),
            params: BTreeMap::new(),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            expect_status: None,
            body: None,
            degraded_above: None,
            enabled: true,
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    #[test]
    fn a_2xx_probe_passes_by_default() {
        let r = judge(&check(), Probe::ok(200, Duration::from_millis(40), None), at());
        assert!(r.ok && r.error.is_none() && !r.slow);
    }

    #[test]
    fn an_unexpected_status_fails_with_the_expected_one_in_the_message() {
        let mut p = Probe::failed("http", "service unavailable", Duration::from_millis(5));
        p.status = Some(503);
        let r = judge(&check(), p, at());
        assert!(!r.ok);
        assert_eq!(r.error.map(|e| e.message).as_deref(), Some("HTTP 503, expected 2xx: service unavailable"));
    }

    #[test]
    fn an_expected_non_2xx_status_passes() {
        let mut c = check();
        c.expect_status = Some(404);
        let mut p = Probe::failed("http", "not found", Duration::from_millis(5));
        p.status = Some(404);
        assert!(judge(&c, p, at()).ok);
    }

    #[test]
    fn body_conditions_check_existence_and_equality() {
        let mut c = check();
        c.body = Some(BodyCondition { pointer: "/status".into(), equals: Some(json!(0)) });
        let ok = judge(&c, Probe::ok(200, Duration::ZERO, Some(json!({"status": 0}))), at());
        assert!(ok.ok);
        let wrong = judge(&c, Probe::ok(200, Duration::ZERO, Some(json!({"status": 1}))), at());
        assert_eq!(wrong.error.map(|e| e.message).as_deref(), Some("body /status is 1, expected 0"));
        c.body = Some(BodyCondition { pointer: "/serverTime".into(), equals: None });
        let missing = judge(&c, Probe::ok(200, Duration::ZERO, Some(json!({}))), at());
        assert_eq!(missing.error.map(|e| e.message).as_deref(), Some("the body has no /serverTime"));
    }

    #[test]
    fn latency_above_the_threshold_marks_the_result_slow_but_ok() {
        let mut c = check();
        c.degraded_above = Some(Duration::from_millis(500));
        let r = judge(&c, Probe::ok(200, Duration::from_millis(800), None), at());
        assert!(r.ok && r.slow);
    }

    #[test]
    fn only_status_checks_report_maintenance() {
        let mut p = Probe::ok(200, Duration::ZERO, None);
        p.system = Some((SystemState::Maintenance, Some("upgrade".into())));
        assert!(judge(&check(), p.clone(), at()).maintenance().is_none());
        let mut c = check();
        c.kind = CheckKind::Status;
        let r = judge(&c, p, at());
        assert!(r.ok);
        assert_eq!(r.maintenance().map(|m| m.state), Some(SystemState::Maintenance));
    }

    #[test]
    fn validation_names_the_bad_value() {
        let err = validate("binance", "t", "server_time", Duration::from_millis(10), DEFAULT_TIMEOUT, None, None)
            .expect_err("too short");
        assert!(err.to_string().contains("interval 10 ms"), "{err}");
        let bad = BodyCondition { pointer: "status".into(), equals: None };
        let err =
            validate("binance", "t", "x", DEFAULT_INTERVAL, DEFAULT_TIMEOUT, None, Some(&bad)).expect_err("pointer");
        assert!(err.to_string().contains("\"status\""), "{err}");
    }
}
