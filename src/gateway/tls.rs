//! The gateway's certificate for when it binds beyond loopback. Keyward generates it once
//! (self-signed, ECDSA P-256) and keeps it: the private key only in the secret store (account
//! `gateway-tls/<16 hex of the data directory>`), the certificate PEM and the names it was made
//! for in the settings table. Bots trust that certificate as their only root, or pin its
//! SHA-256 fingerprint. A new one is made only when the key is gone, does not match, or the
//! gateway is bound to a specific address the certificate does not name.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError};
use crate::vault::{ExposeSecret, SecretStore, SecretString, VaultError};

/// Setting that holds the certificate (PEM). Public by nature: bots are given it.
pub const CERT_SETTING: &str = "gateway.tls.cert";
/// Setting that holds the names the certificate was made for, comma-separated.
pub const NAMES_SETTING: &str = "gateway.tls.names";
/// Docker Desktop's name for the host, so a bot in a container can verify the certificate.
const DOCKER_HOST: &str = "host.docker.internal";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the gateway's TLS private key: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not generate the gateway's certificate: {0}")]
    Generate(String),
    #[error("the gateway's certificate could not be used: {0}")]
    Config(String),
}

impl TlsError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            TlsError::Vault(e) => e.kind(),
            TlsError::Store(_) => crate::ErrorKind::Storage,
            TlsError::Generate(_) | TlsError::Config(_) => crate::ErrorKind::Tls,
        }
    }
}

/// The credential-store account of the private key: one per data directory, so profiles and
/// tests sharing an OS store keep their own.
pub fn key_account(data_dir: &Path) -> String {
    let canonical = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
    format!("gateway-tls/{}", &hex::encode(digest)[..16])
}

/// SHA-256 of the DER certificate as browsers show it: `AB:CD:…` (32 pairs).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The fingerprint of a PEM certificate, if it is one.
pub fn pem_fingerprint(pem: &str) -> Option<String> {
    CertificateDer::from_pem_slice(pem.as_bytes()).ok().map(|der| fingerprint(&der))
}

