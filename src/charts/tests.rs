use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::monitor::{DayUptime, LatencyPoint, StateSpan, Uptime};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().expect("valid date")
}

/// A small XML well-formedness check: every tag closes in order, attributes are quoted, and
/// text holds no bare `<` or unescaped `&`.
fn assert_well_formed(svg: &str) {
    assert!(svg.trim_start().starts_with("<svg"), "starts with <svg: {}", &svg[..svg.len().min(80)]);
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        check_text(text);
        let close = rest[open..].find('>').map(|c| open + c).expect("unclosed tag");
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().expect("closing tag without an open one");
            assert_eq!(top, name.trim(), "mismatched closing tag");
        } else if !tag.starts_with('?') && !tag.starts_with('!') {
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name = body.split_whitespace().next().expect("tag name").to_string();
            assert_eq!(body.matches('"').count() % 2, 0, "unbalanced quotes in <{body}>");
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

fn check_text(text: &str) {
    let mut t = text;
    while let Some(i) = t.find('&') {
        let entity = &t[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"].iter().any(|e| entity.starts_with(e)),
            "unescaped & in {text:?}"
        );
        t = &t[i + 1..];
    }
}

fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|s| s.split_once('>').and_then(|(_, r)| r.split_once("</text>")).map(|(t, _)| t.trim().to_string()))
        .collect()
}

fn assert_chart(svg: &str, title: &str, labels: &[&str]) {
    assert_well_formed(svg);
    let t = texts(svg);
    assert!(t.iter().any(|x| x == title), "title {title:?} not in {t:?}");
    for l in labels {
        assert!(t.iter().any(|x| x == l), "axis label {l:?} not in {t:?}");
    }
}

/// The 24 hours from `t0()`.
fn day() -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    (t0(), t0() + chrono::Duration::hours(24))
}

#[test]
fn latency_chart_spans_the_asked_range_with_distinct_time_labels() {
    // Checks started five minutes before the end of a one-hour window.
    let end = t0() + chrono::Duration::hours(1);
    let points: Vec<LatencyPoint> = latency_points()
        .into_iter()
        .take(5)
        .enumerate()
        .map(|(i, mut p)| {
            p.start = end - chrono::Duration::minutes(5 - i as i64);
            p
        })
        .collect();
    let svg = latency_chart("Last hour", &points, (t0(), end), Theme::Light, DEFAULT_SIZE).expect("render");
    let labels: Vec<String> = texts(&svg).into_iter().filter(|t| t.len() == 5 && t.as_bytes()[2] == b':').collect();
    assert!(labels.len() >= 4, "time labels across the hour: {labels:?}");
    let mut distinct = labels.clone();
    distinct.dedup();
    assert_eq!(distinct, labels, "no label repeats");
    let (first, last) = (labels.first().cloned().unwrap_or_default(), labels.last().cloned().unwrap_or_default());
    assert!(first.as_str() <= "00:10" && last.as_str() >= "00:50", "the axis covers the whole hour: {labels:?}");
}

fn latency_points() -> Vec<LatencyPoint> {
    (0..96)
        .map(|i| {
            let base = 80.0 + 30.0 * ((i as f64) / 8.0).sin().abs() + if (40..46).contains(&i) { 400.0 } else { 0.0 };
            LatencyPoint {
                start: t0() + chrono::Duration::minutes(15 * i),
                count: 90,
                failures: u64::from(i % 17 == 0),
                min: Some(Duration::from_millis((base * 0.7) as u64)),
                avg: Some(Duration::from_millis(base as u64)),
                max: Some(Duration::from_millis((base * 2.2) as u64)),
                p95: Some(Duration::from_millis((base * 1.6) as u64)),
            }
        })
        .collect()
}

fn uptime_days() -> Vec<DayUptime> {
    (0..90)
        .map(|i| {
            let checks = if (20..24).contains(&i) { 0 } else { 2880 };
            let failures = match i {
                35 => 60,
                36 => 10,
                70 => 200,
                71 => 2,
                _ => 0,
            };
            DayUptime {
                day: (t0() + chrono::Duration::days(i)).date_naive(),
                uptime: Uptime { checks, failures: failures.min(checks), maintenance: 0 },
            }
        })
        .collect()
}

