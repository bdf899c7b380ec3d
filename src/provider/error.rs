//! Errors of the provider module. Every message names the provider, the field and the value.

use std::fmt;

use chrono::NaiveDate;

use super::origin::Origin;
use crate::store::StoreError;

/// One problem with one field of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, as `set` takes it (`environments.production.base_url`, `rate_limits[0].limit`).
    pub field: String,
    /// The bad value as a TOML literal (`"htp://x"`, `-5`); empty when the field is missing.
    pub value: String,
    /// What is wrong, phrased to follow the value (`is not an http(s) URL`).
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, value: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), value: value.into(), problem: problem.into() }
    }

    /// A field that is absent (no value to show).
    pub fn missing(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::new(field, String::new(), problem)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{} {}", self.field, self.problem)
        } else {
            write!(f, "{} {} {}", self.field, self.value, self.problem)
        }
    }
}

/// A spec that cannot be read or is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The text is not TOML. Line and column are 1-based.
    #[error("provider spec line {line}, column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    /// Well-formed TOML that does not fit the spec's shape (unknown key, wrong type, missing
    /// required key). Line and column are 1-based, 0 when unknown.
    #[error("{}", shape_message(provider.as_deref(), *line, *column, message))]
    Shape { provider: Option<String>, line: usize, column: usize, message: String },
    /// The spec parsed but breaks rules; every problem found is listed.
    #[error("{}", validation_message(provider, errors))]
    Validation { provider: String, errors: Vec<FieldError> },
    /// The spec could not be written as TOML (should not happen for a valid spec).
    #[error("provider \"{provider}\": could not write the spec as TOML: {message}")]
    Serialize { provider: String, message: String },
}

impl SpecError {
    /// The field errors of a `Validation` error (empty for the other variants).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            SpecError::Validation { errors, .. } => errors,
            _ => &[],
        }
    }
}

fn shape_message(provider: Option<&str>, line: usize, column: usize, message: &str) -> String {
    let who = match provider {
        Some(id) => format!("provider \"{id}\" spec"),
        None => "provider spec".to_string(),
    };
    if line == 0 {
        format!("{who}: {message}")
    } else {
        format!("{who} line {line}, column {column}: {message}")
    }
}

fn validation_message(provider: &str, errors: &[FieldError]) -> String {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("provider \"{provider}\": {}", list.join("; "))
}

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A preset shipped in this build does not parse: a bug caught by the catalog tests.
    #[error("the built-in preset {file} is invalid (a bug in this Keyward build): {source}")]
    Preset {
        file: &'static str,
        #[source]
        source: SpecError,
    },
    /// A spec stored in the database no longer parses (e.g. written by another version).
    #[error(
        "the stored spec of provider \"{id}\" cannot be read: {source}. Reset or remove it, or import a corrected spec"
    )]
    Stored {
        id: String,
        #[source]
        source: SpecError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}", not_found_message(id, suggestions))]
    NotFound { id: String, suggestions: Vec<String> },
    #[error("provider \"{id}\" already exists ({origin}); use update or import to change it, or choose another id")]
    AlreadyExists { id: String, origin: Origin },
    #[error("provider \"{id}\" is a custom spec and has no preset default to reset to; use remove to delete it")]
    NoDefault { id: String },
    #[error(
        "provider \"{id}\" is a built-in preset and cannot be removed; use reset to drop your changes, or disable it"
    )]
    CannotRemovePreset { id: String },
    #[error("{name} is discontinued since {since}: {reason}. It cannot be enabled")]
    Discontinued { id: String, name: String, since: NaiveDate, reason: String },
    #[error("provider \"{id}\" has no environment \"{environment}\" (it has: {})", known.join(", "))]
    UnknownEnvironment { id: String, environment: String, known: Vec<String> },
    /// The change would leave a provider that has rate limits with none: every call would go
    /// out unthrottled. Done only when confirmed (`--force`, or the app's confirmation).
    #[error(
        "provider \"{id}\": this change removes all {count} of its rate limits (rate_limits = []), so Keyward would \
         send its calls unthrottled and the exchange may answer 429 or ban this IP. Nothing was changed; repeat \
         with --force (or confirm in the app) to remove them anyway"
    )]
    RemovesAllLimits { id: String, count: usize },
}

fn not_found_message(id: &str, suggestions: &[String]) -> String {
    match suggestions {
        [] => format!("no provider \"{id}\""),
        [one] => format!("no provider \"{id}\"; did you mean \"{one}\"?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("\"{s}\"")).collect();
            format!("no provider \"{id}\"; did you mean one of {}?", quoted.join(", "))
        }
    }
}
