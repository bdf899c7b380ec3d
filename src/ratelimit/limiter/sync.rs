//! Server truth: what an exchange's answer says about its limits. Usage headers raise the
//! local counts (never lower them), a 429 pauses the provider and a 418 blocks it.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use super::state::{limit_in, scope_key, to_delta, update_level, ProviderState, Reports, RuleState};
use super::{Limiter, LimiterConfig, BAN_SCOPE};
use crate::http_headers::{number, reset_in, retry_after};
use crate::pipeline::limit::Answered;
use crate::provider::RateLimitScope;
use crate::ratelimit::status::LimitEvent;
use crate::ratelimit::window::{ServerReport, WindowMath, EPSILON};

impl Limiter {
    /// Takes the status and headers of one answered call: a 429 pauses the provider until
    /// Retry-After, a 418 bans it, and usage headers raise the counts. Then re-runs the queue.
    pub(super) fn sync_response(&self, call: Answered<'_>, status: u16, headers: &HeaderMap) {
        self.with_provider(call.provider, |ps, now, cfg, events| {
            match status {
                429 => {
                    let retry_after = retry_after(headers, now).unwrap_or(cfg.default_retry_after);
                    let until = now + to_delta(retry_after);
                    ps.pause = Some(ps.pause.map_or(until, |p| p.max(until)));
                    events.push(LimitEvent::Paused { provider: ps.id.clone(), status, retry_after });
                }
                418 => {
                    let retry_after = retry_after(headers, now).unwrap_or(cfg.default_ban);
                    let until = now + to_delta(retry_after);
                    ps.ban = Some(ps.ban.map_or(until, |b| b.max(until)));
                    events.push(LimitEvent::Banned {
                        provider: ps.id.clone(),
                        scope: BAN_SCOPE.to_string(),
                        retry_after,
                    });
                }
                _ => {}
            }
            ps.sync_headers(headers, call.operation, call.key_label, now, cfg, events);
            ps.pump(now, cfg, events);
        });
    }
}

impl ProviderState {
    /// Applies the usage headers of one response.
    fn sync_headers(
        &mut self,
        headers: &HeaderMap,
        operation: &str,
        key_label: Option<&str>,
        now: DateTime<Utc>,
        cfg: &LimiterConfig,
        events: &mut Vec<LimitEvent>,
    ) {
        if self.headers.is_empty() {
            return;
        }
        // Only remaining-style reports come with a reset time (KuCoin, Bybit).
        let resets_in =
            if self.headers.iter().any(|b| b.reports == Reports::Remaining) { reset_in(headers, now) } else { None };
        let Self { id, rules, headers: bindings, .. } = self;
        for b in bindings.iter() {
            let Some(value) = headers.get(&b.name).and_then(number) else { continue };
            let Some(RuleState { rule, margin, warn_pct, critical_pct, limits }) = rules.get_mut(b.rule) else {
                continue;
            };
            // A header several rules share belongs to the rule of the call it answered.
            if b.shared && !rule.applies_to_operation(operation) {
                continue;
            }
            let mut report = match b.reports {
                Reports::Used => ServerReport::used(value),
                // More left than this rule's whole limit: the report is about another budget.
                Reports::Remaining if value > rule.limit + EPSILON => continue,
                Reports::Remaining => ServerReport::remaining(value),
            };
            if let Some(r) = resets_in {
                report = report.resetting_in(r);
            }
            let scope: String = match rule.scope {
                RateLimitScope::Ip => "ip".to_string(),
                _ if limits.len() == 1 => limits[0].0.clone(),
                _ => scope_key(rule.scope, key_label).to_string(),
            };
            let ls = limit_in(limits, rule, *margin, &scope, None, cfg);
            if ls.window.sync(report, now) {
                update_level(ls, &rule.id, *warn_pct, *critical_pct, id, &scope, now, events);
            }
        }
    }
}
