//! `keyward gateway status|port|bind|cert|token …`

use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::output::{print_json, table};
use super::CliError;
use crate::gateway::{GatewayTokenView, IssuedToken, IssuedTokenView, NewToken, TokenError, TokenScopes};
use crate::vault::ExposeSecret;
use crate::Keyward;

#[derive(Debug, Subcommand)]
pub enum GatewayCmd {
    /// Where the running gateway listens and each bot's live numbers.
    Status,
    /// Set the gateway's port (used from the next start of the app or `keyward serve`).
    Port { port: u16 },
    /// Set the address the gateway binds (used from the next start). 127.0.0.1, the default,
    /// is this machine only. Any other address (0.0.0.0 for Docker bots or the LAN) serves
    /// HTTPS only with a certificate Keyward generates, and needs --yes.
    Bind {
        /// 127.0.0.1, 0.0.0.0, ::, or one of this machine's addresses.
        address: String,
        /// Confirm that other machines or containers may reach the gateway.
        #[arg(long)]
        yes: bool,
    },
    /// Print the gateway's certificate (PEM) for bots to trust, with its SHA-256 fingerprint.
    Cert,
    /// Bot tokens: add, list, disable, enable, rotate, revoke.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Prometheus metrics at /metrics on the gateway's port: show the URL and a scrape config,
    /// or choose who may read them.
    Metrics {
        /// loopback (this machine only, no token; the default) or token (a bearer token, from
        /// any address the gateway listens on).
        #[arg(long, value_name = "loopback|token")]
        access: Option<String>,
        /// Make a new token (token access only); the old one stops working at once.
        #[arg(long)]
        rotate_token: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token for one bot. It is printed once: put it in the bot's config as its API key.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        provider: String,
        /// The key it signs with (leave out for public market data only).
        #[arg(long)]
        key: Option<String>,
        /// market (public data), read (account), trade (orders), withdraw.
        #[arg(long, default_value = "market,read")]
        scopes: String,
        /// Source addresses or CIDRs the token works from (repeat for more). Without any, it
        /// works from this machine (loopback) only; with some, only from those (add 127.0.0.1
        /// if the bot also runs here). Every bot on the LAN or in Docker needs its address here
        /// once the gateway binds beyond loopback (`keyward gateway bind`).
        #[arg(long = "allow-ip", value_name = "CIDR")]
        allow_ip: Vec<String>,
        /// How long the bot's requests may wait for rate-limit budget before it gets the
        /// exchange's own "too many requests".
        #[arg(long, default_value_t = 5000)]
        max_wait_ms: u64,
        /// The most of each of the provider's limits this bot may use (`40%` or `0.4`), so one
        /// bot cannot starve the others.
        #[arg(long, value_name = "SHARE")]
        max_share: Option<String>,
        /// Needed with the withdraw scope: the bot can move funds off the exchange.
        #[arg(long)]
        allow_withdraw: bool,
    },
    List,
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    /// Replace the token's text; the old one stops working at once.
    Rotate {
        name: String,
    },
    /// Delete the token for good.
    Revoke {
        name: String,
    },
}

/// A token just issued, with the base URL a bot on this machine uses (`--json`).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Issued<'a> {
    #[serde(flatten)]
    issued: &'a IssuedTokenView,
    base_url: String,
}

fn print_issued(kw: &Keyward, issued: &IssuedToken, json_out: bool, verb: &str) {
    let base = crate::gateway::local_url(kw.gateway().bind(), kw.gateway().port());
    let secret = issued.secret.expose_secret();
    if json_out {
        let view = IssuedTokenView::from(issued);
        print_json(&Issued { issued: &view, base_url: format!("{base}/{}", issued.token.provider) });
        return;
    }
    println!(
        "{verb} gateway token \"{}\" for {}. It is shown once; put it in the bot's config now:",
        issued.token.name, issued.token.provider
    );
    println!();
    println!("  {secret}");
    println!();
    println!(
        "Use it as the bot's API key (any placeholder secret) and {base}/{} as the exchange's base URL.",
        issued.token.provider
    );
    if base.starts_with("https") {
        println!("The gateway serves HTTPS with Keyward's certificate: trust it in the bot (`keyward gateway cert`).");
    }
}

