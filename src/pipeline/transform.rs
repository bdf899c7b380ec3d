//! The transform layer: exchange-level errors hidden in 200 responses, and normalised results
//! for the common operations. Providers are matched by their spec's `family` (a custom
//! provider that speaks Binance's API sets `family = "binance"`).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::provider::ProviderSpec;

/// One price level.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceLevel {
    pub price: String,
    pub size: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    pub asset: String,
    pub free: String,
    pub locked: String,
}

/// A provider's system state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemState {
    Normal,
    Maintenance,
    CancelOnly,
    PostOnly,
    Unknown,
}

impl SystemState {
    pub fn as_str(self) -> &'static str {
        match self {
            SystemState::Normal => "normal",
            SystemState::Maintenance => "maintenance",
            SystemState::CancelOnly => "cancel_only",
            SystemState::PostOnly => "post_only",
            SystemState::Unknown => "unknown",
        }
    }
}

/// A normalised result; `Raw` when the operation has no normal form (the raw JSON is always
/// returned alongside).
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    ServerTime { server_time: DateTime<Utc> },
    SystemStatus { state: SystemState, message: Option<String> },
    Ticker { symbol: Option<String>, last: Option<String>, bid: Option<String>, ask: Option<String> },
    OrderBook { bids: Vec<PriceLevel>, asks: Vec<PriceLevel> },
    Balances(Vec<Balance>),
    Raw,
}

/// The code of an exchange error that says "too many requests" inside a 2xx body (Alpha
/// Vantage's `Note` / `Information`): throttled, not answered.
pub const THROTTLED: &str = "throttled";

#[derive(Debug)]
pub enum ParseError {
    /// The exchange answered 2xx with an error in the body.
    Exchange {
        code: String,
        message: String,
    },
    NotJson(String),
    /// A 2xx answer without the data (an order book with neither bids nor asks): never cached.
    Empty(String),
}

/// Parses a 2xx body: checks for exchange-level errors, then normalises.
pub fn parse(spec: &ProviderSpec, operation: &str, body: &[u8]) -> Result<(Value, Normalized), ParseError> {
    let raw: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?
    };
    let family = spec.family.as_deref().unwrap_or(spec.id.as_str());
    exchange_error(family, &raw)?;
    let data = normalise(family, operation, &raw).unwrap_or(Normalized::Raw);
    if let Normalized::OrderBook { bids, asks } = &data {
        if bids.is_empty() && asks.is_empty() {
            return Err(ParseError::Empty("the order book is empty (no bids and no asks)".into()));
        }
    }
    Ok((raw, data))
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn exchange_error(family: &str, raw: &Value) -> Result<(), ParseError> {
    let err = |code: String, message: String| Err(ParseError::Exchange { code, message });
    match family {
        "kraken" => {
            if let Some(errors) = raw.get("error").and_then(Value::as_array).filter(|e| !e.is_empty()) {
                let first = errors.first().and_then(Value::as_str).unwrap_or("EGeneral:Unknown");
                let (code, message) = first.split_once(':').unwrap_or((first, ""));
                return err(code.to_string(), message.to_string());
            }
        }
        "okx" => {
            if let Some(code) = raw.get("code").and_then(s).filter(|c| c != "0") {
                return err(code, raw.get("msg").and_then(s).unwrap_or_default());
            }
        }
        "bybit" => {
            if let Some(code) = raw.get("retCode").and_then(Value::as_i64).filter(|c| *c != 0) {
                return err(code.to_string(), raw.get("retMsg").and_then(s).unwrap_or_default());
            }
        }
        "kucoin" => {
            if let Some(code) = raw.get("code").and_then(s).filter(|c| c != "200000") {
                return err(code, raw.get("msg").and_then(s).unwrap_or_default());
            }
        }
        "binance" => {
            if let Some(code) = raw.get("code").and_then(Value::as_i64).filter(|c| *c < 0) {
                return err(code.to_string(), raw.get("msg").and_then(s).unwrap_or_default());
            }
        }
        // HTTP 200 with a note instead of data: the call-rate limit ("Thank you for using Alpha
        // Vantage! Our standard API rate limit is …") or a bad request ("Error Message").
        "alphavantage" => {
            if let Some(note) = raw.get("Note").or_else(|| raw.get("Information")).and_then(s) {
                return err(THROTTLED.to_string(), note);
            }
            if let Some(message) = raw.get("Error Message").and_then(s) {
                return err("error".to_string(), message);
            }
        }
        // Every answer carries `status`; a non-zero `error_code` is an error, whatever the HTTP
        // status said.
        "coinmarketcap" => {
            let status = raw.get("status");
            if let Some(code) = status.and_then(|st| st.get("error_code")).and_then(Value::as_i64).filter(|c| *c != 0) {
                let message = status.and_then(|st| st.get("error_message")).and_then(s).unwrap_or_default();
                let code = if code == 1008 || code == 1011 { THROTTLED.to_string() } else { code.to_string() };
                return err(code, message);
            }
        }
        _ => {}
    }
    Ok(())
}

