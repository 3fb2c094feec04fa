//! Which IAM users are privileged: pure code over what GetAccountAuthorizationDetails says.
//!
//! A user is privileged when a policy that reaches it (attached to it, inline in it, or
//! either of those on one of its groups) allows `*` or `iam:*` on `*`, or is one of the AWS
//! managed policies in [`PRIVILEGED_AWS_POLICIES`]. The answer is the list of reasons
//! (`AdministratorAccess via group admins`), empty when none applies.
//!
//! Judged conservatively, since the cost of a miss is an old admin key triaged as routine:
//! a statement's `Condition` is not evaluated (an allow under conditions still counts), and
//! `Allow` with `NotAction` on `*` counts (it allows everything but a list). Deny statements
//! and permissions boundaries are not subtracted: the question is what the key could be
//! used for, not a full policy evaluation.

use std::collections::HashMap;

use serde_json::Value;

/// AWS managed policies that make a user privileged, by name (their ARN is
/// `arn:<partition>:iam::aws:policy/<name>`). The one list.
pub const PRIVILEGED_AWS_POLICIES: [&str; 3] = ["AdministratorAccess", "IAMFullAccess", "PowerUserAccess"];

/// A policy as details list it: an attached managed policy by ARN, or an inline document.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    Managed { name: String, arn: String },
    Inline { name: String, document: String },
}

/// A group's grants.
pub type Groups = HashMap<String, Vec<Grant>>;
/// Customer managed policies' default documents, by ARN.
pub type ManagedDocuments = HashMap<String, String>;

/// The reasons `grants` (the user's own) and its `groups`' grants make it privileged.
pub fn reasons(
    grants: &[Grant],
    groups: &[String],
    group_grants: &Groups,
    documents: &ManagedDocuments,
) -> Vec<String> {
    let mut reasons = Vec::new();
    for grant in grants {
        if let Some(what) = privileged(grant, documents) {
            reasons.push(what);
        }
    }
    for group in groups {
        for grant in group_grants.get(group).into_iter().flatten() {
            if let Some(what) = privileged(grant, documents) {
                reasons.push(format!("{what} via group {group}"));
            }
        }
    }
    reasons
}

fn privileged(grant: &Grant, documents: &ManagedDocuments) -> Option<String> {
    match grant {
        Grant::Managed { name, arn } => {
            if is_aws_managed(arn) && PRIVILEGED_AWS_POLICIES.contains(&name.as_str()) {
                return Some(name.clone());
            }
            let document = documents.get(arn)?;
            allows_everything(document).map(|what| format!("policy {name} {what}"))
        }
        Grant::Inline { name, document } => {
            allows_everything(document).map(|what| format!("inline policy {name} {what}"))
        }
    }
}

fn is_aws_managed(arn: &str) -> bool {
    arn.split(':').nth(4) == Some("aws") && arn.contains(":policy/")
}

/// `allows *:*` or `allows iam:*` when a statement allows it on `*`. Documents come
/// URL-encoded from IAM; a document that is neither JSON nor URL-encoded JSON counts as
/// privileged (unknown is never "harmless").
pub fn allows_everything(document: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    let parsed: Option<Value> =
        serde_json::from_str(document).or_else(|_| serde_json::from_str(&decoded)).ok();
    let Some(parsed) = parsed else {
        return Some("has a policy document keyaudit cannot read".into());
    };
    let statements = match &parsed["Statement"] {
        Value::Array(list) => list.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return Some("has a policy document keyaudit cannot read".into()),
    };
    for statement in statements {
        if statement["Effect"] != "Allow" || !any(&statement["Resource"], |r| r == "*") {
            continue;
        }
        if any(&statement["Action"], |a| a == "*") {
            return Some("allows *:*".into());
        }
        if any(&statement["Action"], |a| a.eq_ignore_ascii_case("iam:*")) {
            return Some("allows iam:*".into());
        }
        if !statement["NotAction"].is_null() {
            return Some("allows every action but its NotAction list".into());
        }
    }
    None
}

/// A string or an array of strings, any of which satisfies `test`.
fn any(value: &Value, test: impl Fn(&str) -> bool) -> bool {
    match value {
        Value::String(text) => test(text),
        Value::Array(items) => items.iter().filter_map(Value::as_str).any(test),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statement: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": {statement}}}"#)
    }

    #[test]
    fn documents() {
        let cases = [
            (doc(r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#), Some("allows *:*")),
            (doc(r#"[{"Effect": "Allow", "Action": ["s3:GetObject", "iam:*"], "Resource": ["*"]}]"#), Some("allows iam:*")),
            (doc(r#"[{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]"#), Some("allows every action but its NotAction list")),
            (doc(r#"[{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::bucket/*"}]"#), None),
            (doc(r#"[{"Effect": "Deny", "Action": "*", "Resource": "*"}]"#), None),
            (doc(r#"[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]"#), None),
            (
                "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%7D".to_string(),
                Some("allows *:*"),
            ),
            (r#"{"Version": "2012-10-17"}"#.to_string(), Some("has a policy document keyaudit cannot read")),
        ];
        for (document, expected) in cases {
            assert_eq!(allows_everything(&document).as_deref(), expected, "{document}");
        }
    }

    #[test]
    fn reasons_name_the_policy_and_the_group() {
        let admin = Grant::Managed {
            name: "AdministratorAccess".into(),
            arn: "arn:aws:iam::aws:policy/AdministratorAccess".into(),
        };
        // A customer managed policy of the same name is judged by its document, not its name.
        let lookalike = Grant::Managed {
            name: "AdministratorAccess".into(),
            arn: "arn:aws:iam::111122223333:policy/AdministratorAccess".into(),
        };
        let local = Grant::Managed { name: "ops".into(), arn: "arn:aws:iam::111122223333:policy/ops".into() };
        let inline = Grant::Inline {
            name: "all".into(),
            document: doc(r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#),
        };
        let documents: ManagedDocuments = [
            (
                "arn:aws:iam::111122223333:policy/AdministratorAccess".to_string(),
                doc(r#"{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}"#),
            ),
            (
                "arn:aws:iam::111122223333:policy/ops".to_string(),
                doc(r#"{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}"#),
            ),
        ]
        .into();
        let groups: Groups =
            [("admins".to_string(), vec![admin.clone()]), ("ops".to_string(), vec![local])].into();
        assert_eq!(
            reasons(
                &[inline, lookalike],
                &["admins".into(), "ops".into(), "nobody".into()],
                &groups,
                &documents
            ),
            vec![
                "inline policy all allows *:*",
                "AdministratorAccess via group admins",
                "policy ops allows iam:* via group ops"
            ]
        );
        assert!(reasons(&[], &[], &groups, &documents).is_empty());
    }
}
