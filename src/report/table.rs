//! `--format table` (and `.txt` files): what a human reads. Findings, then failed calls if
//! any, then a summary. Plain ASCII in Markdown table form, so it survives CI logs and pastes
//! into tickets; it never depends on the terminal, so files and snapshots are stable.

use std::io::{self, Write};

use comfy_table::{presets, ContentArrangement, Table};

use super::{format_date, Report, RootAccessKey};
use crate::suppress::SuppressionState;

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let (counted, suppressed): (Vec<_>, Vec<_>) = report.findings.iter().partition(|f| !f.suppressed);
    if counted.is_empty() && report.complete {
        writeln!(out, "No findings.")?;
    } else if counted.is_empty() {
        writeln!(out, "No findings in the data collected, but the scan is INCOMPLETE (see below).")?;
    } else {
        let mut table = new_table([
            "SEVERITY",
            "RULE",
            "ACCOUNT",
            "USER",
            "PATH",
            "ACCESS KEY",
            "AGE",
            "LAST USED",
            "DETAIL",
            "USER ARN",
        ]);
        for f in counted {
            let key = key_cell(f);
            let last_used = match (f.last_used_state, f.last_used) {
                (_, Some(date)) => {
                    format!("{} ({}d ago)", format_date(date), f.days_since_last_use.unwrap_or_default())
                }
                (Some(state), None) => state.as_str().to_string(),
                (None, None) => String::new(),
            };
            let mut detail = f.message.clone();
            if f.suppression_expired {
                let expires = f.suppression_expires.map(|d| d.to_string()).unwrap_or_default();
                detail.push_str(&format!(" [suppression expired {expires}]"));
            }
            let severity = match f.baseline_state {
                Some(state) => format!("{} ({})", f.severity, state.as_str()),
                None => f.severity.to_string(),
            };
            table.add_row([
                severity,
                f.rule.to_string(),
                f.account_id.clone(),
                f.user_name.clone(),
                f.user_path.clone().unwrap_or_default(),
                key,
                f.key_age_days.map(|d| format!("{d}d")).unwrap_or_default(),
                last_used,
                detail,
                f.user_arn.clone().unwrap_or_default(),
            ]);
        }
        writeln!(out, "{table}")?;
    }

    if !suppressed.is_empty() {
        writeln!(out)?;
        writeln!(out, "SUPPRESSED FINDINGS (reported, not counted):")?;
        let mut table = new_table([
            "SEVERITY",
            "RULE",
            "ACCOUNT",
            "USER",
            "PATH",
            "ACCESS KEY",
            "REASON",
            "EXPIRES",
            "USER ARN",
        ]);
        for f in suppressed {
            table.add_row([
                f.severity.to_string(),
                f.rule.to_string(),
                f.account_id.clone(),
                f.user_name.clone(),
                f.user_path.clone().unwrap_or_default(),
                key_cell(f),
                f.suppression_reason.clone().unwrap_or_default(),
                f.suppression_expires.map(|d| d.to_string()).unwrap_or_else(|| "never".into()),
                f.user_arn.clone().unwrap_or_default(),
            ]);
        }
        writeln!(out, "{table}")?;
    }

    let attention: Vec<_> =
        report.suppressions.iter().filter(|s| s.state != SuppressionState::Active).collect();
    if !attention.is_empty() {
        writeln!(out)?;
        writeln!(out, "SUPPRESSIONS TO REVIEW:")?;
        let mut table = new_table(["#", "STATE", "SELECTOR", "REASON", "EXPIRES"]);
        for s in attention {
            table.add_row([
                s.index.to_string(),
                match s.state {
                    SuppressionState::Expired => "expired (no longer applied)".to_string(),
                    SuppressionState::Stale => "stale (matches nothing)".to_string(),
                    SuppressionState::Active => "active".to_string(),
                },
                s.selector.clone(),
                s.reason.clone(),
                s.expires.map(|d| d.to_string()).unwrap_or_else(|| "never".into()),
            ]);
        }
        writeln!(out, "{table}")?;
    }

    if !report.resolved.is_empty() {
        writeln!(out)?;
        writeln!(out, "RESOLVED SINCE THE BASELINE (gone from this complete scan of their account):")?;
        let mut table = new_table(["SEVERITY", "RULE", "ACCOUNT", "USER", "ACCESS KEY", "FINDING ID"]);
        for r in &report.resolved {
            table.add_row([
                r.severity.to_string(),
                r.rule.to_string(),
                r.account_id.clone(),
                r.user_name.clone(),
                r.key_ids.join("\n"),
                r.finding_id.clone(),
            ]);
        }
        writeln!(out, "{table}")?;
    }

    if !report.errors.is_empty() {
        writeln!(out)?;
        writeln!(out, "FAILED CALLS (the data below is missing from this report):")?;
        let mut table = new_table(["ACCOUNT", "USER", "ACCESS KEY", "OPERATION", "CODE", "MESSAGE"]);
        for e in &report.errors {
            table.add_row([
                e.account_id.clone().unwrap_or_default(),
                e.user_name.clone().unwrap_or_default(),
                e.access_key_id.clone().unwrap_or_default(),
                e.operation.clone(),
                e.code.clone(),
                e.message.clone(),
            ]);
        }
        writeln!(out, "{table}")?;
    }

    let s = &report.summary;
    let severities: Vec<String> =
        s.by_severity.iter().rev().map(|(level, n)| format!("{n} {level}")).collect();
    writeln!(out)?;
    writeln!(
        out,
        "{} account(s), {} users, {} keys ({} active): {} findings ({}), {} suppressed; {} at or above fail-on `{}`.",
        s.accounts,
        s.users,
        s.keys,
        s.active_keys,
        s.findings,
        severities.join(", "),
        s.suppressed,
        s.failing,
        s.fail_on,
    )?;
    if report.accounts.len() > 1 {
        for a in &report.accounts {
            writeln!(
                out,
                "  account {}: {} users, {} keys ({} active), {} findings, {} failed calls",
                a.account_id, a.users, a.keys, a.active_keys, a.findings, a.errors
            )?;
        }
    }
    if let Some(b) = &report.baseline {
        writeln!(
            out,
            "Baseline ({}): {} new, {} existing, {} resolved, {} not confirmed gone{}.",
            b.source,
            b.new,
            b.existing,
            b.resolved,
            b.unverified,
            if b.fail_on_new { "; --fail-on-new: only new findings count" } else { "" }
        )?;
    }
    for a in &report.accounts {
        // Said for every account, so a clean root user reads as checked, not as forgotten.
        let root = match a.root_access_key {
            RootAccessKey::Present => "has an access key (see root-access-key)",
            RootAccessKey::Absent => "no access key (checked)",
            RootAccessKey::Unknown => "UNKNOWN (could not be read)",
        };
        writeln!(out, "Root user of {}: {root}.", a.account_id)?;
    }
    for a in report.accounts.iter().filter(|a| a.credential_report_generated_at.is_some()) {
        writeln!(
            out,
            "Last use in account {} comes from its credential report generated {} (IAM's report can be up to 4 hours old).",
            a.account_id,
            a.credential_report_generated_at.map(format_date).unwrap_or_default()
        )?;
    }
    writeln!(
        out,
        "Evaluated as of {}; data collected {}.",
        format_date(report.as_of),
        format_date(report.collected_at)
    )?;
    if !s.complete {
        writeln!(
            out,
            "SCAN INCOMPLETE: {} call(s) failed after retries; findings may be missing.",
            s.errors
        )?;
    }
    Ok(())
}

/// The key a finding names, and on a labelled line below it the other keys it involves
/// (two-active-keys names the older key, the one to deactivate).
fn key_cell(f: &super::FindingRow) -> String {
    let others: Vec<&str> =
        f.key_ids.iter().map(String::as_str).filter(|id| Some(*id) != f.access_key_id.as_deref()).collect();
    match (&f.access_key_id, others.is_empty()) {
        (Some(id), true) => id.clone(),
        (Some(id), false) => format!("{id}\nalso: {}", others.join(", ")),
        (None, _) => f.key_ids.join("\n"),
    }
}

pub(crate) fn new_table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty()
        .set_header(header);
    table
}
