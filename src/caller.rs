//! Who makes a call: the desktop UI, the CLI, the health monitor, Keyward itself, a key check,
//! or a bot through the gateway. One type, so modules compare kinds (the limiter's health cap,
//! the audit actor of a key's use) instead of string constants, and the name recorded in usage
//! and the limiter's breakdowns is spelled in one place.

use std::borrow::Cow;
use std::fmt;

/// What kind of caller this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerKind {
    /// The desktop app (`ui`).
    Ui,
    /// The `keyward` command, directly or through the control API (`cli`).
    Cli,
    /// Health checks (`monitor`): held to their share of each limit.
    Monitor,
    /// Keyward's own reads, such as published limits (`keyward`).
    Keyward,
    /// Key permission checks and rotation verification (`keys`).
    Keys,
    /// A bot through the gateway (`bot:<token name>`).
    Bot,
    /// Any other name (tests, benchmarks, scripts through the control API).
    Other,
}

/// A caller and the name it is recorded under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    kind: CallerKind,
    name: Cow<'static, str>,
}

/// Bots calling through the gateway are named `bot:<token name>`.
pub const BOT_PREFIX: &str = "bot:";

impl Caller {
    pub const UI: Caller = Caller::fixed(CallerKind::Ui, "ui");
    pub const CLI: Caller = Caller::fixed(CallerKind::Cli, "cli");
    pub const MONITOR: Caller = Caller::fixed(CallerKind::Monitor, "monitor");
    pub const KEYWARD: Caller = Caller::fixed(CallerKind::Keyward, "keyward");
    /// Keyward refreshing a hot cache entry before it expires (refresh-ahead).
    pub const REFRESH: Caller = Caller::fixed(CallerKind::Keyward, "refresh");
    pub const KEYS: Caller = Caller::fixed(CallerKind::Keys, "keys");
    /// A call whose front end gave no name.
    pub const UNKNOWN: Caller = Caller::fixed(CallerKind::Other, "unknown");

    const fn fixed(kind: CallerKind, name: &'static str) -> Self {
        Self { kind, name: Cow::Borrowed(name) }
    }

    /// The gateway's bot with token `token_name`.
    pub fn bot(token_name: &str) -> Self {
        Self { kind: CallerKind::Bot, name: Cow::Owned(format!("{BOT_PREFIX}{token_name}")) }
    }

    /// Reads a recorded name back (the control API's bodies, usage rows): the known names get
    /// their kind, `bot:…` is a bot, anything else is [`CallerKind::Other`].
    pub fn parse(name: &str) -> Self {
        match name {
            "" => Self::UNKNOWN,
            "ui" => Self::UI,
            "cli" => Self::CLI,
            "monitor" => Self::MONITOR,
            "keyward" => Self::KEYWARD,
            "keys" => Self::KEYS,
            _ if name.starts_with(BOT_PREFIX) => Self { kind: CallerKind::Bot, name: Cow::Owned(name.to_string()) },
            _ => Self { kind: CallerKind::Other, name: Cow::Owned(name.to_string()) },
        }
    }

    pub fn kind(&self) -> CallerKind {
        self.kind
    }

    /// The name usage, the limiter's breakdowns and the calls table record.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl Default for Caller {
    fn default() -> Self {
        Self::UNKNOWN
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl From<&str> for Caller {
    fn from(name: &str) -> Self {
        Self::parse(name)
    }
}

impl From<String> for Caller {
    fn from(name: String) -> Self {
        Self::parse(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_the_same_kind() {
        for c in [Caller::UI, Caller::CLI, Caller::MONITOR, Caller::KEYWARD, Caller::KEYS, Caller::bot("grid")] {
            assert_eq!(Caller::parse(c.as_str()), c, "{c}");
        }
        assert_eq!(Caller::bot("grid").as_str(), "bot:grid");
        assert_eq!(Caller::parse("bot:grid").kind(), CallerKind::Bot);
        assert_eq!(Caller::parse("backtest").kind(), CallerKind::Other);
        assert_eq!(Caller::parse(""), Caller::UNKNOWN);
    }
}
