//! `--format table` (and `.txt` files): what a human reads. Findings, then failed calls if
//! any, then a summary. Plain ASCII in Markdown table form, so it survives CI logs and pastes
//! into tickets.
//!
//! On a terminal the table fits and has colour: [`TableStyle`] says how wide and whether to
//! colour, decided once at the edge (`app`, from `--color`, `NO_COLOR` and the terminal), so
//! this renderer stays pure and its output is snapshot-tested at any width. With
//! [`TableStyle::PLAIN`] (files, pipes) it is the same table at any width, as always.
//!
//! Fitting a width goes in three steps, each table on its own: wrap the cells; leave columns
//! out (the ones another column repeats first); and when even the columns that must stay
//! cannot fit, give up on columns and write each row as a record, one `FIELD: value` line
//! per field with the value wrapped beside its label. A record needs only the widest label
//! and a whole access key id side by side, so every line fits any width from [`MIN_WIDTH`]
//! up; narrower terminals get the table drawn for [`MIN_WIDTH`].
//!
//! Every value is escaped for the terminal ([`crate::output::escape_controls`]) before it is
//! laid out, so widths are counted on what is shown and the only escape sequences in the
//! output are the severity colours comfy-table adds around a cell's (already escaped) text.

use std::fmt;
use std::io::{self, Write};

use comfy_table::{presets, Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, Width};

use super::{format_date, FindingRow, Report, RootAccessKey};
use crate::finding::Severity;
use crate::output::escape_controls;
use crate::suppress::SuppressionState;

/// How the table is drawn: the terminal's width (None: as wide as the content, the plain
/// table) and whether severities are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStyle {
    pub width: Option<u16>,
    pub color: bool,
    /// `--group-by`: one table of findings per owner, account or rule, each under a heading.
    pub group_by: Option<GroupBy>,
}

impl TableStyle {
    /// Files and pipes: the plain ASCII table, whatever the terminal.
    pub const PLAIN: TableStyle = TableStyle { width: None, color: false, group_by: None };
}

/// What `--group-by` groups the table's findings by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    Owner,
    Account,
    Rule,
}

/// The findings in groups, each group in the order its first finding comes (so the group with
/// the riskiest finding first), its members in risk order; one group with no heading when
/// not grouping.
fn groups<'a>(
    findings: &[&'a FindingRow],
    by: Option<GroupBy>,
) -> Vec<(Option<String>, Vec<&'a FindingRow>)> {
    let Some(by) = by else {
        return vec![(None, findings.to_vec())];
    };
    let mut groups: Vec<(String, Vec<&'a FindingRow>)> = Vec::new();
    for finding in findings {
        let key = match by {
            GroupBy::Owner => finding
                .owner
                .clone()
                .map_or("OWNER (none or unknown)".to_string(), |owner| format!("OWNER {owner}")),
            GroupBy::Account => format!("ACCOUNT {}", finding.account_id),
            GroupBy::Rule => format!("RULE {}", finding.rule),
        };
        match groups.iter_mut().find(|(name, _)| *name == key) {
            Some((_, members)) => members.push(finding),
            None => groups.push((key, vec![finding])),
        }
    }
    groups
        .into_iter()
        .map(|(name, members)| (Some(format!("{name}: {} finding(s)", members.len())), members))
        .collect()
}

/// Words longer than this may be split across lines to fit a terminal (key ids never are):
/// below it, a column is left out instead of squeezed.
const SPLIT_WORDS_OVER: usize = 12;

/// The narrowest terminal every line fits: a record's widest label, `ACCESS KEY: ` (12
/// columns; the longest header is 10, plus `: `), beside an access key id (20), so a key id
/// is never split. Narrower terminals get the table drawn for this width.
pub const MIN_WIDTH: u16 = 32;

/// A table to lay out: its header and rows, which columns may be left out to fit a width (the
/// first named goes first), and which hold key ids (never split inside an id).
struct Layout<'a> {
    header: Vec<&'a str>,
    rows: Vec<Vec<Field>>,
    droppable: &'a [&'a str],
    key_columns: &'a [&'a str],
    /// The column of prose (the detail): other columns are left out before it is squeezed
    /// under this width; it is left out itself only when even [`SPLIT_WORDS_OVER`] is too wide.
    roomy: Option<(&'a str, usize)>,
}

