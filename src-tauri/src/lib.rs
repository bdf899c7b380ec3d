//! The Keyward desktop shell: Tauri commands, DTOs, tray and window behaviour over the
//! `keyward` core. No business logic lives here; every command is one core call.

pub mod commands;
pub mod dto;
pub mod services;
pub mod state;
pub mod tray;
pub mod webkit;

#[cfg(test)]
mod test_support;

use tauri::{Manager, Runtime, WindowEvent};

pub use state::AppState;

/// The argument the login item starts Keyward with: no window, only the tray.
pub const HIDDEN_ARG: &str = "--hidden";

/// The label of the one main window (tauri.conf.json).
pub const MAIN_WINDOW: &str = "main";

/// Every command the UI may invoke, listed once: the invoke handler is built from this list,
/// and so is `ui/src/ipc/bindings/commands.ts` (the `CommandName` union the UI's `call` takes),
/// so a command renamed here fails the UI's type check.
macro_rules! with_commands {
    ($then:ident) => {
        $then! {
            commands::app_info,
            commands::overview::overview,
            commands::overview::setup_guide_get,
            commands::overview::setup_guide_set,
            commands::overview::limit_settings_get,
            commands::overview::limit_settings_set,
            commands::overview::autostart_get,
            commands::overview::autostart_set,
            commands::shared::shared_budget_get,
            commands::shared::shared_budget_set,
            commands::providers::providers_list,
            commands::providers::provider_get,
            commands::providers::provider_apply_settings,
            commands::providers::provider_reset,
            commands::providers::provider_remove,
            commands::providers::provider_set_enabled,
            commands::providers::provider_set_environment,
            commands::providers::provider_import,
            commands::providers::provider_test,
            commands::keys::keys_list,
            commands::keys::key_add,
            commands::keys::key_remove,
            commands::keys::key_reveal,
            commands::keys::key_copy,
            commands::keys::key_versions,
            commands::keys::key_rotate,
            commands::keys::key_retire_version,
            commands::keys::key_check,
            commands::keys::keys_backup_default_path,
            commands::keys::keys_export_backup,
            commands::keys::keys_import_backup,
            commands::vault::vault_status,
            commands::vault::vault_unlock,
            commands::vault::vault_lock,
            commands::vault::vault_init,
            commands::limits::limits_stream,
            commands::limits::limits_stream_stop,
            commands::limits::limits_breakdown,
            commands::audit::audit_options,
            commands::audit::audit_list,
            commands::audit::audit_verify,
            commands::audit::audit_export,
            commands::monitor::monitor_status,
            commands::monitor::provider_health,
            commands::monitor::chart_latency,
            commands::monitor::chart_uptime,
            commands::monitor::checks_run,
            commands::monitor::checks_list,
            commands::monitor::check_add,
            commands::monitor::check_update,
            commands::monitor::check_remove,
            commands::monitor::monitor_settings_get,
            commands::monitor::monitor_settings_set,
            commands::alerts::alerts_list,
            commands::alerts::alert_ack,
            commands::alerts::alert_rules,
            commands::alerts::alert_rule_set_enabled,
            commands::alerts::alert_rule_set_webhooks,
            commands::alerts::alert_rules_restore,
            commands::alerts::webhooks_list,
            commands::alerts::webhook_add,
            commands::alerts::webhook_test,
            commands::alerts::webhook_remove,
            commands::alerts::hooks_list,
            commands::alerts::hook_add,
            commands::alerts::hook_remove,
            commands::alerts::hook_deliveries,
            commands::usage::usage_summary,
            commands::usage::usage_billing,
            commands::usage::usage_billing_set,
            commands::usage::chart_usage,
            commands::usage::usage_retention_get,
            commands::usage::usage_retention_set,
            commands::usage::usage_forecast,
            commands::usage::chart_usage_forecast,
            commands::usage::usage_anomalies,
            commands::usage_export::usage_export,
            commands::metrics::metrics_status,
            commands::metrics::metrics_set_access,
            commands::metrics::metrics_rotate_token,
            commands::gateway::gateway_status,
            commands::gateway::gateway_token_create,
            commands::gateway::gateway_token_set_disabled,
            commands::gateway::gateway_token_rotate,
            commands::gateway::gateway_token_revoke,
            commands::gateway::gateway_set_port,
            commands::gateway::gateway_set_bind,
            commands::groups::groups_list,
            commands::groups::group_save,
            commands::groups::group_remove,
            commands::groups::group_call,
        }
    };
}

