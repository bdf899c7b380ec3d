//! The first-run guide's progress: the five getting-started steps (add a key, monitor status,
//! configure rate limits, set up failover, review usage), each done, skipped or still to do,
//! and where the user stopped. A step is done when what it sets up exists (a key stored, a
//! provider checked and up, a failover group saved) or when the user finished it in the guide;
//! the marks are kept in the settings table so the guide resumes where it was left.

use serde::{Deserialize, Serialize};

use crate::{Error, Keyward};

/// Where the guide's marks are stored (one JSON value).
pub const SETTING_KEY: &str = "setup.guide";

/// The steps, in order: (id, title).
pub const STEPS: [(&str, &str); 5] = [
    ("key", "Add your first API key"),
    ("monitor", "Monitor status"),
    ("limits", "Configure rate limits"),
    ("failover", "Set up failover"),
    ("usage", "Review usage metrics"),
];

/// What the user did with the guide, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Marks {
    /// Step id → "done" or "skipped".
    #[serde(default)]
    steps: std::collections::BTreeMap<String, String>,
    /// The step the user was on.
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    dismissed: bool,
    /// The guide was shown once (the app opens on it only the first time).
    #[serde(default)]
    seen: bool,
}

/// The guide as the desktop shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SetupGuideView {
    pub steps: Vec<SetupStepView>,
    /// The step to show: where the user stopped, else the first one still to do; `null` when
    /// every step is done or skipped.
    pub current: Option<String>,
    /// Every step is done or skipped.
    pub complete: bool,
    /// The user closed the guide ("don't show again"); the dashboard no longer offers it.
    pub dismissed: bool,
    /// The guide was opened before (the app opens on it by itself only the first time).
    pub seen: bool,
    #[ts(type = "number")]
    pub done_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SetupStepView {
    /// "key", "monitor", "limits", "failover" or "usage".
    pub id: String,
    pub title: String,
    /// "done", "skipped" or "todo".
    pub state: String,
    /// What is in place for it ("binance · main stored"), or what is missing.
    pub detail: String,
}

/// A change to the guide's progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SetupGuideEdit {
    /// The step the user is on now.
    #[serde(default)]
    pub at: Option<String>,
    /// Mark this step ...
    #[serde(default)]
    pub step: Option<String>,
    /// ... "done", "skipped" or "todo".
    #[serde(default)]
    pub mark: Option<String>,
    #[serde(default)]
    pub dismissed: Option<bool>,
    #[serde(default)]
    pub seen: Option<bool>,
}

fn step_id(field: &'static str, id: &str) -> Result<String, Error> {
    STEPS.iter().find(|(s, _)| *s == id).map(|(s, _)| s.to_string()).ok_or_else(|| Error::Invalid {
        field,
        value: id.to_string(),
        reason: format!("not a step of the guide ({})", STEPS.map(|(s, _)| s).join(", ")),
    })
}

impl Keyward {
    fn setup_marks(&self) -> Result<Marks, Error> {
        Ok(self.store().setting(SETTING_KEY)?.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default())
    }

    /// The guide's steps with what is in place for each. Blocking (SQLite).
    pub fn setup_guide(&self) -> Result<SetupGuideView, Error> {
        let marks = self.setup_marks()?;
        let cfg = |e: &dyn std::fmt::Display| Error::Config(e.to_string());
        let keys = self.keys().list(None).map_err(|e| cfg(&e))?;
        let statuses = self.provider_statuses().map_err(|e| cfg(&e))?;
        let enabled: Vec<String> = self
            .providers()
            .list()
            .map_err(|e| cfg(&e))?
            .into_iter()
            .filter(|e| e.enabled)
            .map(|e| e.spec.id)
            .collect();
        let up: Vec<&str> = statuses
            .iter()
            .filter(|s| s.state == "up" && enabled.contains(&s.provider))
            .map(|s| s.name.as_str())
            .collect();
        let groups = self.failover_groups().map_err(|e| cfg(&e))?;
        let settings_stored = self.store().setting(crate::ratelimit::settings::SETTING_KEY)?.is_some();
        let limits = self.limit_settings()?;

        let mut steps = Vec::new();
        for (id, title) in STEPS {
            let (in_place, detail) = match id {
                "key" => match keys.first() {
                    Some(k) if keys.len() == 1 => (true, format!("{} · {} stored", k.provider, k.label)),
                    Some(_) => (true, format!("{} keys stored", keys.len())),
                    None => (false, "no key stored yet".into()),
                },
                "monitor" => match up.as_slice() {
                    [] if enabled.is_empty() => (false, "no provider monitored yet".into()),
                    [] => (false, format!("{} monitored, none checked up yet", enabled.len())),
                    names => (true, format!("{} up", names.join(", "))),
                },
                "limits" => (
                    settings_stored,
                    format!(
                        "margin {} %, warn at {} %, critical at {} %",
                        limits.margin_pct, limits.warn_pct, limits.critical_pct
                    ),
                ),
                "failover" => match groups.as_slice() {
                    [] => (false, "no failover group yet".into()),
                    [g] => (true, format!("{}: {}", g.name, g.members.join(" → "))),
                    all => (true, format!("{} failover groups", all.len())),
                },
                _ => (false, "the Usage page shows every call, its cost and latency".into()),
            };
            let state = match marks.steps.get(id).map(String::as_str) {
                _ if in_place => "done",
                Some("done") => "done",
                Some("skipped") => "skipped",
                _ => "todo",
            };
            steps.push(SetupStepView { id: id.into(), title: title.into(), state: state.into(), detail });
        }
        let first_todo = steps.iter().find(|s| s.state == "todo").map(|s| s.id.clone());
        let complete = first_todo.is_none();
        let current = match marks.at {
            Some(at) if !complete && steps.iter().any(|s| s.id == at) => Some(at),
            _ => first_todo,
        };
        let done_count = steps.iter().filter(|s| s.state == "done").count() as u32;
        Ok(SetupGuideView { steps, current, complete, dismissed: marks.dismissed, seen: marks.seen, done_count })
    }

