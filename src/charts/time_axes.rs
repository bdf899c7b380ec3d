//! What the charts over time share: the caption, a UTC time axis and a value axis in the house
//! look, the "no data" note and the legend box.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{render_error, rgb, time_label, ChartError, Palette, FONT};

/// A chart whose x axis is Unix milliseconds.
pub(crate) type TimeChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
/// A chart whose x axis is Unix milliseconds, labelled at given instants (midnights).
pub(crate) type DayChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<DayAxis, RangedCoordf64>>;

/// A linear axis of Unix milliseconds whose labels and grid lines sit at `days` (plotters'
/// `WithKeyPoints` drops the f64 axis's value formatter, so the mesh could not be drawn).
#[derive(Debug, Clone)]
pub(crate) struct DayAxis {
    range: Range<f64>,
    days: Vec<f64>,
}

impl Ranged for DayAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span <= 0.0 {
            return (limit.0 + limit.1) / 2;
        }
        let share = (v - self.range.start) / span;
        limit.0 + (f64::from(limit.1 - limit.0) * share + 1e-3).floor() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.days.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}
/// Any of them.
pub(crate) type AnyTimeChart<'a, 'b, X> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, RangedCoordf64>>;

/// The house mesh: time labels by `fmt_x`, `y_desc`, the palette's axis, grid and text.
macro_rules! house_mesh {
    ($chart:expr, $p:expr, $title:expr, $fmt_x:expr, $y_desc:expr, $x_labels:expr) => {{
        let fmt_y = |y: &f64| format!("{y:.0}");
        $chart
            .configure_mesh()
            .x_desc("Time (UTC)")
            .y_desc($y_desc)
            .x_labels($x_labels)
            .y_labels(6)
            .x_label_formatter($fmt_x)
            .y_label_formatter(&fmt_y)
            .axis_style(rgb($p.axis))
            .bold_line_style(rgb($p.grid))
            .max_light_lines(0)
            .label_style((FONT, 12).into_font().color(&rgb($p.muted)))
            .axis_desc_style((FONT, 13).into_font().color(&rgb($p.text)))
            .draw()
            .map_err(|e| render_error($title, e))
    }};
}

/// The chart in the house layout (caption, margins, label areas) over `x` and `y`.
fn built<'a, 'b, X: Ranged<ValueType = f64>>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    p: &Palette,
    x: X,
    y: Range<f64>,
) -> Result<AnyTimeChart<'a, 'b, X>, ChartError> {
    ChartBuilder::on(root)
        .caption(title, (FONT, 18).into_font().color(&rgb(p.text)))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, RangedCoordf64::from(y))
        .map_err(|e| render_error(title, e))
}

/// Builds the chart and draws its mesh: title, "Time (UTC)" labels fitted to the span, `y_desc`.
pub(crate) fn time_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    p: &Palette,
    x: Range<f64>,
    y: Range<f64>,
    y_desc: &str,
) -> Result<TimeChart<'a, 'b>, ChartError> {
    let span = x.end - x.start;
    let mut chart = built(root, title, p, x.into(), y)?;
    let fmt_x = |x: &f64| time_label(*x, span);
    house_mesh!(chart, p, title, &fmt_x, y_desc, 8)?;
    Ok(chart)
}

/// Like [`time_chart`], with the x labels at `days` (Unix ms of midnights) as dates.
pub(crate) fn day_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    p: &Palette,
    x: Range<f64>,
    days: Vec<f64>,
    y: Range<f64>,
    y_desc: &str,
) -> Result<DayChart<'a, 'b>, ChartError> {
    tick_chart(root, title, p, x, days, "%m-%d", y, y_desc)
}

/// Like [`time_chart`], with the x labels on whole UTC hours or days (every 1, 2, 3, 6 or 12
/// hours, or 1, 2, 3 or 7 days, whichever gives at most 8 labels): "09:00", "12:00", or
/// "12-05" at midnights and for day steps.
pub(crate) fn aligned_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    p: &Palette,
    x: Range<f64>,
    y: Range<f64>,
    y_desc: &str,
) -> Result<DayChart<'a, 'b>, ChartError> {
    let (ticks, days) = aligned_ticks(&x, 8);
    tick_chart(root, title, p, x, ticks, if days { "%m-%d" } else { "%H:%M" }, y, y_desc)
}

/// Instants (Unix ms) on whole UTC hours or days in `x`, at most `max` of them, and whether the
/// step is whole days.
pub(crate) fn aligned_ticks(x: &Range<f64>, max: usize) -> (Vec<f64>, bool) {
    const HOUR: i64 = 3_600_000;
    const STEPS: [i64; 9] =
        [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 72 * HOUR, 168 * HOUR];
    let (from, to) = (x.start.ceil() as i64, x.end.floor() as i64);
    let step = STEPS.into_iter().find(|s| ((to - from) / s) as usize <= max.max(1)).unwrap_or(STEPS[STEPS.len() - 1]);
    let first = from.div_euclid(step) * step + if from.rem_euclid(step) == 0 { 0 } else { step };
    let ticks = (0..).map(|i| first + i * step).take_while(|t| *t <= to).map(|t| t as f64).collect();
    (ticks, step >= 24 * HOUR)
}

/// The chart with its x labels at `ticks`, formatted with `format` (a midnight on an hour axis
/// reads as its date).
#[allow(clippy::too_many_arguments)]
fn tick_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
    p: &Palette,
    x: Range<f64>,
    ticks: Vec<f64>,
    format: &str,
    y: Range<f64>,
    y_desc: &str,
) -> Result<DayChart<'a, 'b>, ChartError> {
    let labels = ticks.len();
    let mut chart = built(root, title, p, DayAxis { range: x, days: ticks }, y)?;
    let fmt_x = |x: &f64| {
        chrono::DateTime::from_timestamp_millis(*x as i64)
            .map(|t| {
                let midnight = t.timestamp_millis().rem_euclid(86_400_000) == 0;
                t.format(if midnight { "%m-%d" } else { format }).to_string()
            })
            .unwrap_or_default()
    };
    house_mesh!(chart, p, title, &fmt_x, y_desc, labels)?;
    Ok(chart)
}

/// Writes `text` ("No data yet") in the middle of the plot.
pub(crate) fn no_data<X: Ranged<ValueType = f64>>(
    chart: &mut AnyTimeChart<'_, '_, X>,
    title: &str,
    p: &Palette,
    text: &str,
) -> Result<(), ChartError> {
    let (x, y) = (chart.x_range(), chart.y_range());
    let centre = ((x.start + x.end) / 2.0, (y.start + y.end) / 2.0);
    let muted = rgb(p.muted);
    let style = TextStyle::from((FONT, 14).into_font()).color(&muted).pos(Pos::new(HPos::Center, VPos::Center));
    chart
        .draw_series(std::iter::once(Text::new(text.to_string(), centre, style)))
        .map_err(|e| render_error(title, e))?;
    Ok(())
}

/// Draws the labelled series' legend in the upper left corner.
pub(crate) fn legend<'a, 'b, X: Ranged<ValueType = f64>>(
    chart: &mut AnyTimeChart<'a, 'b, X>,
    title: &str,
    p: &Palette,
) -> Result<(), ChartError>
where
    'b: 'a,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(rgb(p.background).mix(0.85))
        .border_style(rgb(p.grid))
        .label_font((FONT, 12).into_font().color(&rgb(p.text)))
        .draw()
        .map_err(|e| render_error(title, e))
}
