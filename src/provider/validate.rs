//! Reading, writing and validating provider specs.
//!
//! [`ProviderSpec::from_toml`] runs in three steps, each with its own kind of error:
//! 1. TOML syntax → [`SpecError::Syntax`] with the 1-based line and column of the error;
//! 2. a pre-check of the raw table for values serde would report poorly (negative numbers
//!    where a count is expected, unknown auth schemes, unknown HTTP methods) →
//!    [`SpecError::Validation`] naming the field and the value;
//! 3. typed deserialisation (unknown keys, wrong types → [`SpecError::Shape`] with line and
//!    column) followed by [`ProviderSpec::validate`].

use std::collections::BTreeSet;

use url::Url;

use super::error::{FieldError, SpecError};
use super::spec::{
    required_class, BodyKind, EndpointSpec, HttpMethod, ProviderSpec, RateLimitKind, RateLimitRule, PRODUCTION,
};
use crate::signing::AuthScheme;

/// Longest id (of a provider, environment, operation or rate-limit rule).
pub const MAX_ID_LEN: usize = 64;

/// Binance's largest accepted `recvWindow`.
const BINANCE_MAX_RECV_WINDOW_MS: u64 = 60_000;

/// The label used for a spec whose id is unknown or not a string.
const NO_ID: &str = "<no id>";

impl ProviderSpec {
    /// Parses and validates a spec written in TOML.
    pub fn from_toml(text: &str) -> Result<ProviderSpec, SpecError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let provider = provider_label(&table);
        let raw = raw_errors(&table);
        if !raw.is_empty() {
            return Err(SpecError::Validation { provider, errors: raw });
        }
        let spec: ProviderSpec = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| location(text, s.start)).unwrap_or((0, 0));
            SpecError::Shape { provider: Some(provider.clone()), line, column, message: clean_message(e.message()) }
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Like [`ProviderSpec::from_toml`] for an already parsed table (no line numbers).
    pub fn from_table(table: toml::Table) -> Result<ProviderSpec, SpecError> {
        let spec = Self::deserialize_table(table)?;
        spec.validate()?;
        Ok(spec)
    }

    /// Steps 2 and 3 of [`ProviderSpec::from_toml`] without the final validation.
    pub(crate) fn deserialize_table(table: toml::Table) -> Result<ProviderSpec, SpecError> {
        let provider = provider_label(&table);
        let raw = raw_errors(&table);
        if !raw.is_empty() {
            return Err(SpecError::Validation { provider, errors: raw });
        }
        toml::Value::Table(table).try_into::<ProviderSpec>().map_err(|e| SpecError::Shape {
            provider: Some(provider),
            line: 0,
            column: 0,
            message: clean_message(e.message()),
        })
    }

    /// The spec as a TOML table (what [`ProviderSpec::to_toml`] writes).
    pub fn to_table(&self) -> Result<toml::Table, SpecError> {
        match toml::Value::try_from(self) {
            Ok(toml::Value::Table(t)) => Ok(t),
            Ok(other) => Err(SpecError::Serialize {
                provider: self.id.clone(),
                message: format!("expected a table, got a {}", other.type_str()),
            }),
            Err(e) => Err(SpecError::Serialize { provider: self.id.clone(), message: e.to_string() }),
        }
    }

    /// The spec as TOML text that [`ProviderSpec::from_toml`] reads back to an equal spec.
    pub fn to_toml(&self) -> Result<String, SpecError> {
        toml::to_string(self).map_err(|e| SpecError::Serialize { provider: self.id.clone(), message: e.to_string() })
    }

    /// Checks every rule a spec must follow and reports all problems at once.
    pub fn validate(&self) -> Result<(), SpecError> {
        let mut v = Validator { errors: Vec::new() };
        v.spec(self);
        if v.errors.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Validation { provider: self.id.clone(), errors: v.errors })
        }
    }
}

/// Ids the gateway's own routes take (`/hooks/<id>`, `/groups/<name>`, `/metrics`), so no
/// provider may have them.
pub const RESERVED_IDS: &[&str] = &["hooks", "groups", "metrics"];

