use std::path::Path;

use keyward::Keyward;

use crate::dto::CommandError;

/// Managed state: the core handle, or why it could not be opened (shown by the UI).
pub struct AppState {
    core: Result<Keyward, CommandError>,
}

impl AppState {
    /// Opens the core on the data directory. A failure is kept and reported by every command,
    /// so the window can show it instead of the app vanishing.
    pub fn open(data_dir: &Path) -> Self {
        let core = Keyward::open_as(data_dir, keyward::audit::Actor::Ui).map_err(|e| {
            tracing::error!(error = %e, "could not open the Keyward core");
            CommandError::from(e)
        });
        Self { core }
    }

    pub fn from_core(core: Keyward) -> Self {
        Self { core: Ok(core) }
    }

    pub fn core(&self) -> Result<Keyward, CommandError> {
        self.core.clone()
    }
}
