//! Charts rendered by the core as SVG strings (plotters' SVG backend, no font files: text is
//! emitted as SVG `<text>` and laid out by the viewer). The UI places them; it does not
//! compute them. Every chart has a title, axis labels with units and a [`Theme`].
//!
//! - [`latency_chart`]: response time over time, average and p95.
//! - [`uptime_strip`]: one bar per day, coloured by that day's uptime, grey without data.
//! - [`state_timeline`]: one row per provider, coloured spans per state.
//! - [`usage_chart`]: calls per hour or day, errors highlighted.
//! - [`forecast_chart`]: the month's running total, its forecast with a band, and the quota.

mod forecast;
mod latency;
mod time_axes;
mod timeline;
mod uptime;
mod usage;

use chrono::{DateTime, TimeZone, Utc};
use plotters::style::RGBColor;

pub use forecast::forecast_chart;
pub use latency::latency_chart;
pub use timeline::state_timeline;
pub use uptime::{uptime_colour, uptime_strip};
pub use usage::{bucket_name, usage_chart};

use crate::monitor::HealthState;

/// The default size of a chart, in pixels.
pub const DEFAULT_SIZE: (u32, u32) = (800, 320);

/// Font family of every text; the viewer picks a real font.
pub(crate) const FONT: &str = "sans-serif";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

impl Theme {
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn parse(s: &str) -> Option<Theme> {
        match s {
            "light" => Some(Theme::Light),
            "dark" => Some(Theme::Dark),
            _ => None,
        }
    }

    /// The colours of this theme (GitHub Primer's light and dark palettes: contrast-checked
    /// against their own backgrounds).
    pub fn palette(self) -> Palette {
        match self {
            Theme::Light => Palette {
                background: 0xffffff,
                text: 0x1f2328,
                muted: 0x57606a,
                grid: 0xd8dee4,
                axis: 0x8c959f,
                series: 0x0969da,
                p95: 0xbf3989,
                up: 0x1a7f37,
                good: 0x4ac26b,
                degraded: 0xbf8700,
                down: 0xcf222e,
                maintenance: 0x8250df,
                unknown: 0x8c959f,
                no_data: 0xd0d7de,
            },
            Theme::Dark => Palette {
                background: 0x0d1117,
                text: 0xe6edf3,
                muted: 0x8b949e,
                grid: 0x21262d,
                axis: 0x484f58,
                series: 0x58a6ff,
                p95: 0xf778ba,
                up: 0x3fb950,
                good: 0x2ea043,
                degraded: 0xd29922,
                down: 0xf85149,
                maintenance: 0xa371f7,
                unknown: 0x6e7681,
                no_data: 0x30363d,
            },
        }
    }
}

/// Colours as 0xRRGGBB, public so the UI can match its own legends to the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub background: u32,
    pub text: u32,
    pub muted: u32,
    pub grid: u32,
    pub axis: u32,
    pub series: u32,
    pub p95: u32,
    pub up: u32,
    /// Between "up" and "degraded" (the uptime strip's 99–99.9 %).
    pub good: u32,
    pub degraded: u32,
    pub down: u32,
    pub maintenance: u32,
    pub unknown: u32,
    pub no_data: u32,
}

impl Palette {
    pub fn state(&self, s: HealthState) -> u32 {
        match s {
            HealthState::Up => self.up,
            HealthState::Degraded => self.degraded,
            HealthState::Down => self.down,
            HealthState::Maintenance => self.maintenance,
            HealthState::Unknown => self.unknown,
        }
    }

    /// `#RRGGBB` (as plotters writes it).
    pub fn css(colour: u32) -> String {
        format!("#{colour:06X}")
    }
}

pub(crate) fn rgb(c: u32) -> RGBColor {
    RGBColor(((c >> 16) & 0xff) as u8, ((c >> 8) & 0xff) as u8, (c & 0xff) as u8)
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("could not render the chart \"{title}\": {message}")]
    Render { title: String, message: String },
}

pub(crate) fn render_error(title: &str, e: impl std::fmt::Display) -> ChartError {
    ChartError::Render { title: title.to_string(), message: e.to_string() }
}

/// Formats a time axis value (Unix ms) for the span the axis covers.
pub(crate) fn time_label(ms: f64, span_ms: f64) -> String {
    let Some(t) = Utc.timestamp_millis_opt(ms as i64).single() else { return String::new() };
    // About eight labels per axis: seconds when they would otherwise repeat.
    let fmt = if span_ms <= 16.0 * 60_000.0 {
        "%H:%M:%S"
    } else if span_ms <= 36.0 * 3_600_000.0 {
        "%H:%M"
    } else if span_ms <= 8.0 * 86_400_000.0 {
        "%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    };
    t.format(fmt).to_string()
}

pub(crate) fn ms(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64
}

#[cfg(test)]
mod tests;
