//! Helpers shared by the scheme modules: credential checks, secrets, MACs, timestamps.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::{Sha256, Sha384, Sha512};

use super::encode::{self, EncodedBody};
use super::{AuthScheme, Credentials, Request, SignError, Signed};

/// Standard base64 that accepts the secret with or without its `=` padding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The credentials, or `MissingCredentials` when there are none or the key or secret is empty.
pub fn require_creds(scheme: AuthScheme, creds: Option<&Credentials>) -> Result<&Credentials, SignError> {
    match creds {
        Some(c) if !c.api_key.is_empty() && !c.secret.expose_secret().is_empty() => Ok(c),
        _ => Err(SignError::MissingCredentials { scheme }),
    }
}

/// The passphrase, or `MissingPassphrase` when the key has none (or an empty one).
pub fn require_passphrase(scheme: AuthScheme, creds: &Credentials) -> Result<&str, SignError> {
    match &creds.passphrase {
        Some(p) if !p.expose_secret().is_empty() => Ok(p.expose_secret()),
        _ => Err(SignError::MissingPassphrase { scheme }),
    }
}

/// Decodes a base64 secret. The error never quotes the secret (the base64 crate's own message
/// names the offending byte, so it is not passed on).
pub fn decode_base64_secret(scheme: AuthScheme, creds: &Credentials) -> Result<Vec<u8>, SignError> {
    let text: String = creds.secret.expose_secret().chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT_BASE64.decode(text.as_bytes()).map_err(|_| SignError::BadSecret {
        scheme,
        reason: "it is not valid base64; paste the secret exactly as the exchange showed it".into(),
    })
}

fn mac<M: Mac + KeyInit>(scheme: AuthScheme, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, SignError> {
    // HMAC takes keys of any length, so this error cannot happen; it is mapped, not unwrapped.
    let mut m = <M as Mac>::new_from_slice(key)
        .map_err(|_| SignError::BadSecret { scheme, reason: "the HMAC key length is not accepted".into() })?;
    for p in parts {
        m.update(p);
    }
    Ok(m.finalize().into_bytes().to_vec())
}

pub fn hmac_sha256(scheme: AuthScheme, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, SignError> {
    mac::<Hmac<Sha256>>(scheme, key, parts)
}

pub fn hmac_sha384(scheme: AuthScheme, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, SignError> {
    mac::<Hmac<Sha384>>(scheme, key, parts)
}

pub fn hmac_sha512(scheme: AuthScheme, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, SignError> {
    mac::<Hmac<Sha512>>(scheme, key, parts)
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Unix time in milliseconds, as a decimal string.
pub fn millis(now: DateTime<Utc>) -> String {
    now.timestamp_millis().to_string()
}

/// Unix time in whole seconds, as a decimal string.
pub fn seconds(now: DateTime<Utc>) -> String {
    now.timestamp().to_string()
}

/// Upper-case method (the request is documented as upper-case already; this makes sure the
/// signed string and the sent method agree).
pub fn method(req: &Request) -> String {
    req.method.to_ascii_uppercase()
}

pub fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

/// The request encoded for the wire, before any auth: encoded query, body and content type.
pub struct Wire {
    pub query: String,
    pub body: Option<EncodedBody>,
}

impl Wire {
    pub fn of(scheme: AuthScheme, req: &Request) -> Result<Self, SignError> {
        Ok(Self { query: encode::encode_pairs(&req.query), body: encode::encode_body(scheme, &req.body)? })
    }

    /// The body text, or `""` when there is none.
    pub fn body_text(&self) -> &str {
        self.body.as_ref().map_or("", |b| b.text.as_str())
    }

    /// `path` plus `?query` when there is a query: what most schemes sign as "path".
    pub fn path_and_query(&self, req: &Request) -> String {
        encode::path_and_query(&req.path, &self.query)
    }

    /// Finishes a signed request: auth headers, then `Content-Type` when there is a body.
    pub fn finish(self, req: &Request, mut headers: Vec<(String, String)>) -> Signed {
        let path_and_query = encode::path_and_query(&req.path, &self.query);
        let body = self.body.map(|b| {
            headers.push(header("Content-Type", b.content_type));
            b.text
        });
        Signed { path_and_query, headers, body }
    }
}

/// A PEM secret as pasted: trimmed, and with literal `\n` escapes (as in a JSON key file)
/// turned into line breaks.
pub fn normalise_pem(secret: &str) -> String {
    let trimmed = secret.trim();
    if !trimmed.contains('\n') && trimmed.contains("\\n") {
        trimmed.replace("\\n", "\n")
    } else {
        trimmed.to_string()
    }
}
