//! Coinbase: Advanced Trade / CDP keys (ES256 JWT bearer token) and Coinbase Exchange
//! (HMAC-SHA256 with a base64 secret and a passphrase).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::common::{self, b64, header, require_creds, require_passphrase, Wire};
use super::{AuthScheme, Credentials, Request, SignError, Signed};

/// Lifetime of a CDP JWT: Coinbase accepts at most two minutes.
pub const JWT_LIFETIME_SECS: i64 = 120;

/// The JWT header's `nonce`: 64 hex digits derived from the caller's nonce (SHA-256 of its
/// big-endian bytes), so distinct nonces give distinct tokens and the signer stays pure.
pub fn jwt_nonce(nonce: u64) -> String {
    hex::encode(Sha256::digest(nonce.to_be_bytes()))
}

fn ec_signing_key(scheme: AuthScheme, creds: &Credentials) -> Result<p256::ecdsa::SigningKey, SignError> {
    let pem = common::normalise_pem(creds.secret.expose_secret());
    let secret_key =
        p256::SecretKey::from_sec1_pem(&pem).or_else(|_| p256::SecretKey::from_pkcs8_pem(&pem)).map_err(|_| {
            SignError::BadSecret {
                scheme,
                reason: "it is not an EC P-256 private key in PEM form (-----BEGIN EC PRIVATE KEY----- or \
                     -----BEGIN PRIVATE KEY-----)"
                    .into(),
            }
        })?;
    Ok(p256::ecdsa::SigningKey::from(&secret_key))
}