    /// Records the user's progress in the guide; refuses an unknown step or mark by name.
    pub fn set_setup_guide(&self, edit: &SetupGuideEdit) -> Result<SetupGuideView, Error> {
        let mut marks = self.setup_marks()?;
        if let Some(at) = &edit.at {
            marks.at = Some(step_id("at", at)?);
        }
        match (&edit.step, &edit.mark) {
            (Some(step), Some(mark)) => {
                let step = step_id("step", step)?;
                match mark.as_str() {
                    "done" | "skipped" => {
                        marks.steps.insert(step, mark.clone());
                    }
                    "todo" => {
                        marks.steps.remove(&step);
                    }
                    other => {
                        return Err(Error::Invalid {
                            field: "mark",
                            value: other.into(),
                            reason: "a step is marked done, skipped or todo".into(),
                        })
                    }
                }
            }
            (None, None) => {}
            (Some(step), None) => {
                return Err(Error::Invalid {
                    field: "mark",
                    value: String::new(),
                    reason: format!("say how step {step} is marked"),
                })
            }
            (None, Some(mark)) => {
                return Err(Error::Invalid {
                    field: "step",
                    value: String::new(),
                    reason: format!("say which step is {mark}"),
                })
            }
        }
        if let Some(d) = edit.dismissed {
            marks.dismissed = d;
        }
        if let Some(s) = edit.seen {
            marks.seen = s;
        }
        let json = serde_json::to_string(&marks).map_err(|e| Error::Config(e.to_string()))?;
        self.store().set_setting(SETTING_KEY, &json)?;
        self.setup_guide()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn open() -> (tempfile::TempDir, Keyward) {
        let dir = tempfile::tempdir().expect("tempdir");
        let kw = Keyward::open_with_secrets(dir.path(), Arc::new(crate::vault::MemoryStore::new())).expect("core");
        (dir, kw)
    }

    fn state(g: &SetupGuideView, id: &str) -> String {
        g.steps.iter().find(|s| s.id == id).map(|s| s.state.clone()).unwrap_or_default()
    }

    #[test]
    fn a_fresh_data_directory_starts_at_the_first_step_and_resumes_where_the_user_stopped() {
        let (_dir, kw) = open();
        let g = kw.setup_guide().expect("guide");
        assert_eq!(g.current.as_deref(), Some("key"));
        assert!(!g.complete && !g.seen && !g.dismissed);
        assert_eq!(g.done_count, 0);

        let edit = |at: Option<&str>, step: Option<&str>, mark: Option<&str>| SetupGuideEdit {
            at: at.map(Into::into),
            step: step.map(Into::into),
            mark: mark.map(Into::into),
            seen: Some(true),
            ..SetupGuideEdit::default()
        };
        kw.set_setup_guide(&edit(Some("limits"), Some("key"), Some("skipped"))).expect("skip");
        kw.set_setup_guide(&edit(None, Some("monitor"), Some("skipped"))).expect("skip");
        // Another process (or the next start) sees the same progress.
        let g = kw.setup_guide().expect("guide");
        assert_eq!((state(&g, "key").as_str(), g.current.as_deref(), g.seen), ("skipped", Some("limits"), true));

        // Saving the limit settings is what the limits step does.
        kw.set_limit_settings(crate::ratelimit::LimitSettings { margin_pct: 3.0, ..Default::default() }).expect("set");
        let g = kw.setup_guide().expect("guide");
        assert_eq!(state(&g, "limits"), "done");
        assert!(g.steps[2].detail.contains("margin 3 %"), "{:?}", g.steps[2]);

        for step in ["failover", "usage"] {
            kw.set_setup_guide(&edit(None, Some(step), Some("skipped"))).expect("skip");
        }
        let g = kw.setup_guide().expect("guide");
        assert!(g.complete && g.current.is_none(), "{g:?}");
    }

    #[test]
    fn an_unknown_step_or_mark_is_refused_by_name_and_nothing_is_stored() {
        let (_dir, kw) = open();
        let bad = SetupGuideEdit { step: Some("keys".into()), mark: Some("done".into()), ..SetupGuideEdit::default() };
        let err = kw.set_setup_guide(&bad).expect_err("unknown step").to_string();
        assert!(err.starts_with("step = keys: not a step"), "{err}");
        let bad =
            SetupGuideEdit { step: Some("key".into()), mark: Some("finished".into()), ..SetupGuideEdit::default() };
        let err = kw.set_setup_guide(&bad).expect_err("unknown mark").to_string();
        assert!(err.starts_with("mark = finished"), "{err}");
        assert_eq!(kw.setup_guide().expect("guide").steps.iter().filter(|s| s.state != "todo").count(), 0);
    }
}
