//! Gemini: the request is a JSON payload `{"request": path, "nonce": n, ...params}` sent
//! base64-encoded in `X-GEMINI-PAYLOAD`, signed as hex HMAC-SHA384(secret, base64 payload) in
//! `X-GEMINI-SIGNATURE`. The POST body itself is empty, and the URL carries no query: query
//! parameters, like body fields, travel in the payload (as strings).

use secrecy::ExposeSecret;
use serde_json::Value;

use super::common::{self, b64, header, require_creds};
use super::encode::json_text;
use super::{AuthScheme, Body, Credentials, Request, SignError, Signed};

/// The JSON payload: `request` and `nonce` first, then the query parameters and the body's
/// fields in order.
pub fn payload(req: &Request, nonce: u64) -> Result<String, SignError> {
    let scheme = AuthScheme::Gemini;
    let mut fields: Vec<(String, Value)> =
        req.query.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    match &req.body {
        Body::None => {}
        Body::Json(Value::Object(map)) => fields.extend(map.iter().map(|(k, v)| (k.clone(), v.clone()))),
        Body::Json(_) => {
            return Err(SignError::Unsupported { scheme, reason: "the Gemini payload must be a JSON object".into() })
        }
        Body::Form(pairs) => fields.extend(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone())))),
    }
    if let Some((k, _)) = fields.iter().find(|(k, _)| k == "request" || k == "nonce") {
        return Err(SignError::Unsupported {
            scheme,
            reason: format!("the signer sets `{k}`; remove it from the body"),
        });
    }
    let mut out = format!("{{\"request\":{},\"nonce\":{nonce}", json_text(scheme, &Value::String(req.path.clone()))?);
    for (k, v) in &fields {
        out.push(',');
        out.push_str(&json_text(scheme, &Value::String(k.clone()))?);
        out.push(':');
        out.push_str(&json_text(scheme, v)?);
    }
    out.push('}');
    Ok(out)
}

pub fn sign(req: &Request, creds: Option<&Credentials>, nonce: u64) -> Result<Signed, SignError> {
    let scheme = AuthScheme::Gemini;
    let creds = require_creds(scheme, creds)?;
    let encoded = b64(payload(req, nonce)?.as_bytes());
    let signature =
        hex::encode(common::hmac_sha384(scheme, creds.secret.expose_secret().as_bytes(), &[encoded.as_bytes()])?);
    let headers = vec![
        header("Content-Type", "text/plain"),
        header("Cache-Control", "no-cache"),
        header("X-GEMINI-APIKEY", creds.api_key.as_str()),
        header("X-GEMINI-PAYLOAD", encoded),
        header("X-GEMINI-SIGNATURE", signature),
    ];
    // An explicit empty body, so the client sends `Content-Length: 0` as Gemini documents.
    Ok(Signed { path_and_query: req.path.clone(), headers, body: Some(String::new()) })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{creds, fixed_now, get, header_value, post_json};
    use super::super::{sign, AuthParams, AuthScheme, SignError};

    #[test]
    fn gemini_puts_the_signed_payload_in_headers_and_sends_an_empty_body() {
        // python3 -c "import hmac,hashlib,base64; p=base64.b64encode(b'{\"request\":\"/v1/order/new\",\"nonce\":1607418537715000,\"symbol\":\"btcusd\",\"amount\":\"5\",\"price\":\"3633.00\",\"side\":\"buy\",\"type\":\"exchange limit\"}'); print(p.decode()); print(hmac.new(b'gemini-secret', p, hashlib.sha384).hexdigest())"
        let expected_payload = "eyJyZXF1ZXN0IjoiL3YxL29yZGVyL25ldyIsIm5vbmNlIjoxNjA3NDE4NTM3NzE1MDAwLCJzeW1ib2wiOiJidGN1c2QiLCJhbW91bnQiOiI1IiwicHJpY2UiOiIzNjMzLjAwIiwic2lkZSI6ImJ1eSIsInR5cGUiOiJleGNoYW5nZSBsaW1pdCJ9";
        let expected_sig =
            "4549bebe5c37189be7f2fa23cf540bc45eb8d612a7da5335b14ff398678488f5809dedebdf1883ea27a561f483c9f8de";
        let c = creds("gemini-key", "gemini-secret", None);
        let mut req = post_json("/v1/order/new", serde_json::Value::Null);
        req.body = super::super::Body::Form(
            [("symbol", "btcusd"), ("amount", "5"), ("price", "3633.00"), ("side", "buy"), ("type", "exchange limit")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let signed =
            sign(AuthScheme::Gemini, &AuthParams::default(), &req, Some(&c), fixed_now(), 1_607_418_537_715_000)
                .expect("signs");
        assert_eq!(header_value(&signed, "X-GEMINI-PAYLOAD"), Some(expected_payload));
        assert_eq!(header_value(&signed, "X-GEMINI-SIGNATURE"), Some(expected_sig));
        assert_eq!(header_value(&signed, "X-GEMINI-APIKEY"), Some("gemini-key"));
        assert_eq!(header_value(&signed, "Content-Type"), Some("text/plain"));
        assert_eq!(signed.body.as_deref(), Some(""));
        assert_eq!(signed.path_and_query, "/v1/order/new");
    }

    #[test]
    fn gemini_payload_carries_json_values_unchanged() {
        let mut req = post_json("/v1/balances", serde_json::json!({"account": "primary"}));
        req.method = "POST".into();
        assert_eq!(
            super::payload(&req, 5).expect("payload"),
            r#"{"request":"/v1/balances","nonce":5,"account":"primary"}"#
        );
    }

    #[test]
    fn gemini_moves_query_parameters_into_the_payload() {
        let mut req = get("/v1/mytrades", &[("symbol", "btcusd"), ("limit_trades", "50")]);
        req.method = "POST".into();
        assert_eq!(
            super::payload(&req, 5).expect("payload"),
            r#"{"request":"/v1/mytrades","nonce":5,"symbol":"btcusd","limit_trades":"50"}"#
        );
        let c = creds("gemini-key", "gemini-secret", None);
        let signed = sign(AuthScheme::Gemini, &AuthParams::default(), &req, Some(&c), fixed_now(), 5).expect("signs");
        assert_eq!(signed.path_and_query, "/v1/mytrades");
    }

    #[test]
    fn gemini_refuses_a_caller_supplied_nonce() {
        let c = creds("gemini-key", "gemini-secret", None);
        let req = post_json("/v1/balances", serde_json::json!({"nonce": 1}));
        let err = sign(AuthScheme::Gemini, &AuthParams::default(), &req, Some(&c), fixed_now(), 1);
        assert!(matches!(err, Err(SignError::Unsupported { .. })), "{err:?}");
    }
}
