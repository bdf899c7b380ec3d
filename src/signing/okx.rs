//! OKX v5: `OK-ACCESS-SIGN` = base64(HMAC-SHA256(secret, iso_ts + METHOD + path?query + body)),
//! with the ISO-8601 UTC millisecond timestamp (`2020-12-08T09:08:57.715Z`) and the passphrase
//! in clear.

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::ExposeSecret;

use super::common::{self, b64, header, require_creds, require_passphrase, Wire};
use super::{AuthScheme, Credentials, Request, SignError, Signed};

/// `2020-12-08T09:08:57.715Z`.
pub fn iso_millis(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn sign(req: &Request, creds: Option<&Credentials>, now: DateTime<Utc>) -> Result<Signed, SignError> {
    let scheme = AuthScheme::Okx;
    let creds = require_creds(scheme, creds)?;
    let passphrase = require_passphrase(scheme, creds)?;
    let wire = Wire::of(scheme, req)?;
    let ts = iso_millis(now);
    let prehash = format!("{ts}{}{}{}", common::method(req), wire.path_and_query(req), wire.body_text());
    let sign = b64(&common::hmac_sha256(scheme, creds.secret.expose_secret().as_bytes(), &[prehash.as_bytes()])?);
    let headers = vec![
        header("OK-ACCESS-KEY", creds.api_key.as_str()),
        header("OK-ACCESS-SIGN", sign),
        header("OK-ACCESS-TIMESTAMP", ts),
        header("OK-ACCESS-PASSPHRASE", passphrase),
    ];
    Ok(wire.finish(req, headers))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{creds, fixed_now, get, header_value, post_json};
    use super::super::{sign, AuthParams, AuthScheme, SignError};
    use super::iso_millis;

    #[test]
    fn okx_timestamp_is_iso_8601_utc_with_milliseconds() {
        assert_eq!(iso_millis(fixed_now()), "2020-12-08T09:08:57.715Z");
        let whole = chrono::DateTime::from_timestamp(1_607_418_537, 0).unwrap_or_default();
        assert_eq!(iso_millis(whole), "2020-12-08T09:08:57.000Z");
    }

    #[test]
    fn okx_signs_a_get_with_its_query() {
        // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b'okx-secret', b'2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC', hashlib.sha256).digest()).decode())"
        let expected = "bcaop0CD6XyPPEF8Hrl2ytRKjQL3KE6d4aQOfeEr+kw=";
        let c = creds("okx-key", "okx-secret", Some("okx pass"));
        let req = get("/api/v5/account/balance", &[("ccy", "BTC")]);
        let signed = sign(AuthScheme::Okx, &AuthParams::default(), &req, Some(&c), fixed_now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "OK-ACCESS-SIGN"), Some(expected));
        assert_eq!(header_value(&signed, "OK-ACCESS-TIMESTAMP"), Some("2020-12-08T09:08:57.715Z"));
        assert_eq!(header_value(&signed, "OK-ACCESS-KEY"), Some("okx-key"));
        assert_eq!(header_value(&signed, "OK-ACCESS-PASSPHRASE"), Some("okx pass"));
        assert_eq!(signed.path_and_query, "/api/v5/account/balance?ccy=BTC");
    }

    #[test]
    fn okx_signs_a_json_post_body() {
        // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b'okx-secret', b'2020-12-08T09:08:57.715ZPOST/api/v5/trade/order{\"instId\":\"BTC-USDT\",\"ordType\":\"market\",\"side\":\"buy\",\"sz\":\"1\",\"tdMode\":\"cash\"}', hashlib.sha256).digest()).decode())"
        let expected = "jjekNQJyuA/mv5v79ppbdU/8d6sCzhvPPJrPIrmssWQ=";
        let c = creds("okx-key", "okx-secret", Some("okx pass"));
        let req = post_json(
            "/api/v5/trade/order",
            serde_json::json!({"instId": "BTC-USDT", "ordType": "market", "side": "buy", "sz": "1", "tdMode": "cash"}),
        );
        let signed = sign(AuthScheme::Okx, &AuthParams::default(), &req, Some(&c), fixed_now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "OK-ACCESS-SIGN"), Some(expected));
        assert_eq!(
            signed.body.as_deref(),
            Some(r#"{"instId":"BTC-USDT","ordType":"market","side":"buy","sz":"1","tdMode":"cash"}"#)
        );
    }

    #[test]
    fn okx_without_a_passphrase_is_refused() {
        let c = creds("okx-key", "okx-secret", Some(""));
        let err = sign(
            AuthScheme::Okx,
            &AuthParams::default(),
            &get("/api/v5/account/balance", &[]),
            Some(&c),
            fixed_now(),
            1,
        );
        assert!(matches!(err, Err(SignError::MissingPassphrase { scheme: AuthScheme::Okx })), "{err:?}");
    }
}
