//! Settings page, Prometheus metrics card: who may scrape `/metrics`, its URL and a ready
//! scrape config. Thin: one core call each. A token's text is returned once, never logged.

use keyward::metrics::{MetricsAccess, MetricsAccessChange, MetricsSettings, MetricsView};
use tauri::State;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::AppState;

/// The access mode, the URL and a scrape config.
#[tauri::command]
pub async fn metrics_status(state: State<'_, AppState>) -> Result<MetricsView, CommandError> {
    blocking(&state, |kw| Ok(MetricsSettings::new(kw.store().clone()).view(&kw.gateway().local_base_url())?)).await
}

/// Sets `loopback` or `token`; the reply holds a new token's text when one was made.
#[tauri::command]
pub async fn metrics_set_access(
    state: State<'_, AppState>,
    access: String,
) -> Result<MetricsAccessChange, CommandError> {
    blocking(&state, move |kw| {
        let settings = MetricsSettings::new(kw.store().clone());
        let made = settings.set_access(MetricsAccess::parse(&access)?)?;
        Ok(settings.change(&kw.gateway().local_base_url(), made)?)
    })
    .await
}

/// A new token (token access); the old one stops working at once.
#[tauri::command]
pub async fn metrics_rotate_token(state: State<'_, AppState>) -> Result<MetricsAccessChange, CommandError> {
    blocking(&state, |kw| {
        let settings = MetricsSettings::new(kw.store().clone());
        let made = settings.rotate_token()?;
        Ok(settings.change(&kw.gateway().local_base_url(), Some(made))?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_support::{boot, core, invoke};

    #[test]
    fn the_metrics_card_switches_to_token_access_shows_the_token_once_and_back() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw);
        let shown = invoke(&webview, "metrics_status", json!({})).expect("metrics_status");
        assert_eq!(shown["access"], "loopback");
        assert!(shown["url"].as_str().unwrap_or_default().ends_with("/metrics"), "{shown}");
        assert!(shown["scrapeConfig"].as_str().unwrap_or_default().contains("job_name: keyward"), "{shown}");

        let made = invoke(&webview, "metrics_set_access", json!({"access": "token"})).expect("token access");
        let token = made["token"].as_str().expect("the token, once").to_string();
        assert!(token.starts_with("kwm_"));
        let again = invoke(&webview, "metrics_status", json!({})).expect("metrics_status");
        assert_eq!(again["access"], "token");
        assert!(again.get("token").is_none(), "the status never holds the token: {again}");
        let rotated = invoke(&webview, "metrics_rotate_token", json!({})).expect("rotate");
        assert_ne!(rotated["token"].as_str().expect("new token"), token);

        let err = invoke(&webview, "metrics_set_access", json!({"access": "open"})).expect_err("open");
        assert_eq!(err["kind"], "invalid");
        assert!(err["message"].as_str().unwrap_or_default().contains("\"open\""), "{err}");
        let back = invoke(&webview, "metrics_set_access", json!({"access": "loopback"})).expect("loopback");
        assert_eq!(back["access"], "loopback");
        assert_eq!(back["token"], serde_json::Value::Null);
        let err = invoke(&webview, "metrics_rotate_token", json!({})).expect_err("no token mode");
        assert!(err["message"].as_str().unwrap_or_default().contains("token access first"), "{err}");
    }
}
