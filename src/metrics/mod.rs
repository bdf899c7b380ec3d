//! `GET /metrics` on the gateway's port, in the OpenMetrics text format Prometheus scrapes:
//! calls and errors, limiter waits and refusals, weight used and left on every limit, provider
//! health, latency histograms, cost, gateway bots and open circuit breakers.
//!
//! - [`live`]: counters and histograms fed by the recorder as attempts happen (this process's
//!   calls since it started; Prometheus handles the reset at a restart);
//! - [`render`]: one scrape: the live counters plus gauges read from the limiter, the monitor,
//!   the breakers and the gateway's bot numbers at that moment.
//!
//! Who may scrape is the user's choice ([`MetricsAccess`], setting `metrics.access`): this
//! machine only without a token (the default), or a bearer token from anywhere the gateway
//! listens. The token is shown once; only its SHA-256 is kept, as for bot tokens.

pub mod live;
pub mod render;

use std::net::IpAddr;

use base64::Engine as _;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use live::LiveCalls;
pub use render::{render, CONTENT_TYPE};

use crate::store::{Store, StoreError};

/// The path the gateway serves the metrics on.
pub const PATH: &str = "/metrics";
/// Setting that holds the access mode.
pub const ACCESS_SETTING: &str = "metrics.access";
/// Setting that holds the SHA-256 (hex) of the metrics token ('' when there is none).
pub const TOKEN_HASH_SETTING: &str = "metrics.token_sha256";
/// Setting that holds the token's first characters, to tell tokens apart.
pub const TOKEN_HINT_SETTING: &str = "metrics.token_hint";
/// Every metrics token starts with this, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "kwm_";

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum MetricsAccess {
    /// This machine only (127.0.0.1, ::1), no token: Prometheus or Grafana Agent on the same
    /// machine.
    #[default]
    Loopback,
    /// `Authorization: Bearer kwm_…` from any address the gateway listens on.
    Token,
}

impl MetricsAccess {
    pub const ALL: [MetricsAccess; 2] = [MetricsAccess::Loopback, MetricsAccess::Token];

    pub fn as_str(self) -> &'static str {
        match self {
            MetricsAccess::Loopback => "loopback",
            MetricsAccess::Token => "token",
        }
    }

    pub fn parse(text: &str) -> Result<Self, MetricsError> {
        let t = text.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|a| a.as_str() == t).ok_or_else(|| MetricsError::Invalid {
            field: "access",
            value: text.to_string(),
            expected: "loopback (this machine, no token) or token (a bearer token, from any address)",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics {field} \"{value}\": expected {expected}")]
    Invalid { field: &'static str, value: String, expected: &'static str },
    #[error("metrics access is \"loopback\" (no token): choose token access first (`keyward gateway metrics --access token`)")]
    NoTokenMode,
    #[error("could not produce the metrics: {0}")]
    Encode(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MetricsError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            MetricsError::Invalid { .. } | MetricsError::NoTokenMode => crate::ErrorKind::Invalid,
            MetricsError::Encode(_) => crate::ErrorKind::Internal,
            MetricsError::Store(_) => crate::ErrorKind::Storage,
        }
    }
}

/// Why a scrape was refused (the answer names it; nothing else is said).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "metrics are served to this machine only and this request came from {peer}; choose token access \
         (`keyward gateway metrics --access token`) to scrape from elsewhere"
    )]
    NotLoopback { peer: IpAddr },
    #[error(
        "no metrics token: send it as Authorization: Bearer <token> (Prometheus: `authorization: credentials_file`)"
    )]
    NoToken,
    #[error("wrong metrics token (rotated or mistyped): `keyward gateway metrics --rotate-token` makes a new one")]
    WrongToken,
}

impl Refusal {
    /// 401 for a missing or wrong token (with `WWW-Authenticate`), 403 for another machine.
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::NotLoopback { .. } => 403,
            Refusal::NoToken | Refusal::WrongToken => 401,
        }
    }

    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            Refusal::NotLoopback { .. } => crate::ErrorKind::PermissionDenied,
            Refusal::NoToken | Refusal::WrongToken => crate::ErrorKind::Unauthorized,
        }
    }
}

/// What the Settings card and `keyward gateway metrics` show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MetricsView {
    pub access: MetricsAccess,
    /// Where Prometheus scrapes (`http://127.0.0.1:47311/metrics`; https beyond loopback).
    pub url: String,
    /// The token's first characters (`kwm_abc123…`) in token mode.
    pub token_hint: Option<String>,
    /// A ready `scrape_configs` entry for prometheus.yml.
    pub scrape_config: String,
}

