//! Starts the core's long-running services in the desktop app and forwards their events to
//! the window (Tauri events), the tray (colour, tooltip, status line) and native
//! notifications.

use std::sync::Mutex;

use std::sync::Arc;
use std::time::Duration;

use keyward::alerts::{AlertNotice, NoticeKind};
use keyward::monitor::MonitorEvent;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;
use ts_rs::TS;

use crate::tray;
use crate::AppState;

/// Event names the UI listens to.
pub const MONITOR_EVENT: &str = "keyward://monitor";
pub const ALERT_EVENT: &str = "keyward://alert";

/// The running services, stopped when the app exits.
#[derive(Default)]
pub struct ServicesSlot(pub Mutex<Option<keyward::service::Services>>);

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "type")]
#[ts(export)]
pub enum MonitorEventDto {
    StateChanged {
        provider: String,
        from: String,
        to: String,
        cause: String,
        at: String,
    },
    CheckCompleted {
        provider: String,
        ok: bool,
        #[ts(type = "number")]
        latency_ms: u64,
        at: String,
    },
    /// A circuit breaker of the provider opened, went half-open or closed.
    BreakerChanged {
        provider: String,
        breaker: keyward::pipeline::BreakerView,
    },
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AlertEventDto {
    /// "raised", "resolved" or "acknowledged".
    pub kind: String,
    pub id: i64,
    pub severity: String,
    pub title: String,
    pub body: String,
    pub provider: String,
    /// Worst open severity after this event ("" when nothing is open).
    pub worst: String,
    pub headline: String,
}

fn monitor_dto(e: &MonitorEvent) -> MonitorEventDto {
    match e {
        MonitorEvent::StateChanged { provider, from, to, cause, at } => MonitorEventDto::StateChanged {
            provider: provider.clone(),
            from: from.as_str().into(),
            to: to.as_str().into(),
            cause: cause.clone(),
            at: at.to_rfc3339(),
        },
        MonitorEvent::CheckCompleted { provider, ok, latency, at, .. } => MonitorEventDto::CheckCompleted {
            provider: provider.clone(),
            ok: *ok,
            latency_ms: latency.as_millis() as u64,
            at: at.to_rfc3339(),
        },
    }
}

fn on_alert<R: Runtime>(app: &AppHandle<R>, n: AlertNotice) {
    let worst = n.summary.worst;
    let dto = AlertEventDto {
        kind: match n.kind {
            NoticeKind::Raised => "raised",
            NoticeKind::Resolved => "resolved",
            NoticeKind::Acknowledged => "acknowledged",
        }
        .into(),
        id: n.alert.id,
        severity: n.alert.severity.as_str().into(),
        title: n.alert.title.clone(),
        body: n.alert.body.clone(),
        provider: n.alert.provider.clone(),
        worst: worst.map_or(String::new(), |s| s.as_str().to_string()),
        headline: n.summary.headline.clone().unwrap_or_default(),
    };
    let _ = app.emit(ALERT_EVENT, &dto);
    refresh_tray(app);
    if n.notify {
        let _ = app.notification().builder().title(&n.alert.title).body(&n.alert.body).show();
    }
}

/// How often the tray menu's lines are read again (and at once after an alert).
pub const TRAY_EVERY: Duration = Duration::from_secs(10);

/// Wakes the tray loop (managed state).
pub struct TrayRefresh(Arc<tokio::sync::Notify>);

/// Reads the overview again now and updates the tray.
pub fn refresh_tray<R: Runtime>(app: &AppHandle<R>) {
    if let Some(r) = app.try_state::<TrayRefresh>() {
        r.0.notify_one();
    }
}

/// Keeps the tray's icon and menu lines true to the core's overview: every [`TRAY_EVERY`] and
/// whenever [`refresh_tray`] is called.
pub fn start_tray_loop<R: Runtime>(app: &AppHandle<R>) {
    let Ok(core) = app.state::<AppState>().core() else { return };
    let wake = Arc::new(tokio::sync::Notify::new());
    app.manage(TrayRefresh(Arc::clone(&wake)));
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let kw = core.clone();
            let read = tauri::async_runtime::spawn_blocking(move || {
                let unlocked =
                    kw.vault_file().is_some_and(|f| keyward::vault::VaultFileStatus::from(f.as_ref()).unlocked);
                (kw.overview(), unlocked)
            });
            match read.await {
                Ok((Ok(overview), unlocked)) => tray::show(&app, &tray::lines(&overview), unlocked),
                Ok((Err(e), _)) => tracing::warn!(error = %e, "could not read the overview for the tray"),
                Err(_) => break,
            }
            let _ = tokio::time::timeout(TRAY_EVERY, wake.notified()).await;
        }
    });
}