fn timeline_rows() -> Vec<(String, Vec<StateSpan>)> {
    let h = |n: i64| t0() + chrono::Duration::hours(n);
    let span = |state, a, b| StateSpan { state, from: h(a), to: h(b) };
    vec![
        (
            "binance".into(),
            vec![span(HealthState::Up, 0, 10), span(HealthState::Maintenance, 10, 12), span(HealthState::Up, 12, 24)],
        ),
        (
            "kraken".into(),
            vec![
                span(HealthState::Up, 0, 5),
                span(HealthState::Degraded, 5, 6),
                span(HealthState::Down, 6, 7),
                span(HealthState::Up, 7, 24),
            ],
        ),
        ("coinbase_exchange".into(), vec![span(HealthState::Unknown, 0, 2), span(HealthState::Up, 2, 24)]),
    ]
}

#[test]
fn latency_chart_is_well_formed_svg_with_title_and_axis_labels() {
    for theme in [Theme::Light, Theme::Dark] {
        let svg =
            latency_chart("Binance — response time", &latency_points(), day(), theme, DEFAULT_SIZE).expect("render");
        assert_chart(&svg, "Binance — response time", &["Time (UTC)", "Response time (ms)", "average", "p95"]);
        assert!(svg.contains(&Palette::css(theme.palette().background)), "themed background");
    }
}

#[test]
fn latency_chart_without_data_says_so() {
    let svg = latency_chart("Empty", &[], day(), Theme::Light, DEFAULT_SIZE).expect("render");
    assert_chart(&svg, "Empty", &["Time (UTC)", "Response time (ms)", "No data yet"]);
}

#[test]
fn uptime_strip_has_one_bar_per_day_coloured_by_uptime_and_grey_without_data() {
    let days = uptime_days();
    let svg = uptime_strip("Kraken — 90-day uptime", &days, Theme::Light, (900, 200)).expect("render");
    assert_chart(&svg, "Kraken — 90-day uptime", &["Date (UTC), one bar per day", "Uptime (%)"]);
    let p = Theme::Light.palette();
    let fill = |c: u32| format!("fill=\"{}\"", Palette::css(c));
    assert_eq!(svg.matches(&fill(p.no_data)).count(), 4, "4 days without data");
    assert_eq!(svg.matches(&fill(p.down)).count(), 1, "day 70: 93 %");
    assert_eq!(svg.matches(&fill(p.degraded)).count(), 1, "day 35: 97.9 %");
    assert_eq!(svg.matches(&fill(p.good)).count(), 1, "day 36: 99.65 %");
    assert_eq!(svg.matches(&fill(p.up)).count(), 90 - 7);
}

#[test]
fn uptime_colours_follow_the_thresholds() {
    let p = Theme::Dark.palette();
    assert_eq!(uptime_colour(&p, None), p.no_data);
    assert_eq!(uptime_colour(&p, Some(1.0)), p.up);
    assert_eq!(uptime_colour(&p, Some(0.995)), p.good);
    assert_eq!(uptime_colour(&p, Some(0.96)), p.degraded);
    assert_eq!(uptime_colour(&p, Some(0.5)), p.down);
}

#[test]
fn state_timeline_names_each_provider_and_colours_each_state() {
    let rows = timeline_rows();
    let until = t0() + chrono::Duration::hours(24);
    let svg =
        state_timeline("State changes, last 24 h", &rows, t0(), until, Theme::Dark, DEFAULT_SIZE).expect("render");
    assert_chart(
        &svg,
        "State changes, last 24 h",
        &["Time (UTC)", "Provider", "binance", "kraken", "coinbase_exchange", "down", "maintenance"],
    );
    let p = Theme::Dark.palette();
    for s in [HealthState::Up, HealthState::Degraded, HealthState::Down, HealthState::Maintenance] {
        assert!(svg.contains(&Palette::css(p.state(s))), "{s} colour");
    }
}

