//! Rules, dedup, resolve, cooldown, quiet hours, acknowledge, history.

use super::*;

#[test]
fn default_rules_are_written_on_first_run_only() {
    let h = Harness::new();
    let rules = h.alerts.rules().expect("rules");
    let kinds: Vec<&str> = rules.iter().map(|r| r.kind.name()).collect();
    assert_eq!(kinds, RuleKind::NAMES.to_vec(), "one default rule per kind");
    assert!(rules.iter().all(|r| r.enabled && r.cooldown == DEFAULT_COOLDOWN && r.channels.desktop));

    // Deleting a default rule and opening the engine again does not bring it back.
    let down = h.rule_of_kind("provider_down");
    h.alerts.remove_rule(down.id).expect("remove");
    let again = Alerts::new(h.store.clone(), Arc::new(h.clock.clone()), h.secrets.clone()).expect("reopen");
    assert_eq!(again.rules().expect("rules").len(), rules.len() - 1);
    let restored = again.restore_default_rules().expect("restore");
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].kind, RuleKind::ProviderDown { checks: 3 });
}

#[test]
fn provider_down_alerts_after_three_checks_and_not_before() {
    let h = Harness::new();
    assert!(h.handle(down("binance", 1)).is_empty());
    assert!(h.handle(down("binance", 2)).is_empty());
    assert!(h.take_notices().is_empty());

    let out = h.handle(down("binance", 3));
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert_eq!((a.severity, a.state, a.provider.as_str()), (Severity::Critical, AlertState::Active, "binance"));
    assert_eq!(a.rule_kind, "provider_down");
    assert_eq!(a.dedup_key, "state:binance/down");
    assert_eq!(a.title, "binance is down");
    assert!(a.body.contains("3 consecutive checks") && a.body.contains("HTTP 503"), "{}", a.body);

    let notices = h.take_notices();
    assert_eq!(notices.len(), 1);
    assert!(notices[0].notify);
    assert_eq!(notices[0].kind, NoticeKind::Raised);
    assert_eq!(notices[0].summary.worst, Some(Severity::Critical));
    assert_eq!(notices[0].summary.headline.as_deref(), Some("binance is down"));
}

#[test]
fn repeated_down_reports_are_deduplicated_while_the_alert_is_open() {
    let h = Harness::new();
    h.handle(down("binance", 3));
    h.advance_mins(30); // past the cooldown: dedup, not cooldown, is what stops these
    for checks in 4..10 {
        assert!(h.handle(down("binance", checks)).is_empty());
    }
    assert_eq!(h.alerts.list(&AlertFilter::default()).expect("list").len(), 1);
    assert_eq!(h.take_notices().len(), 1);
}

#[test]
fn recovered_resolves_the_down_alert_and_raises_an_info_recovery() {
    let h = Harness::new();
    let down_alert = h.handle(down("kraken", 3)).remove(0);
    h.advance_mins(14);
    h.take_notices();

    let out = h.handle(recovered("kraken"));
    let resolved = h.alerts.alert(down_alert.id).expect("alert");
    assert_eq!(resolved.state, AlertState::Resolved);
    assert_eq!(resolved.resolved_at, Some(h.now()));

    let recovery = out.iter().find(|a| a.rule_kind == "recovered").expect("recovery alert");
    assert_eq!(recovery.severity, Severity::Info);
    assert_eq!(recovery.state, AlertState::Resolved, "a recovery is news, not an open problem");
    assert!(recovery.body.contains("being down") && recovery.body.contains("14 min"), "{}", recovery.body);
    assert!(h.alerts.active().expect("active").is_empty());

    let notices = h.take_notices();
    let kinds: Vec<(NoticeKind, bool)> = notices.iter().map(|n| (n.kind, n.notify)).collect();
    assert!(kinds.contains(&(NoticeKind::Resolved, false)));
    assert!(kinds.contains(&(NoticeKind::Raised, true)));
    assert!(notices.iter().all(|n| n.summary.worst.is_none()), "tray is clear again");

    // A second "up" report finds nothing to resolve and raises nothing.
    assert!(h.handle(state("kraken", ReportedHealth::Up, 1)).is_empty());
}

#[test]
fn up_without_an_open_state_alert_raises_no_recovery() {
    let h = Harness::new();
    assert!(h.handle(down("okx", 1)).is_empty());
    assert!(h.handle(state("okx", ReportedHealth::Up, 1)).is_empty());
    assert!(h.handle(recovered("okx")).is_empty());
    assert!(h.take_notices().is_empty());
}