/// The view plus, right after a token was made, its text: the only time it is shown.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MetricsAccessChange {
    #[serde(flatten)]
    pub view: MetricsView,
    pub token: Option<String>,
}

/// The access setting and the token hash. Cheap to clone; blocking (SQLite).
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    store: Store,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl MetricsSettings {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The access mode (loopback unless set).
    pub fn access(&self) -> Result<MetricsAccess, MetricsError> {
        Ok(self.store.setting(ACCESS_SETTING)?.and_then(|v| MetricsAccess::parse(&v).ok()).unwrap_or_default())
    }

    /// Sets the access mode. Turning token access on makes a token (returned once) unless one
    /// exists; going back to loopback forgets it, so a later token access gets a fresh one.
    pub fn set_access(&self, access: MetricsAccess) -> Result<Option<SecretString>, MetricsError> {
        let made = match access {
            MetricsAccess::Token if self.token_hash()?.is_none() => Some(self.new_token()?),
            MetricsAccess::Token => None,
            MetricsAccess::Loopback => {
                self.store.set_setting(TOKEN_HASH_SETTING, "")?;
                self.store.set_setting(TOKEN_HINT_SETTING, "")?;
                None
            }
        };
        self.store.set_setting(ACCESS_SETTING, access.as_str())?;
        Ok(made)
    }

    /// A new token in token mode; the old one stops working at once.
    pub fn rotate_token(&self) -> Result<SecretString, MetricsError> {
        if self.access()? != MetricsAccess::Token {
            return Err(MetricsError::NoTokenMode);
        }
        self.new_token()
    }

    fn new_token(&self) -> Result<SecretString, MetricsError> {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
        self.store.set_setting(TOKEN_HASH_SETTING, &hash(&token))?;
        self.store.set_setting(TOKEN_HINT_SETTING, &format!("{}…", &token[..TOKEN_PREFIX.len() + 6]))?;
        Ok(SecretString::from(token))
    }

    fn token_hash(&self) -> Result<Option<String>, MetricsError> {
        Ok(self.store.setting(TOKEN_HASH_SETTING)?.filter(|h| !h.is_empty()))
    }

    /// The token's first characters, in token mode.
    pub fn token_hint(&self) -> Result<Option<String>, MetricsError> {
        if self.access()? != MetricsAccess::Token {
            return Ok(None);
        }
        Ok(self.store.setting(TOKEN_HINT_SETTING)?.filter(|h| !h.is_empty()))
    }

    /// Whether a scrape from `peer` with this `Authorization` header may read the metrics.
    pub fn check(&self, peer: IpAddr, authorization: Option<&str>) -> Result<Result<(), Refusal>, MetricsError> {
        Ok(match self.access()? {
            MetricsAccess::Loopback if peer.is_loopback() => Ok(()),
            MetricsAccess::Loopback => Err(Refusal::NotLoopback { peer }),
            MetricsAccess::Token => {
                let presented = authorization
                    .and_then(|v| v.trim().strip_prefix("Bearer ").or_else(|| v.trim().strip_prefix("bearer ")))
                    .map(str::trim)
                    .filter(|t| !t.is_empty());
                match (presented, self.token_hash()?) {
                    (None, _) => Err(Refusal::NoToken),
                    (Some(t), Some(stored)) if bool::from(hash(t).as_bytes().ct_eq(stored.as_bytes())) => Ok(()),
                    (Some(_), _) => Err(Refusal::WrongToken),
                }
            }
        })
    }

    /// The view for a gateway at `base_url` (`http://127.0.0.1:47311`).
    pub fn view(&self, base_url: &str) -> Result<MetricsView, MetricsError> {
        let access = self.access()?;
        Ok(MetricsView {
            access,
            url: format!("{base_url}{PATH}"),
            token_hint: self.token_hint()?,
            scrape_config: scrape_config(base_url, access),
        })
    }

    /// The view with a just-made token's text.
    pub fn change(&self, base_url: &str, token: Option<SecretString>) -> Result<MetricsAccessChange, MetricsError> {
        Ok(MetricsAccessChange { view: self.view(base_url)?, token: token.map(|t| t.expose_secret().to_string()) })
    }
}