/// Whether `s` is a valid id: `[a-z0-9_-]+`, at most [`MAX_ID_LEN`] characters.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A string as a TOML literal for messages (`"htp://x"`).
pub(crate) fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// A TOML value as a literal for messages (strings quoted, numbers bare).
pub(crate) fn literal(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

fn provider_label(table: &toml::Table) -> String {
    table.get("id").and_then(toml::Value::as_str).filter(|s| !s.is_empty()).unwrap_or(NO_ID).to_string()
}

/// The 1-based line and column of a byte offset.
pub(crate) fn location(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn clean_message(message: &str) -> String {
    message.trim().replace('\n', " ")
}

fn syntax_error(text: &str, e: &toml::de::Error) -> SpecError {
    let (line, column) = e.span().map(|s| location(text, s.start)).unwrap_or((1, 1));
    SpecError::Syntax { line, column, message: clean_message(e.message()) }
}

/// Problems in the raw table that typed deserialisation would report without naming the field.
fn raw_errors(table: &toml::Table) -> Vec<FieldError> {
    let mut errors = Vec::new();
    negative_numbers(table, "", &mut errors);
    if let Some(s) = table.get("auth").and_then(|a| a.get("scheme")).and_then(toml::Value::as_str) {
        if let Err(e) = s.parse::<AuthScheme>() {
            errors.push(FieldError::new("auth.scheme", quote(s), format!("is invalid: {e}")));
        }
    }
    if let Some(endpoints) = table.get("endpoints").and_then(toml::Value::as_table) {
        for (name, endpoint) in endpoints {
            if let Some(m) = endpoint.get("method").and_then(toml::Value::as_str) {
                if HttpMethod::parse(m).is_none() {
                    errors.push(method_error(&format!("endpoints.{name}.method"), m));
                }
            }
        }
    }
    errors
}

pub(crate) fn method_error(field: &str, method: &str) -> FieldError {
    let problem = match HttpMethod::parse(&method.to_ascii_uppercase()) {
        Some(m) => format!("must be upper case: \"{}\"", m.as_str()),
        None => "is not an HTTP method (use GET, POST, PUT, DELETE or PATCH)".to_string(),
    };
    FieldError::new(field, quote(method), problem)
}

/// Every negative integer outside the free-form `params` tables. No spec field takes one;
/// counts and durations are unsigned, and serde's message would not name the field.
fn negative_numbers(table: &toml::Table, prefix: &str, errors: &mut Vec<FieldError>) {
    for (key, value) in table {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        if key == "params" && is_params_parent(prefix) {
            continue;
        }
        negative_value(value, &path, errors);
    }
}

fn negative_value(value: &toml::Value, path: &str, errors: &mut Vec<FieldError>) {
    match value {
        toml::Value::Integer(i) if *i < 0 => {
            let problem =
                if path == "timeout_ms" { "must be a positive number of milliseconds" } else { "must not be negative" };
            errors.push(FieldError::new(path, i.to_string(), problem));
        }
        toml::Value::Table(t) => negative_numbers(t, path, errors),
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                negative_value(item, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

/// `params` is free-form at the top level and inside each endpoint.
fn is_params_parent(prefix: &str) -> bool {
    prefix.is_empty() || (prefix.starts_with("endpoints.") && prefix.matches('.').count() == 1)
}

struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    fn push(&mut self, field: impl Into<String>, value: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(FieldError::new(field, value, problem));
    }

    fn missing(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(FieldError::missing(field, problem));
    }

    fn spec(&mut self, s: &ProviderSpec) {
        if !is_valid_id(&s.id) {
            self.push("id", quote(&s.id), id_problem());
        } else if RESERVED_IDS.contains(&s.id.as_str()) {
            self.push(
                "id",
                quote(&s.id),
                format!("is reserved: the gateway's own routes use /{}; choose another id", s.id),
            );
        }
        if s.name.trim().is_empty() {
            self.push("name", quote(&s.name), "must not be empty");
        }
        if let Some(family) = &s.family {
            if !is_valid_id(family) {
                self.push("family", quote(family), id_problem());
            }
        }
        if let Some(url) = &s.status_feed {
            self.url("status_feed", url);
        }
        if let Some(url) = &s.docs_url {
            self.url("docs_url", url);
        }
        if let Some(d) = &s.discontinued {
            if d.reason.trim().is_empty() {
                self.push("discontinued.reason", quote(&d.reason), "must say why the provider is gone");
            }
        }
        self.environments(s);
        self.auth(s);
        self.headers("headers", &s.headers);
        if s.timeout_ms == 0 {
            self.push("timeout_ms", "0", "must be a positive number of milliseconds");
        }
        let b = &s.breaker;
        if b.failure_rate_percent > 100 {
            self.push("breaker.failure_rate_percent", b.failure_rate_percent.to_string(), "must be between 0 and 100");
        }
        if !b.disabled() && b.half_open_probes == 0 {
            self.push(
                "breaker.half_open_probes",
                "0",
                "must be at least 1 (the calls that test whether the provider is back)",
            );
        }
        if !b.disabled() && b.open_ms == 0 {
            self.push("breaker.open_ms", "0", "must be at least 1 ms");
        }
        if b.open_ms > b.max_open_ms {
            self.push(
                "breaker.open_ms",
                b.open_ms.to_string(),
                format!("must not exceed breaker.max_open_ms ({})", b.max_open_ms),
            );
        }
        if b.failure_rate_percent > 0 && b.window_ms == 0 {
            self.push("breaker.window_ms", "0", "must be at least 1 ms when failure_rate_percent is set");
        }
        self.billing(s);
        for (op, e) in &s.endpoints {
            if let Some(b) = &e.batch {
                if b.max < 2 {
                    self.push(format!("endpoints.{op}.batch.max"), b.max.to_string(), "must be at least 2");
                }
                if b.window_ms == 0 || b.window_ms > 1000 {
                    self.push(
                        format!("endpoints.{op}.batch.window_ms"),
                        b.window_ms.to_string(),
                        "must be 1 to 1000 ms",
                    );
                }
            }
        }
        if let Some(m) = &s.markets {
            if !s.endpoints.contains_key(&m.operation) {
                self.push("markets.operation", m.operation.clone(), "is not an operation of this provider");
            }
            if m.pair.is_none() && (m.base.is_none() || m.quote.is_none()) {
                self.push("markets", "", "needs base and quote, or pair (with separator)");
            }
        }
        for (class, r) in &s.retry_by_class {
            let field = |f: &str| format!("retry_by_class.{}.{f}", class.as_str());
            if r.max_attempts == 0 {
                self.push(field("max_attempts"), "0", "must be at least 1 (1 means no retries)");
            }
            if r.base_delay_ms > r.max_delay_ms {
                self.push(
                    field("base_delay_ms"),
                    r.base_delay_ms.to_string(),
                    format!("must not exceed {} ({})", field("max_delay_ms"), r.max_delay_ms),
                );
            }
        }
        if s.retry.max_attempts == 0 {
            self.push("retry.max_attempts", "0", "must be at least 1 (1 means no retries)");
        }
        if s.retry.base_delay_ms > s.retry.max_delay_ms {
            self.push(
                "retry.base_delay_ms",
                s.retry.base_delay_ms.to_string(),
                format!("must not exceed retry.max_delay_ms ({})", s.retry.max_delay_ms),
            );
        }
        if s.max_response_bytes == 0 {
            self.push("max_response_bytes", "0", "must be greater than 0");
        }
        if s.endpoints.is_empty() {
            self.missing("endpoints", "is empty; a provider needs at least one endpoint");
        }
        for (name, endpoint) in &s.endpoints {
            self.endpoint(s, name, endpoint);
            self.finite_params(&format!("endpoints.{name}.params"), &endpoint.params);
        }
        self.finite_params("params", &s.params);
        self.rate_limits(s);
        let known = operation_list(s);
        if !s.endpoints.contains_key(&s.health_check) {
            self.push("health_check", quote(&s.health_check), format!("names no endpoint (endpoints: {known})"));
        }
        if let Some(status) = &s.status_operation {
            if !s.endpoints.contains_key(status) {
                self.push("status_operation", quote(status), format!("names no endpoint (endpoints: {known})"));
            }
        }
        if let Some(source) = &s.published_limits {
            if !s.endpoints.contains_key(&source.operation) {
                self.push(
                    "published_limits.operation",
                    quote(&source.operation),
                    format!("names no endpoint (endpoints: {known})"),
                );
            }
        }
    }

    fn environments(&mut self, s: &ProviderSpec) {
        if !s.environments.contains_key(PRODUCTION) {
            self.missing(
                format!("environments.{PRODUCTION}"),
                "is missing; every provider needs a production environment with a base_url",
            );
        }
        if !s.environments.contains_key(&s.default_environment) {
            let names = s.environment_names().join(", ");
            self.push(
                "default_environment",
                quote(&s.default_environment),
                format!("is not one of the environments ({names})"),
            );
        }
        for (name, env) in &s.environments {
            if !is_valid_id(name) {
                self.push(
                    format!("environments.{name}"),
                    quote(name),
                    format!("is not a valid environment name: {}", id_problem()),
                );
            }
            self.url(&format!("environments.{name}.base_url"), &env.base_url);
            self.headers(&format!("environments.{name}.headers"), &env.headers);
        }
    }

    fn auth(&mut self, s: &ProviderSpec) {
        let a = &s.auth;
        let scheme = quote(a.scheme.id());
        match a.scheme {
            AuthScheme::ApiKeyHeader => match &a.header_name {
                None => self.missing(
                    "auth.header_name",
                    format!("is missing: auth.scheme {scheme} needs the name of the header that carries the key"),
                ),
                Some(h) => self.header_name("auth.header_name", h),
            },
            AuthScheme::ApiKeyQuery => match &a.query_param {
                None => self.missing(
                    "auth.query_param",
                    format!(
                        "is missing: auth.scheme {scheme} needs the name of the query parameter that carries the key"
                    ),
                ),
                Some(q) if q.is_empty() || q.contains(['&', '=', '?', '#', ' ']) => {
                    self.push("auth.query_param", quote(q), "is not a usable query parameter name")
                }
                Some(_) => {}
            },
            AuthScheme::Kucoin => match a.key_version {
                None => self.missing("auth.key_version", format!("is missing: auth.scheme {scheme} needs 1, 2 or 3")),
                Some(1..=3) => {}
                Some(v) => self.push("auth.key_version", v.to_string(), "must be 1, 2 or 3"),
            },
            _ => {}
        }
        if let Some(h) = &a.header_name {
            if a.scheme != AuthScheme::ApiKeyHeader {
                self.header_name("auth.header_name", h);
            }
        }
        match a.recv_window_ms {
            Some(0) => self.push("auth.recv_window_ms", "0", "must be greater than 0"),
            Some(ms)
                if ms > BINANCE_MAX_RECV_WINDOW_MS
                    && matches!(a.scheme, AuthScheme::BinanceHmac | AuthScheme::BinanceEd25519) =>
            {
                self.push("auth.recv_window_ms", ms.to_string(), "must be at most 60000 (Binance's maximum)")
            }
            _ => {}
        }
    }

    /// A parameter is sent on the wire: `nan` or `inf` would be nonsense there (and a spec
    /// holding one never compares equal to itself).
    fn finite_params(&mut self, prefix: &str, params: &std::collections::BTreeMap<String, toml::Value>) {
        for (key, value) in params {
            if let toml::Value::Float(f) = value {
                if !f.is_finite() {
                    self.push(format!("{prefix}.{key}"), f.to_string(), "must be a finite number");
                }
            }
        }
    }

    fn money(&mut self, field: String, v: f64) {
        if !v.is_finite() || v < 0.0 {
            self.push(field, v.to_string(), "must be a finite amount, 0 or more");
        }
    }

    fn billing(&mut self, s: &ProviderSpec) {
        let b = &s.billing;
        if b.currency.len() != 3 || !b.currency.chars().all(|c| c.is_ascii_uppercase()) {
            self.push("billing.currency", quote(&b.currency), "must be a three-letter ISO 4217 code such as \"USD\"");
        }
        if !b.plan.is_empty() && !b.plans.contains_key(&b.plan) {
            let known: Vec<&str> = b.plans.keys().map(String::as_str).collect();
            self.push(
                "billing.plan",
                quote(&b.plan),
                if known.is_empty() {
                    "names no plan: billing.plans is empty".to_string()
                } else {
                    format!("names no plan; plans: {}", known.join(", "))
                },
            );
        }
        if let Some(budget) = b.budget {
            if !budget.is_finite() || budget <= 0.0 {
                self.push("billing.budget", budget.to_string(), "must be a positive amount");
            }
        }
        for pct in &b.alert_at {
            if !(1..=1000).contains(pct) {
                self.push("billing.alert_at", pct.to_string(), "must be a percentage of the budget from 1 to 1000");
            }
        }
        if let Some(path) = &b.credit_count {
            if path.trim().is_empty() {
                self.push("billing.credit_count", "\"\"", "must be a dotted path such as \"status.credit_count\"");
            }
        }
        for (id, p) in &b.plans {
            let at = |field: &str| format!("billing.plans.{id}.{field}");
            if !is_valid_id(id) {
                self.push(
                    format!("billing.plans.{id}"),
                    quote(id),
                    format!("is not a valid plan id: {}", id_problem()),
                );
            }
            if p.name.trim().is_empty() {
                self.push(at("name"), "\"\"", "must name the plan");
            }
            self.money(at("monthly_fee"), p.monthly_fee);
            self.money(at("unit_price"), p.unit_price);
            if p.requests_per_minute == Some(0) {
                self.push(at("requests_per_minute"), "0", "must be at least 1 (leave it out for none)");
            }
            for (rule, limit) in &p.limits {
                if !s.rate_limits.iter().any(|r| &r.id == rule) {
                    self.push(
                        format!("billing.plans.{id}.limits.{rule}"),
                        limit.to_string(),
                        "names no rate_limits rule",
                    );
                } else if *limit == 0 {
                    self.push(format!("billing.plans.{id}.limits.{rule}"), "0", "must be at least 1");
                }
            }
        }
    }

    fn endpoint(&mut self, s: &ProviderSpec, name: &str, e: &EndpointSpec) {
        let at = |field: &str| format!("endpoints.{name}.{field}");
        if !is_valid_id(name) {
            self.push(
                format!("endpoints.{name}"),
                quote(name),
                format!("is not a valid operation name: {}", id_problem()),
            );
        }
        self.path(&at("path"), e);
        for r in &e.required {
            if r.is_empty() {
                self.push(at("required"), "\"\"", "lists an empty parameter name");
            }
        }
        if e.method == HttpMethod::Get && matches!(e.body_kind(), BodyKind::Json | BodyKind::Form) {
            self.push(at("body"), quote(e.body_kind().as_str()), "cannot be sent with GET; use \"query\"");
        }
        if !e.cost.is_finite() {
            self.push(at("cost"), e.cost.to_string(), "must be a finite number (USD per call)");
        } else if e.cost < 0.0 {
            self.push(at("cost"), e.cost.to_string(), "must not be negative (it is USD per call)");
        }
        if let Some(c) = e.credits {
            self.money(at("credits"), c);
        }
        if let Some(p) = &e.credits_per_items {
            if p.per == 0 {
                self.push(at("credits_per_items.per"), "0", "must be at least 1 (items per extra credit)");
            }
            if p.path.trim().is_empty() {
                self.push(at("credits_per_items.path"), "\"\"", "must be a dotted path such as \"data\"");
            }
        }
        if e.signed && s.auth.scheme == AuthScheme::None {
            self.push(at("signed"), "true", "needs credentials, but auth.scheme is \"none\"");
        }
        if let Some(class) = required_class(name) {
            if e.class != class {
                self.push(at("class"), quote(e.class.as_str()), format!("must be \"{class}\" for {name}"));
            }
        }
    }

    fn path(&mut self, field: &str, e: &EndpointSpec) {
        let path = &e.path;
        if path.is_empty() {
            self.missing(field, "is missing; every endpoint needs a path starting with \"/\"");
            return;
        }
        if !path.starts_with('/') {
            self.push(field, quote(path), "must start with \"/\"");
        }
        if path.contains(['?', '#']) {
            self.push(field, quote(path), "must not contain a query or fragment; put query parameters in params");
        }
        if path.chars().any(char::is_whitespace) {
            self.push(field, quote(path), "must not contain whitespace");
        }
        if !braces_balanced(path) {
            self.push(field, quote(path), "has an unbalanced \"{\" or \"}\"");
            return;
        }
        for p in e.placeholders() {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.push(field, quote(path), format!("has an invalid placeholder {{{p}}}"));
            } else if !e.knows_param(p) {
                self.push(field, quote(path), format!("uses {{{p}}}, which is neither in required nor in params"));
            }
        }
    }

    fn rate_limits(&mut self, s: &ProviderSpec) {
        let mut seen = BTreeSet::new();
        for (i, r) in s.rate_limits.iter().enumerate() {
            let at = |field: &str| format!("rate_limits[{i}].{field}");
            if !is_valid_id(&r.id) {
                self.push(at("id"), quote(&r.id), id_problem());
            } else if !seen.insert(r.id.as_str()) {
                self.push(at("id"), quote(&r.id), "is used by another rule; rule ids must be unique");
            }
            if !r.limit.is_finite() || r.limit <= 0.0 {
                self.push(at("limit"), r.limit.to_string(), "must be greater than 0");
            }
            self.rule_timing(r, &at("interval_ms"), &at("decay_per_sec"));
            for op in &r.applies_to {
                if !s.endpoints.contains_key(op) {
                    self.push(
                        at("applies_to"),
                        quote(op),
                        format!("names no endpoint (endpoints: {})", operation_list(s)),
                    );
                }
            }
            if let Some(h) = &r.weight_header {
                self.header_name(&at("weight_header"), h);
            }
            if let Some(h) = &r.remaining_header {
                self.header_name(&at("remaining_header"), h);
            }
        }
    }

    fn rule_timing(&mut self, r: &RateLimitRule, interval_field: &str, decay_field: &str) {
        let kind = r.kind.as_str();
        match (r.kind.needs_interval(), r.interval_ms) {
            (true, None) => self.missing(interval_field, format!("is missing; a {kind} rule needs its window length")),
            (true, Some(0)) => self.push(interval_field, "0", "must be greater than 0"),
            (false, Some(ms)) => {
                self.push(interval_field, ms.to_string(), format!("is not used by a {kind} rule; remove it"))
            }
            _ => {}
        }
        let decaying = r.kind == RateLimitKind::DecayingCounter;
        match (decaying, r.decay_per_sec) {
            (true, None) => self.missing(decay_field, "is missing; a decaying_counter rule needs its decay per second"),
            (true, Some(d)) if !d.is_finite() || d <= 0.0 => {
                self.push(decay_field, d.to_string(), "must be greater than 0")
            }
            (false, Some(d)) => {
                self.push(decay_field, d.to_string(), format!("is only used by decaying_counter rules, not {kind}"))
            }
            _ => {}
        }
    }

    fn url(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            self.missing(field, "is missing; it must be an http(s) URL like https://api.example.com");
            return;
        }
        let problem = match Url::parse(value) {
            Err(_) => Some("is not an http(s) URL"),
            Ok(u) if !matches!(u.scheme(), "http" | "https") => Some("is not an http(s) URL"),
            Ok(u) if u.host_str().map_or(true, str::is_empty) => Some("is not an http(s) URL (it has no host)"),
            Ok(u) if u.query().is_some() || u.fragment().is_some() => Some("must not have a query or fragment"),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                Some("must not contain credentials; keys belong in the vault")
            }
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            self.push(field, quote(value), problem);
        }
    }

    fn headers(&mut self, field: &str, headers: &std::collections::BTreeMap<String, String>) {
        for (name, value) in headers {
            self.header_name(&format!("{field}.{name}"), name);
            if value.contains(['\r', '\n', '\0']) {
                self.push(format!("{field}.{name}"), quote(value), "must not contain line breaks");
            }
        }
    }

    fn header_name(&mut self, field: &str, name: &str) {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            self.push(field, quote(name), "is not a valid HTTP header name");
        }
    }
}

