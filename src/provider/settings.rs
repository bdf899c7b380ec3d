//! A typed change of the settings the Providers page edits: display name, timeouts, retry,
//! authentication, base URLs and endpoint columns.
//!
//! Each field says which spec field it changes, with that field's own type, so nothing is
//! parsed from text and a name like `"123"` stays a string. [`crate::provider::Registry::apply_settings`]
//! applies a change to the current spec and stores the result in one validated write, like
//! [`crate::provider::Registry::set`] does for dotted-path edits; errors name the field as
//! the spec does (`endpoints.ticker.weight`) and the value.
//!
//! # Unchanged, set and cleared
//!
//! `None` leaves a field as it is. The optional auth fields (`header_name`, `query_param`,
//! `recv_window_ms`, `key_version`) can also be removed from the spec: they are a
//! [`Clearable`], where `Some(None)` clears and `Some(Some(v))` sets.
//!
//! Values from a form (JSON numbers are doubles) become the whole numbers a field holds with
//! [`whole_number`]; scheme, method and class names with [`auth_scheme`], [`http_method`] and
//! [`operation_class`]. Each reports a [`FieldError`] naming the field and the value.

use std::collections::BTreeMap;

use super::error::{FieldError, SpecError};
use super::spec::{HttpMethod, OperationClass, ProviderSpec};
use super::validate::{method_error, quote};
use crate::signing::AuthScheme;

/// A change of an optional field: `None` = unchanged, `Some(None)` = cleared (the field is
/// removed from the spec), `Some(Some(v))` = set to `v`.
pub type Clearable<T> = Option<Option<T>>;

/// The settings to change; every field left `None` (or map left empty) stays as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsChange {
    /// Display name (`name`).
    pub name: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_response_bytes: Option<u64>,
    /// The status page summary URL (`status_feed`); `Some(None)` removes it.
    pub status_feed: Clearable<String>,
    pub retry: RetryChange,
    pub breaker: BreakerChange,
    pub stale_if_error_ms: Option<u64>,
    /// Attempts for one endpoint class instead of the provider's (`retry_by_class.<class>`);
    /// cleared: the class follows `retry` again.
    pub class_attempts: BTreeMap<OperationClass, Clearable<u32>>,
    pub auth: AuthChange,
    /// Environment name → its new `base_url`. The environment must exist (new environments
    /// are added in the TOML).
    pub environments: BTreeMap<String, String>,
    /// Operation → what changes in its endpoint. The endpoint must exist.
    pub endpoints: BTreeMap<String, EndpointChange>,
}

/// The `[retry]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryChange {
    pub max_attempts: Option<u32>,
    pub base_delay_ms: Option<u64>,
    pub max_delay_ms: Option<u64>,
}

/// The `[breaker]` table (the circuit breaker).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BreakerChange {
    pub consecutive_failures: Option<u32>,
    pub failure_rate_percent: Option<u32>,
    pub min_calls: Option<u32>,
    pub open_ms: Option<u64>,
    pub max_open_ms: Option<u64>,
    pub half_open_probes: Option<u32>,
}

/// The `[auth]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthChange {
    pub scheme: Option<AuthScheme>,
    pub header_name: Clearable<String>,
    pub query_param: Clearable<String>,
    pub recv_window_ms: Clearable<u64>,
    pub key_version: Clearable<u8>,
}

/// One endpoint's editable columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointChange {
    pub method: Option<HttpMethod>,
    pub path: Option<String>,
    pub weight: Option<u32>,
    /// USD per call.
    pub cost: Option<f64>,
    pub cache_ttl_ms: Option<u64>,
    pub class: Option<OperationClass>,
}

