//! Baselines: the findings of an earlier scan, so a gate can fail only on what is new.
//!
//! A baseline comes from a JSON report of an earlier scan (`--baseline REPORT.json`) or from
//! the history (`--baseline history`: the last complete run whose scope covers this scan's
//! accounts). Findings are matched by identity ([`FindingId`]), never by message or age.
//! Pure: the baseline, the findings and the scan's scope in; marks and the resolved list out.
//!
//! Fail closed: a baseline finding missing from this scan is *resolved* only when this scan
//! is complete and looked at its account; otherwise it is counted as unverified, never as
//! fixed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::finding::{BaselineState, Finding, FindingId, RuleId, Severity};
use crate::report::REPORT_SCHEMA_VERSION;

/// One finding of the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineFinding {
    pub finding_id: FindingId,
    pub rule: RuleId,
    pub severity: Severity,
    pub account_id: String,
    pub user_name: String,
    pub key_ids: Vec<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// How reports name it: `report base.json (generated ...)` or `history run 12 (...)`.
    pub source: String,
    pub findings: BTreeMap<FindingId, BaselineFinding>,
}

/// The part of a JSON report a baseline needs; everything else is ignored.
#[derive(Deserialize)]
struct ReportFile {
    schema_version: u32,
    generated_at: String,
    findings: Vec<ReportFinding>,
}

#[derive(Deserialize)]
struct ReportFinding {
    rule: RuleId,
    severity: Severity,
    account_id: String,
    user_name: String,
    key_ids: Vec<String>,
    #[serde(default)]
    message: String,
}

impl Baseline {
    /// Reads a keyaudit JSON report. Anything else, or a report of an unknown
    /// `schema_version`, is an error saying which.
    pub fn from_report(text: &str) -> Result<Baseline, String> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("not a keyaudit JSON report (invalid JSON: {e})"))?;
        let is_report = value.as_object().is_some_and(|object| {
            ["schema_version", "generated_at", "summary", "findings"]
                .iter()
                .all(|key| object.contains_key(*key))
        });
        if !is_report {
            return Err("not a keyaudit JSON report (expected the output of `scan --format json`)".into());
        }
        match value["schema_version"].as_u64() {
            Some(version) if version == u64::from(REPORT_SCHEMA_VERSION) => {}
            Some(version) => {
                return Err(format!(
                    "unknown report schema_version {version} (this keyaudit reads {REPORT_SCHEMA_VERSION})"
                ))
            }
            None => return Err("not a keyaudit JSON report (schema_version is not a number)".into()),
        }
        let report: ReportFile =
            serde_json::from_value(value).map_err(|e| format!("not a keyaudit JSON report ({e})"))?;
        let _ = report.schema_version;
        let findings = report
            .findings
            .into_iter()
            .map(|f| {
                let finding_id = FindingId::new(f.rule, &f.account_id, &f.user_name, &f.key_ids);
                let finding = BaselineFinding {
                    finding_id: finding_id.clone(),
                    rule: f.rule,
                    severity: f.severity,
                    account_id: f.account_id,
                    user_name: f.user_name,
                    key_ids: f.key_ids,
                    message: f.message,
                };
                (finding_id, finding)
            })
            .collect();
        Ok(Baseline { source: format!("report generated {}", report.generated_at), findings })
    }
}

/// The outcome of comparing a scan with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub source: String,
    pub new: usize,
    pub existing: usize,
    /// In the baseline, gone from this complete scan of their account.
    pub resolved: Vec<BaselineFinding>,
    /// In the baseline, not in this scan, but this scan cannot say they are gone (it is
    /// incomplete, or did not look at their account).
    pub unverified: usize,
}