#[test]
fn degraded_turning_down_resolves_the_degraded_alert() {
    let h = Harness::new();
    let degraded = h.handle(state("bybit", ReportedHealth::Degraded, 3)).remove(0);
    assert_eq!(degraded.severity, Severity::Warning);
    let out = h.handle(down("bybit", 3));
    assert!(out.iter().any(|a| a.id == degraded.id && a.state == AlertState::Resolved));
    assert!(out.iter().any(|a| a.dedup_key == "state:bybit/down" && a.state == AlertState::Active));
    let open = h.alerts.active().expect("active");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].dedup_key, "state:bybit/down");
}

#[test]
fn cooldown_holds_back_notifications_for_a_flapping_provider() {
    let h = Harness::new();
    h.handle(down("kucoin", 3));
    h.advance_mins(2);
    h.handle(recovered("kucoin"));
    h.advance_mins(2);
    h.take_notices();

    // Down again 4 minutes after the first alert: recorded, shown, but no notification.
    let again = h.handle(down("kucoin", 3));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].suppressed, Some(Suppression::Cooldown));
    assert_eq!(again[0].state, AlertState::Active, "still visible in the alert centre");
    let notices = h.take_notices();
    assert_eq!(notices.len(), 1);
    assert!(!notices[0].notify);
    assert_eq!(notices[0].summary.worst, Some(Severity::Critical), "the tray still shows it");

    // The recovery after the repeat is itself inside the recovery rule's cooldown.
    h.advance_mins(1);
    let out = h.handle(recovered("kucoin"));
    let recovery = out.iter().find(|a| a.rule_kind == "recovered").expect("recorded");
    assert_eq!(recovery.suppressed, Some(Suppression::Cooldown));

    // 15 minutes after the last notified alert, a new outage notifies again.
    h.advance_mins(11);
    h.take_notices();
    let later = h.handle(down("kucoin", 3));
    assert_eq!(later[0].suppressed, None);
    assert!(h.take_notices()[0].notify);
}

#[test]
fn quiet_hours_hold_back_non_critical_desktop_notices_but_record_them() {
    let h = Harness::new();
    // 12:00 UTC is inside 11:00–13:00 UTC.
    let quiet = QuietHours::parse("11:00", "13:00", QuietZone::Offset(0)).expect("valid");
    h.alerts.set_quiet_hours(Some(quiet)).expect("set");
    assert_eq!(h.alerts.quiet_hours().expect("read"), Some(quiet));

    let degraded = h.handle(state("gemini", ReportedHealth::Degraded, 3));
    assert_eq!(degraded[0].suppressed, Some(Suppression::QuietHours));
    assert_eq!(h.alerts.alert(degraded[0].id).expect("recorded").state, AlertState::Active);
    let notices = h.take_notices();
    assert_eq!(notices.len(), 1, "the alert centre still hears of it");
    assert!(!notices[0].notify);

    // Critical alerts notify even in quiet hours.
    let critical = h.handle(down("coinbase", 3));
    assert_eq!(critical[0].suppressed, None);
    assert!(h.take_notices()[0].notify);

    // After the window, warnings notify again.
    h.alerts.set_quiet_hours(None).expect("clear");
    assert_eq!(h.alerts.quiet_hours().expect("read"), None);
    let latency = h.handle(AlertInput::Latency { provider: "gemini".into(), ms: 5000 });
    assert_eq!(latency[0].suppressed, None);
}

#[test]
fn acknowledged_alerts_stay_open_but_leave_the_tray() {
    let h = Harness::new();
    let a = h.handle(down("bitstamp", 3)).remove(0);
    h.take_notices();
    h.advance_mins(1);
    let acked = h.alerts.acknowledge(a.id).expect("ack");
    assert_eq!(acked.state, AlertState::Acknowledged);
    assert_eq!(acked.acknowledged_at, Some(h.now()));
    let notice = h.take_notices().remove(0);
    assert_eq!((notice.kind, notice.notify), (NoticeKind::Acknowledged, false));
    assert_eq!(notice.summary, ActiveSummary { worst: None, unacknowledged: 0, open: 1, headline: None });

    // Still open, so still deduplicated, and the recovery still resolves it.
    assert!(h.handle(down("bitstamp", 4)).is_empty());
    h.handle(recovered("bitstamp"));
    let after = h.alerts.alert(a.id).expect("alert");
    assert_eq!(after.state, AlertState::Resolved);
    assert_eq!(after.acknowledged_at, Some(acked.acknowledged_at.expect("acked")));

    let err = h.alerts.acknowledge(9999).expect_err("unknown");
    assert!(matches!(err, AlertError::NotFound { id: 9999, .. }), "{err}");
    assert_eq!(err.kind(), "notFound");
}

