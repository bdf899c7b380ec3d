//! Webhook bodies (Keyward JSON, Slack, Discord) and the HMAC signature.
//!
//! Keyward JSON carries the send time in the body (`"timestamp"`) as well as in the
//! `X-Keyward-Timestamp` header, so the signature over the body also covers the time and a
//! receiver can refuse replays of old deliveries.

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;

use super::input::Severity;
use super::model::Alert;
use super::webhook::WebhookFormat;

pub const SIGNATURE_HEADER: &str = "X-Keyward-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Keyward-Timestamp";
pub const EVENT_HEADER: &str = "X-Keyward-Event";
/// Stays the same across the retries of one delivery, so receivers can drop duplicates.
pub const DELIVERY_HEADER: &str = "X-Keyward-Delivery";

/// Why a webhook is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    Raised,
    Resolved,
    Test,
}

impl WebhookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Raised => "alert.raised",
            WebhookEvent::Resolved => "alert.resolved",
            WebhookEvent::Test => "test",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "alert.raised" => Some(WebhookEvent::Raised),
            "alert.resolved" => Some(WebhookEvent::Resolved),
            "test" => Some(WebhookEvent::Test),
            _ => None,
        }
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A ready-to-send request.
pub(crate) struct Payload {
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// Builds the body and headers for one attempt.
pub(crate) fn build(
    format: WebhookFormat,
    event: WebhookEvent,
    alert: Option<&Alert>,
    webhook_name: &str,
    delivery_id: &str,
    now: DateTime<Utc>,
    secret: Option<&SecretString>,
) -> Payload {
    let value = match format {
        WebhookFormat::Json => keyward_json(event, alert, webhook_name, now),
        WebhookFormat::Slack => slack(event, alert, webhook_name),
        WebhookFormat::Discord => discord(event, alert, webhook_name),
    };
    let body = value.to_string().into_bytes();
    let mut headers = vec![
        ("Content-Type", "application/json".to_string()),
        (TIMESTAMP_HEADER, now.timestamp().to_string()),
        (EVENT_HEADER, event.as_str().to_string()),
        (DELIVERY_HEADER, delivery_id.to_string()),
    ];
    if let Some(secret) = secret {
        headers.push((SIGNATURE_HEADER, signature(secret.expose_secret().as_bytes(), &body)));
    }
    Payload { body, headers }
}

fn test_text(webhook_name: &str) -> (String, String) {
    ("Keyward test notification".to_string(), format!("If you can read this, the webhook \"{webhook_name}\" works."))
}

fn keyward_json(event: WebhookEvent, alert: Option<&Alert>, webhook_name: &str, now: DateTime<Utc>) -> Value {
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let alert_json = match (event, alert) {
        (WebhookEvent::Test, _) | (_, None) => {
            let (title, body) = test_text(webhook_name);
            json!({ "title": title, "body": body, "severity": "info" })
        }
        (_, Some(a)) => json!({
            "id": a.id,
            "ts": ts(a.ts),
            "rule_id": a.rule_id,
            "rule_kind": a.rule_kind,
            "severity": a.severity.as_str(),
            "title": a.title,
            "body": a.body,
            "provider": a.provider,
            "dedup_key": a.dedup_key,
            "state": a.state.as_str(),
            "resolved_at": a.resolved_at.map(ts),
        }),
    };
    json!({
        "event": event.as_str(),
        "timestamp": now.timestamp(),
        "sent_at": ts(now),
        "alert": alert_json,
    })
}

fn emoji(event: WebhookEvent, severity: Severity) -> &'static str {
    match (event, severity) {
        (WebhookEvent::Resolved, _) => "✅",
        (WebhookEvent::Test, _) => "🔔",
        (_, Severity::Critical) => "🔴",
        (_, Severity::Warning) => "🟠",
        (_, Severity::Info) => "🔵",
    }
}

/// Title, body, severity and footer shared by the chat formats.
fn chat_text(event: WebhookEvent, alert: Option<&Alert>, webhook_name: &str) -> (String, String, Severity, String) {
    match (event, alert) {
        (WebhookEvent::Test, _) | (_, None) => {
            let (t, b) = test_text(webhook_name);
            (t, b, Severity::Info, "Keyward".to_string())
        }
        (_, Some(a)) => {
            let title =
                if event == WebhookEvent::Resolved { format!("Resolved: {}", a.title) } else { a.title.clone() };
            let footer = format!(
                "Keyward · {} · {} · {}",
                a.severity.as_str(),
                a.provider,
                a.ts.format("%Y-%m-%d %H:%M:%S UTC")
            );
            (title, a.body.clone(), a.severity, footer)
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A "recovered" alert looks like a resolve in chat: green, with a tick.
fn style(event: WebhookEvent, alert: Option<&Alert>) -> WebhookEvent {
    match alert {
        Some(a) if event == WebhookEvent::Raised && a.rule_kind == "recovered" => WebhookEvent::Resolved,
        _ => event,
    }
}

fn slack(event: WebhookEvent, alert: Option<&Alert>, webhook_name: &str) -> Value {
    let (title, body, severity, footer) = chat_text(event, alert, webhook_name);
    let icon = emoji(style(event, alert), severity);
    json!({
        "text": slack_escape(&truncate(&format!("{icon} {title}"), 3000)),
        "blocks": [
            { "type": "header", "text": { "type": "plain_text", "text": truncate(&format!("{icon} {title}"), 150), "emoji": true } },
            { "type": "section", "text": { "type": "mrkdwn", "text": slack_escape(&truncate(&body, 3000)) } },
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": slack_escape(&truncate(&footer, 300)) } ] },
        ],
    })
}

fn discord_colour(event: WebhookEvent, severity: Severity) -> u32 {
    match (event, severity) {
        (WebhookEvent::Resolved, _) => 0x30A46C,
        (WebhookEvent::Test, _) => 0x6E56CF,
        (_, Severity::Critical) => 0xE5484D,
        (_, Severity::Warning) => 0xF5A524,
        (_, Severity::Info) => 0x3B82F6,
    }
}

fn discord(event: WebhookEvent, alert: Option<&Alert>, webhook_name: &str) -> Value {
    let (title, body, severity, footer) = chat_text(event, alert, webhook_name);
    let icon = emoji(style(event, alert), severity);
    let mut embed = json!({
        "title": truncate(&title, 256),
        "description": truncate(&body, 4096),
        "color": discord_colour(style(event, alert), severity),
        "footer": { "text": truncate(&footer, 2048) },
    });
    if let Some(a) = alert.filter(|_| event != WebhookEvent::Test) {
        embed["timestamp"] = json!(a.ts.to_rfc3339_opts(SecondsFormat::Secs, true));
        embed["fields"] = json!([
            { "name": "Severity", "value": a.severity.as_str(), "inline": true },
            { "name": "Provider", "value": truncate(&a.provider, 1024), "inline": true },
        ]);
    }
    json!({
        "content": truncate(&format!("{icon} {title}"), 2000),
        "embeds": [embed],
        // Text from exchanges (maintenance messages) must not ping @everyone.
        "allowed_mentions": { "parse": [] },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_published_hmac_sha256_vector() {
        // RFC 4231 test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn long_text_is_cut_to_the_chat_limits() {
        let long = "x".repeat(5000);
        assert_eq!(truncate(&long, 150).chars().count(), 150);
        assert_eq!(truncate("short", 150), "short");
    }
}
