//! Schemes without a signature: none, API key in a header or query parameter, bearer, basic.

use secrecy::ExposeSecret;

use super::common::{b64, header, Wire};
use super::{AuthParams, AuthScheme, Credentials, Request, SignError, Signed};

/// Public endpoints: only the wire encoding.
pub fn none(req: &Request) -> Result<Signed, SignError> {
    Ok(Wire::of(AuthScheme::None, req)?.finish(req, Vec::new()))
}

fn api_key(scheme: AuthScheme, creds: Option<&Credentials>) -> Result<&str, SignError> {
    match creds {
        Some(c) if !c.api_key.is_empty() => Ok(c.api_key.as_str()),
        _ => Err(SignError::MissingCredentials { scheme }),
    }
}

fn secret(scheme: AuthScheme, creds: Option<&Credentials>) -> Result<&str, SignError> {
    match creds {
        Some(c) if !c.secret.expose_secret().is_empty() => Ok(c.secret.expose_secret()),
        _ => Err(SignError::MissingCredentials { scheme }),
    }
}

/// `<params.header_name>: <key>`. For single-token providers the token is a secret, so it is
/// the key's secret (kept in the credential store) that is sent, not its public label.
pub fn api_key_header(params: &AuthParams, req: &Request, creds: Option<&Credentials>) -> Result<Signed, SignError> {
    let scheme = AuthScheme::ApiKeyHeader;
    let name = params
        .header_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(SignError::MissingParam { scheme, param: "header_name" })?;
    let key = secret(scheme, creds)?;
    Ok(Wire::of(scheme, req)?.finish(req, vec![header(name, key)]))
}

/// `?<params.query_param>=<key>` appended after the request's own parameters (the key's secret,
/// as for the header scheme).
pub fn api_key_query(params: &AuthParams, req: &Request, creds: Option<&Credentials>) -> Result<Signed, SignError> {
    let scheme = AuthScheme::ApiKeyQuery;
    let name = params
        .query_param
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or(SignError::MissingParam { scheme, param: "query_param" })?;
    let key = secret(scheme, creds)?;
    let mut wire = Wire::of(scheme, req)?;
    let extra = super::encode::encode_pairs(&[(name, key)]);
    wire.query = if wire.query.is_empty() { extra } else { format!("{}&{extra}", wire.query) };
    Ok(wire.finish(req, Vec::new()))
}

/// `Authorization: Bearer <secret>`.
pub fn bearer(req: &Request, creds: Option<&Credentials>) -> Result<Signed, SignError> {
    let scheme = AuthScheme::Bearer;
    let token = secret(scheme, creds)?;
    Ok(Wire::of(scheme, req)?.finish(req, vec![header("Authorization", format!("Bearer {token}"))]))
}

/// `Authorization: Basic base64(api_key:secret)`.
pub fn basic(req: &Request, creds: Option<&Credentials>) -> Result<Signed, SignError> {
    let scheme = AuthScheme::Basic;
    let user = api_key(scheme, creds)?;
    let password = creds.map_or("", |c| c.secret.expose_secret());
    let value = format!("Basic {}", b64(format!("{user}:{password}").as_bytes()));
    Ok(Wire::of(scheme, req)?.finish(req, vec![header("Authorization", value)]))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{creds, get, header_value, post_json};
    use super::super::{sign, AuthParams, AuthScheme, SignError};

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn none_only_encodes_the_query_and_body() {
        let mut req = post_json("/v1/x", serde_json::json!({"a": 1}));
        req.query = vec![("q".into(), "a b".into())];
        let signed = sign(AuthScheme::None, &AuthParams::default(), &req, None, now(), 1).expect("signs");
        assert_eq!(signed.path_and_query, "/v1/x?q=a%20b");
        assert_eq!(signed.headers, vec![("Content-Type".to_string(), "application/json".to_string())]);
        assert_eq!(signed.body.as_deref(), Some(r#"{"a":1}"#));
    }

    #[test]
    fn api_key_header_sends_the_secret_token_in_the_configured_header() {
        let params = AuthParams { header_name: Some("X-CMC_PRO_API_KEY".into()), ..AuthParams::default() };
        let c = creds("label-only", "my-key", None);
        let signed = sign(AuthScheme::ApiKeyHeader, &params, &get("/v1/q", &[]), Some(&c), now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "X-CMC_PRO_API_KEY"), Some("my-key"));
        assert_eq!(signed.body, None);
    }

    #[test]
    fn api_key_header_without_a_header_name_is_a_missing_param() {
        let c = creds("my-key", "s", None);
        let err = sign(AuthScheme::ApiKeyHeader, &AuthParams::default(), &get("/", &[]), Some(&c), now(), 1);
        assert!(matches!(err, Err(SignError::MissingParam { param: "header_name", .. })), "{err:?}");
    }

    #[test]
    fn api_key_query_appends_the_secret_token_after_the_request_parameters() {
        let params = AuthParams { query_param: Some("apikey".into()), ..AuthParams::default() };
        let c = creds("label-only", "k&y", None);
        let signed = sign(AuthScheme::ApiKeyQuery, &params, &get("/query", &[("symbol", "IBM")]), Some(&c), now(), 1)
            .expect("signs");
        assert_eq!(signed.path_and_query, "/query?symbol=IBM&apikey=k%26y");
        let signed = sign(AuthScheme::ApiKeyQuery, &params, &get("/query", &[]), Some(&c), now(), 1).expect("signs");
        assert_eq!(signed.path_and_query, "/query?apikey=k%26y");
    }

    #[test]
    fn api_key_query_without_a_param_name_is_a_missing_param() {
        let c = creds("my-key", "s", None);
        let err = sign(AuthScheme::ApiKeyQuery, &AuthParams::default(), &get("/", &[]), Some(&c), now(), 1);
        assert!(matches!(err, Err(SignError::MissingParam { param: "query_param", .. })), "{err:?}");
    }

    #[test]
    fn bearer_sends_the_secret() {
        let c = creds("", "tok-123", None);
        let signed =
            sign(AuthScheme::Bearer, &AuthParams::default(), &get("/", &[]), Some(&c), now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "Authorization"), Some("Bearer tok-123"));
    }

    #[test]
    fn basic_encodes_key_and_secret() {
        // python3 -c "import base64; print(base64.b64encode(b'Aladdin:open sesame').decode())"
        let c = creds("Aladdin", "open sesame", None);
        let signed =
            sign(AuthScheme::Basic, &AuthParams::default(), &get("/", &[]), Some(&c), now(), 1).expect("signs");
        assert_eq!(header_value(&signed, "Authorization"), Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
    }

    #[test]
    fn schemes_with_credentials_refuse_to_sign_without_them() {
        for scheme in AuthScheme::ALL.iter().copied().filter(|s| *s != AuthScheme::None) {
            let params = AuthParams {
                header_name: Some("X-Key".into()),
                query_param: Some("key".into()),
                ..AuthParams::default()
            };
            let err = sign(scheme, &params, &get("/", &[]), None, now(), 1);
            assert!(matches!(err, Err(SignError::MissingCredentials { .. })), "{scheme}: {err:?}");
        }
    }
}