fn id_problem() -> String {
    format!("must be 1 to {MAX_ID_LEN} characters of a-z, 0-9, \"_\" and \"-\"")
}

fn operation_list(s: &ProviderSpec) -> String {
    if s.endpoints.is_empty() {
        "none".to_string()
    } else {
        s.endpoints.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

fn braces_balanced(path: &str) -> bool {
    let mut open = false;
    for c in path.chars() {
        match c {
            '{' if open => return false,
            '{' => open = true,
            '}' if !open => return false,
            '}' => open = false,
            _ => {}
        }
    }
    !open
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::spec::{op, OperationClass, RateLimitCounts, DEFAULT_MAX_RESPONSE_BYTES};

    /// A small valid spec; tests replace one line to break it.
    const BASE: &str = r#"
id = "kraken"
name = "Kraken"
kind = "exchange"
status_operation = "system_status"

[environments.production]
base_url = "https://api.kraken.com"

[auth]
scheme = "kraken"

[endpoints.server_time]
path = "/0/public/Time"

[endpoints.system_status]
path = "/0/public/SystemStatus"

[endpoints.balances]
method = "POST"
path = "/0/private/Balance"
body = "form"
signed = true
"#;

    fn with(find: &str, replace: &str) -> String {
        assert!(BASE.contains(find), "test setup: {find:?} is not in BASE");
        BASE.replacen(find, replace, 1)
    }

    /// Parses `text`, expects an error, and checks that its message names every `needle`.
    fn error_naming(text: &str, needles: &[&str]) -> SpecError {
        let err = match ProviderSpec::from_toml(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e,
        };
        let msg = err.to_string();
        for n in needles {
            assert!(msg.contains(n), "message {msg:?} does not contain {n:?}");
        }
        err
    }

    #[test]
    fn a_valid_spec_parses_and_gets_the_documented_defaults() {
        let spec = ProviderSpec::from_toml(BASE).expect("valid");
        assert_eq!(spec.timeout_ms, 10_000);
        assert_eq!(spec.retry.max_attempts, 3);
        assert_eq!(spec.retry.base_delay_ms, 200);
        assert_eq!(spec.retry.max_delay_ms, 5_000);
        assert_eq!(spec.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
        assert_eq!(spec.default_environment, "production");
        assert_eq!(spec.health_check, op::SERVER_TIME);
        let time = &spec.endpoints[op::SERVER_TIME];
        assert_eq!(time.method, HttpMethod::Get);
        assert_eq!(time.body_kind(), BodyKind::Query);
        assert_eq!(time.weight, 1);
        assert_eq!(time.cost, 0.0);
        assert_eq!(time.class, OperationClass::Read);
        assert_eq!(spec.endpoints[op::BALANCES].body_kind(), BodyKind::Form);
        assert_eq!(spec.family_id(), "kraken");
    }

    #[test]
    fn post_without_body_defaults_to_json_and_delete_to_query() {
        let text = format!("{BASE}\n[endpoints.x]\nmethod = \"POST\"\npath = \"/x\"\n[endpoints.y]\nmethod = \"DELETE\"\npath = \"/y\"\n");
        let spec = ProviderSpec::from_toml(&text).expect("valid");
        assert_eq!(spec.endpoints["x"].body_kind(), BodyKind::Json);
        assert_eq!(spec.endpoints["y"].body_kind(), BodyKind::Query);
    }

    #[test]
    fn bad_base_url_names_the_field_and_value() {
        error_naming(
            &with("https://api.kraken.com", "htp://x"),
            &["provider \"kraken\"", "environments.production.base_url \"htp://x\" is not an http(s) URL"],
        );
        error_naming(
            &with("https://api.kraken.com", "not a url"),
            &["environments.production.base_url", "\"not a url\""],
        );
    }

    #[test]
    fn unknown_auth_scheme_uses_the_unknown_scheme_message() {
        let err = error_naming(&with("scheme = \"kraken\"", "scheme = \"hmac\""), &["auth.scheme", "\"hmac\""]);
        let expected = crate::signing::UnknownScheme("hmac".into()).to_string();
        assert!(err.to_string().contains(&expected), "{err}");
    }

    #[test]
    fn bad_id_names_the_field_and_value() {
        error_naming(&with("id = \"kraken\"", "id = \"Kraken Pro\""), &["id \"Kraken Pro\"", "a-z, 0-9"]);
    }

    #[test]
    fn default_environment_must_be_an_environment() {
        let text = with("kind = \"exchange\"", "kind = \"exchange\"\ndefault_environment = \"staging\"");
        error_naming(&text, &["default_environment \"staging\"", "production"]);
    }

    #[test]
    fn production_environment_is_required() {
        let text = with("[environments.production]", "[environments.testnet]");
        error_naming(&text, &["environments.production", "default_environment \"production\""]);
    }

    #[test]
    fn endpoint_without_a_path_is_named() {
        error_naming(&with("path = \"/0/public/Time\"\n", ""), &["endpoints.server_time.path", "missing"]);
    }

    #[test]
    fn path_must_start_with_a_slash() {
        error_naming(
            &with("\"/0/public/Time\"", "\"0/public/Time\""),
            &["endpoints.server_time.path \"0/public/Time\"", "must start with \"/\""],
        );
    }

    #[test]
    fn a_parameter_that_is_not_a_finite_number_is_refused_naming_it() {
        let mut spec = crate::provider::catalog::preset("okx").expect("okx").expect("spec");
        spec.endpoints.get_mut("ticker").expect("ticker").params.insert("u_".into(), toml::Value::Float(f64::NAN));
        let err = spec.validate().expect_err("nan");
        assert!(err.to_string().contains("endpoints.ticker.params.u_"), "{err}");
        assert!(err.to_string().contains("must be a finite number"), "{err}");
    }

    #[test]
    fn path_placeholders_must_be_known_params() {
        let text = with("\"/0/public/Time\"", "\"/0/public/{pair}\"");
        error_naming(&text, &["endpoints.server_time.path", "{pair}"]);
        let ok = with("\"/0/public/Time\"", "\"/0/public/{pair}\"\nrequired = [\"pair\"]");
        ProviderSpec::from_toml(&ok).expect("placeholder listed in required");
    }

    #[test]
    fn unknown_method_names_the_field_and_value() {
        error_naming(
            &with("method = \"POST\"", "method = \"FETCH\""),
            &["endpoints.balances.method \"FETCH\"", "GET, POST"],
        );
        error_naming(
            &with("method = \"POST\"", "method = \"post\""),
            &["endpoints.balances.method \"post\"", "\"POST\""],
        );
    }

    #[test]
    fn negative_timeout_is_a_clear_field_error() {
        let text = with("kind = \"exchange\"", "kind = \"exchange\"\ntimeout_ms = -5");
        let err = error_naming(&text, &["timeout_ms -5", "positive"]);
        assert!(matches!(err, SpecError::Validation { .. }), "{err:?}");
        assert!(!err.to_string().contains("u64"), "serde wording leaked: {err}");
    }

    #[test]
    fn zero_timeout_is_rejected() {
        error_naming(
            &with("kind = \"exchange\"", "kind = \"exchange\"\ntimeout_ms = 0"),
            &["timeout_ms 0", "positive"],
        );
    }

    #[test]
    fn zero_retry_attempts_are_rejected() {
        error_naming(&format!("{BASE}\n[retry]\nmax_attempts = 0\n"), &["retry.max_attempts 0", "at least 1"]);
    }

    #[test]
    fn ids_the_gateways_own_routes_use_are_refused() {
        for id in RESERVED_IDS {
            let text = CUSTOM_FOR_RESERVED.replace("ID", id);
            let err = ProviderSpec::from_toml(&text).and_then(|s| s.validate()).expect_err("reserved");
            let msg = err.to_string();
            assert!(msg.contains(&format!("\"{id}\"")) && msg.contains("reserved"), "{msg}");
        }
    }

    const CUSTOM_FOR_RESERVED: &str = r#"
id = "ID"
name = "Mine"
kind = "market_data"
health_check = "ping"

[environments.production]
base_url = "https://data.example.com"

[endpoints.ping]
path = "/ping"
"#;

    #[test]
    fn negative_cost_is_rejected_as_float_and_integer() {
        error_naming(
            &with("signed = true", "signed = true\ncost = -0.5"),
            &["endpoints.balances.cost -0.5", "negative"],
        );
        error_naming(&with("signed = true", "signed = true\ncost = -2"), &["endpoints.balances.cost -2", "negative"]);
    }

    #[test]
    fn health_check_must_name_an_endpoint() {
        let text = with("kind = \"exchange\"", "kind = \"exchange\"\nhealth_check = \"ping\"");
        error_naming(&text, &["health_check \"ping\"", "names no endpoint", "server_time"]);
    }

    #[test]
    fn status_operation_must_name_an_endpoint() {
        let text = with("status_operation = \"system_status\"", "status_operation = \"status\"");
        error_naming(&text, &["status_operation \"status\"", "names no endpoint"]);
    }

    #[test]
    fn api_key_header_needs_header_name() {
        let text = with("scheme = \"kraken\"", "scheme = \"api_key_header\"");
        error_naming(&text, &["auth.header_name", "missing", "\"api_key_header\""]);
        let ok = with("scheme = \"kraken\"", "scheme = \"api_key_header\"\nheader_name = \"X-CMC_PRO_API_KEY\"");
        ProviderSpec::from_toml(&ok).expect("header name given");
    }

    #[test]
    fn api_key_query_needs_query_param() {
        let text = with("scheme = \"kraken\"", "scheme = \"api_key_query\"");
        error_naming(&text, &["auth.query_param", "missing", "\"api_key_query\""]);
    }

    #[test]
    fn signed_endpoint_needs_an_auth_scheme() {
        error_naming(
            &with("scheme = \"kraken\"", "scheme = \"none\""),
            &["endpoints.balances.signed true", "\"none\""],
        );
    }

    #[test]
    fn trading_operations_must_be_class_trade() {
        let text = format!(
            "{BASE}\n[endpoints.place_order]\nmethod = \"POST\"\npath = \"/0/private/AddOrder\"\nsigned = true\n"
        );
        error_naming(&text, &["endpoints.place_order.class \"read\"", "\"trade\""]);
        let text = format!("{BASE}\n[endpoints.withdraw]\nmethod = \"POST\"\npath = \"/0/private/Withdraw\"\nsigned = true\nclass = \"trade\"\n");
        error_naming(&text, &["endpoints.withdraw.class \"trade\"", "\"withdraw\""]);
    }

    #[test]
    fn rate_limit_rules_are_checked() {
        let rule = "\n[[rate_limits]]\nid = \"rest\"\nkind = \"decaying_counter\"\nscope = \"key\"\nlimit = 15\n";
        error_naming(&format!("{BASE}{rule}"), &["rate_limits[0].decay_per_sec", "missing"]);
        let ok = format!("{BASE}{rule}decay_per_sec = 0.33\napplies_to = [\"balances\"]\n");
        let spec = ProviderSpec::from_toml(&ok).expect("valid rule");
        assert_eq!(spec.rules_for(op::BALANCES).count(), 1);
        assert_eq!(spec.rules_for(op::SERVER_TIME).count(), 0);
        assert_eq!(spec.rate_limits[0].counts, RateLimitCounts::Weight);
        let bad = format!("{BASE}{rule}decay_per_sec = 0.33\napplies_to = [\"tikcer\"]\n");
        error_naming(&bad, &["rate_limits[0].applies_to \"tikcer\"", "names no endpoint"]);
        let window = "\n[[rate_limits]]\nid = \"w\"\nkind = \"fixed_window\"\nscope = \"ip\"\nlimit = 0\n";
        error_naming(&format!("{BASE}{window}"), &["rate_limits[0].interval_ms", "rate_limits[0].limit 0"]);
        error_naming(
            &format!("{BASE}{window}interval_ms = -1000\n"),
            &["rate_limits[0].interval_ms -1000", "negative"],
        );
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let text = with("kind = \"exchange\"", "kind = \"exchange\"\ntimeout_ms = 0\nhealth_check = \"ping\"");
        let err = ProviderSpec::from_toml(&text).expect_err("two problems");
        assert_eq!(err.field_errors().len(), 2, "{err}");
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let text = "id = \"x\"\nname = \"X\"\nkind \"exchange\"\n";
        match ProviderSpec::from_toml(text) {
            Err(SpecError::Syntax { line, column, message }) => {
                assert_eq!((line, column), (3, 6), "message: {message}");
                assert!(message.contains('='), "{message}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
        let err = ProviderSpec::from_toml(text).expect_err("syntax");
        assert!(err.to_string().starts_with("provider spec line 3, column 6: "), "{err}");
    }

    #[test]
    fn unknown_key_is_reported_with_its_line() {
        let text = with("status_operation", "timout_ms = 5\nstatus_operation");
        match ProviderSpec::from_toml(&text) {
            Err(e @ SpecError::Shape { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("timout_ms"), "{msg}");
                assert!(msg.contains("line 5"), "{msg}");
            }
            other => panic!("expected a shape error, got {other:?}"),
        }
    }

    #[test]
    fn discontinued_since_accepts_a_toml_date_or_a_string() {
        for since in ["2022-11-11", "\"2022-11-11\""] {
            let text = format!("{BASE}\n[discontinued]\nsince = {since}\nreason = \"gone\"\n");
            let spec = ProviderSpec::from_toml(&text).expect("valid");
            let d = spec.discontinued.expect("discontinued");
            assert_eq!(d.since.to_string(), "2022-11-11");
        }
        let text = format!("{BASE}\n[discontinued]\nsince = \"11/11/2022\"\nreason = \"gone\"\n");
        error_naming(&text, &["11/11/2022"]);
    }

    #[test]
    fn to_toml_round_trips() {
        let text = format!(
            "{BASE}\n[params]\ntier = \"starter\"\n[[rate_limits]]\nid = \"rest\"\nkind = \"decaying_counter\"\nscope = \"key\"\nlimit = 15\ndecay_per_sec = 0.33\n[discontinued]\nsince = 2022-11-11\nreason = \"gone\"\n"
        );
        let spec = ProviderSpec::from_toml(&text).expect("valid");
        let written = spec.to_toml().expect("serialise");
        let again = ProviderSpec::from_toml(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(spec, again);
    }

    #[test]
    fn location_counts_lines_and_characters_from_one() {
        assert_eq!(location("abc", 0), (1, 1));
        assert_eq!(location("a\nbc", 3), (2, 2));
        assert_eq!(location("é\nxé", 6), (2, 3));
        assert_eq!(location("é\nxé", 5), (2, 2), "an offset inside a character counts from its start");
        assert_eq!(location("ab", 99), (1, 3));
    }
}
