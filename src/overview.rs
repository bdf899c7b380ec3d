//! The control room at a glance: one view answering "is everything OK, and what needs me?"
//! for the desktop's dashboard, the tray menu and `keyward overview`. Built from what the
//! other parts already know (monitoring, the limiter, alerts, usage, keys, the gateway); it
//! reads, it never changes anything.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::AlertView;
use crate::gateway::stats::BotStats;
use crate::ratelimit::LimitView;
use crate::{Error, Keyward};

/// How many of the tightest limits, newest alerts and keys needing attention the view holds.
pub const TIGHTEST_LIMITS: usize = 5;
pub const LATEST_ALERTS: usize = 3;

/// Everything the dashboard shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct OverviewView {
    /// RFC 3339.
    pub generated_at: String,
    /// "ok", "warn", "critical", or "empty" (no provider enabled yet).
    pub overall: String,
    /// One line for the state: "All 3 providers up", "Binance is down".
    pub headline: String,
    /// Each enabled provider, the worst first.
    pub providers: Vec<ProviderTile>,
    /// The fullest limits (percent of the exchange's limit), the fullest first.
    pub limits: Vec<LimitView>,
    pub alerts: AlertsTile,
    /// The last 24 hours' calls.
    pub today: TodayTile,
    pub keys: KeysTile,
    pub gateway: GatewayTile,
}

