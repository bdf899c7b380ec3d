//! Bitfinex v2: `bfx-signature` = hex HMAC-SHA384(secret, "/api/" + path + nonce + body), where
//! path is the request path without its leading `/` (`v2/auth/r/wallets`) and body the JSON
//! text sent (`{}` when the call has no parameters, as Bitfinex's examples send).

use secrecy::ExposeSecret;

use super::common::{self, header, require_creds, Wire};
use super::encode::{EncodedBody, CONTENT_TYPE_JSON};
use super::{AuthScheme, Body, Credentials, Request, SignError, Signed};

pub fn sign(req: &Request, creds: Option<&Credentials>, nonce: u64) -> Result<Signed, SignError> {
    let scheme = AuthScheme::BitfinexV2;
    let creds = require_creds(scheme, creds)?;
    let mut wire = Wire::of(scheme, req)?;
    match &req.body {
        Body::Form(_) => {
            return Err(SignError::Unsupported {
                scheme,
                reason: "Bitfinex v2 takes a JSON body, not form parameters".into(),
            })
        }
        Body::None if common::method(req) != "GET" => {
            wire.body = Some(EncodedBody { text: "{}".into(), content_type: CONTENT_TYPE_JSON });
        }
        _ => {}
    }
    let nonce = nonce.to_string();
    let path = wire.path_and_query(req);
    let message = format!("/api/{}{nonce}{}", path.trim_start_matches('/'), wire.body_text());
    let signature =
        hex::encode(common::hmac_sha384(scheme, creds.secret.expose_secret().as_bytes(), &[message.as_bytes()])?);
    let headers = vec![
        header("bfx-nonce", nonce),
        header("bfx-apikey", creds.api_key.as_str()),
        header("bfx-signature", signature),
    ];
    Ok(wire.finish(req, headers))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{creds, fixed_now, header_value, post_json};
    use super::super::{sign, AuthParams, AuthScheme, Body};

    #[test]
    fn bitfinex_signs_api_path_nonce_and_json_body() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'bitfinex-secret', b'/api/v2/auth/w/order/submit1607418537715000{\"amount\":\"0.5\",\"price\":\"30000\",\"symbol\":\"tBTCUSD\",\"type\":\"EXCHANGE LIMIT\"}', hashlib.sha384).hexdigest())"
        let expected =
            "711c8d21b3c619194278fc84d6bce5d35ae81aef8a81d7830195496641d7862b48ea65198c7117d235206c9733b7466b";
        let c = creds("bfx-key", "bitfinex-secret", None);
        let req = post_json(
            "/v2/auth/w/order/submit",
            serde_json::json!({"amount": "0.5", "price": "30000", "symbol": "tBTCUSD", "type": "EXCHANGE LIMIT"}),
        );
        let signed =
            sign(AuthScheme::BitfinexV2, &AuthParams::default(), &req, Some(&c), fixed_now(), 1_607_418_537_715_000)
                .expect("signs");
        assert_eq!(header_value(&signed, "bfx-signature"), Some(expected));
        assert_eq!(header_value(&signed, "bfx-nonce"), Some("1607418537715000"));
        assert_eq!(header_value(&signed, "bfx-apikey"), Some("bfx-key"));
        assert_eq!(header_value(&signed, "Content-Type"), Some("application/json"));
        assert_eq!(signed.path_and_query, "/v2/auth/w/order/submit");
    }

    #[test]
    fn bitfinex_sends_and_signs_an_empty_object_when_there_are_no_parameters() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'bitfinex-secret', b'/api/v2/auth/r/wallets1607418537715000{}', hashlib.sha384).hexdigest())"
        let expected =
            "2678de89932f1a8b24a0170308bad59f5440f43475d2e7bedd7aee2f549dc8054272303dc8ad180806cb2b8550c7e00c";
        let c = creds("bfx-key", "bitfinex-secret", None);
        let mut req = post_json("/v2/auth/r/wallets", serde_json::Value::Null);
        req.body = Body::None;
        let signed =
            sign(AuthScheme::BitfinexV2, &AuthParams::default(), &req, Some(&c), fixed_now(), 1_607_418_537_715_000)
                .expect("signs");
        assert_eq!(header_value(&signed, "bfx-signature"), Some(expected));
        assert_eq!(signed.body.as_deref(), Some("{}"));
        assert_eq!(header_value(&signed, "Content-Type"), Some("application/json"));
    }
}
