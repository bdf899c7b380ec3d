use std::fmt;
use std::str::FromStr;

use super::KeyError;

/// What a key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Trade,
    Withdraw,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Trade => "trade",
            Scope::Withdraw => "withdraw",
        }
    }
}

/// A set of scopes. Defaults to read only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes {
    pub read: bool,
    pub trade: bool,
    pub withdraw: bool,
}

impl Default for Scopes {
    fn default() -> Self {
        Self { read: true, trade: false, withdraw: false }
    }
}

impl Scopes {
    pub fn allows(&self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Trade => self.trade,
            Scope::Withdraw => self.withdraw,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        [Scope::Read, Scope::Trade, Scope::Withdraw].into_iter().filter(|s| self.allows(*s))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Scopes {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut scopes = Scopes { read: false, trade: false, withdraw: false };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "read" => scopes.read = true,
                "trade" => scopes.trade = true,
                "withdraw" => scopes.withdraw = true,
                other => {
                    return Err(KeyError::Invalid {
                        field: "scopes",
                        value: other.to_string(),
                        problem: "expected read, trade or withdraw".into(),
                    })
                }
            }
        }
        if !(scopes.read || scopes.trade || scopes.withdraw) {
            return Err(KeyError::Invalid {
                field: "scopes",
                value: s.to_string(),
                problem: "name at least one scope".into(),
            });
        }
        Ok(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_scope_lists() {
        let s: Scopes = "read, trade".parse().expect("valid");
        assert!(s.read && s.trade && !s.withdraw);
        assert_eq!(s.to_string(), "read,trade");
    }

    #[test]
    fn an_unknown_scope_is_named_in_the_error() {
        let err = "read,admin".parse::<Scopes>().expect_err("admin is not a scope");
        assert!(err.to_string().contains("\"admin\""), "{err}");
        assert!(err.to_string().contains("scopes"), "{err}");
    }
}
