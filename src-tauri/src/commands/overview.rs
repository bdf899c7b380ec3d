//! The dashboard, the setup guide, the rate-limit settings and "start when I log in". Thin:
//! one core call each (the autostart entry is the OS's, through tauri-plugin-autostart).

use keyward::overview::OverviewView;
use keyward::ratelimit::LimitSettings;
use keyward::setup::{SetupGuideEdit, SetupGuideView};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_autostart::ManagerExt;

use crate::commands::blocking;
use crate::dto::CommandError;
use crate::AppState;

/// Is everything OK, and what needs the user: the dashboard's tiles.
#[tauri::command]
pub async fn overview(state: State<'_, AppState>) -> Result<OverviewView, CommandError> {
    blocking(&state, |kw| Ok(kw.overview()?)).await
}

#[tauri::command]
pub async fn setup_guide_get(state: State<'_, AppState>) -> Result<SetupGuideView, CommandError> {
    blocking(&state, |kw| Ok(kw.setup_guide()?)).await
}

/// Records where the user is in the guide and what they did or skipped.
#[tauri::command]
pub async fn setup_guide_set(state: State<'_, AppState>, edit: SetupGuideEdit) -> Result<SetupGuideView, CommandError> {
    blocking(&state, move |kw| Ok(kw.set_setup_guide(&edit)?)).await
}

#[tauri::command]
pub async fn limit_settings_get(state: State<'_, AppState>) -> Result<LimitSettings, CommandError> {
    blocking(&state, |kw| Ok(kw.limit_settings()?)).await
}

/// Validates, stores and applies the safety margin and the warn/critical levels at once.
#[tauri::command]
pub async fn limit_settings_set(
    state: State<'_, AppState>,
    settings: LimitSettings,
) -> Result<LimitSettings, CommandError> {
    blocking(&state, move |kw| Ok(kw.set_limit_settings(settings)?)).await
}

/// Whether Keyward starts (hidden, in the tray) when the user logs in.
#[tauri::command]
pub async fn autostart_get<R: Runtime>(app: AppHandle<R>) -> Result<bool, CommandError> {
    app.autolaunch()
        .is_enabled()
        .map_err(|e| CommandError::new(keyward::ErrorKind::Io, format!("could not read the login item: {e}")))
}

/// Adds or removes the login item (on Linux `~/.config/autostart/Keyward.desktop`).
#[tauri::command]
pub async fn autostart_set<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Result<bool, CommandError> {
    let manager = app.autolaunch();
    let done = if enabled { manager.enable() } else { manager.disable() };
    done.map_err(|e| {
        let what = if enabled { "add" } else { "remove" };
        CommandError::new(keyward::ErrorKind::Io, format!("could not {what} the login item: {e}"))
    })?;
    manager
        .is_enabled()
        .map_err(|e| CommandError::new(keyward::ErrorKind::Io, format!("could not read the login item: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::test_support::{boot, core, invoke};

    #[test]
    fn the_dashboard_reads_the_overview_and_a_fresh_install_says_what_to_do_first() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw.clone());
        let o = invoke(&webview, "overview", json!({})).expect("overview");
        assert_eq!((o["overall"].as_str(), o["headline"].as_str()), (Some("empty"), Some("No provider enabled yet")));
        assert_eq!(o["today"]["cost"], json!(0.0));
        assert!(!o["today"]["cost"].as_f64().expect("cost").is_sign_negative(), "no '-0.00' on a fresh install");

        invoke(&webview, "provider_set_enabled", json!({"id": "kraken", "enabled": true})).expect("enable");
        let o = invoke(&webview, "overview", json!({})).expect("overview");
        assert_eq!(o["providers"][0]["name"], "Kraken");
        assert_eq!(o["providers"][0]["state"], "unknown");
        assert_eq!(o["headline"], "1 of 1 providers not checked yet");
    }

    #[test]
    fn limit_settings_are_validated_saved_and_mark_the_guides_step_done() {
        let (_dir, kw) = core();
        let (_app, webview) = boot(kw.clone());
        let before = invoke(&webview, "setup_guide_get", json!({})).expect("guide");
        assert_eq!(before["current"], "key");
        assert_eq!(before["steps"][2]["state"], "todo");

        let err = invoke(
            &webview,
            "limit_settings_set",
            json!({"settings": {"marginPct": 2, "warnPct": 90, "criticalPct": 85}}),
        )
        .expect_err("critical under warn");
        assert_eq!(err["kind"], "invalid");
        assert!(err["message"].as_str().unwrap_or_default().starts_with("criticalPct = 85"), "{err}");
        let saved = invoke(
            &webview,
            "limit_settings_set",
            json!({"settings": {"marginPct": 4, "warnPct": 70, "criticalPct": 90}}),
        )
        .expect("saved");
        assert_eq!(saved, json!({"marginPct": 4.0, "warnPct": 70.0, "criticalPct": 90.0}));
        assert_eq!(invoke(&webview, "limit_settings_get", json!({})).expect("get"), saved);

        let after =
            invoke(&webview, "setup_guide_set", json!({"edit": {"at": "failover", "seen": true}})).expect("guide");
        assert_eq!(after["steps"][2]["state"], "done");
        assert_eq!(after["current"], "failover");
        assert_eq!(after["seen"], true);
    }
}
