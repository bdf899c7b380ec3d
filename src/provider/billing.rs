//! What a provider bills: its plans (free, per call, credits, monthly calls with overage,
//! requests per minute), which answers count, and how many units (calls or credits) each
//! answer costs — the spec's `[billing]` table.
//!
//! ```toml
//! [billing]
//! currency = "USD"                      # ISO 4217, shown with every cost
//! bills = "ok"                          # "ok": successful answers only; "answered": every answer
//! credit_count = "status.credit_count"  # the provider's own count in each answer, preferred
//! plan = "basic"                        # the plan in use, a key of `plans`
//! budget = 50.0                         # monthly budget in `currency` (optional)
//! alert_at = [50, 80, 100]              # budget percentages that raise an alert
//!
//! [billing.plans.basic]
//! name = "Basic"
//! model = "credits"                     # free | per_call | credits | monthly | per_minute
//! monthly_fee = 0.0
//! included = 10000                      # units included per month
//! unit_price = 0.0                      # per unit past `included` (every unit when 0 are included)
//! hard_cap = true                       # past `included` the provider refuses instead of billing
//! requests_per_minute = 30
//! ```
//!
//! An endpoint's units are its `credits` (1 by default), times one more for every `per` items
//! its answer returns at `credits_per_items.path` (CoinMarketCap: a credit per 100 data points).
//!
//! The month's cost is `monthly_fee` + the metered cost of every billed unit (plans without
//! included units) + `unit_price` × the units past `included` (plans with included units and no
//! hard cap). Units and metered cost are recorded with each call; the fee and overage are
//! worked out for the month by [`crate::usage::billing`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which answers the provider bills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Billed {
    /// Successful answers only (CoinMarketCap: errors are not billed).
    #[default]
    Ok,
    /// Every answer, errors included (CoinGecko counts them); never throttled answers.
    Answered,
}

/// How a plan charges; what the UI and CLI call it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum PlanModel {
    #[default]
    Free,
    /// Pay as you go: every unit at `unit_price`.
    PerCall,
    /// Monthly credits, with endpoints costing different numbers of them.
    Credits,
    /// A monthly fee with included calls and an overage price.
    Monthly,
    /// A monthly fee for a requests-per-minute allowance, no monthly cap (Alpha Vantage premium).
    PerMinute,
}

impl PlanModel {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanModel::Free => "free",
            PlanModel::PerCall => "per_call",
            PlanModel::Credits => "credits",
            PlanModel::Monthly => "monthly",
            PlanModel::PerMinute => "per_minute",
        }
    }

    /// What one unit is called.
    pub fn unit(self) -> &'static str {
        match self {
            PlanModel::Credits => "credits",
            _ => "calls",
        }
    }
}

/// One plan a provider sells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    pub name: String,
    #[serde(default)]
    pub model: PlanModel,
    #[serde(default)]
    pub monthly_fee: f64,
    /// Units included per month; 0 = none (every unit is metered at `unit_price`).
    #[serde(default)]
    pub included: u64,
    #[serde(default)]
    pub unit_price: f64,
    /// Past `included` the provider refuses (no overage is billed).
    #[serde(default)]
    pub hard_cap: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Rate-limit rules this plan sets when chosen: rule id → its limit (the plan's monthly
    /// credits, its per-minute allowance).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, u64>,
}

impl PlanSpec {
    /// A plan that bills nothing.
    pub fn free() -> PlanSpec {
        PlanSpec {
            name: "Free".into(),
            model: PlanModel::Free,
            monthly_fee: 0.0,
            included: 0,
            unit_price: 0.0,
            hard_cap: false,
            requests_per_minute: None,
            limits: BTreeMap::new(),
        }
    }

    /// The metered cost of `units` billed units, recorded with the call: every unit on plans
    /// without included units, none on plans with them (their overage is worked out per month).
    pub fn metered(&self, units: f64) -> f64 {
        if self.included == 0 {
            units * self.unit_price
        } else {
            0.0
        }
    }

    /// The month's cost for `units` billed units whose metered cost was `metered`.
    pub fn month_cost(&self, units: f64, metered: f64) -> f64 {
        self.monthly_fee + metered + self.overage_cost(units)
    }

    /// The units past `included` that are billed (none under a hard cap).
    pub fn overage_units(&self, units: f64) -> f64 {
        if self.included == 0 || self.hard_cap {
            0.0
        } else {
            (units - self.included as f64).max(0.0)
        }
    }

    pub fn overage_cost(&self, units: f64) -> f64 {
        self.overage_units(units) * self.unit_price
    }
}

/// Extra credits for answers with many items: one more credit for every `per` items at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditsPerItems {
    /// Dotted path to the array or object whose entries are counted (`data`).
    pub path: String,
    pub per: u32,
}

fn default_currency() -> String {
    "USD".into()
}

pub fn default_alert_at() -> Vec<u32> {
    vec![50, 80, 100]
}

/// The `[billing]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSpec {
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub bills: Billed,
    /// Dotted path of the provider's own credit count in an answer (`status.credit_count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_count: Option<String>,
    /// The plan in use; empty: free.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plan: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plans: BTreeMap<String, PlanSpec>,
    /// Monthly budget in `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    #[serde(default = "default_alert_at")]
    pub alert_at: Vec<u32>,
}

impl Default for BillingSpec {
    fn default() -> Self {
        BillingSpec {
            currency: default_currency(),
            bills: Billed::Ok,
            credit_count: None,
            plan: String::new(),
            plans: BTreeMap::new(),
            budget: None,
            alert_at: default_alert_at(),
        }
    }
}

