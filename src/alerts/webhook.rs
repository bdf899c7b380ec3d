//! Outgoing webhook configuration and where their HMAC secrets live.
//!
//! The `webhooks` table holds id, name, URL, format and a *reference* to the HMAC secret; the
//! secret itself goes through [`WebhookSecrets`] (the OS credential store in the app, memory in
//! tests) and never touches SQLite, logs or error messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::vault::{SecretStore, VaultError};

/// The body shape a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookFormat {
    /// Keyward's own JSON, signed with `X-Keyward-Signature` when a secret is set.
    Json,
    /// Slack incoming webhook (`{"text", "blocks"}`).
    Slack,
    /// Discord webhook (`{"content", "embeds"}`).
    Discord,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" | "generic" => Some(WebhookFormat::Json),
            "slack" => Some(WebhookFormat::Slack),
            "discord" => Some(WebhookFormat::Discord),
            _ => None,
        }
    }
}

/// A configured webhook.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    /// The credential-store account holding the HMAC secret, if one was set.
    pub secret_ref: Option<String>,
    /// Allows plain `http://` to hosts other than localhost.
    pub allow_insecure_http: bool,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl Webhook {
    /// The URL for display: scheme and host only for Slack and Discord, whose URL path is
    /// itself a credential.
    pub fn display_url(&self) -> String {
        display_url(&self.url, self.format)
    }
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.display_url())
            .field("format", &self.format)
            .field("has_secret", &self.secret_ref.is_some())
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

pub(crate) fn display_url(url: &str, format: WebhookFormat) -> String {
    match (format, Url::parse(url)) {
        (WebhookFormat::Json, _) => url.to_string(),
        (_, Ok(u)) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or_default()),
        (_, Err(_)) => "(invalid URL)".to_string(),
    }
}

/// A webhook to add.
pub struct NewWebhook {
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    /// The HMAC-SHA256 key for `X-Keyward-Signature`. Stored through [`WebhookSecrets`].
    pub secret: Option<SecretString>,
    pub allow_insecure_http: bool,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("name", &self.name)
            .field("url", &display_url(&self.url, self.format))
            .field("format", &self.format)
            .field("has_secret", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

/// Checks a webhook URL: http(s) only, and plain http only to this machine unless allowed.
pub fn validate_url(url: &str, allow_insecure_http: bool) -> Result<Url, String> {
    let shown = |u: &str| {
        if u.chars().count() > 80 {
            format!("{}…", u.chars().take(80).collect::<String>())
        } else {
            u.to_string()
        }
    };
    let parsed = Url::parse(url).map_err(|e| format!("webhook URL {:?} is not a URL: {e}", shown(url)))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let local = matches!(
                parsed.host(),
                Some(url::Host::Domain("localhost"))
                    | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
                    | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
            );
            if !local && !allow_insecure_http {
                return Err(format!(
                    "webhook URL {:?} uses plain http to a host other than this machine; use https, \
                     or allow insecure http for this webhook explicitly",
                    shown(url)
                ));
            }
        }
        other => {
            return Err(format!("webhook URL {:?} has scheme \"{other}\"; only http and https are allowed", shown(url)))
        }
    }
    if parsed.host_str().map_or(true, str::is_empty) {
        return Err(format!("webhook URL {:?} has no host", shown(url)));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "webhook URL {:?} carries a user name or password; put credentials in the secret instead",
            shown(url)
        ));
    }
    Ok(parsed)
}

/// Where webhook HMAC secrets live. Implementations are internally synchronised and may block
/// (async callers go through `spawn_blocking`).
pub trait WebhookSecrets: Send + Sync + 'static {
    fn put(&self, reference: &str, secret: &SecretString) -> Result<(), VaultError>;
    /// `Ok(None)` when nothing is stored under `reference`.
    fn get(&self, reference: &str) -> Result<Option<SecretString>, VaultError>;
    /// Succeeds when nothing is stored under `reference`.
    fn delete(&self, reference: &str) -> Result<(), VaultError>;
}

/// Webhook secrets in process memory (tests, demos).
#[derive(Default)]
pub struct MemoryWebhookSecrets {
    entries: Mutex<HashMap<String, SecretString>>,
}

impl MemoryWebhookSecrets {
    pub fn new() -> Self {
        Self::default()
    }
}

impl WebhookSecrets for MemoryWebhookSecrets {
    fn put(&self, reference: &str, secret: &SecretString) -> Result<(), VaultError> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(reference.to_string(), SecretString::from(secret.expose_secret().to_string()));
        Ok(())
    }

    fn get(&self, reference: &str) -> Result<Option<SecretString>, VaultError> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(reference).map(|s| SecretString::from(s.expose_secret().to_string())))
    }

    fn delete(&self, reference: &str) -> Result<(), VaultError> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(reference);
        Ok(())
    }
}

/// Webhook secrets in a [`SecretStore`] (the OS credential store in the app).
pub struct VaultWebhookSecrets {
    store: Arc<dyn SecretStore>,
}

impl VaultWebhookSecrets {
    pub fn new(store: Arc<dyn SecretStore>) -> Self {
        Self { store }
    }
}

impl WebhookSecrets for VaultWebhookSecrets {
    fn put(&self, reference: &str, secret: &SecretString) -> Result<(), VaultError> {
        self.store.put(reference, secret)
    }

    fn get(&self, reference: &str) -> Result<Option<SecretString>, VaultError> {
        match self.store.get(reference) {
            Ok(s) => Ok(Some(s)),
            Err(VaultError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, reference: &str) -> Result<(), VaultError> {
        match self.store.delete(reference) {
            Ok(()) | Err(VaultError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A fresh credential-store account name for a webhook's secret.
pub(crate) fn new_secret_ref() -> String {
    let bytes: [u8; 8] = rand::random();
    format!("webhook-hmac-{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_unless_local_or_allowed() {
        assert!(validate_url("http://127.0.0.1:9000/hook", false).is_ok());
        assert!(validate_url("http://localhost/hook", false).is_ok());
        assert!(validate_url("https://hooks.example.com/x", false).is_ok());
        let err = validate_url("http://hooks.example.com/x", false).expect_err("plain http");
        assert!(err.contains("http://hooks.example.com/x"), "{err}");
        assert!(validate_url("http://hooks.example.com/x", true).is_ok());
        let err = validate_url("ftp://example.com/x", true).expect_err("ftp");
        assert!(err.contains("\"ftp\""), "{err}");
        assert!(validate_url("https://user:pw@example.com/", false).is_err());
    }

    #[test]
    fn slack_and_discord_urls_are_shown_without_their_token_path() {
        let url = "https://hooks.slack.com/services/T000/B000/SECRETTOKEN";
        assert_eq!(display_url(url, WebhookFormat::Slack), "https://hooks.slack.com/…");
        let new = NewWebhook {
            name: "ops".into(),
            url: url.into(),
            format: WebhookFormat::Slack,
            secret: Some(SecretString::from("hmac-canary".to_string())),
            allow_insecure_http: false,
        };
        let shown = format!("{new:?}");
        assert!(!shown.contains("SECRETTOKEN") && !shown.contains("hmac-canary"), "{shown}");
    }
}
