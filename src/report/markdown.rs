//! `--format markdown` (`.md`): a short summary for `$GITHUB_STEP_SUMMARY` and merge-request
//! comments: the gate's verdict in words, counts by severity and account, the most severe
//! findings, failed calls and the baseline comparison.
//!
//! GitHub refuses a step summary over 1 MiB, and a comment is read by people: every list is
//! cut at a fixed number of rows ("... and N more", the full list is in the other formats) and
//! every cell at a fixed length, so the output has a bound whatever the scan found (tested
//! with 100,000 findings). IAM values are escaped so that no name can add markup, a link, a
//! mention or HTML: Markdown punctuation is backslash-escaped, `<`, `>` and `&` become
//! entities, and line breaks and control characters become spaces. The verdict is the gate's
//! ([`super::Summary::failing`], `complete`); this renderer only words it.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{format_date, Report};
use crate::finding::Severity;

/// Rows of each list (findings, accounts, failed calls) before "... and N more".
const MAX_ROWS: usize = 50;
/// Characters of one table cell before it is cut.
const MAX_CELL: usize = 160;

/// `text` made inert in a Markdown table cell (GitHub-flavoured) and cut to [`MAX_CELL`].
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (count, c) in text.chars().enumerate() {
        if count == MAX_CELL {
            out.push_str("...");
            break;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '@' | '#' | '!' | ':' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The verdict in words: `FAIL: 7 findings at or above low`, `PASS`, `INCOMPLETE: ...`.
pub(crate) fn verdict(report: &Report) -> String {
    let summary = &report.summary;
    let new = if report.baseline.as_ref().is_some_and(|b| b.fail_on_new) { "new " } else { "" };
    let failing = format!(
        "{} {new}finding{} at or above {}",
        summary.failing,
        if summary.failing == 1 { "" } else { "s" },
        summary.fail_on
    );
    if !summary.complete {
        let calls = format!(
            "{} call{} failed, the scan lacks that data",
            summary.errors,
            if summary.errors == 1 { "" } else { "s" }
        );
        if summary.failing > 0 {
            format!("INCOMPLETE: {calls}; {failing}")
        } else {
            format!("INCOMPLETE: {calls}")
        }
    } else if summary.failing > 0 {
        format!("FAIL: {failing}")
    } else if summary.fail_on == "never" {
        "PASS (--fail-on never)".to_string()
    } else {
        format!("PASS: no {new}finding at or above {}", summary.fail_on)
    }
}

fn more(out: &mut String, total: usize, what: &str) {
    if total > MAX_ROWS {
        let _ = writeln!(out, "\n... and {} more {what} (see the full report)", total - MAX_ROWS);
    }
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let summary = &report.summary;
    let mut md = String::new();
    let _ = writeln!(md, "## keyaudit: {}\n", verdict(report));
    let _ = writeln!(
        md,
        "{} account(s), {} users, {} keys ({} active): **{} findings**, {} suppressed. \
         Evaluated as of {}; data collected {}.\n",
        summary.accounts,
        summary.users,
        summary.keys,
        summary.active_keys,
        summary.findings,
        summary.suppressed,
        format_date(report.as_of),
        format_date(report.collected_at),
    );

    md.push_str("| severity | findings |\n|---|---:|\n");
    for severity in Severity::ALL {
        let _ = writeln!(md, "| {severity} | {} |", summary.by_severity.get(&severity).copied().unwrap_or(0));
    }

    md.push_str(
        "\n### Accounts\n\n| account | users | keys | findings | failed calls |\n|---|---:|---:|---:|---:|\n",
    );
    for account in report.accounts.iter().take(MAX_ROWS) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            escape(&account.account_id),
            account.users,
            account.keys,
            account.findings,
            account.errors
        );
    }
    more(&mut md, report.accounts.len(), "accounts");

    if !report.findings.is_empty() {
        let mut top: Vec<_> = report.findings.iter().collect();
        // Most severe first; the report's own order (account, user, key) within a level.
        top.sort_by_key(|f| std::cmp::Reverse(f.severity));
        md.push_str("\n### Top findings\n\n| severity | rule | account | user | key | detail |\n|---|---|---|---|---|---|\n");
        for f in top.iter().take(MAX_ROWS) {
            let keys = if f.key_ids.is_empty() { "-".to_string() } else { f.key_ids.join(" ") };
            let mut severity = f.severity.to_string();
            if f.suppressed {
                severity.push_str(" (suppressed)");
            } else if let Some(state) = f.baseline_state {
                let _ = write!(severity, " ({})", state.as_str());
            }
            let _ = writeln!(
                md,
                "| {severity} | {} | {} | {} | {} | {} |",
                f.rule,
                escape(&f.account_id),
                escape(&f.user_name),
                escape(&keys),
                escape(&f.message)
            );
        }
        more(&mut md, report.findings.len(), "findings");
    }

    if !report.errors.is_empty() {
        md.push_str(
            "\n### Failed calls\n\n| account | call | code | user | message |\n|---|---|---|---|---|\n",
        );
        for e in report.errors.iter().take(MAX_ROWS) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                escape(e.account_id.as_deref().unwrap_or("?")),
                escape(&e.operation),
                escape(&e.code),
                escape(e.user_name.as_deref().unwrap_or("-")),
                escape(&e.message)
            );
        }
        more(&mut md, report.errors.len(), "failed calls");
    }

    if let Some(baseline) = &report.baseline {
        let _ = writeln!(
            md,
            "\n### Baseline\n\nAgainst {}: {} new, {} existing, {} resolved, {} unverified{}.",
            escape(&baseline.source),
            baseline.new,
            baseline.existing,
            baseline.resolved,
            baseline.unverified,
            if baseline.fail_on_new { "; only new findings fail the run (--fail-on-new)" } else { "" }
        );
    }
    out.write_all(md.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScanError;
    use crate::report::test_support::demo_report;
    use crate::report::BaselineSummary;

    fn rendered(report: &Report) -> String {
        crate::report::test_support::rendered(crate::report::Format::Markdown, report)
    }

    #[test]
    fn verdicts_word_the_gate() {
        let report = demo_report(|_| {});
        assert_eq!(verdict(&report), "FAIL: 10 findings at or above low");
        let pass = demo_report(|r| r.summary.failing = 0);
        assert_eq!(verdict(&pass), "PASS: no finding at or above low");
        let never = demo_report(|r| {
            r.summary.failing = 0;
            r.summary.fail_on = "never";
        });
        assert_eq!(verdict(&never), "PASS (--fail-on never)");
        let incomplete = demo_report(|r| {
            r.summary.complete = false;
            r.summary.errors = 2;
        });
        assert_eq!(
            verdict(&incomplete),
            "INCOMPLETE: 2 calls failed, the scan lacks that data; 10 findings at or above low"
        );
        let new_only = demo_report(|r| {
            r.summary.failing = 1;
            r.baseline = Some(BaselineSummary {
                source: "history run 3".into(),
                fail_on_new: true,
                new: 1,
                existing: 9,
                resolved: 2,
                unverified: 0,
            });
        });
        assert_eq!(verdict(&new_only), "FAIL: 1 new finding at or above low");
        let text = rendered(&new_only);
        assert!(text.contains(
            "### Baseline\n\nAgainst history run 3: 1 new, 9 existing, 2 resolved, 0 unverified; only new"
        ));
    }

    #[test]
    fn iam_values_cannot_add_markup() {
        assert_eq!(
            escape("a|b<img src=x>`c`*_[x](y)@team\nz"),
            r"a\|b&lt;img src=x&gt;\`c\`\*\_\[x\](y)\@team z"
        );
        let report = demo_report(|r| {
            r.findings[0].user_name = "<script>|x".into();
            r.errors.push(ScanError {
                account_id: Some("444455556666".into()),
                user_name: None,
                access_key_id: None,
                operation: "ListUsers".into(),
                code: "AccessDenied".into(),
                message: "denied | <b>".into(),
            });
        });
        let text = rendered(&report);
        assert!(text.contains(r"| &lt;script&gt;\|x |") && !text.contains("<script>"));
        assert!(
            text.contains(r"| 444455556666 | ListUsers | AccessDenied | - | denied \| &lt;b&gt; |"),
            "{text}"
        );
    }

    #[test]
    fn stays_far_under_githubs_1_mib_summary_limit_whatever_the_scan_found() {
        let report = demo_report(|r| {
            let row = r.findings[0].clone();
            r.findings = (0..100_000)
                .map(|i| {
                    let mut row = row.clone();
                    row.user_name = format!("{}{i}", "u".repeat(64));
                    row.message = "m".repeat(10_000);
                    row
                })
                .collect();
            r.summary.findings = r.findings.len();
            let account = r.accounts[0].clone();
            r.accounts = vec![account; 5000];
        });
        let text = rendered(&report);
        assert!(text.len() < 100 * 1024, "{} bytes", text.len());
        assert!(text.contains("... and 99950 more findings"));
        assert!(text.contains("... and 4950 more accounts"));
    }

    #[test]
    fn most_severe_findings_come_first() {
        let text = rendered(&demo_report(|_| {}));
        let top = text.split("### Top findings").nth(1).unwrap();
        let first_row = top.lines().nth(4).unwrap();
        assert!(first_row.starts_with("| critical | root-access-key |"), "{first_row}");
    }
}
