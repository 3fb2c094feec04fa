//! `key-without-owner`: an active access key of a user that carries none of the owner tag
//! keys (`[owners] tag-keys`, default `owner`, `team`).
//!
//! Why: a finding nobody owns is a finding nobody fixes; keys are routed to the team that
//! owns the IAM user. Default severity `info`, so it does not fail existing gates.
//!
//! Never raised when the owner is unknown: with `--no-details`, from a credential report,
//! or when GetAccountAuthorizationDetails failed (the scan is then incomplete). An owner tag
//! with an empty value is no owner. Example: with the defaults, a user tagged `team=payments`
//! is owned; one tagged only `cost-center=42` is not, and each of its active keys is flagged.

use super::{Check, Context, Hit, Rule, RuleId, Severity, Subject};
use crate::model::User;

pub(super) const RULE: Rule = Rule {
    rule_id: RuleId::KeyWithoutOwner,
    id: "key-without-owner",
    default_severity: Severity::Info,
    threshold: None,
    summary: "An active access key belongs to a user with none of the owner tags ([owners] tag-keys, default owner, team): tag the user.",
    rationale: "Findings are routed to the team that owns the user; a key nobody owns is a key nobody rotates.",
    // A tagging practice, not a control of CIS, Security Hub or PCI DSS.
    controls: &[],
    subject: Subject::Key,
    check: Check::User(check),
};

fn check(context: &Context, user: &User, hits: &mut Vec<Hit>) {
    if user.details.is_none() || super::owner_of(user, context.owner_tag_keys).is_some() {
        return;
    }
    let keys = context.owner_tag_keys.join(", ");
    for key in super::active_keys(user) {
        hits.push(Hit::key(key, format!("active key of a user with no owner tag ({keys}); tag the user")));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::RULE;
    use crate::model::{KeyStatus::*, UserDetails};

    #[test]
    fn flags_active_keys_of_users_without_an_owner_tag_only_when_details_are_known() {
        let tagged = |tags: &[(&str, &str)]| {
            let mut user = user(vec![key("A", Active, 10, used(1)), key("I", Inactive, 10, used(1))]);
            user.details = Some(UserDetails {
                tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                ..UserDetails::default()
            });
            user
        };
        let cases: [(&str, User, Vec<&str>); 5] = [
            ("owner tag", tagged(&[("owner", "alice@example.com")]), vec![]),
            ("team tag", tagged(&[("team", "payments")]), vec![]),
            ("other tags only", tagged(&[("cost-center", "42")]), vec!["A"]),
            ("empty owner value", tagged(&[("owner", "")]), vec!["A"]),
            ("details unknown", user(vec![key("A", Active, 10, used(1))]), vec![]),
        ];
        for (name, user, expected) in cases {
            assert_eq!(flagged(&RULE, &user), expected, "{name}");
        }
    }

    use crate::model::User;
}
