// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

use keyward_desktop::{build, show_main_window, AppState, ShellOptions};

fn main() -> ExitCode {
    // Before any thread starts and before GTK reads the environment.
    keyward_desktop::webkit::apply_env_defaults();
    if let Some(reason) = missing_display() {
        eprintln!("keyward-desktop: {reason}");
        eprintln!("keyward-desktop: to run Keyward without a window, use `keyward serve`.");
        return ExitCode::from(2);
    }
    let data_dir = match keyward::default_data_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("keyward-desktop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _log = keyward::logging::init(&data_dir, tracing::Level::WARN)
        .map_err(|e| eprintln!("keyward-desktop: logging to a file is off: {e}"))
        .ok();
    let state = AppState::open(&data_dir);

    let builder = tauri::Builder::default()
        // Must be the first plugin: a second launch hands over to the running instance.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| show_main_window(app)));
    let start_hidden = std::env::args().skip(1).any(|a| a == keyward_desktop::HIDDEN_ARG);
    let options = ShellOptions { tray: true, services: true, start_hidden };
    let app = match build(builder, state, options).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("keyward-desktop: {e}");
            return ExitCode::FAILURE;
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            keyward_desktop::services::stop(handle);
        }
    });
    ExitCode::SUCCESS
}

/// GTK panics without a display; say so plainly instead.
fn missing_display() -> Option<&'static str> {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        None
    } else {
        Some("no graphical display found (neither DISPLAY nor WAYLAND_DISPLAY is set)")
    }
}
