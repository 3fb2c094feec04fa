//! `two-active-keys`: a user with two active access keys, unless the newer one is younger
//! than `rotation-window-days` (default 7).
//!
//! Why: one active key per user keeps it clear which key a workload uses and which can be
//! revoked. During a rotation both keys are briefly active (create new, switch, deactivate
//! old); that is not a finding until the window has passed. Example: keys created 200 and
//! 3 days ago are a rotation in progress; 200 and 30 days ago, a finding about the user.

use super::{
    days_between, Check, Context, Control, Framework, Hit, Rule, RuleId, Severity, Subject, Threshold,
};
use crate::model::User;

pub(super) const RULE: Rule = Rule {
    rule_id: RuleId::TwoActiveKeys,
    id: "two-active-keys",
    default_severity: Severity::Medium,
    threshold: Some(Threshold::RotationWindowDays),
    summary: "A user has two active access keys and the newer is rotation-window-days (default 7) or older: finish the rotation.",
    rationale: "Two active keys double the exposure and hide which one a workload really uses; a rotation should end with one.",
    controls: &[
        Control::new(Framework::CisV3, "1.13"),
        Control::new(Framework::CisV5, "1.12"),
    ],
    subject: Subject::User,
    check: Check::User(check),
};

fn check(context: &Context, user: &User, hits: &mut Vec<Hit>) {
    let active: Vec<_> = super::active_keys(user).collect();
    if active.len() < 2 {
        return;
    }
    let Some(newest) = active.iter().map(|key| key.created).max() else {
        return;
    };
    let window = context.thresholds.rotation_window_days;
    if context.as_of - newest < Context::days(window) {
        return; // a rotation in progress
    }
    let ids: Vec<String> = active.iter().map(|key| key.access_key_id.clone()).collect();
    hits.push(Hit {
        subject: None,
        key: None,
        message: format!(
            "user has {} active keys; the newer is {} days old (rotation window {window} days): finish the rotation and deactivate the old key",
            ids.len(),
            days_between(newest, context.as_of)
        ),
        key_ids: ids,
    });
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::RULE;
    use crate::model::{KeyStatus::*, LastUsed};

    #[test]
    fn flags_two_active_keys_outside_the_rotation_window() {
        let cases = [
            ("one active key", vec![key("A", Active, 200, used(1))], false),
            (
                "one active, one inactive",
                vec![key("A", Active, 200, used(1)), key("B", Inactive, 30, used(40))],
                false,
            ),
            (
                "two inactive",
                vec![key("A", Inactive, 200, used(100)), key("B", Inactive, 30, used(40))],
                false,
            ),
            (
                "rotation in progress (newer 3 days old)",
                vec![key("A", Active, 200, used(1)), key("B", Active, 3, LastUsed::Never)],
                false,
            ),
            (
                "newer exactly 7 days old",
                vec![key("A", Active, 200, used(1)), key("B", Active, 7, used(1))],
                true,
            ),
            ("newer 30 days old", vec![key("A", Active, 200, used(1)), key("B", Active, 30, used(1))], true),
            ("newer listed first", vec![key("B", Active, 30, used(1)), key("A", Active, 200, used(1))], true),
        ];
        for (name, keys, expected) in cases {
            let flagged = flagged(&RULE, &user(keys));
            assert_eq!(!flagged.is_empty(), expected, "{name}: {flagged:?}");
            if expected {
                assert_eq!(flagged.len(), 1, "{name}: one finding about the user");
                assert!(flagged[0].starts_with("user:"), "{name}: {flagged:?}");
            }
        }
    }
}
