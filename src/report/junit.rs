//! `--format junit` (`.xml`): JUnit XML for CI test-report views (GitLab, Jenkins, Azure
//! DevOps), which chart passed and failed tests over time.
//!
//! So that a dashboard shows trends and not only failures, every check the scan made is a
//! test case, passing ones included: per account (one `<testsuite>` each), each enabled rule
//! on each key (key rules), each user (user rules) or the account (the root rule). A key
//! rule's case for a key it does not apply to (an inactive key for `key-too-old`) passes.
//! A finding that counts toward exit 1 ([`super::FindingRow::failing`], the gate's verdict)
//! is a `<failure>` naming the rule, user and key; a finding under `--fail-on` passes with
//! the finding in `<system-out>`; a suppressed one is `<skipped>` with the reason; each failed
//! call is an `<error>` case. Suite and root counts are computed from the cases written, so
//! they always match. Names are unique within a suite. Every value is escaped by the XML
//! writer, and characters XML 1.0 cannot carry at all (control characters) are replaced.

use std::collections::BTreeSet;
use std::io::{self, Write};

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use super::{FindingRow, Report};
use crate::model::ScanError;
use crate::rules::Subject;

enum Outcome {
    Pass,
    /// Passed, with a finding under `--fail-on` to show.
    PassWithFinding(String),
    Failure {
        message: String,
        kind: String,
        detail: String,
    },
    Skipped(String),
    Error {
        message: String,
        kind: String,
        detail: String,
    },
}

struct Case {
    name: String,
    classname: String,
    outcome: Outcome,
}

struct Suite {
    name: String,
    account_id: Option<String>,
    cases: Vec<Case>,
}

impl Suite {
    fn count(&self, pick: impl Fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|case| pick(&case.outcome)).count()
    }
    fn failures(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failure { .. }))
    }
    fn errors(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Error { .. }))
    }
    fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }

    /// Adds a case, numbering its name if the suite already has one by that name.
    fn push(&mut self, names: &mut BTreeSet<String>, mut case: Case) {
        if !names.insert(case.name.clone()) {
            let base = case.name.clone();
            let mut n = 2;
            while !names.insert(format!("{base} #{n}")) {
                n += 1;
            }
            case.name = format!("{base} #{n}");
        }
        self.cases.push(case);
    }
}

/// What the case of one finding shows.
fn outcome(report: &Report, f: &FindingRow) -> Outcome {
    let keys = if f.key_ids.is_empty() { "-".to_string() } else { f.key_ids.join(", ") };
    let text = format!("{} ({}): user {}, key {}: {}", f.rule, f.severity, f.user_name, keys, f.message);
    if f.suppressed {
        let until = f.suppression_expires.map(|d| format!(" until {d}")).unwrap_or_default();
        Outcome::Skipped(format!(
            "suppressed{until}: {}; {text}",
            f.suppression_reason.as_deref().unwrap_or("")
        ))
    } else if f.failing {
        Outcome::Failure {
            message: text.clone(),
            kind: f.rule.to_string(),
            detail: format!(
                "{text}\nrule: {} ({})\naccount: {}\nfinding: {}\n",
                f.rule,
                f.rule.rule().summary,
                f.account_id,
                f.finding_id
            ),
        }
    } else {
        Outcome::PassWithFinding(format!("below --fail-on {}: {text}", report.summary.fail_on))
    }
}

fn suites(report: &Report) -> Vec<Suite> {
    let mut account_ids: Vec<Option<String>> =
        report.accounts.iter().map(|a| Some(a.account_id.clone())).collect();
    for error in &report.errors {
        if !account_ids.contains(&error.account_id) {
            account_ids.push(error.account_id.clone());
        }
    }
    account_ids
        .into_iter()
        .map(|account_id| {
            let mut suite = Suite {
                name: match &account_id {
                    Some(id) => format!("keyaudit account {id}"),
                    None => "keyaudit (account unknown)".to_string(),
                },
                account_id: account_id.clone(),
                cases: Vec::new(),
            };
            let mut names = BTreeSet::new();
            if let Some(id) = &account_id {
                checks(report, id, &mut suite, &mut names);
            }
            for (index, error) in report.errors.iter().filter(|e| e.account_id == account_id).enumerate() {
                suite.push(&mut names, error_case(index, error));
            }
            suite
        })
        .collect()
}

