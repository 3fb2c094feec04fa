//! `key-unused`: an active access key not used for `unused-days` (default 45), including
//! keys that were never used at all and were created at least that long ago.
//!
//! Why: an unused active key is pure risk: nothing needs it, but whoever finds it can use
//! it. Some auditors only look at the last-used date and so miss keys that were never used;
//! keyaudit counts those from their creation. Example: a key last used 45 days ago is
//! flagged; one created 60 days ago and never used is flagged too; one created 10 days ago
//! and never used is not (it may still be rolling out).
//!
//! A key whose last use could not be read (`Unknown`) is not judged here: the scan is
//! already marked incomplete, and guessing would either hide or invent a finding.

use super::{
    days_between, Check, Context, Control, Framework, Hit, Rule, RuleId, Severity, Subject, Threshold,
};
use crate::model::{LastUsed, User};

pub(super) const RULE: Rule = Rule {
    rule_id: RuleId::KeyUnused,
    id: "key-unused",
    default_severity: Severity::Medium,
    threshold: Some(Threshold::UnusedDays),
    summary: "An active access key was last used unused-days (default 45) or more ago, or never used and created that long ago: deactivate it.",
    rationale: "A key nobody uses still works for whoever finds it; disabling it costs nothing and removes the risk.",
    controls: &[
        Control::new(Framework::CisV3, "1.12"),
        Control::new(Framework::CisV5, "1.11"),
        Control::new(Framework::SecurityHub, "IAM.22"),
        Control::new(Framework::PciDss4, "8.2.6"),
    ],
    subject: Subject::Key,
    check: Check::User(check),
};

fn check(context: &Context, user: &User, hits: &mut Vec<Hit>) {
    let days = context.thresholds.unused_days;
    let limit = i64::from(days);
    // Judged on the shown numbers (started days, see `days_between`).
    let since = |date| days_between(date, context.as_of);
    for key in super::active_keys(user) {
        let message = match &key.last_used {
            LastUsed::At { date, .. } if since(*date) >= limit => {
                let idle = since(*date);
                format!("active key last used {idle} days ago (limit {days} days); deactivate it")
            }
            LastUsed::Never if since(key.created) >= limit => {
                let age = since(key.created);
                format!("active key never used since it was created {age} days ago (limit {days} days); deactivate it")
            }
            LastUsed::At { .. } | LastUsed::Never | LastUsed::Unknown => continue,
        };
        hits.push(Hit::key(key, message));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::RULE;
    use crate::model::{KeyStatus::*, LastUsed};

    #[test]
    fn flags_idle_and_never_used_active_keys() {
        let cases = [
            ("used yesterday", key("K", Active, 300, used(1)), false),
            ("used 44 days ago", key("K", Active, 300, used(44)), false),
            ("used exactly 45 days ago", key("K", Active, 300, used(45)), true),
            (
                "used 44 days and 1 hour ago: its 45th day",
                key("K", Active, 300, used_hours(44 * 24 + 1)),
                true,
            ),
            ("used exactly 44 days ago", key("K", Active, 300, used_hours(44 * 24)), false),
            ("used 200 days ago", key("K", Active, 300, used(200)), true),
            ("never used, created 44 days ago", key("K", Active, 44, LastUsed::Never), false),
            ("never used, created exactly 45 days ago", key("K", Active, 45, LastUsed::Never), true),
            ("never used, created a year ago", key("K", Active, 365, LastUsed::Never), true),
            ("inactive and idle is another rule's business", key("K", Inactive, 300, used(200)), false),
            ("unknown last use is not guessed", key("K", Active, 300, LastUsed::Unknown), false),
        ];
        for (name, key, expected) in cases {
            let id = key.access_key_id.clone();
            let flagged = flagged(&RULE, &user(vec![key]));
            assert_eq!(flagged == vec![id], expected, "{name}: {flagged:?}");
        }
    }

    #[test]
    fn judges_each_key_of_a_user_on_its_own() {
        let user = user(vec![key("IDLE", Active, 300, used(100)), key("BUSY", Active, 300, used(2))]);
        assert_eq!(flagged(&RULE, &user), vec!["IDLE"]);
    }
}
