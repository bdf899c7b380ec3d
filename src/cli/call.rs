//! `keyward call PROVIDER OPERATION [name=value…]`

use std::collections::BTreeMap;

use clap::Args;
use serde_json::json;

use super::output::print_json;
use super::CliError;
use crate::pipeline::{CallOptions, CallRequest};
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
}

pub fn run(kw: &Keyward, args: CallArgs, json_out: bool) -> Result<(), CliError> {
    let mut params = BTreeMap::new();
    for p in &args.params {
        let (k, v) = p
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| CliError::Usage(format!("parameter \"{p}\" is not NAME=VALUE (e.g. symbol=BTCUSDT)")))?;
        params.insert(k.to_string(), v.to_string());
    }
    let req = CallRequest {
        provider: args.provider,
        operation: args.operation,
        params,
        options: CallOptions {
            key: args.key,
            key_version: None,
            environment: args.environment,
            caller: "cli".into(),
            raw: args.raw,
            no_cache: args.no_cache,
            failover: args.failover,
            max_wait: None,
        },
    };
    let runtime = super::runtime()?;
    let pipeline = kw.pipeline().clone();
    let result = runtime.block_on(async move { pipeline.call(req).await });
    kw.pipeline().recorder().flush();
    let out = result?;
    if json_out {
        print_json(&json!({
            "provider": out.provider,
            "environment": out.environment,
            "operation": out.operation,
            "status": out.status,
            "attempts": out.attempts,
            "latencyMs": out.latency.as_millis() as u64,
            "fromCache": out.from_cache,
            "result": if args.raw { out.raw.clone() } else { out.data.to_json() },
            "raw": out.raw,
        }));
    } else {
        match (args.raw, out.data.to_text()) {
            (false, Some(text)) => println!("{text}"),
            _ => println!("{}", serde_json::to_string_pretty(&out.raw).unwrap_or_default()),
        }
        eprintln!(
            "{} {} · HTTP {} · {} ms · {} attempt{}",
            out.provider,
            out.operation,
            out.status,
            out.latency.as_millis(),
            out.attempts,
            if out.attempts == 1 { "" } else { "s" }
        );
    }
    Ok(())
}