/// Every check of one account, passing or not, then any finding no check matched (never
/// lost, even from data that is not self-consistent).
fn checks(report: &Report, account_id: &str, suite: &mut Suite, names: &mut BTreeSet<String>) {
    let findings: Vec<&FindingRow> = report.findings.iter().filter(|f| f.account_id == account_id).collect();
    let mut used = vec![false; findings.len()];
    let mut case = |names: &mut BTreeSet<String>,
                    rule: crate::finding::RuleId,
                    name: String,
                    find: &dyn Fn(&FindingRow) -> bool| {
        let found = findings.iter().position(|f| f.rule == rule && find(f));
        let outcome = match found {
            Some(index) => {
                used[index] = true;
                outcome(report, findings[index])
            }
            None => Outcome::Pass,
        };
        suite.push(names, Case { name, classname: format!("keyaudit.{rule}"), outcome });
    };
    for &(rule, _) in &report.coverage.rules {
        match rule.rule().subject {
            Subject::Key => {
                for key in report.keys.iter().filter(|k| k.account_id == account_id) {
                    let name = format!("{rule}: user {} key {}", key.user_name, key.access_key_id);
                    case(names, rule, name, &|f| {
                        f.user_name == key.user_name && f.access_key_id.as_deref() == Some(&key.access_key_id)
                    });
                }
            }
            Subject::User => {
                for user in report.coverage.users.iter().filter(|u| u.account_id == account_id) {
                    let name = format!("{rule}: user {}", user.user_name);
                    case(names, rule, name, &|f| f.user_name == user.user_name);
                }
            }
            Subject::Account => {
                case(names, rule, format!("{rule}: root user of account {account_id}"), &|_| true);
            }
        }
    }
    for (f, _) in findings.iter().zip(used).filter(|(_, used)| !used) {
        let keys = f.key_ids.join("+");
        suite.push(
            names,
            Case {
                name: format!("{}: user {} key {keys}", f.rule, f.user_name),
                classname: format!("keyaudit.{}", f.rule),
                outcome: outcome(report, f),
            },
        );
    }
}

fn error_case(index: usize, e: &ScanError) -> Case {
    let message = format!(
        "{} failed ({}) for user {}, key {}: {}",
        e.operation,
        e.code,
        e.user_name.as_deref().unwrap_or("-"),
        e.access_key_id.as_deref().unwrap_or("-"),
        e.message
    );
    Case {
        name: format!("scan-error {}: {} #{}", e.operation, e.user_name.as_deref().unwrap_or("-"), index + 1),
        classname: "keyaudit.scan".to_string(),
        outcome: Outcome::Error {
            detail: format!(
                "{message}\nThe scan is incomplete: what this call would have read was not evaluated.\n"
            ),
            message,
            kind: e.code.clone(),
        },
    }
}

/// XML 1.0 cannot carry most control characters, escaped or not: they become U+FFFD.
fn xml_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => '\u{fffd}',
            c => c,
        })
        .collect()
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let suites = suites(report);
    let total = |pick: &dyn Fn(&Suite) -> usize| suites.iter().map(pick).sum::<usize>().to_string();
    // JUnit's timestamps carry no zone (the Ant schema's ISO 8601 pattern); this is UTC.
    let timestamp = report.generated_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut writer = Writer::new_with_indent(&mut *out, b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", "keyaudit"),
            ("tests", total(&|s| s.cases.len()).as_str()),
            ("failures", total(&|s| s.failures()).as_str()),
            ("errors", total(&|s| s.errors()).as_str()),
            ("skipped", total(&|s| s.skipped()).as_str()),
            ("timestamp", timestamp.as_str()),
        ])
        .write_inner_content(|writer| {
            for suite in &suites {
                write_suite(writer, report, suite, &timestamp)?;
            }
            Ok(())
        })?;
    writeln!(out)
}