#[test]
fn latency_above_the_threshold_alerts_and_falling_back_resolves() {
    let h = Harness::new();
    assert!(h.handle(AlertInput::Latency { provider: "okx".into(), ms: 2000 }).is_empty(), "at the threshold");
    let a = h.handle(AlertInput::Latency { provider: "okx".into(), ms: 2500 }).remove(0);
    assert_eq!(a.title, "okx latency 2500 ms");
    assert!(a.body.contains("2000 ms threshold"), "{}", a.body);
    assert!(h.handle(AlertInput::Latency { provider: "okx".into(), ms: 3000 }).is_empty(), "dedup");
    let out = h.handle(AlertInput::Latency { provider: "okx".into(), ms: 300 });
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].id, out[0].state), (a.id, AlertState::Resolved));

    let e = h.handle(AlertInput::ErrorRate { provider: "okx".into(), percent: 25.0 }).remove(0);
    assert_eq!(e.title, "okx error rate 25.0 %");
    let out = h.handle(AlertInput::ErrorRate { provider: "okx".into(), percent: 1.0 });
    assert_eq!(out[0].state, AlertState::Resolved);
}

#[test]
fn rate_limit_alerts_escalate_and_clear_when_usage_falls() {
    let h = Harness::new();
    let rl = |level, used_pct| AlertInput::RateLimit {
        provider: "binance".into(),
        limit: "REQUEST_WEIGHT".into(),
        level,
        used_pct,
    };
    let warn = h.handle(rl(RateLimitLevel::Warn, 83.0)).remove(0);
    assert_eq!((warn.severity, warn.title.as_str()), (Severity::Warning, "binance REQUEST_WEIGHT at 83 %"));
    let out = h.handle(rl(RateLimitLevel::Critical, 96.0));
    assert!(out.iter().any(|a| a.id == warn.id && a.state == AlertState::Resolved));
    let crit = out.iter().find(|a| a.state == AlertState::Active).expect("critical");
    assert_eq!(crit.severity, Severity::Critical);
    let out = h.handle(rl(RateLimitLevel::Normal, 20.0));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].id, out[0].state), (crit.id, AlertState::Resolved));
    assert!(h.alerts.active().expect("active").is_empty());
}

#[test]
fn a_ban_alert_is_critical_and_resolves_itself_when_the_ban_ends() {
    let h = Harness::new();
    let until = h.now() + chrono::Duration::minutes(10);
    let ban = h.handle(AlertInput::RateLimitBan { provider: "binance".into(), until }).remove(0);
    assert_eq!(ban.severity, Severity::Critical);
    assert_eq!(ban.expires_at, Some(until));
    assert!(ban.body.contains("10 min"), "{}", ban.body);
    h.advance_mins(9);
    assert!(h.alerts.tick(h.now()).expect("tick").is_empty());
    h.advance_mins(1);
    assert!(h.alerts.active().expect("active").is_empty(), "expired alerts are not shown as open");
    let out = h.alerts.tick(h.now()).expect("tick");
    assert_eq!((out.len(), out[0].state), (1, AlertState::Resolved));
    assert_eq!(h.take_notices().last().map(|n| n.kind), Some(NoticeKind::Resolved));
}

#[test]
fn key_expiry_alerts_inside_the_window_escalate_and_a_rotation_resolves_them() {
    let h = Harness::new();
    let expiring = |days: i64| AlertInput::KeyExpiring {
        provider: "kraken".into(),
        label: "main".into(),
        expires_at: h.now() + chrono::Duration::days(days),
    };
    assert!(h.handle(expiring(30)).is_empty(), "outside the 14-day window");
    let soon = h.handle(expiring(5)).remove(0);
    assert_eq!(soon.severity, Severity::Warning);
    assert!(soon.title.starts_with("Key \"main\" for kraken expires in"), "{}", soon.title);

    let expired = h.handle(expiring(0));
    assert!(expired.iter().any(|a| a.id == soon.id && a.state == AlertState::Resolved));
    let open = expired.iter().find(|a| a.state == AlertState::Active).expect("expired alert");
    assert_eq!(open.severity, Severity::Critical);

    // The key was rotated: the vault now reports an expiry far away.
    let out = h.handle(expiring(365));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].id, out[0].state), (open.id, AlertState::Resolved));

    let due = h.handle(AlertInput::RotationDue {
        provider: "kraken".into(),
        label: "main".into(),
        due: h.now() + chrono::Duration::days(3),
    });
    assert_eq!(due[0].severity, Severity::Info);
}

