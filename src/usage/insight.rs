//! Where the forecast and the anomaly detection meet the data: the hourly rollup's queries,
//! the provider spec (quota, trade-class endpoints), the alert rules, and the `Keyward`
//! methods every front end calls. The models themselves are pure ([`super::forecast`],
//! [`super::anomaly`]).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::params_from_iter;

use super::anomaly::{self, Anomaly, DetectInput, HourRow, UsageAnomalies};
use super::forecast::{self, Counted, ForecastInput, UsageForecast};
use super::{UsageError, UsageRange};
use crate::alerts::{AlertError, AlertInput};
use crate::charts::{ChartError, Theme};
use crate::provider::{OperationClass, ProviderError, RateLimitCounts, RateLimitKind};
use crate::store::Store;
use crate::Keyward;

/// The setting holding the last hour (Unix seconds of its start) scanned for anomalies.
pub const SCANNED_SETTING: &str = "usage.anomalies_scanned_hour";
/// How long after an hour ends it is scanned (calls of the hour's last moments are written
/// within a quarter second; other processes' within their own flush).
pub const SCAN_GRACE: chrono::Duration = chrono::Duration::minutes(1);

/// Errors of the forecast, the anomaly scan and their chart.
#[derive(Debug, thiserror::Error)]
pub enum InsightError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Alerts(#[from] AlertError),
    #[error(transparent)]
    Chart(#[from] ChartError),
}

impl InsightError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            InsightError::Usage(e) => e.kind(),
            InsightError::Provider(e) => e.kind(),
            InsightError::Alerts(e) => e.kind(),
            InsightError::Chart(_) => crate::ErrorKind::Internal,
        }
    }
}

fn usage_err(e: crate::store::StoreError) -> InsightError {
    InsightError::Usage(UsageError::Store(e))
}

/// Counted per hour in `[from, to)` (Unix seconds) for one provider or all, only `operations`
/// when not empty; and the first hour anything was counted for that selection.
fn hourly(
    store: &Store,
    provider: Option<&str>,
    counted: Counted,
    operations: &[String],
    from: i64,
    to: i64,
) -> Result<(HashMap<i64, f64>, Option<i64>), InsightError> {
    let mut filter = String::from("1");
    let mut params: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(p) = provider {
        filter.push_str(" AND provider = ?");
        params.push(p.to_string().into());
    }
    if !operations.is_empty() {
        filter.push_str(&format!(" AND operation IN ({})", vec!["?"; operations.len()].join(", ")));
        params.extend(operations.iter().map(|o| rusqlite::types::Value::from(o.clone())));
    }
    let column = counted.column();
    let series_sql =
        format!("SELECT hour, SUM({column}) FROM calls_hourly WHERE hour >= ? AND hour < ? AND {filter} GROUP BY hour");
    let first_sql = format!("SELECT MIN(hour) FROM calls_hourly WHERE {filter}");
    store
        .with_conn(|c| {
            let mut range: Vec<rusqlite::types::Value> = vec![from.into(), to.into()];
            range.extend(params.iter().cloned());
            let mut stmt = c.prepare_cached(&series_sql)?;
            let rows =
                stmt.query_map(params_from_iter(range.iter()), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?)))?;
            let map = rows.collect::<Result<HashMap<_, _>, _>>()?;
            let first: Option<i64> = c.query_row(&first_sql, params_from_iter(params.iter()), |r| r.get(0))?;
            Ok((map, first))
        })
        .map_err(usage_err)
}

/// The rollup's rows in `[from, to)`, summed over environments and callers.
fn rows(store: &Store, from: i64, to: i64) -> Result<(Vec<HourRow>, Option<i64>), InsightError> {
    store
        .with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT hour, provider, operation, key_label, SUM(calls), SUM(errors), SUM(weight)
                 FROM calls_hourly WHERE hour >= ?1 AND hour < ?2 GROUP BY 1, 2, 3, 4",
            )?;
            let rows = stmt.query_map([from, to], |r| {
                Ok(HourRow {
                    hour: r.get(0)?,
                    provider: r.get(1)?,
                    operation: r.get(2)?,
                    key: r.get(3)?,
                    calls: r.get::<_, i64>(4)? as f64,
                    errors: r.get::<_, i64>(5)? as f64,
                    weight: r.get::<_, i64>(6)? as f64,
                })
            })?;
            let rows = rows.collect::<Result<Vec<_>, _>>()?;
            let first: Option<i64> = c.query_row("SELECT MIN(hour) FROM calls_hourly", [], |r| r.get(0))?;
            Ok((rows, first))
        })
        .map_err(usage_err)
}

fn hour_floor(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600) * 3600
}

impl Keyward {
    /// The forecast to the end of this month (UTC) for `provider` (`None` or empty: every
    /// provider), with the calls still queued in this process written first. Blocking.
    pub fn usage_forecast(&self, provider: Option<String>) -> Result<UsageForecast, InsightError> {
        self.pipeline().recorder().flush();
        self.usage_forecast_at(provider, self.monitor().clock().now())
    }

