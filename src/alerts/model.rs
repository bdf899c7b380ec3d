//! The alert model: recorded alerts and their states, the filters that list them, the
//! notices the desktop shell shows, webhook delivery records, and the errors.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::input::Severity;
use super::payload::WebhookEvent;
use crate::store::StoreError;
use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("the webhook worker is already running")]
    AlreadyRunning,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not set up the webhook HTTP client: {0}")]
    Http(String),
    #[error("a background task failed: {0}")]
    Background(String),
}

impl From<rusqlite::Error> for AlertError {
    fn from(e: rusqlite::Error) -> Self {
        AlertError::Store(StoreError::Sql(e))
    }
}

impl AlertError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            AlertError::NotFound { .. } => crate::ErrorKind::NotFound,
            AlertError::Invalid(_) => crate::ErrorKind::Invalid,
            AlertError::AlreadyRunning => crate::ErrorKind::Conflict,
            AlertError::Vault(_) => crate::ErrorKind::Vault,
            AlertError::Store(_) => crate::ErrorKind::Storage,
            AlertError::Http(_) | AlertError::Background(_) => crate::ErrorKind::Internal,
        }
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    Active,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Active => "active",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AlertState::Active),
            "acknowledged" => Some(AlertState::Acknowledged),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

/// Why an alert's notifications were held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suppression {
    /// A repeat inside the rule's cooldown: no desktop notification, no webhook.
    Cooldown,
    /// Non-critical during quiet hours: no desktop notification (webhooks still sent).
    QuietHours,
}

impl Suppression {
    pub fn as_str(self) -> &'static str {
        match self {
            Suppression::Cooldown => "cooldown",
            Suppression::QuietHours => "quiet_hours",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cooldown" => Some(Suppression::Cooldown),
            "quiet_hours" => Some(Suppression::QuietHours),
            _ => None,
        }
    }
}

/// One recorded alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: i64,
    pub ts: DateTime<Utc>,
    /// The rule that raised it (`None` once that rule was removed).
    pub rule_id: Option<i64>,
    /// The rule's kind name at the time (`provider_down`).
    pub rule_kind: String,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    pub provider: String,
    pub dedup_key: String,
    pub state: AlertState,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub suppressed: Option<Suppression>,
    /// When it resolves by itself (the end of a ban, an old maintenance announcement).
    pub expires_at: Option<DateTime<Utc>>,
}

impl Alert {
    pub fn is_open(&self) -> bool {
        self.state != AlertState::Resolved
    }
}

/// Which alerts [`Alerts::list`] returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFilter {
    /// Empty: every state.
    pub states: Vec<AlertState>,
    pub provider: Option<String>,
    pub min_severity: Option<Severity>,
    pub since: Option<DateTime<Utc>>,
    /// 0: no limit.
    pub limit: u32,
}

impl Default for AlertFilter {
    fn default() -> Self {
        Self { states: Vec::new(), provider: None, min_severity: None, since: None, limit: 100 }
    }
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Raised,
    Resolved,
    Acknowledged,
}

/// The open alerts at a glance, for the tray icon colour and tooltip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActiveSummary {
    /// The worst severity among open, unacknowledged alerts (`None`: all clear).
    pub worst: Option<Severity>,
    /// Open alerts not yet acknowledged.
    pub unacknowledged: u32,
    /// Open alerts, acknowledged or not.
    pub open: u32,
    /// Title of the newest unacknowledged alert of the worst severity.
    pub headline: Option<String>,
}

/// A change the desktop shell shows: update the alert centre and the tray from `alert` and
/// `summary`; show an OS notification only when `notify` is true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertNotice {
    pub kind: NoticeKind,
    pub alert: Alert,
    /// Show a desktop notification (false for resolves, acknowledgements, rules without the
    /// desktop channel, cooldown repeats and non-critical alerts in quiet hours).
    pub notify: bool,
    pub summary: ActiveSummary,
}

/// The desktop side: the shell forwards notices to the UI, the tray and native notifications.
/// Called synchronously from the engine: must not block.
pub trait DesktopChannel: Send + Sync + 'static {
    fn notify(&self, notice: AlertNotice);
}

impl<F> DesktopChannel for F
where
    F: Fn(AlertNotice) + Send + Sync + 'static,
{
    fn notify(&self, notice: AlertNotice) {
        self(notice)
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Delivered,
    /// Failed; another attempt follows.
    Retrying,
    /// Failed for good (permanent error or attempts exhausted).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delivered" => Some(DeliveryStatus::Delivered),
            "retrying" => Some(DeliveryStatus::Retrying),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub ts: DateTime<Utc>,
    /// `None` for test deliveries.
    pub alert_id: Option<i64>,
    pub webhook_id: i64,
    pub event: WebhookEvent,
    pub attempt: u32,
    pub status: DeliveryStatus,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// Which delivery attempts [`Alerts::deliveries`] returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub webhook_id: Option<i64>,
    pub alert_id: Option<i64>,
    /// 0: no limit.
    pub limit: u32,
}

impl Default for DeliveryFilter {
    fn default() -> Self {
        Self { webhook_id: None, alert_id: None, limit: 100 }
    }
}

/// The outcome of [`Alerts::test_webhook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryResult {
    pub webhook_id: i64,
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub elapsed: Duration,
}
