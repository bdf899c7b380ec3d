//! `keyward usage forecast` and `keyward usage anomalies`: short readable summaries, or the
//! core's views with `--json`.

use super::{print_json, short_time, table};
use crate::cli::CliError;
use crate::usage::forecast::UsageForecast;
use crate::usage::UsageRange;
use crate::Keyward;

/// `12345.6` as `12 346`.
fn amount(x: f64) -> String {
    let digits = format!("{}", x.round() as i64);
    let (sign, digits) = digits.strip_prefix('-').map_or(("", digits.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn summary(f: &UsageForecast) -> Vec<String> {
    let whose = f.provider.clone().unwrap_or_else(|| "All providers".into());
    let ops = f.operations.join(", ");
    let what = match (f.operations.is_empty(), f.counted.as_str()) {
        (true, counted) => counted.to_string(),
        (false, "calls") => format!("{ops} calls"),
        (false, counted) => format!("{counted} of {ops} calls"),
    };
    let month_end = short_time(&f.period_end);
    let mut lines = vec![format!(
        "{whose}: {} {what} so far this month (since {} UTC)",
        amount(f.actual_to_date),
        short_time(&f.period_start)
    )];
    match (f.projected, f.projected_low, f.projected_high) {
        (Some(p), Some(lo), Some(hi)) => {
            let band = if (hi - lo).abs() < 0.5 {
                String::new()
            } else {
                format!(" (likely {} to {})", amount(lo), amount(hi))
            };
            lines.push(format!(
                "expected by {month_end} UTC: {}{band}, from the {} of the last {} days",
                amount(p),
                f.method.replace('_', "-").replace("-profile", " profile"),
                f.history_days
            ));
        }
        _ => lines.push(format!(
            "no forecast yet: {}",
            f.note.clone().unwrap_or_else(|| "there is not enough history".into())
        )),
    }
    if let Some(q) = &f.quota {
        let out = match &q.runs_out_at {
            Some(t) if f.projected.is_some() || q.used_pct >= 100.0 => {
                format!("; runs out about {} UTC", short_time(t))
            }
            _ if f.projected.is_some() => "; the forecast stays under it".into(),
            _ => String::new(),
        };
        lines.push(format!("quota {}: {} {what} a month, {:.0} % used{out}", q.rule, amount(q.limit), q.used_pct));
    }
    lines
}

pub fn forecast(kw: &Keyward, provider: Option<String>, json_out: bool) -> Result<(), CliError> {
    let view = kw.usage_forecast(provider)?;
    if json_out {
        print_json(&view);
    } else {
        for line in summary(&view) {
            println!("{line}");
        }
    }
    Ok(())
}

pub fn anomalies(kw: &Keyward, since: &str, json_out: bool) -> Result<(), CliError> {
    let range = UsageRange::parse(since).map_err(|e| CliError::Usage(format!("--since: {e}")))?;
    let view = kw.usage_anomalies(range)?;
    if json_out {
        print_json(&view);
    } else if view.anomalies.is_empty() {
        println!(
            "no anomalies in the {} (each hour is compared with the {} days before it)",
            range.describe(),
            view.lookback_days
        );
    } else {
        let rows: Vec<Vec<String>> =
            view.anomalies.iter().map(|a| vec![short_time(&a.hour), a.kind.clone(), a.message.clone()]).collect();
        table(&["HOUR (UTC)", "KIND", "WHAT"], &rows);
    }
    Ok(())
}