/// `coinbase_jwt`: `Authorization: Bearer <ES256 JWT>` with the CDP claims.
pub fn sign_jwt(
    req: &Request,
    creds: Option<&Credentials>,
    now: DateTime<Utc>,
    nonce: u64,
) -> Result<Signed, SignError> {
    let scheme = AuthScheme::CoinbaseJwt;
    let creds = require_creds(scheme, creds)?;
    let key = ec_signing_key(scheme, creds)?;
    let wire = Wire::of(scheme, req)?;

    let nbf = now.timestamp();
    let jwt_header = serde_json::json!({
        "alg": "ES256",
        "typ": "JWT",
        "kid": creds.api_key,
        "nonce": jwt_nonce(nonce),
    });
    let claims = serde_json::json!({
        "iss": "cdp",
        "sub": creds.api_key,
        "nbf": nbf,
        "exp": nbf + JWT_LIFETIME_SECS,
        "uri": format!("{} {}{}", common::method(req), req.host, req.path),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(super::encode::json_text(scheme, &jwt_header)?),
        URL_SAFE_NO_PAD.encode(super::encode::json_text(scheme, &claims)?),
    );
    // RFC 6979 deterministic ECDSA over SHA-256; the signature is r || s (64 bytes).
    let signature: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    Ok(wire.finish(req, vec![header("Authorization", format!("Bearer {token}"))]))
}

/// `coinbase_exchange`: base64(HMAC-SHA256(base64-decoded secret, ts + METHOD + path + body)).
pub fn sign_exchange(req: &Request, creds: Option<&Credentials>, now: DateTime<Utc>) -> Result<Signed, SignError> {
    let scheme = AuthScheme::CoinbaseExchange;
    let creds = require_creds(scheme, creds)?;
    let passphrase = require_passphrase(scheme, creds)?;
    let key = common::decode_base64_secret(scheme, creds)?;
    let wire = Wire::of(scheme, req)?;
    let ts = common::seconds(now);
    let prehash = format!("{ts}{}{}{}", common::method(req), wire.path_and_query(req), wire.body_text());
    let sign = b64(&common::hmac_sha256(scheme, &key, &[prehash.as_bytes()])?);
    let headers = vec![
        header("CB-ACCESS-KEY", creds.api_key.as_str()),
        header("CB-ACCESS-SIGN", sign),
        header("CB-ACCESS-TIMESTAMP", ts),
        header("CB-ACCESS-PASSPHRASE", passphrase),
    ];
    Ok(wire.finish(req, headers))
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::EncodePrivateKey as _;

    use super::super::tests::{creds, fixed_now, get, header_value, post_json};
    use super::super::{sign, AuthParams, AuthScheme, SignError};
    use super::jwt_nonce;

    const KEY_NAME: &str = "organizations/org-id/apiKeys/key-id";

    fn test_key() -> p256::SecretKey {
        p256::SecretKey::from_slice(&[0x11; 32]).expect("valid scalar")
    }

    fn decode_part(part: &str) -> serde_json::Value {
        let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
        serde_json::from_slice(&bytes).expect("json")
    }

    fn sign_with_pem(pem: &str) -> super::super::Signed {
        let c = creds(KEY_NAME, pem, None);
        let mut req = get("/api/v3/brokerage/accounts", &[("limit", "5")]);
        req.host = "api.coinbase.com".into();
        sign(AuthScheme::CoinbaseJwt, &AuthParams::default(), &req, Some(&c), fixed_now(), 42).expect("signs")
    }

    fn verify(signed: &super::super::Signed) -> (serde_json::Value, serde_json::Value) {
        let token = header_value(signed, "Authorization").and_then(|v| v.strip_prefix("Bearer ")).expect("bearer");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{token}");
        let raw = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url signature");
        assert_eq!(raw.len(), 64, "raw r||s signature");
        let sig = p256::ecdsa::Signature::from_slice(&raw).expect("signature");
        let verifying = p256::ecdsa::VerifyingKey::from(test_key().public_key());
        verifying.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).expect("signature verifies");
        (decode_part(parts[0]), decode_part(parts[1]))
    }

    #[test]
    fn coinbase_jwt_verifies_with_the_public_key_and_carries_the_cdp_claims() {
        let pem = test_key().to_sec1_pem(p256::pkcs8::LineEnding::LF).expect("sec1 pem");
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        let signed = sign_with_pem(&pem);
        let (header, claims) = verify(&signed);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], KEY_NAME);
        assert_eq!(header["nonce"], jwt_nonce(42));
        assert_eq!(header["nonce"].as_str().map(str::len), Some(64));
        assert_eq!(claims["iss"], "cdp");
        assert_eq!(claims["sub"], KEY_NAME);
        assert_eq!(claims["nbf"], 1_607_418_537);
        assert_eq!(claims["exp"], 1_607_418_537 + 120);
        assert_eq!(claims["uri"], "GET api.coinbase.com/api/v3/brokerage/accounts");
        assert_eq!(signed.path_and_query, "/api/v3/brokerage/accounts?limit=5");
    }

    #[test]
    fn coinbase_jwt_accepts_pkcs8_and_escaped_newline_pems() {
        let pkcs8 = test_key().to_pkcs8_pem(p256::pkcs8::LineEnding::LF).expect("pkcs8 pem");
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        verify(&sign_with_pem(&pkcs8));
        let sec1 = test_key().to_sec1_pem(p256::pkcs8::LineEnding::LF).expect("sec1 pem");
        verify(&sign_with_pem(&sec1.replace('\n', "\\n")));
    }

    /// A throwaway key made for this test with `openssl ecparam -name prime256v1 -genkey -noout`
    /// (SEC1 with the curve parameters, the form CDP key files use), and its public half from
    /// `openssl ec -pubout`.
    const OPENSSL_SEC1_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIL1n6I059YrvmSJ+yPwrbIMCXtTxyNPfb1kAQsaKXoh+oAoGCCqGSM49
AwEHoUQDQgAEJ0cju5EaatN41mMgHHdZJm/YbgrtTiOdUwY/O3wk23VBrJOQF4O1
Q42OeJNOdyHqbI3UVBhxW/BXLQoFXbtGmw==
-----END EC PRIVATE KEY-----
";
    const OPENSSL_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJ0cju5EaatN41mMgHHdZJm/Ybgrt
