//! `--json` prints the same views the desktop pages show: each output parses as the core's view
//! type and equals the core's view of the same data (the desktop commands return those views).

use std::sync::Arc;

use keyward::alerts::{RuleView, WebhookView};
use keyward::audit::{AuditFilter, AuditRowView};
use keyward::gateway::GatewayTokenView;
use keyward::provider::ProviderView;
use keyward::usage::{GroupBy, UsageRange, UsageSummary};
use keyward::vault::{MemoryStore, VaultStatus};
use keyward::Keyward;
use serde::de::DeserializeOwned;

use crate::support::{keyward, stderr, stdout};

fn view<T: DeserializeOwned>(data: &std::path::Path, args: &[&str]) -> T {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = keyward(data, &all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{args:?} is not the view ({e}): {}", stdout(&out)))
}

fn ok(data: &std::path::Path, args: &[&str]) {
    let out = keyward(data, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

#[test]
fn cli_json_is_the_views_the_desktop_shows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    ok(data, &["provider", "enable", "kraken"]);
    ok(data, &["alerts", "add-webhook", "--name", "desk", "--url", "https://hooks.example.test/keyward"]);
    ok(data, &["gateway", "token", "add", "--name", "ticker-bot", "--provider", "binance", "--scopes", "market"]);

    let providers: Vec<ProviderView> = view(data, &["provider", "list"]);
    let rules: Vec<RuleView> = view(data, &["alerts", "rules"]);
    let hooks: Vec<WebhookView> = view(data, &["alerts", "webhooks"]);
    let tokens: Vec<GatewayTokenView> = view(data, &["gateway", "token", "list"]);
    let rows: Vec<AuditRowView> = view(data, &["audit", "list"]);
    let usage: UsageSummary = view(data, &["usage", "--since", "7d", "--by", "caller"]);
    let vault: serde_json::Value = view(data, &["vault", "status"]);

    let kw = Keyward::open_with_secrets(data, Arc::new(MemoryStore::new())).expect("core opens");
    let core_providers: Vec<ProviderView> =
        kw.providers().list().expect("providers").iter().map(ProviderView::from).collect();
    assert_eq!(providers, core_providers);
    assert!(providers.iter().any(|p| p.id == "kraken" && p.enabled && p.origin == "preset"), "{providers:?}");
    let core_rules: Vec<RuleView> = kw.alerts().rules().expect("rules").iter().map(RuleView::from).collect();
    assert_eq!(rules, core_rules);
    assert!(rules.iter().all(|r| !r.condition.is_empty()), "rules say what fires them: {rules:?}");
    assert_eq!(hooks, kw.alerts().webhook_views().expect("webhooks"));
    assert_eq!(hooks[0].url, "https://hooks.example.test/keyward");
    let core_tokens: Vec<GatewayTokenView> =
        kw.gateway().tokens().list().expect("tokens").iter().map(GatewayTokenView::from).collect();
    assert_eq!(tokens, core_tokens);
    assert_eq!(tokens[0].scopes, vec!["market".to_string()]);
    let core_rows: Vec<AuditRowView> = kw
        .audit()
        .list(&AuditFilter { limit: Some(100), ..Default::default() })
        .expect("audit")
        .iter()
        .map(AuditRowView::from)
        .collect();
    assert_eq!(rows, core_rows);
    assert!(rows.iter().any(|r| r.event == "provider_changed" && r.detail["action"] == "enabled"), "{rows:?}");
    let core_usage = kw.usage_table(UsageRange::Week, GroupBy::Caller, None).expect("usage");
    assert_eq!((usage.range.as_str(), usage.group_by.as_str()), ("7d", "caller"));
    assert_eq!((usage.rows, usage.totals), (core_usage.rows, core_usage.totals));
    // The vault status is the Settings page's, plus what a running Keyward says (none here).
    let local: VaultStatus = serde_json::from_value(vault.clone()).expect("a VaultStatus");
    assert_eq!(local.data_dir, data.display().to_string());
    assert_eq!(vault["running"], serde_json::Value::Null);
}