pub fn run(kw: &Keyward, cmd: GatewayCmd, json_out: bool) -> Result<(), CliError> {
    let tokens = kw.gateway().tokens();
    match cmd {
        GatewayCmd::Status => status(kw, json_out),
        GatewayCmd::Port { port } => {
            kw.gateway().set_port(port).map_err(token_err)?;
            if json_out {
                print_json(&json!({"port": port}));
            } else {
                println!("gateway port set to {port}; restart the app or `keyward serve` for it to take effect");
            }
            Ok(())
        }
        GatewayCmd::Bind { address, yes } => bind(kw, &address, yes, json_out),
        GatewayCmd::Cert => cert(kw, json_out),
        GatewayCmd::Metrics { access, rotate_token } => metrics(kw, access.as_deref(), rotate_token, json_out),
        GatewayCmd::Token(TokenCmd::Add {
            name,
            provider,
            key,
            scopes,
            allow_ip,
            max_wait_ms,
            max_share,
            allow_withdraw,
        }) => {
            let max_share =
                max_share.as_deref().map(crate::gateway::tokens::parse_share).transpose().map_err(token_err)?;
            let scopes: TokenScopes = scopes.parse().map_err(token_err)?;
            let allow_ips = allow_ip
                .iter()
                .map(|ip| crate::gateway::tokens::parse_allow_ip(ip))
                .collect::<Result<Vec<_>, _>>()
                .map_err(token_err)?;
            let new = NewToken {
                name,
                provider,
                key_label: key,
                scopes,
                allow_ips,
                max_wait: Some(Duration::from_millis(max_wait_ms)),
                max_share,
            };
            let issued = kw.create_gateway_token(new, allow_withdraw).map_err(token_err)?;
            print_issued(kw, &issued, json_out, "Created");
            Ok(())
        }
        GatewayCmd::Token(TokenCmd::List) => {
            let list = tokens.list().map_err(token_err)?;
            if json_out {
                print_json(&list.iter().map(GatewayTokenView::from).collect::<Vec<_>>());
            } else if list.is_empty() {
                println!("no gateway tokens yet; create one with `keyward gateway token add --name BOT --provider binance --key KEY --scopes market,read,trade`");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.clone(),
                            t.provider.clone(),
                            t.key_label.clone().unwrap_or_else(|| "-".into()),
                            t.scopes.to_string(),
                            t.max_share.map_or_else(|| "-".into(), |f| format!("{:.0}%", f * 100.0)),
                            t.hint.clone(),
                            if t.disabled { "disabled".into() } else { "active".into() },
                        ]
                    })
                    .collect();
                table(&["NAME", "PROVIDER", "KEY", "SCOPES", "MAX SHARE", "TOKEN", "STATE"], &rows);
            }
            Ok(())
        }
        GatewayCmd::Token(TokenCmd::Disable { name }) => {
            set_disabled(tokens, &name, true, json_out)?;
            tell_running(kw);
            Ok(())
        }
        GatewayCmd::Token(TokenCmd::Enable { name }) => {
            set_disabled(tokens, &name, false, json_out)?;
            tell_running(kw);
            Ok(())
        }
        GatewayCmd::Token(TokenCmd::Rotate { name }) => {
            let issued = tokens.rotate(&name, chrono::Utc::now()).map_err(token_err)?;
            tell_running(kw);
            print_issued(kw, &issued, json_out, "Rotated");
            Ok(())
        }
        GatewayCmd::Token(TokenCmd::Revoke { name }) => {
            tokens.revoke(&name).map_err(token_err)?;
            tell_running(kw);
            if json_out {
                print_json(&json!({"revoked": name}));
            } else {
                println!("revoked gateway token \"{name}\"; bots using it are refused from now on");
            }
            Ok(())
        }
    }
}

fn set_disabled(tokens: &crate::gateway::Tokens, name: &str, disabled: bool, json_out: bool) -> Result<(), CliError> {
    let t = tokens.set_disabled(name, disabled).map_err(token_err)?;
    if json_out {
        print_json(&GatewayTokenView::from(&t));
    } else {
        println!("gateway token \"{name}\" {}", if disabled { "disabled" } else { "enabled" });
    }
    Ok(())
}

/// A running Keyward drops its looked-up tokens, so the change applies to the bot's next
/// request (otherwise within a second).
fn tell_running(kw: &Keyward) {
    let Ok(rt) = super::runtime() else { return };
    rt.block_on(async {
        if let Some(client) = crate::control::ControlClient::discover(kw.data_dir()).await {
            if let Err(e) = client.gateway_tokens_changed().await {
                tracing::warn!(error = %e, "could not tell the running Keyward that tokens changed");
            }
        }
    });
}

fn bind(kw: &Keyward, address: &str, yes: bool, json_out: bool) -> Result<(), CliError> {
    let addr = crate::gateway::parse_bind(address).map_err(token_err)?;
    let cert = kw.gateway().set_bind(addr, yes).map_err(token_err)?;
    let port = kw.gateway().port();
    if json_out {
        print_json(&json!({
            "bind": addr.to_string(),
            "tls": cert.is_some(),
            "fingerprint": cert.as_ref().map(|c| c.fingerprint.clone()),
            "names": cert.as_ref().map(|c| c.names.clone()),
        }));
        return Ok(());
    }
    let Some(cert) = cert else {
        println!("gateway bind address set to {addr} (this machine only, plain HTTP); restart the app or `keyward serve` for it to take effect");
        return Ok(());
    };
    println!("gateway bind address set to {addr}; restart the app or `keyward serve` for it to take effect.");
    println!("From then on the gateway serves HTTPS only on port {port}, with a certificate Keyward generated for");
    println!("  {}", cert.names.join(", "));
    println!("Its SHA-256 fingerprint, for bots to pin (print the certificate with `keyward gateway cert`):");
    println!("  {}", cert.fingerprint);
    println!("Tokens without --allow-ip keep working from this machine only; give each LAN or Docker bot's token");
    println!("its address, e.g. `keyward gateway token add … --allow-ip 172.17.0.0/16`.");
    Ok(())
}

