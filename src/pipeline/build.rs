//! Turns a spec endpoint and the caller's parameters into an unsigned [`signing::Request`].

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::CallError;
use crate::provider::{BodyKind, EndpointSpec, HttpMethod, ProviderSpec};
use crate::signing::{self, AuthParams, Body};

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn auth_params(spec: &ProviderSpec) -> AuthParams {
    spec.auth.params()
}

/// A TOML default value as the string sent on the wire.
fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn request(
    spec: &ProviderSpec,
    endpoint: &EndpointSpec,
    operation: &str,
    base_url: &url::Url,
    given: &BTreeMap<String, String>,
) -> Result<signing::Request, CallError> {
    let bad =
        |message: String| CallError::BadParams { provider: spec.id.clone(), operation: operation.to_string(), message };

    let mut params: BTreeMap<String, String> =
        endpoint.params.iter().map(|(k, v)| (k.clone(), value_text(v))).collect();
    params.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));

    let missing: Vec<&str> =
        endpoint.required.iter().filter(|r| !params.contains_key(r.as_str())).map(String::as_str).collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "missing required parameter{} {} (pass them as name=value)",
            if missing.len() > 1 { "s" } else { "" },
            missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        )));
    }

    // Fill `{name}` placeholders in the path; those parameters are not sent again.
    let mut path = String::new();
    let mut rest = endpoint.path.as_str();
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close =
            rest[open..].find('}').ok_or_else(|| bad(format!("unclosed placeholder in path {}", endpoint.path)))?;
        let name = &rest[open + 1..open + close];
        let value = params
            .remove(name)
            .ok_or_else(|| bad(format!("missing required parameter `{name}` (used in the path {})", endpoint.path)))?;
        path.push_str(&utf8_percent_encode(&value, SEGMENT).to_string());
        rest = &rest[open + close + 1..];
    }
    path.push_str(rest);

    let full_path = format!("{}{}", base_url.path().trim_end_matches('/'), path);
    let host = match base_url.port() {
        Some(port) => format!("{}:{port}", base_url.host_str().unwrap_or_default()),
        None => base_url.host_str().unwrap_or_default().to_string(),
    };
    let pairs: Vec<(String, String)> = params.into_iter().collect();
    let (query, body) = match endpoint.body_kind() {
        BodyKind::Query => (pairs, Body::None),
        BodyKind::Json if pairs.is_empty() && endpoint.method == HttpMethod::Get => (Vec::new(), Body::None),
        BodyKind::Json => {
            let map: serde_json::Map<String, serde_json::Value> =
                pairs.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
            (Vec::new(), Body::Json(serde_json::Value::Object(map)))
        }
        BodyKind::Form => (Vec::new(), Body::Form(pairs)),
    };
    Ok(signing::Request { method: endpoint.method.as_str().to_string(), host, path: full_path, query, body })
}
