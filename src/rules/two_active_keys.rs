//! `two-active-keys`: a user with two active access keys, unless the newer one is younger
//! than `rotation-window-days` (default 7).
//!
//! Why: one active key per user keeps it clear which key a workload uses and which can be
//! revoked. During a rotation both keys are briefly active (create new, switch, deactivate
//! old); that is not a finding until the window has passed. Example: keys created 200 and
//! 3 days ago are a rotation in progress; 200 and 30 days ago, a finding about the user
//! that names the 200-day-old key as the one to deactivate (its `access_key_id`; `key_ids`
//! lists both).

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
    // The key to deactivate: the older one (the first created; by id if created together).
    let Some(older) =
        active.iter().min_by(|a, b| (a.created, &a.access_key_id).cmp(&(b.created, &b.access_key_id)))
    else {
        return;
    };
    let window = context.thresholds.rotation_window_days;
    // Judged on the shown number (started days, see `days_between`).
    let newer_age = days_between(newest, context.as_of);
    if newer_age < i64::from(window) {
        return; // a rotation in progress
    }
    let ids: Vec<String> = active.iter().map(|key| key.access_key_id.clone()).collect();
    hits.push(Hit {
        subject: None,
        // The finding names the older key (reports' `access_key_id`, age and last use);
        // `key_ids` keeps both, and so the finding's identity (`FindingId`) is unchanged.
        key: Some((*older).clone()),
        message: format!(
            "user has {} active keys; the newer is {newer_age} days old (rotation window {window} days): finish the rotation and deactivate the older key {}",
            ids.len(),
            older.access_key_id
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

    #[test]
    fn names_the_older_key_as_the_one_to_deactivate() {
        let cases = [
            ("older listed first", vec![key("OLD", Active, 200, used(1)), key("NEW", Active, 30, used(1))]),
            ("older listed second", vec![key("NEW", Active, 30, used(1)), key("OLD", Active, 200, used(1))]),
        ];
        for (name, keys) in cases {
            let ids: Vec<String> = keys.iter().map(|k| k.access_key_id.clone()).collect();
            let found = hits(&RULE, &user(keys));
            let [(named, key_ids, message)] = &found[..] else { panic!("{name}: {found:?}") };
            assert_eq!(named.as_deref(), Some("OLD"), "{name}");
            assert_eq!(key_ids, &ids, "{name}: key_ids keep both, in the user's order");
            assert!(message.ends_with("deactivate the older key OLD"), "{name}: {message}");
        }
        // Created in the same instant: the lower id, so the choice is stable.
        let same = vec![key("B", Active, 30, used(1)), key("A", Active, 30, used(1))];
        assert_eq!(hits(&RULE, &user(same))[0].0.as_deref(), Some("A"));
    }
}