impl SettingsChange {
    /// Whether the change leaves everything as it is.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// The spec fields this change touches, as the spec names them (`retry.max_attempts`,
    /// `environments.production.base_url`, `endpoints.ticker.weight`), for the audit log.
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |present: bool, field: &str| {
            if present {
                out.push(field.to_string());
            }
        };
        note(self.name.is_some(), "name");
        note(self.timeout_ms.is_some(), "timeout_ms");
        note(self.max_response_bytes.is_some(), "max_response_bytes");
        note(self.status_feed.is_some(), "status_feed");
        let r = &self.retry;
        note(r.max_attempts.is_some(), "retry.max_attempts");
        note(r.base_delay_ms.is_some(), "retry.base_delay_ms");
        note(r.max_delay_ms.is_some(), "retry.max_delay_ms");
        let b = &self.breaker;
        note(b.consecutive_failures.is_some(), "breaker.consecutive_failures");
        note(b.failure_rate_percent.is_some(), "breaker.failure_rate_percent");
        note(b.min_calls.is_some(), "breaker.min_calls");
        note(b.open_ms.is_some(), "breaker.open_ms");
        note(b.max_open_ms.is_some(), "breaker.max_open_ms");
        note(b.half_open_probes.is_some(), "breaker.half_open_probes");
        note(self.stale_if_error_ms.is_some(), "stale_if_error_ms");
        for (class, change) in &self.class_attempts {
            note(change.is_some(), &format!("retry_by_class.{}.max_attempts", class.as_str()));
        }
        let a = &self.auth;
        note(a.scheme.is_some(), "auth.scheme");
        note(a.header_name.is_some(), "auth.header_name");
        note(a.query_param.is_some(), "auth.query_param");
        note(a.recv_window_ms.is_some(), "auth.recv_window_ms");
        note(a.key_version.is_some(), "auth.key_version");
        for env in self.environments.keys() {
            out.push(format!("environments.{env}.base_url"));
        }
        for (op, e) in &self.endpoints {
            let columns = [
                (e.method.is_some(), "method"),
                (e.path.is_some(), "path"),
                (e.weight.is_some(), "weight"),
                (e.cost.is_some(), "cost"),
                (e.cache_ttl_ms.is_some(), "cache_ttl_ms"),
                (e.class.is_some(), "class"),
            ];
            out.extend(columns.iter().filter(|(present, _)| *present).map(|(_, c)| format!("endpoints.{op}.{c}")));
        }
        out
    }

    /// Applies the change to `spec` (not validated here: the caller validates the result).
    /// An environment or endpoint the spec does not have is an error naming it.
    pub fn apply_to(&self, spec: &mut ProviderSpec) -> Result<(), SpecError> {
        let mut errors = Vec::new();
        set(&mut spec.name, &self.name);
        set(&mut spec.timeout_ms, &self.timeout_ms);
        set(&mut spec.max_response_bytes, &self.max_response_bytes);
        set(&mut spec.status_feed, &self.status_feed);
        set(&mut spec.retry.max_attempts, &self.retry.max_attempts);
        set(&mut spec.retry.base_delay_ms, &self.retry.base_delay_ms);
        set(&mut spec.retry.max_delay_ms, &self.retry.max_delay_ms);
        let b = &mut spec.breaker;
        set(&mut b.consecutive_failures, &self.breaker.consecutive_failures);
        set(&mut b.failure_rate_percent, &self.breaker.failure_rate_percent);
        set(&mut b.min_calls, &self.breaker.min_calls);
        set(&mut b.open_ms, &self.breaker.open_ms);
        set(&mut b.max_open_ms, &self.breaker.max_open_ms);
        set(&mut b.half_open_probes, &self.breaker.half_open_probes);
        set(&mut spec.stale_if_error_ms, &self.stale_if_error_ms);
        for (class, change) in &self.class_attempts {
            match change {
                Some(Some(n)) => {
                    let base = spec.retry;
                    spec.retry_by_class.entry(*class).or_insert(base).max_attempts = *n;
                }
                Some(None) => {
                    spec.retry_by_class.remove(class);
                }
                None => {}
            }
        }
        let auth = &mut spec.auth;
        set(&mut auth.scheme, &self.auth.scheme);
        set(&mut auth.header_name, &self.auth.header_name);
        set(&mut auth.query_param, &self.auth.query_param);
        set(&mut auth.recv_window_ms, &self.auth.recv_window_ms);
        set(&mut auth.key_version, &self.auth.key_version);

        let known = spec.environment_names().join(", ");
        for (name, url) in &self.environments {
            match spec.environments.get_mut(name) {
                Some(env) => env.base_url.clone_from(url),
                None => errors.push(FieldError::new(
                    format!("environments.{name}.base_url"),
                    quote(url),
                    format!(
                        "cannot be set: there is no environment {name:?} (environments: {known}); add one in the TOML"
                    ),
                )),
            }
        }
        let known = spec.endpoints.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        for (op, change) in &self.endpoints {
            let Some(e) = spec.endpoints.get_mut(op) else {
                errors.push(FieldError::missing(
                    format!("endpoints.{op}"),
                    format!("cannot be changed: there is no such endpoint (endpoints: {known}); add one in the TOML"),
                ));
                continue;
            };
            set(&mut e.method, &change.method);
            set(&mut e.path, &change.path);
            set(&mut e.weight, &change.weight);
            set(&mut e.cost, &change.cost);
            set(&mut e.cache_ttl_ms, &change.cache_ttl_ms);
            set(&mut e.class, &change.class);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Validation { provider: spec.id.clone(), errors })
        }
    }
}

fn set<T: Clone>(target: &mut T, change: &Option<T>) {
    if let Some(v) = change {
        target.clone_from(v);
    }
}

