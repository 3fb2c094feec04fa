//! `history` output: table, CSV or JSON of runs, diffs and trends, and the evidence pack's
//! files. Formatting only; what a diff means is decided in `query`.

use std::fmt::Write as _;

use serde::Serialize;

use super::query::{Diff, Evidence, KeyChange, RunFinding, RunRow, TrendRow};
use crate::finding::{RuleId, Severity};
use crate::report::new_table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

fn json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("history data serializes");
    out.push(b'\n');
    out
}

fn csv_of(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).expect("in-memory csv");
    for row in rows {
        writer.write_record(&row).expect("in-memory csv");
    }
    writer.into_inner().expect("in-memory csv")
}

const RUN_HEADER: [&str; 15] = [
    "run_id",
    "collected_at",
    "complete",
    "accounts",
    "users",
    "keys",
    "active_keys",
    "findings",
    "critical",
    "high",
    "medium",
    "low",
    "info",
    "suppressed",
    "errors",
];

fn run_cells(run: &RunRow) -> Vec<String> {
    [
        run.run_id.to_string(),
        run.collected_at.clone(),
        run.complete.to_string(),
        run.accounts.to_string(),
        run.users.to_string(),
        run.keys.to_string(),
        run.active_keys.to_string(),
        run.findings.to_string(),
        run.critical.to_string(),
        run.high.to_string(),
        run.medium.to_string(),
        run.low.to_string(),
        run.info.to_string(),
        run.suppressed.to_string(),
        run.errors.to_string(),
    ]
    .into()
}

/// Table output goes to a terminal: what the history holds is shown, never obeyed.
fn terminal(text: String) -> Vec<u8> {
    crate::output::escape_controls(&text, true).into_bytes()
}

pub fn list(runs: &[RunRow], format: Format) -> Vec<u8> {
    match format {
        Format::Json => json(runs),
        Format::Csv => csv_of(&RUN_HEADER, runs.iter().map(run_cells)),
        Format::Table => {
            if runs.is_empty() {
                return b"No runs recorded yet.\n".to_vec();
            }
            let mut table = new_table(RUN_HEADER);
            for run in runs {
                table.add_row(run_cells(run));
            }
            terminal(format!("{table}\n"))
        }
    }
}

const FINDING_HEADER: [&str; 9] = [
    "change",
    "finding_id",
    "rule",
    "severity",
    "account_id",
    "user_name",
    "key_ids",
    "suppressed",
    "message",
];

fn finding_cells(change: &str, f: &RunFinding) -> Vec<String> {
    vec![
        change.to_string(),
        f.finding_id.clone(),
        f.rule.clone(),
        f.severity.clone(),
        f.account_id.clone(),
        f.user_name.clone(),
        f.key_ids.join(" "),
        f.suppressed.to_string(),
        f.message.clone(),
    ]
}

fn key_cells(change: &str, k: &KeyChange) -> Vec<String> {
    vec![
        change.to_string(),
        k.account_id.clone(),
        k.user_name.clone(),
        k.access_key_id.clone(),
        k.from.clone().unwrap_or_default(),
        k.to.clone().unwrap_or_default(),
    ]
}

fn diff_finding_rows(diff: &Diff) -> impl Iterator<Item = Vec<String>> + '_ {
    let groups = [
        ("new", &diff.new),
        ("resolved", &diff.resolved),
        ("unverified", &diff.unverified),
        ("persisting", &diff.persisting),
    ];
    groups.into_iter().flat_map(|(change, findings)| findings.iter().map(move |f| finding_cells(change, f)))
}

fn diff_key_rows(diff: &Diff) -> impl Iterator<Item = Vec<String>> + '_ {
    let k = &diff.keys;
    let groups = [
        ("created", &k.created),
        ("deleted", &k.deleted),
        ("deactivated", &k.deactivated),
        ("reactivated", &k.reactivated),
    ];
    groups.into_iter().flat_map(|(change, keys)| keys.iter().map(move |key| key_cells(change, key)))
}