fn millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// Seconds since the epoch; `None` past what a timestamp can hold (an exchange's body is
/// outside input: `"unixtime": 9223372036854775807` must not overflow).
fn seconds(secs: i64) -> Option<DateTime<Utc>> {
    millis(secs.checked_mul(1000)?)
}

fn num_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).or_else(|| v.as_f64().map(|f| f as i64))
}

fn levels(v: Option<&Value>) -> Vec<PriceLevel> {
    v.and_then(Value::as_array)
        .map(|rows| {
            rows.iter()
                .filter_map(|row| match row {
                    Value::Array(cells) => Some(PriceLevel { price: s(cells.first()?)?, size: s(cells.get(1)?)? }),
                    Value::Object(_) => Some(PriceLevel { price: s(row.get("price")?)?, size: s(row.get("size")?)? }),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Unwraps the common envelopes (`result`, `data`) once.
fn payload<'a>(family: &str, raw: &'a Value) -> &'a Value {
    match family {
        "kraken" | "bybit" => raw.get("result").unwrap_or(raw),
        "kucoin" | "okx" => raw.get("data").unwrap_or(raw),
        _ => raw,
    }
}

/// For shapes keyed by pair (Kraken): the first value of an object.
fn first_value(v: &Value) -> Option<&Value> {
    v.as_object().and_then(|m| m.values().next())
}

/// For list envelopes (OKX data[0], Bybit list[0]).
fn first_item(v: &Value) -> &Value {
    if let Some(first) = v.as_array().and_then(|a| a.first()) {
        return first;
    }
    if let Some(first) = v.get("list").and_then(Value::as_array).and_then(|a| a.first()) {
        return first;
    }
    v
}

fn normalise(family: &str, operation: &str, raw: &Value) -> Option<Normalized> {
    let p = payload(family, raw);
    match operation {
        "server_time" => {
            let t = match family {
                "kraken" => p.get("unixtime").and_then(num_i64).and_then(seconds),
                "kucoin" => num_i64(p).and_then(millis),
                "okx" => first_item(p).get("ts").and_then(num_i64).and_then(millis),
                "bybit" => p.get("timeSecond").and_then(num_i64).and_then(seconds),
                "coinbase" => p.get("epochMillis").and_then(num_i64).and_then(millis),
                "coinbase_exchange" => p.get("epoch").and_then(Value::as_f64).and_then(|e| millis((e * 1000.0) as i64)),
                _ => p
                    .get("serverTime")
                    .and_then(num_i64)
                    .and_then(millis)
                    .or_else(|| p.get("iso").and_then(Value::as_str).and_then(|t| t.parse().ok())),
            }?;
            Some(Normalized::ServerTime { server_time: t })
        }
        "system_status" => {
            let (state, message) = match family {
                "binance" => {
                    let st = match p.get("status").and_then(Value::as_i64) {
                        Some(0) => SystemState::Normal,
                        Some(1) => SystemState::Maintenance,
                        _ => SystemState::Unknown,
                    };
                    (st, p.get("msg").and_then(s))
                }
                "kraken" => {
                    let st = match p.get("status").and_then(Value::as_str) {
                        Some("online") => SystemState::Normal,
                        Some("maintenance") => SystemState::Maintenance,
                        Some("cancel_only") => SystemState::CancelOnly,
                        Some("post_only") => SystemState::PostOnly,
                        _ => SystemState::Unknown,
                    };
                    (st, p.get("timestamp").and_then(s))
                }
                "kucoin" => {
                    let st = match p.get("status").and_then(Value::as_str) {
                        Some("open") => SystemState::Normal,
                        Some("close") => SystemState::Maintenance,
                        Some("cancelonly") => SystemState::CancelOnly,
                        _ => SystemState::Unknown,
                    };
                    (st, p.get("msg").and_then(s))
                }
                "okx" | "bybit" => {
                    // A list of maintenance events; an ongoing one means maintenance.
                    let list = p.as_array().or_else(|| p.get("list").and_then(Value::as_array));
                    let ongoing = list.and_then(|l| {
                        l.iter().find(|e| {
                            matches!(
                                e.get("state").or_else(|| e.get("status")).and_then(s).as_deref(),
                                Some("ongoing" | "2")
                            )
                        })
                    });
                    match ongoing {
                        Some(e) => (SystemState::Maintenance, e.get("title").and_then(s)),
                        None => (SystemState::Normal, None),
                    }
                }
                _ => return None,
            };
            Some(Normalized::SystemStatus { state, message })
        }
        "ticker" => {
            let t = match family {
                "kraken" => {
                    let t = first_value(p)?;
                    let first = |k: &str| t.get(k).and_then(|v| v.get(0)).and_then(s);
                    return Some(Normalized::Ticker {
                        symbol: p.as_object().and_then(|m| m.keys().next().cloned()),
                        last: first("c"),
                        bid: first("b"),
                        ask: first("a"),
                    });
                }
                "okx" | "bybit" => first_item(p),
                _ => p,
            };
            let pick = |keys: &[&str]| keys.iter().find_map(|k| t.get(*k).and_then(s));
            Some(Normalized::Ticker {
                symbol: pick(&["symbol", "instId", "product_id", "pair"]),
                last: pick(&["lastPrice", "last", "price", "last_price"]),
                bid: pick(&["bidPrice", "bid", "bestBid", "bidPx", "bid1Price", "best_bid"]),
                ask: pick(&["askPrice", "ask", "bestAsk", "askPx", "ask1Price", "best_ask"]),
            })
        }
        "order_book" => {
            let book = match family {
                "kraken" => first_value(p)?,
                "okx" => first_item(p),
                "coinbase" => p.get("pricebook").unwrap_or(p),
                _ => p,
            };
            let bids = levels(book.get("bids").or_else(|| book.get("b")));
            let asks = levels(book.get("asks").or_else(|| book.get("a")));
            if bids.is_empty() && asks.is_empty() && book.get("bids").is_none() && book.get("b").is_none() {
                return None;
            }
            Some(Normalized::OrderBook { bids, asks })
        }
        "balances" => {
            let balances = match family {
                "binance" => p
                    .get("balances")?
                    .as_array()?
                    .iter()
                    .filter_map(|b| {
                        Some(Balance {
                            asset: s(b.get("asset")?)?,
                            free: s(b.get("free")?)?,
                            locked: s(b.get("locked")?)?,
                        })
                    })
                    .collect(),
                "kraken" => p
                    .as_object()?
                    .iter()
                    .filter_map(|(asset, amount)| {
                        Some(Balance { asset: asset.clone(), free: s(amount)?, locked: "0".into() })
                    })
                    .collect(),
                "kucoin" | "coinbase_exchange" => p
                    .as_array()?
                    .iter()
                    .filter_map(|b| {
                        Some(Balance {
                            asset: s(b.get("currency")?)?,
                            free: s(b.get("available")?)?,
                            locked: b.get("holds").or_else(|| b.get("hold")).and_then(s).unwrap_or_else(|| "0".into()),
                        })
                    })
                    .collect(),
                "coinbase" => p
                    .get("accounts")?
                    .as_array()?
                    .iter()
                    .filter_map(|b| {
                        Some(Balance {
                            asset: s(b.get("currency")?)?,
                            free: s(b.get("available_balance")?.get("value")?)?,
                            locked: b
                                .get("hold")
                                .and_then(|h| h.get("value"))
                                .and_then(s)
                                .unwrap_or_else(|| "0".into()),
                        })
                    })
                    .collect(),
                "okx" => first_item(p)
                    .get("details")?
                    .as_array()?
                    .iter()
                    .filter_map(|b| {
                        Some(Balance {
                            asset: s(b.get("ccy")?)?,
                            free: s(b.get("availBal")?)?,
                            locked: b.get("frozenBal").and_then(s).unwrap_or_else(|| "0".into()),
                        })
                    })
                    .collect(),
                "bybit" => first_item(p)
                    .get("coin")?
                    .as_array()?
                    .iter()
                    .filter_map(|b| {
                        Some(Balance {
                            asset: s(b.get("coin")?)?,
                            free: s(b.get("walletBalance")?)?,
                            locked: b.get("locked").and_then(s).unwrap_or_else(|| "0".into()),
                        })
                    })
                    .collect(),
                _ => return None,
            };
            Some(Normalized::Balances(balances))
        }
        _ => None,
    }
}

impl Normalized {
    /// The normalised result as JSON (`null` for [`Normalized::Raw`]).
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        let lv = |levels: &[PriceLevel]| levels.iter().map(|l| json!([l.price, l.size])).collect::<Vec<_>>();
        match self {
            Normalized::ServerTime { server_time } => json!({
                "type": "server_time",
                "serverTime": server_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "serverTimeMs": server_time.timestamp_millis(),
            }),
            Normalized::SystemStatus { state, message } => json!({
                "type": "system_status", "status": state.as_str(), "message": message,
            }),
            Normalized::Ticker { symbol, last, bid, ask } => json!({
                "type": "ticker", "symbol": symbol, "last": last, "bid": bid, "ask": ask,
            }),
            Normalized::OrderBook { bids, asks } => json!({
                "type": "order_book", "bids": lv(bids), "asks": lv(asks),
            }),
            Normalized::Balances(b) => json!({
                "type": "balances",
                "balances": b.iter().map(|b| json!({"asset": b.asset, "free": b.free, "locked": b.locked})).collect::<Vec<_>>(),
            }),
            Normalized::Raw => Value::Null,
        }
    }

    /// One or a few lines for people.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Normalized::ServerTime { server_time } => {
                format!("server time {}", server_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            }
            Normalized::SystemStatus { state, message } => match message {
                Some(m) if !m.is_empty() => format!("system status {} ({m})", state.as_str()),
                _ => format!("system status {}", state.as_str()),
            },
            Normalized::Ticker { symbol, last, bid, ask } => format!(
                "{}  last {}  bid {}  ask {}",
                symbol.as_deref().unwrap_or("?"),
                last.as_deref().unwrap_or("-"),
                bid.as_deref().unwrap_or("-"),
                ask.as_deref().unwrap_or("-")
            ),
            Normalized::OrderBook { bids, asks } => {
                let mut out = format!("{:>18} {:>18} | {:<18} {:<18}\n", "bid size", "bid", "ask", "ask size");
                for i in 0..bids.len().max(asks.len()).min(10) {
                    let b = bids.get(i);
                    let a = asks.get(i);
                    out.push_str(&format!(
                        "{:>18} {:>18} | {:<18} {:<18}\n",
                        b.map_or("", |l| &l.size),
                        b.map_or("", |l| &l.price),
                        a.map_or("", |l| &l.price),
                        a.map_or("", |l| &l.size)
                    ));
                }
                out.trim_end().to_string()
            }
            Normalized::Balances(b) => {
                let mut out = format!("{:<10} {:>20} {:>20}", "asset", "free", "locked");
                for x in b {
                    out.push_str(&format!("\n{:<10} {:>20} {:>20}", x.asset, x.free, x.locked));
                }
                out
            }
            Normalized::Raw => return None,
        })
    }
}
