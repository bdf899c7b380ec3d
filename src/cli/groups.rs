//! `keyward groups add|list|remove|call`: failover groups for market data.

use clap::Subcommand;

use super::output::{print_json, table};
use super::CliError;
use crate::control::CallBody;
use crate::groups::FailoverGroup;
use crate::Keyward;

#[derive(Debug, Subcommand)]
pub enum GroupsCmd {
    /// The failover groups.
    List,
    /// Create or replace a group: its members in order of preference.
    Add {
        name: String,
        /// Provider ids, first choice first (binance,coinbase,kraken).
        #[arg(long, value_delimiter = ',', value_name = "ID,…", required = true)]
        members: Vec<String>,
    },
    /// Delete a group.
    Remove { name: String },
    /// Call market data through a group: `keyward groups call "BTC price" ticker symbol=BTC/USDT`.
    /// The first member fit to answer does; unified symbols become each exchange's own.
    Call {
        name: String,
        operation: String,
        #[arg(value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Print the provider's JSON as received.
        #[arg(long)]
        raw: bool,
        /// Call from this process even when a Keyward runs on this data directory.
        #[arg(long)]
        standalone: bool,
    },
}

pub fn run(kw: &Keyward, cmd: GroupsCmd, json_out: bool) -> Result<(), CliError> {
    match cmd {
        GroupsCmd::List => {
            let groups = kw.failover_groups()?;
            if json_out {
                print_json(&groups);
            } else if groups.is_empty() {
                println!("no failover groups yet; add one with: keyward groups add \"BTC price\" --members binance,coinbase,kraken");
            } else {
                let rows: Vec<Vec<String>> =
                    groups.iter().map(|g| vec![g.name.clone(), g.members.join(" → ")]).collect();
                table(&["GROUP", "MEMBERS (first choice first)"], &rows);
            }
        }
        GroupsCmd::Add { name, members } => {
            let group = kw.save_failover_group(FailoverGroup { name, members })?;
            if json_out {
                print_json(&group);
            } else {
                println!("failover group \"{}\": {}", group.name, group.members.join(" → "));
            }
        }
        GroupsCmd::Remove { name } => {
            kw.remove_failover_group(&name)?;
            if json_out {
                print_json(&serde_json::json!({"removed": name}));
            } else {
                println!("removed failover group \"{name}\"");
            }
        }
        GroupsCmd::Call { name, operation, params, raw, standalone } => {
            let body = CallBody {
                operation,
                params: super::call::parse_params(&params)?,
                raw,
                group: Some(name),
                ..Default::default()
            };
            super::call::execute(kw, body, standalone, json_out)?;
        }
    }
    Ok(())
}
