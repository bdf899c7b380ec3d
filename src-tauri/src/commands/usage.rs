//! Usage page commands. Thin: arguments in, core calls, DTO out.

use keyward::charts::{self, Theme};
use keyward::usage::anomaly::UsageAnomalies;
use keyward::usage::billing::{BillingEdit, BillingView};
use keyward::usage::forecast::UsageForecast;
use keyward::usage::{GroupBy, UsageRange, UsageSummary};
use tauri::State;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::AppState;

/// Calls, errors, weight, cost and latency per `group_by` (endpoint, key, caller, provider)
/// over `range` (24h, 7d, 30d), optionally for one provider.
#[tauri::command]
pub async fn usage_summary(
    state: State<'_, AppState>,
    range: String,
    group_by: String,
    provider: Option<String>,
) -> Result<UsageSummary, CommandError> {
    blocking(&state, move |kw| {
        let (range, group_by) = (UsageRange::parse(&range)?, GroupBy::parse(&group_by)?);
        Ok(kw.usage_table(range, group_by, provider)?)
    })
    .await
}

/// How many days raw call rows are kept (older calls count on in the hourly totals).
#[tauri::command]
pub async fn usage_retention_get(state: State<'_, AppState>) -> Result<i64, CommandError> {
    blocking(&state, |kw| Ok(kw.usage().raw_retention()?.num_days())).await
}

/// Sets it (1 to 400 days); the next hourly pruning applies it.
#[tauri::command]
pub async fn usage_retention_set(state: State<'_, AppState>, days: i64) -> Result<i64, CommandError> {
    blocking(&state, move |kw| {
        kw.usage().set_raw_retention_days(days)?;
        Ok(kw.usage().raw_retention()?.num_days())
    })
    .await
}

/// This month's bill per provider: plan, units used and left, cost so far and at the month's
/// end, run-out date, budget, keys and callers.
#[tauri::command]
pub async fn usage_billing(state: State<'_, AppState>) -> Result<BillingView, CommandError> {
    blocking(&state, |kw| Ok(kw.billing()?)).await
}

/// Sets a provider's plan, prices and budget; answers with the month as it now stands.
#[tauri::command]
pub async fn usage_billing_set(
    state: State<'_, AppState>,
    provider: String,
    edit: BillingEdit,
) -> Result<BillingView, CommandError> {
    blocking(&state, move |kw| {
        kw.set_billing(&provider, &edit)?;
        Ok(kw.billing()?)
    })
    .await
}

/// Calls per hour (24h, 7d) or per day (30d) over `range`, errors highlighted, as SVG; for one
/// provider or (`null`) every provider.
#[tauri::command]
pub async fn chart_usage(
    state: State<'_, AppState>,
    range: String,
    dark: bool,
    provider: Option<String>,
) -> Result<String, CommandError> {
    blocking(&state, move |kw| {
        let range = UsageRange::parse(&range)?;
        kw.pipeline().recorder().flush();
        let provider = provider.filter(|p| !p.trim().is_empty());
        let q = range.query(kw.monitor().clock().now(), provider, GroupBy::Endpoint);
        let buckets = kw.usage().series(&q, range.bucket())?;
        let mut title = format!("Calls per {}, {}", charts::bucket_name(range.bucket()), range.describe());
        if let Some(p) = &q.provider {
            title = format!("{p}: {title}");
        }
        let theme = if dark { Theme::Dark } else { Theme::Light };
        Ok(charts::usage_chart(&title, &buckets, (q.since, q.until), range.bucket(), theme, charts::DEFAULT_SIZE)?)
    })
    .await
}

/// This month's forecast for `provider` (`null`: every provider), with its band and quota.
#[tauri::command]
pub async fn usage_forecast(
    state: State<'_, AppState>,
    provider: Option<String>,
) -> Result<UsageForecast, CommandError> {
    blocking(&state, move |kw| Ok(kw.usage_forecast(provider)?)).await
}

/// The forecast as SVG: actual, forecast, band and quota over the month.
#[tauri::command]
pub async fn chart_usage_forecast(
    state: State<'_, AppState>,
    provider: Option<String>,
    dark: bool,
) -> Result<String, CommandError> {
    let theme = if dark { Theme::Dark } else { Theme::Light };
    blocking(&state, move |kw| Ok(kw.usage_forecast_chart(provider, theme)?)).await
}

