//! Providers page commands: the catalog, settings, import and "Test connection".

use std::time::Instant;

use keyward::pipeline::{CallOptions, CallRequest};
use keyward::provider::ProviderView;
use keyward::Keyward;
use tauri::State;

use crate::commands::blocking;
use crate::dto::providers::{self as pdto, CheckDto, ProviderDetailDto, SettingsChangeDto};
use crate::dto::CommandError;
use crate::AppState;

fn detail(kw: &Keyward, id: &str) -> Result<ProviderDetailDto, CommandError> {
    let entry = kw.providers().get(id)?;
    Ok(pdto::detail(&entry, kw.providers().export_toml(id)?))
}

#[tauri::command]
pub async fn providers_list(state: State<'_, AppState>) -> Result<Vec<ProviderView>, CommandError> {
    blocking(&state, |kw| Ok(kw.providers().list()?.iter().map(ProviderView::from).collect())).await
}

#[tauri::command]
pub async fn provider_get(state: State<'_, AppState>, id: String) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| detail(&kw, &id)).await
}

/// Saves the Providers form: a typed change, applied and validated by the core in one write.
/// `confirmed` is the user's yes to a change that removes every rate limit.
#[tauri::command]
pub async fn provider_apply_settings(
    state: State<'_, AppState>,
    id: String,
    change: SettingsChangeDto,
    confirmed: Option<bool>,
) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        let change = change.to_change(&id)?;
        kw.providers().apply_settings(&id, &change, confirmed.unwrap_or(false).into())?;
        detail(&kw, &id)
    })
    .await
}

#[tauri::command]
pub async fn provider_reset(state: State<'_, AppState>, id: String) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        kw.providers().reset(&id)?;
        detail(&kw, &id)
    })
    .await
}

#[tauri::command]
pub async fn provider_remove(state: State<'_, AppState>, id: String) -> Result<(), CommandError> {
    blocking(&state, move |kw| Ok(kw.providers().remove(&id)?)).await
}

#[tauri::command]
pub async fn provider_set_enabled(
    state: State<'_, AppState>,
    id: String,
    enabled: bool,
) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        kw.providers().set_enabled(&id, enabled)?;
        detail(&kw, &id)
    })
    .await
}

#[tauri::command]
pub async fn provider_set_environment(
    state: State<'_, AppState>,
    id: String,
    environment: String,
) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        kw.providers().set_environment(&id, &environment)?;
        detail(&kw, &id)
    })
    .await
}

/// Adds a custom provider, or overrides a preset, from TOML text.
#[tauri::command]
pub async fn provider_import(
    state: State<'_, AppState>,
    toml: String,
    confirmed: Option<bool>,
) -> Result<ProviderDetailDto, CommandError> {
    blocking(&state, move |kw| {
        let spec = kw.providers().import_toml_with(&toml, confirmed.unwrap_or(false).into())?;
        detail(&kw, &spec.id)
    })
    .await
}

/// "Test connection": server_time and system_status through the pipeline.
#[tauri::command]
pub async fn provider_test(state: State<'_, AppState>, id: String) -> Result<Vec<CheckDto>, CommandError> {
    let kw = state.core()?;
    let entry = blocking(&state, {
        let id = id.clone();
        move |kw| Ok(kw.providers().get(&id)?)
    })
    .await?;
    let mut checks = Vec::new();
    for op in ["server_time", "system_status"].into_iter().filter(|op| entry.spec.endpoints.contains_key(*op)) {
        let started = Instant::now();
        let result = kw
            .pipeline()
            .call(CallRequest {
                provider: id.clone(),
                operation: op.to_string(),
                params: Default::default(),
                options: CallOptions { caller: keyward::caller::Caller::UI, no_cache: true, ..Default::default() },
            })
            .await;
        checks.push(pdto::check(op, result, started.elapsed().as_millis() as u64));
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use keyward::audit::{AuditFilter, AuditKind};
    use serde_json::json;

    use crate::test_support::{boot, core, invoke};

    #[test]
    fn saving_the_form_applies_typed_settings_and_a_name_of_digits_stays_text() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw.clone());
        let change = json!({
            "name": "123",
            "timeoutMs": 2500,
            "authRecvWindowMs": null,
            "baseUrls": {"production": "http://127.0.0.1:9"},
            "endpoints": {"ticker": {"weight": 3, "class": "read"}},
        });
        let detail =
            invoke(&webview, "provider_apply_settings", json!({"id": "binance", "change": change})).expect("saved");
        assert_eq!(detail["settings"]["name"], "123", "the name is text, not the number 123");
        assert_eq!(detail["settings"]["timeoutMs"], 2500);
        assert_eq!(detail["settings"]["authRecvWindowMs"], json!(null), "null cleared the receive window");
        assert_eq!(detail["summary"]["origin"], "modified");
        let production = &detail["summary"]["environments"].as_array().expect("environments")[0];
        assert_eq!(production["baseUrl"], "http://127.0.0.1:9");
        let ticker =
            detail["settings"]["endpoints"].as_array().expect("endpoints").iter().find(|e| e["operation"] == "ticker");
        assert_eq!(ticker.expect("ticker")["weight"], 3);
        assert!(detail["toml"].as_str().expect("toml").contains("name = \"123\""), "{}", detail["toml"]);
        assert_eq!(
            detail["settings"]["retryMaxAttempts"],
            json!(kw.providers().preset("binance").expect("preset").retry.max_attempts),
            "an omitted field stays as it was"
        );

        let filter = AuditFilter { event: Some(AuditKind::ProviderChanged), ..Default::default() };
        let rows = kw.audit().list(&filter).expect("audit");
        assert_eq!(rows[0].detail["action"], "set");
        assert_eq!(
            rows[0].detail["fields"],
            json!([
                "name",
                "timeout_ms",
                "auth.recv_window_ms",
                "environments.production.base_url",
                "endpoints.ticker.weight",
                "endpoints.ticker.class"
            ])
        );
    }

    #[test]
    fn a_value_that_does_not_fit_is_refused_naming_the_field_and_the_value() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw.clone());
        let save = |change: serde_json::Value| {
            invoke(&webview, "provider_apply_settings", json!({"id": "binance", "change": change}))
                .expect_err("refused")
        };
        let err = save(json!({"timeoutMs": -5, "endpoints": {"ticker": {"weight": 1.5}}}));
        assert_eq!(err["kind"], "invalidSpec");
        let message = err["message"].as_str().expect("message");
        assert!(message.contains("timeout_ms -5 is not a whole number"), "{message}");
        assert!(message.contains("endpoints.ticker.weight 1.5 is not a whole number"), "{message}");
        let err = save(json!({"baseUrls": {"production": "htp://x"}}));
        assert!(
            err["message"].as_str().expect("message").contains("environments.production.base_url \"htp://x\""),
            "{err}"
        );
        let err = save(json!({"authScheme": "hmac"}));
        assert!(err["message"].as_str().expect("message").contains("auth.scheme \"hmac\""), "{err}");
        assert_eq!(kw.providers().get("binance").expect("binance").origin, keyward::provider::Origin::Preset);
    }
}
