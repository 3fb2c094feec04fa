//! `--format ocsf` (`.ocsf.json`): OCSF 1.1.0 Detection Finding events (class_uid 2004,
//! category Findings 2, activity Create 1, type_uid 200401), a JSON array, one per finding:
//! the shape Amazon Security Lake and other OCSF consumers read.
//!
//! `finding_info.uid` is the finding's identity ([`crate::finding::FindingId`]), the same in
//! every run; `status_id` is New (1), or Suppressed (3) under a suppression in force. `time`
//! is when the report was made (epoch milliseconds, OCSF's `timestamp_t`). Resources name the
//! key (`AwsIamAccessKey`, its owner the user), the user (`AwsIamUser`, by its ARN) or the
//! account (`AwsAccount`), with the types ASFF uses. The event applies OCSF's `cloud` profile
//! (`cloud.provider` AWS, `cloud.account.uid`). Control ids, which the Detection Finding class
//! has no attribute for, go in `unmapped.controls`. A test validates the events against the
//! OCSF 1.1.0 schema files (`tests/fixtures/ocsf-schema-1.1.0`).

use std::io::{self, Write};

use serde_json::{json, Value};

use super::{FindingRow, Report};
use crate::finding::Severity;
use crate::rules::Subject;

/// The OCSF release these events follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.1.0";
const CATEGORY_UID: u32 = 2;
const CLASS_UID: u32 = 2004;
const ACTIVITY_CREATE: u32 = 1;
const TYPE_UID: u32 = CLASS_UID * 100 + ACTIVITY_CREATE;

/// OCSF `severity_id` and its caption.
fn severity(severity: Severity) -> (u8, &'static str) {
    match severity {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let events: Vec<Value> = report.findings.iter().map(|row| event(report, row)).collect();
    super::write_json(out, &events)
}

fn event(report: &Report, f: &FindingRow) -> Value {
    let rule = f.rule.rule();
    let (severity_id, severity) = severity(f.severity);
    let (status_id, status) = if f.suppressed { (3, "Suppressed") } else { (1, "New") };
    let mut event = json!({
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": TYPE_UID,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "time": report.generated_at.timestamp_millis(),
        "message": f.message,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": {
                "name": "keyaudit",
                "vendor_name": "keyaudit",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "finding_info": {
            "uid": f.finding_id,
            "title": format!("{}: {}", rule.id, f.message),
            "desc": rule.rationale,
            "types": [rule.id],
            "analytic": {"uid": rule.id, "name": rule.id, "type_id": 1, "type": "Rule"},
            "last_seen_time": report.as_of.timestamp_millis(),
        },
        "cloud": {
            "provider": "AWS",
            "region": report.region,
            "account": {"uid": f.account_id, "type_id": 10, "type": "AWS Account"},
        },
        "resources": resources(report, f, rule.subject),
        "remediation": {"desc": rule.summary},
        "unmapped": {
            "controls": rule.controls.iter().map(|c| c.requirement()).collect::<Vec<_>>(),
        },
    });
    if f.suppressed {
        let until = f.suppression_expires.map(|d| format!(" (until {d})")).unwrap_or_default();
        event["status_detail"] =
            json!(format!("suppressed{until}: {}", f.suppression_reason.as_deref().unwrap_or("")));
    }
    event
}

fn resources(report: &Report, f: &FindingRow, subject: Subject) -> Vec<Value> {
    let arn = report
        .coverage
        .arn(&f.account_id, &f.user_name)
        .map(str::to_string)
        .unwrap_or_else(|| format!("arn:aws:iam::{}:user/{}", f.account_id, f.user_name));
    let user = || json!({"type": "AwsIamUser", "uid": arn, "name": f.user_name});
    let key = |id: &String| {
        json!({
            "type": "AwsIamAccessKey",
            "uid": id,
            "name": id,
            "owner": {"name": f.user_name, "uid": arn},
        })
    };
    match subject {
        Subject::Key => f.key_ids.iter().map(key).chain([user()]).collect(),
        Subject::User => [user()].into_iter().chain(f.key_ids.iter().map(key)).collect(),
        Subject::Account => vec![json!({"type": "AwsAccount", "uid": f.account_id})],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::demo_report;

    fn rendered(report: &Report) -> Vec<Value> {
        let text = crate::report::test_support::rendered(crate::report::Format::Ocsf, report);
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn one_detection_finding_per_finding_with_its_identity_severity_and_status() {
        let report = demo_report(|report| {
            report.findings[1].suppressed = true;
            report.findings[1].suppression_reason = Some("SEC-7".into());
        });
        let events = rendered(&report);
        assert_eq!(events.len(), report.findings.len());
        for (event, row) in events.iter().zip(&report.findings) {
            assert_eq!(
                (&event["class_uid"], &event["category_uid"], &event["activity_id"], &event["type_uid"]),
                (&json!(2004), &json!(2), &json!(1), &json!(200401))
            );
            assert_eq!(event["finding_info"]["uid"], row.finding_id);
            assert_eq!(event["cloud"]["account"]["uid"], row.account_id);
            assert_eq!(event["metadata"]["version"], "1.1.0");
            assert_eq!(event["metadata"]["product"]["name"], "keyaudit");
            assert_eq!(event["time"], report.generated_at.timestamp_millis());
        }
        assert_eq!((&events[0]["status_id"], &events[0]["status"]), (&json!(1), &json!("New")));
        assert_eq!((&events[1]["status_id"], &events[1]["status"]), (&json!(3), &json!("Suppressed")));
        assert_eq!(events[1]["status_detail"], "suppressed: SEC-7");
        let root = events.iter().find(|e| e["finding_info"]["analytic"]["uid"] == "root-access-key").unwrap();
        assert_eq!((&root["severity_id"], &root["severity"]), (&json!(5), &json!("Critical")));
        assert_eq!(root["resources"], json!([{"type": "AwsAccount", "uid": "444455556666"}]));
        let bob = events
            .iter()
            .find(|e| e["finding_info"]["uid"] == "key-too-old:111122223333:bob:AKIARZ7EXAMPLEBOB001")
            .expect("bob's key-too-old");
        assert_eq!(bob["resources"][0]["uid"], "AKIARZ7EXAMPLEBOB001");
        assert_eq!(bob["resources"][0]["owner"]["uid"], "arn:aws:iam::111122223333:user/engineering/bob");
        assert_eq!(bob["resources"][1]["type"], "AwsIamUser");
    }
}
