//! Key use cases over the registry, the keys and the pipeline, one each for every front end
//! (desktop, CLI, control API): adding a key with the provider's rules, the permission check,
//! verifying a version, and rotation (store → verify → activate). They sit above the pipeline
//! so that `keys` stays a store of records and secrets that never calls an exchange.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::keys::{permissions, KeyError, KeyPermissions, KeyRecord, Keys, NewKey, Risk, RiskView, Scopes};
use crate::pipeline::{CallError, CallOptions, CallRequest, Pipeline};
use crate::provider::Registry;
use crate::Keyward;

/// The outcome of "Check permissions".
#[derive(Debug, Clone)]
pub struct PermissionReport {
    pub permissions: KeyPermissions,
    pub risks: Vec<Risk>,
}

/// "Check permissions" as the Keys page and `keyward key check --json` show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PermissionReportView {
    /// `null`: the exchange does not say.
    pub read: Option<bool>,
    pub trade: Option<bool>,
    pub withdraw: Option<bool>,
    pub ip_restricted: Option<bool>,
    /// When trading authority ends (Binance), RFC 3339.
    pub trading_expires_at: Option<String>,
    /// When the key itself expires (Bybit), RFC 3339.
    pub key_expires_at: Option<String>,
    pub risks: Vec<RiskView>,
}

impl From<&PermissionReport> for PermissionReportView {
    fn from(r: &PermissionReport) -> Self {
        let p = &r.permissions;
        Self {
            read: p.read,
            trade: p.trade,
            withdraw: p.withdraw,
            ip_restricted: p.ip_restricted,
            trading_expires_at: p.trading_expires_at.map(|t| t.to_rfc3339()),
            key_expires_at: p.key_expires_at.map(|t| t.to_rfc3339()),
            risks: r.risks.iter().map(RiskView::from).collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Provider(#[from] crate::provider::ProviderError),
    #[error("{provider} has no key-permission endpoint; check the key's permissions on the exchange's website")]
    NoEndpoint { provider: String },
    #[error("{provider}'s key-permission answer was not understood (family \"{family}\")")]
    NotUnderstood { provider: String, family: String },
    #[error("version {version} was stored but the exchange did not accept it, so the key still uses version {active}: {source}")]
    NotAccepted {
        version: u32,
        active: u32,
        #[source]
        source: Box<CheckError>,
    },
}

impl CheckError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            CheckError::Key(e) => e.kind(),
            CheckError::Call(e) => e.kind(),
            CheckError::Provider(e) => e.kind(),
            CheckError::NoEndpoint { .. } => crate::ErrorKind::NotSupported,
            CheckError::NotUnderstood { .. } => crate::ErrorKind::BadResponse,
            CheckError::NotAccepted { source, .. } => source.kind(),
        }
    }
}

/// Asks the exchange what the key can do, stores the answer and returns the risks.
pub async fn check_permissions(
    registry: &Registry,
    keys: &Keys,
    pipeline: &Pipeline,
    provider: &str,
    label: &str,
) -> Result<PermissionReport, CheckError> {
    let (spec, record) = {
        let (registry, keys) = (registry.clone(), keys.clone());
        let (provider, label) = (provider.to_string(), label.to_string());
        blocking(move || Ok((registry.get(&provider)?.spec, keys.get(&provider, &label)?))).await?
    };
    if !spec.endpoints.contains_key("key_permissions") {
        return Err(CheckError::NoEndpoint { provider: spec.name.clone() });
    }
    let out = pipeline
        .call(CallRequest {
            provider: provider.to_string(),
            operation: "key_permissions".into(),
            params: Default::default(),
            options: CallOptions {
                key: Some(label.to_string()),
                caller: crate::caller::Caller::KEYS,
                no_cache: true,
                ..Default::default()
            },
        })
        .await?;
    let family = spec.family.clone().unwrap_or_else(|| spec.id.clone());
    let perms = permissions::parse(&family, &out.raw)
        .ok_or_else(|| CheckError::NotUnderstood { provider: spec.name.clone(), family })?;
    let now = Utc::now();
    let risks = permissions::risks(&perms, record.scopes, now);
    let (keys, stored) = (keys.clone(), perms.clone());
    blocking(move || Ok(keys.store_permissions(record.id, &stored, now)?)).await?;
    Ok(PermissionReport { permissions: perms, risks })
}

/// Verifies `version` of a key against the exchange with a signed read (key_permissions
/// where the provider has it, else balances), and records the verification.
pub async fn verify_version(
    registry: &Registry,
    keys: &Keys,
    pipeline: &Pipeline,
    provider: &str,
    label: &str,
    version: u32,
) -> Result<(), CheckError> {
    let spec = {
        let (registry, provider) = (registry.clone(), provider.to_string());
        blocking(move || Ok(registry.get(&provider)?)).await?.spec
    };
    let operation = ["key_permissions", "balances"]
        .into_iter()
        .find(|op| spec.endpoints.get(*op).is_some_and(|e| e.signed))
        .ok_or_else(|| CheckError::NoEndpoint { provider: spec.name.clone() })?;
    pipeline
        .call(CallRequest {
            provider: provider.to_string(),
            operation: operation.into(),
            params: Default::default(),
            options: CallOptions {
                key: Some(label.to_string()),
                key_version: Some(version),
                caller: crate::caller::Caller::KEYS,
                no_cache: true,
                ..Default::default()
            },
        })
        .await?;
    let (keys, provider, label) = (keys.clone(), provider.to_string(), label.to_string());
    blocking(move || Ok(keys.mark_verified(&provider, &label, version, Utc::now())?)).await?;
    Ok(())
}

