//! The long-running services of one Keyward process (the desktop app or `keyward serve`):
//! the health-check scheduler, the alert webhook worker, and the bridges that turn monitor
//! and rate-limit events into alert inputs. Front ends subscribe to the same events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::alerts::{AlertInput, ProviderStatus, RateLimitLevel};
use crate::monitor::{HealthState, MonitorEvent, PipelineRunner, SchedulerHandle, SchedulerOptions};
use crate::ratelimit::{Level, LimitEvent};
use crate::{Error, Keyward};

/// How often alert housekeeping (ban and announcement expiry) runs.
const ALERT_TICK: Duration = Duration::from_secs(60);

/// How often every key's expiry and rotate-by dates are sent to the alert rules (which decide
/// whether they are inside their reminder window).
const KEY_REMINDERS: Duration = Duration::from_secs(6 * 3600);

/// Running services; stop them with [`Services::stop`].
pub struct Services {
    cancel: CancellationToken,
    scheduler: SchedulerHandle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn status(s: HealthState) -> ProviderStatus {
    match s {
        HealthState::Up => ProviderStatus::Up,
        HealthState::Degraded => ProviderStatus::Degraded,
        HealthState::Down => ProviderStatus::Down,
        HealthState::Maintenance => ProviderStatus::Maintenance,
        HealthState::Unknown => ProviderStatus::Unknown,
    }
}

/// Starts monitoring (default checks for every enabled provider), the webhook worker and the
/// event bridges. Must run inside a tokio runtime.
pub async fn start(kw: &Keyward) -> Result<Services, Error> {
    let cancel = CancellationToken::new();
    let monitor = kw.monitor().clone();
    let registry = kw.providers().clone();
    tokio::task::spawn_blocking(move || monitor.ensure_default_checks(&registry))
        .await
        .map_err(|e| Error::Config(format!("the monitor set-up task failed: {e}")))?
        .map_err(|e| Error::Config(format!("could not set up health checks: {e}")))?;
    let scheduler = kw
        .monitor()
        .start(Arc::new(PipelineRunner::new(kw.pipeline().clone())), SchedulerOptions::default(), cancel.clone())
        .await
        .map_err(|e| Error::Config(format!("could not start the health checks: {e}")))?;
    let mut tasks = Vec::new();
    match kw.alerts().run_webhooks(cancel.child_token()) {
        Ok(handle) => tasks.push(handle),
        Err(e) => tracing::error!(error = %e, "webhook delivery is off"),
    }
    tasks.push(tokio::spawn(monitor_bridge(kw.clone(), cancel.clone())));
    tasks.push(tokio::spawn(limit_bridge(kw.clone(), cancel.clone())));
    tasks.push(tokio::spawn(alert_ticks(kw.clone(), cancel.clone())));
    tasks.push(tokio::spawn(key_reminders(kw.clone(), cancel.clone())));
    tasks.push(tokio::spawn(flush_key_uses(kw.clone(), cancel.clone())));
    Ok(Services { cancel, scheduler, tasks })
}

impl Services {
    pub async fn stop(self) {
        self.cancel.cancel();
        self.scheduler.stop().await;
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Monitor events → alert inputs: a state change, then one input per check while the
/// provider stays in a bad state (so "down for N checks" rules can count).
async fn monitor_bridge(kw: Keyward, cancel: CancellationToken) {
    let mut events = kw.monitor().subscribe();
    let mut bad: HashMap<String, (HealthState, HealthState, String, u32)> = HashMap::new();
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = events.recv() => e,
        };
        let event = match event {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        match event {
            MonitorEvent::StateChanged { provider, from, to, cause, .. } => {
                if to.is_bad() {
                    bad.insert(provider.clone(), (from, to, cause.clone(), 2));
                } else {
                    bad.remove(&provider);
                }
                kw.alert_sender().send(AlertInput::ProviderState {
                    provider,
                    from: status(from),
                    to: status(to),
                    cause: Some(cause),
                    consecutive_checks: 2,
                });
            }
            MonitorEvent::CheckCompleted { provider, ok, .. } => {
                if let Some((from, to, cause, n)) = bad.get_mut(&provider) {
                    if !ok {
                        *n += 1;
                        kw.alert_sender().send(AlertInput::ProviderState {
                            provider: provider.clone(),
                            from: status(*from),
                            to: status(*to),
                            cause: Some(cause.clone()),
                            consecutive_checks: *n,
                        });
                    }
                }
            }
        }
    }
}

/// Rate-limit events → alert inputs.
async fn limit_bridge(kw: Keyward, cancel: CancellationToken) {
    let mut events = kw.limiter().subscribe();
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            e = events.recv() => e,
        };
        let event = match event {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        let input = match event {
            LimitEvent::Threshold { provider, limit, level, used_pct, .. } => AlertInput::RateLimit {
                provider,
                limit,
                level: match level {
                    Level::Normal => RateLimitLevel::Normal,
                    Level::Warn => RateLimitLevel::Warn,
                    Level::Critical => RateLimitLevel::Critical,
                },
                used_pct,
            },
            LimitEvent::Banned { provider, retry_after, .. } => AlertInput::RateLimitBan {
                provider,
                until: Utc::now() + chrono::Duration::from_std(retry_after).unwrap_or_default(),
            },
            LimitEvent::Cleared { provider, limit: Some(limit), .. } => {
                AlertInput::RateLimit { provider, limit, level: RateLimitLevel::Normal, used_pct: 0.0 }
            }
            LimitEvent::Cleared { .. } | LimitEvent::Paused { .. } => continue,
        };
        kw.alert_sender().send(input);
    }
}

async fn alert_ticks(kw: Keyward, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(ALERT_TICK);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        let alerts = kw.alerts().clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = alerts.tick(Utc::now()) {
                tracing::warn!(error = %e, "alert housekeeping failed");
            }
        })
        .await;
    }
}

/// Sends every key's expiry and rotation dates to the alerts (reminders before the dates;
/// the rules resolve them once a key is rotated or its date moves out of the window).
pub fn send_key_reminders(kw: &Keyward) -> Result<usize, Error> {
    let keys = kw.keys().list(None).map_err(|e| Error::Config(format!("could not read keys: {e}")))?;
    let mut sent = 0;
    for k in keys {
        if let Some(expires_at) = k.expires_at {
            kw.alert_sender().send(AlertInput::KeyExpiring {
                provider: k.provider.clone(),
                label: k.label.clone(),
                expires_at,
            });
            sent += 1;
        }
        if let Some(due) = k.rotate_by {
            kw.alert_sender().send(AlertInput::RotationDue {
                provider: k.provider.clone(),
                label: k.label.clone(),
                due,
            });
            sent += 1;
        }
    }
    Ok(sent)
}

async fn key_reminders(kw: Keyward, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(KEY_REMINDERS);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        let kw = kw.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = send_key_reminders(&kw) {
                tracing::warn!(error = %e, "key reminders failed");
            }
        })
        .await;
    }
}

/// Writes the aggregated key-use audit rows while the process runs (not only at exit).
async fn flush_key_uses(kw: Keyward, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(crate::audit::USE_FLUSH_INTERVAL);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        let audit = kw.audit().clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = audit.flush_uses(Utc::now()) {
                tracing::warn!(error = %e, "could not write key-use audit rows");
            }
        })
        .await;
    }
}
