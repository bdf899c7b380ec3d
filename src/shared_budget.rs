//! Setting up the budget shared across machines (see [`crate::ratelimit::shared`]): the Redis
//! URL in settings, its password in the secret store, and starting it with the services.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::ratelimit::shared::{SharedBudgetSettings, SharedBudgetView, SharedLimiter, PASSWORD_ACCOUNT, SETTING_KEY};

/// The shared budget as Settings and the Rate limits page show it: what is set up, whether a
/// password is stored, and the live state of this process's shared budget.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SharedBudgetStatus {
    pub settings: Option<SharedBudgetSettings>,
    pub password_stored: bool,
    /// `null` when this process does not share (not set up, or set up after it started).
    pub live: Option<SharedBudgetView>,
    /// The settings differ from what runs: restart Keyward to apply them.
    pub restart_needed: bool,
}
use crate::{Error, Keyward};

impl Keyward {
    /// The shared budget's settings; `None` when this data directory keeps its budget to itself.
    pub fn shared_budget_settings(&self) -> Result<Option<SharedBudgetSettings>, Error> {
        Ok(self
            .store()
            .setting(SETTING_KEY)?
            .filter(|s| !s.is_empty())
            .and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// Points this data directory at a Redis server (`redis://[:password@]host:port[/db]` or
    /// `rediss://…`), or turns sharing off with `None`. The password goes to the secret store,
    /// never to the database. Takes effect when the app or `keyward serve` starts.
    pub fn set_shared_budget(
        &self,
        url: Option<&str>,
        egress_group: Option<String>,
    ) -> Result<Option<SharedBudgetSettings>, Error> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            self.store().set_setting(SETTING_KEY, "")?;
            let _ = self.secrets().delete(PASSWORD_ACCOUNT);
            return Ok(None);
        };
        let (settings, password) = SharedBudgetSettings::parse(url, egress_group)?;
        match &password {
            Some(p) => self.secrets().put(PASSWORD_ACCOUNT, &secrecy::SecretString::from(p.clone()))?,
            None => {
                let _ = self.secrets().delete(PASSWORD_ACCOUNT);
            }
        }
        let json = serde_json::to_string(&settings).map_err(|e| Error::Config(e.to_string()))?;
        self.store().set_setting(SETTING_KEY, &json)?;
        crate::audit::ChangeLog::new(self.inner.audit.clone(), self.inner.actor).record(
            crate::audit::AuditKind::SettingsChanged,
            None,
            serde_json::json!({"setting": "shared budget", "action": "set", "url": settings.url, "egressGroup": settings.egress_group}),
        );
        Ok(Some(settings))
    }

    /// What is set up and what runs (Settings, the Rate limits page).
    pub fn shared_budget_status(&self) -> Result<SharedBudgetStatus, Error> {
        let settings = self.shared_budget_settings()?;
        let live = self.shared_budget_view();
        let restart_needed = match (&settings, &live) {
            (None, None) => false,
            (Some(s), Some(l)) => s.url != l.url || s.egress_group != l.egress_group,
            _ => true,
        };
        let password_stored = settings.is_some() && self.secrets().get(PASSWORD_ACCOUNT).is_ok();
        Ok(SharedBudgetStatus { settings, password_stored, live, restart_needed })
    }

    /// The running shared budget, when this process started one.
    pub fn shared_budget(&self) -> Option<Arc<SharedLimiter>> {
        self.inner.shared.get().cloned()
    }

    /// Marks the limits this process shares with other machines.
    pub fn mark_shared(&self, views: &mut [crate::ratelimit::LimitView]) {
        if let Some(shared) = self.shared_budget() {
            for v in views {
                v.shared = shared.shares_scope(&v.scope);
            }
        }
    }

    /// Its state for the Rate limits page and `keyward limits`.
    pub fn shared_budget_view(&self) -> Option<SharedBudgetView> {
        self.shared_budget().map(|s| s.view())
    }

    /// Starts sharing when it is set up: from now on the pipeline charges the shared limits
    /// too. Called by `service::start` (the app, `keyward serve`); returns the heartbeat task.
    pub fn start_shared_budget(
        &self,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, Error> {
        let Some(settings) = self.shared_budget_settings()? else { return Ok(None) };
        let password = match self.secrets().get(PASSWORD_ACCOUNT) {
            Ok(p) => Some(p.expose_secret().to_string()),
            Err(_) => None,
        };
        let shared = SharedLimiter::new(
            self.inner.limiter.clone(),
            self.inner.keys.clone(),
            Arc::new(crate::clock::SystemClock),
            settings,
            password,
        );
        let sender = self.alert_sender().clone();
        // Reported like another service's report (rule "Incoming reports"): raised while Redis
        // does not answer, resolved when sharing resumes.
        let url = shared.view().url;
        shared.on_change(move |online, problem| {
            sender.send(crate::alerts::AlertInput::Incoming {
                origin: "shared budget".into(),
                subject: url.clone(),
                provider: String::new(),
                title: "Shared budget offline".into(),
                message: format!(
                    "{}. Each Keyward keeps to its share of every account limit until Redis answers again.",
                    problem.unwrap_or("Redis does not answer")
                ),
                severity: crate::alerts::Severity::Warning,
                resolved: online,
            });
        });
        if self.inner.shared.set(Arc::clone(&shared)).is_err() || !self.inner.limiter_slot.use_remote(shared.clone()) {
            return Err(Error::Config("the shared budget was already started in this process".into()));
        }
        tracing::info!(url = %shared.view().url, "sharing account and key limits through Redis");
        Ok(Some(shared.run(cancel)))
    }
}