#[test]
fn a_clean_permission_check_resolves_every_risk_of_the_key() {
    let h = Harness::new();
    let risk = |r: Option<&str>| AlertInput::KeyRisk {
        provider: "binance".into(),
        label: "bot".into(),
        risk: r.map(Into::into),
    };
    let a = h.handle(risk(Some("withdrawals enabled"))).remove(0);
    let b = h.handle(risk(Some("no IP restriction"))).remove(0);
    assert_ne!(a.dedup_key, b.dedup_key, "two risks are two alerts");
    assert!(h.handle(risk(Some("withdrawals enabled"))).is_empty());
    let out = h.handle(risk(None));
    let ids: Vec<i64> = out.iter().map(|x| x.id).collect();
    assert_eq!(ids, vec![a.id, b.id]);
}

#[test]
fn a_maintenance_announcement_alerts_once_and_expires_after_the_window() {
    let h = Harness::new();
    let starts_at = h.now() + chrono::Duration::hours(2);
    let ann = || AlertInput::MaintenanceAnnounced {
        provider: "kraken".into(),
        message: "Scheduled maintenance @everyone".into(),
        starts_at: Some(starts_at),
    };
    let a = h.handle(ann()).remove(0);
    assert_eq!(a.severity, Severity::Info);
    assert!(a.body.contains("2026-03-02 14:00 UTC"), "{}", a.body);
    assert!(h.handle(ann()).is_empty());
    assert_eq!(a.expires_at, Some(starts_at + chrono::Duration::hours(ANNOUNCEMENT_TTL_HOURS)));
}

#[test]
fn a_provider_filter_limits_a_rule_to_its_providers() {
    let h = Harness::new();
    let mut rule = NewRule::from(h.rule_of_kind("provider_down"));
    rule.providers = ProviderFilter::Only(vec!["binance".into()]);
    let id = h.rule_of_kind("provider_down").id;
    h.alerts.update_rule(id, rule).expect("update");
    assert!(h.handle(down("kraken", 5)).is_empty());
    assert_eq!(h.handle(down("binance", 5)).len(), 1);
}

#[test]
fn a_severity_override_and_a_custom_threshold_apply() {
    let h = Harness::new();
    let mut rule = NewRule::new("Binance slow (page me)", RuleKind::LatencyAbove { ms: 500 });
    rule.severity = Some(Severity::Critical);
    rule.providers = ProviderFilter::Only(vec!["binance".into()]);
    rule.cooldown = std::time::Duration::from_secs(60);
    let added = h.alerts.add_rule(rule).expect("add");
    assert_eq!(added.cooldown.as_secs(), 60);
    let out = h.handle(AlertInput::Latency { provider: "binance".into(), ms: 800 });
    assert_eq!(out.len(), 1, "only the custom rule (500 ms); the default needs 2000 ms");
    assert_eq!((out[0].rule_id, out[0].severity), (Some(added.id), Severity::Critical));
}

#[test]
fn disabling_a_rule_resolves_its_open_alerts() {
    let h = Harness::new();
    let a = h.handle(down("binance", 3)).remove(0);
    let rule = h.rule_of_kind("provider_down");
    let updated = h.alerts.set_rule_enabled(rule.id, false).expect("disable");
    assert!(!updated.enabled);
    assert_eq!(h.alerts.alert(a.id).expect("alert").state, AlertState::Resolved);
    assert!(h.handle(down("binance", 9)).is_empty());
}

#[test]
fn invalid_rules_are_refused_with_the_offending_value() {
    let h = Harness::new();
    let mut rule = NewRule::new("to nowhere", RuleKind::Recovered);
    rule.channels.webhooks = vec![42];
    let err = h.alerts.add_rule(rule).expect_err("unknown webhook");
    assert!(err.to_string().contains("id 42"), "{err}");
    let err = h.alerts.add_rule(NewRule::new("x", RuleKind::ProviderDown { checks: 0 })).expect_err("zero");
    assert!(err.to_string().contains("checks = 0"), "{err}");
    assert_eq!(err.kind(), "invalid");
}

