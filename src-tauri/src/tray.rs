//! The system-tray icon: Open Keyward, a status line, Quit.

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Runtime};

use crate::show_main_window;

pub const TRAY_ID: &str = "keyward-tray";
const OPEN_ID: &str = "open";
const STATUS_ID: &str = "status";
const QUIT_ID: &str = "quit";

/// The tray icon per state: nothing needs attention, a warning, something critical.
const ICON_OK: &[u8] = include_bytes!("../../icons/tray-ok.png");
const ICON_WARN: &[u8] = include_bytes!("../../icons/tray-warn.png");
const ICON_CRITICAL: &[u8] = include_bytes!("../../icons/tray-critical.png");

/// What the tray shows: the worst open alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    Ok,
    Warn,
    Critical,
}

/// The status line of the tray menu, kept to update its text.
pub struct StatusItem<R: Runtime>(pub MenuItem<R>);

/// Sets the tray icon colour, tooltip and status line.
pub fn set_state<R: Runtime>(app: &AppHandle<R>, state: TrayState, status: &str) {
    use tauri::Manager;
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let icon = match state {
            TrayState::Ok => ICON_OK,
            TrayState::Warn => ICON_WARN,
            TrayState::Critical => ICON_CRITICAL,
        };
        if let Ok(image) = Image::from_bytes(icon) {
            let _ = tray.set_icon(Some(image));
        }
        let _ = tray.set_tooltip(Some(format!("Keyward — {status}")));
    }
    if let Some(item) = app.try_state::<StatusItem<R>>() {
        let _ = item.0.set_text(status);
    }
}

/// The status line until monitoring reports provider states.
pub const INITIAL_STATUS: &str = "No providers monitored yet";

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, OPEN_ID, "Open Keyward", true, None::<&str>)?;
    let status = MenuItem::with_id(app, STATUS_ID, INITIAL_STATUS, false, None::<&str>)?;
    let quit = MenuItem::with_id(app, QUIT_ID, "Quit Keyward", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&open, &separator, &status, &PredefinedMenuItem::separator(app)?, &quit])?;

    {
        use tauri::Manager;
        app.manage(StatusItem(status.clone()));
    }
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(ICON_OK)?)
        .tooltip(format!("Keyward — {INITIAL_STATUS}"))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            OPEN_ID => show_main_window(app),
            QUIT_ID => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
                show_main_window(tray.app_handle());
            }
        })
        .build(app)?;
    Ok(())
}