fn cert(kw: &Keyward, json_out: bool) -> Result<(), CliError> {
    let cert = kw.gateway().certificate().map_err(token_err)?;
    match (cert, json_out) {
        (Some(c), true) => print_json(&json!({"pem": c.pem, "fingerprint": c.fingerprint, "names": c.names})),
        (None, true) => print_json(&json!(null)),
        (Some(c), false) => {
            eprintln!("SHA-256 fingerprint {} (valid for {})", c.fingerprint, c.names.join(", "));
            print!("{}", c.pem);
        }
        (None, false) => println!(
            "the gateway has no certificate: it serves plain HTTP on loopback. `keyward gateway bind ADDRESS --yes` makes one"
        ),
    }
    Ok(())
}

fn token_err(e: TokenError) -> CliError {
    CliError::Gateway(e)
}

fn status(kw: &Keyward, json_out: bool) -> Result<(), CliError> {
    let rt = super::runtime()?;
    let running = rt.block_on(async {
        match crate::control::ControlClient::discover(kw.data_dir()).await {
            Some(client) => Some((client.describe(), client.gateway().await)),
            None => None,
        }
    });
    let tokens = kw.gateway().tokens().list().map_err(token_err)?;
    let (view, who) = match running {
        Some((who, view)) => (Some(view?), Some(who)),
        None => (None, None),
    };
    let bind = kw.gateway().bind();
    // The running gateway's certificate; else the one the next start beyond loopback serves.
    let fingerprint = match view.as_ref().and_then(|v| v.fingerprint.clone()) {
        Some(f) => Some(f),
        None => kw.gateway().certificate_for_bots().map_err(token_err)?.map(|c| c.fingerprint),
    };
    if json_out {
        print_json(&json!({
            "running": who,
            "url": view.as_ref().and_then(|v| v.url.clone()),
            "port": kw.gateway().port(),
            "bind": bind.to_string(),
            "fingerprint": fingerprint,
            "bots": view.as_ref().map(|v| v.bots.clone()).unwrap_or_default(),
            "tokens": tokens.iter().map(GatewayTokenView::from).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    match (&view, &who) {
        (Some(v), Some(who)) => match &v.url {
            Some(url) => println!("gateway of {who} listening on {url}"),
            None => println!("{who} runs, but its gateway could not open port {} (see its log)", v.port),
        },
        _ => println!(
            "no Keyward runs on this data directory: start the desktop app or `keyward serve`; the gateway will listen on {}",
            crate::gateway::local_url(bind, kw.gateway().port())
        ),
    }
    if !bind.is_loopback() {
        println!("bind address {bind}: HTTPS only; tokens work from their allowed addresses (--allow-ip), else this machine only");
    }
    if let Some(f) = &fingerprint {
        println!("certificate SHA-256 fingerprint {f}");
    }
    println!("{} token{}", tokens.len(), if tokens.len() == 1 { "" } else { "s" });
    if let Some(v) = view.filter(|v| !v.bots.is_empty()) {
        let rows: Vec<Vec<String>> = v
            .bots
            .iter()
            .map(|b| {
                vec![
                    b.name.clone(),
                    b.requests.to_string(),
                    format!("{:.1}", b.per_second),
                    b.weight.to_string(),
                    b.max_wait_ms.to_string(),
                    b.refused.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", "),
                    b.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(&["BOT", "REQUESTS", "PER S", "WEIGHT", "MAX WAIT MS", "REFUSED", "LAST ERROR"], &rows);
    }
    Ok(())
}

/// `keyward gateway metrics [--access loopback|token] [--rotate-token]`.
fn metrics(kw: &Keyward, access: Option<&str>, rotate: bool, json_out: bool) -> Result<(), CliError> {
    use crate::metrics::{MetricsAccess, MetricsSettings};
    let settings = MetricsSettings::new(kw.store().clone());
    let mut made = match access {
        Some(a) => settings.set_access(MetricsAccess::parse(a)?)?,
        None => None,
    };
    if rotate {
        made = Some(settings.rotate_token()?);
    }
    let base = kw.gateway().local_base_url();
    let change = settings.change(&base, made)?;
    if json_out {
        print_json(&change);
        return Ok(());
    }
    let view = &change.view;
    match view.access {
        MetricsAccess::Loopback => println!("metrics: {} (this machine only, no token)", view.url),
        MetricsAccess::Token => println!(
            "metrics: {} (bearer token {}, from any address the gateway listens on)",
            view.url,
            view.token_hint.as_deref().unwrap_or("-")
        ),
    }
    if let Some(token) = &change.token {
        println!();
        println!("The metrics token is shown once; save it for Prometheus now:");
        println!();
        println!("  {token}");
    }
    println!();
    println!("prometheus.yml:");
    println!();
    print!("{}", view.scrape_config);
    Ok(())
}
