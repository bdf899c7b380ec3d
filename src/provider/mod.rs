//! Provider specs: presets shipped as TOML data, user specs and overrides in the database.
//!
//! - [`ProviderSpec`] (`spec.rs`) is one provider as data: environments and base URLs, the
//!   auth scheme, the endpoint map (logical operation → method, path, weight, cost, cache
//!   TTL, class), rate-limit rules, health check and service parameters.
//! - `validate.rs` reads specs from TOML ([`ProviderSpec::from_toml`]), writes them back
//!   ([`ProviderSpec::to_toml`]) and checks them ([`ProviderSpec::validate`]); every error
//!   names the field path and the bad value.
//! - `catalog/*.toml` are the presets ([`PRESETS`]), compiled into the binary.
//! - [`Registry`] (`registry/`) merges the presets with what the user stored (custom specs,
//!   overrides of presets, enabled flag, selected environment) into [`ProviderEntry`]s
//!   (`entry.rs`), each with its [`Origin`] (`origin.rs`).
//! - [`SettingsChange`] (`settings.rs`) is a typed change of the settings the app's form
//!   edits, applied by [`Registry::apply_settings`].
//!
//! # The spec format
//!
//! ```toml
//! id = "kraken"                      # [a-z0-9_-]+
//! name = "Kraken"
//! kind = "exchange"                  # or "market_data"
//! family = "kraken"                  # response normaliser; presets use their own id
//! docs_url = "https://docs.kraken.com/api/"
//! health_check = "server_time"       # default "server_time"
//! status_operation = "system_status" # optional
//! timeout_ms = 10000                 # default 10000
//!
//! [environments.production]          # required; "testnet"/"sandbox" where one exists
//! base_url = "https://api.kraken.com"
//!
//! [auth]
//! scheme = "kraken"                  # an AuthScheme id
//!
//! [retry]                            # defaults: 3 attempts, 200 ms base, 5000 ms cap
//! max_attempts = 3
//!
//! [endpoints.ticker]
//! path = "/0/public/Ticker"          # GET, query parameters, weight 1, class read
//! required = ["pair"]
//!
//! [endpoints.balances]
//! method = "POST"
//! path = "/0/private/Balance"
//! body = "form"                      # query | json | form
//! signed = true
//!
//! [[rate_limits]]
//! id = "rest_counter"
//! kind = "decaying_counter"          # fixed_window | sliding_window | decaying_counter
//! scope = "key"                      #   | pool_window | monthly_quota; scope ip | account | key
//! limit = 15
//! decay_per_sec = 0.33
//! applies_to = ["balances"]          # empty = every operation
//! ```
//!
//! A path may contain `{name}` placeholders, filled from the call's parameters (or the
//! endpoint's `params` defaults). The request URL is the environment's `base_url` without a
//! trailing `/`, followed by the path.

pub mod billing;
mod catalog;
mod entry;
mod error;
mod origin;
mod registry;
mod settings;
mod spec;
mod validate;
mod view;

pub use catalog::{preset, presets, PresetFile, PRESETS};
pub use entry::ProviderEntry;
pub use error::{FieldError, ProviderError, SpecError};
pub use origin::Origin;
pub use registry::{Confirm, Registry};
pub use settings::{
    auth_scheme, http_method, operation_class, whole_number, AuthChange, BreakerChange, Clearable, EndpointChange,
    RetryChange, SettingsChange, WholeNumber,
};
pub use spec::{
    op, required_class, AuthSpec, BatchFormat, BatchSpec, BodyKind, BreakerPolicy, Discontinued, EndpointSpec,
    Environment, HttpMethod, MarketsSource, OperationClass, ProviderKind, ProviderSpec, PublishedLimitsFormat,
    PublishedLimitsSource, RateLimitCounts, RateLimitKind, RateLimitRule, RateLimitScope, RetryPolicy, WeightBy,
    DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_DELAY_MS, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_STALE_IF_ERROR_MS, DEFAULT_TIMEOUT_MS, PRODUCTION, STANDARD_OPERATIONS,
};
pub use validate::{is_valid_id, MAX_ID_LEN};
pub use view::{EnvironmentView, ProviderView};
