//! Limits the exchange publishes about itself (Binance `exchangeInfo.rateLimits`), and how they
//! replace the numbers of the spec's rules while Keyward runs.
//!
//! A spec rule takes part when its `published` names the exchange's budget (`REQUEST_WEIGHT`,
//! `ORDERS`, `RAW_REQUESTS`). Rules and published entries of one name are paired shortest
//! window with shortest window, so Binance's two ORDERS budgets (per 10 s and per day) land on
//! the right rules even when the exchange changes a window's length. A changed window also
//! changes the Binance usage header the rule reads (`x-mbx-order-count-1s` →
//! `x-mbx-order-count-10s`). Published entries without a matching rule are reported, not
//! invented into rules: the spec says which operations a budget applies to.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::pipeline::limit::LimitFuture;
use crate::provider::{ProviderSpec, PublishedLimitsFormat, RateLimitKind};

/// Where the limiter learns what a provider publishes about its limits, the first time a call
/// to that provider (enabled or not) asks for budget. The core wires one that reads a stored
/// copy or asks the exchange through the pipeline (`crate::published_limits`).
pub trait PublishedSource: Send + Sync + 'static {
    /// The limits `spec` publishes, or why they could not be read.
    fn limits<'a>(&'a self, spec: &'a ProviderSpec) -> LimitFuture<'a, Result<Vec<PublishedLimit>, String>>;
}

/// One published budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedLimit {
    /// The exchange's name (`REQUEST_WEIGHT`).
    pub name: String,
    pub interval_ms: u64,
    pub limit: f64,
}

/// Reads published limits from an answer in `format`.
pub fn parse(format: PublishedLimitsFormat, body: &Value) -> Result<Vec<PublishedLimit>, String> {
    match format {
        PublishedLimitsFormat::Binance => parse_binance(body),
    }
}

fn parse_binance(body: &Value) -> Result<Vec<PublishedLimit>, String> {
    let list = body
        .get("rateLimits")
        .and_then(Value::as_array)
        .ok_or_else(|| "the answer has no \"rateLimits\" array".to_string())?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let field = |name: &str| v.get(name).ok_or_else(|| format!("rateLimits[{i}] has no \"{name}\""));
            let name =
                field("rateLimitType")?.as_str().ok_or_else(|| format!("rateLimits[{i}].rateLimitType is not text"))?;
            let unit = field("interval")?.as_str().ok_or_else(|| format!("rateLimits[{i}].interval is not text"))?;
            let unit_ms: u64 = match unit {
                "SECOND" => 1_000,
                "MINUTE" => 60_000,
                "HOUR" => 3_600_000,
                "DAY" => 86_400_000,
                other => {
                    return Err(format!("rateLimits[{i}].interval \"{other}\" is not SECOND, MINUTE, HOUR or DAY"))
                }
            };
            let num = field("intervalNum")?
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("rateLimits[{i}].intervalNum is not a positive whole number"))?;
            let limit = field("limit")?
                .as_f64()
                .filter(|l| *l > 0.0 && l.is_finite())
                .ok_or_else(|| format!("rateLimits[{i}].limit is not a positive number"))?;
            Ok(PublishedLimit { name: name.to_string(), interval_ms: unit_ms.saturating_mul(num), limit })
        })
        .collect()
}

/// What [`apply`] changed, for the log and the Rate limits page.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleUpdate {
    pub rule: String,
    pub from: (f64, Option<u64>),
    pub to: (f64, u64),
}

/// The spec with its `published` rules' limit and window replaced by what the exchange
/// published. Returns the updated spec, the rules whose numbers changed, and the ids of every
/// rule that now follows the exchange.
pub fn apply(spec: &ProviderSpec, published: &[PublishedLimit]) -> (ProviderSpec, Vec<RuleUpdate>, Vec<String>) {
    let mut out = spec.clone();
    let mut updates = Vec::new();
    let mut following = Vec::new();
    let mut names: Vec<&str> = published.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let mut entries: Vec<&PublishedLimit> = published.iter().filter(|p| p.name == name).collect();
        entries.sort_by_key(|p| p.interval_ms);
        let mut rules: Vec<usize> = (0..out.rate_limits.len())
            .filter(|&i| {
                let r = &out.rate_limits[i];
                r.published.as_deref() == Some(name) && r.kind == RateLimitKind::FixedWindow
            })
            .collect();
        rules.sort_by_key(|&i| out.rate_limits[i].interval_ms.unwrap_or(0));
        for (&i, entry) in rules.iter().zip(entries) {
            let rule = &mut out.rate_limits[i];
            following.push(rule.id.clone());
            let before = (rule.limit, rule.interval_ms);
            if before == (entry.limit, Some(entry.interval_ms)) {
                continue;
            }
            if let (Some(header), Some(old)) = (rule.weight_header.as_mut(), before.1) {
                rename_binance_header(header, old, entry.interval_ms);
            }
            rule.limit = entry.limit;
            rule.interval_ms = Some(entry.interval_ms);
            updates.push(RuleUpdate { rule: rule.id.clone(), from: before, to: (entry.limit, entry.interval_ms) });
        }
    }
    (out, updates, following)
}