#[test]
fn state_timeline_renders_a_single_row_and_no_rows() {
    let until = t0() + chrono::Duration::hours(1);
    let one = vec![("kraken".to_string(), vec![StateSpan { state: HealthState::Up, from: t0(), to: until }])];
    let svg = state_timeline("One", &one, t0(), until, Theme::Light, DEFAULT_SIZE).expect("render");
    assert_chart(&svg, "One", &["kraken", "Time (UTC)"]);
    let svg = state_timeline("None", &[], t0(), until, Theme::Light, DEFAULT_SIZE).expect("render");
    assert_chart(&svg, "None", &["Provider"]);
}

#[test]
fn titles_are_escaped() {
    let svg = latency_chart("A & B <test>", &latency_points(), day(), Theme::Light, DEFAULT_SIZE).expect("render");
    assert_well_formed(&svg);
    assert!(svg.contains("A &amp; B &lt;test&gt;"));
}

/// A filled rectangle of an SVG, in pixels.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

/// The `<rect>`s filled with `colour`, in drawing order.
fn rects(svg: &str, colour: u32) -> Vec<Rect> {
    let fill = format!("fill=\"{}\"", Palette::css(colour));
    let attr = |tag: &str, name: &str| -> f64 {
        let start = tag.find(&format!(" {name}=\"")).map(|i| i + name.len() + 3).expect("attribute");
        tag[start..].split('"').next().and_then(|v| v.parse().ok()).expect("a number")
    };
    svg.split("<rect")
        .skip(1)
        .map(|r| &r[..r.find('>').unwrap_or(r.len())])
        .filter(|tag| tag.contains(&fill))
        .map(|tag| Rect {
            x: attr(tag, "x"),
            y: attr(tag, "y"),
            width: attr(tag, "width"),
            height: attr(tag, "height"),
        })
        .collect()
}

/// The rectangles drawn for the data: all but the legends' swatches (12 px wide; no bar or
/// span in these fixtures is).
fn data_rects(svg: &str, colour: u32) -> Vec<Rect> {
    rects(svg, colour).into_iter().filter(|r| r.width != 12.0).collect()
}

