//! Status page commands. Thin: arguments in, core calls, DTO out.

use keyward::ErrorKind;
use std::time::Duration;

use keyward::charts::{self, Theme};
use keyward::monitor::{CheckConfig, PipelineRunner, UptimeWindow};
use keyward::Keyward;
use tauri::State;

use crate::commands::blocking;
use crate::dto::monitor::{
    self as mdto, CheckInputDto, CheckRunView, CheckView, MonitorSettingsDto, ProviderHealthDto, ProviderStatusView,
};
use crate::dto::CommandError;
use crate::AppState;

/// How far back a provider's detail lists incidents.
const INCIDENT_DAYS: i64 = 90;
/// Days in the uptime strip.
const STRIP_DAYS: u32 = 90;
/// Size of the uptime strip (the latency chart uses the core's default size).
const STRIP_SIZE: (u32, u32) = (800, 200);
/// A latency chart has about this many points; the bucket is the window divided by it.
const LATENCY_POINTS: u64 = 60;
/// The longest latency window the UI may ask for (one year).
const MAX_LATENCY_HOURS: u32 = 24 * 365;

fn name(kw: &Keyward, provider: &str) -> String {
    kw.providers().get(provider).map(|e| e.spec.name).unwrap_or_else(|_| provider.to_string())
}

fn theme(dark: bool) -> Theme {
    if dark {
        Theme::Dark
    } else {
        Theme::Light
    }
}

/// The provider's checks; when it has none yet, the default checks of every enabled provider
/// are created first (the core's `ensure_default_checks`).
fn provider_checks(kw: &Keyward, provider: &str) -> Result<Vec<CheckConfig>, CommandError> {
    let entry = kw.providers().get(provider)?;
    if kw.monitor().checks(Some(provider))?.is_empty() {
        kw.monitor().ensure_default_checks(kw.providers())?;
    }
    let checks: Vec<CheckConfig> = kw.monitor().checks(Some(provider))?.into_iter().filter(|c| c.enabled).collect();
    if checks.is_empty() {
        return Err(CommandError::new(
            ErrorKind::NotEnabled,
            format!(
                "provider \"{}\" has no health checks because it is not enabled; enable it on the Providers page",
                entry.spec.id
            ),
        ));
    }
    Ok(checks)
}

/// Every monitored provider: state, since, cause, last check and 24 h uptime.
#[tauri::command]
pub async fn monitor_status(state: State<'_, AppState>) -> Result<Vec<ProviderStatusView>, CommandError> {
    blocking(&state, |kw| Ok(kw.provider_statuses()?)).await
}

/// One provider's detail: uptime for 24h/7d/30d/90d/1y, incidents of the last 90 days, checks.
#[tauri::command]
pub async fn provider_health(state: State<'_, AppState>, provider: String) -> Result<ProviderHealthDto, CommandError> {
    blocking(&state, move |kw| {
        let (m, now) = (kw.monitor(), kw.monitor().clock().now());
        m.flush();
        let current = m.current_states()?.into_iter().find(|s| s.provider == provider);
        Ok(ProviderHealthDto {
            status: current.map(|s| kw.provider_status(&s)).transpose()?,
            uptime: UptimeWindow::ALL
                .iter()
                .map(|w| Ok(mdto::uptime(*w, &m.uptime(&provider, *w, now)?)))
                .collect::<Result<_, CommandError>>()?,
            incidents: m
                .incidents(Some(&provider), now - chrono::Duration::days(INCIDENT_DAYS))?
                .iter()
                .map(|i| mdto::incident(i, now))
                .collect(),
            checks: m.checks(Some(&provider))?.iter().map(CheckView::from).collect(),
        })
    })
    .await
}

/// The latency chart (average and p95) of the last `hours` hours, as SVG.
#[tauri::command]
pub async fn chart_latency(
    state: State<'_, AppState>,
    provider: String,
    hours: u32,
    dark: bool,
) -> Result<String, CommandError> {
    blocking(&state, move |kw| {
        let (hours, now) = (hours.clamp(1, MAX_LATENCY_HOURS), kw.monitor().clock().now());
        kw.monitor().flush();
        let bucket = Duration::from_secs(u64::from(hours) * 3600 / LATENCY_POINTS);
        let from = now - chrono::Duration::hours(i64::from(hours));
        let points = kw.monitor().latency_series(&provider, from, now, bucket)?;
        let title = format!(
            "{} response time, last {}",
            name(&kw, &provider),
            if hours >= 48 && hours % 24 == 0 { format!("{} days", hours / 24) } else { format!("{hours} h") }
        );
        Ok(charts::latency_chart(&title, &points, (from, now), theme(dark), charts::DEFAULT_SIZE)?)
    })
    .await
}