pub fn diff(diff: &Diff, format: Format) -> Vec<u8> {
    match format {
        Format::Json => json(diff),
        // One CSV of findings then keys would need two headers; CSV gets the findings (each
        // with its change) and key changes as rows whose `rule` is `key-change`.
        Format::Csv => {
            let keys = diff_key_rows(diff).map(|cells| {
                let [change, account, user, key, from, to]: [String; 6] =
                    cells.try_into().expect("six cells");
                vec![
                    change,
                    String::new(),
                    "key-change".into(),
                    String::new(),
                    account,
                    user,
                    key,
                    String::new(),
                    format!("{from} -> {to}"),
                ]
            });
            csv_of(&FINDING_HEADER, diff_finding_rows(diff).chain(keys))
        }
        Format::Table => {
            let mut out = String::new();
            let describe = |run: &RunRow| {
                format!(
                    "run {} ({}, {})",
                    run.run_id,
                    run.collected_at,
                    if run.complete { "complete" } else { "INCOMPLETE" }
                )
            };
            let _ = writeln!(out, "From {} to {}", describe(&diff.from), describe(&diff.to));
            let _ = writeln!(
                out,
                "Findings: {} new, {} resolved, {} persisting, {} unverified",
                diff.new.len(),
                diff.resolved.len(),
                diff.persisting.len(),
                diff.unverified.len()
            );
            let k = &diff.keys;
            let _ = writeln!(
                out,
                "Keys: {} created, {} deleted, {} deactivated, {} reactivated",
                k.created.len(),
                k.deleted.len(),
                k.deactivated.len(),
                k.reactivated.len()
            );
            for note in &diff.notes {
                let _ = writeln!(out, "Note: {note}");
            }
            let changed: Vec<Vec<String>> =
                diff_finding_rows(diff).filter(|row| row[0] != "persisting").collect();
            if !changed.is_empty() {
                let mut table = new_table([
                    "change",
                    "severity",
                    "rule",
                    "account_id",
                    "user_name",
                    "key_ids",
                    "message",
                ]);
                for row in changed {
                    table.add_row([&row[0], &row[3], &row[2], &row[4], &row[5], &row[6], &row[8]]);
                }
                let _ = writeln!(out, "\n{table}");
            }
            let keys: Vec<Vec<String>> = diff_key_rows(diff).collect();
            if !keys.is_empty() {
                let mut table =
                    new_table(["change", "account_id", "user_name", "access_key_id", "from", "to"]);
                for row in keys {
                    table.add_row(row);
                }
                let _ = writeln!(out, "\n{table}");
            }
            terminal(out)
        }
    }
}

fn trend_header() -> Vec<String> {
    let mut header: Vec<String> =
        ["run_id", "collected_at", "complete", "open_findings"].map(String::from).into();
    header.extend(Severity::ALL.iter().map(|s| s.as_str().to_string()));
    header.extend(RuleId::ALL.iter().map(|r| r.as_str().to_string()));
    header.extend(
        [
            "keys",
            "active_keys",
            "active_within_max_age_share",
            "median_key_age_days",
            "oldest_key_age_days",
            "resolved",
            "mean_days_to_resolve",
        ]
        .map(String::from),
    );
    header
}

fn trend_cells(row: &TrendRow) -> Vec<String> {
    let opt = |value: Option<String>| value.unwrap_or_default();
    let mut cells = vec![
        row.run_id.to_string(),
        row.collected_at.clone(),
        row.complete.to_string(),
        row.open_findings.to_string(),
    ];
    cells.extend(
        Severity::ALL.iter().map(|s| row.by_severity.get(s.as_str()).copied().unwrap_or(0).to_string()),
    );
    cells.extend(RuleId::ALL.iter().map(|r| row.by_rule.get(r.as_str()).copied().unwrap_or(0).to_string()));
    cells.extend([
        row.keys.to_string(),
        row.active_keys.to_string(),
        opt(row.active_within_max_age_share.map(|share| format!("{share:.2}"))),
        opt(row.median_key_age_days.map(|d| d.to_string())),
        opt(row.oldest_key_age_days.map(|d| d.to_string())),
        row.resolved.to_string(),
        opt(row.mean_days_to_resolve.map(|d| format!("{d:.2}"))),
    ]);
    cells
}

pub fn trend(rows: &[TrendRow], format: Format) -> Vec<u8> {
    match format {
        Format::Json => json(rows),
        Format::Csv => {
            let header = trend_header();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            csv_of(&header, rows.iter().map(trend_cells))
        }
        Format::Table => {
            if rows.is_empty() {
                return b"No runs recorded yet.\n".to_vec();
            }
            let mut table = new_table([
                "run",
                "collected_at",
                "complete",
                "open",
                "crit/high/med/low/info",
                "keys",
                "active within max age",
                "median age",
                "oldest",
                "resolved (mean days)",
            ]);
            for row in rows {
                let sev = |s: Severity| row.by_severity.get(s.as_str()).copied().unwrap_or(0);
                table.add_row([
                    row.run_id.to_string(),
                    row.collected_at.clone(),
                    row.complete.to_string(),
                    row.open_findings.to_string(),
                    format!(
                        "{}/{}/{}/{}/{}",
                        sev(Severity::Critical),
                        sev(Severity::High),
                        sev(Severity::Medium),
                        sev(Severity::Low),
                        sev(Severity::Info)
                    ),
                    row.keys.to_string(),
                    row.active_within_max_age_share
                        .map_or("-".into(), |share| format!("{:.0}%", share * 100.0)),
                    row.median_key_age_days.map_or("-".into(), |d| d.to_string()),
                    row.oldest_key_age_days.map_or("-".into(), |d| d.to_string()),
                    match row.mean_days_to_resolve {
                        Some(mean) => format!("{} ({mean:.1})", row.resolved),
                        None => row.resolved.to_string(),
                    },
                ]);
            }
            terminal(format!("{table}\n"))
        }
    }
}

