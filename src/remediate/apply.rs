//! Applying a plan: re-read, compare, log the intent, act, log the result. One key at a time, in plan order: blast
//! radius and auditability matter more than speed here.

use serde::{Deserialize, Serialize};

use super::audit_log::AuditLog;
use super::{Action, Plan, PlannedAction};
use crate::keys::{KeyOps, OpError, Step};
use crate::report::LastUsedState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Applying stopped because the audit log could not be written. Nothing after `outcomes`
/// was attempted.
#[derive(Debug)]
pub struct Stopped {
    /// Actions done (or skipped) and recorded before the failure.
    pub outcomes: Vec<Outcome>,
    /// An action carried out (or skipped) whose result line could not be written; its
    /// intent line is in the log. `None`: the failure was the intent line, and the action's
    /// key was not touched.
    pub unrecorded: Option<Outcome>,
    /// The action whose line could not be written.
    pub action: PlannedAction,
    pub error: std::io::Error,
}

/// Applies the first `max_actions` actions of the plan, write-ahead: an intent line before
/// each IAM call that changes a key, a result line after every action. A log write failure
/// stops the run: no change happens without its intent on disk.
pub async fn apply(
    ops: &KeyOps,
    plan: &Plan,
    max_actions: usize,
    log: &mut AuditLog,
) -> std::result::Result<Vec<Outcome>, Stopped> {
    let mut outcomes = Vec::new();
    for (index, action) in plan.actions.iter().enumerate() {
        let (result, detail) = if index >= max_actions {
            (Result::OverLimit, format!("not attempted: over --max-actions {max_actions}"))
        } else {
            match check(ops, action).await {
                Err(unchanged) => unchanged,
                Ok(step) => {
                    if let Err(error) = log.intent(action) {
                        return Err(Stopped { outcomes, unrecorded: None, action: action.clone(), error });
                    }
                    act(ops, action, &step).await
                }
            }
        };
        let outcome = Outcome { action: action.clone(), result, detail };
        if let Err(error) = log.result(&outcome) {
            return Err(Stopped { outcomes, unrecorded: Some(outcome), action: action.clone(), error });
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Re-reads the key and compares it with the plan: the step to take, or why not (skipped or
/// failed, the key unchanged).
async fn check(ops: &KeyOps, planned: &PlannedAction) -> std::result::Result<Step, (Result, String)> {
    if planned.account_id != ops.account_id {
        return Err((
            Result::Skipped,
            format!(
                "the key is in account {}, the credentials in account {}",
                planned.account_id, ops.account_id
            ),
        ));
    }
    let user = planned.user_name.as_str();
    let id = planned.access_key_id.as_str();
    let current = match ops.current(user, id).await {
        Ok(Some(key)) => key,
        Ok(None) => return Err((Result::Skipped, "the key no longer exists".into())),
        Err(error) => return Err((Result::Failed, format!("re-reading the key: {error}"))),
    };
    if current.status != planned.expected_status {
        return Err((
            Result::Skipped,
            format!(
                "status changed since the plan: {} -> {}",
                planned.expected_status.as_str(),
                current.status.as_str()
            ),
        ));
    }
    let (state, date) = (LastUsedState::of(&current.last_used), current.last_used.date());
    if state != planned.expected_last_used_state || date != planned.expected_last_used {
        let now =
            date.map_or(state.as_str().to_string(), |d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        return Err((Result::Skipped, format!("the key was used since the plan (last used now: {now})")));
    }
    Ok(match planned.action {
        Action::Deactivate => Step::Deactivate(id.to_string()),
        Action::Delete => Step::Delete(id.to_string()),
    })
}

async fn act(ops: &KeyOps, planned: &PlannedAction, step: &Step) -> (Result, String) {
    match ops.apply(&planned.user_name, step, &mut None).await {
        Ok(done) => (Result::Applied, done),
        Err(OpError::Refused(refusal)) => (Result::Failed, refusal.0),
        Err(error) => (Result::Failed, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput;
    use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
    use aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput;
    use aws_sdk_iam::types::{AccessKeyLastUsed, AccessKeyMetadata, StatusType};
    use aws_sdk_iam::Client;
    use aws_smithy_mocks::mock;

    use super::*;
    use crate::keys::mocks::ops;
    use crate::remediate::tests::planned;

    #[tokio::test]
    async fn no_key_is_changed_when_its_intent_cannot_be_written() {
        let listed = mock!(Client::list_access_keys).then_output(|| {
            let key = AccessKeyMetadata::builder()
                .user_name("alice")
                .access_key_id("K")
                .status(StatusType::Active)
                .create_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                .build();
            ListAccessKeysOutput::builder().access_key_metadata(key).is_truncated(false).build().unwrap()
        });
        let never_used = mock!(Client::get_access_key_last_used).then_output(|| {
            let used = AccessKeyLastUsed::builder().service_name("N/A").region("N/A").build().unwrap();
            GetAccessKeyLastUsedOutput::builder().access_key_last_used(used).build()
        });
        let update =
            mock!(Client::update_access_key).then_output(|| UpdateAccessKeyOutput::builder().build());
        let ops = ops(&[&listed, &never_used, &update]);
        let plan = Plan { actions: vec![planned("K", Action::Deactivate)], not_planned: Vec::new() };

        let Ok(full) = std::fs::OpenOptions::new().append(true).open("/dev/full") else { return };
        let stopped = apply(&ops, &plan, usize::MAX, &mut AuditLog::from_file(full)).await.unwrap_err();
        assert!(stopped.unrecorded.is_none() && stopped.outcomes.is_empty(), "{stopped:?}");
        assert_eq!(listed.num_calls(), 1, "the key was re-read as planned");
        assert_eq!(update.num_calls(), 0, "no IAM change without its intent on disk");

        // The same plan with a writable log: intent, change, result.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path, &Default::default()).unwrap();
        let outcomes = apply(&ops, &plan, usize::MAX, &mut log).await.unwrap();
        assert_eq!(outcomes[0].result, Result::Applied, "{outcomes:?}");
        assert_eq!(update.num_calls(), 1);
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let kinds: Vec<&str> = lines.iter().map(|line| line["record"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["intent", "result"]);
    }
}