impl Layout<'_> {
    /// The table as text, and the columns left out to fit `style.width` (none without one).
    /// When the columns that must stay cannot fit, the rows as records (nothing left out).
    fn render(&self, style: &TableStyle) -> (String, Vec<&str>) {
        let mut dropped: Vec<&str> = Vec::new();
        let mut roomy = self.roomy.is_some();
        if let Some(width) = style.width {
            // Leave columns out, in order, until the narrowest each kept column can be fits.
            loop {
                let next = self.droppable.iter().find(|name| !dropped.contains(name));
                // The prose column keeps its room while other columns can go instead; once it
                // is next to go, it is squeezed to its narrowest first.
                roomy = next.is_some_and(|name| Some(*name) != self.roomy.map(|(roomy, _)| roomy))
                    || self.narrowest(&dropped, true) <= usize::from(width);
                if self.narrowest(&dropped, roomy) <= usize::from(width) {
                    break;
                }
                match next {
                    Some(name) => dropped.push(name),
                    // A terminal narrower than the columns that stay.
                    None => return (self.records(style, width), Vec::new()),
                }
            }
            // A column left out early may fit again once a wider one went after it (the
            // detail, when it quotes a key id that must stay whole): put back what fits, the
            // last left out first.
            for at in (0..dropped.len()).rev() {
                let name = dropped.remove(at);
                if self.narrowest(&dropped, roomy) > usize::from(width) {
                    dropped.insert(at, name);
                }
            }
        }
        (self.draw(style, &dropped, roomy), dropped)
    }

    fn kept(&self, dropped: &[&str]) -> Vec<usize> {
        (0..self.header.len()).filter(|&i| !dropped.contains(&self.header[i])).collect()
    }

    /// Each row as a block under a rule: a `FIELD: value` line for each field with a value,
    /// the value wrapped beside its label (at spaces; a word is split only when wider than
    /// the value's room, which at [`MIN_WIDTH`] still holds a whole key id).
    fn records(&self, style: &TableStyle, width: u16) -> String {
        let label_width = self.header.iter().map(|name| display_width(name)).max().unwrap_or(0) + 2;
        let label_width = u16::try_from(label_width).unwrap_or(u16::MAX);
        let rule = "-".repeat(usize::from(width));
        let mut blocks = Vec::new();
        for row in &self.rows {
            let mut table = Table::new();
            table
                .load_preset(presets::NOTHING)
                .force_no_tty()
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width);
            if style.color {
                crossterm::style::force_color_output(true);
                table.enforce_styling();
                // Colour the words only: the padding after them is trimmed.
                table.style_text_only();
            }
            for (name, field) in self.header.iter().zip(row) {
                if field.text.trim().is_empty() {
                    continue;
                }
                // Wrapped here rather than by comfy-table, which would split a key id that
                // is part of a longer word (a finding id).
                let room = usize::from(width).saturating_sub(usize::from(label_width));
                let value: Vec<String> = field.text.lines().map(|line| wrap(line, room)).collect();
                table.add_row(vec![Cell::new(format!("{name}:")), field.cell(&value.join("\n"), style)]);
            }
            for (column, constraint) in table
                .column_iter_mut()
                .zip([Some(ColumnConstraint::Absolute(Width::Fixed(label_width))), None])
            {
                column.set_padding((0, 0));
                if let Some(constraint) = constraint {
                    column.set_constraint(constraint);
                }
            }
            blocks.push(format!("{rule}\n{}", table.trim_fmt()));
        }
        blocks.join("\n")
    }

    /// The narrowest column `i` can be without splitting a key id, the header's words, or
    /// any word up to [`SPLIT_WORDS_OVER`] wide (padding excluded).
    fn min_width(&self, i: usize, roomy: bool) -> usize {
        if let Some((name, width)) = self.roomy.filter(|_| roomy) {
            if self.header[i] == name {
                return width;
            }
        }
        let header = self.header[i].split_whitespace().map(display_width).max().unwrap_or(0);
        let key_column = self.key_columns.contains(&self.header[i]);
        // Long words may be split, but never one holding a key id (prose quotes them too: the
        // key to deactivate). A column too narrow for one is left out instead.
        let words = self
            .rows
            .iter()
            .flat_map(|row| row[i].text.split_whitespace())
            .map(|word| match key_column || holds_key_id(word) {
                true => display_width(word),
                false => display_width(word).min(SPLIT_WORDS_OVER),
            })
            .max()
            .unwrap_or(0);
        header.max(words)
    }

    /// The narrowest the table can be with these columns left out: each column, its padding
    /// (a space each side) and the borders (`|` between and around columns).
    fn narrowest(&self, dropped: &[&str], roomy: bool) -> usize {
        let kept = self.kept(dropped);
        kept.iter().map(|&i| self.min_width(i, roomy) + 3).sum::<usize>() + 1
    }

    fn draw(&self, style: &TableStyle, dropped: &[&str], roomy: bool) -> String {
        let kept = self.kept(dropped);
        let mut table = styled_table(kept.iter().map(|&i| self.header[i]), style);
        for row in &self.rows {
            table.add_row(kept.iter().map(|&i| row[i].cell(&row[i].text, style)));
        }
        if style.width.is_some() {
            for (column, &i) in kept.iter().enumerate() {
                // comfy-table's widths include the padding.
                let least = u16::try_from(self.min_width(i, roomy) + 2).unwrap_or(u16::MAX);
                if let Some(col) = table.column_mut(column) {
                    col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(least)));
                }
            }
        }
        table.to_string()
    }
}

