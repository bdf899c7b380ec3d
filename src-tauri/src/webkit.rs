//! WebKitGTK settings for an app that stays open in the tray all day (issue 13: idle memory;
//! the measurements are in docs/BENCHMARKS.md, "Startup and idle memory").
//!
//! WebKitGTK reads these from the environment when it starts, so `main` applies them before
//! GTK or WebKit start. A variable the user has set, to any value, is left as it is.

use std::ffi::OsString;

/// What Keyward sets when the variable is unset, and why.
pub const ENV_DEFAULTS: &[(&str, &str)] = &[
    // Accelerated compositing gives the web process a GL context of its own (Mesa's llvmpipe
    // when there is no GPU), about 100 MB for a page that is a dashboard of text and SVG.
    // Without it WebKit paints on the CPU, which this page does without a visible difference.
    ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
];

/// The variables of [`ENV_DEFAULTS`] that `current` (the environment) leaves unset.
pub fn env_defaults_to_set(current: impl Fn(&str) -> Option<OsString>) -> Vec<(&'static str, &'static str)> {
    ENV_DEFAULTS.iter().copied().filter(|(name, _)| current(name).is_none()).collect()
}

/// Sets the unset [`ENV_DEFAULTS`] in this process. Call it first in `main`, before any other
/// thread starts (the environment is process-wide).
pub fn apply_env_defaults() {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return;
    }
    for (name, value) in env_defaults_to_set(|name| std::env::var_os(name)) {
        std::env::set_var(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositing_is_turned_off_unless_the_user_chose_either_way() {
        let set = env_defaults_to_set(|_| None);
        assert!(set.contains(&("WEBKIT_DISABLE_COMPOSITING_MODE", "1")), "{set:?}");

        // A user who wants compositing back sets it to 0 (WebKit reads 0 as "not disabled").
        let chosen = |name: &str| (name == "WEBKIT_DISABLE_COMPOSITING_MODE").then(|| OsString::from("0"));
        let set = env_defaults_to_set(chosen);
        assert!(set.iter().all(|(name, _)| *name != "WEBKIT_DISABLE_COMPOSITING_MODE"), "{set:?}");
    }
}
