//! Unified market symbols. A caller may name a market the common way (`BTC/USDT`, `ETH/USD`)
//! in a market-data call's `symbol` parameter; each provider gets it in its own name and
//! parameter (`symbol=BTCUSDT` for Binance, `pair=XBTUSDT` for Kraken, `product_id=BTC-USD`
//! for Coinbase, `instId=BTC-USDT` for OKX). Exchange-native symbols pass through unchanged.
//!
//! The mapping is learned from the exchange's own list of markets (the spec's `[markets]`),
//! fetched once through the pipeline (rate-limited and recorded like any call) and kept for a
//! day, in memory and in the database when the pipeline has one; a provider without a list, or
//! whose list cannot be read right now, uses its family's naming rule.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::provider::{MarketsSource, ProviderSpec};
use crate::store::Store;

/// How long a learned list of markets is used before it is fetched again.
pub const MARKETS_MAX_AGE: chrono::Duration = chrono::Duration::hours(24);

/// The parameter names providers use for a market, in the order they are looked for.
pub const SYMBOL_PARAMS: [&str; 4] = ["symbol", "pair", "product_id", "instId"];

/// A market named the common way: `BTC/USDT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Unified {
    pub base: String,
    pub quote: String,
}

impl Unified {
    /// `BTC/USDT` (any case, spaces around the parts ignored); `None` for anything else,
    /// which is then an exchange-native symbol.
    pub fn parse(s: &str) -> Option<Unified> {
        let (base, quote) = s.split_once('/')?;
        let (base, quote) = (base.trim(), quote.trim());
        let ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric());
        (ok(base) && ok(quote)).then(|| Unified { base: base.to_ascii_uppercase(), quote: quote.to_ascii_uppercase() })
    }
}

impl std::fmt::Display for Unified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.quote)
    }
}

/// One provider's markets: unified → its own symbol.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MarketMap {
    pub fetched_at: Option<DateTime<Utc>>,
    /// `BTC/USDT` → `BTCUSDT`.
    pub symbols: BTreeMap<String, String>,
}

/// The family's naming rule, for providers without a list of markets.
pub fn by_rule(family: &str, u: &Unified) -> Option<String> {
    let (b, q) = (u.base.as_str(), u.quote.as_str());
    let kraken = |a: &str| match a {
        "BTC" => "XBT".to_string(),
        "DOGE" => "XDG".to_string(),
        other => other.to_string(),
    };
    Some(match family {
        "binance" | "bybit" => format!("{b}{q}"),
        "okx" | "kucoin" | "coinbase" | "coinbase_exchange" => format!("{b}-{q}"),
        "kraken" => format!("{}{}", kraken(b), kraken(q)),
        "bitfinex" => {
            let f = |a: &str| if a == "USDT" { "UST".to_string() } else { a.to_string() };
            format!("t{}{}", f(b), f(q))
        }
        "bitstamp" | "gemini" => format!("{b}{q}").to_ascii_lowercase(),
        _ => return None,
    })
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').filter(|p| !p.is_empty()).try_fold(v, |v, key| v.get(key))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads an exchange's list of markets as `m` describes it. Entries it cannot read are left
/// out; an answer with no readable entry is an error naming the path.
pub fn parse(m: &MarketsSource, body: &Value) -> Result<MarketMap, String> {
    let list = at(body, &m.list).ok_or_else(|| format!("the markets answer has no \"{}\"", m.list))?;
    let entries: Vec<(Option<&str>, &Value)> = match list {
        Value::Array(items) => items.iter().map(|v| (None, v)).collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (Some(k.as_str()), v)).collect(),
        _ => return Err(format!("\"{}\" in the markets answer is not a list", m.list)),
    };
    let alias = |a: String| -> String {
        let upper = a.to_ascii_uppercase();
        m.aliases.get(&upper).cloned().unwrap_or(upper)
    };
    let mut symbols = BTreeMap::new();
    for (key, entry) in entries {
        let native = if m.symbol == "$key" { key.map(str::to_string) } else { text(at(entry, &m.symbol)) };
        let Some(native) = native else { continue };
        let assets = match (&m.pair, &m.base, &m.quote) {
            (Some(pair), _, _) => text(at(entry, pair)).and_then(|p| {
                let sep = m.separator.as_deref().unwrap_or("/");
                p.split_once(sep).map(|(b, q)| (b.to_string(), q.to_string()))
            }),
            (None, Some(b), Some(q)) => text(at(entry, b)).zip(text(at(entry, q))),
            _ => None,
        };
        if let Some((base, quote)) = assets {
            symbols.insert(format!("{}/{}", alias(base), alias(quote)), native);
        }
    }
    if symbols.is_empty() {
        return Err(format!("no market could be read from \"{}\" of the markets answer", m.list));
    }
    Ok(MarketMap { fetched_at: None, symbols })
}

/// Learned maps by provider, shared by every call of one pipeline.
#[derive(Clone, Default)]
pub struct Markets {
    maps: Arc<Mutex<HashMap<String, Arc<MarketMap>>>>,
    store: Arc<OnceLock<Store>>,
}

