//! What this month costs: per provider, its plan, the units used and left, month-to-date cost
//! (fee + metered + overage), the cost at the current pace by the month's end, when the
//! included units run out, the budget, and who spent it (keys and callers, bots included).
//!
//! The billing period is the calendar month in UTC, as CoinMarketCap, CoinGecko and Alpha
//! Vantage count theirs. Units and metered cost come from the recorded calls (raw rows and
//! rollups, so a month survives the raw rows' pruning); the fee and overage come from the plan
//! in the provider's spec ([`crate::provider::billing`]).

use chrono::{DateTime, Datelike, TimeZone, Utc};

use super::{GroupBy, UsageError, UsageQuery, UsageReader, UsageRow};
use crate::provider::billing::{PlanModel, PlanSpec};
use crate::provider::ProviderSpec;

/// A plan as the Usage page shows and picks it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PlanView {
    /// The plan's id in the spec (`hobbyist`); empty for the implied free plan.
    pub id: String,
    pub name: String,
    pub model: PlanModel,
    pub monthly_fee: f64,
    /// Units included per month; 0: none.
    #[ts(type = "number")]
    pub included: u64,
    pub unit_price: f64,
    pub hard_cap: bool,
    pub requests_per_minute: Option<u32>,
    /// `calls` or `credits`.
    pub unit: String,
}

impl PlanView {
    fn of(id: &str, p: &PlanSpec) -> PlanView {
        PlanView {
            id: id.to_string(),
            name: p.name.clone(),
            model: p.model,
            monthly_fee: p.monthly_fee,
            included: p.included,
            unit_price: p.unit_price,
            hard_cap: p.hard_cap,
            requests_per_minute: p.requests_per_minute,
            unit: p.model.unit().to_string(),
        }
    }
}

/// One key's or caller's share of a provider's month.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BillShare {
    /// The key label (or `(no key)`), or the caller (`ui`, `cli`, a bot).
    pub group: String,
    #[ts(type = "number")]
    pub calls: u64,
    pub units: f64,
    /// Its share of the month's cost, in proportion to its units.
    pub cost: f64,
}

/// One provider's month.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ProviderBill {
    pub provider: String,
    pub name: String,
    pub enabled: bool,
    pub currency: String,
    pub plan: PlanView,
    /// Every plan the provider's spec offers, to choose from.
    pub plans: Vec<PlanView>,
    /// Every attempt this month, billed or not.
    #[ts(type = "number")]
    pub calls: u64,
    #[ts(type = "number")]
    pub throttled: u64,
    /// Billed units this month.
    pub units: f64,
    /// Included units not used yet; `null` when the plan includes none.
    pub included_left: Option<f64>,
    /// Percent of the included units used; `null` when the plan includes none.
    pub quota_used_pct: Option<f64>,
    pub overage_units: f64,
    /// Month to date: fee + metered + overage.
    pub cost: f64,
    /// Units and cost at the month's end if the pace so far goes on.
    pub projected_units: f64,
    pub projected_cost: f64,
    /// When the included units run out at the pace so far (RFC 3339); `null` when they last
    /// the month or the plan includes none.
    pub runs_out_at: Option<String>,
    pub budget: Option<f64>,
    pub budget_used_pct: Option<f64>,
    pub alert_at: Vec<u32>,
    pub by_key: Vec<BillShare>,
    pub by_caller: Vec<BillShare>,
}

/// A currency's total over the providers billed in it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MoneyTotal {
    pub currency: String,
    pub cost: f64,
    pub projected_cost: f64,
    pub budget: Option<f64>,
}

/// The month: what the Usage page's billing panel and `keyward usage billing` show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BillingView {
    /// `2026-12`.
    pub month: String,
    /// RFC 3339 UTC: the month's first instant, the next month's first, and now.
    pub period_start: String,
    pub period_end: String,
    pub as_of: String,
    /// Providers with a plan that are enabled or were used this month, and any provider with a
    /// cost this month; the most expensive first.
    pub providers: Vec<ProviderBill>,
    pub totals: Vec<MoneyTotal>,
}

/// A provider's plan and budget as the Usage page's form edits them: the plan in use and its
/// prices, the monthly budget (`null`: none) and the percentages that alert.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BillingEdit {
    pub plan: String,
    pub monthly_fee: f64,
    #[ts(type = "number")]
    pub included: u64,
    pub unit_price: f64,
    pub budget: Option<f64>,
    pub alert_at: Vec<u32>,
}

impl BillingEdit {
    /// Applies the edit to `spec` (choosing another plan sets its rate limits when the spec is
    /// stored); the spec's validation names any bad field and value.
    pub fn apply_to(&self, spec: &mut ProviderSpec) {
        let b = &mut spec.billing;
        b.plan = self.plan.clone();
        if let Some(p) = b.plans.get_mut(&self.plan) {
            p.monthly_fee = self.monthly_fee;
            p.included = self.included;
            p.unit_price = self.unit_price;
        }
        b.budget = self.budget;
        let mut alert_at = self.alert_at.clone();
        alert_at.sort_unstable();
        alert_at.dedup();
        b.alert_at = alert_at;
    }
}