#[test]
fn history_lists_newest_first_and_filters_by_provider_state_and_severity() {
    let h = Harness::new();
    h.handle(down("binance", 3));
    h.advance_mins(1);
    h.handle(state("kraken", ReportedHealth::Degraded, 3));
    h.advance_mins(1);
    h.handle(recovered("binance"));

    let all = h.alerts.list(&AlertFilter { limit: 0, ..Default::default() }).expect("list");
    let titles: Vec<&str> = all.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(titles, vec!["binance recovered", "kraken is degraded", "binance is down"]);

    let binance = h.alerts.list(&AlertFilter { provider: Some("binance".into()), ..Default::default() }).expect("list");
    assert_eq!(binance.len(), 2);
    let warn_up =
        h.alerts.list(&AlertFilter { min_severity: Some(Severity::Warning), ..Default::default() }).expect("list");
    assert_eq!(warn_up.len(), 2);
    let open = h.alerts.list(&AlertFilter { states: vec![AlertState::Active], ..Default::default() }).expect("list");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].provider, "kraken");
}

#[test]
fn the_intake_thread_handles_inputs_without_blocking_the_sender() {
    let h = Harness::new();
    let sender = h.alerts.start_intake();
    for checks in 1..=4 {
        sender.send(down("binance", checks));
    }
    sender.flush();
    let open = h.alerts.active().expect("active");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].ts, h.now(), "evaluated at the engine clock");
}

#[test]
fn pruning_drops_old_resolved_alerts_but_keeps_open_ones() {
    let h = Harness::new();
    let old_open = h.handle(down("binance", 3)).remove(0);
    let old_resolved = h.handle(AlertInput::Latency { provider: "okx".into(), ms: 9000 }).remove(0);
    h.handle(AlertInput::Latency { provider: "okx".into(), ms: 10 });
    h.advance_mins(60 * 24 * 100);
    let (alerts, _) = h.alerts.prune(h.now() - chrono::Duration::days(HISTORY_DAYS)).expect("prune");
    assert_eq!(alerts, 1);
    assert!(h.alerts.alert(old_resolved.id).is_err());
    assert_eq!(h.alerts.alert(old_open.id).expect("kept").state, AlertState::Active);
}

#[test]
fn a_default_rule_added_later_is_written_once_to_an_older_database() {
    let h = Harness::new();
    // A database from before the breaker rule: seeded, without the list of seeded kinds.
    let breaker = h.rule_of_kind("circuit_open");
    h.alerts.remove_rule(breaker.id).expect("remove");
    h.store
        .with_conn(|c| Ok(c.execute("DELETE FROM settings WHERE key = ?1", [DEFAULT_KINDS_KEY]).map(|_| ())?))
        .expect("forget the list");
    let upgraded = Alerts::new(h.store.clone(), Arc::new(h.clock.clone()), h.secrets.clone()).expect("reopen");
    let kinds: Vec<&str> = upgraded.rules().expect("rules").iter().map(|r| r.kind.name()).collect();
    assert!(kinds.contains(&"circuit_open"), "{kinds:?}");
    assert_eq!(upgraded.rules().expect("rules").len(), RuleKind::NAMES.len());
    // Deleted again by the user, it stays deleted.
    let id = upgraded.rules().expect("rules").into_iter().find(|r| r.kind == RuleKind::CircuitOpen).expect("rule").id;
    upgraded.remove_rule(id).expect("remove");
    let again = Alerts::new(h.store.clone(), Arc::new(h.clock.clone()), h.secrets.clone()).expect("reopen");
    assert!(again.rules().expect("rules").iter().all(|r| r.kind != RuleKind::CircuitOpen));
}

#[test]
fn an_open_breaker_raises_one_alert_and_closing_it_resolves_it() {
    let h = Harness::new();
    let open = |until_mins: i64| AlertInput::CircuitBreaker {
        provider: "binance".into(),
        operation: None,
        open: true,
        until: Some(h.now() + chrono::Duration::minutes(until_mins)),
        reason: "5 failures in a row: HTTP 503".into(),
    };
    let raised = h.handle(open(1));
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].title, "Calls to binance stopped: circuit breaker open");
    assert!(raised[0].body.contains("after 5 failures in a row: HTTP 503"), "{}", raised[0].body);
    assert!(h.handle(open(2)).is_empty(), "reopening while the alert is open raises nothing new");
    let closed = AlertInput::CircuitBreaker {
        provider: "binance".into(),
        operation: None,
        open: false,
        until: None,
        reason: String::new(),
    };
    h.handle(closed);
    assert!(h.alerts.active().expect("active").is_empty(), "closing resolves it");
}

