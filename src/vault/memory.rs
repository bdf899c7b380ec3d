use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

use super::{BackendInfo, BackendKind, SecretStore, VaultError};

const NAME: &str = "in-memory store";

/// Secrets held in process memory only. For tests; nothing survives a restart.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, SecretString>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl SecretStore for MemoryStore {
    fn backend_info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Memory,
            name: NAME.to_string(),
            available: true,
            detail: "Secrets are kept in memory only and are lost when Keyward exits.".to_string(),
        }
    }

    fn put(&self, account: &str, secret: &SecretString) -> Result<(), VaultError> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(account.to_string(), SecretString::from(secret.expose_secret().to_string()));
        Ok(())
    }

    fn get(&self, account: &str) -> Result<SecretString, VaultError> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(account)
            .map(|s| SecretString::from(s.expose_secret().to_string()))
            .ok_or_else(|| VaultError::NotFound { account: account.to_string(), backend: NAME.to_string() })
    }

    fn delete(&self, account: &str) -> Result<(), VaultError> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(account)
            .map(|_| ())
            .ok_or_else(|| VaultError::NotFound { account: account.to_string(), backend: NAME.to_string() })
    }
}