TiOdUwY/O3wk23VBrJOQF4O1Q42OeJNOdyHqbI3UVBhxW/BXLQoFXbtGmw==
-----END PUBLIC KEY-----
";

    #[test]
    fn coinbase_jwt_signed_with_an_openssl_key_verifies_with_its_openssl_public_key() {
        use p256::pkcs8::DecodePublicKey as _;
        let signed = sign_with_pem(OPENSSL_SEC1_PEM);
        let token = header_value(&signed, "Authorization").and_then(|v| v.strip_prefix("Bearer ")).expect("bearer");
        let (signing_input, sig) = token.rsplit_once('.').expect("three parts");
        let sig = p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).expect("base64url")).expect("r||s");
        let public = p256::ecdsa::VerifyingKey::from_public_key_pem(OPENSSL_PUBLIC_PEM).expect("public key");
        public.verify(signing_input.as_bytes(), &sig).expect("verifies with the OpenSSL public key");
    }

    #[test]
    fn coinbase_jwt_nonce_differs_per_nonce_and_is_stable_for_one() {
        assert_eq!(jwt_nonce(7), jwt_nonce(7));
        assert_ne!(jwt_nonce(7), jwt_nonce(8));
    }

    #[test]
    fn coinbase_jwt_rejects_a_secret_that_is_not_an_ec_key_without_quoting_it() {
        let c = creds(KEY_NAME, "-----BEGIN EC PRIVATE KEY-----\nSECRETBYTES\n-----END EC PRIVATE KEY-----", None);
        let err = sign(AuthScheme::CoinbaseJwt, &AuthParams::default(), &get("/", &[]), Some(&c), fixed_now(), 1)
            .expect_err("bad secret");
        assert!(matches!(err, SignError::BadSecret { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("SECRETBYTES"));
    }

    // Coinbase Exchange secret used below (base64 of b"coinbase-exchange-secret!!").
    const CB_SECRET: &str = "Y29pbmJhc2UtZXhjaGFuZ2Utc2VjcmV0ISE=";

    #[test]
    fn coinbase_exchange_signs_with_the_decoded_secret_and_seconds_timestamp() {
        // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(base64.b64decode('Y29pbmJhc2UtZXhjaGFuZ2Utc2VjcmV0ISE='), b'1607418537POST/orders{\"price\":\"1.0\",\"product_id\":\"BTC-USD\",\"side\":\"buy\",\"size\":\"1.0\"}', hashlib.sha256).digest()).decode())"
        let expected = "Uuvzdtg8GQrN+44Pj27f2SbaqRhJ9Rmn8iXvUzXpqRc=";
        let c = creds("cb-key", CB_SECRET, Some("cb pass"));
        let req = post_json(
            "/orders",
            serde_json::json!({"price": "1.0", "product_id": "BTC-USD", "side": "buy", "size": "1.0"}),
        );
        let signed =
            sign(AuthScheme::CoinbaseExchange, &AuthParams::default(), &req, Some(&c), fixed_now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "CB-ACCESS-SIGN"), Some(expected));
        assert_eq!(header_value(&signed, "CB-ACCESS-TIMESTAMP"), Some("1607418537"));
        assert_eq!(header_value(&signed, "CB-ACCESS-KEY"), Some("cb-key"));
        assert_eq!(header_value(&signed, "CB-ACCESS-PASSPHRASE"), Some("cb pass"));
        assert_eq!(header_value(&signed, "Content-Type"), Some("application/json"));
    }

    #[test]
    fn coinbase_exchange_signs_the_query_of_a_get() {
        // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(base64.b64decode('Y29pbmJhc2UtZXhjaGFuZ2Utc2VjcmV0ISE='), b'1607418537GET/fills?product_id=BTC-USD&limit=10', hashlib.sha256).digest()).decode())"
        let expected = "F0zhWvHDG0geBN/VGHMyl7ahYwUfUgSX3vacfsWtHrE=";
        let c = creds("cb-key", CB_SECRET, Some("cb pass"));
        let req = get("/fills", &[("product_id", "BTC-USD"), ("limit", "10")]);
        let signed =
            sign(AuthScheme::CoinbaseExchange, &AuthParams::default(), &req, Some(&c), fixed_now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "CB-ACCESS-SIGN"), Some(expected));
    }

    #[test]
    fn coinbase_exchange_without_a_passphrase_is_refused() {
        let c = creds("cb-key", CB_SECRET, None);
        let err = sign(
            AuthScheme::CoinbaseExchange,
            &AuthParams::default(),
            &get("/accounts", &[]),
            Some(&c),
            fixed_now(),
            1,
        );
        assert!(matches!(err, Err(SignError::MissingPassphrase { .. })), "{err:?}");
    }

    #[test]
    fn coinbase_exchange_rejects_a_secret_that_is_not_base64_without_quoting_it() {
        let c = creds("cb-key", "%%%not-base64-SENSITIVE%%%", Some("p"));
        let err = sign(
            AuthScheme::CoinbaseExchange,
            &AuthParams::default(),
            &get("/accounts", &[]),
            Some(&c),
            fixed_now(),
            1,
        )
        .expect_err("bad secret");
        assert!(matches!(err, SignError::BadSecret { .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("SENSITIVE"));
    }
}