/// Every `#RRGGBB` an SVG uses.
fn colours(svg: &str) -> std::collections::BTreeSet<String> {
    svg.match_indices('#')
        .filter_map(|(i, _)| svg.get(i..i + 7))
        .filter(|c| c[1..].chars().all(|ch| ch.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect()
}

fn palette_colours(theme: Theme) -> std::collections::BTreeSet<String> {
    let p = theme.palette();
    [
        p.background,
        p.text,
        p.muted,
        p.grid,
        p.axis,
        p.series,
        p.p95,
        p.up,
        p.good,
        p.degraded,
        p.down,
        p.maintenance,
        p.unknown,
        p.no_data,
    ]
    .into_iter()
    .map(Palette::css)
    .collect()
}

/// One of each chart, drawn from the fixtures above.
fn one_of_each(theme: Theme) -> Vec<(&'static str, String)> {
    let until = t0() + chrono::Duration::hours(24);
    let hour = Duration::from_secs(3600);
    vec![
        ("latency", latency_chart("Response time", &latency_points(), day(), theme, DEFAULT_SIZE)),
        ("uptime", uptime_strip("Uptime", &uptime_days(), theme, (900, 200))),
        ("timeline", state_timeline("State changes", &timeline_rows(), t0(), until, theme, DEFAULT_SIZE)),
        ("usage", usage_chart("Calls per hour", &usage_buckets(), day(), hour, theme, DEFAULT_SIZE)),
    ]
    .into_iter()
    .map(|(name, svg)| (name, svg.unwrap_or_else(|e| panic!("{name}: {e}"))))
    .collect()
}

#[test]
fn every_chart_draws_only_in_its_themes_colours() {
    let (light, dark) = (palette_colours(Theme::Light), palette_colours(Theme::Dark));
    assert!(light.is_disjoint(&dark), "a colour in both themes would hide a mix-up");
    for (theme, own) in [(Theme::Light, &light), (Theme::Dark, &dark)] {
        let background = format!("fill=\"{}\"", Palette::css(theme.palette().background));
        for (chart, svg) in one_of_each(theme) {
            assert_well_formed(&svg);
            let foreign: Vec<String> = colours(&svg).difference(own).cloned().collect();
            assert!(foreign.is_empty(), "the {} {chart} chart uses {foreign:?}", theme.as_str());
            assert!(svg.contains(&background), "the {} {chart} chart fills its background", theme.as_str());
        }
    }
}

#[test]
fn latency_chart_draws_each_point_in_the_asked_range_and_dots_a_short_series() {
    let average_line = |svg: &str| -> usize {
        let stroke = format!("stroke=\"{}\"", Palette::css(Theme::Light.palette().series));
        svg.split("<polyline")
            .skip(1)
            .filter(|l| l[..l.find('>').unwrap_or(l.len())].contains(&stroke))
            .filter_map(|l| l.split("points=\"").nth(1)?.split('"').next().map(|p| p.split_whitespace().count()))
            .max()
            .unwrap_or(0)
    };
    // 96 quarter-hours over the day: one point each.
    let svg = latency_chart("Day", &latency_points(), day(), Theme::Light, DEFAULT_SIZE).expect("render");
    assert_eq!(average_line(&svg), 96);
    assert_eq!(svg.matches("<circle").count(), 0, "no dots on a long series");
    // Asked for the first 12 hours: the points after it are not drawn (00:00 to 12:00 is 49).
    let half = (t0(), t0() + chrono::Duration::hours(12));
    let svg = latency_chart("Half a day", &latency_points(), half, Theme::Light, DEFAULT_SIZE).expect("render");
    assert_eq!(average_line(&svg), 49);
    // A few checks: each is marked with a dot, so a lone one is visible.
    let few: Vec<LatencyPoint> = latency_points().into_iter().take(5).collect();
    let svg = latency_chart("Five checks", &few, day(), Theme::Light, DEFAULT_SIZE).expect("render");
    assert_eq!(svg.matches("<circle").count(), 5);
}

#[test]
fn uptime_strip_labels_the_days_by_date_from_the_oldest() {
    let svg = uptime_strip("Uptime", &uptime_days(), Theme::Dark, (900, 200)).expect("render");
    let dates: Vec<String> = texts(&svg).into_iter().filter(|t| t.len() == 5 && t.as_bytes()[2] == b'-').collect();
    assert!(dates.len() >= 5, "dates along the strip: {dates:?}");
    assert_eq!(dates.first().map(String::as_str), Some("03-01"), "the oldest day first: {dates:?}");
    let mut sorted = dates.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, dates, "dates rise left to right without repeats");
    // 90 days from 03-01 end on 05-29.
    assert!(dates.last().is_some_and(|d| d.as_str() <= "05-29"), "{dates:?}");
    let p = Theme::Dark.palette();
    let bars: usize = [p.up, p.good, p.degraded, p.down, p.no_data].iter().map(|c| data_rects(&svg, *c).len()).sum();
    assert_eq!(bars, 90, "one bar per day in the dark theme too");
}

#[test]
fn state_timeline_draws_a_down_hour_in_the_down_colour_where_it_happened() {
    for theme in [Theme::Light, Theme::Dark] {
        let p = theme.palette();
        let until = t0() + chrono::Duration::hours(24);
        let svg = state_timeline("States", &timeline_rows(), t0(), until, theme, DEFAULT_SIZE).expect("render");
        // kraken: up 0–5 h, degraded 5–6 h, down 6–7 h, up 7–24 h.
        let down = data_rects(&svg, p.down);
        assert_eq!(down.len(), 1, "one down span: {down:?}");
        let degraded = data_rects(&svg, p.degraded);
        assert_eq!(degraded.len(), 1, "one degraded span: {degraded:?}");
        let maintenance = data_rects(&svg, p.maintenance);
        assert_eq!(maintenance.len(), 1, "binance's maintenance: {maintenance:?}");
        assert_eq!(data_rects(&svg, p.up).len(), 5, "binance 2, kraken 2, coinbase_exchange 1");
        // The row spans the day: the down hour starts a quarter of the way in and is 1/24 wide.
        let row: Vec<Rect> = data_rects(&svg, p.up).into_iter().filter(|r| r.y == down[0].y).collect();
        assert_eq!(row.len(), 2, "kraken is up before and after: {row:?}");
        let start = row.iter().map(|r| r.x).fold(f64::MAX, f64::min);
        let end = row.iter().map(|r| r.x + r.width).fold(f64::MIN, f64::max);
        let hour = (end - start) / 24.0;
        assert!((down[0].x - (start + 6.0 * hour)).abs() <= 2.0, "down from 06:00: {down:?}, an hour is {hour} px");
        assert!((down[0].width - hour).abs() <= 2.0, "down for an hour: {down:?}, an hour is {hour} px");
        assert!((maintenance[0].width - 2.0 * hour).abs() <= 2.0, "maintenance for two hours: {maintenance:?}");
    }
}

fn usage_buckets() -> Vec<crate::usage::UsageBucket> {
    (0..24)
        .map(|h| crate::usage::UsageBucket {
            start: t0() + chrono::Duration::hours(h),
            calls: (h as u64 * 7) % 40,
            errors: if h == 5 { 3 } else { 0 },
            cost: 0.0,
            units: 0.0,
        })
        .collect()
}

#[test]
fn usage_chart_has_title_units_a_legend_and_red_error_bars_in_both_themes() {
    for theme in [Theme::Light, Theme::Dark] {
        let svg = usage_chart(
            "Calls per hour, last 24 h",
            &usage_buckets(),
            day(),
            Duration::from_secs(3600),
            theme,
            DEFAULT_SIZE,
        )
        .expect("render");
        assert_chart(&svg, "Calls per hour, last 24 h", &["Time (UTC)", "Calls (per hour)", "calls", "errors"]);
        let p = theme.palette();
        assert!(svg.contains(&Palette::css(p.down)), "errors drawn in the theme's down colour");
        assert!(svg.contains(&Palette::css(p.series)), "calls drawn in the series colour");
        assert!(svg.contains(&Palette::css(p.background)), "themed background");
        assert!(!texts(&svg).iter().any(|t| t == "No calls yet"));
    }
}

#[test]
fn usage_chart_draws_a_bar_per_hour_with_calls_and_the_errors_at_its_foot_in_the_down_colour() {
    for theme in [Theme::Light, Theme::Dark] {
        let p = theme.palette();
        let hour = Duration::from_secs(3600);
        let svg = usage_chart("Calls per hour", &usage_buckets(), day(), hour, theme, DEFAULT_SIZE).expect("render");
        // Every hour but the first had calls; hour 5 had 3 errors in its 35 calls.
        let calls = data_rects(&svg, p.series);
        assert_eq!(calls.len(), 23, "a bar per hour with calls: {calls:?}");
        let errors = data_rects(&svg, p.down);
        assert_eq!(errors.len(), 1, "one error bar: {errors:?}");
        let above = calls.iter().find(|c| (c.x - errors[0].x).abs() < 1.0).expect("hour 5's calls bar");
        let ratio = errors[0].height / (errors[0].height + above.height);
        assert!((ratio - 3.0 / 35.0).abs() < 0.03, "errors are 3 of the bar's 35 calls: {ratio}");
    }
}

#[test]
fn usage_chart_without_calls_says_so() {
    let empty: Vec<crate::usage::UsageBucket> =
        usage_buckets().into_iter().map(|b| crate::usage::UsageBucket { calls: 0, errors: 0, ..b }).collect();
    let week = (t0(), t0() + chrono::Duration::days(30));
    for buckets in [empty, Vec::new()] {
        let svg = usage_chart(
            "Calls per day, last 30 days",
            &buckets,
            week,
            Duration::from_secs(86_400),
            Theme::Dark,
            DEFAULT_SIZE,
        )
        .expect("render");
        assert_chart(&svg, "Calls per day, last 30 days", &["Calls (per day)", "No calls yet"]);
    }
}

fn forecast_view(quota: Option<f64>, calls: f64) -> crate::usage::forecast::UsageForecast {
    use crate::usage::forecast::{forecast, Counted, ForecastInput};
    let now = Utc.with_ymd_and_hms(2026, 3, 15, 12, 30, 0).single().expect("time");
    let first = now.timestamp() - 1800 - 20 * 86_400;
    let hourly = (0..=20 * 24).map(|i| (first + i * 3600, calls + ((i * 7) % 5) as f64 * calls / 10.0)).collect();
    let input = ForecastInput {
        provider: Some("coinmarketcap".into()),
        counted: Counted::Weight,
        operations: vec!["ticker".into()],
        hourly,
        first_hour: Some(first),
        quota: quota.map(|q| ("monthly_credits".to_string(), q)),
    };
    forecast(&input, now)
}

#[test]
fn forecast_chart_shows_actual_forecast_band_and_quota_with_a_label_at_midnight_every_third_day() {
    let view = forecast_view(Some(9000.0), 10.0);
    assert!(view.projected_high > view.projected_low, "a band to draw");
    for theme in [Theme::Light, Theme::Dark] {
        let p = theme.palette();
        let svg = forecast_chart("Weight this month, coinmarketcap", &view, theme, DEFAULT_SIZE).expect("render");
        assert_chart(
            &svg,
            "Weight this month, coinmarketcap",
            &["Time (UTC)", "Weight this month", "actual", "forecast", "band", "quota"],
        );
        let days: Vec<String> = texts(&svg).into_iter().filter(|t| t.len() == 5 && t.starts_with("03-")).collect();
        let want: Vec<String> = (1..=31).step_by(3).map(|d| format!("03-{d:02}")).collect();
        assert_eq!(days, want, "day labels at midnights, every third day of March");
        assert!(svg.contains(&Palette::css(p.down)), "the quota in the theme's down colour");
        assert!(svg.contains("<polygon") && svg.contains(&Palette::css(p.series)), "the band and the lines");
        assert!(!texts(&svg).iter().any(|t| t == "No calls yet this month"));
    }
}

#[test]
fn forecast_chart_without_calls_says_so_and_without_a_quota_draws_no_quota_line() {
    let empty = forecast_view(None, 0.0);
    let svg = forecast_chart("Calls this month, all providers", &empty, Theme::Light, DEFAULT_SIZE).expect("render");
    assert!(texts(&svg).iter().any(|t| t == "No calls yet this month"));
    let busy = forecast_view(None, 10.0);
    let svg = forecast_chart("Calls this month", &busy, Theme::Light, DEFAULT_SIZE).expect("render");
    assert!(!texts(&svg).iter().any(|t| t == "quota"));
    assert!(!svg.contains(&Palette::css(Theme::Light.palette().down)), "no quota line");
}

#[test]
fn usage_chart_labels_sit_on_whole_hours_and_days() {
    // A day that starts at 08:40: labels every 3 hours on the hour, midnight as its date.
    let since = t0() + chrono::Duration::minutes(8 * 60 + 40);
    let until = since + chrono::Duration::hours(24);
    let buckets: Vec<_> = usage_buckets()
        .into_iter()
        .map(|b| crate::usage::UsageBucket { start: b.start + chrono::Duration::hours(8), ..b })
        .collect();
    let svg =
        usage_chart("Calls per hour", &buckets, (since, until), Duration::from_secs(3600), Theme::Light, DEFAULT_SIZE)
            .expect("render");
    let labels: Vec<&str> = svg.lines().map(str::trim).collect();
    for label in ["09:00", "12:00", "21:00", "03-02", "06:00"] {
        assert!(labels.contains(&label), "no {label} label");
    }
    assert!(!labels.contains(&"03-02 00:00") && !labels.contains(&"08:40"), "labels off the hour");
    let (ticks, days) = super::time_axes::aligned_ticks(&(ms(t0())..ms(t0() + chrono::Duration::days(30))), 8);
    assert!(days, "30 days are labelled by days");
    assert!(ticks.len() <= 8 && ticks.len() >= 4, "{ticks:?}");
    assert!(ticks.iter().all(|t| (*t as i64).rem_euclid(86_400_000) == 0), "at midnights: {ticks:?}");
}