fn setting_key(provider: &str) -> String {
    format!("markets.{provider}")
}

impl Markets {
    /// Keeps learned maps in `store` too, so a new process does not fetch them again.
    pub fn persist_to(&self, store: Store) {
        let _ = self.store.set(store);
    }

    /// The learned map of `provider` if it is younger than [`MARKETS_MAX_AGE`].
    pub fn learned(&self, provider: &str, now: DateTime<Utc>) -> Option<Arc<MarketMap>> {
        let young = |m: &MarketMap| m.fetched_at.is_some_and(|t| now - t < MARKETS_MAX_AGE);
        if let Some(m) = self.maps.lock().unwrap_or_else(|p| p.into_inner()).get(provider).filter(|m| young(m)) {
            return Some(Arc::clone(m));
        }
        let stored = self.store.get()?.setting(&setting_key(provider)).ok().flatten()?;
        let map: MarketMap = serde_json::from_str(&stored).ok().filter(young)?;
        let map = Arc::new(map);
        self.maps.lock().unwrap_or_else(|p| p.into_inner()).insert(provider.to_string(), Arc::clone(&map));
        Some(map)
    }

    pub fn remember(&self, provider: &str, mut map: MarketMap, now: DateTime<Utc>) -> Arc<MarketMap> {
        map.fetched_at = Some(now);
        if let Some(store) = self.store.get() {
            if let Ok(json) = serde_json::to_string(&map) {
                if let Err(e) = store.set_setting(&setting_key(provider), &json) {
                    tracing::warn!(provider, error = %e, "could not store the list of markets");
                }
            }
        }
        let map = Arc::new(map);
        self.maps.lock().unwrap_or_else(|p| p.into_inner()).insert(provider.to_string(), Arc::clone(&map));
        map
    }
}

/// Which parameter of `operation` names the market (`symbol`, `pair`, `product_id`, `instId`).
pub fn symbol_param(spec: &ProviderSpec, operation: &str) -> Option<&'static str> {
    let e = spec.endpoints.get(operation)?;
    SYMBOL_PARAMS.into_iter().find(|name| {
        e.required.iter().any(|r| r == name) || e.params.contains_key(*name) || e.path.contains(&format!("{{{name}}}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn u(s: &str) -> Unified {
        Unified::parse(s).expect("unified")
    }

    #[test]
    fn unified_symbols_parse_and_native_ones_do_not() {
        assert_eq!(u(" btc / usdt "), Unified { base: "BTC".into(), quote: "USDT".into() });
        assert_eq!(Unified::parse("BTCUSDT"), None);
        assert_eq!(Unified::parse("BTC/"), None);
        assert_eq!(Unified::parse("BTC/US-D"), None);
    }

    #[test]
    fn each_family_names_a_market_its_own_way() {
        let btc = u("BTC/USDT");
        let usd = u("BTC/USD");
        assert_eq!(by_rule("binance", &btc).as_deref(), Some("BTCUSDT"));
        assert_eq!(by_rule("okx", &btc).as_deref(), Some("BTC-USDT"));
        assert_eq!(by_rule("coinbase", &usd).as_deref(), Some("BTC-USD"));
        assert_eq!(by_rule("kraken", &usd).as_deref(), Some("XBTUSD"));
        assert_eq!(by_rule("bitfinex", &btc).as_deref(), Some("tBTCUST"));
        assert_eq!(by_rule("bitstamp", &usd).as_deref(), Some("btcusd"));
        assert_eq!(by_rule("coingecko", &usd), None);
    }

    #[test]
    fn lists_of_markets_are_read_as_each_exchange_answers() {
        let binance = MarketsSource {
            operation: "markets".into(),
            list: "symbols".into(),
            symbol: "symbol".into(),
            base: Some("baseAsset".into()),
            quote: Some("quoteAsset".into()),
            pair: None,
            separator: None,
            aliases: BTreeMap::new(),
        };
        let body = json!({"symbols": [{"symbol": "ETHBTC", "baseAsset": "ETH", "quoteAsset": "BTC"}, {"bad": 1}]});
        let map = parse(&binance, &body).expect("binance");
        assert_eq!(map.symbols.get("ETH/BTC").map(String::as_str), Some("ETHBTC"));
        assert_eq!(map.symbols.len(), 1);

        let kraken = MarketsSource {
            operation: "markets".into(),
            list: "result".into(),
            symbol: "altname".into(),
            base: None,
            quote: None,
            pair: Some("wsname".into()),
            separator: Some("/".into()),
            aliases: [("XBT".to_string(), "BTC".to_string()), ("XDG".to_string(), "DOGE".to_string())].into(),
        };
        let body = json!({"error": [], "result": {"XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD"}}});
        let map = parse(&kraken, &body).expect("kraken");
        assert_eq!(map.symbols.get("BTC/USD").map(String::as_str), Some("XBTUSD"));

        let err = parse(&binance, &json!({"data": []})).expect_err("no list");
        assert!(err.contains("\"symbols\""), "{err}");
    }
}