impl BillingSpec {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The plan in use (free when none is chosen).
    pub fn current_plan(&self) -> std::borrow::Cow<'_, PlanSpec> {
        match self.plans.get(&self.plan) {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(PlanSpec::free()),
        }
    }

    /// Whether an answer is billed: `status` is the HTTP status (none: no answer), `ok`
    /// whether the call succeeded, `throttled` whether the provider refused it for its rate or
    /// quota (429, 418, an Alpha Vantage note), which is never billed.
    pub fn billed(&self, status: Option<u16>, ok: bool, throttled: bool) -> bool {
        if throttled || status.is_none() {
            return false;
        }
        match self.bills {
            Billed::Ok => ok,
            Billed::Answered => true,
        }
    }

    /// The units an answer costs: the provider's own count when the answer has one, else the
    /// endpoint's credits, times the blocks of items it returned.
    pub fn units(&self, credits: f64, per_items: Option<&CreditsPerItems>, body: Option<&serde_json::Value>) -> f64 {
        if let (Some(path), Some(body)) = (&self.credit_count, body) {
            if let Some(n) = lookup(body, path).and_then(serde_json::Value::as_f64) {
                return n.max(0.0);
            }
        }
        let blocks = match (per_items, body) {
            (Some(p), Some(body)) if p.per > 0 => {
                let items = match lookup(body, &p.path) {
                    Some(serde_json::Value::Array(a)) => a.len(),
                    Some(serde_json::Value::Object(o)) => o.len(),
                    _ => 0,
                };
                items.div_ceil(p.per as usize).max(1) as f64
            }
            _ => 1.0,
        };
        credits * blocks
    }

    /// Whether units need the answer's body (a provider count or items to count).
    pub fn reads_body(&self, per_items: Option<&CreditsPerItems>) -> bool {
        self.credit_count.is_some() || per_items.is_some()
    }
}

impl super::ProviderSpec {
    /// Sets the rate-limit rules the chosen plan declares to the plan's figures.
    pub fn apply_plan_limits(&mut self) {
        let Some(plan) = self.billing.plans.get(&self.billing.plan) else { return };
        for (rule, limit) in &plan.limits {
            if let Some(r) = self.rate_limits.iter_mut().find(|r| &r.id == rule) {
                r.limit = *limit as f64;
            }
        }
    }
}

/// The value at a dotted path (`status.credit_count`).
fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(v, |v, part| match v {
        serde_json::Value::Object(o) => o.get(part),
        serde_json::Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan(model: PlanModel, fee: f64, included: u64, unit_price: f64, hard_cap: bool) -> PlanSpec {
        PlanSpec { model, monthly_fee: fee, included, unit_price, hard_cap, ..PlanSpec::free() }
    }

    #[test]
    fn a_monthly_plan_bills_its_fee_and_the_calls_past_what_it_includes() {
        // CoinGecko's published overage: $250 per 500,000 calls past the plan's credits.
        let analyst = plan(PlanModel::Monthly, 129.0, 500_000, 250.0 / 500_000.0, false);
        assert_eq!(analyst.month_cost(400_000.0, 0.0), 129.0);
        assert!((analyst.month_cost(600_000.0, 0.0) - (129.0 + 50.0)).abs() < 1e-9);
        assert_eq!(analyst.overage_units(600_000.0), 100_000.0);
        assert_eq!(analyst.metered(1.0), 0.0, "included calls cost nothing one by one");
    }

    #[test]
    fn a_hard_capped_plan_never_bills_overage_and_pay_as_you_go_bills_every_unit() {
        let basic = plan(PlanModel::Credits, 0.0, 10_000, 0.0, true);
        assert_eq!(basic.month_cost(25_000.0, 0.0), 0.0);
        let hobbyist = plan(PlanModel::Credits, 29.0, 110_000, 0.001, true);
        assert_eq!(hobbyist.month_cost(200_000.0, 0.0), 29.0);
        let metered = plan(PlanModel::PerCall, 0.0, 0, 0.002, false);
        assert!((metered.metered(3.0) - 0.006).abs() < 1e-12);
        assert!((metered.month_cost(3.0, metered.metered(3.0)) - 0.006).abs() < 1e-12);
        let av = plan(PlanModel::PerMinute, 49.99, 0, 0.0, false);
        assert_eq!(av.month_cost(1_000_000.0, 0.0), 49.99, "a per-minute plan is its fee");
    }

    #[test]
    fn coinmarketcaps_own_credit_count_wins_and_blocks_of_items_count_otherwise() {
        let cmc = BillingSpec { credit_count: Some("status.credit_count".into()), ..BillingSpec::default() };
        let per = CreditsPerItems { path: "data".into(), per: 100 };
        let answered = json!({"status": {"credit_count": 3}, "data": [1, 2]});
        assert_eq!(cmc.units(1.0, Some(&per), Some(&answered)), 3.0);
        let silent = BillingSpec::default();
        let items: Vec<u32> = (0..250).collect();
        assert_eq!(silent.units(1.0, Some(&per), Some(&json!({ "data": items }))), 3.0, "250 items: 3 blocks of 100");
        assert_eq!(silent.units(1.0, Some(&per), Some(&json!({"data": {"BTC": {}, "ETH": {}}}))), 1.0);
        assert_eq!(silent.units(2.0, None, None), 2.0);
    }

    #[test]
    fn only_what_the_provider_bills_is_billed() {
        let ok_only = BillingSpec::default();
        assert!(ok_only.billed(Some(200), true, false));
        assert!(!ok_only.billed(Some(400), false, false), "errors are not billed");
        assert!(!ok_only.billed(Some(200), false, true), "a throttled 200 is not billed");
        assert!(!ok_only.billed(None, false, false), "no answer, no bill");
        let every = BillingSpec { bills: Billed::Answered, ..BillingSpec::default() };
        assert!(every.billed(Some(400), false, false));
        assert!(!every.billed(Some(429), false, true));
    }
}
