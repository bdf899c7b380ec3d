//! `keyward usage`: calls, errors, weight, cost and latency per endpoint, key, caller or
//! provider over the last 24 h, 7 days or 30 days, from the recorded calls; `usage forecast`
//! and `usage anomalies` (see `forecast.rs` and `anomaly.rs` under `src/usage/`).

mod insight;

use super::output::{print_json, table};
use super::CliError;
use crate::usage::{GroupBy, UsageRange, UsageRow};
use crate::Keyward;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UsageArgs {
    #[command(subcommand)]
    pub view: Option<UsageView>,
    /// How far back: 24h, 7d or 30d.
    #[arg(long, default_value = "24h", value_name = "24h|7d|30d")]
    pub since: String,
    /// Group the calls by endpoint, key, caller or provider.
    #[arg(long = "by", default_value = "endpoint", value_name = "endpoint|key|caller|provider")]
    pub by: String,
    /// Only this provider's calls.
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// Keep raw call rows this many days (1-400; hourly totals are kept for longer ranges),
    /// then print the table as usual.
    #[arg(long, value_name = "DAYS")]
    pub keep_raw_days: Option<i64>,
}

#[derive(Debug, clap::Subcommand)]
pub enum UsageView {
    /// This month's cost per provider: plan, units used and left, cost so far and at the
    /// month's end at this pace, when the included units run out, budget, keys and callers.
    /// Choose a plan or set a budget with `keyward provider set <id> billing.plan=<plan>` or
    /// `billing.budget=50`.
    Billing,
    /// Export usage as CSV or JSON (stdout unless --output): any range, grouping and bucket.
    Export(super::usage_export::ExportArgs),
    /// This month's usage forecast to its end (UTC), with a band, and the monthly quota where
    /// the provider has one.
    Forecast {
        /// Only this provider (default: every provider).
        #[arg(long, value_name = "ID")]
        provider: Option<String>,
    },
    /// Hours whose usage left its usual pattern: calls spikes, error bursts and rates, new
    /// endpoints, trading at unusual hours, jumps in weight.
    Anomalies {
        /// How far back: 24h, 7d or 30d.
        #[arg(long, default_value = "24h", value_name = "24h|7d|30d")]
        since: String,
    },
}

fn row_cells(r: &UsageRow) -> Vec<String> {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0} ms"));
    vec![
        r.group.clone(),
        r.calls.to_string(),
        r.errors.to_string(),
        r.throttled.to_string(),
        r.weight.to_string(),
        trim_units(r.units),
        format!("{:.4}", r.cost),
        format!("{:.0} ms", r.avg_latency_ms),
        ms(r.p95_ms),
    ]
}

/// `12`, `12.5`: units without trailing zeros.
fn trim_units(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn money(v: f64, currency: &str) -> String {
    format!("{v:.2} {currency}")
}

fn billing(kw: &Keyward, json_out: bool) -> Result<(), CliError> {
    let view = kw.billing()?;
    if json_out {
        print_json(&view);
        return Ok(());
    }
    if view.providers.is_empty() {
        println!(
            "no paid or metered provider is enabled or used in {}: enable one (keyward provider enable coinmarketcap) \
             and choose its plan (keyward provider set coinmarketcap billing.plan=hobbyist)",
            view.month
        );
        return Ok(());
    }
    let cells: Vec<Vec<String>> = view
        .providers
        .iter()
        .map(|b| {
            let quota = match (b.plan.included, b.quota_used_pct) {
                (0, _) | (_, None) => format!("{} {}", trim_units(b.units), b.plan.unit),
                (included, Some(pct)) => format!("{} / {included} {} ({pct:.0} %)", trim_units(b.units), b.plan.unit),
            };
            vec![
                b.provider.clone(),
                b.plan.name.clone(),
                quota,
                money(b.cost, &b.currency),
                money(b.projected_cost, &b.currency),
                b.budget.map_or_else(
                    || "-".into(),
                    |budget| format!("{} ({:.0} %)", money(budget, &b.currency), b.budget_used_pct.unwrap_or(0.0)),
                ),
                b.runs_out_at.as_deref().map_or_else(|| "-".into(), short_time),
            ]
        })
        .collect();
    table(&["PROVIDER", "PLAN", "USED", "COST SO FAR", "AT MONTH END", "BUDGET", "RUNS OUT"], &cells);
    for t in &view.totals {
        println!(
            "{}: {} so far, {} by the month's end at this pace",
            view.month,
            money(t.cost, &t.currency),
            money(t.projected_cost, &t.currency)
        );
    }
    Ok(())
}

pub fn run(kw: &Keyward, args: UsageArgs, json_out: bool) -> Result<(), CliError> {
    match args.view {
        Some(UsageView::Billing) => return billing(kw, json_out),
        Some(UsageView::Export(export)) => return super::usage_export::run(kw, export, json_out),
        Some(UsageView::Forecast { provider }) => return insight::forecast(kw, provider, json_out),
        Some(UsageView::Anomalies { since }) => return insight::anomalies(kw, &since, json_out),
        None => {}
    }
    if let Some(days) = args.keep_raw_days {
        kw.usage().set_raw_retention_days(days)?;
        if !json_out {
            eprintln!("raw call rows are kept {days} days; older calls count on in the hourly totals");
        }
    }
    let range = UsageRange::parse(&args.since).map_err(|e| CliError::Usage(format!("--since: {e}")))?;
    let group_by = GroupBy::parse(&args.by).map_err(|e| CliError::Usage(format!("--by: {e}")))?;
    let table_view = kw.usage_table(range, group_by, args.provider)?;
    let (rows, total) = (&table_view.rows, &table_view.totals);
    if json_out {
        print_json(&table_view);
    } else if rows.is_empty() {
        println!(
            "no calls recorded in the {}: calls from the app, the command line (keyward call binance server_time) \
             and health checks appear here",
            range.describe()
        );
    } else {
        let mut cells: Vec<Vec<String>> = rows.iter().map(row_cells).collect();
        cells.push(row_cells(total));
        let currency = table_view.currency.as_deref().unwrap_or("mixed currencies");
        let cost = format!("COST ({currency})");
        table(
            &[
                &group_by.as_str().to_uppercase(),
                "CALLS",
                "ERRORS",
                "THROTTLED",
                "WEIGHT",
                "UNITS",
                &cost,
                "AVG LATENCY",
                "P95",
            ],
            &cells,
        );
        println!("({}, {} to {} UTC)", range.describe(), short_time(&table_view.since), short_time(&table_view.until));
    }
    Ok(())
}

/// `2026-03-01T10:05:00.000Z` as `2026-03-01 10:05`.
fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replacen('T', " ", 1)
}
