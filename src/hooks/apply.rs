//! Reports → provider states and alerts, and the whole life of one delivery, as `Keyward`
//! methods (they need the registry, the monitor and the alerts together).

use chrono::{DateTime, Utc};

use super::{HookDeliveryView, HookError, HookView, Incoming, IssuedHookView, NewHook, Refusal, Report};
use crate::alerts::AlertInput;
use crate::monitor::{Announcement, HealthState};
use crate::Keyward;

/// What an accepted delivery became (the 202 answer's body).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookReceipt {
    pub hook: String,
    /// One line per report: the alert it raised and the state it set.
    pub outcome: Vec<String>,
}

impl Keyward {
    /// The gateway's base URL as a sender on this machine reaches it: the running gateway's,
    /// else the configured port's.
    pub fn hooks_base_url(&self) -> String {
        match self.gateway().listening_as() {
            Some(l) => l.local_url(),
            None => crate::gateway::local_url(self.gateway().bind(), self.gateway().port()),
        }
    }

    /// Every hook as the Alerts page and `keyward hooks list` show it. Blocking.
    pub fn hook_views(&self) -> Result<Vec<HookView>, HookError> {
        let base = self.hooks_base_url();
        Ok(self.hooks().list()?.iter().map(|h| HookView::new(h, &base)).collect())
    }

    /// Creates a hook; the provider, when given, must exist. Its secret is in the answer, once.
    /// Blocking.
    pub fn add_hook(&self, new: &NewHook) -> Result<IssuedHookView, HookError> {
        if let Some(p) = new.provider.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            if self.providers().get(p).is_err() {
                return Err(HookError::Invalid(format!("hook provider \"{p}\": there is no such provider")));
            }
        }
        let (hook, secret) = self.hooks().add(new)?;
        let view = HookView::new(&hook, &self.hooks_base_url());
        let secret = secrecy::ExposeSecret::expose_secret(&secret).to_string();
        let send_url = match hook.auth {
            super::HookAuth::Signature => view.url.clone(),
            super::HookAuth::UrlSecret => format!("{}?{}={secret}", view.url, super::SECRET_PARAM),
        };
        Ok(IssuedHookView { hook: view, secret, send_url })
    }

    /// The newest deliveries, newest first. Blocking.
    pub fn hook_deliveries(&self, hook: Option<&str>) -> Result<Vec<HookDeliveryView>, HookError> {
        let id = match hook {
            Some(h) => Some(self.hooks().get(h)?.id),
            None => None,
        };
        Ok(self
            .hooks()
            .deliveries(id.as_deref(), super::DELIVERIES_SHOWN)?
            .iter()
            .map(|(d, name)| HookDeliveryView::new(d, name))
            .collect())
    }

    /// One delivery to `POST /hooks/<id>`: checked, turned into alerts and provider states,
    /// recorded. Blocking (SQLite, the secret store).
    pub fn receive_hook(&self, id: &str, incoming: Incoming<'_>) -> Result<HookReceipt, Refusal> {
        let checked = self.hooks().check(id, incoming)?;
        let origin = format!("hook {}", checked.hook.name);
        let outcome = self.apply_reports(
            &origin,
            &format!("hook {}", checked.hook.id),
            checked.hook.provider.as_deref(),
            &checked.reports,
            self.monitor().clock().now(),
        );
        let bytes = incoming.body.len() as u64;
        if let Err(e) = self.hooks().record(&checked.hook, 202, "accepted", &outcome.join("; "), bytes) {
            tracing::warn!(hook = %checked.hook.name, error = %e, "could not record a delivery");
        }
        Ok(HookReceipt { hook: checked.hook.name, outcome })
    }

    /// Feeds reports into the providers' health (announcements under `source_prefix` +
    /// subject) and the alerts (`origin` names the sender). `default_provider` is used for
    /// reports that name none. Returns one line per report saying what it became. Blocking.
    pub fn apply_reports(
        &self,
        origin: &str,
        source_prefix: &str,
        default_provider: Option<&str>,
        reports: &[Report],
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let mut outcome = Vec::new();
        for r in reports {
            let named = r.provider.as_deref().or(default_provider);
            let provider = named.filter(|p| self.providers().get(p).is_ok());
            let mut line = String::new();
            if let (Some(p), Some(state)) = (provider, r.state) {
                let announcement = Announcement {
                    source: format!("{source_prefix} {}", r.subject),
                    state,
                    cause: r.title.clone(),
                    at: now,
                };
                let change = self.monitor().announce(p, announcement);
                line = match (change, state) {
                    (Some(c), _) => format!("{p}: {} → {}", c.from, c.to),
                    (None, HealthState::Up) => format!("{p}: the report on {} is over", r.subject),
                    (None, s) => format!("{p} stays {} ({s} reported)", self.current_state(p)),
                };
            } else if let (Some(p), None) = (named, provider) {
                line = format!("provider \"{p}\" is unknown: no state set");
            }
            let input = match (provider, r.starts_at) {
                (Some(p), Some(starts)) if starts > now => AlertInput::MaintenanceAnnounced {
                    provider: p.to_string(),
                    message: r.title.clone(),
                    starts_at: Some(starts),
                },
                _ => AlertInput::Incoming {
                    origin: origin.to_string(),
                    subject: r.subject.clone(),
                    provider: provider.unwrap_or_default().to_string(),
                    title: r.title.clone(),
                    message: r.message.clone(),
                    severity: r.severity,
                    resolved: r.resolved,
                },
            };
            let alerts = match self.alerts().handle(&input, now) {
                Ok(list) => {
                    let raised: Vec<String> = list
                        .iter()
                        .filter(|a| a.resolved_at.is_none())
                        .map(|a| format!("alert \"{}\"", a.title))
                        .collect();
                    let resolved = list.len() - raised.len();
                    let mut parts = raised;
                    if resolved > 0 {
                        parts.push(format!("{resolved} alert(s) resolved"));
                    }
                    parts.join(", ")
                }
                Err(e) => format!("the alert could not be recorded ({})", e.kind()),
            };
            let joined = [line, alerts].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ");
            outcome.push(if joined.is_empty() { format!("\"{}\": nothing to do", r.title) } else { joined });
        }
        outcome
    }

    fn current_state(&self, provider: &str) -> HealthState {
        self.monitor()
            .current_states()
            .ok()
            .and_then(|all| all.into_iter().find(|s| s.provider == provider).map(|s| s.state))
            .unwrap_or(HealthState::Unknown)
    }
}
