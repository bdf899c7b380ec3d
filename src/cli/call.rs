//! `keyward call PROVIDER OPERATION [name=value…]`

use std::collections::BTreeMap;

use clap::Args;
use serde_json::json;

use super::output::print_json;
use super::CliError;
use crate::control::{CallBody, CallReply, ControlClient};
use crate::Keyward;

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Provider id (see `keyward provider list`).
    pub provider: String,
    /// Logical operation: server_time, system_status, ticker, order_book, balances,
    /// open_orders, place_order, cancel_order, key_permissions, or any the spec defines.
    pub operation: String,
    /// Parameters as name=value, in the exchange's own names (symbol=BTCUSDT).
    #[arg(value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Sign with this key label (default: the provider's key for the environment).
    #[arg(long, value_name = "LABEL")]
    pub key: Option<String>,
    /// Environment to call (default: the provider's selected one).
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,
    /// Print the provider's JSON as received instead of the normalised result.
    #[arg(long)]
    pub raw: bool,
    /// Skip the response cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Fail over to these providers, in order, if this one cannot answer.
    #[arg(long, value_delimiter = ',', value_name = "ID,…")]
    pub failover: Vec<String>,
    /// Call from this process even when the desktop app or `keyward serve` runs on this data
    /// directory (by default the call goes through it, to share its live rate-limit budget).
    #[arg(long)]
    pub standalone: bool,
}

/// `NAME=VALUE` arguments as parameters.
pub fn parse_params(items: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut params = BTreeMap::new();
    for p in items {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| CliError::Usage(format!("parameter \"{p}\" is not NAME=VALUE (e.g. symbol=BTC/USDT)")))?;
        params.insert(k.to_string(), v.to_string());
    }
    Ok(params)
}

pub fn run(kw: &Keyward, args: CallArgs, json_out: bool) -> Result<(), CliError> {
    let body = CallBody {
        provider: args.provider,
        operation: args.operation,
        params: parse_params(&args.params)?,
        key: args.key,
        environment: args.environment,
        raw: args.raw,
        no_cache: args.no_cache,
        failover: args.failover,
        group: None,
    };
    execute(kw, body, args.standalone, json_out)
}

/// Runs `body` in the Keyward running on this data directory (its live budget), or here, and
/// prints the result: the answer, then who answered, the route and any staleness on stderr.
pub fn execute(kw: &Keyward, body: CallBody, standalone: bool, json_out: bool) -> Result<(), CliError> {
    let raw = body.raw;
    let runtime = super::runtime()?;
    let running = if standalone { None } else { runtime.block_on(ControlClient::discover(kw.data_dir())) };
    let (reply, via) = match running {
        Some(client) => (runtime.block_on(client.call(&body))?, Some(client.describe())),
        None => {
            let core = kw.clone();
            let result = runtime.block_on(async move { core.call_body(body, crate::caller::Caller::CLI).await });
            kw.pipeline().recorder().flush();
            (CallReply::from_outcome(&result?, raw), None)
        }
    };
    if json_out {
        let mut v = serde_json::to_value(&reply).unwrap_or_default();
        v["via"] = json!(via);
        print_json(&v);
    } else {
        match &reply.text {
            Some(text) => println!("{text}"),
            None => println!("{}", serde_json::to_string_pretty(&reply.raw).unwrap_or_default()),
        }
        eprintln!(
            "{} {} · HTTP {} · {} ms · {} attempt{}{}",
            reply.provider,
            reply.operation,
            reply.status,
            reply.latency_ms,
            reply.attempts,
            if reply.attempts == 1 { "" } else { "s" },
            via.map(|v| format!(" · through {v}")).unwrap_or_default()
        );
        if reply.route.len() > 1 {
            for step in &reply.route {
                eprintln!("  {:<10} {:<9} {}", step.provider, step.outcome, step.detail);
            }
        }
        if let Some(age) = reply.stale_age_ms {
            eprintln!(
                "STALE: this is the last good answer, {} old; a fresh one failed: {}",
                super::output::fmt_ms_age(age),
                reply.stale_because.as_deref().unwrap_or("unknown error")
            );
        }
    }
    Ok(())
}