#[test]
fn the_incoming_rule_is_written_once_to_a_database_from_before_it() {
    let h = Harness::new();
    let incoming = h.rule_of_kind("incoming");
    h.alerts.remove_rule(incoming.id).expect("remove");
    // The list of seeded kinds as a build before incoming hooks wrote it.
    let before: Vec<&str> = RuleKind::NAMES.iter().copied().filter(|k| *k != "incoming").collect();
    h.store
        .with_conn(|c| {
            let list = serde_json::to_string(&before).unwrap_or_default();
            Ok(c.execute("UPDATE settings SET value = ?1 WHERE key = ?2", [list.as_str(), DEFAULT_KINDS_KEY])
                .map(|_| ())?)
        })
        .expect("an older list");
    let upgraded = Alerts::new(h.store.clone(), Arc::new(h.clock.clone()), h.secrets.clone()).expect("reopen");
    let rules = upgraded.rules().expect("rules");
    assert_eq!(rules.iter().filter(|r| r.kind == RuleKind::Incoming).count(), 1);
    assert_eq!(rules.len(), RuleKind::NAMES.len(), "no other default is written twice");
    let reported = |resolved: bool| AlertInput::Incoming {
        origin: "hook ops".into(),
        subject: "report 1".into(),
        provider: String::new(),
        title: "Grid bot stopped".into(),
        message: String::new(),
        severity: Severity::Critical,
        resolved,
    };
    let raised = upgraded.handle(&reported(false), h.now()).expect("handled");
    assert_eq!(raised.len(), 1);
    assert_eq!((raised[0].title.as_str(), raised[0].body.as_str()), ("Grid bot stopped", "Reported by hook ops."));
    let resolved = upgraded.handle(&reported(true), h.now()).expect("handled");
    assert!(resolved.iter().all(|a| a.resolved_at.is_some()) && resolved.len() == 1, "{resolved:?}");
}

#[test]
fn the_usage_anomaly_rule_reaches_an_older_database_once_and_keeps_keys_and_kinds_apart() {
    let h = Harness::new();
    let rule = h.rule_of_kind("usage_anomaly");
    h.alerts.remove_rule(rule.id).expect("remove");
    let before: Vec<&str> = RuleKind::NAMES.iter().copied().filter(|k| *k != "usage_anomaly").collect();
    h.store
        .with_conn(|c| {
            let list = serde_json::to_string(&before).unwrap_or_default();
            Ok(c.execute("UPDATE settings SET value = ?1 WHERE key = ?2", [list.as_str(), DEFAULT_KINDS_KEY])
                .map(|_| ())?)
        })
        .expect("an older list");
    let upgraded = Alerts::new(h.store.clone(), Arc::new(h.clock.clone()), h.secrets.clone()).expect("reopen");
    assert_eq!(upgraded.rules().expect("rules").iter().filter(|r| r.kind == RuleKind::UsageAnomaly).count(), 1);

    let anomaly = |kind: &str, key: Option<&str>| AlertInput::UsageAnomaly {
        provider: "binance".into(),
        kind: kind.into(),
        operation: "place_order".into(),
        key: key.map(str::to_string),
        message: "Key \"a\" traded on binance (place_order, 2 calls) 03:00–04:00 UTC on 2026-03-02.".into(),
    };
    let raised = upgraded.handle(&anomaly("unusual_trading_hour", Some("a")), h.now()).expect("handled");
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].title, "Trading at an unusual hour: binance place_order");
    assert_eq!(raised[0].expires_at, Some(h.now() + chrono::Duration::hours(ANOMALY_TTL_HOURS)));
    assert!(upgraded.handle(&anomaly("unusual_trading_hour", Some("a")), h.now()).expect("again").is_empty());
    // Another key, no key, or another kind of anomaly on the same endpoint is its own alert.
    for (kind, key) in [("unusual_trading_hour", Some("b")), ("unusual_trading_hour", None), ("calls_spike", Some("a"))]
    {
        assert_eq!(upgraded.handle(&anomaly(kind, key), h.now()).expect("handled").len(), 1, "{kind} {key:?}");
    }
    let new_endpoint = upgraded.handle(&anomaly("new_endpoint", Some("a")), h.now()).expect("handled");
    assert_eq!(new_endpoint[0].severity, Severity::Info, "a new endpoint is news, not a warning");
}
