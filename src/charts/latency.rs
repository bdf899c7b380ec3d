//! Response time over time: the average per bucket and its p95.

use plotters::prelude::*;

use super::time_axes::{legend, no_data, time_chart};
use super::{ms, render_error, rgb, ChartError, Theme};
use chrono::{DateTime, Utc};

use crate::monitor::LatencyPoint;

fn millis(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1000.0)
}

/// Renders `points` (from `Monitor::latency_series`) over the time range `range` (the window
/// the user asked for, so the axis shows "the last 24 h" even when checks only started an
/// hour ago) as an SVG document.
pub fn latency_chart(
    title: &str,
    points: &[LatencyPoint],
    range: (DateTime<Utc>, DateTime<Utc>),
    theme: Theme,
    size: (u32, u32),
) -> Result<String, ChartError> {
    let p = theme.palette();
    let (x0, mut x1) = (ms(range.0), ms(range.1));
    if x1 - x0 < 60_000.0 {
        x1 = x0 + 60_000.0;
    }
    let inside = |pt: &&LatencyPoint| (x0..=x1).contains(&ms(pt.start));
    let avg: Vec<(f64, f64)> =
        points.iter().filter(inside).filter_map(|pt| Some((ms(pt.start), millis(pt.avg)?))).collect();
    let p95: Vec<(f64, f64)> =
        points.iter().filter(inside).filter_map(|pt| Some((ms(pt.start), millis(pt.p95)?))).collect();
    let top = avg.iter().chain(p95.iter()).map(|(_, y)| *y).fold(0.0f64, f64::max);
    let y1 = if top <= 0.0 { 100.0 } else { top * 1.15 };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&rgb(p.background)).map_err(|e| render_error(title, e))?;
        let mut chart = time_chart(&root, title, &p, x0..x1, 0.0..y1, "Response time (ms)")?;

        if avg.is_empty() && p95.is_empty() {
            no_data(&mut chart, title, &p, "No data yet")?;
        } else {
            let series = rgb(p.series);
            chart
                .draw_series(LineSeries::new(avg.iter().copied(), series.stroke_width(2)))
                .map_err(|e| render_error(title, e))?
                .label("average")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], series.stroke_width(2)));
            let p95c = rgb(p.p95);
            chart
                .draw_series(DashedLineSeries::new(p95.iter().copied(), 6, 4, p95c.stroke_width(2)))
                .map_err(|e| render_error(title, e))?
                .label("p95")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], p95c.stroke_width(2)));
            if avg.len() <= 60 {
                chart
                    .draw_series(avg.iter().map(|&(x, y)| Circle::new((x, y), 2, series.filled())))
                    .map_err(|e| render_error(title, e))?;
            }
            legend(&mut chart, title, &p)?;
        }
        root.present().map_err(|e| render_error(title, e))?;
    }
    Ok(svg)
}