/// A new key as a front end collects it: the environment defaults to the provider's current one.
pub struct AddKey {
    pub provider: String,
    pub label: String,
    pub environment: Option<String>,
    pub api_key: String,
    pub secret: SecretString,
    pub passphrase: Option<SecretString>,
    pub scopes: Scopes,
    pub notes: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A rotation as a front end asks for it. `api_key: None` keeps the current public key id.
pub struct Rotate {
    pub provider: String,
    pub label: String,
    pub api_key: Option<String>,
    pub secret: SecretString,
    pub passphrase: Option<SecretString>,
    /// Verify the new version with the exchange before switching to it.
    pub verify: bool,
}

/// The outcome of a rotation: the key (now on `version`) and the version it left.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub key: KeyRecord,
    pub previous_version: u32,
    pub version: u32,
    pub verified: bool,
}

/// Parses a key's expiry as every front end accepts it: `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn parse_expiry(value: &str) -> Result<DateTime<Utc>, KeyError> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| KeyError::Invalid {
            field: "expires",
            value: value.to_string(),
            problem: "not a date; use YYYY-MM-DD or RFC 3339".into(),
        })
}

fn passphrase_missing(provider_name: &str) -> KeyError {
    KeyError::Invalid {
        field: "passphrase",
        value: "(none)".into(),
        problem: format!("{provider_name} keys need the passphrase chosen when the key was created on the exchange"),
    }
}

impl Keyward {
    /// Adds a key with the provider's rules: the provider exists, the environment is one it has
    /// (default: the provider's current one), and a passphrase is given where its signing needs
    /// one. Blocking.
    pub fn add_key(&self, new: AddKey, now: DateTime<Utc>) -> Result<KeyRecord, CheckError> {
        let entry = self.providers().get(&new.provider)?;
        let environment = new.environment.filter(|e| !e.trim().is_empty()).unwrap_or_else(|| entry.environment.clone());
        if !entry.spec.environments.contains_key(&environment) {
            return Err(KeyError::Invalid {
                field: "environment",
                value: environment,
                problem: format!(
                    "provider \"{}\" has: {}",
                    new.provider,
                    entry.spec.environments.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            }
            .into());
        }
        let needs_passphrase = entry.spec.auth.passphrase_required || entry.spec.auth.scheme.needs_passphrase();
        if needs_passphrase && new.passphrase.is_none() {
            return Err(passphrase_missing(&entry.spec.name).into());
        }
        Ok(self.keys().add(
            NewKey {
                provider: new.provider,
                label: new.label,
                environment,
                api_key: new.api_key,
                secret: new.secret,
                passphrase: new.passphrase,
                scopes: new.scopes,
                notes: new.notes,
                expires_at: new.expires_at,
            },
            now,
        )?)
    }

    /// Asks the exchange what a key can do, stores the answer and returns the risks.
    pub async fn check_key_permissions(&self, provider: &str, label: &str) -> Result<PermissionReport, CheckError> {
        check_permissions(self.providers(), self.keys(), self.pipeline(), provider, label).await
    }

    /// Rotation, the one way every front end does it: store the new secret as the next
    /// version, verify it with the exchange (unless `verify` is off), then switch to it. The
    /// old version stays until retired; when the exchange refuses the new one the key keeps
    /// its current version and the error says so.
    pub async fn rotate_key(&self, rotate: Rotate) -> Result<Rotation, CheckError> {
        let Rotate { provider, label, api_key, secret, passphrase, verify } = rotate;
        let keys = self.keys().clone();
        let (p, l) = (provider.clone(), label.clone());
        let (previous, version) = blocking(move || -> Result<_, CheckError> {
            let current = keys.get(&p, &l)?;
            if current.has_passphrase && passphrase.is_none() {
                return Err(passphrase_missing(&p).into());
            }
            let v =
                keys.add_version(&p, &l, api_key.filter(|k| !k.trim().is_empty()), secret, passphrase, Utc::now())?;
            Ok((current.active_version, v.version))
        })
        .await?;
        if verify {
            verify_version(self.providers(), self.keys(), self.pipeline(), &provider, &label, version)
                .await
                .map_err(|e| CheckError::NotAccepted { version, active: previous, source: Box::new(e) })?;
        }
        let keys = self.keys().clone();
        let key = blocking(move || Ok(keys.activate_version(&provider, &label, version, Utc::now())?)).await?;
        Ok(Rotation { key, previous_version: previous, version, verified: verify })
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CheckError> + Send + 'static,
) -> Result<T, CheckError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| CallError::Internal(e.to_string()))?
}
