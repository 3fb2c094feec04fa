//! `keyaudit remediate`: findings -> a plan of key actions -> (only when asked) applied.
//!
//! Planning is pure (this file): each action names the account, user, exact key id, the
//! findings that caused it, and a snapshot of the key (status, last use) as the findings saw
//! it. Applying ([`apply`]) re-reads each key right before acting and skips it if anything in
//! that snapshot changed, so keyaudit never acts on a key that is not as planned, and never
//! on a whole user because one of its keys matched.

pub mod apply;
pub mod audit_log;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::KeyStatus;
use crate::report::{FindingRow, LastUsedState};
use crate::rules::RuleId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Set an active key Inactive (reversible).
    Deactivate,
    /// Delete an inactive key (final).
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deactivate => "deactivate",
            Action::Delete => "delete",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What remediation does for each rule's findings; `None` means nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemediationSettings {
    actions: BTreeMap<RuleId, Option<Action>>,
}

impl Default for RemediationSettings {
    /// Unused active keys are deactivated and forgotten inactive keys deleted; old keys are
    /// left for a rotation (deactivating a key in daily use breaks its workload).
    fn default() -> Self {
        RemediationSettings {
            actions: BTreeMap::from([
                (RuleId::KeyUnused, Some(Action::Deactivate)),
                (RuleId::InactiveKeyKept, Some(Action::Delete)),
            ]),
        }
    }
}

impl RemediationSettings {
    pub fn action(&self, rule: RuleId) -> Option<Action> {
        self.actions.get(&rule).copied().flatten()
    }

    /// Sets a rule's action, refusing combinations that would be unsafe or meaningless.
    pub fn set(&mut self, rule: RuleId, action: Option<Action>) -> Result<(), String> {
        let allowed: &[Option<Action>] = match rule {
            RuleId::KeyTooOld | RuleId::KeyUnused => &[None, Some(Action::Deactivate)],
            RuleId::InactiveKeyKept => &[None, Some(Action::Delete)],
            // A finding about a user never leads to an action on its keys.
            RuleId::TwoActiveKeys => &[None],
            // Root keys are managed by signing in as root; IAM APIs cannot reach them.
            RuleId::RootAccessKey => &[None],
            // A missing tag is fixed by tagging the user, never by taking its key away.
            RuleId::KeyWithoutOwner => &[None],
        };
        if !allowed.contains(&action) {
            let names: Vec<&str> = allowed.iter().map(|a| a.map_or("none", Action::as_str)).collect();
            return Err(format!(
                "`{}` is not an action for {rule} (allowed: {})",
                action.map_or("none", Action::as_str),
                names.join(", ")
            ));
        }
        self.actions.insert(rule, action);
        Ok(())
    }
}

/// Parses a config value: `none`, `deactivate` or `delete`.
pub fn parse_action(text: &str) -> Result<Option<Action>, String> {
    match text {
        "none" => Ok(None),
        "deactivate" => Ok(Some(Action::Deactivate)),
        "delete" => Ok(Some(Action::Delete)),
        other => Err(format!("unknown action `{other}` (expected none, deactivate or delete)")),
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_action(s)?.ok_or_else(|| "`none` is not an action".to_string())
    }
}

/// One planned change to one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedAction {
    pub action: Action,
    pub account_id: String,
    pub user_name: String,
    pub access_key_id: String,
    /// The findings that led here.
    pub rules: Vec<RuleId>,
    pub reason: String,
    /// The key as the findings saw it; apply skips the key if it no longer looks like this.
    pub expected_status: KeyStatus,
    pub expected_last_used_state: LastUsedState,
    pub expected_last_used: Option<DateTime<Utc>>,
}

/// A finding that leads to no action, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotPlanned {
    pub rule: RuleId,
    pub account_id: String,
    pub user_name: String,
    pub access_key_id: Option<String>,
    pub why: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub actions: Vec<PlannedAction>,
    pub not_planned: Vec<NotPlanned>,
}

/// When keyaudit itself deactivated keys, read back from the audit log.
///
/// IAM does not record when a key was deactivated, so `inactive-key-kept` can only measure
/// from the key's last use. A key that remediate deactivates for being unused is therefore
/// "inactive and unused for 45+ days" the moment it is deactivated, and the next run would
/// delete it, defeating "deactivate first, delete when sure". Where keyaudit did the
/// deactivating, its audit log knows the real time, and deletion waits for the grace period.
/// Built only by [`audit_log`], which refuses a log it cannot read whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deactivations(BTreeMap<(String, String), DateTime<Utc>>);

impl Deactivations {
    /// Read strictly from the log by [`audit_log::read_history`].
    fn at(&self, account: &str, key: &str) -> Option<DateTime<Utc>> {
        self.0.get(&(account.to_string(), key.to_string())).copied()
    }
}