    /// [`Keyward::usage_forecast`] at `now`. A provider whose plan includes units a month is
    /// forecast in billed units against them (the plan is the quota that costs money); else a
    /// provider with a monthly quota (a `monthly_quota` rate-limit rule) is forecast in the
    /// quota's terms: its weight or its requests, of the operations it applies to.
    pub fn usage_forecast_at(
        &self,
        provider: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<UsageForecast, InsightError> {
        let provider = provider.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
        let mut counted = Counted::DEFAULT;
        let mut operations = Vec::new();
        let mut quota = None;
        if let Some(id) = &provider {
            let entry = self.providers().get(id)?;
            let plan = entry.spec.billing.current_plan();
            if plan.included > 0 {
                counted = Counted::Units;
                quota = Some((format!("{} plan", plan.name), plan.included as f64));
            } else if let Some(rule) = entry.spec.rate_limits.iter().find(|r| r.kind == RateLimitKind::MonthlyQuota) {
                counted = match rule.counts {
                    RateLimitCounts::Weight => Counted::Weight,
                    RateLimitCounts::Requests => Counted::Calls,
                };
                operations = rule.applies_to.clone();
                quota = Some((rule.id.clone(), rule.limit));
            }
        }
        let now_hour = hour_floor(now);
        let from = now_hour - forecast::HISTORY_DAYS * 86_400;
        let (_, end) = forecast::billing_period(now);
        let (hourly, first_hour) =
            hourly(self.store(), provider.as_deref(), counted, &operations, from, end.timestamp())?;
        let input = ForecastInput { provider, counted, operations, hourly, first_hour, quota };
        Ok(forecast::forecast(&input, now))
    }

    /// The forecast as an SVG chart (the Usage page).
    pub fn usage_forecast_chart(&self, provider: Option<String>, theme: Theme) -> Result<String, InsightError> {
        let view = self.usage_forecast(provider)?;
        let whose = view.provider.clone().unwrap_or_else(|| "all providers".into());
        let title = format!("{} this month, {whose}", capitalised(&view.counted));
        Ok(crate::charts::forecast_chart(&title, &view, theme, crate::charts::DEFAULT_SIZE)?)
    }

    /// The anomalies of the whole hours in `range` up to now (the current hour is judged once
    /// it has ended), with the calls still queued in this process written first. Blocking.
    pub fn usage_anomalies(&self, range: UsageRange) -> Result<UsageAnomalies, InsightError> {
        self.pipeline().recorder().flush();
        let now = self.monitor().clock().now();
        let to = hour_floor(now);
        let from = hour_floor(now - range.duration());
        let anomalies = self.anomalies_between(from, to)?;
        let at = |s: i64| crate::store::fmt_ts(DateTime::from_timestamp(s, 0).unwrap_or(now));
        Ok(UsageAnomalies {
            range: range.as_str().into(),
            since: at(from),
            until: at(to),
            lookback_days: anomaly::LOOKBACK_DAYS as u32,
            anomalies,
        })
    }

    /// The anomalies of the hours `[from, to)` (Unix seconds of hour starts).
    pub fn anomalies_between(&self, from: i64, to: i64) -> Result<Vec<Anomaly>, InsightError> {
        let (rows, first_hour) = rows(self.store(), from - anomaly::LOOKBACK_DAYS * 86_400, to)?;
        let providers: HashSet<&str> = rows.iter().map(|r| r.provider.as_str()).collect();
        let mut trade_ops = HashSet::new();
        for id in providers {
            // A provider removed since still has its history; it just has no trade endpoints.
            if let Ok(entry) = self.providers().get(id) {
                for (op, ep) in &entry.spec.endpoints {
                    if ep.class == OperationClass::Trade {
                        trade_ops.insert((id.to_string(), op.clone()));
                    }
                }
            }
        }
        Ok(anomaly::detect(&DetectInput { rows, from, to, trade_ops, first_hour }))
    }

    /// Scans the hour that ended at least [`SCAN_GRACE`] before `now`, once: its anomalies go
    /// to the alert rules (one alert per anomaly; the `usage_anomaly` rule's dedup and
    /// cooldown keep a repeat from alarming twice) and the hour is remembered, so a second
    /// call, or a restart, does not scan it again. Returns the anomalies sent. Blocking.
    pub fn scan_usage_anomalies(&self, now: DateTime<Utc>) -> Result<Vec<Anomaly>, InsightError> {
        let hour = hour_floor(now - SCAN_GRACE) - 3600;
        let store = self.store();
        let scanned = store.setting(SCANNED_SETTING).map_err(usage_err)?.and_then(|v| v.parse::<i64>().ok());
        if scanned.is_some_and(|s| s >= hour) {
            return Ok(Vec::new());
        }
        self.pipeline().recorder().flush();
        let found = self.anomalies_between(hour, hour + 3600)?;
        for a in &found {
            let input = AlertInput::UsageAnomaly {
                provider: a.provider.clone(),
                kind: a.kind.clone(),
                operation: a.operation.clone(),
                key: a.key.clone(),
                message: a.message.clone(),
            };
            self.alerts().handle(&input, now)?;
        }
        store.set_setting(SCANNED_SETTING, &hour.to_string()).map_err(usage_err)?;
        if !found.is_empty() {
            tracing::info!(anomalies = found.len(), hour, "usage anomalies found");
        }
        Ok(found)
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
