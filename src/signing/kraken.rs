//! Kraken spot REST: `API-Sign` = base64(HMAC-SHA512(base64-decoded secret,
//! URI path + SHA256(nonce + POST body))), with `nonce` the first form field.

use sha2::{Digest, Sha256};

use super::common::{self, b64, header, require_creds, Wire};
use super::encode::{encode_pairs, EncodedBody, CONTENT_TYPE_FORM};
use super::{AuthScheme, Body, Credentials, Request, SignError, Signed};

pub fn sign(req: &Request, creds: Option<&Credentials>, nonce: u64) -> Result<Signed, SignError> {
    let scheme = AuthScheme::Kraken;
    let creds = require_creds(scheme, creds)?;
    if !req.query.is_empty() {
        return Err(SignError::Unsupported {
            scheme,
            reason: "Kraken private calls carry their parameters in the POST body, not the query".into(),
        });
    }
    let params: &[(String, String)] = match &req.body {
        Body::None => &[],
        Body::Form(pairs) => pairs,
        Body::Json(_) => {
            return Err(SignError::Unsupported {
                scheme,
                reason: "Kraken private calls take form parameters, not a JSON body".into(),
            })
        }
    };
    if params.iter().any(|(k, _)| k == "nonce") {
        return Err(SignError::Unsupported {
            scheme,
            reason: "the request already has a `nonce` parameter; the signer sets it".into(),
        });
    }
    let nonce = nonce.to_string();
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(params.len() + 1);
    pairs.push(("nonce", nonce.as_str()));
    pairs.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let body = encode_pairs(&pairs);

    let key = common::decode_base64_secret(scheme, creds)?;
    let inner = Sha256::new().chain_update(nonce.as_bytes()).chain_update(body.as_bytes()).finalize();
    let mac = common::hmac_sha512(scheme, &key, &[req.path.as_bytes(), inner.as_slice()])?;

    let wire = Wire { query: String::new(), body: Some(EncodedBody { text: body, content_type: CONTENT_TYPE_FORM }) };
    Ok(wire.finish(req, vec![header("API-Key", creds.api_key.as_str()), header("API-Sign", b64(&mac))]))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{creds, header_value, post_form};
    use super::super::{sign, AuthParams, AuthScheme, SignError};

    const SECRET: &str = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_616_492_376, 0).unwrap_or_default()
    }

    #[test]
    fn kraken_matches_the_published_vector() {
        let c = creds("kraken-key", SECRET, None);
        let req = post_form(
            "/0/private/AddOrder",
            &[("ordertype", "limit"), ("pair", "XBTUSD"), ("price", "37500"), ("type", "buy"), ("volume", "1.25")],
        );
        let signed =
            sign(AuthScheme::Kraken, &AuthParams::default(), &req, Some(&c), now(), 1_616_492_376_594).expect("signs");
        assert_eq!(signed.path_and_query, "/0/private/AddOrder");
        assert_eq!(
            signed.body.as_deref(),
            Some("nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25")
        );
        assert_eq!(
            header_value(&signed, "API-Sign"),
            Some("4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==")
        );
        assert_eq!(header_value(&signed, "API-Key"), Some("kraken-key"));
        assert_eq!(header_value(&signed, "Content-Type"), Some("application/x-www-form-urlencoded"));
    }

    #[test]
    fn kraken_signs_a_call_without_parameters_with_the_nonce_alone() {
        // python3 -c "import hmac,hashlib,base64; s=base64.b64decode('kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=='); print(base64.b64encode(hmac.new(s, b'/0/private/Balance'+hashlib.sha256(b'1616492376594'+b'nonce=1616492376594').digest(), hashlib.sha512).digest()).decode())"
        let expected = "1nH4vwR+8FHiYh1QT649xXkGd3JR3x0DWkgv3u9Ed/Qqv6KPtgQpEU4m+Emb/VgpEji3j1XNwI+HCbfXxmrTOg==";
        let c = creds("kraken-key", SECRET, None);
        let req = post_form("/0/private/Balance", &[]);
        let signed =
            sign(AuthScheme::Kraken, &AuthParams::default(), &req, Some(&c), now(), 1_616_492_376_594).expect("signs");
        assert_eq!(signed.body.as_deref(), Some("nonce=1616492376594"));
        assert_eq!(header_value(&signed, "API-Sign"), Some(expected));
    }

    #[test]
    fn kraken_rejects_a_secret_that_is_not_base64_without_quoting_it() {
        let c = creds("kraken-key", "sec!ret-MATERIAL-$$", None);
        let err =
            sign(AuthScheme::Kraken, &AuthParams::default(), &post_form("/0/private/Balance", &[]), Some(&c), now(), 1)
                .expect_err("bad secret");
        assert!(matches!(err, SignError::BadSecret { scheme: AuthScheme::Kraken, .. }), "{err:?}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains("MATERIAL") && !shown.contains("sec!ret"), "{shown}");
        }
    }
}