/// The columns a line takes on a terminal: colour escapes take none.
fn display_width(line: &str) -> usize {
    let mut width = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI ... final byte (comfy-table's SGR sequences).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            width += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        }
    }
    width
}

/// `text` broken at spaces into lines of at most `width` columns, each indented as the first
/// (up to half the width); a word wider than a line is split, never inside a key id.
fn wrap(text: &str, width: usize) -> String {
    let rest = text.trim_start_matches(' ');
    let indent = " ".repeat((text.len() - rest.len()).min(width / 2));
    let mut lines: Vec<String> = Vec::new();
    let mut current = indent.clone();
    let mut used = indent.len();
    let mut has_word = false;
    for word in rest.split(' ') {
        let word_width = display_width(word);
        if has_word && used + 1 + word_width <= width {
            current.push(' ');
            current.push_str(word);
            used += 1 + word_width;
            continue;
        }
        if has_word {
            lines.push(std::mem::replace(&mut current, indent.clone()));
            used = indent.len();
        }
        has_word = true;
        let mut word = word;
        while used + display_width(word) > width {
            // The longest start of the word that fits; at least one character, so a line
            // always moves on.
            let mut end = 0;
            let mut end_width = 0;
            for (at, c) in word.char_indices() {
                let c_width = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if end > 0 && used + end_width + c_width > width {
                    break;
                }
                end = at + c.len_utf8();
                end_width += c_width;
            }
            // Not inside a key id (in a finding id): it starts the next line instead.
            if let Some(start) = key_id_across(word, end).filter(|&start| start > 0) {
                end = start;
            }
            current.push_str(&word[..end]);
            lines.push(std::mem::replace(&mut current, indent.clone()));
            used = indent.len();
            word = &word[end..];
        }
        current.push_str(word);
        used += display_width(word);
    }
    lines.push(current);
    lines.join("\n")
}

/// A cell's text, escaped for the terminal, and the severity it is coloured by, if any.
#[derive(Debug, Clone)]
struct Field {
    text: String,
    severity: Option<Severity>,
}

impl Field {
    /// The cell comfy-table lays out: `text` (this field's, or it wrapped), coloured when the
    /// style says so.
    fn cell(&self, text: &str, style: &TableStyle) -> Cell {
        let cell = Cell::new(text);
        let Some(severity) = self.severity.filter(|_| style.color) else {
            return cell;
        };
        match severity {
            Severity::Critical => cell.fg(Color::Red).add_attribute(Attribute::Bold),
            Severity::High => cell.fg(Color::Red),
            Severity::Medium => cell.fg(Color::Yellow),
            Severity::Low => cell.fg(Color::Cyan),
            Severity::Info => cell.fg(Color::DarkGrey),
        }
    }
}

/// Where the access key id that `at` falls inside starts in `word`, if `at` is inside one
/// (`AKIA`/`ASIA` and 16 more capital letters or digits).
fn key_id_across(word: &str, at: usize) -> Option<usize> {
    let bytes = word.as_bytes();
    (at.saturating_sub(KEY_ID_LEN - 1)..at)
        .find(|&start| bytes.get(start..start + KEY_ID_LEN).is_some_and(is_key_id))
}

