//! The preset catalog: one TOML file per provider in `catalog/`, compiled into the binary.
//!
//! Every preset must parse and validate; the tests below (and `Registry::new`) check that, so
//! a broken preset is a failing test, not a runtime surprise.

use super::error::{FieldError, ProviderError, SpecError};
use super::spec::ProviderSpec;

/// One preset file.
#[derive(Debug, Clone, Copy)]
pub struct PresetFile {
    /// The provider id; the file's `id` must equal it.
    pub id: &'static str,
    /// File name inside `src/provider/catalog/`.
    pub file: &'static str,
    /// The TOML text.
    pub text: &'static str,
}

macro_rules! presets {
    ($($id:literal),* $(,)?) => {
        &[$(PresetFile {
            id: $id,
            file: concat!($id, ".toml"),
            text: include_str!(concat!("catalog/", $id, ".toml")),
        }),*]
    };
}

/// Every preset shipped with this build.
pub const PRESETS: &[PresetFile] = presets![
    "alphavantage",
    "binance",
    "bitfinex",
    "bitstamp",
    "bybit",
    "coinbase",
    "coinbase_exchange",
    "coingecko",
    "coingecko_pro",
    "coinmarketcap",
    "ftx",
    "gemini",
    "kraken",
    "kucoin",
    "okx",
];

impl PresetFile {
    /// Parses and validates the preset, and checks that its id matches the file.
    pub fn parse(&self) -> Result<ProviderSpec, ProviderError> {
        let spec =
            ProviderSpec::from_toml(self.text).map_err(|source| ProviderError::Preset { file: self.file, source })?;
        if spec.id != self.id {
            let source = SpecError::Validation {
                provider: spec.id.clone(),
                errors: vec![FieldError::new(
                    "id",
                    format!("{:?}", spec.id),
                    format!("does not match the file name {}", self.file),
                )],
            };
            return Err(ProviderError::Preset { file: self.file, source });
        }
        Ok(spec)
    }
}

/// Every preset, parsed, in id order.
pub fn presets() -> Result<Vec<ProviderSpec>, ProviderError> {
    PRESETS.iter().map(PresetFile::parse).collect()
}

