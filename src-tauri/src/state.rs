use std::path::Path;
use std::sync::{Arc, Mutex};

use keyward::Keyward;

use crate::dto::CommandError;

/// Managed state: the core handle, or why it could not be opened (shown by the UI).
pub struct AppState {
    core: Result<Keyward, CommandError>,
    /// Why the background services (monitoring, alerts, the control API) are not running in
    /// this process, e.g. `keyward serve` already runs on the data directory.
    services_problem: Arc<Mutex<Option<String>>>,
}

impl AppState {
    /// Opens the core on the data directory. A failure is kept and reported by every command,
    /// so the window can show it instead of the app vanishing.
    pub fn open(data_dir: &Path) -> Self {
        let core = Keyward::open_as(data_dir, keyward::audit::Actor::Ui).map_err(|e| {
            tracing::error!(error = %e, "could not open the Keyward core");
            CommandError::from(e)
        });
        Self { core, services_problem: Arc::default() }
    }

    pub fn from_core(core: Keyward) -> Self {
        Self { core: Ok(core), services_problem: Arc::default() }
    }

    pub fn set_services_problem(&self, problem: Option<String>) {
        *self.services_problem.lock().unwrap_or_else(|p| p.into_inner()) = problem;
    }

    pub fn services_problem(&self) -> Option<String> {
        self.services_problem.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn core(&self) -> Result<Keyward, CommandError> {
        self.core.clone()
    }
}
