//! `--format asff` (`.asff.json`): AWS Security Finding Format, the shape AWS Security Hub's
//! BatchImportFindings takes: a JSON array, one object per finding.
//!
//! Security Hub updates a finding when a new import has the same `ProductArn` and `Id`, so
//! `Id` is the finding's identity (`keyaudit/` + [`crate::finding::FindingId`]) and nothing
//! that changes between runs: re-importing a scan updates findings instead of duplicating
//! them. The `ProductArn` is the account's own default product
//! (`arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`), the one any account
//! may import into; its region is [`super::Report::region`] (`--region`, else us-east-1) and
//! findings must be imported in that region. `CreatedAt` and `UpdatedAt` are when the report
//! was made (keyaudit does not know when a finding first appeared without a history;
//! Security Hub keeps its own first-seen time), which also makes each import newer than the
//! last, as Security Hub requires to accept an update. Resources: the access key
//! (`AwsIamAccessKey`) and its user (`AwsIamUser`, by the ARN IAM gave) for a key finding;
//! the user and the keys involved for a user finding; the account (`AwsAccount`) for the
//! root user's. Control ids come from the rule registry ([`crate::rules::Rule::controls`]).

use std::io::{self, Write};

use serde_json::{json, Value};

use super::{format_date, FindingRow, Report};
use crate::finding::Severity;
use crate::rules::{Framework, Subject};

pub const SCHEMA_VERSION: &str = "2018-10-08";

/// The finding type of every keyaudit finding (ASFF `namespace/category`); CIS-mapped rules
/// also carry the industry-standard type.
const TYPE_BEST_PRACTICES: &str = "Software and Configuration Checks/AWS Security Best Practices";
const TYPE_CIS: &str =
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";

/// ASFF's length limits (AwsSecurityFinding in the Security Hub API reference).
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_RECOMMENDATION: usize = 512;
const MAX_NOTE: usize = 512;

fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Info => "INFORMATIONAL",
    }
}

/// The partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`).
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// At most `max` characters, cut on a character boundary and marked with `...`.
fn bounded(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max - 3).collect();
    cut.push_str("...");
    cut
}

pub fn product_arn(region: &str, account_id: &str) -> String {
    format!("arn:{}:securityhub:{region}:{account_id}:product/{account_id}/default", partition(region))
}

/// The ASFF `Id` of a finding: the same in every run.
pub fn finding_id(row: &FindingRow) -> String {
    format!("keyaudit/{}", row.finding_id)
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    super::write_json(out, &findings(report))
}

/// The report's findings as ASFF objects, in report order: what `--format asff` writes and
/// what `--publish security-hub` imports (converted to the SDK's types, field by field).
pub fn findings(report: &Report) -> Vec<Value> {
    report.findings.iter().map(|row| finding(report, row)).collect()
}

fn finding(report: &Report, f: &FindingRow) -> Value {
    let rule = f.rule.rule();
    let region = report.region.as_str();
    let now = format_date(report.generated_at);
    let mut types = vec![TYPE_BEST_PRACTICES];
    if rule.controls.iter().any(|c| matches!(c.framework, Framework::CisV3 | Framework::CisV5)) {
        types.push(TYPE_CIS);
    }
    let key_part = if f.key_ids.is_empty() { "-".to_string() } else { f.key_ids.join(", ") };
    let mut finding = json!({
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(f),
        "ProductArn": product_arn(region, &f.account_id),
        "ProductName": "keyaudit",
        "CompanyName": "keyaudit",
        "GeneratorId": rule.id,
        "AwsAccountId": f.account_id,
        "Region": region,
        "Types": types,
        "CreatedAt": now,
        "UpdatedAt": now,
        "LastObservedAt": format_date(report.as_of),
        "Severity": {"Label": label(f.severity), "Original": f.severity.as_str()},
        "FindingProviderFields": {
            "Severity": {"Label": label(f.severity), "Original": f.severity.as_str()},
            "Types": types,
        },
        "Title": bounded(format!("{}: {}", rule.id, f.message), MAX_TITLE),
        "Description": bounded(
            format!("{} Account {}, user {}, key {}.", rule.rationale, f.account_id, f.user_name, key_part),
            MAX_DESCRIPTION,
        ),
        "Remediation": {"Recommendation": {"Text": bounded(rule.summary.to_string(), MAX_RECOMMENDATION)}},
        "ProductFields": {
            "ProviderName": "keyaudit",
            "ProviderVersion": env!("CARGO_PKG_VERSION"),
            "keyaudit/finding_id": f.finding_id,
            "keyaudit/rule": rule.id,
            "keyaudit/severity": f.severity.as_str(),
        },
        "Resources": resources(report, f, rule.subject),
        "Compliance": {
            "Status": "FAILED",
            "RelatedRequirements": rule.controls.iter().map(|c| c.requirement()).collect::<Vec<_>>(),
        },
        "Workflow": {"Status": if f.suppressed { "SUPPRESSED" } else { "NEW" }},
        "RecordState": "ACTIVE",
    });
    if f.suppressed {
        let until = f.suppression_expires.map(|d| format!(" (until {d})")).unwrap_or_default();
        let reason = f.suppression_reason.as_deref().unwrap_or("");
        finding["Note"] = json!({
            "Text": bounded(format!("Suppressed in keyaudit's config{until}: {reason}"), MAX_NOTE),
            "UpdatedBy": "keyaudit",
            "UpdatedAt": now,
        });
    }
    finding
}