/// The names a certificate for `bind` carries: the bind address (unless it is 0.0.0.0 or
/// `::`), localhost, 127.0.0.1, ::1, host.docker.internal and this machine's hostname.
pub fn names_for(bind: IpAddr) -> Vec<String> {
    let mut names = Vec::new();
    if !bind.is_unspecified() {
        names.push(bind.to_string());
    }
    for n in ["127.0.0.1", "::1", "localhost", DOCKER_HOST] {
        names.push(n.to_string());
    }
    if let Some(host) = hostname() {
        names.push(host);
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// This machine's hostname when it is a usable DNS name.
fn hostname() -> Option<String> {
    let host = gethostname::gethostname().into_string().ok()?.trim().to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !host.starts_with(['-', '.']);
    ok.then_some(host)
}

/// The certificate as stored: what the gateway serves and bots trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCertificate {
    pub pem: String,
    /// See [`fingerprint`].
    pub fingerprint: String,
    /// The names (DNS and IP) it is valid for.
    pub names: Vec<String>,
}

/// The stored certificate, if one was generated (blocking: reads settings).
pub fn stored(store: &Store) -> Result<Option<GatewayCertificate>, StoreError> {
    let Some(pem) = store.setting(CERT_SETTING)? else { return Ok(None) };
    let Some(fingerprint) = pem_fingerprint(&pem) else { return Ok(None) };
    let names = store.setting(NAMES_SETTING)?.unwrap_or_default();
    let names = names.split(',').filter(|n| !n.is_empty()).map(str::to_string).collect();
    Ok(Some(GatewayCertificate { pem, fingerprint, names }))
}

/// A rustls server configuration for the gateway with the ring provider (reqwest's), for
/// HTTP/2 and HTTP/1.1.
fn server_config(pem: &str, key: &SecretString) -> Result<rustls::ServerConfig, TlsError> {
    let cert = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| TlsError::Config(format!("the stored certificate is not PEM: {e}")))?;
    // The error names the PEM problem, never the key's bytes.
    let key = PrivateKeyDer::from_pem_slice(key.expose_secret().as_bytes())
        .map_err(|_| TlsError::Config("the stored private key is not a PEM private key".into()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A new self-signed certificate and its key (PKCS#8 PEM) for these names.
fn generate(names: &[String]) -> Result<(String, SecretString), TlsError> {
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| TlsError::Generate(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "Keyward gateway");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Keyward (self-signed)");
    let cert = params.self_signed(&key).map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((cert.pem(), SecretString::from(key.serialize_pem())))
}

/// The certificate for `bind` and a server configuration serving it: the stored one when its
/// key is in the secret store, matches, and it names `bind`; else a new one, whose key goes to
/// the secret store before the certificate goes to the settings. Blocking.
pub(crate) fn load_or_create(
    store: &Store,
    secrets: &dyn SecretStore,
    account: &str,
    bind: IpAddr,
) -> Result<(GatewayCertificate, rustls::ServerConfig), TlsError> {
    if let Some(cert) = stored(store)? {
        let names_bind = bind.is_unspecified() || cert.names.contains(&bind.to_string());
        let key = match secrets.get(account) {
            Ok(key) => Some(key),
            Err(VaultError::NotFound { .. }) => None,
            // A locked vault or an unreachable OS store: say so rather than replace the key.
            Err(e) => return Err(e.into()),
        };
        if let (true, Some(key)) = (names_bind, key) {
            match server_config(&cert.pem, &key) {
                Ok(config) => return Ok((cert, config)),
                Err(e) => {
                    tracing::warn!(error = %e, "the gateway's stored certificate cannot be used; making a new one")
                }
            }
        }
    }
    let names = names_for(bind);
    let (pem, key) = generate(&names)?;
    secrets.put(account, &key)?;
    store.set_setting(NAMES_SETTING, &names.join(","))?;
    store.set_setting(CERT_SETTING, &pem)?;
    let config = server_config(&pem, &key)?;
    let fingerprint =
        pem_fingerprint(&pem).ok_or_else(|| TlsError::Generate("the new certificate is not PEM".into()))?;
    tracing::info!(%fingerprint, names = %names.join(","), "generated the gateway's TLS certificate");
    Ok((GatewayCertificate { pem, fingerprint, names }, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::MemoryStore;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("t.db")).expect("store");
        (dir, store)
    }

    #[test]
    fn fingerprints_read_like_a_browsers() {
        let f = fingerprint(b"x");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.split(':').all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_lowercase())));
    }

    #[test]
    fn names_hold_the_bind_address_and_loopback_but_never_the_unspecified_address() {
        let lan: IpAddr = "192.168.1.20".parse().expect("ip");
        let names = names_for(lan);
        assert_eq!(names[0], "192.168.1.20");
        for n in ["127.0.0.1", "localhost", "host.docker.internal"] {
            assert!(names.contains(&n.to_string()), "{names:?}");
        }
        assert!(!names_for("0.0.0.0".parse().expect("ip")).contains(&"0.0.0.0".to_string()));
    }

    #[test]
    fn a_certificate_is_made_once_and_kept_until_the_bind_address_is_not_in_it() {
        let (_dir, store) = store();
        let secrets = MemoryStore::new();
        let any: IpAddr = "0.0.0.0".parse().expect("ip");
        let (first, _) = load_or_create(&store, &secrets, "gateway-tls/t", any).expect("made");
        let (again, _) = load_or_create(&store, &secrets, "gateway-tls/t", any).expect("kept");
        assert_eq!(first, again);
        assert!(secrets.get("gateway-tls/t").expect("key stored").expose_secret().contains("PRIVATE KEY"));
        let (lan, _) = load_or_create(&store, &secrets, "gateway-tls/t", "10.1.2.3".parse().expect("ip")).expect("new");
        assert_ne!(lan.fingerprint, first.fingerprint, "10.1.2.3 was not in the first one");
        assert_eq!(stored(&store).expect("read"), Some(lan));
    }

    #[test]
    fn a_lost_key_makes_a_new_certificate() {
        let (_dir, store) = store();
        let secrets = MemoryStore::new();
        let any: IpAddr = "0.0.0.0".parse().expect("ip");
        let (first, _) = load_or_create(&store, &secrets, "gateway-tls/t", any).expect("made");
        secrets.delete("gateway-tls/t").expect("deleted");
        let (second, _) = load_or_create(&store, &secrets, "gateway-tls/t", any).expect("remade");
        assert_ne!(first.fingerprint, second.fingerprint);
    }
}
