//! Request signing: one module per auth scheme, each a pure function of
//! `(request, credentials, params, now, nonce)`, so published vectors pin them.
//!
//! The pipeline builds a [`Request`] (logical parameters, not yet encoded), picks the scheme
//! from the provider spec, and calls [`sign`]. The signer owns the final encoding of the query
//! string and body, because the signature covers those exact bytes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

mod binance;
mod bitfinex;
mod bitstamp;
mod bybit;
mod coinbase;
mod common;
pub mod encode;
mod gemini;
mod kraken;
mod kucoin;
pub mod nonce;
mod okx;
mod simple;

pub use nonce::{NonceSource, TimeOffset};

/// Every auth scheme Keyward can sign with. The string ids are what provider specs use
/// (`auth.scheme = "binance_hmac"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthScheme {
    /// Public endpoints only; nothing added.
    None,
    /// API key in a header (name from `AuthParams::header_name`, e.g. `X-CMC_PRO_API_KEY`).
    ApiKeyHeader,
    /// API key as a query parameter (name from `AuthParams::query_param`, e.g. `apikey`).
    ApiKeyQuery,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// HTTP basic with api key as user and secret as password.
    Basic,
    /// Binance spot HMAC-SHA256 over the query string + body (`signature=` hex).
    BinanceHmac,
    /// Binance spot Ed25519 (base64 signature of the same payload).
    BinanceEd25519,
    /// Kraken: HMAC-SHA512(base64-decoded secret, path + SHA256(nonce + body)).
    Kraken,
    /// KuCoin: HMAC-SHA256 over timestamp + method + path + body; passphrase by key version.
    Kucoin,
    /// Coinbase Advanced Trade: ES256 JWT signed with a CDP EC private key.
    CoinbaseJwt,
    /// Coinbase Exchange: HMAC-SHA256(base64-decoded secret, ts + method + path + body).
    CoinbaseExchange,
    /// OKX v5: HMAC-SHA256 over ISO timestamp + method + path + body; passphrase in clear.
    Okx,
    /// Bybit v5: hex HMAC-SHA256 over ts + key + recv window + query/body.
    BybitV5,
    /// Bitstamp v2: X-Auth-Signature hex HMAC-SHA256 over the v2 message.
    BitstampV2,
    /// Gemini: base64 JSON payload header signed with hex HMAC-SHA384.
    Gemini,
    /// Bitfinex v2: hex HMAC-SHA384 over "/api/" + path + nonce + body.
    BitfinexV2,
}

impl AuthScheme {
    pub const ALL: &'static [AuthScheme] = &[
        AuthScheme::None,
        AuthScheme::ApiKeyHeader,
        AuthScheme::ApiKeyQuery,
        AuthScheme::Bearer,
        AuthScheme::Basic,
        AuthScheme::BinanceHmac,
        AuthScheme::BinanceEd25519,
        AuthScheme::Kraken,
        AuthScheme::Kucoin,
        AuthScheme::CoinbaseJwt,
        AuthScheme::CoinbaseExchange,
        AuthScheme::Okx,
        AuthScheme::BybitV5,
        AuthScheme::BitstampV2,
        AuthScheme::Gemini,
        AuthScheme::BitfinexV2,
    ];

    pub fn id(self) -> &'static str {
        match self {
            AuthScheme::None => "none",
            AuthScheme::ApiKeyHeader => "api_key_header",
            AuthScheme::ApiKeyQuery => "api_key_query",
            AuthScheme::Bearer => "bearer",
            AuthScheme::Basic => "basic",
            AuthScheme::BinanceHmac => "binance_hmac",
            AuthScheme::BinanceEd25519 => "binance_ed25519",
            AuthScheme::Kraken => "kraken",
            AuthScheme::Kucoin => "kucoin",
            AuthScheme::CoinbaseJwt => "coinbase_jwt",
            AuthScheme::CoinbaseExchange => "coinbase_exchange",
            AuthScheme::Okx => "okx",
            AuthScheme::BybitV5 => "bybit_v5",
            AuthScheme::BitstampV2 => "bitstamp_v2",
            AuthScheme::Gemini => "gemini",
            AuthScheme::BitfinexV2 => "bitfinex_v2",
        }
    }

    /// Whether the scheme needs a passphrase besides key and secret.
    pub fn needs_passphrase(self) -> bool {
        matches!(self, AuthScheme::Kucoin | AuthScheme::CoinbaseExchange | AuthScheme::Okx)
    }
}

impl fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// The id is not one of [`AuthScheme::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown auth scheme \"{0}\" (known: none, api_key_header, api_key_query, bearer, basic, binance_hmac, binance_ed25519, kraken, kucoin, coinbase_jwt, coinbase_exchange, okx, bybit_v5, bitstamp_v2, gemini, bitfinex_v2)")]
pub struct UnknownScheme(pub String);

impl FromStr for AuthScheme {
    type Err = UnknownScheme;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuthScheme::ALL.iter().copied().find(|a| a.id() == s).ok_or_else(|| UnknownScheme(s.to_string()))
    }
}