/// Turns findings into actions, one per key at most. A key keyaudit deactivated less than
/// `grace_days` before `now` is not deleted yet (see [`Deactivations`]).
pub fn plan(
    findings: &[FindingRow],
    settings: &RemediationSettings,
    deactivations: &Deactivations,
    grace_days: u32,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan::default();
    let mut by_key: BTreeMap<(String, String), PlannedAction> = BTreeMap::new();
    for finding in findings {
        let skip = |why: &str| NotPlanned {
            rule: finding.rule,
            account_id: finding.account_id.clone(),
            user_name: finding.user_name.clone(),
            access_key_id: finding.access_key_id.clone(),
            why: why.to_string(),
        };
        if finding.suppressed {
            let reason = finding.suppression_reason.as_deref().unwrap_or_default();
            plan.not_planned.push(skip(&format!("suppressed: {reason}")));
            continue;
        }
        let Some(action) = settings.action(finding.rule) else {
            plan.not_planned.push(skip("no action configured for this rule"));
            continue;
        };
        // A finding naming several keys (two-active-keys names the older of two) is about
        // the user: which key goes is the owner's call, so it never leads to an action even
        // if a rule's action were ever allowed for it.
        let (Some(key_id), Some(status), Some(state), [_]) =
            (&finding.access_key_id, finding.key_status, finding.last_used_state, &finding.key_ids[..])
        else {
            plan.not_planned.push(skip("the finding is not about one key"));
            continue;
        };
        if crate::credential_report::is_slot_id(key_id) {
            plan.not_planned.push(skip("a credential report names no key id; plan from a live scan to act"));
            continue;
        }
        let fits = match action {
            Action::Deactivate => status == KeyStatus::Active,
            Action::Delete => status == KeyStatus::Inactive,
        };
        if !fits {
            plan.not_planned.push(skip(match action {
                Action::Deactivate => "the key is already inactive",
                Action::Delete => "remediate deletes inactive keys only",
            }));
            continue;
        }
        if let (Action::Delete, Some(at)) = (action, deactivations.at(&finding.account_id, key_id)) {
            let until = at + chrono::Duration::days(i64::from(grace_days));
            if now < until {
                plan.not_planned.push(skip(&format!(
                    "keyaudit deactivated this key at {}; it is deleted after the grace period, from {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
                continue;
            }
        }
        if state == LastUsedState::Unknown {
            plan.not_planned.push(skip("the key's last use is unknown; rescan before acting on it"));
            continue;
        }
        let entry =
            by_key.entry((finding.account_id.clone(), key_id.clone())).or_insert_with(|| PlannedAction {
                action,
                account_id: finding.account_id.clone(),
                user_name: finding.user_name.clone(),
                access_key_id: key_id.clone(),
                rules: Vec::new(),
                reason: String::new(),
                expected_status: status,
                expected_last_used_state: state,
                expected_last_used: finding.last_used,
            });
        // Two findings on one key never disagree here (status decides the action), but the
        // gentler action wins if they ever do.
        entry.action = entry.action.min(action);
        entry.rules.push(finding.rule);
        if !entry.reason.is_empty() {
            entry.reason.push_str("; ");
        }
        entry.reason.push_str(&finding.message);
    }
    plan.actions = by_key.into_values().collect();
    plan.actions.sort_by(|a, b| {
        (&a.account_id, &a.user_name, &a.access_key_id).cmp(&(&b.account_id, &b.user_name, &b.access_key_id))
    });
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    fn finding(rule: RuleId, key: Option<&str>, status: KeyStatus) -> FindingRow {
        FindingRow {
            finding_id: String::new(),
            rule,
            severity: Severity::Medium,
            account_id: "111122223333".into(),
            user_name: "alice".into(),
            access_key_id: key.map(str::to_string),
            key_ids: key.into_iter().map(str::to_string).collect(),
            message: format!("{rule} finding"),
            key_status: key.map(|_| status),
            key_created: None,
            key_age_days: None,
            status: None,
            created: None,
            age_days: None,
            last_used_state: key.map(|_| LastUsedState::Never),
            last_used: None,
            last_used_service: None,
            last_used_region: None,
            days_since_last_use: None,
            last_used_source: None,
            credential_report_generated_at: None,
            user_arn: None,
            user_path: None,
            suppressed: false,
            failing: true,
            suppression_reason: None,
            suppression_expires: None,
            suppression_expired: false,
            baseline_state: None,
            owner: None,
            privileged: None,
            privileged_via: Vec::new(),
            scope: None,
            controls: Vec::new().into(),
        }
    }

    #[test]
    fn default_plan_deactivates_unused_and_deletes_forgotten_inactive_keys() {
        let findings = [
            finding(RuleId::KeyUnused, Some("UNUSED"), KeyStatus::Active),
            finding(RuleId::KeyTooOld, Some("UNUSED"), KeyStatus::Active),
            finding(RuleId::KeyTooOld, Some("OLD"), KeyStatus::Active),
            finding(RuleId::InactiveKeyKept, Some("GONE"), KeyStatus::Inactive),
            finding(RuleId::TwoActiveKeys, None, KeyStatus::Active),
        ];
        let plan = plan(&findings, &RemediationSettings::default(), &Deactivations::default(), 30, now());
        let got: Vec<(&str, Action, &[RuleId])> =
            plan.actions.iter().map(|a| (a.access_key_id.as_str(), a.action, a.rules.as_slice())).collect();
        assert_eq!(
            got,
            vec![
                ("GONE", Action::Delete, &[RuleId::InactiveKeyKept][..]),
                ("UNUSED", Action::Deactivate, &[RuleId::KeyUnused][..]),
            ]
        );
        // key-too-old has no action by default; two-active-keys never acts on a user.
        assert_eq!(plan.not_planned.len(), 3);
    }

    #[test]
    fn configured_too_old_joins_the_same_key_once() {
        let mut settings = RemediationSettings::default();
        settings.set(RuleId::KeyTooOld, Some(Action::Deactivate)).unwrap();
        let findings = [
            finding(RuleId::KeyTooOld, Some("K"), KeyStatus::Active),
            finding(RuleId::KeyUnused, Some("K"), KeyStatus::Active),
        ];
        let plan = plan(&findings, &settings, &Deactivations::default(), 30, now());
        assert_eq!(plan.actions.len(), 1);
        assert_eq!(plan.actions[0].rules, vec![RuleId::KeyTooOld, RuleId::KeyUnused]);
    }

    fn now() -> DateTime<Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn keys_keyaudit_deactivated_recently_wait_for_the_grace_period() {
        let mut deactivations = Deactivations::default();
        for (key, at) in [("RECENT", "2026-11-20T00:00:00Z"), ("LONGAGO", "2026-10-01T00:00:00Z")] {
            deactivations.0.insert(("111122223333".into(), key.into()), at.parse().unwrap());
        }
        let findings = ["RECENT", "LONGAGO", "OTHER"]
            .map(|key| finding(RuleId::InactiveKeyKept, Some(key), KeyStatus::Inactive));
        let plan = plan(&findings, &RemediationSettings::default(), &deactivations, 30, now());
        let planned: Vec<&str> = plan.actions.iter().map(|a| a.access_key_id.as_str()).collect();
        assert_eq!(planned, vec!["LONGAGO", "OTHER"]);
        assert!(plan.not_planned[0].why.contains("from 2026-12-20T00:00:00Z"), "{:?}", plan.not_planned);
    }

    /// A planned action on key `id` of user alice, for the audit log's and apply's tests.
    pub(crate) fn planned(id: &str, action: Action) -> PlannedAction {
        PlannedAction {
            action,
            account_id: "111122223333".into(),
            user_name: "alice".into(),
            access_key_id: id.into(),
            rules: vec![RuleId::KeyUnused],
            reason: "unused".into(),
            expected_status: KeyStatus::Active,
            expected_last_used_state: LastUsedState::Never,
            expected_last_used: None,
        }
    }

    /// two-active-keys names the older key (`access_key_id`, with its status and last use),
    /// but it is a finding about the user: never an action, by default or forced.
    #[test]
    fn two_active_keys_naming_its_older_key_is_never_acted_on() {
        let mut two = finding(RuleId::TwoActiveKeys, Some("OLD"), KeyStatus::Active);
        two.key_ids = vec!["OLD".into(), "NEW".into()];
        let planned =
            plan(&[two.clone()], &RemediationSettings::default(), &Deactivations::default(), 30, now());
        assert!(planned.actions.is_empty());
        assert_eq!(planned.not_planned[0].why, "no action configured for this rule");
        // Even a setting `set` refuses (built directly here) does not make it act.
        let mut forced = RemediationSettings::default();
        forced.actions.insert(RuleId::TwoActiveKeys, Some(Action::Deactivate));
        let planned = plan(&[two], &forced, &Deactivations::default(), 30, now());
        assert!(planned.actions.is_empty());
        assert_eq!(planned.not_planned[0].why, "the finding is not about one key");
    }

    #[test]
    fn unsafe_settings_are_refused() {
        let mut settings = RemediationSettings::default();
        assert!(settings
            .set(RuleId::KeyUnused, Some(Action::Delete))
            .unwrap_err()
            .contains("allowed: none, deactivate"));
        assert!(settings.set(RuleId::TwoActiveKeys, Some(Action::Deactivate)).is_err());
        assert!(settings.set(RuleId::InactiveKeyKept, None).is_ok());
    }

    #[test]
    fn keys_in_the_wrong_state_or_with_unknown_use_are_not_planned() {
        let mut unknown = finding(RuleId::KeyUnused, Some("U"), KeyStatus::Active);
        unknown.last_used_state = Some(LastUsedState::Unknown);
        let findings = [unknown, finding(RuleId::InactiveKeyKept, Some("A"), KeyStatus::Active)];
        let plan = plan(&findings, &RemediationSettings::default(), &Deactivations::default(), 30, now());
        assert!(plan.actions.is_empty());
        assert_eq!(plan.not_planned.len(), 2);
    }
}
