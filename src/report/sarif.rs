//! `--format sarif` (`.sarif`): SARIF 2.1.0 for code-scanning UIs.
//!
//! One SARIF rule per keyaudit rule (with its documentation), one result per finding. The
//! resources are IAM users and keys, not files, so each result has a logical location
//! (`account/user/key`) and a physical one whose URI names the same resource
//! (`aws-iam://ACCOUNT/USER`), which code-scanning UIs require to display a result.
//! `partialFingerprints` is the finding's identity ([`crate::finding::FindingId`]: rule,
//! account, user, key ids) and nothing that changes from run to run (ages, dates,
//! messages), so the same finding is the same alert across runs. With a baseline, each
//! result carries SARIF's `baselineState` (`new` or `unchanged`). Suppressed findings carry a SARIF suppression
//! with the reason.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::Report;
use crate::finding::{BaselineState, Severity};
use crate::rules::RULES;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The numeric score GitHub code scanning reads to rank security alerts.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// `key-too-old` -> `KeyTooOld`: SARIF's `name` is a readable identifier.
fn pascal_case(id: &str) -> String {
    id.split('-').map(|part| part[..1].to_ascii_uppercase() + &part[1..]).collect()
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "name": pascal_case(rule.id),
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.rationale},
                "help": {"text": format!("{} Why: {} Maps to: {}.", rule.summary, rule.rationale, rule.standards())},
                "defaultConfiguration": {"level": level(rule.default_severity)},
                "properties": {
                    "tags": ["security", "aws", "iam"],
                    "security-severity": security_severity(rule.default_severity),
                    "standards": rule.standards(),
                },
            })
        })
        .collect();

    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let rule_index = RULES.iter().position(|rule| rule.rule_id == f.rule).unwrap_or_default();
            // From `key_ids`, like the fingerprint: a finding about a user keeps its location
            // (both keys) now that `access_key_id` names the key to deactivate.
            let key_part = f.key_ids.join("+");
            let mut result = json!({
                "ruleId": f.rule.as_str(),
                "ruleIndex": rule_index,
                "level": level(f.severity),
                "message": {"text": format!(
                    "{} (account {}, user {}, key {})",
                    f.message,
                    f.account_id,
                    f.user_name,
                    if key_part.is_empty() { "-" } else { &key_part }
                )},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": format!("aws-iam://{}/{}", f.account_id, f.user_name)}},
                    "logicalLocations": [{
                        "fullyQualifiedName": format!("{}/{}/{}", f.account_id, f.user_name, key_part),
                        "kind": "resource",
                    }],
                }],
                "partialFingerprints": {
                    "keyaudit/v1": f.finding_id,
                },
                "properties": {
                    "severity": f.severity,
                    "account_id": f.account_id,
                    "user_name": f.user_name,
                    "access_key_id": f.access_key_id,
                    "key_ids": f.key_ids,
                    "owner": f.owner,
                    "privileged": f.privileged,
                    "privileged_via": f.privileged_via,
                    "scope": f.scope,
                    "controls": f.controls,
                    "security-severity": security_severity(f.severity),
                },
            });
            if let Some(state) = f.baseline_state {
                result["baselineState"] = json!(match state {
                    BaselineState::New => "new",
                    BaselineState::Existing => "unchanged",
                });
            }
            if f.suppressed {
                result["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": f.suppression_reason.clone().unwrap_or_default(),
                }]);
            }
            result
        })
        .collect();

    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            json!({
                "level": "error",
                "message": {"text": format!(
                    "{} failed ({}) for account {}, user {}: {}",
                    e.operation,
                    e.code,
                    e.account_id.as_deref().unwrap_or("?"),
                    e.user_name.as_deref().unwrap_or("-"),
                    e.message
                )},
            })
        })
        .collect();

    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "keyaudit",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.complete,
                "toolExecutionNotifications": notifications,
                "properties": {
                    "as_of": report.as_of,
                    "collected_at": report.collected_at,
                },
            }],
            "results": results,
            "properties": {"summary": report.summary},
        }],
    });
    super::write_json(out, &log)
}