/// The anomalies of the whole hours in `range` (24h, 7d, 30d).
#[tauri::command]
pub async fn usage_anomalies(state: State<'_, AppState>, range: String) -> Result<UsageAnomalies, CommandError> {
    blocking(&state, move |kw| Ok(kw.usage_anomalies(UsageRange::parse(&range)?)?)).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keyward::pipeline::{AttemptRecord, Outcome};
    use serde_json::json;

    use crate::test_support::{boot, core, invoke};

    fn attempt(minutes_ago: i64, operation: &str, key: Option<&str>, outcome: Outcome, weight: u32) -> AttemptRecord {
        let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
        AttemptRecord {
            key_label: key.map(str::to_string),
            status: Some(if outcome == Outcome::Ok { 200 } else { 503 }),
            outcome,
            latency: Duration::from_millis(120),
            bytes_in: 64,
            weight,
            ..AttemptRecord::answered(at, "binance", operation, if key.is_some() { "ui" } else { "monitor" })
        }
    }

    #[test]
    fn the_usage_page_gets_rows_totals_and_a_chart_of_the_recorded_calls() {
        let (_dir, kw) = core();
        let recorder = kw.pipeline().recorder().clone();
        recorder.record(attempt(10, "server_time", None, Outcome::Ok, 1));
        recorder.record(attempt(70, "server_time", None, Outcome::HttpError, 1));
        recorder.record(attempt(5, "balances", Some("main"), Outcome::Ok, 20));
        recorder.record(attempt(3 * 24 * 60, "balances", Some("main"), Outcome::Ok, 20));
        let (_app, webview) = boot(kw);

        let day = invoke(&webview, "usage_summary", json!({"range": "24h", "groupBy": "endpoint", "provider": null}))
            .expect("usage_summary");
        assert_eq!(day["rows"][0]["group"], "binance server_time");
        assert_eq!(day["rows"][0]["calls"], 2);
        assert_eq!(day["rows"][0]["errors"], 1);
        assert_eq!(day["rows"][1]["group"], "binance balances");
        assert_eq!(day["rows"][1]["weight"], 20);
        assert_eq!(day["totals"]["calls"], 3);
        assert_eq!(day["totals"]["avgLatencyMs"], 120.0);

        let keys = invoke(&webview, "usage_summary", json!({"range": "7d", "groupBy": "key", "provider": "binance"}))
            .expect("usage_summary by key");
        assert_eq!(
            keys["rows"],
            json!([
                {"group": "(no key)", "calls": 2, "errors": 1, "throttled": 0, "weight": 2, "cost": 0.0, "units": 0.0,
                 "avgLatencyMs": 120.0, "p50Ms": 112.5, "p95Ms": 123.75, "p99Ms": 124.75},
                {"group": "main", "calls": 2, "errors": 0, "throttled": 0, "weight": 40, "cost": 0.0, "units": 0.0,
                 "avgLatencyMs": 120.0, "p50Ms": 112.5, "p95Ms": 123.75, "p99Ms": 124.75},
            ])
        );

        let svg = invoke(&webview, "chart_usage", json!({"range": "24h", "dark": true})).expect("chart_usage");
        let svg = svg.as_str().expect("SVG text");
        assert!(svg.starts_with("<svg") && svg.contains("Calls per hour, last 24 h"), "{}", &svg[..svg.len().min(200)]);
        assert!(!svg.contains("No calls yet"));
        let kraken = invoke(&webview, "chart_usage", json!({"range": "24h", "dark": true, "provider": "kraken"}))
            .expect("one provider's chart");
        let kraken = kraken.as_str().expect("SVG text");
        assert!(kraken.contains("kraken: Calls per hour") && kraken.contains("No calls yet"), "{}", &kraken[..200]);
    }

    #[test]
    fn the_billing_panel_reads_the_month_and_saves_a_plan_and_budget_naming_bad_values() {
        let (_dir, kw) = core();
        kw.providers().set_enabled("coinmarketcap", true).expect("enabled");
        let (_app, webview) = boot(kw);
        let month = invoke(&webview, "usage_billing", json!({})).expect("usage_billing");
        let cmc = month["providers"].as_array().and_then(|p| p.iter().find(|b| b["provider"] == "coinmarketcap"));
        let cmc = cmc.expect("an enabled provider with plans is billed");
        assert_eq!((cmc["plan"]["id"].as_str(), cmc["cost"].as_f64()), (Some("basic"), Some(0.0)));

        let edit = json!({"plan": "standard", "monthlyFee": 299.0, "included": 1_200_000, "unitPrice": 0.0,
                          "budget": 350.0, "alertAt": [80, 50]});
        let saved = invoke(&webview, "usage_billing_set", json!({"provider": "coinmarketcap", "edit": edit}))
            .expect("usage_billing_set");
        let cmc = saved["providers"].as_array().and_then(|p| p.iter().find(|b| b["provider"] == "coinmarketcap"));
        let cmc = cmc.expect("still billed");
        assert_eq!(cmc["plan"]["id"], "standard");
        assert_eq!(cmc["cost"], 299.0, "the Standard fee");
        assert_eq!(cmc["budget"], 350.0);
        assert_eq!(cmc["alertAt"], json!([50, 80]));

        let bad = json!({"plan": "standard", "monthlyFee": 299.0, "included": 1_200_000, "unitPrice": 0.0,
                         "budget": -5.0, "alertAt": []});
        let err = invoke(&webview, "usage_billing_set", json!({"provider": "coinmarketcap", "edit": bad}))
            .expect_err("a negative budget");
        assert_eq!(err["kind"], "invalidSpec");
        let msg = err["message"].as_str().unwrap_or_default();
        assert!(msg.contains("billing.budget") && msg.contains("-5"), "{msg}");
    }

    #[test]
    fn without_calls_the_chart_says_so_and_bad_ranges_name_the_value() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw);
        let month = invoke(&webview, "usage_summary", json!({"range": "30d", "groupBy": "caller", "provider": null}))
            .expect("usage_summary");
        assert_eq!(month["rows"], json!([]));
        assert_eq!(month["totals"]["calls"], 0);
        let svg = invoke(&webview, "chart_usage", json!({"range": "30d", "dark": false})).expect("chart_usage");
        let svg = svg.as_str().expect("SVG text");
        assert!(svg.contains("Calls per day, last 30 days") && svg.contains("No calls yet"));

        let err = invoke(&webview, "chart_usage", json!({"range": "2w", "dark": false})).expect_err("2w");
        assert_eq!(err["kind"], "invalid");
        assert!(err["message"].as_str().unwrap_or_default().contains("\"2w\""), "{err}");
        let err = invoke(&webview, "usage_summary", json!({"range": "24h", "groupBy": "bot", "provider": null}))
            .expect_err("bot");
        assert!(err["message"].as_str().unwrap_or_default().contains("\"bot\""), "{err}");
    }

    #[test]
    fn the_usage_page_gets_the_forecast_its_chart_and_the_anomalies() {
        let (_dir, kw) = core();
        let recorder = kw.pipeline().recorder().clone();
        // Two weeks of 10 ticker calls an hour, then 200 in the hour that just ended.
        let ended = chrono::Utc::now().timestamp().div_euclid(3600) * 3600 - 3600;
        let minutes_ago = |ts: i64| (chrono::Utc::now().timestamp() - ts) / 60;
        for h in 1..=14 * 24 {
            for i in 0..10 {
                recorder.record(attempt(minutes_ago(ended - h * 3600) - i * 5, "ticker", None, Outcome::Ok, 1));
            }
        }
        for _ in 0..200 {
            recorder.record(attempt(minutes_ago(ended) - 30, "ticker", None, Outcome::Ok, 1));
        }
        let (_app, webview) = boot(kw);

        let forecast = invoke(&webview, "usage_forecast", json!({"provider": "binance"})).expect("usage_forecast");
        assert_eq!(forecast["provider"], "binance");
        assert_eq!(forecast["method"], "hour_of_week_profile");
        assert!(
            forecast["projected"].as_f64().unwrap_or_default() >= forecast["actualToDate"].as_f64().unwrap_or(-1.0)
        );
        let svg = invoke(&webview, "chart_usage_forecast", json!({"provider": null, "dark": false})).expect("chart");
        let svg = svg.as_str().expect("SVG text");
        assert!(
            svg.starts_with("<svg") && svg.contains("Calls this month, all providers"),
            "{}",
            &svg[..svg.len().min(300)]
        );

        let found = invoke(&webview, "usage_anomalies", json!({"range": "24h"})).expect("usage_anomalies");
        let list = found["anomalies"].as_array().expect("anomalies");
        assert_eq!(list.len(), 1, "{found}");
        assert_eq!((list[0]["kind"].as_str(), list[0]["observed"].as_f64()), (Some("calls_spike"), Some(200.0)));

        let err = invoke(&webview, "usage_forecast", json!({"provider": "nope"})).expect_err("unknown provider");
        assert_eq!(err["kind"], "notFound");
        assert!(err["message"].as_str().unwrap_or_default().contains("\"nope\""), "{err}");
        let err = invoke(&webview, "usage_anomalies", json!({"range": "1y"})).expect_err("bad range");
        assert_eq!(err["kind"], "invalid");
    }
}