fn write_suite<W: Write>(
    writer: &mut Writer<W>,
    report: &Report,
    suite: &Suite,
    timestamp: &str,
) -> io::Result<()> {
    let account = xml_safe(suite.account_id.as_deref().unwrap_or("unknown"));
    let name = xml_safe(&suite.name);
    writer
        .create_element("testsuite")
        .with_attributes([
            ("name", name.as_str()),
            ("tests", suite.cases.len().to_string().as_str()),
            ("failures", suite.failures().to_string().as_str()),
            ("errors", suite.errors().to_string().as_str()),
            ("skipped", suite.skipped().to_string().as_str()),
            ("timestamp", timestamp),
            ("hostname", account.as_str()),
        ])
        .write_inner_content(|writer| {
            writer.create_element("properties").write_inner_content(|writer| {
                let complete = report.complete.to_string();
                let as_of = super::format_date(report.as_of);
                for (name, value) in
                    [("fail_on", report.summary.fail_on), ("complete", &complete), ("as_of", &as_of)]
                {
                    writer
                        .create_element("property")
                        .with_attributes([("name", name), ("value", value)])
                        .write_empty()?;
                }
                Ok(())
            })?;
            for case in &suite.cases {
                write_case(writer, case)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_case<W: Write>(writer: &mut Writer<W>, case: &Case) -> io::Result<()> {
    let name = xml_safe(&case.name);
    let classname = xml_safe(&case.classname);
    let element = writer
        .create_element("testcase")
        .with_attributes([("name", name.as_str()), ("classname", classname.as_str())]);
    match &case.outcome {
        Outcome::Pass => {
            element.write_empty()?;
        }
        Outcome::PassWithFinding(text) => {
            element.write_inner_content(|writer| {
                writer.create_element("system-out").write_text_content(BytesText::new(&xml_safe(text)))?;
                Ok(())
            })?;
        }
        Outcome::Skipped(message) => {
            element.write_inner_content(|writer| {
                writer
                    .create_element("skipped")
                    .with_attribute(("message", xml_safe(message).as_str()))
                    .write_empty()?;
                Ok(())
            })?;
        }
        Outcome::Failure { message, kind, detail } | Outcome::Error { message, kind, detail } => {
            let tag = if matches!(case.outcome, Outcome::Failure { .. }) { "failure" } else { "error" };
            element.write_inner_content(|writer| {
                writer
                    .create_element(tag)
                    .with_attributes([
                        ("message", xml_safe(message).as_str()),
                        ("type", xml_safe(kind).as_str()),
                    ])
                    .write_text_content(BytesText::new(&xml_safe(detail)))?;
                Ok(())
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::demo_report;

    fn rendered(report: &Report) -> String {
        crate::report::test_support::rendered(crate::report::Format::Junit, report)
    }

    #[test]
    fn every_check_is_a_case_and_counts_match_the_cases() {
        let report = demo_report(|_| {});
        let suites = suites(&report);
        assert_eq!(suites.len(), 2);
        // 111122223333: 11 keys x 4 key rules + 9 users x 1 user rule + 1 root check.
        assert_eq!(suites[0].cases.len(), 11 * 4 + 9 + 1);
        assert_eq!(suites[1].cases.len(), 2 * 4 + 2 + 1);
        let failures: usize = suites.iter().map(Suite::failures).sum();
        assert_eq!(failures, report.summary.failing);
        let xml = rendered(&report);
        assert!(xml.contains(r#"<testsuite name="keyaudit account 111122223333" tests="54" failures="7" errors="0" skipped="0""#), "{xml}");
        assert!(xml.contains(r#"<testcase name="key-too-old: user bob key AKIARZ7EXAMPLEBOB001" classname="keyaudit.key-too-old">"#));
        assert!(xml.contains(r#"<failure message="key-too-old (medium): user bob, key AKIARZ7EXAMPLEBOB001: active key is 335 days old"#));
        assert!(xml.contains(r#"<testcase name="key-unused: user bob key AKIARZ7EXAMPLEBOB001" classname="keyaudit.key-unused"/>"#));
        for suite in &suites {
            let names: BTreeSet<&str> = suite.cases.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names.len(), suite.cases.len(), "unique names in {}", suite.name);
        }
    }

    #[test]
    fn below_fail_on_passes_suppressed_skips_and_failed_calls_are_errors() {
        let report = demo_report(|report| {
            report.summary.fail_on = "medium";
            for f in &mut report.findings {
                f.failing = f.severity >= crate::finding::Severity::Medium;
            }
            let bob = report
                .findings
                .iter_mut()
                .find(|f| f.finding_id == "key-too-old:111122223333:bob:AKIARZ7EXAMPLEBOB001")
                .unwrap();
            bob.suppressed = true;
            bob.failing = false;
            bob.suppression_reason = Some("SEC-1".into());
            report.errors.push(ScanError {
                account_id: None,
                user_name: None,
                access_key_id: None,
                operation: "GetCallerIdentity".into(),
                code: "ExpiredToken".into(),
                message: "token expired".into(),
            });
        });
        let suites = suites(&report);
        assert_eq!(suites.len(), 3, "a suite for the failed call of no known account");
        assert_eq!((suites[0].failures(), suites[0].skipped()), (6, 1));
        assert_eq!(suites[2].errors(), 1);
        let xml = rendered(&report);
        assert!(
            xml.contains(
                "<system-out>below --fail-on medium: key-without-owner (info): user legacy-reporting"
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<skipped message="suppressed: SEC-1; key-too-old (medium): user bob"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<error message="GetCallerIdentity failed (ExpiredToken) for user -, key -: token expired" type="ExpiredToken">"#), "{xml}");
        assert!(
            xml.contains(r#"<testsuites name="keyaudit" tests="66" failures="9" errors="1" skipped="1""#),
            "{xml}"
        );
    }

    #[test]
    fn iam_values_are_escaped_and_control_characters_replaced() {
        let report = demo_report(|report| {
            for f in report.findings.iter_mut().filter(|f| f.user_name == "bob") {
                f.user_name = "<&\"'>\u{1b}".into();
            }
            for k in report.keys.iter_mut().filter(|k| k.user_name == "bob") {
                k.user_name = "<&\"'>\u{1b}".into();
            }
        });
        let xml = rendered(&report);
        assert!(xml.contains("user &lt;&amp;&quot;&apos;&gt;\u{fffd} key AKIARZ7EXAMPLEBOB001"), "{xml}");
        assert!(!xml.contains("<&") && !xml.contains('\u{1b}'));
    }
}
