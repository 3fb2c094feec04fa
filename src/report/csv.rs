//! `--format csv`: a header and one row per finding, for spreadsheets and archives.
//!
//! Values are written exactly (user names may hold `+=,.@_-` and must round-trip), quoted
//! by the csv crate where needed. When the scan is incomplete, every failed call is added as
//! a row whose `rule` is `scan-error`, so a CSV can never look complete when it is not.

use std::io::{self, Write};

use super::{format_date, Report};

const HEADER: [&str; 23] = [
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
    "owner",
    "privileged",
    "privileged_via",
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
            text(f.last_used_source.clone()),
            f.suppressed.to_string(),
            text(f.suppression_reason.clone()),
            f.finding_id.clone(),
            text(f.baseline_state.map(|state| state.as_str().to_string())),
            text(f.owner.clone()),
            text(f.privileged.map(|p| p.to_string())),
            f.privileged_via.join("; "),
        ])?;
    }
    for e in &report.errors {
        writer.write_record([
            text(e.account_id.clone()),
            text(e.user_name.clone()),
            text(e.access_key_id.clone()),
            "scan-error".to_string(),
            String::new(),
            format!("{} failed ({}): {}", e.operation, e.code, e.message),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ])?;
    }
    writer.flush()
}