/// A `scrape_configs` entry for prometheus.yml that scrapes the gateway at `base_url`.
pub fn scrape_config(base_url: &str, access: MetricsAccess) -> String {
    let (scheme, target) = base_url.split_once("://").unwrap_or(("http", base_url));
    let mut out = format!(
        "scrape_configs:\n  - job_name: keyward\n    scrape_interval: 15s\n    metrics_path: {PATH}\n    scheme: {scheme}\n    static_configs:\n      - targets: [\"{target}\"]\n"
    );
    if scheme == "https" {
        out.push_str("    tls_config:\n      ca_file: keyward.pem   # keyward gateway cert > keyward.pem\n");
    }
    if access == MetricsAccess::Token {
        out.push_str(
            "    authorization:\n      type: Bearer\n      credentials_file: /etc/prometheus/keyward-metrics-token   # the kwm_… token\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> (tempfile::TempDir, MetricsSettings) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("k.db")).expect("store");
        (dir, MetricsSettings::new(store))
    }

    #[test]
    fn loopback_access_needs_no_token_and_refuses_other_machines() {
        let (_dir, s) = settings();
        assert_eq!(s.access().expect("access"), MetricsAccess::Loopback);
        assert_eq!(s.check("127.0.0.1".parse().expect("ip"), None).expect("check"), Ok(()));
        assert_eq!(s.check("::1".parse().expect("ip"), None).expect("check"), Ok(()));
        let lan: IpAddr = "192.168.1.7".parse().expect("ip");
        assert_eq!(s.check(lan, Some("Bearer x")).expect("check"), Err(Refusal::NotLoopback { peer: lan }));
    }

    #[test]
    fn token_access_keeps_only_the_hash_and_refuses_a_missing_wrong_or_rotated_token() {
        let (_dir, s) = settings();
        let token = s.set_access(MetricsAccess::Token).expect("token mode").expect("a token is made");
        let token = token.expose_secret().to_string();
        assert!(token.starts_with(TOKEN_PREFIX));
        let stored: Vec<String> = s
            .store
            .with_conn(|c| {
                let mut stmt = c.prepare("SELECT value FROM settings")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
                Ok(rows)
            })
            .expect("settings");
        assert!(stored.iter().all(|v| !v.contains(&token)), "the token is never stored: {stored:?}");
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let lan: IpAddr = "10.0.0.9".parse().expect("ip");
        assert_eq!(s.check(lo, None).expect("check"), Err(Refusal::NoToken), "token mode needs it on loopback too");
        assert_eq!(s.check(lan, Some("Bearer kwm_wrong")).expect("check"), Err(Refusal::WrongToken));
        assert_eq!(s.check(lan, Some(&format!("Bearer {token}"))).expect("check"), Ok(()));
        assert!(s.set_access(MetricsAccess::Token).expect("again").is_none(), "the token is kept");
        let rotated = s.rotate_token().expect("rotate");
        assert_eq!(s.check(lan, Some(&format!("Bearer {token}"))).expect("check"), Err(Refusal::WrongToken));
        assert_eq!(s.check(lan, Some(&format!("Bearer {}", rotated.expose_secret()))).expect("check"), Ok(()));
        assert!(s
            .token_hint()
            .expect("hint")
            .is_some_and(|h| rotated.expose_secret().starts_with(h.trim_end_matches('…'))));

        s.set_access(MetricsAccess::Loopback).expect("loopback");
        assert!(matches!(s.rotate_token(), Err(MetricsError::NoTokenMode)));
        assert_eq!(s.token_hint().expect("hint"), None);
    }

    #[test]
    fn an_unknown_access_mode_is_named() {
        let err = MetricsAccess::parse("public").expect_err("public");
        assert!(err.to_string().contains("access \"public\""), "{err}");
    }

    #[test]
    fn the_scrape_config_has_the_target_and_the_token_file_only_in_token_mode() {
        let plain = scrape_config("http://127.0.0.1:47311", MetricsAccess::Loopback);
        assert!(plain.contains("targets: [\"127.0.0.1:47311\"]") && plain.contains("scheme: http\n"), "{plain}");
        assert!(!plain.contains("authorization") && !plain.contains("tls_config"));
        let remote = scrape_config("https://192.168.1.20:47311", MetricsAccess::Token);
        assert!(remote.contains("scheme: https") && remote.contains("ca_file") && remote.contains("credentials_file"));
    }
}