macro_rules! generate_handler {
    ($($($seg:ident)::+),* $(,)?) => {
        tauri::generate_handler![$($($seg)::+),*]
    };
}

macro_rules! command_names {
    ($($($seg:ident)::+),* $(,)?) => {
        &[$(stringify!($($seg)::+)),*]
    };
}

/// The names of every command in [`build`]'s invoke handler, as the UI invokes them.
pub fn command_names() -> Vec<&'static str> {
    let paths: &[&str] = with_commands!(command_names);
    paths.iter().map(|p| p.rsplit("::").next().unwrap_or(p).trim()).collect()
}

/// The TypeScript module generated from [`command_names`] and the event names the shell emits.
pub fn commands_ts() -> String {
    let mut out = String::from(
        "// Generated from src-tauri/src/lib.rs by `cargo test -p keyward-desktop` (the test\n\
         // `commands_ts_matches_the_handler`). Do not edit this file manually.\n\n\
         /** Every command the desktop shell answers; `call` takes only these. */\n\
         export type CommandName =\n",
    );
    let mut names = command_names();
    names.sort_unstable();
    for name in names {
        out.push_str(&format!("  | \"{name}\"\n"));
    }
    out.push_str(";\n\n/** Health changes, as `MonitorEventDto`. */\n");
    out.push_str(&format!("export const MONITOR_EVENT = \"{}\";\n", services::MONITOR_EVENT));
    out.push_str("/** The tray asks the window to show a page (payload: its route id). */\n");
    out.push_str(&format!("export const NAVIGATE_EVENT = \"{}\";\n", tray::NAVIGATE_EVENT));
    out.push_str("/** Alerts raised or resolved, as `AlertEventDto`. */\n");
    out.push_str(&format!("export const ALERT_EVENT = \"{}\";\n", services::ALERT_EVENT));
    out
}

/// What [`build`] adds besides commands and state.
#[derive(Debug, Clone, Copy)]
pub struct ShellOptions {
    /// Create the system-tray icon and keep the app running when the window closes.
    pub tray: bool,
    /// Run monitoring, alerts and their event bridges.
    pub services: bool,
    /// Start with the window hidden, in the tray only (the login item passes [`HIDDEN_ARG`]).
    pub start_hidden: bool,
}

/// Adds Keyward's state, commands, tray and window behaviour to a Tauri builder. Generic over
/// the runtime so tests can boot it with `tauri::test::mock_builder()`.
pub fn build<R: Runtime>(builder: tauri::Builder<R>, state: AppState, options: ShellOptions) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        // "Start Keyward when I log in": the login item starts it hidden, in the tray.
        .plugin(tauri_plugin_autostart::Builder::new().app_name("Keyward").arg(HIDDEN_ARG).build())
        .manage(state)
        .manage(commands::limits::LimitStreams::default())
        .invoke_handler(with_commands!(generate_handler))
        .setup(move |app| {
            if options.tray {
                tray::create(app.handle())?;
                services::start_tray_loop(app.handle());
            }
            if options.services {
                services::start(app.handle());
            }
            if options.start_hidden && options.tray {
                if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                    window.hide()?;
                }
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

    /// The UI's `CommandName` union is this list: a command renamed or removed here makes the
    /// UI's type check fail where it is still called by its old name.
    #[test]
    fn commands_ts_matches_the_handler() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/ipc/bindings/commands.ts");
        let wanted = commands_ts();
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != wanted {
            std::fs::write(&path, &wanted).expect("write commands.ts");
        }
        assert_eq!(current, wanted, "{} was out of date and has been regenerated; commit it", path.display());
        let names = command_names();
        assert!(names.contains(&"app_info") && names.contains(&"gateway_status"), "{names:?}");
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "a command is listed twice");
    }

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
