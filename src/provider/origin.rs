//! Where a provider's spec comes from: a preset, a preset with the user's changes, or the user.

use std::fmt;

use serde::Serialize;

/// Where a provider's spec comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A preset, unchanged.
    Preset,
    /// A preset with the user's changes stored over it (`reset` drops them).
    Modified,
    /// Added by the user.
    Custom,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Preset => "preset",
            Origin::Modified => "modified",
            Origin::Custom => "custom",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
