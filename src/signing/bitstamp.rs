//! Bitstamp HTTP API v2: `X-Auth-Signature` = hex HMAC-SHA256(secret, "BITSTAMP " + api_key +
//! METHOD + host + path + ?query + Content-Type + X-Auth-Nonce + X-Auth-Timestamp + "v2" + body).
//! Content-Type is left out of the message (and the request) when there is no body.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::common::{self, header, require_creds, Wire};
use super::{AuthScheme, Body, Credentials, Request, SignError, Signed};

const VERSION: &str = "v2";

/// The `X-Auth-Nonce`: a lowercase, 36-character, UUID-v4-shaped string derived from `nonce`.
/// All 16 hex digits of `nonce` appear in it (so distinct nonces never collide); the remaining
/// digits come from SHA-256 of the nonce.
pub fn uuid_nonce(nonce: u64) -> String {
    let n = format!("{nonce:016x}");
    let h = Sha256::digest(nonce.to_be_bytes());
    let filler = hex::encode(&h[..7]);
    let variant = ['8', '9', 'a', 'b'][usize::from(h[7] & 3)];
    format!("{}-{}-4{}-{variant}{}{}-{}", &n[0..8], &n[8..12], &n[12..15], &n[15..16], &filler[0..2], &filler[2..14])
}

pub fn sign(req: &Request, creds: Option<&Credentials>, now: DateTime<Utc>, nonce: u64) -> Result<Signed, SignError> {
    let scheme = AuthScheme::BitstampV2;
    let creds = require_creds(scheme, creds)?;
    if matches!(req.body, Body::Json(_)) {
        return Err(SignError::Unsupported {
            scheme,
            reason: "Bitstamp v2 takes form parameters, not a JSON body".into(),
        });
    }
    let mut wire = Wire::of(scheme, req)?;
    // An empty form is no body: Bitstamp wants neither a Content-Type header nor its line in
    // the signed message then.
    if wire.body.as_ref().is_some_and(|b| b.text.is_empty()) {
        wire.body = None;
    }
    let x_auth = format!("BITSTAMP {}", creds.api_key);
    let x_nonce = uuid_nonce(nonce);
    let ts = common::millis(now);
    let content_type = wire.body.as_ref().map_or("", |b| b.content_type);
    let query = if wire.query.is_empty() { String::new() } else { format!("?{}", wire.query) };
    let message = format!(
        "{x_auth}{}{}{}{query}{content_type}{x_nonce}{ts}{VERSION}{}",
        common::method(req),
        req.host,
        req.path,
        wire.body_text()
    );
    let signature =
        hex::encode(common::hmac_sha256(scheme, creds.secret.expose_secret().as_bytes(), &[message.as_bytes()])?);
    let headers = vec![
        header("X-Auth", x_auth),
        header("X-Auth-Signature", signature),
        header("X-Auth-Nonce", x_nonce),
        header("X-Auth-Timestamp", ts),
        header("X-Auth-Version", VERSION),
    ];
    Ok(wire.finish(req, headers))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{creds, fixed_now, header_value, post_form};
    use super::super::{sign, AuthParams, AuthScheme, Body, Request};
    use super::uuid_nonce;

    fn bitstamp(path: &str, form: &[(&str, &str)]) -> Request {
        let mut req = post_form(path, form);
        req.host = "www.bitstamp.net".into();
        req
    }

    #[test]
    fn bitstamp_nonce_is_a_lowercase_uuid_shaped_string_derived_from_the_nonce() {
        // python3 -c "import hashlib; n=1607418537715000; s=f'{n:016x}'; h=hashlib.sha256(n.to_bytes(8,'big')).digest(); f=h[:7].hex(); print(f'{s[0:8]}-{s[8:12]}-4{s[12:15]}-{\"89ab\"[h[7]&3]}{s[15]}{f[0:2]}-{f[2:14]}')"
        assert_eq!(uuid_nonce(1_607_418_537_715_000), "0005b5f0-4af2-4253-b8a4-99c8f67e2c4b");
        let u = uuid_nonce(u64::MAX);
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert!(u.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)), "{u}");
        assert_ne!(uuid_nonce(1), uuid_nonce(2));
    }

    #[test]
    fn bitstamp_signs_a_form_post_with_the_content_type_in_the_message() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'bitstamp-secret', b'BITSTAMP bs-keyPOSTwww.bitstamp.net/api/v2/user_transactions/application/x-www-form-urlencoded0005b5f0-4af2-4253-b8a4-99c8f67e2c4b1607418537715v2offset=1&limit=10', hashlib.sha256).hexdigest())"
        let expected = "20d32ea287aadb2a70b486bdb286e386effe856fb328012677e479e6a304b7f5";
        let c = creds("bs-key", "bitstamp-secret", None);
        let req = bitstamp("/api/v2/user_transactions/", &[("offset", "1"), ("limit", "10")]);
        let signed =
            sign(AuthScheme::BitstampV2, &AuthParams::default(), &req, Some(&c), fixed_now(), 1_607_418_537_715_000)
                .expect("signs");
        assert_eq!(header_value(&signed, "X-Auth-Signature"), Some(expected));
        assert_eq!(header_value(&signed, "X-Auth"), Some("BITSTAMP bs-key"));
        assert_eq!(header_value(&signed, "X-Auth-Nonce"), Some("0005b5f0-4af2-4253-b8a4-99c8f67e2c4b"));
        assert_eq!(header_value(&signed, "X-Auth-Timestamp"), Some("1607418537715"));
        assert_eq!(header_value(&signed, "X-Auth-Version"), Some("v2"));
        assert_eq!(header_value(&signed, "Content-Type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(signed.body.as_deref(), Some("offset=1&limit=10"));
    }

    #[test]
    fn bitstamp_leaves_the_content_type_out_when_there_is_no_body() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'bitstamp-secret', b'BITSTAMP bs-keyPOSTwww.bitstamp.net/api/v2/balance/0005b5f0-4af2-4253-b8a4-99c8f67e2c4b1607418537715v2', hashlib.sha256).hexdigest())"
        let expected = "f5c56f27c245411e36b1c45039c2673321a9c562d74fdc6031730464353ad0c9";
        let c = creds("bs-key", "bitstamp-secret", None);
        for body in [Body::Form(Vec::new()), Body::None] {
            let mut req = bitstamp("/api/v2/balance/", &[]);
            req.body = body;
            let signed = sign(
                AuthScheme::BitstampV2,
                &AuthParams::default(),
                &req,
                Some(&c),
                fixed_now(),
                1_607_418_537_715_000,
            )
            .expect("signs");
            assert_eq!(header_value(&signed, "X-Auth-Signature"), Some(expected));
            assert_eq!(header_value(&signed, "Content-Type"), None);
            assert_eq!(signed.body, None);
        }
    }
}
