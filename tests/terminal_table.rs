//! The table as a terminal gets it (`TableStyle` with a width and colour), snapshot-tested at
//! 50, 80 and 200 columns, with and without colour, and measured at every width from
//! `MIN_WIDTH` to 200. The style is a parameter of the renderer, so these are pure: no
//! terminal needed. Files in `tests/snapshots/`; regenerate after an intended change with
//! `KEYAUDIT_BLESS=1 scripts/test --test terminal_table`.

mod support;

use std::path::Path;

use keyaudit::report::{Format, Report, TableStyle};
use support::demo_report;

fn table(report: &Report, style: TableStyle) -> String {
    let mut out = Vec::new();
    Format::Table.render_styled(report, &style, &mut out).expect("render");
    String::from_utf8(out).expect("utf-8")
}

/// The text without SGR colour sequences (`ESC [ ... m`).
fn strip_colour(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            assert_eq!(chars.next(), Some('['), "only CSI sequences");
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
                assert!(c.is_ascii_digit() || c == ';', "only SGR sequences, got {c:?}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_table_fits_50_80_and_200_columns_with_and_without_colour() {
    let report = demo_report();
    let bless = std::env::var_os("KEYAUDIT_BLESS").is_some();
    let mut stale = Vec::new();
    for width in [50u16, 80, 200] {
        let plain = table(&report, TableStyle { width: Some(width), color: false, group_by: None });
        let coloured = table(&report, TableStyle { width: Some(width), color: true, group_by: None });
        for line in plain.lines() {
            assert!(line.chars().count() <= usize::from(width), "wider than {width}: {line}");
        }
        assert!(!plain.contains('\u{1b}'), "no colour unless asked");
        assert!(coloured.contains("\u{1b}["), "severities coloured");
        assert_eq!(strip_colour(&coloured), plain, "colour changes nothing else");
        // Key ids stay whole, however narrow.
        for key in report.findings.iter().flat_map(|f| &f.key_ids) {
            assert!(plain.contains(key.as_str()), "{key} split at {width}:\n{plain}");
        }
        for (text, name) in
            [(plain, format!("table-{width}.txt")), (coloured, format!("table-{width}-color.txt"))]
        {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(&name);
            if bless {
                std::fs::write(&path, &text).expect("write snapshot");
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "tests/snapshots/{stale:?} are out of date; run KEYAUDIT_BLESS=1 scripts/test --test terminal_table and review the diff"
    );
}

#[test]
fn at_80_columns_columns_are_left_out_and_said_so_and_at_200_none_are() {
    let report = demo_report();
    let narrow = table(&report, TableStyle { width: Some(80), color: false, group_by: None });
    let header = narrow.lines().next().unwrap();
    // The two-active-keys detail quotes a key id, which needs 20 columns: the detail goes,
    // and the age, left out before it, fits again.
    for kept in ["SEVERITY", "RULE", "USER", "ACCESS KEY", "AGE"] {
        assert!(header.contains(kept), "{header}");
    }
    assert!(!header.contains("USER ARN") && !header.contains("DETAIL"), "{header}");
    assert!(
        narrow.contains("(left out to fit 80 columns: USER ARN, PATH, OWNER, LAST USED, ACCOUNT, DETAIL)"),
        "{narrow}"
    );
    // Without a finding quoting a key id, the detail stays at 80 columns.
    let mut quiet = demo_report();
    quiet.findings.retain(|finding| !finding.message.contains("AKIA"));
    let quiet = table(&quiet, TableStyle { width: Some(80), color: false, group_by: None });
    assert!(quiet.lines().next().unwrap().contains("DETAIL"), "{quiet}");
    let wide = table(&report, TableStyle { width: Some(200), color: false, group_by: None });
    assert!(wide.lines().next().unwrap().contains("USER ARN") && !wide.contains("left out"), "{wide}");
}

#[test]
fn plain_style_is_the_table_files_get() {
    let report = demo_report();
    let mut file = Vec::new();
    Format::Table.render(&report, &mut file).unwrap();
    assert_eq!(table(&report, TableStyle::PLAIN), String::from_utf8(file).unwrap());
    let sample =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/demo.txt")).unwrap();
    assert_eq!(table(&report, TableStyle::PLAIN), sample);
}

#[test]
fn control_characters_in_iam_values_stay_escaped_inside_colour() {
    let mut report = demo_report();
    report.findings[0].user_name = "evil\u{1b}[2J\u{1b}]0;title\u{7}name".to_string();
    report.findings[0].message = "bidi \u{202e}override and a\ttab".to_string();
    for width in [None, Some(80), Some(200)] {
        let coloured = table(&report, TableStyle { width, color: true, group_by: None });
        // Every escape left is one of the colour sequences (strip_colour panics on others).
        let plain = strip_colour(&coloured);
        assert!(!plain.contains('\u{1b}') && !plain.contains('\u{7}') && !plain.contains('\u{202e}'));
        if width != Some(80) {
            // (At 80 columns the escaped name is wrapped like any long word.)
            assert!(plain.contains("\\u{1b}[2J") && plain.contains("\\u{202e}"), "{plain}");
        }
        assert_eq!(plain, table(&report, TableStyle { width, color: false, group_by: None }));
    }
}

#[test]
fn group_by_gives_one_table_per_owner_account_or_rule_under_a_heading() {
    let report = demo_report();
    let style = |group_by| TableStyle { width: None, color: false, group_by: Some(group_by) };
    let by_owner = table(&report, style(keyaudit::report::GroupBy::Owner));
    let headings: Vec<&str> = by_owner.lines().filter(|line| line.starts_with("OWNER ")).collect();
    // The riskiest first: platform's high findings, then the rest in the order they come.
    assert_eq!(headings.first(), Some(&"OWNER platform: 2 finding(s)"), "{by_owner}");
    assert!(headings.contains(&"OWNER (none or unknown): 4 finding(s)"), "{headings:?}");
    let counted: usize = headings
        .iter()
        .map(|h| h.rsplit(": ").next().unwrap().trim_end_matches(" finding(s)").parse::<usize>().unwrap())
        .sum();
    assert_eq!(counted, report.findings.iter().filter(|f| !f.suppressed).count());
    let by_account = table(&report, style(keyaudit::report::GroupBy::Account));
    assert_eq!(by_account.lines().filter(|line| line.starts_with("ACCOUNT ")).count(), 2, "{by_account}");
    let by_rule = table(&report, style(keyaudit::report::GroupBy::Rule));
    assert!(by_rule.contains("RULE key-too-old: "), "{by_rule}");
    assert_eq!(
        table(&report, TableStyle::PLAIN),
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/reports/demo.txt")).unwrap()
    );
}

/// The demo with everything a table can hold made as long and as many as IAM allows: a
/// 64-character user name, a 512-character path, a 256-character owner tag with no space to
/// wrap at (and one with wide characters and a newline), long messages, suppressed findings,
/// suppressions to review, resolved findings, a baseline, credential-report lines and 40
/// failed calls, some naming keys.
fn hostile_report() -> Report {
    use keyaudit::model::ScanError;
    use keyaudit::report::{BaselineSummary, ResolvedRow};
    use keyaudit::suppress::{SuppressionState, SuppressionStatus};

    let mut report = demo_report();
    let long_name = format!("svc.{}@example.com", "reporting-pipeline+eu=".repeat(3));
    let long_name = &long_name[..64];
    let long_path = format!("/{}/", "organisation/division/department/team".repeat(14));
    let long_path = &long_path[..512];
    let long_owner = "team-".repeat(52);
    for (i, finding) in report.findings.iter_mut().enumerate() {
        if i % 2 == 0 {
            finding.user_name = long_name.to_string();
            finding.user_path = Some(long_path.to_string());
            finding.user_arn =
                Some(format!("arn:aws:iam::{}:user{long_path}{long_name}", finding.account_id));
            finding.owner = Some(long_owner[..256].to_string());
        } else {
            finding.owner = Some("プラットフォーム チーム\nRoot user of 111122223333: forged.".to_string());
        }
        finding.message.push_str(&format!(" {}", "and a long explanation of why it matters ".repeat(4)));
    }
    for finding in report.findings.iter_mut().skip(3).step_by(4) {
        finding.suppressed = true;
        finding.suppression_reason = Some(format!("accepted by {long_owner} until the migration ends"));
        finding.suppression_expires = "2027-01-31".parse().ok();
    }
    report.suppressions = vec![
        SuppressionStatus {
            index: 1,
            selector: format!("rule=key-too-old user={long_name} account=111122223333"),
            reason: "a reason that goes on ".repeat(8),
            expires: "2026-01-01".parse().ok(),
            state: SuppressionState::Expired,
            matched: 1,
        },
        SuppressionStatus {
            index: 12,
            selector: format!("owner={}", &long_owner[..120]),
            reason: "stale".to_string(),
            expires: None,
            state: SuppressionState::Stale,
            matched: 0,
        },
    ];
    report.resolved = vec![ResolvedRow {
        finding_id: format!("two-active-keys:111122223333:{long_name}:AKIARZ7EXAMPLERESOL1"),
        rule: report.findings[0].rule,
        severity: report.findings[0].severity,
        account_id: "111122223333".to_string(),
        user_name: long_name.to_string(),
        key_ids: vec!["AKIARZ7EXAMPLERESOL1".to_string(), "AKIARZ7EXAMPLERESOL2".to_string()],
        message: "gone".to_string(),
    }];
    report.baseline = Some(BaselineSummary {
        source: "report generated 2026-10-01T09:00:00Z".to_string(),
        fail_on_new: true,
        new: 3,
        existing: 8,
        resolved: 1,
        unverified: 0,
    });
    report.errors = (0..40)
        .map(|i| ScanError {
            account_id: Some(if i % 2 == 0 { "111122223333" } else { "444455556666" }.to_string()),
            user_name: (i % 3 != 0).then(|| long_name.to_string()),
            access_key_id: (i % 4 == 1).then(|| format!("AKIARZ7EXAMPLEERR{i:03}")),
            operation: ["GetAccountAuthorizationDetails", "GetAccessKeyLastUsed", "ListUsers"][i % 3].to_string(),
            code: ["ServiceFailureException", "Throttling", "DeadlineExceeded"][i % 3].to_string(),
            message: format!(
                "request {i} failed after 10 attempts: https://iam.amazonaws.com/?Action=GetAccountAuthorizationDetails&Filter=User,Group,LocalManagedPolicy&MaxItems=1000&Marker={}",
                "x".repeat(90)
            ),
        })
        .collect();
    report.complete = false;
    report.summary.complete = false;
    report.summary.errors = report.errors.len();
    for account in &mut report.accounts {
        account.credential_report_generated_at = Some(report.collected_at);
    }
    report
}

/// Every key id the report holds (findings, resolved findings, failed calls).
fn key_ids(report: &Report) -> Vec<String> {
    let findings = report.findings.iter().flat_map(|f| f.key_ids.iter().cloned());
    let resolved = report.resolved.iter().flat_map(|r| r.key_ids.iter().cloned());
    let errors = report.errors.iter().filter_map(|e| e.access_key_id.clone());
    findings.chain(resolved).chain(errors).collect()
}

#[test]
fn no_line_is_wider_than_the_terminal_at_any_width_from_the_minimum_to_200() {
    use keyaudit::report::GroupBy;
    use unicode_width::UnicodeWidthStr;

    let min = keyaudit::report::MIN_WIDTH;
    assert_eq!(min, 32, "README documents the minimum width");
    for (name, report) in [("demo", demo_report()), ("hostile", hostile_report())] {
        let keys = key_ids(&report);
        for group_by in [None, Some(GroupBy::Owner)] {
            // Narrower than the minimum: drawn as for the minimum.
            for width in min - 12..=200 {
                let plain = table(&report, TableStyle { width: Some(width), color: false, group_by });
                let room = usize::from(width.max(min));
                for line in plain.lines() {
                    assert!(
                        line.width() <= room,
                        "{name} at {width} columns: a line of {} columns:\n{line}\n\n{plain}",
                        line.width()
                    );
                }
                for key in &keys {
                    assert!(plain.contains(key.as_str()), "{name} at {width}: {key} split:\n{plain}");
                }
                // A key id is never split, in records or columns, even where prose quotes it.
                for (at, _) in plain.match_indices("AKIA") {
                    let id = plain.get(at..at + 20).unwrap_or_default();
                    assert!(keys.iter().any(|key| key == id), "{name} at {width}: split id at {id:?}");
                }
                // The forged line in an owner tag stays inside its heading (escaped).
                assert!(!plain.lines().any(|line| line.starts_with("Root user of 111122223333: forged")));
                if width % 7 == 0 {
                    // (Every 7th width: colour is laid out the same way, and a debug build is slow.)
                    let coloured = table(&report, TableStyle { width: Some(width), color: true, group_by });
                    assert_eq!(
                        strip_colour(&coloured),
                        plain,
                        "{name} at {width}: colour changes nothing else"
                    );
                }
            }
        }
    }
}

#[test]
fn below_the_columns_that_must_stay_each_finding_is_a_record_with_every_field() {
    let report = demo_report();
    let narrow = table(&report, TableStyle { width: Some(50), color: false, group_by: None });
    assert!(!narrow.contains("| SEVERITY"), "no columns at 50:\n{narrow}");
    assert!(!narrow.contains("left out"), "a record leaves nothing out:\n{narrow}");
    let counted = report.findings.iter().filter(|f| !f.suppressed).count();
    assert_eq!(narrow.matches("\nSEVERITY:").count() + usize::from(narrow.starts_with("SEVERITY:")), counted);
    // The first finding's fields, labelled, in the table's column order.
    let first = &report.findings[0];
    let block: Vec<&str> = narrow.split(&"-".repeat(50)).nth(1).unwrap().lines().collect();
    let labels: Vec<&str> = block
        .iter()
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_once(':'))
        .map(|(label, _)| label)
        .collect();
    assert_eq!(
        labels,
        [
            "SEVERITY",
            "RULE",
            "ACCOUNT",
            "USER",
            "OWNER",
            "PATH",
            "ACCESS KEY",
            "AGE",
            "LAST USED",
            "DETAIL",
            "USER ARN"
        ],
        "{narrow}"
    );
    assert!(block.contains(&format!("ACCESS KEY: {}", first.access_key_id.as_deref().unwrap()).as_str()));
    assert!(block.contains(&format!("USER:       {}", first.user_name).as_str()), "{block:?}");
    // Columns come back as soon as the columns that must stay fit.
    let columns = table(&report, TableStyle { width: Some(65), color: false, group_by: None });
    assert!(columns.starts_with("| SEVERITY"), "{columns}");
    let records = table(&report, TableStyle { width: Some(64), color: false, group_by: None });
    assert!(records.starts_with(&"-".repeat(64)), "{records}");
}
