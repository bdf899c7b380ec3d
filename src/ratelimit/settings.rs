//! The limiter's user settings: the safety margin kept free on every limit and the usage
//! levels (percent of a limit) that warn and turn critical, which raise the rate-limit alerts.
//! Stored in the settings table, loaded when the core opens, set from the setup guide, the Rate
//! limits page and `keyward limits settings`.

use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};
use crate::Error;

/// Where the settings are stored (one JSON value).
pub const SETTING_KEY: &str = "limits.settings";

/// The limiter's settings as the user sets them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LimitSettings {
    /// Percent of each limit kept free (at least one unit), so a request the exchange counts
    /// differently never meets a 429. Default 2.
    pub margin_pct: f64,
    /// A limit this full (percent) warns. Default 80.
    pub warn_pct: f64,
    /// A limit this full (percent) is critical. Default 95.
    pub critical_pct: f64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let cfg = super::LimiterConfig::default();
        Self { margin_pct: cfg.margin_fraction * 100.0, warn_pct: cfg.warn_pct, critical_pct: cfg.critical_pct }
    }
}

/// The largest margin accepted: more would waste a quarter of every budget.
pub const MAX_MARGIN_PCT: f64 = 25.0;

impl LimitSettings {
    /// Refuses a value out of range, naming the field and the value.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &'static str, value: f64, reason: &str| Error::Invalid {
            field,
            value: format!("{value}"),
            reason: reason.to_string(),
        };
        if !self.margin_pct.is_finite() || !(0.0..=MAX_MARGIN_PCT).contains(&self.margin_pct) {
            return Err(bad(
                "marginPct",
                self.margin_pct,
                &format!("the safety margin must be 0 to {MAX_MARGIN_PCT} %"),
            ));
        }
        if !self.warn_pct.is_finite() || !(1.0..100.0).contains(&self.warn_pct) {
            return Err(bad("warnPct", self.warn_pct, "the warning level must be at least 1 % and under 100 %"));
        }
        if !self.critical_pct.is_finite() || self.critical_pct > 100.0 || self.critical_pct <= self.warn_pct {
            return Err(bad(
                "criticalPct",
                self.critical_pct,
                &format!("the critical level must be above the warning level ({} %) and at most 100 %", self.warn_pct),
            ));
        }
        Ok(())
    }

    /// The stored settings, the defaults when none (or unreadable ones) are stored.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(store
            .setting(SETTING_KEY)?
            .and_then(|json| serde_json::from_str::<LimitSettings>(&json).ok())
            .filter(|s| s.validate().is_ok())
            .unwrap_or_default())
    }

    /// Validates and stores them.
    pub fn save(&self, store: &Store) -> Result<(), Error> {
        self.validate()?;
        let json = serde_json::to_string(self).map_err(|e| Error::Config(e.to_string()))?;
        store.set_setting(SETTING_KEY, &json)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_limiters_and_round_trip_through_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("k.db")).expect("store");
        assert_eq!(
            LimitSettings::load(&store).expect("load"),
            LimitSettings { margin_pct: 2.0, warn_pct: 80.0, critical_pct: 95.0 }
        );
        let mine = LimitSettings { margin_pct: 5.0, warn_pct: 70.0, critical_pct: 90.0 };
        mine.save(&store).expect("save");
        assert_eq!(LimitSettings::load(&store).expect("load"), mine);
    }

    #[test]
    fn out_of_range_values_are_refused_by_field_and_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("k.db")).expect("store");
        let cases = [
            (LimitSettings { margin_pct: 30.0, ..LimitSettings::default() }, "marginPct = 30"),
            (LimitSettings { margin_pct: -1.0, ..LimitSettings::default() }, "marginPct = -1"),
            (LimitSettings { warn_pct: 0.0, ..LimitSettings::default() }, "warnPct = 0"),
            (LimitSettings { warn_pct: 96.0, ..LimitSettings::default() }, "criticalPct = 95"),
            (LimitSettings { critical_pct: 101.0, ..LimitSettings::default() }, "criticalPct = 101"),
        ];
        for (settings, wanted) in cases {
            let err = settings.save(&store).expect_err("refused").to_string();
            assert!(err.starts_with(wanted), "{err} should start with {wanted}");
        }
        assert_eq!(LimitSettings::load(&store).expect("load"), LimitSettings::default(), "nothing bad was stored");
    }
}