/// The body of a request before signing.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    None,
    /// Sent as `application/json`.
    Json(serde_json::Value),
    /// Sent as `application/x-www-form-urlencoded`, pairs in this order.
    Form(Vec<(String, String)>),
}

/// A request about to be sent, with logical (unencoded) parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Upper-case HTTP method.
    pub method: String,
    /// Host, with `:port` when not the scheme's default (`api.binance.com`, `127.0.0.1:4711`).
    pub host: String,
    /// Path without query, starting with `/` (`/api/v3/order`).
    pub path: String,
    /// Query parameters in order, unencoded.
    pub query: Vec<(String, String)>,
    pub body: Body,
}

/// Per-provider signing parameters from the spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthParams {
    /// Header that carries the key (`api_key_header`).
    pub header_name: Option<String>,
    /// Query parameter that carries the key (`api_key_query`).
    pub query_param: Option<String>,
    /// Binance / Bybit receive window in ms.
    pub recv_window_ms: Option<u64>,
    /// KuCoin API key version (1, 2 or 3).
    pub key_version: Option<u8>,
}

/// What the signer needs from the vault.
pub struct Credentials {
    /// Public key id (for Coinbase JWT: the CDP key name).
    pub api_key: String,
    /// Secret: HMAC secret, base64 secret, or PEM private key, per scheme.
    pub secret: SecretString,
    pub passphrase: Option<SecretString>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("api_key", &self.api_key).finish_non_exhaustive()
    }
}

/// The request as it goes on the wire.
///
/// `Debug` shows the path, the query parameter names, the header names and the body length,
/// never the values: headers carry signatures, bearer tokens and passphrases, and the query can
/// carry an API key.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// Path plus encoded query (`/api/v3/order?symbol=BTCUSDT&…&signature=…`).
    pub path_and_query: String,
    /// Headers to add (auth headers; `Content-Type` when there is a body).
    pub headers: Vec<(String, String)>,
    /// The exact body bytes to send, if any.
    pub body: Option<String>,
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, query) = self.path_and_query.split_once('?').unwrap_or((self.path_and_query.as_str(), ""));
        let query_names: Vec<&str> =
            query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').map_or(p, |(k, _)| k)).collect();
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Signed")
            .field("path", &path)
            .field("query_params", &query_names)
            .field("headers", &header_names)
            .field("body_len", &self.body.as_ref().map(String::len))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the {scheme} scheme needs credentials (an API key and secret), but none were given")]
    MissingCredentials { scheme: AuthScheme },
    #[error("the {scheme} scheme needs a passphrase, but the key has none")]
    MissingPassphrase { scheme: AuthScheme },
    #[error("the {scheme} scheme needs `{param}` in the provider's auth settings")]
    MissingParam { scheme: AuthScheme, param: &'static str },
    /// The secret is not in the form the scheme needs. Never includes the secret itself.
    #[error("the secret for the {scheme} scheme is not valid: {reason}")]
    BadSecret { scheme: AuthScheme, reason: String },
    #[error("the {scheme} scheme cannot sign this request: {reason}")]
    Unsupported { scheme: AuthScheme, reason: String },
}