/// The calendar month (UTC) holding `now`: its start and the next month's start.
pub fn month_of(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(now);
    let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
    let end = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(now);
    (start, end)
}

/// One provider's month up to `now`. `rows` are its month's rows by key and by caller.
pub fn bill(
    spec: &ProviderSpec,
    enabled: bool,
    by_key: &[UsageRow],
    by_caller: &[UsageRow],
    now: DateTime<Utc>,
) -> ProviderBill {
    let (start, end) = month_of(now);
    let billing = &spec.billing;
    let plan = billing.current_plan();
    let total = super::totals(by_key);
    let units = total.units;
    let cost = plan.month_cost(units, total.cost);
    // The pace so far, carried to the month's end.
    let elapsed = (now - start).num_milliseconds().max(1) as f64;
    let whole = (end - start).num_milliseconds().max(1) as f64;
    let projected_units = units * whole / elapsed;
    let projected_metered = total.cost * whole / elapsed;
    let projected_cost = plan.month_cost(projected_units, projected_metered);
    let (included_left, quota_used_pct, runs_out_at) = if plan.included > 0 {
        let included = plan.included as f64;
        let runs_out = if units >= included {
            Some(now)
        } else if projected_units > included && units > 0.0 {
            let at_ms = elapsed * included / units;
            Some(start + chrono::Duration::milliseconds(at_ms as i64))
        } else {
            None
        };
        (Some((included - units).max(0.0)), Some(units / included * 100.0), runs_out.map(crate::store::fmt_ts))
    } else {
        (None, None, None)
    };
    let share = |rows: &[UsageRow]| -> Vec<BillShare> {
        rows.iter()
            .map(|r| BillShare {
                group: r.group.clone(),
                calls: r.calls,
                units: r.units,
                cost: if units > 0.0 { cost * r.units / units } else { 0.0 },
            })
            .collect()
    };
    ProviderBill {
        provider: spec.id.clone(),
        name: spec.name.clone(),
        enabled,
        currency: billing.currency.clone(),
        plan: PlanView::of(&billing.plan, &plan),
        plans: billing.plans.iter().map(|(id, p)| PlanView::of(id, p)).collect(),
        calls: total.calls,
        throttled: total.throttled,
        units,
        included_left,
        quota_used_pct,
        overage_units: plan.overage_units(units),
        cost,
        projected_units,
        projected_cost,
        runs_out_at,
        budget: billing.budget,
        budget_used_pct: billing.budget.map(|b| cost / b * 100.0),
        alert_at: billing.alert_at.clone(),
        by_key: share(by_key),
        by_caller: share(by_caller),
    }
}

impl UsageReader {
    /// The month holding `now` for `providers` (spec, enabled): see [`BillingView`].
    pub fn billing(&self, providers: &[(ProviderSpec, bool)], now: DateTime<Utc>) -> Result<BillingView, UsageError> {
        let (start, end) = month_of(now);
        let month = UsageQuery {
            since: start,
            until: now.max(start + chrono::Duration::seconds(1)),
            provider: None,
            group_by: GroupBy::Provider,
        };
        let used: std::collections::HashMap<String, UsageRow> =
            self.summary(&month)?.into_iter().map(|r| (r.group.clone(), r)).collect();
        let mut bills = Vec::new();
        for (spec, enabled) in providers {
            let row = used.get(&spec.id);
            let has_plan = !spec.billing.plans.is_empty();
            let spent = row.is_some_and(|r| r.cost > 0.0);
            if !(spent || has_plan && (*enabled || row.is_some())) {
                continue;
            }
            let q = |group_by| UsageQuery { provider: Some(spec.id.clone()), group_by, ..month.clone() };
            let (by_key, by_caller) = if row.is_some() {
                (self.summary(&q(GroupBy::Key))?, self.summary(&q(GroupBy::Caller))?)
            } else {
                (Vec::new(), Vec::new())
            };
            bills.push(bill(spec, *enabled, &by_key, &by_caller, now));
        }
        bills.sort_by(|a, b| b.cost.total_cmp(&a.cost).then_with(|| a.provider.cmp(&b.provider)));
        let mut totals: Vec<MoneyTotal> = Vec::new();
        for b in &bills {
            match totals.iter_mut().find(|t| t.currency == b.currency) {
                Some(t) => {
                    t.cost += b.cost;
                    t.projected_cost += b.projected_cost;
                    t.budget = match (t.budget, b.budget) {
                        (Some(x), Some(y)) => Some(x + y),
                        (x, y) => x.or(y),
                    };
                }
                None => totals.push(MoneyTotal {
                    currency: b.currency.clone(),
                    cost: b.cost,
                    projected_cost: b.projected_cost,
                    budget: b.budget,
                }),
            }
        }
        Ok(BillingView {
            month: start.format("%Y-%m").to_string(),
            period_start: crate::store::fmt_ts(start),
            period_end: crate::store::fmt_ts(end),
            as_of: crate::store::fmt_ts(now),
            providers: bills,
            totals,
        })
    }
}

/// The highest of `alert_at` that `used_pct` reached, if any.
pub fn crossed(alert_at: &[u32], used_pct: f64) -> Option<u32> {
    alert_at.iter().copied().filter(|&p| used_pct >= f64::from(p)).max()
}
