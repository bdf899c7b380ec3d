//! Quiet hours: a daily local-time window in which non-critical desktop notifications are
//! held back. Alerts are still recorded, shown in the alert centre and sent to webhooks.

use chrono::{DateTime, FixedOffset, Local, NaiveTime, Utc};
use serde_json::{json, Value};

/// The settings key the quiet hours are stored under (JSON).
pub const SETTING_KEY: &str = "alerts.quiet_hours";

/// Which clock the window is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietZone {
    /// The machine's local time zone (follows daylight saving).
    Local,
    /// A fixed offset from UTC in minutes (east positive), e.g. for a VPS in UTC.
    Offset(i32),
}

/// From `start` to `end` every day; a window with `end` before `start` spans midnight
/// (22:00–07:00). `start == end` is an empty window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub zone: QuietZone,
}

impl QuietHours {
    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let local = match self.zone {
            QuietZone::Local => now.with_timezone(&Local).time(),
            QuietZone::Offset(minutes) => match FixedOffset::east_opt(minutes.saturating_mul(60)) {
                Some(tz) => now.with_timezone(&tz).time(),
                None => now.time(),
            },
        };
        if self.start <= self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }

    /// Parses `HH:MM` times, e.g. from the CLI.
    pub fn parse(start: &str, end: &str, zone: QuietZone) -> Result<Self, String> {
        let t = |which: &str, v: &str| {
            NaiveTime::parse_from_str(v.trim(), "%H:%M")
                .map_err(|_| format!("quiet hours {which} {v:?} is not a time like 22:00"))
        };
        let q = Self { start: t("start", start)?, end: t("end", end)?, zone };
        q.validate()?;
        Ok(q)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if let QuietZone::Offset(m) = self.zone {
            if !(-14 * 60..=14 * 60).contains(&m) {
                return Err(format!("quiet hours UTC offset {m} minutes is outside -840..=840"));
            }
        }
        Ok(())
    }

    pub(crate) fn to_json(self) -> String {
        let zone = match self.zone {
            QuietZone::Local => Value::String("local".into()),
            QuietZone::Offset(m) => json!(m),
        };
        json!({
            "start": self.start.format("%H:%M").to_string(),
            "end": self.end.format("%H:%M").to_string(),
            "zone": zone,
        })
        .to_string()
    }

    pub(crate) fn from_json(text: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("stored quiet hours are not JSON: {e}"))?;
        let field = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
        let zone = match v.get("zone") {
            Some(Value::Number(n)) => QuietZone::Offset(
                n.as_i64()
                    .and_then(|m| i32::try_from(m).ok())
                    .ok_or_else(|| format!("quiet hours zone {n} is not minutes"))?,
            ),
            _ => QuietZone::Local,
        };
        Self::parse(&field("start"), &field("end"), zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).single().expect("valid date")
    }

    #[test]
    fn a_window_across_midnight_covers_late_evening_and_early_morning() {
        let q = QuietHours::parse("22:00", "07:00", QuietZone::Offset(0)).expect("valid");
        assert!(q.contains(at(23, 30)));
        assert!(q.contains(at(6, 59)));
        assert!(!q.contains(at(7, 0)));
        assert!(!q.contains(at(12, 0)));
    }

    #[test]
    fn the_window_is_read_in_its_zone_not_in_utc() {
        // 22:00–07:00 at UTC+2 is 20:00–05:00 UTC.
        let q = QuietHours::parse("22:00", "07:00", QuietZone::Offset(120)).expect("valid");
        assert!(q.contains(at(20, 30)));
        assert!(!q.contains(at(5, 30)));
    }

    #[test]
    fn quiet_hours_round_trip_through_the_setting() {
        let q = QuietHours::parse("09:15", "17:45", QuietZone::Offset(-300)).expect("valid");
        assert_eq!(QuietHours::from_json(&q.to_json()), Ok(q));
        let err = QuietHours::parse("25:00", "07:00", QuietZone::Local).expect_err("bad time");
        assert!(err.contains("\"25:00\""), "{err}");
    }
}
