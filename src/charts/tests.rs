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

#[test]
fn renders_one_of_each_chart_to_target_charts_for_a_look() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("charts");
    std::fs::create_dir_all(&dir).expect("create target/charts");
    let until = t0() + chrono::Duration::hours(24);
    for theme in [Theme::Light, Theme::Dark] {
        let t = theme.as_str();
        let files = [
            (
                format!("latency-{t}.svg"),
                latency_chart("Binance — response time, last 24 h", &latency_points(), day(), theme, DEFAULT_SIZE),
            ),
            (
                format!("uptime-{t}.svg"),
                uptime_strip("Kraken — uptime, last 90 days", &uptime_days(), theme, (900, 200)),
            ),
            (
                format!("timeline-{t}.svg"),
                state_timeline("State changes, last 24 h", &timeline_rows(), t0(), until, theme, DEFAULT_SIZE),
            ),
            (
                format!("usage-{t}.svg"),
                usage_chart(
                    "Calls per hour, last 24 h",
                    &usage_buckets(),
                    day(),
                    Duration::from_secs(3600),
                    theme,
                    DEFAULT_SIZE,
                ),
            ),
        ];
        for (name, svg) in files {
            let svg = svg.expect("render");
            assert_well_formed(&svg);
            std::fs::write(dir.join(&name), svg).expect("write chart");
        }
    }
}

fn usage_buckets() -> Vec<crate::usage::UsageBucket> {
    (0..24)
        .map(|h| crate::usage::UsageBucket {
            start: t0() + chrono::Duration::hours(h),
            calls: (h as u64 * 7) % 40,
            errors: if h == 5 { 3 } else { 0 },
            cost: 0.0,
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
