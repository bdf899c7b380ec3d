//! Live usage for the status page and the CLI: every limit's level and queue
//! ([`Limiter::snapshot`]) and who spent a limit ([`Limiter::breakdown`]).

use super::state::{scope_key, to_std, update_level, ProviderState, RuleState};
use super::Limiter;
use crate::ratelimit::status::{LimitBreakdown, LimitStatus, UsageLevel};
use crate::ratelimit::window::WindowMath;

fn top(tally: &[(String, f64)], n: usize) -> Vec<(String, f64)> {
    let mut sorted = tally.to_vec();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(n);
    sorted
}

impl Limiter {
    /// Every limit in use (and every loaded rule not used yet), sorted by provider, limit and
    /// scope key. Also notices levels that fell as windows reset, and sends those events.
    pub fn snapshot(&self) -> Vec<LimitStatus> {
        let now = self.shared.clock.now();
        let mut events = Vec::new();
        let mut out = Vec::new();
        {
            let mut st = self.lock();
            for ps in st.providers.values_mut() {
                ps.clear_expired(now, &mut events);
                let banned = ps.ban.is_some();
                let paused_for = ps.ban.or(ps.pause).map(|until| to_std(until - now));
                let ProviderState { id, rules, queue, following, .. } = ps;
                for (i, rs) in rules.iter_mut().enumerate() {
                    let RuleState { rule, warn_pct, critical_pct, limits, .. } = rs;
                    if limits.is_empty() {
                        out.push(LimitStatus {
                            provider: id.clone(),
                            limit_id: rule.id.clone(),
                            kind: rule.kind,
                            scope: rule.scope,
                            scope_key: scope_key(rule.scope, None).to_string(),
                            used: 0.0,
                            limit: rule.limit,
                            percent: 0.0,
                            resets_in: None,
                            queue_len: 0,
                            paused_for,
                            banned,
                            level: UsageLevel::Normal,
                            from_exchange: following.contains(&rule.id),
                        });
                    }
                    for (scope, ls) in limits.iter_mut() {
                        update_level(ls, &rule.id, *warn_pct, *critical_pct, id, scope, now, &mut events);
                        let usage = ls.window.usage(now);
                        let queue_len = queue
                            .values()
                            .filter(|w| w.charges.iter().any(|c| c.rule == i && c.scope == *scope))
                            .count();
                        out.push(LimitStatus {
                            provider: id.clone(),
                            limit_id: rule.id.clone(),
                            kind: rule.kind,
                            scope: rule.scope,
                            scope_key: scope.clone(),
                            used: usage.used,
                            limit: usage.limit,
                            percent: usage.percent(),
                            resets_in: usage.resets_in,
                            queue_len,
                            paused_for,
                            banned,
                            level: ls.level,
                            from_exchange: following.contains(&rule.id),
                        });
                    }
                }
            }
        }
        self.emit(events);
        out.sort_by(|a, b| (&a.provider, &a.limit_id, &a.scope_key).cmp(&(&b.provider, &b.limit_id, &b.scope_key)));
        out
    }

    /// Who spent a limit: the top `n` operations, key labels and callers per scope key.
    pub fn breakdown(&self, provider: &str, limit_id: &str, n: usize) -> Vec<LimitBreakdown> {
        let st = self.lock();
        let Some(ps) = st.providers.get(provider) else { return Vec::new() };
        ps.rules
            .iter()
            .filter(|rs| rs.rule.id == limit_id)
            .flat_map(|rs| rs.limits.iter())
            .map(|(scope, ls)| LimitBreakdown {
                provider: provider.to_string(),
                limit_id: limit_id.to_string(),
                scope_key: scope.clone(),
                by_operation: top(&ls.by_op, n),
                by_key: top(&ls.by_key, n),
                by_caller: top(&ls.by_caller, n),
            })
            .collect()
    }
}
