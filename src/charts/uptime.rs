//! The uptime strip: one bar per UTC day (normally 90), its height and colour the day's
//! uptime; days without data are grey.

use plotters::prelude::*;

use super::{render_error, rgb, ChartError, Palette, Theme, FONT};
use crate::monitor::DayUptime;

/// The colour of a day's uptime ratio: ≥ 99.9 % up, ≥ 99 % good, ≥ 95 % degraded, else down;
/// `None` (no data) grey.
pub fn uptime_colour(palette: &Palette, ratio: Option<f64>) -> u32 {
    match ratio {
        None => palette.no_data,
        Some(r) if r >= 0.999 => palette.up,
        Some(r) if r >= 0.99 => palette.good,
        Some(r) if r >= 0.95 => palette.degraded,
        Some(_) => palette.down,
    }
}

/// Renders `days` (from `Monitor::daily_uptime`, oldest first) as an SVG document.
pub fn uptime_strip(title: &str, days: &[DayUptime], theme: Theme, size: (u32, u32)) -> Result<String, ChartError> {
    let p = theme.palette();
    let n = days.len().max(1);
    let lowest = days.iter().filter_map(|d| d.uptime.ratio()).fold(1.0f64, f64::min) * 100.0;
    // Zoom in on the top of the scale so 99.9 % and 99 % look different, but never hide a dip.
    let y0 = if lowest >= 99.0 {
        98.0
    } else if lowest >= 90.0 {
        90.0
    } else {
        (lowest / 10.0).floor() * 10.0
    };
    let labels: Vec<String> = days.iter().map(|d| d.day.format("%m-%d").to_string()).collect();

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&rgb(p.background)).map_err(|e| render_error(title, e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18).into_font().color(&rgb(p.text)))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..n as f64, y0..100.0)
            .map_err(|e| render_error(title, e))?;
        let fmt_x = |x: &f64| labels.get(x.floor().max(0.0) as usize).cloned().unwrap_or_default();
        let fmt_y = |y: &f64| if y0 >= 98.0 { format!("{y:.1}") } else { format!("{y:.0}") };
        chart
            .configure_mesh()
            .x_desc("Date (UTC), one bar per day")
            .y_desc("Uptime (%)")
            .x_labels(10)
            .y_labels(5)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .disable_x_mesh()
            .axis_style(rgb(p.axis))
            .bold_line_style(rgb(p.grid))
            .max_light_lines(0)
            .label_style((FONT, 12).into_font().color(&rgb(p.muted)))
            .axis_desc_style((FONT, 13).into_font().color(&rgb(p.text)))
            .draw()
            .map_err(|e| render_error(title, e))?;
        let gap = 0.18;
        chart
            .draw_series(days.iter().enumerate().map(|(i, d)| {
                let ratio = d.uptime.ratio();
                let colour = rgb(uptime_colour(&p, ratio));
                // No data: a full-height grey bar, so the gap reads as "unknown", not "down".
                let top = ratio.map_or(100.0, |r| (r * 100.0).max(y0));
                let x = i as f64;
                Rectangle::new(
                    [(x + gap / 2.0, y0), (x + 1.0 - gap / 2.0, top.max(y0 + (100.0 - y0) * 0.02))],
                    colour.filled(),
                )
            }))
            .map_err(|e| render_error(title, e))?;
        root.present().map_err(|e| render_error(title, e))?;
    }
    Ok(svg)
}
