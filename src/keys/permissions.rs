//! What the exchange says a key can do, read from each exchange's key-permission endpoint,
//! and the risks Keyward flags from it.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Scopes;

/// How long before a trading authority or key expiry Keyward starts to warn.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The exchange's answer, normalised. `None` means the exchange did not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPermissions {
    pub read: Option<bool>,
    pub trade: Option<bool>,
    pub withdraw: Option<bool>,
    /// Whether the key only works from listed IP addresses.
    pub ip_restricted: Option<bool>,
    /// When trading authority ends (Binance `tradingAuthorityExpirationTime`).
    pub trading_expires_at: Option<DateTime<Utc>>,
    /// When the key itself expires (Bybit `expiredAt`).
    pub key_expires_at: Option<DateTime<Utc>>,
}

/// Something about a key a trader should fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Risk {
    WithdrawalsEnabled,
    NoIpRestriction,
    TradingAuthorityExpiring {
        at: DateTime<Utc>,
    },
    KeyExpiring {
        at: DateTime<Utc>,
    },
    /// The exchange grants scopes the key was not declared with in Keyward.
    WiderThanDeclared {
        extra: Vec<&'static str>,
    },
}

impl Risk {
    pub fn id(&self) -> &'static str {
        match self {
            Risk::WithdrawalsEnabled => "withdrawals_enabled",
            Risk::NoIpRestriction => "no_ip_restriction",
            Risk::TradingAuthorityExpiring { .. } => "trading_authority_expiring",
            Risk::KeyExpiring { .. } => "key_expiring",
            Risk::WiderThanDeclared { .. } => "wider_than_declared",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Risk::WithdrawalsEnabled => "withdrawals are enabled on this key; a leaked key could move funds".into(),
            Risk::NoIpRestriction => "the key works from any IP address; restrict it to your machine's IP".into(),
            Risk::TradingAuthorityExpiring { at } => format!("trading authority expires {}", at.format("%Y-%m-%d")),
            Risk::KeyExpiring { at } => format!("the key expires {}", at.format("%Y-%m-%d")),
            Risk::WiderThanDeclared { extra } => {
                format!("the exchange also grants {} (declared scopes are narrower)", extra.join(", "))
            }
        }
    }
}

fn ms(v: &Value) -> Option<DateTime<Utc>> {
    let n = v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))?;
    if n <= 0 {
        return None;
    }
    Utc.timestamp_millis_opt(n).single()
}

fn truthy(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        Value::String(s) => Some(matches!(s.as_str(), "true" | "1" | "yes")),
        _ => None,
    }
}

/// Parses a key-permission answer by provider family. `None` when the family is unknown.
pub fn parse(family: &str, raw: &Value) -> Option<KeyPermissions> {
    match family {
        "binance" => Some(KeyPermissions {
            read: truthy(raw.get("enableReading")),
            trade: truthy(raw.get("enableSpotAndMarginTrading")),
            withdraw: truthy(raw.get("enableWithdrawals")),
            ip_restricted: truthy(raw.get("ipRestrict")),
            trading_expires_at: raw.get("tradingAuthorityExpirationTime").and_then(ms),
            key_expires_at: None,
        }),
        "coinbase" => Some(KeyPermissions {
            read: truthy(raw.get("can_view")),
            trade: truthy(raw.get("can_trade")),
            withdraw: truthy(raw.get("can_transfer")),
            ip_restricted: None,
            trading_expires_at: None,
            key_expires_at: None,
        }),
        "kucoin" => {
            let data = raw.get("data").unwrap_or(raw);
            let perms = data.get("permission").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
            let ips = data.get("ipWhitelist").and_then(Value::as_str).unwrap_or_default();
            Some(KeyPermissions {
                read: Some(perms.contains("general")),
                trade: Some(perms.contains("spot") || perms.contains("margin") || perms.contains("futures")),
                withdraw: Some(perms.contains("withdraw")),
                ip_restricted: Some(!ips.trim().is_empty()),
                trading_expires_at: None,
                key_expires_at: None,
            })
        }
        "bybit" => {
            let r = raw.get("result").unwrap_or(raw);
            let read_only = truthy(r.get("readOnly"));
            let perms = r.get("permissions");
            let has = |group: &str, item: &str| {
                perms
                    .and_then(|p| p.get(group))
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(item)))
            };
            let ips = r.get("ips").and_then(Value::as_array);
            Some(KeyPermissions {
                read: Some(true),
                trade: read_only.map(|ro| !ro),
                withdraw: Some(has("Wallet", "Withdraw")),
                ip_restricted: ips.map(|ips| !ips.iter().any(|ip| ip.as_str() == Some("*"))),
                trading_expires_at: None,
                key_expires_at: r.get("expiredAt").and_then(Value::as_str).and_then(|s| s.parse().ok()),
            })
        }
        "kraken" => {
            // GetApiKeyInfo lists the key's permissions by name.
            let r = raw.get("result").unwrap_or(raw);
            let text = r.to_string().to_ascii_lowercase();
            Some(KeyPermissions {
                read: Some(text.contains("query") || text.contains("funds")),
                trade: Some(text.contains("trade") || text.contains("order")),
                withdraw: Some(text.contains("withdraw")),
                ip_restricted: r.get("iprestriction").or_else(|| r.get("ip_whitelist")).map(|v| !v.is_null()),
                trading_expires_at: None,
                key_expires_at: None,
            })
        }
        _ => None,
    }
}

