//! Calls per hour or per day: one bar per bucket, the errors stacked at its foot in the
//! theme's "down" colour.

use std::time::Duration;

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{ms, render_error, rgb, time_label, ChartError, Theme, FONT};
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
    let span = x1 - x0;
    let gap = width * 0.12;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&rgb(p.background)).map_err(|e| render_error(title, e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18).into_font().color(&rgb(p.text)))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0.0..y1)
            .map_err(|e| render_error(title, e))?;
        let fmt_x = |x: &f64| time_label(*x, span);
        let fmt_y = |y: &f64| format!("{y:.0}");
        let y_desc = format!("Calls (per {})", bucket_name(bucket));
        chart
            .configure_mesh()
            .x_desc("Time (UTC)")
            .y_desc(y_desc)
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .axis_style(rgb(p.axis))
            .bold_line_style(rgb(p.grid))
            .max_light_lines(0)
            .label_style((FONT, 12).into_font().color(&rgb(p.muted)))
            .axis_desc_style((FONT, 13).into_font().color(&rgb(p.text)))
            .draw()
            .map_err(|e| render_error(title, e))?;

        if top == 0 {
            let muted = rgb(p.muted);
            let style = TextStyle::from((FONT, 14).into_font()).color(&muted).pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .draw_series(std::iter::once(Text::new("No calls yet", ((x0 + x1) / 2.0, y1 / 2.0), style)))
                .map_err(|e| render_error(title, e))?;
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
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(rgb(p.background).mix(0.85))
                .border_style(rgb(p.grid))
                .label_font((FONT, 12).into_font().color(&rgb(p.text)))
                .draw()
                .map_err(|e| render_error(title, e))?;
        }
        root.present().map_err(|e| render_error(title, e))?;
    }
    Ok(svg)
}
