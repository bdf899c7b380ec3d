//! Binance spot: HMAC-SHA256 (hex) or Ed25519 (base64) over `totalParams`.
//!
//! `recvWindow` (when configured) and `timestamp` (ms) are appended to the form body when the
//! request has one, otherwise to the query. `totalParams` is the encoded query string
//! concatenated with the encoded body (no `&` between them, as Binance documents).
//! `signature` is appended as the last query parameter, also when the request has a form
//! body (Binance accepts `signature` in the query string or the body; its own POST examples
//! put it at the end of the body).

use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::Signer as _;
use secrecy::ExposeSecret;

use super::common::{self, b64, header, require_creds, Wire};
use super::encode::{encode_component, encode_pairs, EncodedBody, CONTENT_TYPE_FORM};
use super::{AuthParams, AuthScheme, Body, Credentials, Request, SignError, Signed};

const API_KEY_HEADER: &str = "X-MBX-APIKEY";

struct Prepared {
    wire: Wire,
}

impl Prepared {
    fn total_params(&self) -> String {
        format!("{}{}", self.wire.query, self.wire.body_text())
    }

    fn finish(mut self, req: &Request, creds: &Credentials, signature: &str) -> Signed {
        let param = format!("signature={}", encode_component(signature));
        if !self.wire.query.is_empty() {
            self.wire.query.push('&');
        }
        self.wire.query.push_str(&param);
        self.wire.finish(req, vec![header(API_KEY_HEADER, creds.api_key.as_str())])
    }
}

fn prepare(scheme: AuthScheme, params: &AuthParams, req: &Request, now: DateTime<Utc>) -> Result<Prepared, SignError> {
    let mut timing: Vec<(String, String)> = Vec::with_capacity(2);
    if let Some(w) = params.recv_window_ms {
        timing.push(("recvWindow".into(), w.to_string()));
    }
    timing.push(("timestamp".into(), common::millis(now)));

    match &req.body {
        Body::Json(_) => Err(SignError::Unsupported {
            scheme,
            reason: "Binance signed endpoints take query or form parameters, not a JSON body".into(),
        }),
        Body::Form(pairs) => {
            let mut all = pairs.clone();
            all.extend(timing);
            let body = EncodedBody { text: encode_pairs(&all), content_type: CONTENT_TYPE_FORM };
            Ok(Prepared { wire: Wire { query: encode_pairs(&req.query), body: Some(body) } })
        }
        Body::None => {
            let mut all = req.query.clone();
            all.extend(timing);
            Ok(Prepared { wire: Wire { query: encode_pairs(&all), body: None } })
        }
    }
}

/// `binance_hmac`: hex HMAC-SHA256(secret, totalParams).
pub fn sign_hmac(
    params: &AuthParams,
    req: &Request,
    creds: Option<&Credentials>,
    now: DateTime<Utc>,
) -> Result<Signed, SignError> {
    let scheme = AuthScheme::BinanceHmac;
    let creds = require_creds(scheme, creds)?;
    let prepared = prepare(scheme, params, req, now)?;
    let mac =
        common::hmac_sha256(scheme, creds.secret.expose_secret().as_bytes(), &[prepared.total_params().as_bytes()])?;
    Ok(prepared.finish(req, creds, &hex::encode(mac)))
}

