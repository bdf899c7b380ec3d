//! The state-change timeline: one row per provider, a coloured span per state.

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{ms, render_error, rgb, time_label, ChartError, Theme, FONT};
use crate::monitor::{HealthState, StateSpan};

/// Height reserved under the title for the legend, in pixels.
const LEGEND_ROW: u32 = 22;

/// Renders `rows` (from `Monitor::state_spans`) between `since` and `until` as an SVG document.
pub fn state_timeline(
    title: &str,
    rows: &[(String, Vec<StateSpan>)],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    theme: Theme,
    size: (u32, u32),
) -> Result<String, ChartError> {
    let p = theme.palette();
    let (x0, mut x1) = (ms(since), ms(until));
    if x1 <= x0 {
        x1 = x0 + 60_000.0;
    }
    let span = x1 - x0;
    let n = rows.len().max(1) as u32;
    let names: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
    let longest = names.iter().map(|s| s.len()).max().unwrap_or(8).clamp(8, 24) as u32;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&rgb(p.background)).map_err(|e| render_error(title, e))?;
        let below_title = root
            .margin(12, 0, 0, 0)
            .titled(title, (FONT, 18).into_font().color(&rgb(p.text)))
            .map_err(|e| render_error(title, e))?;
        let (legend, body) = below_title.split_vertically(LEGEND_ROW + 6);
        let mut chart = ChartBuilder::on(&body)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(30 + longest * 7)
            .build_cartesian_2d(x0..x1, 0.0..f64::from(n))
            .map_err(|e| render_error(title, e))?;
        let fmt_x = |x: &f64| time_label(*x, span);
        chart
            .configure_mesh()
            .x_desc("Time (UTC)")
            .y_desc("Provider")
            .x_labels(8)
            .y_labels(0)
            .x_label_formatter(&fmt_x)
            .disable_y_mesh()
            .axis_style(rgb(p.axis))
            .bold_line_style(rgb(p.grid))
            .x_max_light_lines(0)
            .label_style((FONT, 12).into_font().color(&rgb(p.muted)))
            .axis_desc_style((FONT, 13).into_font().color(&rgb(p.text)))
            .draw()
            .map_err(|e| render_error(title, e))?;

        let mut spans = Vec::new();
        for (row, (_, list)) in rows.iter().enumerate() {
            for s in list {
                let (a, b) = (ms(s.from).max(x0), ms(s.to).min(x1));
                if b > a {
                    spans.push((row as u32, a, b, s.state));
                }
            }
        }
        chart
            .draw_series(spans.iter().map(|&(row, a, b, state)| {
                Rectangle::new([(a, f64::from(row)), (b, f64::from(row + 1))], rgb(p.state(state)).filled())
            }))
            .map_err(|e| render_error(title, e))?;
        // Thin separators between rows, in the background colour.
        chart
            .draw_series((1..n).map(|row| {
                PathElement::new(vec![(x0, f64::from(row)), (x1, f64::from(row))], rgb(p.background).stroke_width(4))
            }))
            .map_err(|e| render_error(title, e))?;

        // Row names, right-aligned left of the plot, at each row's middle.
        let muted = rgb(p.muted);
        for (row, name) in names.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(x0, row as f64 + 0.5));
            let style = TextStyle::from((FONT, 12).into_font()).color(&muted).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(name.to_string(), (px - 8, py), style)).map_err(|e| render_error(title, e))?;
        }

        // The legend: one row under the title, outside the plot so it never hides a span.
        let text = rgb(p.text);
        let entry_w = |st: HealthState| 14 + 6 + 7 * st.as_str().len() as i32 + 16;
        let total: i32 = HealthState::ALL.iter().map(|s| entry_w(*s)).sum();
        let mut x = (size.0 as i32 - total) / 2;
        let y = (LEGEND_ROW / 2) as i32 + 4;
        for state in HealthState::ALL {
            let colour = rgb(p.state(state));
            legend
                .draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled()))
                .map_err(|e| render_error(title, e))?;
            let style = TextStyle::from((FONT, 12).into_font()).color(&text).pos(Pos::new(HPos::Left, VPos::Center));
            legend.draw(&Text::new(state.as_str(), (x + 18, y), style)).map_err(|e| render_error(title, e))?;
            x += entry_w(state);
        }
        root.present().map_err(|e| render_error(title, e))?;
    }
    Ok(svg)
}
