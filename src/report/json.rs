//! `--format json`: the [`super::Report`] as one pretty-printed JSON object (schema in the
//! README).

use std::io::{self, Write};

use super::Report;

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    super::write_json(out, report)
}
