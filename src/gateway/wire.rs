//! What the gateway must know about each auth scheme's wire format: where a bot puts its API
//! key (which is its Keyward token), which headers and parameters carry the bot's own
//! signature, timestamp and nonce (dropped: Keyward signs again), and how the exchange says
//! "too many requests" (so a bot's library backs off as it already knows how).

use crate::signing::AuthScheme;

/// Headers every bot may use for its token, whatever the exchange.
pub const TOKEN_HEADER: &str = "x-keyward-token";

/// The bot-side credential layout of one scheme. Header names are lower case.
#[derive(Debug, Clone, Copy)]
pub struct Wire {
    /// Headers that carry the API key (the token).
    pub key_headers: &'static [&'static str],
    /// Headers of the bot's signature, dropped before Keyward signs.
    pub sign_headers: &'static [&'static str],
    /// Query and form parameters of the bot's signature, timestamp and nonce, dropped.
    pub sign_params: &'static [&'static str],
}

impl Wire {
    pub fn of(scheme: AuthScheme) -> Wire {
        use AuthScheme as A;
        match scheme {
            A::BinanceHmac | A::BinanceEd25519 => Wire {
                key_headers: &["x-mbx-apikey"],
                sign_headers: &["x-mbx-apikey"],
                sign_params: &["signature", "timestamp", "recvWindow"],
            },
            A::Kraken => {
                Wire { key_headers: &["api-key"], sign_headers: &["api-key", "api-sign"], sign_params: &["nonce"] }
            }
            A::Kucoin => Wire {
                key_headers: &["kc-api-key"],
                sign_headers: &[
                    "kc-api-key",
                    "kc-api-sign",
                    "kc-api-timestamp",
                    "kc-api-passphrase",
                    "kc-api-key-version",
                ],
                sign_params: &[],
            },
            A::Okx => Wire {
                key_headers: &["ok-access-key"],
                sign_headers: &["ok-access-key", "ok-access-sign", "ok-access-timestamp", "ok-access-passphrase"],
                sign_params: &[],
            },
            A::BybitV5 => Wire {
                key_headers: &["x-bapi-api-key"],
                sign_headers: &[
                    "x-bapi-api-key",
                    "x-bapi-sign",
                    "x-bapi-timestamp",
                    "x-bapi-recv-window",
                    "x-bapi-sign-type",
                ],
                sign_params: &[],
            },
            A::CoinbaseExchange => Wire {
                key_headers: &["cb-access-key"],
                sign_headers: &["cb-access-key", "cb-access-sign", "cb-access-timestamp", "cb-access-passphrase"],
                sign_params: &[],
            },
            A::Gemini => Wire {
                key_headers: &["x-gemini-apikey"],
                sign_headers: &["x-gemini-apikey", "x-gemini-payload", "x-gemini-signature"],
                sign_params: &[],
            },
            A::BitfinexV2 => Wire {
                key_headers: &["bfx-apikey"],
                sign_headers: &["bfx-apikey", "bfx-nonce", "bfx-signature"],
                sign_params: &[],
            },
            A::BitstampV2 => Wire {
                key_headers: &["x-auth"],
                sign_headers: &["x-auth", "x-auth-signature", "x-auth-nonce", "x-auth-timestamp", "x-auth-version"],
                sign_params: &[],
            },
            // Coinbase Advanced Trade's JWT (the token is its key name), bearer and basic
            // schemes: the token goes in `Authorization: Bearer` or X-Keyward-Token.
            A::CoinbaseJwt | A::Bearer | A::Basic => {
                Wire { key_headers: &[], sign_headers: &["authorization"], sign_params: &[] }
            }
            A::ApiKeyHeader | A::ApiKeyQuery | A::None => {
                Wire { key_headers: &[], sign_headers: &[], sign_params: &[] }
            }
        }
    }
}

/// The token in a key header's value (Bitstamp writes `BITSTAMP <key>`), or in
/// `Authorization: Bearer <token>`, or, for Coinbase Advanced Trade, the key name inside the
/// JWT the bot signed with its placeholder key (`kid` of its header, else `sub`).
pub fn token_in(header: &str, value: &str) -> Option<String> {
    let v = value.trim();
    let v = match header {
        "x-auth" => v.strip_prefix("BITSTAMP ").unwrap_or(v),
        "authorization" => v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))?,
        _ => v,
    };
    if v.starts_with(super::tokens::TOKEN_PREFIX) {
        return Some(v.trim().to_string());
    }
    if header == "authorization" {
        return jwt_key_name(v).filter(|k| k.starts_with(super::tokens::TOKEN_PREFIX));
    }
    None
}

/// The key name a Coinbase CDP JWT names (`kid` in its header, else `sub` in its claims). The
/// JWT is not verified: it was signed with the bot's placeholder key and is dropped; only the
/// name, the bot's Keyward token, is read.
fn jwt_key_name(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let mut parts = jwt.split('.');
    let (header, claims) = (parts.next()?, parts.next()?);
    let decode = |part: &str| -> Option<serde_json::Value> {
        if part.len() > 4096 {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let from = |v: Option<serde_json::Value>, field: &str| v?.get(field)?.as_str().map(str::to_string);
    from(decode(header), "kid").or_else(|| from(decode(claims), "sub"))
}

/// The answer a bot's library reads as "rate limited, back off": the exchange's own status
/// and error body, with `Retry-After` in whole seconds.
pub fn rate_limited_body(scheme: AuthScheme, message: &str) -> serde_json::Value {
    use serde_json::json;
    use AuthScheme as A;
    match scheme {
        A::BinanceHmac | A::BinanceEd25519 => json!({"code": -1003, "msg": message}),
        A::Kraken => json!({"error": [format!("EAPI:Rate limit exceeded ({message})")]}),
        A::Kucoin => json!({"code": "429000", "msg": message}),
        A::Okx => json!({"code": "50011", "msg": message, "data": []}),
        A::BybitV5 => json!({"retCode": 10006, "retMsg": message, "result": {}}),
        A::BitfinexV2 => json!(["error", 11010, message]),
        _ => json!({"message": message, "error": {"kind": "rateLimited", "message": message}}),
    }
}