/// The risks of `p` for a key declared with `declared` scopes.
pub fn risks(p: &KeyPermissions, declared: Scopes, now: DateTime<Utc>) -> Vec<Risk> {
    let mut out = Vec::new();
    if p.withdraw == Some(true) {
        out.push(Risk::WithdrawalsEnabled);
    }
    if p.ip_restricted == Some(false) {
        out.push(Risk::NoIpRestriction);
    }
    let soon = now + chrono::Duration::days(EXPIRY_WARNING_DAYS);
    if let Some(at) = p.trading_expires_at.filter(|t| *t <= soon) {
        out.push(Risk::TradingAuthorityExpiring { at });
    }
    if let Some(at) = p.key_expires_at.filter(|t| *t <= soon) {
        out.push(Risk::KeyExpiring { at });
    }
    let mut extra = Vec::new();
    if p.trade == Some(true) && !declared.trade {
        extra.push("trade");
    }
    if p.withdraw == Some(true) && !declared.withdraw {
        extra.push("withdraw");
    }
    if !extra.is_empty() {
        out.push(Risk::WiderThanDeclared { extra });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).single().expect("date")
    }

    #[test]
    fn binance_restrictions_flag_withdrawals_open_ip_and_expiring_trading() {
        let raw = json!({
            "ipRestrict": false, "enableReading": true, "enableWithdrawals": true,
            "enableSpotAndMarginTrading": true,
            "tradingAuthorityExpirationTime": now().timestamp_millis() + 3 * 86_400_000_i64
        });
        let p = parse("binance", &raw).expect("binance parses");
        let ids: Vec<&str> = risks(&p, "read".parse().expect("scopes"), now()).iter().map(Risk::id).collect();
        assert_eq!(
            ids,
            vec!["withdrawals_enabled", "no_ip_restriction", "trading_authority_expiring", "wider_than_declared"]
        );
    }

    #[test]
    fn a_restricted_read_only_key_has_no_risks() {
        let raw = json!({"ipRestrict": true, "enableReading": true, "enableWithdrawals": false, "enableSpotAndMarginTrading": false});
        let p = parse("binance", &raw).expect("parses");
        assert!(risks(&p, Scopes::default(), now()).is_empty());
    }

    #[test]
    fn coinbase_kucoin_and_bybit_answers_are_understood() {
        let cb = parse("coinbase", &json!({"can_view": true, "can_trade": true, "can_transfer": false})).expect("cb");
        assert_eq!((cb.read, cb.trade, cb.withdraw), (Some(true), Some(true), Some(false)));
        let kc = parse("kucoin", &json!({"code": "200000", "data": {"permission": "General,Spot", "ipWhitelist": ""}}))
            .expect("kc");
        assert_eq!((kc.trade, kc.withdraw, kc.ip_restricted), (Some(true), Some(false), Some(false)));
        let by = parse(
            "bybit",
            &json!({"retCode": 0, "result": {"readOnly": 0, "ips": ["*"], "permissions": {"Wallet": ["AccountTransfer", "Withdraw"]}}}),
        )
        .expect("bybit");
        assert_eq!((by.trade, by.withdraw, by.ip_restricted), (Some(true), Some(true), Some(false)));
    }
}
