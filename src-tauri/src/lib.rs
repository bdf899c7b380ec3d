//! The Keyward desktop shell: Tauri commands, DTOs, tray and window behaviour over the
//! `keyward` core. No business logic lives here; every command is one core call.

pub mod commands;
pub mod commands_alerts;
pub mod commands_audit;
pub mod commands_gateway;
pub mod commands_keys;
pub mod commands_limits;
pub mod commands_monitor;
pub mod commands_usage;
pub mod commands_vault;
pub mod dto;
pub mod dto_alerts;
pub mod dto_audit;
pub mod dto_gateway;
pub mod dto_keys;
pub mod dto_limits;
pub mod dto_monitor;
pub mod dto_provider;
pub mod dto_usage;
pub mod services;
pub mod state;
pub mod tray;

#[cfg(test)]
mod test_support;

use tauri::{Manager, Runtime, WindowEvent};

pub use state::AppState;

/// The label of the one main window (tauri.conf.json).
pub const MAIN_WINDOW: &str = "main";

/// What [`build`] adds besides commands and state.
#[derive(Debug, Clone, Copy)]
pub struct ShellOptions {
    /// Create the system-tray icon and keep the app running when the window closes.
    pub tray: bool,
    /// Run monitoring, alerts and their event bridges.
    pub services: bool,
}

/// Adds Keyward's state, commands, tray and window behaviour to a Tauri builder. Generic over
/// the runtime so tests can boot it with `tauri::test::mock_builder()`.
pub fn build<R: Runtime>(builder: tauri::Builder<R>, state: AppState, options: ShellOptions) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .manage(commands_limits::LimitStreams::default())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::providers_list,
            commands::provider_get,
            commands::provider_set,
            commands::provider_reset,
            commands::provider_remove,
            commands::provider_set_enabled,
            commands::provider_set_environment,
            commands::provider_import,
            commands::provider_test,
            commands_keys::keys_list,
            commands_keys::key_add,
            commands_keys::key_remove,
            commands_keys::key_reveal,
            commands_keys::key_copy,
            commands_keys::key_versions,
            commands_keys::key_rotate,
            commands_keys::key_retire_version,
            commands_keys::key_check,
            commands_keys::keys_backup_default_path,
            commands_keys::keys_export_backup,
            commands_keys::keys_import_backup,
            commands_vault::vault_status,
            commands_vault::vault_unlock,
            commands_vault::vault_lock,
            commands_vault::vault_init,
            commands_limits::limits_stream,
            commands_limits::limits_stream_stop,
            commands_limits::limits_breakdown,
            commands_audit::audit_options,
            commands_audit::audit_list,
            commands_audit::audit_verify,
            commands_audit::audit_export,
            commands_monitor::monitor_status,
            commands_monitor::provider_health,
            commands_monitor::chart_latency,
            commands_monitor::chart_uptime,
            commands_monitor::checks_run,
            commands_monitor::checks_list,
            commands_monitor::check_add,
            commands_monitor::check_update,
            commands_monitor::check_remove,
            commands_monitor::monitor_settings_get,
            commands_monitor::monitor_settings_set,
            commands_alerts::alerts_list,
            commands_alerts::alert_ack,
            commands_alerts::alert_rules,
            commands_alerts::alert_rule_set_enabled,
            commands_alerts::alert_rule_set_webhooks,
            commands_alerts::alert_rules_restore,
            commands_alerts::webhooks_list,
            commands_alerts::webhook_add,
            commands_alerts::webhook_test,
            commands_alerts::webhook_remove,
            commands_usage::usage_summary,
            commands_usage::chart_usage,
            commands_gateway::gateway_status,
            commands_gateway::gateway_token_create,
            commands_gateway::gateway_token_set_disabled,
            commands_gateway::gateway_token_rotate,
            commands_gateway::gateway_token_revoke,
            commands_gateway::gateway_set_port,
            commands_gateway::gateway_set_bind,
        ])
        .setup(move |app| {
            if options.tray {
                tray::create(app.handle())?;
            }
            if options.services {
                services::start(app.handle());
            }
            Ok(())
        })
        .on_window_event(move |window, event| {
            // Closing the window keeps Keyward running in the tray; Quit is in the tray menu.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if options.tray && window.label() == MAIN_WINDOW {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
}

/// Brings the main window to the front (tray "Open Keyward", a second launch).
pub fn show_main_window<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::test_support::{boot_state as boot, invoke};

    #[test]
    fn app_info_returns_the_cores_values_over_ipc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let core = keyward::Keyward::open_with_secrets(dir.path(), Arc::new(keyward::vault::MemoryStore::new()))
            .expect("core opens");
        let (_app, webview) = boot(AppState::from_core(core));
        let reply = invoke(&webview, "app_info", json!({})).expect("app_info succeeds");
        assert_eq!(reply["version"], keyward::VERSION);
        assert_eq!(reply["schemaVersion"], keyward::store::LATEST_SCHEMA_VERSION);
        assert_eq!(reply["dataDir"], dir.path().display().to_string());
        assert_eq!(reply["secretBackend"]["kind"], "memory");
        assert_eq!(reply["secretBackend"]["available"], true);
        assert_eq!(reply["servicesProblem"], serde_json::Value::Null);
    }

    #[test]
    fn app_info_says_why_monitoring_is_not_running_in_this_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let core = keyward::Keyward::open_with_secrets(dir.path(), Arc::new(keyward::vault::MemoryStore::new()))
            .expect("core opens");
        // What `services::start` stores when `keyward serve` already runs on the data dir.
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let serve = runtime.block_on(keyward::service::start(&core)).expect("the first instance starts");
        let refused = runtime.block_on(keyward::service::start(&core)).err().expect("a second one is refused");
        let state = AppState::from_core(core);
        state.set_services_problem(Some(refused.to_string()));
        let (_app, webview) = boot(state);
        let reply = invoke(&webview, "app_info", json!({})).expect("app_info succeeds");
        let problem = reply["servicesProblem"].as_str().unwrap_or_default();
        assert!(problem.contains("already running") && problem.contains(&std::process::id().to_string()), "{reply}");
        runtime.block_on(serve.stop());
    }

    #[test]
    fn a_core_that_failed_to_open_reaches_the_ui_as_kind_and_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join(keyward::DATABASE_FILE);
        keyward::store::Store::open(&db).expect("fresh database");
        let conn = keyward::store::open_connection(&db).expect("connection");
        conn.execute("INSERT INTO schema_migrations VALUES (500, 'future', '2099-01-01')", []).expect("plant");
        drop(conn);

        let (_app, webview) = boot(AppState::open(dir.path()));
        let err = invoke(&webview, "app_info", json!({})).expect_err("app_info must fail");
        assert_eq!(err["kind"], "schemaTooNew");
        assert!(err["message"].as_str().unwrap_or_default().contains("schema version 500"), "{err}");
    }
}
