use keyring::Entry;
use secrecy::{ExposeSecret, SecretString};

use super::{BackendInfo, BackendKind, SecretStore, VaultError};

/// Account name of the entry used to probe the store (only read, never written).
const PROBE_ACCOUNT: &str = "__keyward_probe__";

/// The OS credential store.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
}

impl KeyringStore {
    pub fn new(service: impl Into<String>) -> Self {
        Self { service: service.into() }
    }

    fn entry(&self, account: &str) -> Result<Entry, VaultError> {
        Entry::new(&self.service, account).map_err(|e| self.backend_error(account, e))
    }

    fn backend_error(&self, account: &str, e: keyring::Error) -> VaultError {
        match e {
            keyring::Error::NoEntry => {
                VaultError::NotFound { account: account.to_string(), backend: platform_name().into() }
            }
            // keyring's messages describe the platform failure; they never contain the secret.
            other => VaultError::Backend {
                account: account.to_string(),
                backend: platform_name().into(),
                message: other.to_string(),
            },
        }
    }
}

/// The human name of this platform's credential store.
pub fn platform_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(target_os = "windows") {
        "Windows Credential Manager"
    } else {
        "Secret Service (GNOME Keyring, KWallet)"
    }
}

impl SecretStore for KeyringStore {
    fn backend_info(&self) -> BackendInfo {
        let probe = self.entry(PROBE_ACCOUNT).and_then(|e| match e.get_password() {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(other) => Err(self.backend_error(PROBE_ACCOUNT, other)),
        });
        let (available, detail) = match probe {
            Ok(()) => {
                (true, format!("Secrets are kept in the {} under the service \"{}\".", platform_name(), self.service))
            }
            Err(e) => (false, format!("The OS credential store did not answer: {e}")),
        };
        BackendInfo { kind: BackendKind::OsKeyring, name: platform_name().to_string(), available, detail }
    }

    fn put(&self, account: &str, secret: &SecretString) -> Result<(), VaultError> {
        self.entry(account)?.set_password(secret.expose_secret()).map_err(|e| self.backend_error(account, e))
    }

    fn get(&self, account: &str) -> Result<SecretString, VaultError> {
        let value = self.entry(account)?.get_password().map_err(|e| self.backend_error(account, e))?;
        Ok(SecretString::from(value))
    }

    fn delete(&self, account: &str) -> Result<(), VaultError> {
        self.entry(account)?.delete_credential().map_err(|e| self.backend_error(account, e))
    }
}