/// An enabled provider's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderTile {
    pub id: String,
    pub name: String,
    pub environment: String,
    /// "up", "degraded", "down", "maintenance", or "unknown" (not checked yet).
    pub state: String,
    pub cause: String,
    /// The last check's latency.
    #[ts(type = "number | null")]
    pub latency_ms: Option<u64>,
    pub uptime24h: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AlertsTile {
    pub open: u32,
    pub unacknowledged: u32,
    /// The worst severity among unacknowledged alerts: "info", "warning", "critical".
    pub worst: Option<String>,
    /// The newest open alerts.
    pub latest: Vec<AlertView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TodayTile {
    #[ts(type = "number")]
    pub calls: u64,
    #[ts(type = "number")]
    pub errors: u64,
    #[ts(type = "number")]
    pub throttled: u64,
    pub cost: f64,
    /// `null` when the providers bill in several currencies.
    pub currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeysTile {
    pub total: u32,
    /// Each reason a key needs the user, a line each.
    pub attention: Vec<KeyAttention>,
}

/// A key that needs the user, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeyAttention {
    pub provider: String,
    pub label: String,
    /// "expired", "rotation_due", or a permission risk's id ("withdrawals_enabled",
    /// "no_ip_restriction", "key_expiring", "trading_authority_expiring", "wider_than_declared").
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GatewayTile {
    /// Where bots reach it; `null` while it is not listening in this process.
    pub url: Option<String>,
    /// The bots that called through it since it started, the busiest first.
    pub bots: Vec<BotStats>,
}

/// How bad a provider state is, for ordering (worst first) and the overall state.
fn state_rank(state: &str) -> u8 {
    match state {
        "down" => 4,
        "degraded" => 3,
        "maintenance" => 2,
        "unknown" => 1,
        _ => 0,
    }
}

impl Keyward {
    /// The dashboard's view, with this process's queued records written first. Blocking (SQLite).
    pub fn overview(&self) -> Result<OverviewView, Error> {
        let now = self.inner.monitor.clock().now();
        let cfg = |e: &dyn std::fmt::Display| Error::Config(e.to_string());
        let entries = self.providers().list().map_err(|e| cfg(&e))?;
        let statuses = self.provider_statuses().map_err(|e| cfg(&e))?;
        let mut providers: Vec<ProviderTile> = entries
            .iter()
            .filter(|e| e.enabled)
            .map(|e| {
                let status = statuses.iter().find(|s| s.provider == e.spec.id);
                ProviderTile {
                    id: e.spec.id.clone(),
                    name: e.spec.name.clone(),
                    environment: e.environment.clone(),
                    state: status.map_or_else(|| "unknown".into(), |s| s.state.clone()),
                    cause: status.map_or_else(|| "not checked yet".into(), |s| s.cause.clone()),
                    latency_ms: status.and_then(|s| s.last_check.as_ref()).map(|c| c.latency_ms),
                    uptime24h: status.and_then(|s| s.uptime24h),
                }
            })
            .collect();
        providers.sort_by(|a, b| state_rank(&b.state).cmp(&state_rank(&a.state)).then_with(|| a.name.cmp(&b.name)));

        let limits = tightest(self.limiter().snapshot().iter().map(LimitView::from).collect());

        let summary = self.alerts().summary().map_err(|e| cfg(&e))?;
        let mut open = self.alerts().active().map_err(|e| cfg(&e))?;
        open.sort_by_key(|a| std::cmp::Reverse(a.ts));
        let alerts = AlertsTile {
            open: summary.open,
            unacknowledged: summary.unacknowledged,
            worst: summary.worst.map(|s| s.as_str().to_string()),
            latest: open.iter().take(LATEST_ALERTS).map(AlertView::from).collect(),
        };

        let table = self
            .usage_table(crate::usage::UsageRange::Day, crate::usage::GroupBy::Provider, None)
            .map_err(|e| cfg(&e))?;
        let today = TodayTile {
            calls: table.totals.calls,
            errors: table.totals.errors,
            throttled: table.totals.throttled,
            cost: table.totals.cost,
            currency: table.currency,
        };

        let keys = self.keys().list(None).map_err(|e| cfg(&e))?;
        let keys = KeysTile {
            total: u32::try_from(keys.len()).unwrap_or(u32::MAX),
            attention: keys.iter().flat_map(|k| key_attention(k, now)).collect(),
        };

        let gateway = GatewayTile {
            url: self.gateway().listening_as().map(|l| l.url()),
            bots: self.gateway().stats().snapshot(),
        };

        let (overall, headline) = overall(&providers, &limits, &alerts);
        Ok(OverviewView {
            generated_at: now.to_rfc3339(),
            overall: overall.into(),
            headline,
            providers,
            limits,
            alerts,
            today,
            keys,
            gateway,
        })
    }
}

impl OverviewView {
    /// The same view with the limits of the budget that is live elsewhere (a `keyward serve`
    /// or the app on this data directory, read over the control API by `keyward overview`).
    pub fn with_limits(mut self, limits: Vec<LimitView>) -> Self {
        self.limits = tightest(limits);
        let (overall, headline) = overall(&self.providers, &self.limits, &self.alerts);
        self.overall = overall.into();
        self.headline = headline;
        self
    }
}

/// Banned and paused limits first, then the fullest; [`TIGHTEST_LIMITS`] of them.
fn tightest(mut limits: Vec<LimitView>) -> Vec<LimitView> {
    limits.sort_by(|a, b| {
        (b.banned, b.paused_for_ms.is_some())
            .cmp(&(a.banned, a.paused_for_ms.is_some()))
            .then_with(|| b.percent.partial_cmp(&a.percent).unwrap_or(std::cmp::Ordering::Equal))
    });
    limits.truncate(TIGHTEST_LIMITS);
    limits
}

/// Why one key needs the user: expired, rotation due, and its permission risks.
fn key_attention(k: &crate::keys::KeyRecord, now: DateTime<Utc>) -> Vec<KeyAttention> {
    let line = |reason: &str, message: String| KeyAttention {
        provider: k.provider.clone(),
        label: k.label.clone(),
        reason: reason.into(),
        message,
    };
    let mut out = Vec::new();
    if k.is_expired(now) {
        out.push(line("expired", "the key has expired; add its replacement".into()));
    } else if k.rotation_due(now) {
        out.push(line("rotation_due", format!("rotation is due (every {} days)", k.rotation_days)));
    }
    out.extend(k.risks(now).iter().map(|r| line(r.id(), r.message())));
    out
}

/// The overall state and its one-line headline.
fn overall(providers: &[ProviderTile], limits: &[LimitView], alerts: &AlertsTile) -> (&'static str, String) {
    if providers.is_empty() {
        return ("empty", "No provider enabled yet".into());
    }
    let worst = providers.first().map_or(0, |p| state_rank(&p.state));
    let limit_level = limits.first().map_or("normal", |l| l.state.as_str());
    let critical =
        worst >= 4 || matches!(limit_level, "banned" | "critical") || alerts.worst.as_deref() == Some("critical");
    let warn = worst >= 2 || matches!(limit_level, "paused" | "warn") || alerts.worst.as_deref() == Some("warning");
    let named =
        |state: &str| providers.iter().filter(|p| p.state == state).map(|p| p.name.as_str()).collect::<Vec<_>>();
    let list = |names: Vec<&str>| match names.as_slice() {
        [one] => format!("{one} is"),
        _ => format!("{} are", names.join(", ")),
    };
    let headline = if worst >= 2 {
        let state = providers[0].state.as_str();
        format!("{} {state}", list(named(state)))
    } else if let Some(l) = limits.first().filter(|l| l.state != "normal") {
        match l.state.as_str() {
            "banned" => format!("{} banned this IP", l.provider),
            "paused" => format!("{} is pausing calls (429)", l.provider),
            _ => format!("{} {} at {:.0} %", l.provider, l.limit_id, l.percent),
        }
    } else if let Some(title) = alerts.latest.iter().find(|a| a.state == "active").map(|a| a.title.clone()) {
        title
    } else if worst == 1 {
        let n = named("unknown").len();
        format!("{n} of {} providers not checked yet", providers.len())
    } else {
        match providers.len() {
            1 => format!("{} is up", providers[0].name),
            n => format!("All {n} providers up"),
        }
    };
    (
        if critical {
            "critical"
        } else if warn {
            "warn"
        } else {
            "ok"
        },
        headline,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(name: &str, state: &str) -> ProviderTile {
        ProviderTile {
            id: name.to_lowercase(),
            name: name.into(),
            environment: "production".into(),
            state: state.into(),
            cause: String::new(),
            latency_ms: None,
            uptime24h: None,
        }
    }

    fn no_alerts() -> AlertsTile {
        AlertsTile { open: 0, unacknowledged: 0, worst: None, latest: vec![] }
    }

    #[test]
    fn the_headline_names_what_needs_the_user_first() {
        assert_eq!(overall(&[], &[], &no_alerts()), ("empty", "No provider enabled yet".into()));
        let up = [tile("Binance", "up"), tile("Kraken", "up")];
        assert_eq!(overall(&up, &[], &no_alerts()), ("ok", "All 2 providers up".into()));
        let down = [tile("Kraken", "down"), tile("OKX", "down"), tile("Binance", "up")];
        assert_eq!(overall(&down, &[], &no_alerts()), ("critical", "Kraken, OKX are down".into()));
        let degraded = [tile("Kraken", "degraded"), tile("Binance", "up")];
        assert_eq!(overall(&degraded, &[], &no_alerts()), ("warn", "Kraken is degraded".into()));
        let unchecked = [tile("Kraken", "unknown"), tile("Binance", "up")];
        assert_eq!(overall(&unchecked, &[], &no_alerts()), ("ok", "1 of 2 providers not checked yet".into()));
        let alerts = AlertsTile { worst: Some("critical".into()), ..no_alerts() };
        assert_eq!(overall(&up, &[], &alerts).0, "critical", "an open critical alert is critical");
    }
}