/// An access key id's length: `AKIA` or `ASIA` and 16 more.
const KEY_ID_LEN: usize = 20;

fn is_key_id(id: &[u8]) -> bool {
    (id.starts_with(b"AKIA") || id.starts_with(b"ASIA"))
        && id.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Whether `word` holds an access key id anywhere.
fn holds_key_id(word: &str) -> bool {
    word.as_bytes().windows(KEY_ID_LEN).any(is_key_id)
}

/// A field of terminal text: control characters written as escapes, newlines kept (cells use
/// them between keys).
fn cell(text: impl AsRef<str>) -> Field {
    Field { text: escape_controls(text.as_ref(), true), severity: None }
}

/// The severity field, coloured when the style says so.
fn severity_cell(severity: Severity, text: String) -> Field {
    Field { severity: Some(severity), ..cell(text) }
}

/// Text lines around the tables, escaped like the cells; the tables are written as laid out.
struct Out<'a> {
    inner: &'a mut dyn Write,
    error: Option<io::Error>,
    /// Lines are wrapped at spaces to this width (the terminal's), if any.
    width: Option<usize>,
}

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.inner.write_all(escape_controls(text, true).as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

impl Out<'_> {
    fn table(&mut self, layout: Layout, style: &TableStyle) -> io::Result<()> {
        let (text, dropped) = layout.render(style);
        self.inner.write_all(text.as_bytes())?;
        self.inner.write_all(b"\n")?;
        if !dropped.is_empty() {
            self.line(format_args!(
                "(left out to fit {} columns: {})",
                style.width.unwrap_or_default(),
                dropped.join(", ")
            ))?;
        }
        Ok(())
    }

    fn line(&mut self, args: fmt::Arguments) -> io::Result<()> {
        // Wrapped as shown: escapes (`\u{1b}`) take their room (escaping twice changes
        // nothing). A newline in a value (an owner tag) is shown as `\n`: a line of prose
        // is one line, never a made-up line below it.
        let text = escape_controls(&args.to_string(), false);
        let text = match self.width {
            Some(width) => wrap(&text, width),
            None => text,
        };
        fmt::Write::write_fmt(self, format_args!("{text}\n")).map_err(|_| self.take_error())
    }

    fn take_error(&mut self) -> io::Error {
        self.error.take().unwrap_or_else(|| io::Error::other("formatting the table"))
    }
}

