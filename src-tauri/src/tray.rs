//! The system-tray icon and its menu: the overall state, the worst provider, the tightest
//! limit, open alerts, Lock the vault, Open, Quit — what a trader wants without opening the
//! window. The lines come from the core's overview ([`lines`]); the services refresh them.

use keyward::overview::OverviewView;
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::show_main_window;

pub const TRAY_ID: &str = "keyward-tray";
const OPEN_ID: &str = "open";
const STATUS_ID: &str = "status";
const PROVIDER_ID: &str = "provider";
const LIMIT_ID: &str = "limit";
const ALERTS_ID: &str = "alerts";
const LOCK_ID: &str = "lock";
const QUIT_ID: &str = "quit";

/// The event asking the window to show a page (payload: the route id, e.g. "alerts").
pub const NAVIGATE_EVENT: &str = "keyward://navigate";

/// The tray icon per state: nothing needs attention, a warning, something critical.
const ICON_OK: &[u8] = include_bytes!("../../icons/tray-ok.png");
const ICON_WARN: &[u8] = include_bytes!("../../icons/tray-warn.png");
const ICON_CRITICAL: &[u8] = include_bytes!("../../icons/tray-critical.png");

/// What the tray shows: the overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    Ok,
    Warn,
    Critical,
}

/// The menu's text lines, from the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayLines {
    pub state: TrayState,
    pub status: String,
    pub provider: String,
    pub limit: String,
    pub alerts: String,
}

/// The tray's lines for an overview.
pub fn lines(o: &OverviewView) -> TrayLines {
    let state = match o.overall.as_str() {
        "critical" => TrayState::Critical,
        "warn" => TrayState::Warn,
        _ => TrayState::Ok,
    };
    let provider = match o.providers.first() {
        None => "No provider enabled".to_string(),
        Some(p) => {
            let latency = p.latency_ms.map(|ms| format!(", {ms} ms")).unwrap_or_default();
            format!("Worst provider: {} — {}{latency}", p.name, p.state)
        }
    };
    let limit = match o.limits.first() {
        None => "Tightest limit: none in use yet".to_string(),
        Some(l) => match l.state.as_str() {
            "banned" => format!("Tightest limit: {} — banned", l.provider),
            "paused" => format!("Tightest limit: {} — paused (429)", l.provider),
            _ => format!("Tightest limit: {} {} {:.0} %", l.provider, l.limit_id, l.percent),
        },
    };
    let alerts = match o.alerts.open {
        0 => "No open alerts".to_string(),
        1 => "1 open alert…".to_string(),
        n => format!("{n} open alerts…"),
    };
    TrayLines { state, status: o.headline.clone(), provider, limit, alerts }
}

/// The menu items whose text changes.
pub struct TrayItems<R: Runtime> {
    status: MenuItem<R>,
    provider: MenuItem<R>,
    limit: MenuItem<R>,
    alerts: MenuItem<R>,
    lock: MenuItem<R>,
}

/// Sets the tray icon, tooltip and menu lines; `vault_unlocked` enables "Lock the vault".
pub fn show<R: Runtime>(app: &AppHandle<R>, l: &TrayLines, vault_unlocked: bool) {
    set_state(app, l.state, &l.status);
    if let Some(items) = app.try_state::<TrayItems<R>>() {
        let _ = items.provider.set_text(&l.provider);
        let _ = items.limit.set_text(&l.limit);
        let _ = items.alerts.set_text(&l.alerts);
        let _ = items.lock.set_enabled(vault_unlocked);
    }
}

/// Sets the tray icon colour, tooltip and status line.
pub fn set_state<R: Runtime>(app: &AppHandle<R>, state: TrayState, status: &str) {
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
    if let Some(items) = app.try_state::<TrayItems<R>>() {
        let _ = items.status.set_text(status);
    }
}

/// The status line until the first overview is read.
pub const INITIAL_STATUS: &str = "Starting…";

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let line = |id: &str, text: &str, enabled: bool| MenuItem::with_id(app, id, text, enabled, None::<&str>);
    let status = line(STATUS_ID, INITIAL_STATUS, false)?;
    let provider = line(PROVIDER_ID, "", false)?;
    let limit = line(LIMIT_ID, "", false)?;
    let alerts = line(ALERTS_ID, "", true)?;
    let lock = line(LOCK_ID, "Lock the vault", false)?;
    let open = line(OPEN_ID, "Open Keyward", true)?;
    let quit = line(QUIT_ID, "Quit Keyward", true)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &provider,
            &limit,
            &alerts,
            &PredefinedMenuItem::separator(app)?,
            &lock,
            &open,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    app.manage(TrayItems { status, provider, limit, alerts, lock });
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(ICON_OK)?)
        .tooltip(format!("Keyward — {INITIAL_STATUS}"))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            OPEN_ID => show_main_window(app),
            ALERTS_ID => {
                show_main_window(app);
                let _ = app.emit(NAVIGATE_EVENT, "alerts");
            }
            LOCK_ID => lock_vault(app),
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

fn lock_vault<R: Runtime>(app: &AppHandle<R>) {
    let Ok(core) = app.state::<crate::AppState>().core() else { return };
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(e) = core.lock_vault(keyward::audit::Actor::Ui) {
            tracing::warn!(error = %e, "could not lock the vault from the tray");
        }
        crate::services::refresh_tray(&app);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overview(json: serde_json::Value) -> OverviewView {
        serde_json::from_value(json).expect("an overview")
    }

    #[test]
    fn the_menu_names_the_worst_provider_the_tightest_limit_and_the_open_alerts() {
        let o = overview(serde_json::json!({
            "generatedAt": "2026-12-06T10:00:00Z", "overall": "critical", "headline": "Kraken is down",
            "providers": [
                {"id": "kraken", "name": "Kraken", "environment": "production", "state": "down", "cause": "timeouts", "latencyMs": null, "uptime24h": 91.0},
                {"id": "binance", "name": "Binance", "environment": "production", "state": "up", "cause": "", "latencyMs": 42, "uptime24h": 100.0}
            ],
            "limits": [{"provider": "binance", "limitId": "request_weight", "kind": "fixed_window", "scope": "ip", "scopeKey": "ip",
                        "used": 4920.0, "limit": 6000.0, "percent": 82.0, "resetsInMs": 1000, "queueLen": 0, "pausedForMs": null,
                        "banned": false, "level": "warn", "state": "warn"}],
            "alerts": {"open": 3, "unacknowledged": 2, "worst": "critical", "latest": []},
            "today": {"calls": 10, "errors": 0, "throttled": 0, "cost": 0.0, "currency": "USD"},
            "keys": {"total": 0, "attention": []},
            "gateway": {"url": null, "bots": []}
        }));
        let l = lines(&o);
        assert_eq!(l.state, TrayState::Critical);
        assert_eq!(l.status, "Kraken is down");
        assert_eq!(l.provider, "Worst provider: Kraken — down");
        assert_eq!(l.limit, "Tightest limit: binance request_weight 82 %");
        assert_eq!(l.alerts, "3 open alerts…");
    }
}