/// The 90-day uptime strip, as SVG.
#[tauri::command]
pub async fn chart_uptime(state: State<'_, AppState>, provider: String, dark: bool) -> Result<String, CommandError> {
    blocking(&state, move |kw| {
        kw.monitor().flush();
        let days = kw.monitor().daily_uptime(&provider, STRIP_DAYS, kw.monitor().clock().now())?;
        let title = format!("{} uptime, last {STRIP_DAYS} days", name(&kw, &provider));
        Ok(charts::uptime_strip(&title, &days, theme(dark), STRIP_SIZE)?)
    })
    .await
}

/// Runs the provider's checks now, one after the other, through the pipeline; each result is
/// recorded by the monitor (so `keyward://monitor` events follow) and returned.
#[tauri::command]
pub async fn checks_run(state: State<'_, AppState>, provider: String) -> Result<Vec<CheckRunView>, CommandError> {
    let kw = state.core()?;
    let checks = blocking(&state, move |kw| provider_checks(&kw, &provider)).await?;
    let runner = PipelineRunner::new(kw.pipeline().clone());
    let mut out = Vec::with_capacity(checks.len());
    for check in &checks {
        out.push(CheckRunView::from(&kw.monitor().run_check(&runner, check).await));
    }
    Ok(out)
}

/// Every check of a provider, disabled ones included.
#[tauri::command]
pub async fn checks_list(state: State<'_, AppState>, provider: String) -> Result<Vec<CheckView>, CommandError> {
    blocking(&state, move |kw| {
        let entry = kw.providers().get(&provider)?;
        Ok(kw.monitor().checks(Some(&entry.spec.id))?.iter().map(CheckView::from).collect())
    })
    .await
}

/// Adds a check of one of the provider's operations; the running scheduler picks it up.
#[tauri::command]
pub async fn check_add(
    state: State<'_, AppState>,
    provider: String,
    input: CheckInputDto,
) -> Result<CheckView, CommandError> {
    blocking(&state, move |kw| {
        let spec = kw.providers().get(&provider)?.spec;
        Ok(CheckView::from(&kw.monitor().add_check(input.new_check(&spec)?)?))
    })
    .await
}

/// Changes a check (operation, interval, timeout, expected status, latency threshold, on/off).
#[tauri::command]
pub async fn check_update(
    state: State<'_, AppState>,
    id: i64,
    input: CheckInputDto,
) -> Result<CheckView, CommandError> {
    blocking(&state, move |kw| {
        let current = kw.monitor().check(id)?;
        let check = input.changed(&kw.providers().get(&current.provider)?.spec, current)?;
        kw.monitor().update_check(&check)?;
        Ok(CheckView::from(&kw.monitor().check(id)?))
    })
    .await
}

#[tauri::command]
pub async fn check_remove(state: State<'_, AppState>, id: i64) -> Result<(), CommandError> {
    blocking(&state, move |kw| Ok(kw.monitor().remove_check(id)?)).await
}

/// The provider's state-machine settings (defaults merged with its own).
#[tauri::command]
pub async fn monitor_settings_get(
    state: State<'_, AppState>,
    provider: String,
) -> Result<MonitorSettingsDto, CommandError> {
    blocking(&state, move |kw| {
        let entry = kw.providers().get(&provider)?;
        Ok(MonitorSettingsDto::from(&kw.monitor().provider_settings(&entry.spec.id)))
    })
    .await
}

