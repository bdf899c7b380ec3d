//! Bybit v5: `X-BAPI-SIGN` = hex HMAC-SHA256(secret, ts_ms + api_key + recv_window + payload),
//! where the payload is the encoded query string for a GET and the raw body for any other
//! method (the JSON body of a POST; empty when there is none).

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::common::{self, header, require_creds, Wire};
use super::{AuthParams, AuthScheme, Credentials, Request, SignError, Signed};

/// Receive window when the provider spec does not set one (Bybit's default).
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5000;

pub fn sign(
    params: &AuthParams,
    req: &Request,
    creds: Option<&Credentials>,
    now: DateTime<Utc>,
) -> Result<Signed, SignError> {
    let scheme = AuthScheme::BybitV5;
    let creds = require_creds(scheme, creds)?;
    let wire = Wire::of(scheme, req)?;
    let ts = common::millis(now);
    let recv_window = params.recv_window_ms.unwrap_or(DEFAULT_RECV_WINDOW_MS).to_string();
    let payload = if common::method(req) == "GET" { wire.query.as_str() } else { wire.body_text() };
    let prehash = format!("{ts}{}{recv_window}{payload}", creds.api_key);
    let sign =
        hex::encode(common::hmac_sha256(scheme, creds.secret.expose_secret().as_bytes(), &[prehash.as_bytes()])?);
    let headers = vec![
        header("X-BAPI-API-KEY", creds.api_key.as_str()),
        header("X-BAPI-TIMESTAMP", ts),
        header("X-BAPI-RECV-WINDOW", recv_window),
        header("X-BAPI-SIGN", sign),
    ];
    Ok(wire.finish(req, headers))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{creds, fixed_now, get, header_value, post_json};
    use super::super::{sign, AuthParams, AuthScheme};

    #[test]
    fn bybit_signs_the_query_string_of_a_get_with_the_default_recv_window() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'bybit-secret', b'1607418537715bybit-key5000accountType=UNIFIED&coin=BTC', hashlib.sha256).hexdigest())"
        let expected = "bcd7766ff8fcadf685525dddda13f409c546eddd8822032dc220f83161259c7d";
        let c = creds("bybit-key", "bybit-secret", None);
        let req = get("/v5/account/wallet-balance", &[("accountType", "UNIFIED"), ("coin", "BTC")]);
        let signed = sign(AuthScheme::BybitV5, &AuthParams::default(), &req, Some(&c), fixed_now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "X-BAPI-SIGN"), Some(expected));
        assert_eq!(header_value(&signed, "X-BAPI-TIMESTAMP"), Some("1607418537715"));
        assert_eq!(header_value(&signed, "X-BAPI-RECV-WINDOW"), Some("5000"));
        assert_eq!(header_value(&signed, "X-BAPI-API-KEY"), Some("bybit-key"));
        assert_eq!(signed.path_and_query, "/v5/account/wallet-balance?accountType=UNIFIED&coin=BTC");
    }

    #[test]
    fn bybit_signs_the_json_body_of_a_post_with_the_configured_recv_window() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'bybit-secret', b'1607418537715bybit-key20000{\"category\":\"spot\",\"orderType\":\"Market\",\"qty\":\"0.1\",\"side\":\"Buy\",\"symbol\":\"BTCUSDT\"}', hashlib.sha256).hexdigest())"
        let expected = "922831c6a243f423ae65683142d028e13bf3c53d09e74364e281b1fcf07ae375";
        let c = creds("bybit-key", "bybit-secret", None);
        let params = AuthParams { recv_window_ms: Some(20_000), ..AuthParams::default() };
        let req = post_json(
            "/v5/order/create",
            serde_json::json!({"category": "spot", "orderType": "Market", "qty": "0.1", "side": "Buy", "symbol": "BTCUSDT"}),
        );
        let signed = sign(AuthScheme::BybitV5, &params, &req, Some(&c), fixed_now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "X-BAPI-SIGN"), Some(expected));
        assert_eq!(header_value(&signed, "X-BAPI-RECV-WINDOW"), Some("20000"));
        assert_eq!(header_value(&signed, "Content-Type"), Some("application/json"));
    }
}
