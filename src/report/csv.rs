//! `--format csv`: a header and one row per finding, for spreadsheets and archives.
//!
//! Values are written exactly (user names may hold `+=,.@_-` and must round-trip), quoted
//! by the csv crate where needed. When the scan is incomplete, every failed call is added as
//! a row whose `rule` is `scan-error`, so a CSV can never look complete when it is not.

use std::io::{self, Write};

use super::{format_date, Report};

/// New columns go at the end, so readers that index columns keep working.
const HEADER: [&str; 28] = [
    "account_id",
    "user_name",
    "access_key_id",
    "rule",
    "severity",
    "message",
    "key_ids",
    "key_status",
    "key_created",
    "key_age_days",
    "last_used_state",
    "last_used",
    "last_used_service",
    "last_used_region",
    "days_since_last_use",
    "last_used_source",
    "suppressed",
    "suppression_reason",
    "finding_id",
    "baseline_state",
    "user_arn",
    "user_path",
    "credential_report_generated_at",
    "owner",
    "privileged",
    "privileged_via",
    "scope",
    "controls",
];

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut writer = ::csv::Writer::from_writer(out);
    writer.write_record(HEADER)?;
    let text = |value: Option<String>| value.unwrap_or_default();
    for f in &report.findings {
        writer.write_record([
            f.account_id.clone(),
            f.user_name.clone(),
            text(f.access_key_id.clone()),
            f.rule.to_string(),
            f.severity.to_string(),
            f.message.clone(),
            f.key_ids.join(" "),
            text(f.key_status.map(|s| s.as_str().to_string())),
            text(f.key_created.map(format_date)),
            text(f.key_age_days.map(|d| d.to_string())),
            text(f.last_used_state.map(|s| s.as_str().to_string())),
            text(f.last_used.map(format_date)),
            text(f.last_used_service.clone()),
            text(f.last_used_region.clone()),
            text(f.days_since_last_use.map(|d| d.to_string())),
            text(f.last_used_source.map(|s| s.as_str().to_string())),
            f.suppressed.to_string(),
            text(f.suppression_reason.clone()),
            f.finding_id.clone(),
            text(f.baseline_state.map(|state| state.as_str().to_string())),
            text(f.user_arn.clone()),
            text(f.user_path.clone()),
            text(f.credential_report_generated_at.map(format_date)),
            text(f.owner.clone()),
            text(f.privileged.map(|p| p.to_string())),
            f.privileged_via.join("; "),
            text(f.scope.clone()),
            f.controls.join("; "),
        ])?;
    }
    for e in &report.errors {
        let mut row: [String; HEADER.len()] = Default::default();
        row[0] = text(e.account_id.clone());
        row[1] = text(e.user_name.clone());
        row[2] = text(e.access_key_id.clone());
        row[3] = "scan-error".to_string();
        row[5] = format!("{} failed ({}): {}", e.operation, e.code, e.message);
        writer.write_record(row)?;
    }
    writer.flush()
}
