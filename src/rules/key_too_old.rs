//! `key-too-old`: an active access key older than `max-key-age-days` (default 90).
//!
//! Why: a long-lived key that leaked months ago is still valid today. Rotating on a fixed
//! schedule bounds how long a leaked key stays useful. Example: a key created 120 days ago
//! and still Active is flagged; the same key at exactly 90 days is not ("90 days or less").

use super::{
    days_between, Check, Context, Control, Framework, Hit, Rule, RuleId, Severity, Subject, Threshold,
};
use crate::model::User;

pub(super) const RULE: Rule = Rule {
    rule_id: RuleId::KeyTooOld,
    id: "key-too-old",
    default_severity: Severity::Medium,
    threshold: Some(Threshold::MaxKeyAgeDays),
    summary: "An active access key is older than max-key-age-days (default 90): rotate it.",
    rationale: "A leaked long-lived key stays valid until someone rotates it; regular rotation bounds the damage window.",
    controls: &[
        Control::new(Framework::CisV3, "1.14"),
        Control::new(Framework::CisV5, "1.13"),
        Control::new(Framework::SecurityHub, "IAM.3"),
        Control::new(Framework::PciDss4, "8.3.9"),
        Control::new(Framework::PciDss4, "8.6.3"),
    ],
    subject: Subject::Key,
    check: Check::User(check),
};

fn check(context: &Context, user: &User, hits: &mut Vec<Hit>) {
    let limit = i64::from(context.thresholds.max_key_age_days);
    for key in super::active_keys(user) {
        // Judged on the shown number (started days, see `days_between`).
        let age = days_between(key.created, context.as_of);
        if age > limit {
            hits.push(Hit::key(
                key,
                format!(
                    "active key is {age} days old (limit {} days); rotate it",
                    context.thresholds.max_key_age_days
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
    use chrono::Duration;

    #[test]
    fn flags_active_keys_strictly_older_than_the_limit() {
        let mut at_limit_plus = key("PLUS1S", Active, 90, used(1));
        at_limit_plus.created -= Duration::seconds(1);
        let cases = [
            ("young active key", key("K", Active, 10, used(1)), false),
            ("exactly 90 days is still compliant", key("K", Active, 90, used(1)), false),
            ("one second past 90 days", at_limit_plus, true),
            ("89.5 days (shows 90)", key_hours("K", Active, 89 * 24 + 12, used(1)), false),
            ("90.5 days (shows 91)", key_hours("K", Active, 90 * 24 + 12, used(1)), true),
            ("120 days, never used", key("K", Active, 120, LastUsed::Never), true),
            ("old but inactive is another rule's business", key("K", Inactive, 400, used(300)), false),
            ("old active key with unknown last use", key("K", Active, 400, LastUsed::Unknown), true),
            ("created in the future of as-of", key("K", Active, -5, LastUsed::Never), false),
        ];
        for (name, key, expected) in cases {
            let id = key.access_key_id.clone();
            let flagged = flagged(&RULE, &user(vec![key]));
            assert_eq!(flagged == vec![id], expected, "{name}: {flagged:?}");
        }
    }

    #[test]
    fn a_key_ninety_and_a_half_days_old_reads_91_days() {
        let found = hits(&RULE, &user(vec![key_hours("K", Active, 90 * 24 + 12, used(1))]));
        assert_eq!(found[0].2, "active key is 91 days old (limit 90 days); rotate it");
    }
}
