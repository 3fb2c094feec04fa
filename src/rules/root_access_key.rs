//! `root-access-key`: the account's root user has an access key.
//!
//! Why: root credentials can do everything in the account, including closing it, and no
//! IAM policy can restrict them. A root access key is a long-lived credential with that
//! power; AWS and CIS say it should not exist at all (use IAM roles or users instead).
//! Example: GetAccountSummary reports `AccountAccessKeysPresent = 1`, or a credential
//! report's `<root_account>` row has a key in slot 1 or 2 (active or not: an inactive
//! root key can be reactivated by the root user).

use super::{Check, Context, Control, Framework, Hit, Rule, RuleId, Severity, Subject, ROOT_USER};
use crate::model::{Account, KeyStatus};

pub(super) const RULE: Rule = Rule {
    rule_id: RuleId::RootAccessKey,
    id: "root-access-key",
    default_severity: Severity::Critical,
    threshold: None,
    summary: "The root user has an access key: delete it.",
    rationale: "Root credentials cannot be limited by IAM policies; a root access key is an unrestricted long-lived credential.",
    controls: &[
        Control::new(Framework::CisV3, "1.4"),
        Control::new(Framework::CisV5, "1.3"),
        Control::new(Framework::SecurityHub, "IAM.4"),
    ],
    subject: Subject::Account,
    check: Check::Account(check),
};

fn check(_context: &Context, account: &Account, hits: &mut Vec<Hit>) {
    let Some(root) = &account.root else { return };
    if !root.access_keys_present {
        return;
    }
    let active = root.keys.iter().filter(|key| key.status == KeyStatus::Active).count();
    let detail = if root.keys.is_empty() {
        "the root user has an access key (AccountAccessKeysPresent)".to_string()
    } else {
        format!("the root user has {} access key(s), {active} active", root.keys.len())
    };
    hits.push(Hit {
        subject: Some(ROOT_USER.to_string()),
        key: None,
        key_ids: root.keys.iter().map(|key| key.access_key_id.clone()).collect(),
        message: format!("{detail}; delete root access keys and use IAM roles or users instead"),
    });
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{evaluate, RuleId, RuleSettings, Severity};
    use crate::model::{Account, Inventory, KeyStatus, LastUsed, Root};

    fn inventory(root: Option<Root>) -> Inventory {
        Inventory {
            schema_version: 1,
            collected_at: as_of(),
            accounts: vec![Account {
                account_id: "111122223333".into(),
                users: vec![],
                root,
                credential_report_generated_at: None,
            }],
            errors: vec![],
            shard: None,
        }
    }

    #[test]
    fn flags_root_keys_when_present() {
        let slot = key("slot 1", KeyStatus::Inactive, 400, LastUsed::Never);
        let cases = [
            ("unknown (could not be read)", None, false),
            ("no root keys", Some(Root { access_keys_present: false, keys: vec![] }), false),
            ("summary says present", Some(Root { access_keys_present: true, keys: vec![] }), true),
            (
                "credential report: an inactive key",
                Some(Root { access_keys_present: true, keys: vec![slot] }),
                true,
            ),
        ];
        for (name, root, expected) in cases {
            let findings = evaluate(&inventory(root), &RuleSettings::default(), as_of());
            let root_findings: Vec<_> = findings.iter().filter(|f| f.rule == RuleId::RootAccessKey).collect();
            assert_eq!(root_findings.len(), usize::from(expected), "{name}");
            if expected {
                assert_eq!(root_findings[0].user_name, "<root_account>");
                assert_eq!(root_findings[0].severity, Severity::Critical);
            }
        }
    }
}
