//! Applying a plan: re-read, compare, act, log. One key at a time, in plan order: blast
//! radius and auditability matter more than speed here.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use chrono::Utc;
use serde::Serialize;

use super::{Action, Plan, PlannedAction};
use crate::keys::{KeyOps, OpError, Step};
use crate::report::LastUsedState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Result {
    Applied,
    /// The key changed since the plan (or is gone, or is in another account): left alone.
    Skipped,
    /// The call failed after retries.
    Failed,
    /// Beyond `--max-actions`: not attempted.
    OverLimit,
}

impl Result {
    pub fn as_str(self) -> &'static str {
        match self {
            Result::Applied => "applied",
            Result::Skipped => "skipped",
            Result::Failed => "failed",
            Result::OverLimit => "over-limit",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub action: PlannedAction,
    pub result: Result,
    pub detail: String,
}

/// The audit log: one JSON object per line, appended, flushed after every action.
pub struct AuditLog {
    file: File,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        Ok(AuditLog { file: OpenOptions::new().create(true).append(true).open(path)? })
    }

    fn record(&mut self, outcome: &Outcome) -> std::io::Result<()> {
        let line = serde_json::json!({
            "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "account_id": outcome.action.account_id,
            "user_name": outcome.action.user_name,
            "access_key_id": outcome.action.access_key_id,
            "action": outcome.action.action,
            "rules": outcome.action.rules,
            "result": outcome.result,
            "detail": outcome.detail,
        });
        writeln!(self.file, "{line}")?;
        self.file.flush()
    }
}

/// Applies the first `max_actions` actions of the plan. Every outcome is logged before the
/// next action starts; a log write failure stops the run (no unlogged changes).
pub async fn apply(
    ops: &KeyOps,
    plan: &Plan,
    max_actions: usize,
    log: &mut AuditLog,
) -> std::result::Result<Vec<Outcome>, std::io::Error> {
    let mut outcomes = Vec::new();
    for (index, action) in plan.actions.iter().enumerate() {
        let (result, detail) = if index >= max_actions {
            (Result::OverLimit, format!("not attempted: over --max-actions {max_actions}"))
        } else {
            apply_one(ops, action).await
        };
        let outcome = Outcome { action: action.clone(), result, detail };
        log.record(&outcome)?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

async fn apply_one(ops: &KeyOps, planned: &PlannedAction) -> (Result, String) {
    if planned.account_id != ops.account_id {
        return (
            Result::Skipped,
            format!(
                "the key is in account {}, the credentials in account {}",
                planned.account_id, ops.account_id
            ),
        );
    }
    let user = planned.user_name.as_str();
    let id = planned.access_key_id.as_str();
    let current = match ops.current(user, id).await {
        Ok(Some(key)) => key,
        Ok(None) => return (Result::Skipped, "the key no longer exists".into()),
        Err(error) => return (Result::Failed, format!("re-reading the key: {error}")),
    };
    if current.status != planned.expected_status {
        return (
            Result::Skipped,
            format!(
                "status changed since the plan: {} -> {}",
                planned.expected_status.as_str(),
                current.status.as_str()
            ),
        );
    }
    let (state, date) = (LastUsedState::of(&current.last_used), current.last_used.date());
    if state != planned.expected_last_used_state || date != planned.expected_last_used {
        let now =
            date.map_or(state.as_str().to_string(), |d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        return (Result::Skipped, format!("the key was used since the plan (last used now: {now})"));
    }
    let step = match planned.action {
        Action::Deactivate => Step::Deactivate(id.to_string()),
        Action::Delete => Step::Delete(id.to_string()),
    };
    match ops.apply(user, &step, &mut None).await {
        Ok(done) => (Result::Applied, done),
        Err(OpError::Refused(refusal)) => (Result::Failed, refusal.0),
        Err(error) => (Result::Failed, error.to_string()),
    }
}