/// The preset with this id, parsed.
pub fn preset(id: &str) -> Option<Result<ProviderSpec, ProviderError>> {
    PRESETS.iter().find(|p| p.id == id).map(PresetFile::parse)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::provider::spec::{op, OperationClass, ProviderKind, RateLimitKind, STANDARD_OPERATIONS};
    use crate::signing::AuthScheme;

    fn parsed(id: &str) -> ProviderSpec {
        match preset(id) {
            Some(Ok(spec)) => spec,
            Some(Err(e)) => panic!("preset {id}: {e}"),
            None => panic!("no preset {id}"),
        }
    }

    /// The standard operations each preset must map: everything the provider has an
    /// endpoint for. A missing one is either a gap in the preset or a documented absence
    /// (see the comment in the preset file).
    const EXPECTED: &[(&str, &[&str])] = &[
        ("binance", STANDARD_OPERATIONS),
        (
            "coinbase",
            &[
                op::SERVER_TIME,
                op::TICKER,
                op::ORDER_BOOK,
                op::BALANCES,
                op::OPEN_ORDERS,
                op::PLACE_ORDER,
                op::CANCEL_ORDER,
                op::KEY_PERMISSIONS,
            ],
        ),
        (
            "coinbase_exchange",
            &[
                op::SERVER_TIME,
                op::TICKER,
                op::ORDER_BOOK,
                op::BALANCES,
                op::OPEN_ORDERS,
                op::PLACE_ORDER,
                op::CANCEL_ORDER,
            ],
        ),
        ("kraken", STANDARD_OPERATIONS),
        ("kucoin", STANDARD_OPERATIONS),
        ("okx", STANDARD_OPERATIONS),
        ("bybit", STANDARD_OPERATIONS),
        ("bitstamp", &[op::TICKER, op::ORDER_BOOK, op::BALANCES, op::OPEN_ORDERS, op::PLACE_ORDER, op::CANCEL_ORDER]),
        (
            "gemini",
            &[
                op::TICKER,
                op::ORDER_BOOK,
                op::BALANCES,
                op::OPEN_ORDERS,
                op::PLACE_ORDER,
                op::CANCEL_ORDER,
                op::KEY_PERMISSIONS,
            ],
        ),
        (
            "bitfinex",
            &[
                op::SYSTEM_STATUS,
                op::TICKER,
                op::ORDER_BOOK,
                op::BALANCES,
                op::OPEN_ORDERS,
                op::PLACE_ORDER,
                op::CANCEL_ORDER,
                op::KEY_PERMISSIONS,
            ],
        ),
        ("coingecko", &[op::TICKER]),
        ("coingecko_pro", &[op::TICKER]),
        ("coinmarketcap", &[op::TICKER]),
        ("alphavantage", &[op::TICKER]),
        ("ftx", &[op::TICKER, op::ORDER_BOOK]),
    ];

    #[test]
    fn every_preset_parses_and_validates() {
        let all = presets().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), PRESETS.len());
        let ids: BTreeSet<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), all.len(), "duplicate preset ids");
    }

    #[test]
    fn every_preset_is_listed_in_the_expectations() {
        let expected: BTreeSet<&str> = EXPECTED.iter().map(|(id, _)| *id).collect();
        let shipped: BTreeSet<&str> = PRESETS.iter().map(|p| p.id).collect();
        assert_eq!(expected, shipped);
    }

    #[test]
    fn every_preset_maps_the_standard_operations_it_should() {
        for (id, ops) in EXPECTED {
            let spec = parsed(id);
            let want: Vec<&str> = STANDARD_OPERATIONS.iter().copied().filter(|o| ops.contains(o)).collect();
            assert_eq!(spec.standard_operations(), want, "preset {id}");
        }
    }

    #[test]
    fn trading_endpoints_are_signed_trade_class_and_never_cached() {
        for p in PRESETS {
            let spec = parsed(p.id);
            for name in [op::PLACE_ORDER, op::CANCEL_ORDER] {
                if let Some(e) = spec.endpoint(name) {
                    assert_eq!(e.class, OperationClass::Trade, "{} {name}", p.id);
                    assert!(e.signed, "{} {name} must be signed", p.id);
                    assert_eq!(e.cache_ttl_ms, 0, "{} {name} must not be cached", p.id);
                }
            }
            for name in [op::BALANCES, op::OPEN_ORDERS, op::KEY_PERMISSIONS] {
                if let Some(e) = spec.endpoint(name) {
                    assert!(e.signed, "{} {name} must be signed", p.id);
                }
            }
        }
    }

    #[test]
    fn presets_use_https_and_name_their_family() {
        for p in PRESETS {
            let spec = parsed(p.id);
            for (env, e) in &spec.environments {
                assert!(e.base_url.starts_with("https://"), "{} {env}: {}", p.id, e.base_url);
            }
            let family = spec.family.as_deref().unwrap_or_else(|| panic!("{} has no family", p.id));
            let expected_family = if p.id == "coingecko_pro" { "coingecko" } else { p.id };
            assert_eq!(family, expected_family, "{}", p.id);
            assert!(spec.docs_url.is_some(), "{} has no docs_url", p.id);
        }
    }

    #[test]
    fn live_exchange_presets_have_rate_limits_and_a_public_health_check() {
        for p in PRESETS {
            let spec = parsed(p.id);
            if spec.is_discontinued() {
                continue;
            }
            assert!(!spec.rate_limits.is_empty(), "{} has no rate limits", p.id);
            if spec.kind == ProviderKind::Exchange {
                let check = spec.endpoint(&spec.health_check).unwrap_or_else(|| panic!("{}", p.id));
                assert!(!check.signed, "{}: the health check should not need a key", p.id);
            }
        }
    }

    #[test]
    fn exchange_facts_match_exchanges_md() {
        let binance = parsed("binance");
        assert_eq!(binance.base_url("production"), Some("https://api.binance.com"));
        assert_eq!(binance.base_url("testnet"), Some("https://testnet.binance.vision"));
        assert_eq!(binance.auth.scheme, AuthScheme::BinanceHmac);
        assert_eq!(binance.auth.recv_window_ms, Some(5000));
        assert_eq!(binance.endpoints[op::KEY_PERMISSIONS].path, "/sapi/v1/account/apiRestrictions");
        assert_eq!(binance.endpoints[op::SYSTEM_STATUS].path, "/sapi/v1/system/status");
        assert_eq!(binance.endpoints[op::ORDER_BOOK].weight, 5);
        let weight = binance.rate_limits.iter().find(|r| r.id == "request_weight").expect("request_weight rule");
        assert_eq!((weight.limit, weight.interval_ms, weight.kind), (6000.0, Some(60_000), RateLimitKind::FixedWindow));
        assert_eq!(weight.weight_header.as_deref(), Some("x-mbx-used-weight-1m"));

        let kraken = parsed("kraken");
        let counter = kraken.rate_limits.iter().find(|r| r.kind == RateLimitKind::DecayingCounter).expect("counter");
        assert_eq!((counter.limit, counter.decay_per_sec), (15.0, Some(0.33)));
        assert_eq!(kraken.endpoints[op::KEY_PERMISSIONS].path, "/0/private/GetApiKeyInfo");

        let kucoin = parsed("kucoin");
        assert_eq!(kucoin.auth.key_version, Some(2));
        assert!(kucoin.auth.needs_passphrase());
        assert!(kucoin
            .rate_limits
            .iter()
            .all(|r| r.kind == RateLimitKind::PoolWindow && r.interval_ms == Some(30_000)));

        let coinbase = parsed("coinbase");
        assert_eq!(coinbase.auth.scheme, AuthScheme::CoinbaseJwt);
        assert!(coinbase.status_operation.is_none());
        assert_eq!(coinbase.endpoints[op::KEY_PERMISSIONS].path, "/api/v3/brokerage/key_permissions");

        let cbx = parsed("coinbase_exchange");
        assert_eq!(cbx.base_url("sandbox"), Some("https://api-public.sandbox.exchange.coinbase.com"));
        assert!(cbx.auth.passphrase_required);

        let bybit = parsed("bybit");
        assert_eq!(bybit.base_url("testnet"), Some("https://api-testnet.bybit.com"));
        assert_eq!(bybit.endpoints[op::KEY_PERMISSIONS].path, "/v5/user/query-api");

        let cmc = parsed("coinmarketcap");
        assert_eq!(cmc.auth.header_name.as_deref(), Some("X-CMC_PRO_API_KEY"));
        assert!(cmc.rate_limits.iter().any(|r| r.kind == RateLimitKind::MonthlyQuota));

        let av = parsed("alphavantage");
        assert_eq!(av.auth.scheme, AuthScheme::ApiKeyQuery);
        assert_eq!(av.auth.query_param.as_deref(), Some("apikey"));

        let gecko = parsed("coingecko");
        assert_eq!(gecko.auth.header_name.as_deref(), Some("x-cg-demo-api-key"));
        assert!(gecko.auth.key_optional);
        assert_eq!(parsed("coingecko_pro").auth.header_name.as_deref(), Some("x-cg-pro-api-key"));
    }

    #[test]
    fn ftx_is_discontinued_and_says_why() {
        let ftx = parsed("ftx");
        let d = ftx.discontinued.expect("ftx is discontinued");
        assert_eq!(d.since.to_string(), "2022-11-11");
        assert!(d.reason.contains("8 November 2022"), "{}", d.reason);
        assert!(d.reason.contains("bankruptcy"), "{}", d.reason);
    }

    #[test]
    fn every_preset_round_trips_through_toml() {
        for p in PRESETS {
            let spec = parsed(p.id);
            let text = spec.to_toml().unwrap_or_else(|e| panic!("{e}"));
            let again = ProviderSpec::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.id));
            assert_eq!(spec, again, "{}", p.id);
        }
    }
}
