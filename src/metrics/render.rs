//! One scrape: a registry made for this request, holding the live counters (shared, not
//! copied) and gauges read now from the limiter, the monitor, the breakers and the gateway's
//! bot numbers, encoded in the OpenMetrics text format. Blocking (the monitor's check list is
//! in SQLite): the gateway calls it through `spawn_blocking`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::MetricsError;
use crate::monitor::HealthState;
use crate::pipeline::BreakerState;
use crate::Keyward;

/// The `Content-Type` of the answer (Prometheus asks for it and parses it).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    provider: String,
    limit: String,
    /// `ip`, or the key label for account- and key-scoped limits.
    scope_key: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    provider: String,
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    provider: String,
    /// The endpoint's operation, or `*` for the provider's own breaker.
    operation: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BotLabels {
    bot: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    bot: String,
    reason: String,
}

type GaugeF = Gauge<f64, AtomicU64>;

/// The metrics of `kw` as Prometheus scrapes them.
pub fn render(kw: &Keyward) -> Result<String, MetricsError> {
    let mut reg = Registry::with_prefix("keyward");
    reg.register("build", "The Keyward version serving these metrics", Info::new(vec![("version", crate::VERSION)]));

    // Calls: this process's attempts since it started.
    let live = kw.pipeline().recorder().live();
    reg.register(
        "calls",
        "Attempts sent to providers (a retried call counts each attempt), by provider, operation, caller and \
         outcome; errors are outcome!=\"ok\"",
        live.calls.clone(),
    );
    reg.register("call_weight", "Rate-limit weight the attempts spent, by provider and caller", live.weight.clone());
    reg.register(
        "cost",
        "Cost of the attempts on metered plans, by provider, in the provider's currency",
        live.cost.clone(),
    );
    reg.register(
        "billed_units",
        "What the providers bill for the attempts (calls or credits; 0 for providers that bill nothing), by provider",
        live.units.clone(),
    );
    reg.register_with_unit(
        "call_latency",
        "Time from sending an attempt to its answer, by provider",
        Unit::Seconds,
        live.latency.clone(),
    );
    reg.register_with_unit(
        "limiter_wait",
        "Time calls waited for rate-limit budget before they were sent, by provider",
        Unit::Seconds,
        live.waits.clone(),
    );
    reg.register(
        "limiter_refusals",
        "Calls refused by the limiter (the budget would not free up before their deadline, or the exchange holds \
         the provider back)",
        live.limit_refusals.clone(),
    );

    // Every limit as it stands now.
    let (used, capacity, remaining, queued, blocked) = (
        Family::<LimitLabels, GaugeF>::default(),
        Family::<LimitLabels, GaugeF>::default(),
        Family::<LimitLabels, GaugeF>::default(),
        Family::<LimitLabels, Gauge>::default(),
        Family::<LimitLabels, Gauge>::default(),
    );
    for s in kw.limiter().snapshot() {
        let l = LimitLabels { provider: s.provider.clone(), limit: s.limit_id.clone(), scope_key: s.scope_key.clone() };
        used.get_or_create(&l).set(s.used);
        capacity.get_or_create(&l).set(s.limit);
        remaining.get_or_create(&l).set((s.limit - s.used).max(0.0));
        queued.get_or_create(&l).set(i64::try_from(s.queue_len).unwrap_or(i64::MAX));
        blocked.get_or_create(&l).set(i64::from(s.banned || s.paused_for.is_some()));
    }
    reg.register("limit_used", "Weight (or requests) used in the limit's current window", used);
    reg.register(
        "limit_capacity",
        "The exchange's limit per window (Keyward's safety margin not subtracted)",
        capacity,
    );
    reg.register("limit_remaining", "Weight (or requests) left in the limit's current window", remaining);
    reg.register("limit_queued", "Calls waiting for budget on this limit", queued);
    reg.register(
        "limit_blocked",
        "1 while the exchange pauses (429) or bans (418) the provider on this limit",
        blocked,
    );

    // Provider health: one series per state, 1 for the current one.
    let states = Family::<StateLabels, Gauge>::default();
    let snapshots = kw.monitor().current_states().map_err(|e| MetricsError::Encode(e.to_string()))?;
    for s in &snapshots {
        for state in HealthState::ALL {
            let labels = StateLabels { provider: s.provider.clone(), state: state.as_str().into() };
            states.get_or_create(&labels).set(i64::from(s.state == state));
        }
    }
    reg.register(
        "provider_state",
        "Provider health from the health checks: 1 for the current state (up, degraded, down, maintenance, unknown)",
        states,
    );

    let breakers = Family::<BreakerLabels, Gauge>::default();
    for b in kw.pipeline().breakers().views() {
        let labels =
            BreakerLabels { provider: b.provider.clone(), operation: b.operation.unwrap_or_else(|| "*".into()) };
        breakers.get_or_create(&labels).set(i64::from(b.state == BreakerState::Open));
    }
    reg.register(
        "circuit_breaker_open",
        "1 while a circuit breaker is open (calls fail fast), 0 while half-open; closed breakers are not listed",
        breakers,
    );

    // Gateway bots since the gateway started.
    let (requests, answered, errors, weight, waited) = (
        Family::<BotLabels, Counter>::default(),
        Family::<BotLabels, Counter>::default(),
        Family::<BotLabels, Counter>::default(),
        Family::<BotLabels, Counter>::default(),
        Family::<BotLabels, Counter<f64, AtomicU64>>::default(),
    );
    let refusals = Family::<RefusalLabels, Counter>::default();
    for b in kw.gateway().stats().snapshot() {
        let bot = BotLabels { bot: b.name.clone() };
        requests.get_or_create(&bot).inc_by(b.requests);
        answered.get_or_create(&bot).inc_by(b.answered);
        errors.get_or_create(&bot).inc_by(b.exchange_errors);
        weight.get_or_create(&bot).inc_by(b.weight);
        waited.get_or_create(&bot).inc_by(b.waited_ms as f64 / 1000.0);
        for (reason, n) in &b.refused {
            refusals.get_or_create(&RefusalLabels { bot: b.name.clone(), reason: reason.clone() }).inc_by(*n);
        }
    }
    let gw = reg.sub_registry_with_prefix("gateway");
    gw.register("requests", "Bot requests the gateway sent to the exchange", requests);
    gw.register("answered", "Of those, answered with 2xx", answered);
    gw.register("exchange_errors", "Of those, answered with another status", errors);
    gw.register("weight", "Rate-limit weight the bot's requests spent", weight);
    gw.register_with_unit("wait", "Time the bot's requests waited for budget", Unit::Seconds, waited);
    gw.register(
        "refusals",
        "Bot requests refused before the exchange, by reason (noToken, unknownToken, scope, ip, deadline, …)",
        refusals,
    );

    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).map_err(|e| MetricsError::Encode(e.to_string()))?;
    Ok(out)
}