/// Starts monitoring, alerts and the event bridges on the app's async runtime.
pub fn start<R: Runtime>(app: &AppHandle<R>) {
    let Ok(core) = app.state::<AppState>().core() else { return };
    app.manage(ServicesSlot::default());
    let alert_app = app.clone();
    core.alerts().set_desktop(std::sync::Arc::new(move |n: AlertNotice| on_alert(&alert_app, n)));
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        match keyward::service::start(&core).await {
            Ok(services) => {
                if let Some(slot) = app.try_state::<ServicesSlot>() {
                    *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(services);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "monitoring is off");
                app.state::<AppState>().set_services_problem(Some(e.to_string()));
                let headline = if e.kind() == keyward::error::ErrorKind::AlreadyRunning {
                    "Monitoring runs in another Keyward on this data directory"
                } else {
                    "Monitoring is off"
                };
                tray::set_state(&app, tray::TrayState::Warn, headline);
                let _ = app.notification().builder().title(headline).body(e.to_string()).show();
            }
        }
        let mut breakers = core.pipeline().breakers().subscribe();
        let breaker_app = app.clone();
        tauri::async_runtime::spawn(async move {
            loop {
                match breakers.recv().await {
                    Ok(b) => {
                        let e = MonitorEventDto::BreakerChanged { provider: b.provider.clone(), breaker: b };
                        let _ = breaker_app.emit(MONITOR_EVENT, e);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
        });
        let mut events = core.monitor().subscribe();
        loop {
            match events.recv().await {
                Ok(e) => {
                    let _ = app.emit(MONITOR_EVENT, monitor_dto(&e));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
    });
}

/// Stops the services (called when the app exits).
pub fn stop<R: Runtime>(app: &AppHandle<R>) {
    let services =
        app.try_state::<ServicesSlot>().and_then(|slot| slot.0.lock().unwrap_or_else(|p| p.into_inner()).take());
    if let Some(services) = services {
        tauri::async_runtime::block_on(services.stop());
    }
    if let Ok(core) = app.state::<AppState>().core() {
        core.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keyward::monitor::{HealthState, MonitorEvent};
    use serde_json::json;

    use super::monitor_dto;

    #[test]
    fn monitor_events_reach_the_ui_with_camel_case_fields() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("time").to_utc();
        let done = MonitorEvent::CheckCompleted {
            provider: "binance".into(),
            check_id: 7,
            ok: true,
            latency: Duration::from_millis(42),
            at,
        };
        assert_eq!(
            serde_json::to_value(monitor_dto(&done)).expect("json"),
            json!({"type": "checkCompleted", "provider": "binance", "ok": true, "latencyMs": 42, "at": "2026-01-01T00:00:00+00:00"})
        );
        let changed = MonitorEvent::StateChanged {
            provider: "binance".into(),
            from: HealthState::Up,
            to: HealthState::Down,
            cause: "all checks failing".into(),
            at,
        };
        let v = serde_json::to_value(monitor_dto(&changed)).expect("json");
        assert_eq!(v["type"], "stateChanged");
        assert_eq!(v["to"], "down");
    }
}