fn resources(report: &Report, f: &FindingRow, subject: Subject) -> Vec<Value> {
    let region = report.region.as_str();
    let partition = partition(region);
    let account = || {
        json!({
            "Type": "AwsAccount",
            "Id": format!("AWS::::Account:{}", f.account_id),
            "Partition": partition,
            "Region": region,
        })
    };
    let user = || {
        let arn = report
            .coverage
            .arn(&f.account_id, &f.user_name)
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:{partition}:iam::{}:user/{}", f.account_id, f.user_name));
        json!({
            "Type": "AwsIamUser",
            "Id": arn,
            "Partition": partition,
            "Region": region,
            "Details": {"AwsIamUser": {"UserName": f.user_name}},
        })
    };
    let key = |key_id: &str| {
        // Status and creation are known for the key a key finding is about; for the keys
        // of a user finding, from the key list.
        let row = report.keys.iter().find(|k| {
            k.account_id == f.account_id && k.user_name == f.user_name && k.access_key_id == key_id
        });
        let mut details = json!({
            "AccessKeyId": key_id,
            "PrincipalName": f.user_name,
            "PrincipalType": "IAMUser",
            "AccountId": f.account_id,
        });
        if let Some(row) = row {
            details["Status"] = json!(row.status.as_str());
            details["CreatedAt"] = json!(format_date(row.created));
        }
        json!({
            "Type": "AwsIamAccessKey",
            "Id": format!("AWS::IAM::AccessKey:{key_id}"),
            "Partition": partition,
            "Region": region,
            "Details": {"AwsIamAccessKey": details},
        })
    };
    match subject {
        Subject::Key => f.key_ids.iter().map(|id| key(id)).chain([user()]).collect(),
        Subject::User => [user()].into_iter().chain(f.key_ids.iter().map(|id| key(id))).collect(),
        // The root user's key ids are rarely known (only from a credential report, as slots).
        Subject::Account => vec![account()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::demo_report;

    fn rendered(report: &Report) -> Vec<Value> {
        let text = crate::report::test_support::rendered(crate::report::Format::Asff, report);
        serde_json::from_str(&text).unwrap()
    }

    /// The required top-level attributes of an ASFF finding (Security Hub user guide,
    /// "Required top-level ASFF attributes").
    const REQUIRED: [&str; 12] = [
        "AwsAccountId",
        "CreatedAt",
        "Description",
        "GeneratorId",
        "Id",
        "ProductArn",
        "Resources",
        "SchemaVersion",
        "Severity",
        "Title",
        "Types",
        "UpdatedAt",
    ];

    #[test]
    fn one_finding_per_row_with_every_required_attribute() {
        let report = demo_report(|_| {});
        let findings = rendered(&report);
        assert_eq!(findings.len(), report.findings.len());
        for (f, row) in findings.iter().zip(&report.findings) {
            for field in REQUIRED {
                assert!(!f[field].is_null(), "{field} missing in {f}");
            }
            assert_eq!(f["SchemaVersion"], "2018-10-08");
            assert_eq!(f["Id"], format!("keyaudit/{}", row.finding_id));
            assert_eq!(
                f["ProductArn"],
                format!("arn:aws:securityhub:us-east-1:{0}:product/{0}/default", row.account_id)
            );
            assert_eq!(f["GeneratorId"], row.rule.as_str());
            assert_eq!(f["Compliance"]["Status"], "FAILED");
            assert_eq!(f["RecordState"], "ACTIVE");
            assert_eq!(f["Workflow"]["Status"], "NEW");
            assert!(f["Remediation"]["Recommendation"]["Text"].as_str().is_some_and(|t| !t.is_empty()));
            let requirements = f["Compliance"]["RelatedRequirements"].as_array().unwrap();
            assert_eq!(requirements.len(), row.rule.rule().controls.len());
        }
        let bob = findings.iter().find(|f| f["Id"].as_str().unwrap().contains(":bob:")).unwrap();
        assert_eq!(bob["Severity"]["Label"], "MEDIUM");
        assert_eq!(
            bob["Compliance"]["RelatedRequirements"],
            json!([
                "CIS AWS Foundations Benchmark v3.0.0/1.14",
                "CIS AWS Foundations Benchmark v5.0.0/1.13",
                "AWS Security Hub/IAM.3",
                "PCI DSS v4.0/8.3.9",
                "PCI DSS v4.0/8.6.3"
            ])
        );
        assert_eq!(bob["Resources"][0]["Type"], "AwsIamAccessKey");
        assert_eq!(bob["Resources"][0]["Details"]["AwsIamAccessKey"]["Status"], "Active");
        assert_eq!(bob["Resources"][1]["Type"], "AwsIamUser");
        assert_eq!(
            bob["Resources"][1]["Id"], "arn:aws:iam::111122223333:user/engineering/bob",
            "the ARN from IAM, with its path"
        );
        let carol = findings.iter().find(|f| f["GeneratorId"] == "two-active-keys").unwrap();
        let types: Vec<&str> =
            carol["Resources"].as_array().unwrap().iter().map(|r| r["Type"].as_str().unwrap()).collect();
        assert_eq!(types, ["AwsIamUser", "AwsIamAccessKey", "AwsIamAccessKey"]);
        let root = findings.iter().find(|f| f["GeneratorId"] == "root-access-key").unwrap();
        assert_eq!(root["Severity"]["Label"], "CRITICAL");
        assert_eq!(
            root["Resources"],
            json!([{
                "Type": "AwsAccount", "Id": "AWS::::Account:444455556666", "Partition": "aws", "Region": "us-east-1",
            }])
        );
    }

    #[test]
    fn suppressed_findings_are_marked_and_the_region_sets_the_product_arn() {
        let report = demo_report(|report| {
            report.region = "cn-north-1".into();
            let row = &mut report.findings[0];
            row.suppressed = true;
            row.suppression_reason = Some("SEC-1 accepted".into());
        });
        let findings = rendered(&report);
        assert_eq!(findings[0]["Workflow"]["Status"], "SUPPRESSED");
        assert!(findings[0]["Note"]["Text"].as_str().unwrap().contains("SEC-1 accepted"));
        assert_eq!(findings[1]["Workflow"]["Status"], "NEW");
        assert!(findings[1]["Note"].is_null());
        let arn = findings[0]["ProductArn"].as_str().unwrap();
        assert!(arn.starts_with("arn:aws-cn:securityhub:cn-north-1:"), "{arn}");
    }

    #[test]
    fn long_texts_are_cut_to_asffs_limits() {
        let report = demo_report(|report| {
            report.findings[0].message = "é".repeat(5000);
            report.findings[0].user_name = "u".repeat(5000);
        });
        let f = &rendered(&report)[0];
        assert_eq!(f["Title"].as_str().unwrap().chars().count(), MAX_TITLE);
        assert!(f["Description"].as_str().unwrap().chars().count() <= MAX_DESCRIPTION);
    }
}
