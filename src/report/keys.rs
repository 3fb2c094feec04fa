//! `keyaudit keys list`: one user's keys in any report format.

use std::io::{self, Write};

use super::{format_date, table::new_table, KeyRow};
use crate::cli::ListFormat;

pub fn render_keys(format: ListFormat, rows: &[KeyRow], out: &mut dyn Write) -> io::Result<()> {
    match format {
        ListFormat::Json => super::write_json(out, rows),
        ListFormat::Csv => {
            let mut writer = ::csv::Writer::from_writer(out);
            for row in rows {
                writer.serialize(row)?;
            }
            writer.flush()
        }
        ListFormat::Table => {
            if rows.is_empty() {
                return writeln!(out, "No access keys.");
            }
            let mut table = new_table([
                "USER",
                "ACCESS KEY",
                "STATUS",
                "CREATED",
                "AGE",
                "LAST USED",
                "SERVICE",
                "REGION",
            ]);
            for row in rows {
                table.add_row([
                    row.user_name.clone(),
                    row.access_key_id.clone(),
                    row.status.as_str().to_string(),
                    format_date(row.created),
                    format!("{}d", row.age_days),
                    row.last_used
                        .map(format_date)
                        .unwrap_or_else(|| row.last_used_state.as_str().to_string()),
                    row.last_used_service.clone().unwrap_or_default(),
                    row.last_used_region.clone().unwrap_or_default(),
                ]);
            }
            writeln!(out, "{table}")
        }
    }
}