/// Binance names usage headers after the window: `x-mbx-used-weight-1m`, `…-order-count-10s`.
fn binance_suffix(interval_ms: u64) -> Option<String> {
    let secs = interval_ms / 1000;
    if interval_ms % 1000 != 0 || secs == 0 {
        return None;
    }
    Some(match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    })
}

fn rename_binance_header(header: &mut String, old_ms: u64, new_ms: u64) {
    let (Some(old), Some(new)) = (binance_suffix(old_ms), binance_suffix(new_ms)) else { return };
    if let Some(stem) = header.strip_suffix(&format!("-{old}")) {
        *header = format!("{stem}-{new}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binance() -> ProviderSpec {
        crate::provider::preset("binance").expect("the binance preset").expect("it parses")
    }

    /// What Binance's exchangeInfo publishes (its documented example, with the 10 s order
    /// budget that differs from the preset's 1 s rule).
    fn published() -> Value {
        json!({"timezone": "UTC", "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 6100},
        ]})
    }

    #[test]
    fn reads_binance_rate_limits() {
        let list = parse(PublishedLimitsFormat::Binance, &published()).expect("parses");
        assert_eq!(list.len(), 4);
        assert_eq!(list[0], PublishedLimit { name: "REQUEST_WEIGHT".into(), interval_ms: 60_000, limit: 1200.0 });
        assert_eq!(list[1].interval_ms, 10_000);
        assert_eq!(list[3].interval_ms, 300_000);
    }

    #[test]
    fn a_malformed_answer_says_what_is_wrong() {
        let err = parse(PublishedLimitsFormat::Binance, &json!({"symbols": []})).expect_err("refused");
        assert!(err.contains("rateLimits"), "{err}");
        let bad =
            json!({"rateLimits": [{"rateLimitType": "ORDERS", "interval": "WEEK", "intervalNum": 1, "limit": 5}]});
        let err = parse(PublishedLimitsFormat::Binance, &bad).expect_err("refused");
        assert!(err.contains("rateLimits[0].interval \"WEEK\""), "{err}");
        let bad =
            json!({"rateLimits": [{"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": -5}]});
        assert!(parse(PublishedLimitsFormat::Binance, &bad).expect_err("refused").contains("rateLimits[0].limit"));
    }

    #[test]
    fn published_numbers_replace_the_spec_rules_paired_by_window() {
        let spec = binance();
        let list = parse(PublishedLimitsFormat::Binance, &published()).expect("parses");
        let (out, updates, following) = apply(&spec, &list);
        let rule = |id: &str| out.rate_limits.iter().find(|r| r.id == id).expect(id).clone();
        assert_eq!((rule("request_weight").limit, rule("request_weight").interval_ms), (1200.0, Some(60_000)));
        assert_eq!(rule("request_weight").weight_header.as_deref(), Some("x-mbx-used-weight-1m"));
        // The per-second order rule becomes the published 10-second one, header included.
        assert_eq!((rule("orders_1s").limit, rule("orders_1s").interval_ms), (50.0, Some(10_000)));
        assert_eq!(rule("orders_1s").weight_header.as_deref(), Some("x-mbx-order-count-10s"));
        assert_eq!((rule("orders_1d").limit, rule("orders_1d").interval_ms), (160000.0, Some(86_400_000)));
        assert_eq!(rule("raw_requests").limit, 6100.0);
        // The SAPI budget is not in exchangeInfo: untouched.
        assert_eq!(
            rule("sapi_ip_weight"),
            spec.rate_limits.iter().find(|r| r.id == "sapi_ip_weight").cloned().expect("sapi")
        );
        let changed: Vec<&str> = updates.iter().map(|u| u.rule.as_str()).collect();
        assert_eq!(changed, vec!["orders_1s", "raw_requests", "request_weight"]);
        assert_eq!(following.len(), 4);
        // Publishing the same numbers again changes nothing.
        let (again, updates, _) = apply(&out, &list);
        assert!(updates.is_empty());
        assert_eq!(again, out);
    }
}