pub(super) fn render(report: &Report, style: &TableStyle, out: &mut dyn Write) -> io::Result<()> {
    let style = &TableStyle { width: style.width.map(|width| width.max(MIN_WIDTH)), ..*style };
    let mut out = Out { inner: out, error: None, width: style.width.map(usize::from) };
    let out = &mut out;
    let (counted, suppressed): (Vec<_>, Vec<_>) = report.findings.iter().partition(|f| !f.suppressed);
    if counted.is_empty() && report.complete {
        out.line(format_args!("No findings."))?;
    } else if counted.is_empty() {
        out.line(format_args!("No findings in the data collected, but the scan is INCOMPLETE (see below)."))?;
    } else {
        for (index, (heading, members)) in groups(&counted, style.group_by).into_iter().enumerate() {
            if let Some(heading) = heading {
                if index > 0 {
                    out.line(format_args!(""))?;
                }
                out.line(format_args!("{heading}"))?;
            }
            let rows = members
                .iter()
                .map(|f| {
                    let last_used = match (f.last_used_state, f.last_used) {
                        (_, Some(date)) => {
                            format!(
                                "{} ({}d ago)",
                                format_date(date),
                                f.days_since_last_use.unwrap_or_default()
                            )
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
                    vec![
                        severity_cell(f.severity, severity),
                        cell(f.rule.to_string()),
                        cell(&f.account_id),
                        cell(&f.user_name),
                        cell(f.owner.as_deref().unwrap_or("-")),
                        cell(f.user_path.as_deref().unwrap_or_default()),
                        cell(key_cell(f)),
                        cell(f.key_age_days.map(|d| format!("{d}d")).unwrap_or_default()),
                        cell(last_used),
                        cell(detail),
                        cell(f.user_arn.as_deref().unwrap_or_default()),
                    ]
                })
                .collect();
            let layout = Layout {
                header: vec![
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
                    "USER ARN",
                ],
                rows,
                // The ARN repeats the account, path and name; the message says the age and idle
                // days; the detail goes last, when it cannot be as wide as its widest word
                // that must stay whole (a quoted key id: 20 columns).
                droppable: &["USER ARN", "PATH", "OWNER", "LAST USED", "ACCOUNT", "AGE", "DETAIL"],
                key_columns: &["ACCESS KEY"],
                roomy: Some(("DETAIL", 30)),
            };
            out.table(layout, style)?;
        }
    }

    if !suppressed.is_empty() {
        out.line(format_args!(""))?;
        out.line(format_args!("SUPPRESSED FINDINGS (reported, not counted):"))?;
        let rows = suppressed
            .iter()
            .map(|f| {
                vec![
                    severity_cell(f.severity, f.severity.to_string()),
                    cell(f.rule.to_string()),
                    cell(&f.account_id),
                    cell(&f.user_name),
                    cell(f.user_path.as_deref().unwrap_or_default()),
                    cell(key_cell(f)),
                    cell(f.suppression_reason.as_deref().unwrap_or_default()),
                    cell(f.suppression_expires.map(|d| d.to_string()).unwrap_or_else(|| "never".into())),
                    cell(f.user_arn.as_deref().unwrap_or_default()),
                ]
            })
            .collect();
        let layout = Layout {
            header: vec![
                "SEVERITY",
                "RULE",
                "ACCOUNT",
                "USER",
                "PATH",
                "ACCESS KEY",
                "REASON",
                "EXPIRES",
                "USER ARN",
            ],
            rows,
            droppable: &["USER ARN", "PATH", "ACCOUNT", "EXPIRES"],
            key_columns: &["ACCESS KEY"],
            roomy: None,
        };
        out.table(layout, style)?;
    }

    let attention: Vec<_> =
        report.suppressions.iter().filter(|s| s.state != SuppressionState::Active).collect();
    if !attention.is_empty() {
        out.line(format_args!(""))?;
        out.line(format_args!("SUPPRESSIONS TO REVIEW:"))?;
        let rows = attention
            .iter()
            .map(|s| {
                vec![
                    cell(s.index.to_string()),
                    cell(match s.state {
                        SuppressionState::Expired => "expired (no longer applied)",
                        SuppressionState::Stale => "stale (matches nothing)",
                        SuppressionState::Active => "active",
                    }),
                    cell(&s.selector),
                    cell(&s.reason),
                    cell(s.expires.map(|d| d.to_string()).unwrap_or_else(|| "never".into())),
                ]
            })
            .collect();
        let layout = Layout {
            header: vec!["#", "STATE", "SELECTOR", "REASON", "EXPIRES"],
            rows,
            droppable: &[],
            key_columns: &[],
            roomy: None,
        };
        out.table(layout, style)?;
    }

    if !report.resolved.is_empty() {
        out.line(format_args!(""))?;
        out.line(format_args!(
            "RESOLVED SINCE THE BASELINE (gone from this complete scan of their account):"
        ))?;
        let rows = report
            .resolved
            .iter()
            .map(|r| {
                vec![
                    severity_cell(r.severity, r.severity.to_string()),
                    cell(r.rule.to_string()),
                    cell(&r.account_id),
                    cell(&r.user_name),
                    cell(r.key_ids.join("\n")),
                    cell(&r.finding_id),
                ]
            })
            .collect();
        let layout = Layout {
            header: vec!["SEVERITY", "RULE", "ACCOUNT", "USER", "ACCESS KEY", "FINDING ID"],
            rows,
            droppable: &["FINDING ID", "ACCOUNT"],
            key_columns: &["ACCESS KEY"],
            roomy: None,
        };
        out.table(layout, style)?;
    }

    if !report.errors.is_empty() {
        out.line(format_args!(""))?;
        out.line(format_args!("FAILED CALLS (the data below is missing from this report):"))?;
        let rows = report
            .errors
            .iter()
            .map(|e| {
                vec![
                    cell(e.account_id.as_deref().unwrap_or_default()),
                    cell(e.user_name.as_deref().unwrap_or_default()),
                    cell(e.access_key_id.as_deref().unwrap_or_default()),
                    cell(&e.operation),
                    cell(&e.code),
                    cell(&e.message),
                ]
            })
            .collect();
        let layout = Layout {
            header: vec!["ACCOUNT", "USER", "ACCESS KEY", "OPERATION", "CODE", "MESSAGE"],
            rows,
            droppable: &[],
            key_columns: &["ACCESS KEY"],
            roomy: None,
        };
        out.table(layout, style)?;
    }

    let s = &report.summary;
    let severities: Vec<String> =
        s.by_severity.iter().rev().map(|(level, n)| format!("{n} {level}")).collect();
    out.line(format_args!(""))?;
    out.line(format_args!(
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
    ))?;
    if report.accounts.len() > 1 {
        for a in &report.accounts {
            out.line(format_args!(
                "  account {}: {} users, {} keys ({} active), {} findings, {} failed calls",
                a.account_id, a.users, a.keys, a.active_keys, a.findings, a.errors
            ))?;
        }
    }
    if let Some(b) = &report.baseline {
        out.line(format_args!(
            "Baseline ({}): {} new, {} existing, {} resolved, {} not confirmed gone{}.",
            b.source,
            b.new,
            b.existing,
            b.resolved,
            b.unverified,
            if b.fail_on_new { "; --fail-on-new: only new findings count" } else { "" }
        ))?;
    }
    for a in &report.accounts {
        // Said for every account, so a clean root user reads as checked, not as forgotten.
        let root = match a.root_access_key {
            RootAccessKey::Present => "has an access key (see root-access-key)",
            RootAccessKey::Absent => "no access key (checked)",
            RootAccessKey::Unknown => "UNKNOWN (could not be read)",
        };
        out.line(format_args!("Root user of {}: {root}.", a.account_id))?;
    }
    for a in report.accounts.iter().filter(|a| a.credential_report_generated_at.is_some()) {
        out.line(format_args!(
            "Last use in account {} comes from its credential report generated {} (IAM's report can be up to 4 hours old).",
            a.account_id,
            a.credential_report_generated_at.map(format_date).unwrap_or_default()
        ))?;
    }
    out.line(format_args!(
        "Evaluated as of {}; data collected {}.",
        format_date(report.as_of),
        format_date(report.collected_at)
    ))?;
    if !s.complete {
        out.line(format_args!(
            "SCAN INCOMPLETE: {} call(s) failed after retries; findings may be missing.",
            s.errors
        ))?;
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

/// The plain table every text report uses (keys, plans, history).
pub(crate) fn new_table<const N: usize>(header: [&str; N]) -> Table {
    styled_table(header, &TableStyle::PLAIN)
}

/// A table in `style`: as wide as its content without a width, else wrapped to fit it;
/// colours only when asked (never from comfy-table's own terminal detection).
fn styled_table<'a>(header: impl IntoIterator<Item = &'a str>, style: &TableStyle) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN).force_no_tty();
    match style.width {
        Some(width) => table.set_content_arrangement(ContentArrangement::Dynamic).set_width(width),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    if style.color {
        // Whether to colour was decided at the edge (`--color`, NO_COLOR, the terminal);
        // crossterm, which writes comfy-table's colours, must not decide again from NO_COLOR.
        crossterm::style::force_color_output(true);
        table.enforce_styling();
    }
    table.set_header(header);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_splits_long_words_but_never_a_key_id() {
        assert_eq!(wrap("one two three", 7), "one two\nthree");
        assert_eq!(wrap("  indented text wraps", 12), "  indented\n  text wraps");
        assert_eq!(wrap("abcdefghij", 4), "abcd\nefgh\nij");
        // Wide characters take two columns each.
        assert_eq!(wrap("プラットフォーム", 5), "プラ\nット\nフォ\nーム");
        // The id inside a finding id starts a line rather than being cut.
        assert_eq!(
            wrap("rule:111122223333:alice:AKIARZ7EXAMPLECAROL1", 32),
            "rule:111122223333:alice:\nAKIARZ7EXAMPLECAROL1"
        );
        for width in 20..60 {
            let text = wrap("key-too-old:111122223333:a-long-user-name:AKIARZ7EXAMPLECAROL1 more", width);
            assert!(text.contains("AKIARZ7EXAMPLECAROL1"), "{width}: {text}");
            assert!(text.lines().all(|line| display_width(line) <= width), "{width}: {text}");
        }
    }
}
