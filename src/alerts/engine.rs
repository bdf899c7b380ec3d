//! The evaluation engine: what one input (or the passing of time) resolves and raises under
//! the stored rules, with dedup, cooldown and quiet hours, inside the caller's transaction.
//! The facade ([`Alerts::handle`](super::Alerts::handle)) commits it and dispatches the changes.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

use super::db;
use super::input::{self, AlertInput, Severity};
use super::model::{Alert, Suppression};
use super::payload::WebhookEvent;
use super::quiet::{self, QuietHours};
use super::rules::{self, Rule, RuleKind, Verdict};
use super::webhook::Webhook;

/// What one evaluation changed, to be dispatched after the transaction committed.
#[derive(Default)]
pub(super) struct Changes {
    pub(super) raised: Vec<(Alert, Rule)>,
    pub(super) resolved: Vec<Alert>,
    /// Webhooks to call: (webhook, event, alert).
    pub(super) calls: Vec<(Webhook, WebhookEvent, Alert)>,
}

/// Reads the quiet hours inside a transaction (the store's own helper would lock again).
fn quiet_hours_in(c: &Connection) -> Option<QuietHours> {
    let text: Option<String> = c
        .query_row("SELECT value FROM settings WHERE key = ?1", [quiet::SETTING_KEY], |r| r.get(0))
        .optional()
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not read the quiet hours");
            None
        });
    match text.filter(|t| !t.is_empty()).map(|t| QuietHours::from_json(&t)) {
        Some(Ok(q)) => Some(q),
        Some(Err(e)) => {
            tracing::error!(error = %e, "ignoring unreadable quiet hours");
            None
        }
        None => None,
    }
}

/// Adds resolved alerts and the webhook calls that announce them (to the webhooks of their
/// rule, unless the raise itself was held back by cooldown).
pub(super) fn add_resolved(c: &Connection, changes: &mut Changes, resolved: Vec<Alert>) -> rusqlite::Result<()> {
    for alert in resolved {
        if alert.suppressed != Some(Suppression::Cooldown) {
            if let Some(rule) = alert.rule_id.map(|id| db::load_rule(c, id)).transpose()?.flatten() {
                for wid in &rule.channels.webhooks {
                    if let Some(hook) = db::load_webhook(c, *wid)?.filter(|w| w.enabled) {
                        changes.calls.push((hook, WebhookEvent::Resolved, alert.clone()));
                    }
                }
            }
        }
        changes.resolved.push(alert);
    }
    Ok(())
}

/// How the provider was unwell before a recovery: the earliest start and a phrase.
fn recovery_context(resolved: &[Alert]) -> Option<(DateTime<Utc>, String)> {
    let since = resolved.iter().map(|a| a.ts).min()?;
    let what = if resolved.iter().any(|a| a.dedup_key.ends_with("/down")) {
        "being down"
    } else if resolved.iter().any(|a| a.dedup_key.ends_with("/degraded")) {
        "being degraded"
    } else {
        "maintenance"
    };
    Some((since, what.to_string()))
}

/// The core of [`Alerts::handle`], inside one transaction.
pub(super) fn evaluate(c: &Connection, input: &AlertInput, now: DateTime<Utc>) -> rusqlite::Result<Changes> {
    let mut changes = Changes::default();
    let expired = db::resolve_expired(c, now)?;
    add_resolved(c, &mut changes, expired)?;

    // Conditions this input ends, whatever the rules.
    let state_prefix = format!("{}/", input::state_family(input.provider()));
    let mut state_resolved = Vec::new();
    for (prefix, keep) in input.resolves(now) {
        let resolved = db::resolve_prefix(c, &prefix, keep.as_deref(), None, now)?;
        if prefix == state_prefix {
            state_resolved.extend(resolved.iter().cloned());
        }
        add_resolved(c, &mut changes, resolved)?;
    }
    let recovered_something = input.is_recovery() && !state_resolved.is_empty();

    let signal = input.signal(now);
    let quiet = quiet_hours_in(c);
    let provider = input.provider();
    for rule in db::load_rules(c)?.into_iter().filter(|r| r.enabled && r.providers.matches(provider)) {
        match rules::judge(&rule.kind, input, now, recovered_something) {
            Verdict::Ignore => {}
            Verdict::Resolve { prefix } => {
                let resolved = db::resolve_prefix(c, &prefix, None, Some(rule.id), now)?;
                add_resolved(c, &mut changes, resolved)?;
            }
            Verdict::Fire => {
                let is_recovery_rule = rule.kind == RuleKind::Recovered;
                let (key, default_severity) = match (&signal, is_recovery_rule) {
                    (_, true) => (format!("recovered:{}/up", input::esc(provider)), Severity::Info),
                    (Some(s), false) => (s.dedup_key(), s.severity),
                    (None, false) => continue,
                };
                if !is_recovery_rule && db::has_open(c, rule.id, &key)? {
                    continue;
                }
                let severity = rule.severity.unwrap_or(default_severity);
                let in_cooldown = db::last_notified(c, rule.id, &key)?
                    .is_some_and(|last| now.signed_duration_since(last).to_std().map_or(true, |d| d < rule.cooldown));
                let suppressed = if in_cooldown {
                    Some(Suppression::Cooldown)
                } else if rule.channels.desktop
                    && severity < Severity::Critical
                    && quiet.is_some_and(|q| q.contains(now))
                {
                    Some(Suppression::QuietHours)
                } else {
                    None
                };
                let context = if is_recovery_rule { recovery_context(&state_resolved) } else { None };
                let (title, body) = rules::describe(&rule.kind, input, now, context);
                let alert = db::insert_alert(
                    c,
                    &db::NewAlert {
                        ts: now,
                        rule_id: rule.id,
                        rule_kind: rule.kind.name(),
                        severity,
                        title: &title,
                        body: &body,
                        provider,
                        dedup_key: &key,
                        resolved: is_recovery_rule,
                        suppressed,
                        expires_at: if is_recovery_rule { None } else { input.expires_at(now) },
                    },
                )?;
                if suppressed != Some(Suppression::Cooldown) {
                    for wid in &rule.channels.webhooks {
                        if let Some(hook) = db::load_webhook(c, *wid)?.filter(|w| w.enabled) {
                            changes.calls.push((hook, WebhookEvent::Raised, alert.clone()));
                        }
                    }
                }
                changes.raised.push((alert, rule));
            }
        }
    }
    Ok(changes)
}