#[tauri::command]
pub async fn monitor_settings_set(
    state: State<'_, AppState>,
    provider: String,
    settings: MonitorSettingsDto,
) -> Result<MonitorSettingsDto, CommandError> {
    blocking(&state, move |kw| {
        let id = kw.providers().get(&provider)?.spec.id;
        kw.monitor().set_provider_settings(&id, settings.apply(kw.monitor().provider_settings(&id)))?;
        Ok(MonitorSettingsDto::from(&kw.monitor().provider_settings(&id)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use crate::test_support::{boot, invoke};
    use serde_json::{json, Value};

    /// Answers every request with a body that both Binance health operations accept.
    fn healthy_exchange() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = [0u8; 8192];
                let _ = stream.read(&mut request);
                let body = r#"{"serverTime":1767225600000,"status":0,"msg":"normal"}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{addr}")
    }

    fn core(dir: &std::path::Path) -> keyward::Keyward {
        keyward::Keyward::open_with_secrets(dir, Arc::new(keyward::vault::MemoryStore::new())).expect("core opens")
    }

    #[test]
    fn nothing_is_monitored_until_a_provider_is_enabled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_app, webview) = boot(core(dir.path()));
        assert_eq!(invoke(&webview, "monitor_status", json!({})).expect("monitor_status"), json!([]));
        let err = invoke(&webview, "checks_run", json!({"provider": "binance"})).expect_err("binance is off");
        assert_eq!(err["kind"], "notEnabled");
        assert!(err["message"].as_str().unwrap_or_default().contains("Providers page"), "{err}");
        let err = invoke(&webview, "checks_run", json!({"provider": "nope"})).expect_err("unknown provider");
        assert_eq!(err["kind"], "notFound");

        let health = invoke(&webview, "provider_health", json!({"provider": "binance"})).expect("provider_health");
        let windows: Vec<&str> =
            health["uptime"].as_array().expect("uptime").iter().filter_map(|u| u["window"].as_str()).collect();
        assert_eq!(windows, ["24h", "7d", "30d", "90d", "1y"]);
        assert_eq!(health["uptime"][0]["percent"], Value::Null);
        assert_eq!(health["status"], Value::Null);
    }

    #[test]
    fn run_checks_now_creates_the_default_checks_records_them_and_charts_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kw = core(dir.path());
        let base_url = healthy_exchange();
        kw.providers().set("binance", &[("environments.production.base_url", base_url.as_str())]).expect("base url");
        kw.providers().set_enabled("binance", true).expect("enable");
        let (_app, webview) = boot(kw);

        let results = invoke(&webview, "checks_run", json!({"provider": "binance"})).expect("checks_run");
        let results = results.as_array().expect("results");
        assert_eq!(results.len(), 2, "server_time and system_status: {results:?}");
        assert!(results.iter().all(|r| r["ok"] == true && r["status"] == 200), "{results:?}");

        let status = invoke(&webview, "monitor_status", json!({})).expect("monitor_status");
        assert_eq!(status[0]["provider"], "binance");
        assert_eq!(status[0]["name"], "Binance");
        assert_eq!(status[0]["lastCheck"]["ok"], true);

        let health = invoke(&webview, "provider_health", json!({"provider": "binance"})).expect("provider_health");
        assert_eq!(health["checks"].as_array().map(Vec::len), Some(2));
        assert_eq!(health["uptime"][0]["checks"], 2);
        assert_eq!(health["uptime"][0]["percent"], 100.0);

        for (cmd, args, title) in [
            (
                "chart_latency",
                json!({"provider": "binance", "hours": 24, "dark": false}),
                "Binance response time, last 24 h",
            ),
            ("chart_uptime", json!({"provider": "binance", "dark": true}), "Binance uptime, last 90 days"),
        ] {
            let svg = invoke(&webview, cmd, args).expect(cmd);
            let svg = svg.as_str().expect("SVG text");
            assert!(svg.starts_with("<svg") && svg.contains(title), "{cmd}: {}", &svg[..svg.len().min(200)]);
        }
    }

    fn check_input(operation: &str, interval_secs: f64) -> Value {
        json!({
            "operation": operation, "intervalSecs": interval_secs, "timeoutSecs": 5, "expectStatus": null,
            "degradedAboveMs": 800, "enabled": true
        })
    }

    fn list(webview: &tauri::WebviewWindow<tauri::test::MockRuntime>) -> Vec<Value> {
        invoke(webview, "checks_list", json!({"provider": "binance"}))
            .expect("checks_list")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn checks_are_added_changed_switched_off_and_removed_and_the_list_shows_them_all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_app, webview) = boot(core(dir.path()));
        assert!(list(&webview).is_empty());

        let time =
            invoke(&webview, "check_add", json!({"provider": "binance", "input": check_input("server_time", 30.0)}))
                .expect("add server_time");
        assert_eq!(time["operation"], "server_time");
        assert_eq!(time["kind"], "operation");
        assert_eq!(time["intervalMs"], 30_000);
        assert_eq!(time["timeoutMs"], 5_000);
        assert_eq!(time["degradedAboveMs"], 800);
        assert_eq!(time["expectStatus"], Value::Null);
        let status =
            invoke(&webview, "check_add", json!({"provider": "binance", "input": check_input("system_status", 60.0)}))
                .expect("add system_status");
        assert_eq!(status["kind"], "status", "the spec's status operation makes a status check");
        let dup =
            invoke(&webview, "check_add", json!({"provider": "binance", "input": check_input("server_time", 30.0)}))
                .expect_err("one check per operation name");
        assert_eq!(dup["kind"], "duplicate");

        let mut changed = check_input("server_time", 90.0);
        changed["expectStatus"] = json!(204);
        changed["enabled"] = json!(false);
        let updated = invoke(&webview, "check_update", json!({"id": time["id"], "input": changed})).expect("update");
        assert_eq!(updated["intervalMs"], 90_000);
        let checks = list(&webview);
        assert_eq!(checks.len(), 2, "disabled checks are listed too: {checks:?}");
        let seen = checks.iter().find(|c| c["id"] == time["id"]).expect("server_time listed");
        assert_eq!(seen["intervalMs"], 90_000);
        assert_eq!(seen["expectStatus"], 204);
        assert_eq!(seen["enabled"], false);
        let health = invoke(&webview, "provider_health", json!({"provider": "binance"})).expect("provider_health");
        assert_eq!(health["checks"].as_array().map(Vec::len), Some(2));

        invoke(&webview, "check_remove", json!({"id": status["id"]})).expect("remove");
        let left: Vec<Value> = list(&webview).iter().map(|c| c["operation"].clone()).collect();
        assert_eq!(left, [json!("server_time")]);
        let gone = invoke(&webview, "check_remove", json!({"id": status["id"]})).expect_err("already removed");
        assert_eq!(gone["kind"], "notFound");
    }

    #[test]
    fn invalid_check_settings_are_refused_with_the_field_and_value_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_app, webview) = boot(core(dir.path()));
        let check =
            invoke(&webview, "check_add", json!({"provider": "binance", "input": check_input("server_time", 30.0)}))
                .expect("add");

        let err =
            invoke(&webview, "check_update", json!({"id": check["id"], "input": check_input("server_time", 0.5)}))
                .expect_err("interval below the minimum");
        assert_eq!(err["kind"], "invalid");
        assert!(err["message"].as_str().unwrap_or_default().contains("interval 500 ms"), "{err}");
        assert_eq!(list(&webview)[0]["intervalMs"], 30_000, "nothing changed");

        let err = invoke(&webview, "check_add", json!({"provider": "binance", "input": check_input("ticker", -3.0)}))
            .expect_err("negative interval");
        assert!(err["message"].as_str().unwrap_or_default().contains("interval -3 s"), "{err}");

        let mut bad_status = check_input("server_time", 30.0);
        bad_status["expectStatus"] = json!(700);
        let err = invoke(&webview, "check_update", json!({"id": check["id"], "input": bad_status})).expect_err("700");
        assert!(err["message"].as_str().unwrap_or_default().contains("expected status 700"), "{err}");

        let err =
            invoke(&webview, "check_add", json!({"provider": "binance", "input": check_input("moon_price", 30.0)}))
                .expect_err("not an operation of binance");
        assert!(err["message"].as_str().unwrap_or_default().contains("\"moon_price\""), "{err}");
        let err = invoke(&webview, "check_add", json!({"provider": "nope", "input": check_input("ping", 30.0)}))
            .expect_err("unknown provider");
        assert_eq!(err["kind"], "notFound");
        assert_eq!(list(&webview).len(), 1);
    }

    #[test]
    fn state_machine_settings_are_read_and_changed_per_provider() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_app, webview) = boot(core(dir.path()));
        let defaults = invoke(&webview, "monitor_settings_get", json!({"provider": "binance"})).expect("get");
        assert_eq!(defaults["confirmations"], 2);
        let wanted = json!({"confirmations": 3, "errorRate": 0.5, "latencyFactor": 2.5});
        let saved =
            invoke(&webview, "monitor_settings_set", json!({"provider": "binance", "settings": wanted})).expect("set");
        assert_eq!(saved, wanted);
        assert_eq!(invoke(&webview, "monitor_settings_get", json!({"provider": "binance"})).expect("get"), wanted);
        assert_eq!(invoke(&webview, "monitor_settings_get", json!({"provider": "kraken"})).expect("kraken"), defaults);

        let err = invoke(
            &webview,
            "monitor_settings_set",
            json!({"provider": "binance", "settings": {"confirmations": 0, "errorRate": 0.5, "latencyFactor": 2.5}}),
        )
        .expect_err("zero confirmations");
        assert_eq!(err["kind"], "invalid");
        assert!(err["message"].as_str().unwrap_or_default().contains("confirmations 0"), "{err}");
    }
}
