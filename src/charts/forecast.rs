//! The billing period's running total: what was counted so far (solid), the forecast to the
//! period's end (dashed) inside its band (shaded), and the monthly quota (a line in the
//! theme's "down" colour) when the provider has one. Days along the x axis, labelled at
//! midnight (UTC).

use chrono::{DateTime, Utc};
use plotters::prelude::*;

use super::time_axes::{day_chart, legend, no_data};
use super::{render_error, rgb, ChartError, Theme};
use crate::usage::forecast::UsageForecast;

const DAY_MS: f64 = 86_400_000.0;

fn ms_of(rfc3339: &str) -> Option<f64> {
    DateTime::parse_from_rfc3339(rfc3339).ok().map(|t| t.with_timezone(&Utc).timestamp_millis() as f64)
}

/// At most this many day labels; a longer period labels every second, third… day.
const MAX_DAY_LABELS: usize = 11;

/// Renders `view` as an SVG chart of the running total over its period.
pub fn forecast_chart(title: &str, view: &UsageForecast, theme: Theme, size: (u32, u32)) -> Result<String, ChartError> {
    let p = theme.palette();
    let bad = |what: &str| render_error(title, format!("the forecast's {what} is not a time"));
    let x0 = ms_of(&view.period_start).ok_or_else(|| bad("period start"))?;
    let x1 = ms_of(&view.period_end).ok_or_else(|| bad("period end"))?;
    let now = ms_of(&view.as_of).ok_or_else(|| bad("time"))?.clamp(x0, x1);
    let day_count = ((x1 - x0) / DAY_MS).round().max(1.0) as usize;
    let step = day_count.div_ceil(MAX_DAY_LABELS).max(1);
    let labels: Vec<f64> = (0..day_count).step_by(step).map(|d| x0 + d as f64 * DAY_MS).collect();

    // Running totals at each day's end (today's actual point is now).
    let mut actual = vec![(x0, 0.0)];
    let mut expected = vec![(now, view.actual_to_date)];
    let (mut low, mut high) = (vec![(now, view.actual_to_date)], vec![(now, view.actual_to_date)]);
    for (d, day) in view.days.iter().enumerate() {
        let end = (x0 + (d + 1) as f64 * DAY_MS).min(x1);
        if let Some(c) = day.cumulative_actual {
            actual.push((end.min(now), c));
        }
        if let (Some(f), Some(l), Some(h)) = (day.cumulative_forecast, day.cumulative_low, day.cumulative_high) {
            if end > now {
                expected.push((end, f));
                low.push((end, l));
                high.push((end, h));
            }
        }
    }
    let quota = view.quota.as_ref().map(|q| q.limit);
    let top = [view.actual_to_date, view.projected_high.unwrap_or(0.0), quota.unwrap_or(0.0)]
        .into_iter()
        .fold(0.0_f64, f64::max);
    let y1 = if top <= 0.0 { 10.0 } else { (top * 1.12).ceil() };
    let y_desc = format!("{} this month", capitalise(&view.counted));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&rgb(p.background)).map_err(|e| render_error(title, e))?;
        let mut chart = day_chart(&root, title, &p, x0..x1, labels, 0.0..y1, &y_desc)?;
        let (series, band, limit) = (rgb(p.series), rgb(p.series).mix(0.18), rgb(p.down));
        let empty = view.actual_to_date <= 0.0 && view.projected.unwrap_or(0.0) <= 0.0;
        if empty {
            no_data(&mut chart, title, &p, "No calls yet this month")?;
        } else {
            if view.projected.is_some() && expected.len() > 1 {
                let mut outline = low.clone();
                outline.extend(high.iter().rev());
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, band.filled())))
                    .map_err(|e| render_error(title, e))?
                    .label("band")
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], band.filled()));
                chart
                    .draw_series(DashedLineSeries::new(expected, 6, 4, series.stroke_width(2)))
                    .map_err(|e| render_error(title, e))?
                    .label("forecast")
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], series.stroke_width(2)));
            }
            chart
                .draw_series(LineSeries::new(actual, series.stroke_width(3)))
                .map_err(|e| render_error(title, e))?
                .label("actual")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], series.stroke_width(3)));
        }
        if let Some(q) = quota {
            chart
                .draw_series(LineSeries::new([(x0, q), (x1, q)], limit.stroke_width(2)))
                .map_err(|e| render_error(title, e))?
                .label("quota")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], limit.stroke_width(2)));
        }
        if !empty || quota.is_some() {
            legend(&mut chart, title, &p)?;
        }
        root.present().map_err(|e| render_error(title, e))?;
    }
    Ok(svg)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
