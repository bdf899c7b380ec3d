//! Shared by the shell's unit tests: boot the app on tauri's mock runtime and call commands
//! through the real IPC path.

use serde_json::Value;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

use crate::{build, AppState, ShellOptions, MAIN_WINDOW};

/// Invokes `cmd` with JSON `args` from the app's own origin, as the UI would.
pub fn invoke(webview: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            // The app's own origin, so the request counts as local.
            url: if cfg!(windows) { "http://tauri.localhost" } else { "tauri://localhost" }.parse().expect("url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().expect("JSON reply"))
}

/// Boots the shell (no tray, no services) around `state` with a main window.
pub fn boot_state(state: AppState) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let app = build(mock_builder(), state, ShellOptions { tray: false, services: false, start_hidden: false })
        .build(mock_context(noop_assets()))
        .expect("the app builds on the mock runtime");
    let webview = WebviewWindowBuilder::new(&app, MAIN_WINDOW, Default::default()).build().expect("window");
    (app, webview)
}

/// Boots the shell around an already opened core.
pub fn boot(core: keyward::Keyward) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    boot_state(AppState::from_core(core))
}

/// A core on a temporary data dir with in-memory secrets.
pub fn core() -> (tempfile::TempDir, keyward::Keyward) {
    let dir = tempfile::tempdir().expect("tempdir");
    let core = keyward::Keyward::open_with_secrets(dir.path(), std::sync::Arc::new(keyward::vault::MemoryStore::new()))
        .expect("core opens");
    (dir, core)
}