/// `binance_ed25519`: base64 Ed25519 signature of totalParams; the secret is a PKCS#8 PEM key.
pub fn sign_ed25519(
    params: &AuthParams,
    req: &Request,
    creds: Option<&Credentials>,
    now: DateTime<Utc>,
) -> Result<Signed, SignError> {
    let scheme = AuthScheme::BinanceEd25519;
    let creds = require_creds(scheme, creds)?;
    let pem = common::normalise_pem(creds.secret.expose_secret());
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|_| SignError::BadSecret {
        scheme,
        reason: "it is not an Ed25519 private key in PKCS#8 PEM form (-----BEGIN PRIVATE KEY-----)".into(),
    })?;
    let prepared = prepare(scheme, params, req, now)?;
    let signature = key.sign(prepared.total_params().as_bytes());
    Ok(prepared.finish(req, creds, &b64(&signature.to_bytes())))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use ed25519_dalek::Verifier as _;

    use super::super::tests::{creds, get, header_value, post_form};
    use super::super::{sign, AuthParams, AuthScheme, Body, Request, SignError};

    const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const VECTOR_SIG: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

    fn vector_now() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.timestamp_millis_opt(1_499_827_319_559).single().unwrap_or_default()
    }

    fn params() -> AuthParams {
        AuthParams { recv_window_ms: Some(5000), ..AuthParams::default() }
    }

    const ORDER: &[(&str, &str)] = &[
        ("symbol", "LTCBTC"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "1"),
        ("price", "0.1"),
    ];

    fn order_in_query() -> Request {
        let mut req = get("/api/v3/order", ORDER);
        req.method = "POST".into();
        req
    }

    #[test]
    fn binance_hmac_matches_the_published_vector() {
        let c = creds(KEY, SECRET, None);
        let signed =
            sign(AuthScheme::BinanceHmac, &params(), &order_in_query(), Some(&c), vector_now(), 1).expect("signs");
        assert_eq!(
            signed.path_and_query,
            format!(
                "/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1\
                 &recvWindow=5000&timestamp=1499827319559&signature={VECTOR_SIG}"
            )
        );
        assert_eq!(header_value(&signed, "X-MBX-APIKEY"), Some(KEY));
        assert_eq!(signed.body, None);
    }

    #[test]
    fn binance_hmac_form_body_matches_the_published_vector_with_the_signature_in_the_query() {
        let c = creds(KEY, SECRET, None);
        let req = post_form("/api/v3/order", ORDER);
        let signed = sign(AuthScheme::BinanceHmac, &params(), &req, Some(&c), vector_now(), 1).expect("signs");
        assert_eq!(signed.path_and_query, format!("/api/v3/order?signature={VECTOR_SIG}"));
        assert_eq!(
            signed.body.as_deref(),
            Some(
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1\
                 &recvWindow=5000&timestamp=1499827319559"
            )
        );
        assert_eq!(header_value(&signed, "Content-Type"), Some("application/x-www-form-urlencoded"));
    }

    #[test]
    fn binance_hmac_mixed_query_and_body_concatenates_without_an_ampersand() {
        // Binance's documented example 3. Expected value recomputed independently:
        // python3 -c "import hmac,hashlib; print(hmac.new(b'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j', b'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559', hashlib.sha256).hexdigest())"
        let expected = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77";
        let c = creds(KEY, SECRET, None);
        let mut req = post_form("/api/v3/order", &ORDER[4..]);
        req.query = ORDER[..4].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let signed = sign(AuthScheme::BinanceHmac, &params(), &req, Some(&c), vector_now(), 1).expect("signs");
        assert_eq!(
            signed.path_and_query,
            format!("/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&signature={expected}")
        );
        assert_eq!(signed.body.as_deref(), Some("quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"));
    }

    #[test]
    fn binance_hmac_omits_recv_window_when_not_configured_and_signs_encoded_values() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j', b'note=a%20b%2Bc%26d%3De%C3%A9&timestamp=1499827319559', hashlib.sha256).hexdigest())"
        let expected = "21f63e8680b808e9042dfdaf5c5c359a18f23cd578955bbe28a2f22b5761db80";
        let c = creds(KEY, SECRET, None);
        let req = get("/api/v3/account", &[("note", "a b+c&d=eé")]);
        let signed =
            sign(AuthScheme::BinanceHmac, &AuthParams::default(), &req, Some(&c), vector_now(), 1).expect("signs");
        assert_eq!(
            signed.path_and_query,
            format!("/api/v3/account?note=a%20b%2Bc%26d%3De%C3%A9&timestamp=1499827319559&signature={expected}")
        );
    }

    #[test]
    fn binance_refuses_json_bodies() {
        let c = creds(KEY, SECRET, None);
        let mut req = order_in_query();
        req.body = Body::Json(serde_json::json!({}));
        let err = sign(AuthScheme::BinanceHmac, &params(), &req, Some(&c), vector_now(), 1);
        assert!(matches!(err, Err(SignError::Unsupported { .. })), "{err:?}");
    }

    fn test_key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
    }

    fn signature_from_query(path_and_query: &str) -> String {
        let (_, sig) = path_and_query.rsplit_once("&signature=").unwrap_or_default();
        percent_encoding::percent_decode_str(sig).decode_utf8_lossy().into_owned()
    }

    #[test]
    fn binance_ed25519_signature_verifies_with_the_public_key() {
        let key = test_key();
        let pem = key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).expect("pem");
        let c = creds("ed-key", pem.as_str(), None);
        let signed =
            sign(AuthScheme::BinanceEd25519, &params(), &order_in_query(), Some(&c), vector_now(), 1).expect("signs");
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1\
                       &recvWindow=5000&timestamp=1499827319559";
        assert!(signed.path_and_query.starts_with(&format!("/api/v3/order?{payload}&signature=")));
        let sig_b64 = signature_from_query(&signed.path_and_query);
        let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &sig_b64).expect("base64");
        let sig = ed25519_dalek::Signature::from_slice(&raw).expect("64 bytes");
        key.verifying_key().verify(payload.as_bytes(), &sig).expect("verifies");
        assert_eq!(header_value(&signed, "X-MBX-APIKEY"), Some("ed-key"));
    }

    #[test]
    fn binance_ed25519_matches_an_independent_signature() {
        // Ed25519 is deterministic. Expected value from Python's `cryptography` package:
        // python3 -c "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey as K; import base64; print(base64.b64encode(K.from_private_bytes(bytes([7]*32)).sign(b'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559')).decode())"
        let expected = "Iwulx9i56bd4McK4MPITUB5kNLFSMpEw8wNN7voyjNwwCeE362QzdXRK/XJ6QYsB8VW4gU9NI5hUgKADVnnmAA==";
        let pem = test_key().to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).expect("pem");
        let c = creds("ed-key", pem.as_str(), None);
        let signed =
            sign(AuthScheme::BinanceEd25519, &params(), &order_in_query(), Some(&c), vector_now(), 1).expect("signs");
        assert_eq!(signature_from_query(&signed.path_and_query), expected);
        // `+`, `/` and `=` of the base64 signature are percent-encoded on the wire.
        let wire_sig = signed.path_and_query.rsplit_once("&signature=").map(|(_, s)| s).unwrap_or_default();
        assert!(!wire_sig.contains(['+', '/', '=']), "{wire_sig}");
    }

    #[test]
    fn binance_ed25519_with_an_openssl_key_matches_openssl_s_signature() {
        // A throwaway key from `openssl genpkey -algorithm ed25519` (the way Binance tells users
        // to make one); expected value from OpenSSL itself:
        // printf '%s' 'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559' > p.txt && openssl pkeyutl -sign -inkey key.pem -rawin -in p.txt | base64 -w0
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEIP2R46mb8onxIQnhcoqMNV/uQ/5BeTUxYpJcnwXWinav\n\
                   -----END PRIVATE KEY-----\n";
        let expected = "UO9Zl/0nNwhuuVOobPXXjNsRzmjtYOs0uEZ22/gXakIz5+8LhnrA6a9MDgXRnFT/zQ5u+D6zNlovrY3YEA2+AQ==";
        let c = creds("ed-key", pem, None);
        let signed =
            sign(AuthScheme::BinanceEd25519, &params(), &order_in_query(), Some(&c), vector_now(), 1).expect("signs");
        assert_eq!(signature_from_query(&signed.path_and_query), expected);
    }

    #[test]
    fn binance_ed25519_accepts_a_pem_with_escaped_newlines() {
        let pem = test_key().to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).expect("pem");
        let escaped = pem.as_str().replace('\n', "\\n");
        let c = creds("ed-key", &escaped, None);
        sign(AuthScheme::BinanceEd25519, &params(), &order_in_query(), Some(&c), vector_now(), 1).expect("signs");
    }

    #[test]
    fn binance_ed25519_rejects_a_non_pem_secret_without_quoting_it() {
        let c = creds("ed-key", "not-a-pem-SECRETVALUE", None);
        let err = sign(AuthScheme::BinanceEd25519, &params(), &order_in_query(), Some(&c), vector_now(), 1)
            .expect_err("bad secret");
        assert!(matches!(err, SignError::BadSecret { .. }), "{err:?}");
        assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
        assert!(!format!("{err:?}").contains("SECRETVALUE"), "{err:?}");
    }
}
