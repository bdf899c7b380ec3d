//! Alerts page commands. Thin: arguments in, one core call, DTO out.

use keyward::alerts::{
    AlertFilter, AlertState, AlertView, DeliveryResultView, NewRule, NewWebhook, RuleView, WebhookFormat, WebhookView,
};
use keyward::hooks::{HookAuth, HookDeliveryView, HookView, IssuedHookView, NewHook};
use keyward::vault::SecretString;
use keyward::ErrorKind;
use tauri::State;

use crate::commands::blocking;
use crate::dto::alerts::AlertCentreDto;
use crate::dto::CommandError;
use crate::AppState;

/// How many resolved alerts the alert centre shows.
const HISTORY_LIMIT: u32 = 100;

/// Open alerts (newest first) and the resolved history below them.
#[tauri::command]
pub async fn alerts_list(state: State<'_, AppState>) -> Result<AlertCentreDto, CommandError> {
    blocking(&state, |kw| {
        let history = AlertFilter { states: vec![AlertState::Resolved], limit: HISTORY_LIMIT, ..Default::default() };
        Ok(AlertCentreDto {
            open: kw.alerts().active()?.iter().map(AlertView::from).collect(),
            history: kw.alerts().list(&history)?.iter().map(AlertView::from).collect(),
        })
    })
    .await
}

#[tauri::command]
pub async fn alert_ack(state: State<'_, AppState>, id: i64) -> Result<AlertView, CommandError> {
    blocking(&state, move |kw| Ok(AlertView::from(&kw.alerts().acknowledge(id)?))).await
}

#[tauri::command]
pub async fn alert_rules(state: State<'_, AppState>) -> Result<Vec<RuleView>, CommandError> {
    blocking(&state, |kw| Ok(kw.alerts().rules()?.iter().map(RuleView::from).collect())).await
}

#[tauri::command]
pub async fn alert_rule_set_enabled(
    state: State<'_, AppState>,
    id: i64,
    enabled: bool,
) -> Result<RuleView, CommandError> {
    blocking(&state, move |kw| Ok(RuleView::from(&kw.alerts().set_rule_enabled(id, enabled)?))).await
}

/// Adds back the default rules whose kind has no rule; returns every rule.
#[tauri::command]
pub async fn alert_rules_restore(state: State<'_, AppState>) -> Result<Vec<RuleView>, CommandError> {
    blocking(&state, |kw| {
        kw.alerts().restore_default_rules()?;
        Ok(kw.alerts().rules()?.iter().map(RuleView::from).collect())
    })
    .await
}

/// Chooses which webhooks a rule's alerts are sent to.
#[tauri::command]
pub async fn alert_rule_set_webhooks(
    state: State<'_, AppState>,
    id: i64,
    webhooks: Vec<i64>,
) -> Result<RuleView, CommandError> {
    blocking(&state, move |kw| {
        let mut rule = NewRule::from(kw.alerts().rule(id)?);
        rule.channels.webhooks = webhooks;
        Ok(RuleView::from(&kw.alerts().update_rule(id, rule)?))
    })
    .await
}

#[tauri::command]
pub async fn webhooks_list(state: State<'_, AppState>) -> Result<Vec<WebhookView>, CommandError> {
    blocking(&state, |kw| Ok(kw.alerts().webhook_views()?)).await
}

/// Adds a webhook; the secret (optional) goes to the credential store, never to SQLite.
#[tauri::command]
pub async fn webhook_add(
    state: State<'_, AppState>,
    name: String,
    url: String,
    format: String,
    secret: Option<String>,
) -> Result<WebhookView, CommandError> {
    blocking(&state, move |kw| {
        let format = WebhookFormat::parse(&format).ok_or_else(|| {
            CommandError::new(ErrorKind::Invalid, format!("webhook format \"{format}\" is not json, slack or discord"))
        })?;
        let secret = secret.filter(|s| !s.is_empty()).map(SecretString::from);
        let hook = kw.alerts().add_webhook(NewWebhook { name, url, format, secret, allow_insecure_http: false })?;
        Ok(kw.alerts().webhook_view(hook.id)?)
    })
    .await
}

/// Sends the test payload once and says how it went (the attempt is recorded too).
#[tauri::command]
pub async fn webhook_test(state: State<'_, AppState>, id: i64) -> Result<DeliveryResultView, CommandError> {
    let kw = state.core()?;
    Ok(DeliveryResultView::from(&kw.alerts().test_webhook(id).await?))
}

#[tauri::command]
pub async fn webhook_remove(state: State<'_, AppState>, id: i64) -> Result<(), CommandError> {
    blocking(&state, move |kw| {
        kw.alerts().remove_webhook(id)?;
        Ok(())
    })
    .await
}

/// Incoming hooks with their URLs (no secrets).
#[tauri::command]
pub async fn hooks_list(state: State<'_, AppState>) -> Result<Vec<HookView>, CommandError> {
    blocking(&state, |kw| Ok(kw.hook_views()?)).await
}

/// Creates an incoming hook; its secret is in the answer this once. `auth`: "signature" or
/// "urlSecret".
#[tauri::command]
pub async fn hook_add(
    state: State<'_, AppState>,
    name: String,
    provider: Option<String>,
    auth: String,
) -> Result<IssuedHookView, CommandError> {
    blocking(&state, move |kw| {
        let auth = HookAuth::parse(&auth).ok_or_else(|| {
            CommandError::new(ErrorKind::Invalid, format!("hook auth \"{auth}\" is not signature or urlSecret"))
        })?;
        let provider = provider.filter(|p| !p.trim().is_empty());
        Ok(kw.add_hook(&NewHook { name, provider, auth })?)
    })
    .await
}

