//! `inactive-key-kept`: an inactive access key whose last use (or, if never used, its
//! creation) is at least `inactive-grace-days` (default 30) ago.
//!
//! Why: deactivating first and deleting later is the safe way to retire a key (if something
//! breaks, reactivate it). But a key deactivated and then forgotten can be reactivated by
//! anyone with `iam:UpdateAccessKey`, and it still counts toward the two-key limit. After
//! the grace period it should be deleted. IAM does not record when a key was deactivated,
//! so the last use is the best evidence of when it stopped being needed. Example: an
//! inactive key last used 40 days ago is flagged; one last used 10 days ago is not.

use super::{
    days_between, Check, Context, Control, Framework, Hit, Rule, RuleId, Severity, Subject, Threshold,
};
use crate::model::{KeyStatus, LastUsed, User};

pub(super) const RULE: Rule = Rule {
    rule_id: RuleId::InactiveKeyKept,
    id: "inactive-key-kept",
    default_severity: Severity::Low,
    threshold: Some(Threshold::InactiveGraceDays),
    summary: "An inactive access key last used (else created) inactive-grace-days (default 30) or more ago: delete it.",
    rationale: "A deactivated key can be reactivated by anyone with iam:UpdateAccessKey and blocks a rotation slot; once the grace period shows nothing needs it, delete it.",
    controls: &[
        Control::new(Framework::CisV3, "1.12"),
        Control::new(Framework::CisV5, "1.11"),
    ],
    subject: Subject::Key,
    check: Check::User(check),
};

fn check(context: &Context, user: &User, hits: &mut Vec<Hit>) {
    let limit = i64::from(context.thresholds.inactive_grace_days);
    for key in user.keys.iter().filter(|key| key.status == KeyStatus::Inactive) {
        let (since, what) = match &key.last_used {
            LastUsed::At { date, .. } => (*date, "last used"),
            LastUsed::Never => (key.created, "never used, created"),
            LastUsed::Unknown => continue,
        };
        // Judged on the shown number (started days, see `days_between`).
        let days = days_between(since, context.as_of);
        if days >= limit {
            hits.push(Hit::key(
                key,
                format!(
                    "inactive key {what} {days} days ago (grace {} days); delete it",
                    context.thresholds.inactive_grace_days
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::RULE;
    use crate::model::{KeyStatus::*, LastUsed};

    #[test]
    fn flags_inactive_keys_past_the_grace_period() {
        let cases = [
            ("inactive, used 10 days ago", key("K", Inactive, 300, used(10)), false),
            ("inactive, used 29 days ago", key("K", Inactive, 300, used(29)), false),
            ("inactive, used exactly 30 days ago", key("K", Inactive, 300, used(30)), true),
            (
                "inactive, used 29.5 days ago: its 30th day",
                key("K", Inactive, 300, used_hours(29 * 24 + 12)),
                true,
            ),
            ("inactive, used 200 days ago", key("K", Inactive, 300, used(200)), true),
            ("inactive, never used, created 20 days ago", key("K", Inactive, 20, LastUsed::Never), false),
            ("inactive, never used, created 30 days ago", key("K", Inactive, 30, LastUsed::Never), true),
            ("inactive, unknown last use", key("K", Inactive, 300, LastUsed::Unknown), false),
            ("active keys are other rules' business", key("K", Active, 300, used(200)), false),
        ];
        for (name, key, expected) in cases {
            let id = key.access_key_id.clone();
            let flagged = flagged(&RULE, &user(vec![key]));
            assert_eq!(flagged == vec![id], expected, "{name}: {flagged:?}");
        }
    }
}
