//! Failover groups: a named, saved list of providers for market data ("BTC price": binance →
//! coinbase → kraken). A call through a group goes to the first member that is fit to answer:
//! members the monitor sees down or in maintenance, and members whose circuit breaker is open,
//! are skipped; degraded ones move to the back; the rest keep the user's order. Each member
//! gets the unified symbol (`BTC/USDT`) in its own name, and the result's route says which
//! member answered and why the others did not.
//!
//! Only public market data fails over: an operation that is signed or not a read (orders,
//! balances, withdrawals) is refused for a group, since another exchange's account is not
//! the same account. A use case over the registry, the monitor and the pipeline, so it sits
//! above all three (like `key_ops`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditKind};
use crate::caller::Caller;
use crate::monitor::HealthState;
use crate::pipeline::{BreakerState, CallError, CallOptions, CallOutcome, CallRequest, RouteStep};
use crate::provider::OperationClass;
use crate::store::StoreError;
use crate::Keyward;

/// Where the groups are kept (table `settings`, as JSON).
const SETTING: &str = "failover.groups";
/// The longest group name.
pub const MAX_NAME_LEN: usize = 64;

/// A failover group as every front end shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FailoverGroup {
    pub name: String,
    /// Provider ids, first choice first.
    pub members: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("there is no failover group \"{0}\" (see keyward groups list)")]
    NotFound(String),
    #[error("failover group {field} \"{value}\" {problem}")]
    Invalid { field: &'static str, value: String, problem: String },
    #[error("{operation} is {what}: it never fails over to another exchange, whose account is not yours. Call one provider for it")]
    AccountBound { operation: String, what: &'static str },
    #[error("no member of \"{group}\" can answer {operation} now: {why}")]
    NoMember { group: String, operation: String, why: String },
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the failover groups stored in the database cannot be read: {0}")]
    Corrupt(String),
}

impl GroupError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            GroupError::NotFound(_) => crate::ErrorKind::NotFound,
            GroupError::Invalid { .. } => crate::ErrorKind::Invalid,
            GroupError::AccountBound { .. } => crate::ErrorKind::NotAllowed,
            GroupError::NoMember { .. } => crate::ErrorKind::Unreachable,
            GroupError::Call(e) => e.kind(),
            GroupError::Store(_) => crate::ErrorKind::Storage,
            GroupError::Corrupt(_) => crate::ErrorKind::Corrupt,
        }
    }
}

fn invalid(field: &'static str, value: impl Into<String>, problem: impl Into<String>) -> GroupError {
    GroupError::Invalid { field, value: value.into(), problem: problem.into() }
}

impl Keyward {
    /// Every failover group, in name order.
    pub fn failover_groups(&self) -> Result<Vec<FailoverGroup>, GroupError> {
        let Some(json) = self.store().setting(SETTING)? else { return Ok(Vec::new()) };
        let mut groups: Vec<FailoverGroup> =
            serde_json::from_str(&json).map_err(|e| GroupError::Corrupt(e.to_string()))?;
        groups.sort_by_key(|g| g.name.to_lowercase());
        Ok(groups)
    }

    pub fn failover_group(&self, name: &str) -> Result<FailoverGroup, GroupError> {
        self.failover_groups()?
            .into_iter()
            .find(|g| g.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| GroupError::NotFound(name.to_string()))
    }

