//! Calls per hour or per day: one bar per bucket, the errors stacked at its foot in the
//! theme's "down" colour.

use std::time::Duration;

use chrono::{DateTime, Utc};
use plotters::prelude::*;

use super::time_axes::{aligned_chart, legend, no_data};
use super::{ms, render_error, rgb, ChartError, Theme};
use crate::usage::UsageBucket;

/// "hour", "day" or "N min" for a bucket.
pub fn bucket_name(bucket: Duration) -> String {
    match bucket.as_secs() {
        3600 => "hour".into(),
        86_400 => "day".into(),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{} min", (s / 60).max(1)),
    }
}

/// Renders `buckets` (from `Usage::series`) over `range` as an SVG bar chart.
pub fn usage_chart(
    title: &str,
    buckets: &[UsageBucket],
    range: (DateTime<Utc>, DateTime<Utc>),
    bucket: Duration,
    theme: Theme,
    size: (u32, u32),
) -> Result<String, ChartError> {
    let p = theme.palette();
    let width = (bucket.as_millis() as f64).max(60_000.0);
    let x0 = buckets.first().map_or(ms(range.0), |b| ms(b.start).min(ms(range.0)));
    let x1 = buckets.last().map_or(ms(range.1), |b| (ms(b.start) + width).max(ms(range.1))).max(x0 + 60_000.0);
    let top = buckets.iter().map(|b| b.calls).max().unwrap_or(0);
    let y1 = if top == 0 { 10.0 } else { (top as f64 * 1.15).ceil() };
    let gap = width * 0.12;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&rgb(p.background)).map_err(|e| render_error(title, e))?;
        let y_desc = format!("Calls (per {})", bucket_name(bucket));
        let mut chart = aligned_chart(&root, title, &p, x0..x1, 0.0..y1, &y_desc)?;

        if top == 0 {
            no_data(&mut chart, title, &p, "No calls yet")?;
        } else {
            let (ok, err) = (rgb(p.series), rgb(p.down));
            let bar = |b: &UsageBucket, from: f64, to: f64| {
                [(ms(b.start) + gap / 2.0, from), (ms(b.start) + width - gap / 2.0, to)]
            };
            chart
                .draw_series(
                    buckets
                        .iter()
                        .filter(|b| b.calls > b.errors)
                        .map(|b| Rectangle::new(bar(b, b.errors as f64, b.calls as f64), ok.filled())),
                )
                .map_err(|e| render_error(title, e))?
                .label("calls")
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], ok.filled()));
            chart
                .draw_series(
                    buckets
                        .iter()
                        .filter(|b| b.errors > 0)
                        .map(|b| Rectangle::new(bar(b, 0.0, b.errors as f64), err.filled())),
                )
                .map_err(|e| render_error(title, e))?
                .label("errors")
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], err.filled()));
            legend(&mut chart, title, &p)?;
        }
        root.present().map_err(|e| render_error(title, e))?;
    }
    Ok(svg)
}
