//! The wire encoding every scheme shares: RFC 3986 percent-encoding of query and form pairs.
//!
//! Unreserved characters (`A-Z a-z 0-9 - . _ ~`) are kept; every other byte of the UTF-8
//! encoding becomes `%XX` with upper-case hex. A space is `%20` (never `+`), so a literal `+`
//! is `%2B` and cannot be mistaken for a space by the exchange. This is what Binance, Kraken,
//! KuCoin, OKX, Bybit and Bitstamp decode, and because the signer signs exactly the bytes it
//! sends, both sides agree on the signed string.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{AuthScheme, Body, SignError};

/// Everything except the RFC 3986 unreserved set.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `Content-Type` for a JSON body.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `Content-Type` for a form body.
pub const CONTENT_TYPE_FORM: &str = "application/x-www-form-urlencoded";

/// Percent-encodes one key or value.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Encodes pairs as `k1=v1&k2=v2`, in the given order.
pub fn encode_pairs<K, V>(pairs: &[(K, V)]) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_component(k.as_ref()));
        out.push('=');
        out.push_str(&encode_component(v.as_ref()));
    }
    out
}

/// `path` plus `?query` when the encoded query is not empty.
pub fn path_and_query(path: &str, encoded_query: &str) -> String {
    if encoded_query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{encoded_query}")
    }
}

/// A body as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBody {
    pub text: String,
    pub content_type: &'static str,
}

/// Serialises a body: compact JSON, or encoded form pairs. `None` for [`Body::None`].
pub fn encode_body(scheme: AuthScheme, body: &Body) -> Result<Option<EncodedBody>, SignError> {
    match body {
        Body::None => Ok(None),
        Body::Json(value) => Ok(Some(EncodedBody { text: json_text(scheme, value)?, content_type: CONTENT_TYPE_JSON })),
        Body::Form(pairs) => Ok(Some(EncodedBody { text: encode_pairs(pairs), content_type: CONTENT_TYPE_FORM })),
    }
}

/// Compact JSON text of a value.
pub fn json_text(scheme: AuthScheme, value: &serde_json::Value) -> Result<String, SignError> {
    serde_json::to_string(value)
        .map_err(|e| SignError::Unsupported { scheme, reason: format!("the JSON body cannot be serialised: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unreserved_characters() {
        assert_eq!(encode_component("AZaz09-._~"), "AZaz09-._~");
    }

    #[test]
    fn encodes_space_as_percent_20_and_plus_as_percent_2b() {
        assert_eq!(encode_component("a b+c"), "a%20b%2Bc");
    }

    #[test]
    fn encodes_ampersand_and_equals_inside_values() {
        assert_eq!(encode_pairs(&[("k&1", "v=2&x=3")]), "k%261=v%3D2%26x%3D3");
    }

    #[test]
    fn encodes_non_ascii_as_utf8_bytes_with_upper_case_hex() {
        assert_eq!(encode_component("é€"), "%C3%A9%E2%82%AC");
        assert_eq!(encode_component("日本"), "%E6%97%A5%E6%9C%AC");
    }

    #[test]
    fn encodes_reserved_punctuation() {
        assert_eq!(encode_component("/?#[]@!$'()*,;:%"), "%2F%3F%23%5B%5D%40%21%24%27%28%29%2A%2C%3B%3A%25");
    }

    #[test]
    fn joins_pairs_in_order_and_keeps_empty_values() {
        assert_eq!(encode_pairs(&[("b", "2"), ("a", ""), ("c", "3")]), "b=2&a=&c=3");
        assert_eq!(encode_pairs::<&str, &str>(&[]), "");
    }

    #[test]
    fn adds_a_question_mark_only_when_there_is_a_query() {
        assert_eq!(path_and_query("/x", ""), "/x");
        assert_eq!(path_and_query("/x", "a=1"), "/x?a=1");
    }

    #[test]
    fn serialises_json_bodies_compactly() {
        let body = Body::Json(serde_json::json!({"a": [1, 2], "b": "x y"}));
        let encoded = encode_body(AuthScheme::Okx, &body).expect("json encodes");
        assert_eq!(
            encoded,
            Some(EncodedBody { text: r#"{"a":[1,2],"b":"x y"}"#.into(), content_type: CONTENT_TYPE_JSON })
        );
    }
}