/// Signs `req` with `scheme`. `now` is the (offset-corrected) current time, `nonce` a value
/// that never repeats for this key (see the nonce source).
pub fn sign(
    scheme: AuthScheme,
    params: &AuthParams,
    req: &Request,
    creds: Option<&Credentials>,
    now: DateTime<Utc>,
    nonce: u64,
) -> Result<Signed, SignError> {
    match scheme {
        AuthScheme::None => simple::none(req),
        AuthScheme::ApiKeyHeader => simple::api_key_header(params, req, creds),
        AuthScheme::ApiKeyQuery => simple::api_key_query(params, req, creds),
        AuthScheme::Bearer => simple::bearer(req, creds),
        AuthScheme::Basic => simple::basic(req, creds),
        AuthScheme::BinanceHmac => binance::sign_hmac(params, req, creds, now),
        AuthScheme::BinanceEd25519 => binance::sign_ed25519(params, req, creds, now),
        AuthScheme::Kraken => kraken::sign(req, creds, nonce),
        AuthScheme::Kucoin => kucoin::sign(params, req, creds, now),
        AuthScheme::CoinbaseJwt => coinbase::sign_jwt(req, creds, now, nonce),
        AuthScheme::CoinbaseExchange => coinbase::sign_exchange(req, creds, now),
        AuthScheme::Okx => okx::sign(req, creds, now),
        AuthScheme::BybitV5 => bybit::sign(params, req, creds, now),
        AuthScheme::BitstampV2 => bitstamp::sign(req, creds, now, nonce),
        AuthScheme::Gemini => gemini::sign(req, creds, nonce),
        AuthScheme::BitfinexV2 => bitfinex::sign(req, creds, nonce),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;

    use super::*;

    /// 2020-12-08T09:08:57.715Z (1607418537715 ms), the timestamp of OKX's documentation.
    pub fn fixed_now() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_607_418_537_715).single().expect("valid time")
    }

    pub fn creds(api_key: &str, secret: &str, passphrase: Option<&str>) -> Credentials {
        Credentials {
            api_key: api_key.to_string(),
            secret: SecretString::from(secret),
            passphrase: passphrase.map(SecretString::from),
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub fn get(path: &str, query: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            host: "api.example.com".into(),
            path: path.into(),
            query: pairs(query),
            body: Body::None,
        }
    }

    pub fn post_json(path: &str, body: serde_json::Value) -> Request {
        Request { method: "POST".into(), body: Body::Json(body), ..get(path, &[]) }
    }

    pub fn post_form(path: &str, form: &[(&str, &str)]) -> Request {
        Request { method: "POST".into(), body: Body::Form(pairs(form)), ..get(path, &[]) }
    }

    pub fn header_value<'a>(signed: &'a Signed, name: &str) -> Option<&'a str> {
        signed.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    #[test]
    fn scheme_ids_round_trip() {
        for scheme in AuthScheme::ALL {
            assert_eq!(scheme.id().parse::<AuthScheme>(), Ok(*scheme));
        }
        assert!("nope".parse::<AuthScheme>().is_err());
    }

    const SECRET: &str = "TOPSECRETVALUE123";
    const PASSPHRASE: &str = "PASSPHRASEVALUE456";

    #[test]
    fn debug_output_never_shows_secrets_or_signatures() {
        let c = creds("visible-key", SECRET, Some(PASSPHRASE));
        assert!(!format!("{c:?}").contains(SECRET));
        assert!(!format!("{c:?}").contains(PASSPHRASE));
        let params = AuthParams { query_param: Some("apikey".into()), ..AuthParams::default() };
        for scheme in
            [AuthScheme::Bearer, AuthScheme::Basic, AuthScheme::Okx, AuthScheme::Kucoin, AuthScheme::ApiKeyQuery]
        {
            let mut req = post_json("/v1/x", serde_json::json!({"a": 1}));
            req.query = pairs(&[("q", "1")]);
            let signed = sign(scheme, &params, &req, Some(&c), fixed_now(), 1).expect("signs");
            let shown = format!("{signed:?}");
            assert!(!shown.contains(SECRET) && !shown.contains(PASSPHRASE), "{scheme}: {shown}");
            assert!(!shown.contains("visible-key"), "{scheme}: {shown}");
            for (_, value) in &signed.headers {
                if value != "application/json" && value.len() > 4 {
                    assert!(!shown.contains(value.as_str()), "{scheme}: header value in {shown}");
                }
            }
            assert!(shown.contains("/v1/x"), "{shown}");
        }
    }

    #[test]
    fn error_messages_never_show_secrets() {
        let c = creds("k", SECRET, Some(PASSPHRASE));
        for scheme in
            [AuthScheme::Kraken, AuthScheme::CoinbaseExchange, AuthScheme::BinanceEd25519, AuthScheme::CoinbaseJwt]
        {
            let err = sign(scheme, &AuthParams::default(), &post_form("/x", &[]), Some(&c), fixed_now(), 1)
                .expect_err("this secret is not valid for the scheme");
            assert!(matches!(err, SignError::BadSecret { .. }), "{scheme}: {err:?}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SECRET) && !shown.contains("SECRET"), "{scheme}: {shown}");
        }
    }

    #[test]
    fn schemes_with_a_passphrase_refuse_to_sign_without_one() {
        let c = creds("k", "c2VjcmV0", None);
        for scheme in AuthScheme::ALL.iter().copied().filter(|s| s.needs_passphrase()) {
            let err = sign(scheme, &AuthParams::default(), &get("/x", &[]), Some(&c), fixed_now(), 1);
            assert!(matches!(err, Err(SignError::MissingPassphrase { .. })), "{scheme}: {err:?}");
        }
    }

    #[test]
    fn every_scheme_is_a_pure_function_of_its_inputs() {
        let c = creds("k", "c2VjcmV0c2VjcmV0", Some("p"));
        let params =
            AuthParams { header_name: Some("X-Key".into()), query_param: Some("key".into()), ..AuthParams::default() };
        for scheme in AuthScheme::ALL.iter().copied() {
            if matches!(scheme, AuthScheme::BinanceEd25519 | AuthScheme::CoinbaseJwt) {
                continue; // PEM secrets; covered in their modules
            }
            let req = if matches!(scheme, AuthScheme::Kraken | AuthScheme::BitstampV2 | AuthScheme::Gemini) {
                post_form("/v1/x", &[("a", "1")])
            } else {
                get("/v1/x", &[("a", "1")])
            };
            let first = sign(scheme, &params, &req, Some(&c), fixed_now(), 99).expect("signs");
            let second = sign(scheme, &params, &req, Some(&c), fixed_now(), 99).expect("signs");
            assert_eq!(first, second, "{scheme}");
        }
    }
}