/// Marks every finding `new` or `existing` and lists the baseline's resolved findings.
pub fn compare(
    findings: &mut [Finding],
    baseline: &Baseline,
    scope: &BTreeSet<String>,
    complete: bool,
) -> Comparison {
    let mut seen = BTreeSet::new();
    let (mut new, mut existing) = (0, 0);
    for finding in findings.iter_mut() {
        let id = finding.id();
        let state = if baseline.findings.contains_key(&id) {
            existing += 1;
            BaselineState::Existing
        } else {
            new += 1;
            BaselineState::New
        };
        finding.baseline = Some(state);
        seen.insert(id);
    }
    let mut resolved = Vec::new();
    let mut unverified = 0;
    for (id, finding) in &baseline.findings {
        if seen.contains(id) {
            continue;
        }
        if complete && scope.contains(&finding.account_id) {
            resolved.push(finding.clone());
        } else {
            unverified += 1;
        }
    }
    Comparison { source: baseline.source.clone(), new, existing, resolved, unverified }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: RuleId, account: &str, key: &str) -> Finding {
        Finding {
            rule,
            severity: Severity::Medium,
            account_id: account.into(),
            user_name: "alice".into(),
            access_key_id: Some(key.into()),
            key_ids: vec![key.into()],
            message: String::new(),
            key: None,
            suppression: None,
            baseline: None,
            owner: None,
            privileged_via: None,
            scope: None,
        }
    }

    fn report(findings: &[Finding]) -> String {
        serde_json::json!({
            "schema_version": REPORT_SCHEMA_VERSION,
            "generated_at": "2026-11-01T00:00:00Z",
            "summary": {},
            "findings": findings.iter().map(|f| serde_json::json!({
                "rule": f.rule, "severity": f.severity, "account_id": f.account_id,
                "user_name": f.user_name, "key_ids": f.key_ids, "message": "old message"
            })).collect::<Vec<_>>(),
        })
        .to_string()
    }

    #[test]
    fn marks_new_and_existing_and_resolves_only_what_a_complete_scan_of_the_account_lost() {
        let a = "111111111111";
        let b = "222222222222";
        let before = [
            finding(RuleId::KeyUnused, a, "K1"),
            finding(RuleId::KeyTooOld, a, "K2"),
            finding(RuleId::KeyTooOld, b, "K3"),
        ];
        let baseline = Baseline::from_report(&report(&before)).unwrap();
        let mut now = vec![finding(RuleId::KeyUnused, a, "K1"), finding(RuleId::KeyUnused, a, "K4")];
        let scope: BTreeSet<String> = [a.to_string()].into();

        let complete = compare(&mut now, &baseline, &scope, true);
        let states: Vec<_> = now.iter().map(|f| f.baseline).collect();
        assert_eq!(states, vec![Some(BaselineState::Existing), Some(BaselineState::New)]);
        assert_eq!((complete.new, complete.existing), (1, 1));
        // K2's account was scanned completely: resolved. K3's account was not scanned.
        let resolved: Vec<&str> = complete.resolved.iter().map(|f| f.finding_id.as_str()).collect();
        assert_eq!(resolved, vec!["key-too-old:111111111111:alice:K2"]);
        assert_eq!(complete.unverified, 1);

        let incomplete = compare(&mut now, &baseline, &scope, false);
        assert!(incomplete.resolved.is_empty(), "an incomplete scan resolves nothing");
        assert_eq!(incomplete.unverified, 2);
    }

    #[test]
    fn anything_but_a_keyaudit_report_is_refused_with_a_reason() {
        let cases = [
            ("not json", "invalid JSON"),
            ("[]", "not a keyaudit JSON report"),
            (r#"{"schema_version": 1, "accounts": []}"#, "not a keyaudit JSON report"),
            (
                r#"{"schema_version": 99, "generated_at": "x", "summary": {}, "findings": []}"#,
                "unknown report schema_version 99",
            ),
            (
                r#"{"schema_version": "1", "generated_at": "x", "summary": {}, "findings": []}"#,
                "not a number",
            ),
            (
                r#"{"schema_version": 1, "generated_at": "x", "summary": {}, "findings": [{"rule": "nope"}]}"#,
                "not a keyaudit JSON report",
            ),
        ];
        for (text, expected) in cases {
            let error = Baseline::from_report(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
