//! The local gateway: the trader's bots call exchanges through Keyward at
//! `http://127.0.0.1:<port>/<provider>/…`, with a Keyward token as their API key. They hold no
//! exchange secret, and every request is charged to the same rate-limit budget as the app's,
//! the CLI's and the monitors' own calls (see [`server`] for the request path).
//!
//! - [`tokens`]: bot tokens (stored hashed, shown once; scopes, allowed addresses, wait limit);
//! - [`wire`]: each auth scheme's key header and signature fields, and its rate-limit answer;
//! - [`stats`]: live numbers per bot for the Gateway page and `keyward gateway status`.

pub mod server;
pub mod stats;
pub mod tokens;
pub mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub use server::{serve, GatewayServer};
pub use stats::{BotStats, Stats};
pub use tokens::{BotToken, IssuedToken, NewToken, TokenError, TokenScope, TokenScopes, Tokens};

use crate::store::Store;

/// The port the gateway listens on unless the `gateway.port` setting says otherwise. High and
/// unassigned, so it rarely clashes.
pub const DEFAULT_PORT: u16 = 47311;
/// Setting that holds the port.
pub const PORT_SETTING: &str = "gateway.port";

/// What `keyward gateway status` and the Gateway page show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayView {
    /// `http://127.0.0.1:<port>` when this process's gateway listens.
    pub url: Option<String>,
    /// The configured port.
    pub port: u16,
    pub bots: Vec<BotStats>,
}

/// The gateway's state shared by its server and the front ends. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    tokens: Tokens,
    stats: Stats,
    store: Store,
    listening: Arc<Mutex<Option<SocketAddr>>>,
}

impl Gateway {
    pub fn new(store: Store, tokens: Tokens) -> Self {
        Self { tokens, stats: Stats::default(), store, listening: Arc::new(Mutex::new(None)) }
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configured port (blocking: reads a setting).
    pub fn port(&self) -> u16 {
        self.store.setting(PORT_SETTING).ok().flatten().and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_PORT)
    }

    /// Sets the port used from the next start. 0 is refused (the port must be stable: bots
    /// are configured with it).
    pub fn set_port(&self, port: u16) -> Result<(), TokenError> {
        if port == 0 {
            return Err(TokenError::Invalid {
                field: "port",
                value: port.to_string(),
                expected: "a port from 1 to 65535 (bots are configured with it, so it must be fixed)".into(),
            });
        }
        self.store.set_setting(PORT_SETTING, &port.to_string())?;
        Ok(())
    }

    /// Where this process's gateway listens, if it runs.
    pub fn listening(&self) -> Option<SocketAddr> {
        *self.listening.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where it listens and every bot's numbers (blocking: reads the port setting).
    pub fn view(&self) -> GatewayView {
        GatewayView {
            url: self.listening().map(|a| format!("http://{a}")),
            port: self.port(),
            bots: self.stats.snapshot(),
        }
    }

    pub(crate) fn set_listening(&self, addr: Option<SocketAddr>) {
        *self.listening.lock().unwrap_or_else(|p| p.into_inner()) = addr;
    }
}
