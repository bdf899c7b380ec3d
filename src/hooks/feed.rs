//! Status feeds: each enabled provider whose spec names a `status_feed` (a hosted status page's
//! `/api/v2/summary.json`) is polled while Keyward runs (`service.rs`). The page's overall
//! picture becomes one announcement (source `status feed`: maintenance in progress, an outage,
//! or all clear), and each unresolved incident or scheduled maintenance an alert, resolved when
//! it leaves the page.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::statuspage::{self, Summary};
use crate::monitor::{Announcement, HealthState};
use crate::Keyward;

/// How often each feed is read.
pub const FEED_EVERY: Duration = Duration::from_secs(60);
/// How long one read may take.
pub const FEED_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest summary read.
pub const MAX_FEED_BYTES: usize = 1024 * 1024;
/// The announcement source of a provider's feed.
pub const FEED_SOURCE: &str = "status feed";

/// Reads one summary.
pub async fn fetch(client: &reqwest::Client, url: &str) -> Result<Summary, String> {
    let mut resp = client
        .get(url)
        .timeout(FEED_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("status feed {url}: {}", e.without_url()))?;
    if !resp.status().is_success() {
        return Err(format!("status feed {url}: HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("status feed {url}: {}", e.without_url()))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_FEED_BYTES {
            return Err(format!("status feed {url}: the summary is larger than {MAX_FEED_BYTES} bytes"));
        }
    }
    serde_json::from_slice(&body).map_err(|e| format!("status feed {url}: not a status-page summary: {e}"))
}

/// What the poller remembers per provider between reads.
#[derive(Debug, Default)]
pub struct Feeds {
    client: Option<reqwest::Client>,
    /// Provider → the subjects its last summary reported (incidents, maintenances).
    reported: HashMap<String, HashSet<String>>,
}

impl Feeds {
    fn client(&mut self) -> reqwest::Client {
        self.client
            .get_or_insert_with(|| {
                reqwest::Client::builder()
                    .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(Duration::from_secs(5))
                    .build()
                    .unwrap_or_default()
            })
            .clone()
    }

    /// Reads the feeds of every enabled provider that has one and applies them; withdraws the
    /// announcements of providers whose feed was removed or that were disabled. Returns the
    /// number of feeds read and the errors.
    pub async fn poll_all(&mut self, kw: &Keyward) -> (usize, Vec<String>) {
        let registry = kw.providers().clone();
        let entries = match tokio::task::spawn_blocking(move || registry.list()).await {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => return (0, vec![e.to_string()]),
            Err(e) => return (0, vec![e.to_string()]),
        };
        let feeds: Vec<(String, String, String)> = entries
            .into_iter()
            .filter(|e| e.enabled)
            .filter_map(|e| e.spec.status_feed.clone().map(|url| (e.spec.id, e.spec.name, url)))
            .collect();
        let gone: Vec<String> =
            self.reported.keys().filter(|p| !feeds.iter().any(|(id, _, _)| id == *p)).cloned().collect();
        for provider in gone {
            self.reported.remove(&provider);
            kw.monitor().announce(&provider, withdrawal(kw));
        }
        let client = self.client();
        let mut read = 0;
        let mut errors = Vec::new();
        for (id, name, url) in feeds {
            match fetch(&client, &url).await {
                Ok(summary) => {
                    read += 1;
                    let previous = self.reported.remove(&id).unwrap_or_default();
                    let kw2 = kw.clone();
                    let id2 = id.clone();
                    let now_reported =
                        tokio::task::spawn_blocking(move || apply_summary(&kw2, &id2, &name, &summary, &previous))
                            .await
                            .unwrap_or_default();
                    self.reported.insert(id, now_reported);
                }
                Err(e) => {
                    tracing::warn!(provider = %id, error = %e, "could not read the status feed");
                    errors.push(e);
                }
            }
        }
        (read, errors)
    }
}

fn withdrawal(kw: &Keyward) -> Announcement {
    Announcement {
        source: FEED_SOURCE.into(),
        state: HealthState::Up,
        cause: String::new(),
        at: kw.monitor().clock().now(),
    }
}

/// Applies one summary of `provider`: the announcement, the alerts of what it reports, and
/// resolutions of what it no longer reports. Returns the subjects it reported. Blocking.
pub fn apply_summary(
    kw: &Keyward,
    provider: &str,
    name: &str,
    summary: &Summary,
    previous: &HashSet<String>,
) -> HashSet<String> {
    let now = kw.monitor().clock().now();
    let origin = format!("{name} status page");
    let mut reports = statuspage::summary_reports(summary, &origin);
    for r in &mut reports {
        // The summary's own state is announced above, as one.
        r.state = None;
    }
    let reported: HashSet<String> = reports.iter().map(|r| r.subject.clone()).collect();
    for subject in previous.iter().filter(|s| !reported.contains(*s)) {
        reports.push(super::Report {
            subject: subject.clone(),
            title: format!("{origin}: {subject} is over"),
            message: String::new(),
            severity: crate::alerts::Severity::Info,
            provider: None,
            state: None,
            starts_at: None,
            resolved: true,
        });
    }
    kw.apply_reports(&origin, FEED_SOURCE, Some(provider), &reports, now);
    // The state last: whoever waits for it finds the page's alerts already recorded.
    let (state, cause) = statuspage::summary_state(summary);
    kw.monitor().announce(provider, Announcement { source: FEED_SOURCE.into(), state, cause, at: now });
    reported
}