    /// Creates or replaces the group of that name. Members must be known providers, each
    /// once; the name is 1 to 64 characters. Audited.
    pub fn save_failover_group(&self, group: FailoverGroup) -> Result<FailoverGroup, GroupError> {
        let name = group.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
            return Err(invalid("name", &group.name, format!("must be 1 to {MAX_NAME_LEN} printable characters")));
        }
        let members: Vec<String> =
            group.members.iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect();
        if members.len() < 2 {
            return Err(invalid("members", members.join(", "), "needs at least two providers to fail over between"));
        }
        for (i, m) in members.iter().enumerate() {
            if members[..i].contains(m) {
                return Err(invalid("members", m, "is listed twice"));
            }
            let entry = self.providers().get(m).map_err(|_| invalid("members", m, "is not a known provider"))?;
            if entry.spec.discontinued.is_some() {
                return Err(invalid("members", m, "is discontinued"));
            }
        }
        let group = FailoverGroup { name, members };
        let mut groups = self.failover_groups()?;
        groups.retain(|g| !g.name.eq_ignore_ascii_case(&group.name));
        groups.push(group.clone());
        self.write_groups(&groups)?;
        self.audit_group("saved", &group.name, Some(&group.members));
        Ok(group)
    }

    pub fn remove_failover_group(&self, name: &str) -> Result<(), GroupError> {
        let group = self.failover_group(name)?;
        let mut groups = self.failover_groups()?;
        groups.retain(|g| g.name != group.name);
        self.write_groups(&groups)?;
        self.audit_group("removed", &group.name, None);
        Ok(())
    }

    fn write_groups(&self, groups: &[FailoverGroup]) -> Result<(), GroupError> {
        let json = serde_json::to_string(groups).map_err(|e| GroupError::Corrupt(e.to_string()))?;
        Ok(self.store().set_setting(SETTING, &json)?)
    }

    fn audit_group(&self, action: &str, name: &str, members: Option<&[String]>) {
        let detail =
            serde_json::json!({"setting": "failover group", "action": action, "name": name, "members": members});
        let event = AuditEvent::new(self.actor(), AuditKind::SettingsChanged).detail(detail);
        if let Err(e) = self.audit().append(event, chrono::Utc::now()) {
            tracing::error!(error = %e, "could not audit a failover group change");
        }
    }

    /// Calls `operation` through the group `name`: the first fit member answers (see the
    /// module docs); the outcome's `route` lists every member with what it did.
    pub async fn call_group(
        &self,
        name: &str,
        operation: &str,
        params: BTreeMap<String, String>,
        caller: Caller,
    ) -> Result<CallOutcome, GroupError> {
        let group = {
            let kw = self.clone();
            let name = name.to_string();
            tokio::task::spawn_blocking(move || kw.failover_group(&name))
                .await
                .map_err(|e| CallError::Internal(format!("failover group lookup: {e}")))??
        };
        let kw = self.clone();
        let op = operation.to_string();
        let plan = tokio::task::spawn_blocking(move || kw.plan_group(&group, &op))
            .await
            .map_err(|e| CallError::Internal(format!("failover group plan: {e}")))??;
        let (order, skipped) = plan;
        let Some((first, rest)) = order.split_first() else {
            return Err(GroupError::NoMember {
                group: name.to_string(),
                operation: operation.to_string(),
                why: String::new(),
            });
        };
        let req = CallRequest {
            provider: first.clone(),
            operation: operation.to_string(),
            params,
            options: CallOptions { caller, failover: rest.to_vec(), ..Default::default() },
        };
        Ok(self.pipeline().call_routed(req, skipped).await?)
    }

    /// The members to try, in order, and the steps of those skipped. Members skipped for their
    /// health are still tried, last, when no other member is left (the monitor may be behind).
    fn plan_group(&self, group: &FailoverGroup, operation: &str) -> Result<(Vec<String>, Vec<RouteStep>), GroupError> {
        let states: HashMap<String, (HealthState, String)> = self
            .monitor()
            .current_states()
            .map_err(|e| CallError::Internal(e.to_string()))?
            .into_iter()
            .map(|s| (s.provider.clone(), (s.state, s.cause.clone())))
            .collect();
        let breakers = self.pipeline().breakers().views();
        let (mut fit, mut degraded, mut unwell, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for member in &group.members {
            let entry = match self.providers().get(member) {
                Ok(e) => e,
                Err(e) => {
                    skipped.push(RouteStep::new(member, "skipped", e.to_string()));
                    continue;
                }
            };
            let Some(endpoint) = entry.spec.endpoints.get(operation) else {
                skipped.push(RouteStep::new(member, "skipped", format!("it has no {operation} operation")));
                continue;
            };
            if endpoint.class != OperationClass::Read {
                return Err(GroupError::AccountBound {
                    operation: operation.to_string(),
                    what: "an order or a withdrawal",
                });
            }
            if endpoint.signed {
                return Err(GroupError::AccountBound {
                    operation: operation.to_string(),
                    what: "account-bound (signed)",
                });
            }
            if !entry.enabled {
                skipped.push(RouteStep::new(member, "skipped", "not enabled"));
                continue;
            }
            let open = breakers.iter().find(|b| {
                b.provider == *member
                    && b.state == BreakerState::Open
                    && b.operation.as_deref().map_or(true, |op| op == operation)
            });
            if let Some(b) = open {
                skipped.push(RouteStep::new(member, "skipped", format!("circuit breaker open ({})", b.reason)));
                continue;
            }
            match states.get(member) {
                Some((HealthState::Down | HealthState::Maintenance, cause)) => {
                    let state = states[member].0.as_str();
                    skipped.push(RouteStep::new(member, "skipped", format!("{state}: {cause}")));
                    unwell.push(member.clone());
                }
                Some((HealthState::Degraded, _)) => degraded.push(member.clone()),
                _ => fit.push(member.clone()),
            }
        }
        fit.extend(degraded);
        if fit.is_empty() && !unwell.is_empty() {
            // Every fit member is gone: ask the unwell ones after all, rather than nobody.
            skipped.retain(|s| !unwell.contains(&s.provider));
            fit = unwell;
        }
        if fit.is_empty() {
            let why = skipped.iter().map(|s| format!("{}: {}", s.provider, s.detail)).collect::<Vec<_>>().join("; ");
            return Err(GroupError::NoMember { group: group.name.clone(), operation: operation.to_string(), why });
        }
        Ok((fit, skipped))
    }
}

impl Keyward {
    /// A call as the CLI and the control API send it: through its group when it names one,
    /// else to its provider (with its failover list).
    pub async fn call_body(&self, body: crate::control::CallBody, caller: Caller) -> Result<CallOutcome, GroupError> {
        match body.group.clone() {
            Some(group) => {
                if !body.failover.is_empty() || body.key.is_some() {
                    return Err(invalid("call", group, "through a group takes neither --failover nor --key"));
                }
                self.call_group(&group, &body.operation, body.params, caller).await
            }
            None => Ok(self.pipeline().call(body.request(caller)).await?),
        }
    }
}
