//! The local gateway: the trader's bots call exchanges through Keyward at
//! `http://127.0.0.1:<port>/<provider>/…`, with a Keyward token as their API key. They hold no
//! exchange secret, and every request is charged to the same rate-limit budget as the app's,
//! the CLI's and the monitors' own calls (see [`server`] for the request path).
//!
//! - [`tokens`]: bot tokens (stored hashed, shown once; scopes, allowed addresses, wait limit);
//! - [`wire`]: each auth scheme's key header and signature fields, and its rate-limit answer;
//! - [`stats`]: live numbers per bot for the Gateway page and `keyward gateway status`;
//! - [`tls`]: the certificate it serves when it binds beyond loopback.
//!
//! It listens on 127.0.0.1 over plain HTTP unless the `gateway.bind` setting names another
//! address (Docker bots on the same host, another machine on the LAN). That takes an explicit
//! confirmation, and then the gateway serves HTTPS only, with a certificate Keyward generates,
//! so tokens, orders and answers never cross a network in clear text. A token without allowed
//! addresses still works from loopback only.

pub mod server;
pub mod stale;
pub mod stats;
pub mod tls;
pub mod tokens;
mod view;
pub mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

pub use server::{serve, serve_on, GatewayServer, Listen};
pub use stats::{BotStats, Stats};
pub use tls::{GatewayCertificate, TlsError};
pub use tokens::{BotToken, IssuedToken, NewToken, TokenError, TokenScope, TokenScopes, Tokens};
pub use view::{GatewayTokenView, IssuedTokenView};

use crate::store::Store;
use crate::vault::SecretStore;

/// The port the gateway listens on unless the `gateway.port` setting says otherwise. High and
/// unassigned, so it rarely clashes.
pub const DEFAULT_PORT: u16 = 47311;
/// Setting that holds the port.
pub const PORT_SETTING: &str = "gateway.port";
/// Setting that holds the address the gateway binds (default 127.0.0.1).
pub const BIND_SETTING: &str = "gateway.bind";
/// Where the gateway listens unless told otherwise: this machine only.
pub const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// What `keyward gateway status` and the Gateway page show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayView {
    /// `http://127.0.0.1:<port>` (or `https://<address>:<port>` beyond loopback) when this
    /// process's gateway listens.
    pub url: Option<String>,
    /// The configured port.
    pub port: u16,
    /// The configured bind address (used from the next start).
    #[serde(default = "default_bind_text")]
    pub bind: String,
    /// SHA-256 of the certificate (`AB:CD:…`) when the running gateway serves TLS, for bots
    /// to pin.
    #[serde(default)]
    pub fingerprint: Option<String>,
    pub bots: Vec<BotStats>,
}

fn default_bind_text() -> String {
    DEFAULT_BIND.to_string()
}

/// Where this process's gateway listens and, with TLS, the certificate it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    pub addr: SocketAddr,
    pub certificate: Option<GatewayCertificate>,
}

impl Listening {
    /// `https://…` with TLS, else `http://…`.
    pub fn url(&self) -> String {
        let scheme = if self.certificate.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The base URL for a bot on this machine (127.0.0.1 when bound to every address).
    pub fn local_url(&self) -> String {
        match (&self.certificate, self.addr.ip().is_unspecified()) {
            (Some(_), true) => local_url(self.addr.ip(), self.addr.port()),
            _ => self.url(),
        }
    }
}

/// The gateway's state shared by its server and the front ends. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    tokens: Tokens,
    stats: Stats,
    store: Store,
    secrets: Arc<dyn SecretStore>,
    /// The secret-store account of the TLS private key.
    tls_account: String,
    listening: Arc<Mutex<Option<Listening>>>,
    last_good: stale::LastGood,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("listening", &self.listening()).finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(store: Store, tokens: Tokens, secrets: Arc<dyn SecretStore>, tls_account: String) -> Self {
        Self {
            tokens,
            stats: Stats::default(),
            store,
            secrets,
            tls_account,
            listening: Arc::new(Mutex::new(None)),
            last_good: stale::LastGood::default(),
        }
    }