/// The unsigned integer types of spec fields.
pub trait WholeNumber: TryFrom<u64> {
    const MAX: u64;
}

macro_rules! whole_numbers {
    ($($t:ty),*) => {$(
        impl WholeNumber for $t {
            const MAX: u64 = <$t>::MAX as u64;
        }
    )*};
}
whole_numbers!(u8, u32, u64);

/// A number from a form as the whole number `field` holds (`u64`, `u32`, `u8`).
pub fn whole_number<T: WholeNumber>(field: &str, value: f64) -> Result<T, FieldError> {
    // `T::MAX as f64` may round up (u64::MAX does), so the bound is checked on the f64 and the
    // conversion to T checks the rest.
    let whole = value.is_finite() && value.fract() == 0.0 && value >= 0.0 && value <= T::MAX as f64;
    match whole.then(|| T::try_from(value as u64).ok()).flatten() {
        Some(v) => Ok(v),
        None => Err(FieldError::new(field, number_text(value), format!("is not a whole number from 0 to {}", T::MAX))),
    }
}

/// A number as a user typed it: `5`, not `5.0`.
fn number_text(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    }
}

/// An auth scheme by id (`binance_hmac`), as `field`.
pub fn auth_scheme(field: &str, id: &str) -> Result<AuthScheme, FieldError> {
    id.parse::<AuthScheme>().map_err(|e| FieldError::new(field, quote(id), format!("is invalid: {e}")))
}

/// An upper-case HTTP method (`GET`), as `field`.
pub fn http_method(field: &str, name: &str) -> Result<HttpMethod, FieldError> {
    HttpMethod::parse(name).ok_or_else(|| method_error(field, name))
}

/// An operation class (`read`, `trade`, `withdraw`), as `field`.
pub fn operation_class(field: &str, name: &str) -> Result<OperationClass, FieldError> {
    OperationClass::ALL
        .iter()
        .copied()
        .find(|c| c.as_str() == name)
        .ok_or_else(|| FieldError::new(field, quote(name), "is not an operation class (use read, trade or withdraw)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_fit_the_field_or_name_it() {
        assert_eq!(whole_number::<u64>("timeout_ms", 5000.0), Ok(5000));
        assert_eq!(whole_number::<u8>("auth.key_version", 255.0), Ok(255));
        let e = whole_number::<u64>("timeout_ms", -5.0).expect_err("negative");
        assert_eq!(e.to_string(), "timeout_ms -5 is not a whole number from 0 to 18446744073709551615");
        let e = whole_number::<u32>("endpoints.ticker.weight", 1.5).expect_err("fraction");
        assert_eq!(e.to_string(), "endpoints.ticker.weight 1.5 is not a whole number from 0 to 4294967295");
        let e = whole_number::<u8>("auth.key_version", 300.0).expect_err("too big");
        assert_eq!(e.to_string(), "auth.key_version 300 is not a whole number from 0 to 255");
        assert!(whole_number::<u64>("timeout_ms", f64::NAN).is_err());
        assert!(whole_number::<u64>("timeout_ms", 1e20).is_err());
    }

    #[test]
    fn names_are_read_as_the_field_names_them() {
        assert_eq!(auth_scheme("auth.scheme", "binance_hmac"), Ok(AuthScheme::BinanceHmac));
        let e = auth_scheme("auth.scheme", "hmac").expect_err("unknown");
        assert!(e.to_string().starts_with("auth.scheme \"hmac\" is invalid: unknown auth scheme"), "{e}");
        assert_eq!(http_method("endpoints.ticker.method", "POST"), Ok(HttpMethod::Post));
        let e = http_method("endpoints.ticker.method", "post").expect_err("lower case");
        assert_eq!(e.to_string(), "endpoints.ticker.method \"post\" must be upper case: \"POST\"");
        assert_eq!(operation_class("endpoints.ticker.class", "trade"), Ok(OperationClass::Trade));
        let e = operation_class("endpoints.ticker.class", "write").expect_err("unknown");
        assert!(e.to_string().starts_with("endpoints.ticker.class \"write\" is not an operation class"), "{e}");
    }

    #[test]
    fn fields_lists_what_the_change_touches_in_spec_terms() {
        let mut change = SettingsChange { name: Some("X".into()), ..Default::default() };
        change.auth.header_name = Some(None);
        change.environments.insert("production".into(), "https://x".into());
        change.endpoints.insert("ticker".into(), EndpointChange { weight: Some(2), ..Default::default() });
        assert_eq!(
            change.fields(),
            ["name", "auth.header_name", "environments.production.base_url", "endpoints.ticker.weight"]
        );
        assert!(SettingsChange::default().is_empty());
    }
}
