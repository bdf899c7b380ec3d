//! The hosted status-page format (Atlassian Statuspage, used by Coinbase, Kraken, Gemini and
//! many others): the `/api/v2/summary.json` a status feed polls, and the webhook payloads a
//! page sends its subscribers (`component_update`, `incident`). Both become [`Report`]s.
//!
//! Only the fields Keyward reads are typed; everything else is ignored, so a page that adds
//! fields keeps working.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Report;
use crate::alerts::Severity;
use crate::monitor::HealthState;

/// `/api/v2/summary.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub page: Option<Page>,
    #[serde(default)]
    pub components: Vec<Component>,
    #[serde(default)]
    pub incidents: Vec<Incident>,
    #[serde(default)]
    pub scheduled_maintenances: Vec<Incident>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Component {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    /// operational, degraded_performance, partial_outage, major_outage, under_maintenance.
    pub status: String,
    /// A group only sums up its members.
    #[serde(default)]
    pub group: bool,
}

/// An incident or a scheduled maintenance (the same object in the format).
#[derive(Debug, Clone, Deserialize)]
pub struct Incident {
    pub id: String,
    pub name: String,
    /// Incidents: investigating, identified, monitoring, resolved, postmortem.
    /// Maintenances: scheduled, in_progress, verifying, completed.
    pub status: String,
    /// none, minor, major, critical, maintenance.
    #[serde(default)]
    pub impact: Option<String>,
    #[serde(default)]
    pub shortlink: Option<String>,
    #[serde(default)]
    pub scheduled_for: Option<DateTime<Utc>>,
    #[serde(default)]
    pub incident_updates: Vec<IncidentUpdate>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IncidentUpdate {
    #[serde(default)]
    pub body: Option<String>,
}

/// A webhook a status page sends its subscribers: one of the two updates.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookPayload {
    #[serde(default)]
    pub page: Option<serde_json::Value>,
    #[serde(default)]
    pub component_update: Option<ComponentUpdate>,
    #[serde(default)]
    pub component: Option<Component>,
    #[serde(default)]
    pub incident: Option<Incident>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ComponentUpdate {
    pub new_status: String,
    #[serde(default)]
    pub component_id: Option<String>,
}

impl WebhookPayload {
    /// Whether a JSON body has the shape of a status-page webhook.
    pub fn looks_like(value: &serde_json::Value) -> bool {
        value.get("page").is_some() && (value.get("incident").is_some() || value.get("component_update").is_some())
    }
}

/// What a component status means for the provider's health.
pub fn component_state(status: &str) -> Option<HealthState> {
    match status {
        "operational" => Some(HealthState::Up),
        "degraded_performance" | "partial_outage" => Some(HealthState::Degraded),
        "major_outage" => Some(HealthState::Down),
        "under_maintenance" => Some(HealthState::Maintenance),
        _ => None,
    }
}

fn words(status: &str) -> String {
    status.replace('_', " ")
}

fn latest_update(i: &Incident) -> Option<&str> {
    i.incident_updates.iter().find_map(|u| u.body.as_deref()).map(str::trim).filter(|b| !b.is_empty())
}

fn is_maintenance(i: &Incident) -> bool {
    matches!(i.status.as_str(), "scheduled" | "in_progress" | "verifying" | "completed")
        || i.impact.as_deref() == Some("maintenance")
}

/// What an incident (or a maintenance) says, as a report about `subject`.
pub fn incident_report(i: &Incident, origin_name: &str) -> Report {
    let subject = if is_maintenance(i) { format!("maintenance {}", i.id) } else { format!("incident {}", i.id) };
    let message = latest_update(i).unwrap_or_default().to_string();
    let over = matches!(i.status.as_str(), "resolved" | "postmortem" | "completed");
    let (state, severity, title) = if is_maintenance(i) {
        match i.status.as_str() {
            "scheduled" => (None, Severity::Info, format!("{origin_name}: maintenance scheduled: {}", i.name)),
            "completed" => {
                (Some(HealthState::Up), Severity::Info, format!("{origin_name}: maintenance completed: {}", i.name))
            }
            _ => (Some(HealthState::Maintenance), Severity::Warning, format!("{origin_name}: maintenance: {}", i.name)),
        }
    } else if over {
        (Some(HealthState::Up), Severity::Info, format!("{origin_name}: resolved: {}", i.name))
    } else {
        let (state, severity) = match i.impact.as_deref() {
            Some("critical") => (Some(HealthState::Down), Severity::Critical),
            Some("major") => (Some(HealthState::Degraded), Severity::Critical),
            Some("minor") => (Some(HealthState::Degraded), Severity::Warning),
            _ => (None, Severity::Warning),
        };
        (state, severity, format!("{origin_name}: {} ({})", i.name, words(&i.status)))
    };
    Report {
        subject,
        title,
        message,
        severity,
        provider: None,
        state,
        starts_at: if i.status == "scheduled" { i.scheduled_for } else { None },
        resolved: over,
    }
}

/// What a component's new status says.
pub fn component_report(id: &str, name: &str, status: &str, origin_name: &str) -> Result<Report, String> {
    let state = component_state(status)
        .ok_or_else(|| format!("component \"{name}\": status {status:?} is not a known status"))?;
    let severity = match state {
        HealthState::Down => Severity::Critical,
        HealthState::Degraded | HealthState::Maintenance => Severity::Warning,
        _ => Severity::Info,
    };
    Ok(Report {
        subject: format!("component {id}"),
        title: format!("{origin_name}: {name} is {}", words(status)),
        message: String::new(),
        severity,
        provider: None,
        state: Some(state),
        starts_at: None,
        resolved: state == HealthState::Up,
    })
}

/// The reports of a status-page webhook.
pub fn webhook_reports(payload: &WebhookPayload, origin_name: &str) -> Result<Vec<Report>, String> {
    if let Some(i) = &payload.incident {
        return Ok(vec![incident_report(i, origin_name)]);
    }
    match (&payload.component_update, &payload.component) {
        (Some(update), component) => {
            let id = update
                .component_id
                .clone()
                .or_else(|| component.as_ref().and_then(|c| c.id.clone()))
                .ok_or("component_update: component_id is missing")?;
            let name = component.as_ref().map_or(id.as_str(), |c| c.name.as_str());
            Ok(vec![component_report(&id, name, &update.new_status, origin_name)?])
        }
        (None, _) => Err("the status-page payload has neither \"incident\" nor \"component_update\"".into()),
    }
}

/// The provider's state by a whole summary: the worst of its components, its maintenances in
/// progress and its unresolved incidents, with the cause that decided it (`Up` when all is well).
pub fn summary_state(summary: &Summary) -> (HealthState, String) {
    let mut worst = (HealthState::Up, "status page: all systems operational".to_string());
    let rank = |s: HealthState| if s == HealthState::Maintenance { 5 } else { s.severity() };
    let mut consider = |state: HealthState, cause: String| {
        if rank(state) > rank(worst.0) {
            worst = (state, cause);
        }
    };
    for m in summary.scheduled_maintenances.iter().filter(|m| matches!(m.status.as_str(), "in_progress" | "verifying"))
    {
        consider(HealthState::Maintenance, format!("status page: maintenance in progress: {}", m.name));
    }
    for i in summary.incidents.iter().filter(|i| !matches!(i.status.as_str(), "resolved" | "postmortem")) {
        if let Some(state) = incident_report(i, "").state {
            consider(
                state,
                format!(
                    "status page: {} ({}, {} impact)",
                    i.name,
                    words(&i.status),
                    i.impact.as_deref().unwrap_or("unknown")
                ),
            );
        }
    }
    for c in summary.components.iter().filter(|c| !c.group) {
        if let Some(state) = component_state(&c.status) {
            consider(state, format!("status page: {} is {}", c.name, words(&c.status)));
        }
    }
    worst
}

/// The alert-worthy items of a summary: unresolved incidents and maintenances scheduled or
/// under way (their reports).
pub fn summary_reports(summary: &Summary, origin_name: &str) -> Vec<Report> {
    summary
        .incidents
        .iter()
        .filter(|i| !matches!(i.status.as_str(), "resolved" | "postmortem"))
        .chain(summary.scheduled_maintenances.iter().filter(|m| m.status != "completed"))
        .map(|i| incident_report(i, origin_name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const MAINTENANCE_WEBHOOK: &str = include_str!("samples/statuspage_maintenance.json");
    const SUMMARY: &str = include_str!("samples/statuspage_summary.json");

    #[test]
    fn a_summary_with_maintenance_in_progress_is_maintenance() {
        let summary: Summary = serde_json::from_str(SUMMARY).expect("parses");
        let (state, cause) = summary_state(&summary);
        assert_eq!(state, HealthState::Maintenance);
        assert_eq!(cause, "status page: maintenance in progress: Spot trading engine upgrade");
        let reports = summary_reports(&summary, "Example Exchange");
        let subjects: Vec<&str> = reports.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(subjects, ["incident inc1", "maintenance mnt1", "maintenance mnt2"]);
        assert_eq!(reports[0].state, Some(HealthState::Degraded));
        assert_eq!(reports[0].severity, Severity::Warning);
        assert_eq!(reports[2].state, None, "a scheduled window is not maintenance yet");
        assert!(reports[2].starts_at.is_some());
    }

    #[test]
    fn an_operational_summary_is_up_and_a_major_outage_down() {
        let mut summary: Summary = serde_json::from_str(SUMMARY).expect("parses");
        summary.incidents.clear();
        summary.scheduled_maintenances.clear();
        summary.components[0].status = "operational".into();
        assert_eq!(summary_state(&summary).0, HealthState::Up);
        summary.components[1].status = "major_outage".into();
        let (state, cause) = summary_state(&summary);
        assert_eq!(state, HealthState::Down);
        assert_eq!(cause, "status page: Websocket feeds is major outage");
    }

    #[test]
    fn a_maintenance_webhook_in_progress_announces_maintenance() {
        let payload: WebhookPayload = serde_json::from_str(MAINTENANCE_WEBHOOK).expect("parses");
        let reports = webhook_reports(&payload, "Example Exchange").expect("reports");
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].state, Some(HealthState::Maintenance));
        assert_eq!(reports[0].title, "Example Exchange: maintenance: Spot trading engine upgrade");
        assert_eq!(reports[0].message, "The spot trading engine is being upgraded; orders are paused.");
    }

    #[test]
    fn component_updates_map_each_status() {
        let r = component_report("c1", "API", "under_maintenance", "X").expect("known");
        assert_eq!((r.state, r.resolved), (Some(HealthState::Maintenance), false));
        let r = component_report("c1", "API", "operational", "X").expect("known");
        assert_eq!((r.state, r.resolved), (Some(HealthState::Up), true));
        let err = component_report("c1", "API", "on_fire", "X").expect_err("unknown");
        assert!(err.contains("\"on_fire\""), "{err}");
    }

    #[test]
    fn a_resolved_incident_withdraws_its_state() {
        let payload: WebhookPayload = serde_json::from_str(
            r#"{"page":{"id":"p"},"incident":{"id":"i1","name":"API errors","status":"resolved","impact":"major"}}"#,
        )
        .expect("parses");
        let r = &webhook_reports(&payload, "X").expect("reports")[0];
        assert_eq!((r.state, r.resolved), (Some(HealthState::Up), true));
    }
}
