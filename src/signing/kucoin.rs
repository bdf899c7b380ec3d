//! KuCoin: `KC-API-SIGN` = base64(HMAC-SHA256(secret, ts_ms + METHOD + path?query + body)).
//! Key version 1 sends the passphrase in clear; versions 2 and 3 send
//! base64(HMAC-SHA256(secret, passphrase)).

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::common::{self, b64, header, require_creds, require_passphrase, Wire};
use super::{AuthParams, AuthScheme, Credentials, Request, SignError, Signed};

/// Key version when the provider spec does not say (KuCoin issues version 2 and 3 keys).
pub const DEFAULT_KEY_VERSION: u8 = 2;

pub fn sign(
    params: &AuthParams,
    req: &Request,
    creds: Option<&Credentials>,
    now: DateTime<Utc>,
) -> Result<Signed, SignError> {
    let scheme = AuthScheme::Kucoin;
    let creds = require_creds(scheme, creds)?;
    let passphrase = require_passphrase(scheme, creds)?;
    let version = params.key_version.unwrap_or(DEFAULT_KEY_VERSION);
    if !(1..=3).contains(&version) {
        return Err(SignError::Unsupported { scheme, reason: format!("key_version {version} is not 1, 2 or 3") });
    }
    let secret = creds.secret.expose_secret().as_bytes();
    let wire = Wire::of(scheme, req)?;
    let ts = common::millis(now);
    let prehash = format!("{ts}{}{}{}", common::method(req), wire.path_and_query(req), wire.body_text());
    let sign = b64(&common::hmac_sha256(scheme, secret, &[prehash.as_bytes()])?);
    let passphrase = if version == 1 {
        passphrase.to_string()
    } else {
        b64(&common::hmac_sha256(scheme, secret, &[passphrase.as_bytes()])?)
    };
    let headers = vec![
        header("KC-API-KEY", creds.api_key.as_str()),
        header("KC-API-SIGN", sign),
        header("KC-API-TIMESTAMP", ts),
        header("KC-API-PASSPHRASE", passphrase),
        header("KC-API-KEY-VERSION", version.to_string()),
    ];
    Ok(wire.finish(req, headers))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{creds, fixed_now, get, header_value, post_json};
    use super::super::{sign, AuthParams, AuthScheme, SignError};

    #[test]
    fn kucoin_v2_signs_a_json_post_and_hmacs_the_passphrase() {
        // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b'kucoin-secret', b'1607418537715POST/api/v1/orders{\"clientOid\":\"abc\",\"side\":\"buy\",\"size\":\"0.01\",\"symbol\":\"BTC-USDT\"}', hashlib.sha256).digest()).decode())"
        let expected_sign = "fwuOQD371EJqjxLZAquJNLQTVhQdEkbeWlKvRwXeAlM=";
        // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b'kucoin-secret', b'my passphrase', hashlib.sha256).digest()).decode())"
        let expected_passphrase = "riE+YusI8/MG9qVz7OYfgCx9t4vvWOjxef4m9hsIljI=";
        let c = creds("kc-key", "kucoin-secret", Some("my passphrase"));
        let req = post_json(
            "/api/v1/orders",
            serde_json::json!({"clientOid": "abc", "side": "buy", "size": "0.01", "symbol": "BTC-USDT"}),
        );
        let signed = sign(AuthScheme::Kucoin, &AuthParams::default(), &req, Some(&c), fixed_now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "KC-API-SIGN"), Some(expected_sign));
        assert_eq!(header_value(&signed, "KC-API-PASSPHRASE"), Some(expected_passphrase));
        assert_eq!(header_value(&signed, "KC-API-TIMESTAMP"), Some("1607418537715"));
        assert_eq!(header_value(&signed, "KC-API-KEY-VERSION"), Some("2"));
        assert_eq!(header_value(&signed, "KC-API-KEY"), Some("kc-key"));
        assert_eq!(header_value(&signed, "Content-Type"), Some("application/json"));
        assert_eq!(
            signed.body.as_deref(),
            Some(r#"{"clientOid":"abc","side":"buy","size":"0.01","symbol":"BTC-USDT"}"#)
        );
    }

    #[test]
    fn kucoin_v1_signs_the_query_and_sends_the_passphrase_in_clear() {
        // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b'kucoin-secret', b'1607418537715GET/api/v1/orders?status=active&symbol=BTC-USDT', hashlib.sha256).digest()).decode())"
        let expected_sign = "tii1lpNtGCf/xvWQShrcArUGGvqdehMXaVXAiEMFcQI=";
        let c = creds("kc-key", "kucoin-secret", Some("my passphrase"));
        let params = AuthParams { key_version: Some(1), ..AuthParams::default() };
        let req = get("/api/v1/orders", &[("status", "active"), ("symbol", "BTC-USDT")]);
        let signed = sign(AuthScheme::Kucoin, &params, &req, Some(&c), fixed_now(), 1).expect("signs");
        assert_eq!(signed.path_and_query, "/api/v1/orders?status=active&symbol=BTC-USDT");
        assert_eq!(header_value(&signed, "KC-API-SIGN"), Some(expected_sign));
        assert_eq!(header_value(&signed, "KC-API-PASSPHRASE"), Some("my passphrase"));
        assert_eq!(header_value(&signed, "KC-API-KEY-VERSION"), Some("1"));
        assert_eq!(signed.body, None);
        assert_eq!(header_value(&signed, "Content-Type"), None);
    }

    #[test]
    fn kucoin_without_a_passphrase_is_refused() {
        let c = creds("kc-key", "kucoin-secret", None);
        let err =
            sign(AuthScheme::Kucoin, &AuthParams::default(), &get("/api/v1/accounts", &[]), Some(&c), fixed_now(), 1);
        assert!(matches!(err, Err(SignError::MissingPassphrase { scheme: AuthScheme::Kucoin })), "{err:?}");
    }

    #[test]
    fn kucoin_rejects_an_unknown_key_version() {
        let c = creds("kc-key", "kucoin-secret", Some("p"));
        let params = AuthParams { key_version: Some(4), ..AuthParams::default() };
        let err = sign(AuthScheme::Kucoin, &params, &get("/api/v1/accounts", &[]), Some(&c), fixed_now(), 1);
        assert!(matches!(err, Err(SignError::Unsupported { .. })), "{err:?}");
    }
}