/// The audit pack's files, by name. Deterministic: the same data gives the same bytes (no
/// generation time, stable order).
pub fn evidence(evidence: &Evidence) -> Vec<(&'static str, Vec<u8>)> {
    let lifecycle_header = [
        "finding_id",
        "rule",
        "severity",
        "account_id",
        "user_name",
        "key_ids",
        "first_seen",
        "last_seen",
        "resolved_at",
        "days_open",
        "suppressed",
        "suppression_reason",
        "message",
    ];
    let lifecycle_rows = evidence.findings.iter().map(|f| {
        vec![
            f.finding_id.clone(),
            f.rule.clone(),
            f.severity.clone(),
            f.account_id.clone(),
            f.user_name.clone(),
            f.key_ids.join(" "),
            f.first_seen.clone(),
            f.last_seen.clone(),
            f.resolved_at.clone().unwrap_or_default(),
            f.days_open.to_string(),
            f.suppressed.to_string(),
            f.suppression_reason.clone().unwrap_or_default(),
            f.message.clone(),
        ]
    });
    vec![
        ("README.txt", summary(evidence).into_bytes()),
        ("runs.csv", csv_of(&RUN_HEADER, evidence.runs.iter().map(run_cells))),
        ("runs.json", json(&evidence.runs)),
        ("findings.csv", csv_of(&lifecycle_header, lifecycle_rows)),
        ("findings.json", json(&evidence.findings)),
    ]
}

fn summary(evidence: &Evidence) -> String {
    let mut out = String::new();
    let runs = &evidence.runs;
    let complete = runs.iter().filter(|run| run.complete).count();
    let resolved: Vec<_> = evidence.findings.iter().filter(|f| f.resolved_at.is_some()).collect();
    let open = evidence.findings.len() - resolved.len();
    let mean = if resolved.is_empty() {
        "-".to_string()
    } else {
        format!("{:.1}", resolved.iter().map(|f| f.days_open as f64).sum::<f64>() / resolved.len() as f64)
    };
    let _ = writeln!(
        out,
        "keyaudit evidence pack: IAM access key audits from {} to {} (UTC, both days included)",
        evidence.from, evidence.to
    );
    let _ = writeln!(out);
    let _ =
        writeln!(out, "Runs: {} ({} complete, {} incomplete)", runs.len(), complete, runs.len() - complete);
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let _ = writeln!(
            out,
            "First run: {} (run {}); last run: {} (run {})",
            first.collected_at, first.run_id, last.collected_at, last.run_id
        );
    }
    let _ = writeln!(out, "Findings open at some point in the window: {}", evidence.findings.len());
    let _ =
        writeln!(out, "  resolved within the window: {} (mean {mean} days from first seen)", resolved.len());
    let _ = writeln!(out, "  still open at the end of the window: {open}");
    let suppressed = evidence.findings.iter().filter(|f| f.suppressed).count();
    let _ = writeln!(out, "  under a suppression (accepted exception): {suppressed}");
    let incomplete: Vec<String> = runs
        .iter()
        .filter(|run| !run.complete)
        .map(|run| format!("{} ({})", run.run_id, run.collected_at))
        .collect();
    if !incomplete.is_empty() {
        let _ =
            writeln!(out, "Incomplete runs (calls failed; they resolved nothing): {}", incomplete.join(", "));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Files:");
    let _ = writeln!(out, "  runs.csv, runs.json: every run in the window, with its findings by severity and whether it was complete.");
    let _ = writeln!(out, "  findings.csv, findings.json: each finding's lifecycle: first seen, last seen, resolved at, days open,");
    let _ = writeln!(
        out,
        "    suppression and reason. A finding is resolved only by a later complete scan of its account."
    );
    let _ = writeln!(
        out,
        "Findings are identified as rule:account:user:key (finding_id), the same in every report and run."
    );
    out
}
