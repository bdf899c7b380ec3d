//! The client side: find the running Keyward of a data directory and ask it.

use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{control_file, CallBody, CallReply, ControlInfo, ErrorBody, Hello, LimitView, UnlockBody};
use crate::vault::VaultStatus;

/// How long discovery waits for the running Keyward to answer (it is on the same machine).
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a forwarded call may take (the pipeline has its own timeouts and queue deadlines).
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// An answer other than success from the running Keyward, or no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The running Keyward refused: its error kind and message, as the core wrote them.
    #[error("{message}")]
    Refused { kind: crate::ErrorKind, message: String },
    #[error("the running Keyward (pid {pid}) did not answer: {message}")]
    Unreachable { pid: u32, message: String },
}

impl RemoteError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            RemoteError::Refused { kind, .. } => *kind,
            RemoteError::Unreachable { .. } => crate::ErrorKind::Unreachable,
        }
    }
}

/// A connection to the Keyward running on a data directory.
#[derive(Debug, Clone)]
pub struct ControlClient {
    info: ControlInfo,
    hello: Hello,
    http: reqwest::Client,
}

impl ControlClient {
    /// The Keyward running on `data_dir`, if there is one and it answers. A control file left
    /// behind by a process that died is ignored.
    pub async fn discover(data_dir: &Path) -> Option<ControlClient> {
        let bytes = std::fs::read(control_file(data_dir)).ok()?;
        let info: ControlInfo = serde_json::from_slice(&bytes).ok()?;
        // Only ever talk to the loopback interface, whatever the file says.
        if !info.url.starts_with("http://127.0.0.1:") {
            tracing::warn!(url = %info.url, "ignoring a control file that does not point at 127.0.0.1");
            return None;
        }
        // No pooled connections: a command may use this client from more than one runtime, and
        // a pooled connection dies with the runtime that opened it. Loopback connects are cheap.
        let http = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().ok()?;
        let hello: Hello = http
            .get(format!("{}/v1/hello", info.url))
            .bearer_auth(&info.token)
            .timeout(HELLO_TIMEOUT)
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .json()
            .await
            .ok()?;
        Some(ControlClient { info, hello, http })
    }

    pub fn pid(&self) -> u32 {
        self.hello.pid
    }

    /// "the desktop app" or "keyward serve".
    pub fn describe(&self) -> String {
        let what = if self.hello.actor == "ui" { "the Keyward desktop app" } else { "keyward serve" };
        format!("{what} (pid {})", self.hello.pid)
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, RemoteError> {
        let unreachable =
            |e: reqwest::Error| RemoteError::Unreachable { pid: self.hello.pid, message: e.without_url().to_string() };
        let resp = req.bearer_auth(&self.info.token).send().await.map_err(unreachable)?;
        if resp.status().is_success() {
            return resp.json().await.map_err(unreachable);
        }
        let status = resp.status();
        match resp.json::<ErrorBody>().await {
            Ok(b) => Err(RemoteError::Refused { kind: b.error.kind, message: b.error.message }),
            Err(_) => Err(RemoteError::Unreachable { pid: self.hello.pid, message: format!("HTTP {status}") }),
        }
    }

    fn post(&self, path: &str, body: &impl Serialize) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.info.url)).json(body)
    }

    /// Runs a call in the running Keyward's pipeline (its cache, its rate-limit budget).
    pub async fn call(&self, body: &CallBody) -> Result<CallReply, RemoteError> {
        self.send(self.post("/v1/call", body).timeout(CALL_TIMEOUT)).await
    }

    /// The running Keyward's live limits.
    pub async fn limits(&self, provider: Option<&str>) -> Result<Vec<LimitView>, RemoteError> {
        let mut req = self.http.get(format!("{}/v1/limits", self.info.url)).timeout(HELLO_TIMEOUT * 5);
        if let Some(p) = provider {
            req = req.query(&[("provider", p)]);
        }
        self.send(req).await
    }

    /// Charges a call's weight on the running Keyward's limiter, waiting in its queue. The outer
    /// error is about reaching it; the inner one is the limiter's answer.
    pub async fn acquire(
        &self,
        body: &super::limits::AcquireBody,
    ) -> Result<Result<(), crate::pipeline::limit::LimitError>, RemoteError> {
        let resp = self
            .post("/v1/limits/acquire", body)
            .timeout(CALL_TIMEOUT)
            .bearer_auth(&self.info.token)
            .send()
            .await
            .map_err(|e| RemoteError::Unreachable { pid: self.hello.pid, message: e.without_url().to_string() })?;
        if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let refusal: super::limits::LimitRefusal = resp
                .json()
                .await
                .map_err(|e| RemoteError::Unreachable { pid: self.hello.pid, message: e.without_url().to_string() })?;
            return Ok(Err(refusal.into_error()));
        }
        if !resp.status().is_success() {
            return Err(RemoteError::Unreachable { pid: self.hello.pid, message: format!("HTTP {}", resp.status()) });
        }
        Ok(Ok(()))
    }

    /// Reports an exchange's answer to the running Keyward's limiter.
    pub async fn observe(&self, body: &super::limits::ObserveBody) -> Result<(), RemoteError> {
        let _: serde_json::Value = self.send(self.post("/v1/limits/observe", body).timeout(HELLO_TIMEOUT)).await?;
        Ok(())
    }

    /// The running gateway: where it listens and every bot's live numbers.
    pub async fn gateway(&self) -> Result<crate::gateway::GatewayView, RemoteError> {
        self.send(self.http.get(format!("{}/v1/gateway", self.info.url)).timeout(HELLO_TIMEOUT * 5)).await
    }

    /// The running Keyward's shared budget (`None`: it keeps its own).
    pub async fn shared(&self) -> Result<Option<crate::ratelimit::shared::SharedBudgetView>, RemoteError> {
        self.send(self.http.get(format!("{}/v1/shared", self.info.url)).timeout(HELLO_TIMEOUT * 5)).await
    }

    /// Tells the running gateway that bot tokens changed (disabled, rotated, revoked here).
    pub async fn gateway_tokens_changed(&self) -> Result<(), RemoteError> {
        let _: serde_json::Value =
            self.send(self.post("/v1/gateway/tokens-changed", &serde_json::json!({})).timeout(HELLO_TIMEOUT)).await?;
        Ok(())
    }

    pub async fn vault(&self) -> Result<VaultStatus, RemoteError> {
        self.send(self.http.get(format!("{}/v1/vault", self.info.url)).timeout(HELLO_TIMEOUT)).await
    }

    pub async fn vault_lock(&self) -> Result<VaultStatus, RemoteError> {
        self.send(self.post("/v1/vault/lock", &serde_json::json!({})).timeout(HELLO_TIMEOUT)).await
    }

    /// Unlocks the running Keyward's vault file for `duration`.
    pub async fn vault_unlock(
        &self,
        passphrase: &crate::vault::SecretString,
        duration: Duration,
    ) -> Result<VaultStatus, RemoteError> {
        use crate::vault::ExposeSecret;
        let mut body = UnlockBody { passphrase: passphrase.expose_secret().to_string(), seconds: duration.as_secs() };
        // Argon2id takes a moment.
        let result = self.send(self.post("/v1/vault/unlock", &body).timeout(HELLO_TIMEOUT * 30)).await;
        zeroize::Zeroize::zeroize(&mut body.passphrase);
        result
    }
}