#[tauri::command]
pub async fn hook_remove(state: State<'_, AppState>, id: String) -> Result<(), CommandError> {
    blocking(&state, move |kw| {
        kw.hooks().remove(&id)?;
        Ok(())
    })
    .await
}

/// The newest deliveries to every hook, with what each became or why it was refused.
#[tauri::command]
pub async fn hook_deliveries(state: State<'_, AppState>) -> Result<Vec<HookDeliveryView>, CommandError> {
    blocking(&state, |kw| Ok(kw.hook_deliveries(None)?)).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tauri::test::MockRuntime;
    use tauri::WebviewWindow;

    use crate::test_support::{self, invoke};

    fn boot() -> (tempfile::TempDir, tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
        let (dir, core) = test_support::core();
        let (app, webview) = test_support::boot(core);
        (dir, app, webview)
    }

    #[test]
    fn a_new_database_has_an_empty_alert_centre_and_the_default_rules() {
        let (_dir, _app, webview) = boot();
        assert_eq!(
            invoke(&webview, "alerts_list", json!({})).expect("alerts_list"),
            json!({"open": [], "history": []})
        );
        let rules = invoke(&webview, "alert_rules", json!({})).expect("alert_rules");
        let down = rules
            .as_array()
            .and_then(|r| r.iter().find(|r| r["kind"] == "provider_down"))
            .cloned()
            .expect("a provider_down rule");
        assert_eq!(down["condition"], "down for 3 consecutive checks");
        assert_eq!(down["enabled"], true);

        let off =
            invoke(&webview, "alert_rule_set_enabled", json!({"id": down["id"], "enabled": false})).expect("toggle");
        assert_eq!(off["enabled"], false);
        let err = invoke(&webview, "alert_ack", json!({"id": 999})).expect_err("no such alert");
        assert_eq!(err["kind"], "notFound");
    }

    #[test]
    fn webhooks_are_added_routed_tested_and_removed_without_their_secret_coming_back() {
        let (_dir, _app, webview) = boot();
        let hook = invoke(
            &webview,
            "webhook_add",
            json!({"name": "ops", "url": "http://127.0.0.1:9/hook", "format": "json", "secret": "s3cret-value"}),
        )
        .expect("webhook_add");
        assert_eq!(hook["hasSecret"], true);
        assert_eq!(hook["format"], "json");
        assert!(!hook.to_string().contains("s3cret-value"), "the secret never comes back: {hook}");

        let dup =
            invoke(&webview, "webhook_add", json!({"name": "ops", "url": "https://example.com", "format": "json"}))
                .expect_err("same name");
        assert_eq!(dup["kind"], "invalid");
        assert!(dup["message"].as_str().unwrap_or_default().contains("\"ops\""), "{dup}");
        let bad =
            invoke(&webview, "webhook_add", json!({"name": "x", "url": "https://example.com", "format": "teams"}))
                .expect_err("unknown format");
        assert!(bad["message"].as_str().unwrap_or_default().contains("\"teams\""), "{bad}");

        let rules = invoke(&webview, "alert_rules", json!({})).expect("rules");
        let rule_id = rules[0]["id"].clone();
        let routed = invoke(&webview, "alert_rule_set_webhooks", json!({"id": rule_id, "webhooks": [hook["id"]]}))
            .expect("route");
        assert_eq!(routed["webhooks"], json!([hook["id"]]));

        // Nothing listens on port 9: the test delivery fails and says why.
        let result = invoke(&webview, "webhook_test", json!({"id": hook["id"]})).expect("webhook_test");
        assert_eq!(result["delivered"], false);
        assert!(result["error"].is_string(), "{result}");
        let listed = invoke(&webview, "webhooks_list", json!({})).expect("webhooks_list");
        assert_eq!(listed[0]["lastDelivery"]["status"], "failed");

        invoke(&webview, "webhook_remove", json!({"id": hook["id"]})).expect("webhook_remove");
        assert_eq!(invoke(&webview, "webhooks_list", json!({})).expect("webhooks_list"), json!([]));
    }

    #[test]
    fn hooks_are_created_with_their_secret_once_listed_and_removed() {
        let (_dir, _app, webview) = boot();
        let issued =
            invoke(&webview, "hook_add", json!({"name": "kraken-status", "provider": "kraken", "auth": "urlSecret"}))
                .expect("hook_add");
        let secret = issued["secret"].as_str().expect("the secret, once").to_string();
        assert!(issued["sendUrl"].as_str().is_some_and(|u| u.ends_with(&format!("?secret={secret}"))), "{issued}");
        let listed = invoke(&webview, "hooks_list", json!({})).expect("hooks_list");
        assert_eq!(listed, json!([issued["hook"]]));
        assert!(!listed.to_string().contains(&secret), "the list never shows the secret");
        let bad = invoke(&webview, "hook_add", json!({"name": "x", "auth": "carrier-pigeon"})).expect_err("bad auth");
        assert!(bad["message"].as_str().unwrap_or_default().contains("\"carrier-pigeon\""), "{bad}");
        assert_eq!(invoke(&webview, "hook_deliveries", json!({})).expect("deliveries"), json!([]));
        invoke(&webview, "hook_remove", json!({"id": issued["hook"]["id"]})).expect("hook_remove");
        assert_eq!(invoke(&webview, "hooks_list", json!({})).expect("hooks_list"), json!([]));
    }
}