    /// The last good answers of public market data, served stale when the exchange fails.
    pub fn last_good(&self) -> &stale::LastGood {
        &self.last_good
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

    /// The configured bind address (blocking: reads a setting).
    pub fn bind(&self) -> IpAddr {
        self.store.setting(BIND_SETTING).ok().flatten().and_then(|a| a.trim().parse().ok()).unwrap_or(DEFAULT_BIND)
    }

    /// Sets the address the gateway binds from the next start. Anything but loopback needs
    /// `confirmed` (the user read [`TokenError::BindNeedsConfirmation`]'s warning); it makes the
    /// gateway serve HTTPS only, so the certificate is made now (if there is none for this
    /// address) and its fingerprint returned, for the bots to pin. Blocking.
    pub fn set_bind(&self, addr: IpAddr, confirmed: bool) -> Result<Option<GatewayCertificate>, TokenError> {
        if addr.is_loopback() {
            self.store.set_setting(BIND_SETTING, &addr.to_string())?;
            return Ok(None);
        }
        if !confirmed {
            return Err(TokenError::BindNeedsConfirmation { addr });
        }
        let (cert, _) = tls::load_or_create(&self.store, self.secrets.as_ref(), &self.tls_account, addr)?;
        self.store.set_setting(BIND_SETTING, &addr.to_string())?;
        Ok(Some(cert))
    }

    /// The certificate Keyward generated for the gateway, if it made one (blocking).
    pub fn certificate(&self) -> Result<Option<GatewayCertificate>, TokenError> {
        Ok(tls::stored(&self.store)?)
    }

    /// The certificate bots must trust: the one this process's gateway serves, else (no TLS
    /// here yet) the stored one when the configured bind address is beyond loopback, which the
    /// next start serves. `None` for the plain-HTTP loopback default. Blocking.
    pub fn certificate_for_bots(&self) -> Result<Option<GatewayCertificate>, TokenError> {
        if let Some(cert) = self.listening_as().and_then(|l| l.certificate) {
            return Ok(Some(cert));
        }
        if self.bind().is_loopback() {
            return Ok(None);
        }
        self.certificate()
    }

    /// The certificate for serving on `bind` and its rustls configuration (blocking: reads the
    /// secret store, may generate).
    pub(crate) fn tls_config(&self, bind: IpAddr) -> Result<(GatewayCertificate, rustls::ServerConfig), TlsError> {
        tls::load_or_create(&self.store, self.secrets.as_ref(), &self.tls_account, bind)
    }

    /// Where this process's gateway listens, if it runs.
    pub fn listening(&self) -> Option<SocketAddr> {
        self.listening_as().map(|l| l.addr)
    }

    /// The gateway's base URL for a client on this machine: where this process's gateway
    /// listens (with its scheme), else where it will (the bind and port settings).
    pub fn local_base_url(&self) -> String {
        self.listening_as().map_or_else(|| local_url(self.bind(), self.port()), |l| l.local_url())
    }

    /// Where this process's gateway listens and whether with TLS, if it runs.
    pub fn listening_as(&self) -> Option<Listening> {
        self.listening.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Where it listens and every bot's numbers (blocking: reads the port and bind settings).
    pub fn view(&self) -> GatewayView {
        let listening = self.listening_as();
        GatewayView {
            url: listening.as_ref().map(Listening::url),
            port: self.port(),
            bind: self.bind().to_string(),
            fingerprint: listening.and_then(|l| l.certificate).map(|c| c.fingerprint),
            bots: self.stats.snapshot(),
        }
    }

    pub(crate) fn set_listening(&self, listening: Option<Listening>) {
        *self.listening.lock().unwrap_or_else(|p| p.into_inner()) = listening;
    }
}

/// The base URL a bot on this machine uses for a gateway bound to `bind:port`: plain HTTP on
/// loopback; HTTPS beyond it, on 127.0.0.1 when bound to every address (0.0.0.0, `::`).
pub fn local_url(bind: IpAddr, port: u16) -> String {
    if bind.is_loopback() {
        return format!("http://{}", SocketAddr::new(bind, port));
    }
    let host = match bind {
        IpAddr::V4(a) if a.is_unspecified() => DEFAULT_BIND,
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    };
    format!("https://{}", SocketAddr::new(host, port))
}

/// Parses a bind address (`127.0.0.1`, `0.0.0.0`, `192.168.1.20`, `::`).
pub fn parse_bind(text: &str) -> Result<IpAddr, TokenError> {
    text.trim().parse().map_err(|_| TokenError::Invalid {
        field: "bind address",
        value: text.to_string(),
        expected: "an IP address such as 127.0.0.1 (this machine only), 0.0.0.0 (every network) or this \
                   machine's LAN address"
            .into(),
    })
}
