//! `--format json`: the [`super::Report`] as one pretty-printed JSON object (schema in the
//! README).
//!
//! Rendering the report is most of the time of evaluating a large merged inventory, and
//! serde_json writes one stream on one core. So the three long arrays (`keys`, `users`,
//! `findings`) are rendered on every core, each element by serde_json as it would write it
//! in place, in batches written in order; the rest of the document is serde_json's rendering
//! of the report without them. The bytes are those of `serde_json::to_writer_pretty` (a test
//! holds them equal).

use std::io::{self, Write};

use rayon::prelude::*;
use serde::Serialize;

use super::{Coverage, Report};

/// Elements rendered by one rayon task.
const PER_TASK: usize = 256;
/// Tasks per core in a batch: enough that cores finishing early find more (the next batch,
/// rendered while this one is written, is more work for them too).
const TASKS_PER_THREAD: usize = 2;

/// The indentation of an array's elements at the top level of the report: two levels of
/// serde_json's two spaces.
const ELEMENT_INDENT: &[u8] = b"    ";

/// Elements rendered before they are written; two batches are held at once, one written
/// while the next renders (about 1 KiB an element: 2.5 MiB on 2 cores; with two batches of
/// twice this, org-40's peak was 76 MiB instead of 71, measured), so a report of millions
/// of findings is never whole in memory. (A fixed 16,384 added 25 MiB to the peak of a 7,500-key scan, measured.)
fn per_batch() -> usize {
    PER_TASK * TASKS_PER_THREAD * rayon::current_num_threads().max(1)
}

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let head = serde_json::to_vec_pretty(&without_rows(report))?;
    let mut rest = head.as_slice();
    rest = splice(&mut out, rest, "keys", &report.keys)?;
    rest = splice(&mut out, rest, "users", &report.users)?;
    rest = splice(&mut out, rest, "findings", &report.findings)?;
    out.write_all(rest)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The report with its long arrays empty. Every field is named, so that a field added to
/// [`Report`] is a compile error here rather than a field missing from the JSON.
fn without_rows(report: &Report) -> Report {
    let Report {
        schema_version,
        generated_at,
        as_of,
        collected_at,
        complete,
        accounts,
        summary,
        keys: _,
        users: _,
        findings: _,
        suppressions,
        errors,
        baseline,
        resolved,
        coverage: _,
        region: _,
        thresholds,
    } = report;
    Report {
        schema_version: *schema_version,
        generated_at: *generated_at,
        as_of: *as_of,
        collected_at: *collected_at,
        complete: *complete,
        accounts: accounts.clone(),
        summary: summary.clone(),
        keys: Vec::new(),
        users: Vec::new(),
        findings: Vec::new(),
        suppressions: suppressions.clone(),
        errors: errors.clone(),
        baseline: baseline.clone(),
        resolved: resolved.clone(),
        coverage: Coverage::default(),
        region: String::new(),
        thresholds: *thresholds,
    }
}

/// Writes `head` up to the top-level field `name` (rendered empty there), then `rows` as its
/// value; returns what follows in `head`. A top-level field is the only line that starts with
/// exactly two spaces and its quoted name: deeper lines are indented further, and a string
/// never holds a raw newline.
fn splice<'a, T: Serialize + Sync>(
    out: &mut impl Write,
    head: &'a [u8],
    name: &str,
    rows: &[T],
) -> io::Result<&'a [u8]> {
    let field = format!("\n  \"{name}\": []");
    let at = head
        .windows(field.len())
        .position(|window| window == field.as_bytes())
        .ok_or_else(|| io::Error::other(format!("the JSON report has no top-level `{name}` to fill")))?;
    let value = at + field.len() - "[]".len();
    out.write_all(&head[..value])?;
    write_array(out, rows)?;
    Ok(&head[value + "[]".len()..])
}

/// `rows` as serde_json's pretty printer writes an array at the report's top level.
fn write_array<T: Serialize + Sync>(out: &mut impl Write, rows: &[T]) -> io::Result<()> {
    if rows.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    let render = |batch: &[T]| -> io::Result<Vec<Vec<u8>>> {
        batch.par_chunks(PER_TASK).map(render_elements).collect()
    };
    let mut batches = rows.chunks(per_batch());
    let mut ready = batches.next().map(render).transpose()?;
    let mut first = true;
    while let Some(parts) = ready.take() {
        // The next batch is rendered while this one is written: written to a pipe, each
        // write waits for the reader, and the cores sat idle meanwhile (measured, 7,500 keys:
        // 62-71 ms to a pipe, 32-48 ms to /dev/null).
        let mut next = None;
        rayon::in_place_scope(|scope| {
            if let Some(batch) = batches.next() {
                scope.spawn(|_| next = Some(render(batch)));
            }
            for part in &parts {
                // Each element comes after a comma but the array's first.
                out.write_all(if first { &part[1..] } else { part })?;
                first = false;
            }
            io::Result::Ok(())
        })?;
        ready = next.transpose()?;
    }
    out.write_all(b"\n  ]")
}

/// `,` + newline + indent + element, for each of `rows`, each element rendered pretty and
/// indented to its place in the report.
fn render_elements<T: Serialize>(rows: &[T]) -> io::Result<Vec<u8>> {
    let mut part = Vec::with_capacity(rows.len() * 1024);
    let mut element = Vec::with_capacity(2048);
    for row in rows {
        element.clear();
        serde_json::to_writer_pretty(&mut element, row)?;
        part.push(b',');
        for line in element.split(|&byte| byte == b'\n') {
            part.push(b'\n');
            part.extend_from_slice(ELEMENT_INDENT);
            part.extend_from_slice(line);
        }
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::demo_report;
    use super::*;

    fn serde_json_rendering(report: &Report) -> Vec<u8> {
        let mut expected = serde_json::to_vec_pretty(report).unwrap();
        expected.push(b'\n');
        expected
    }

    fn rendered(report: &Report) -> Vec<u8> {
        let mut out = Vec::new();
        render(report, &mut out).unwrap();
        out
    }

    #[test]
    fn the_report_reads_byte_for_byte_as_serde_json_writes_it() {
        let demo = demo_report(|_| {});
        assert!(!demo.keys.is_empty() && !demo.users.is_empty() && !demo.findings.is_empty());
        assert_eq!(
            String::from_utf8(rendered(&demo)).unwrap(),
            String::from_utf8(serde_json_rendering(&demo)).unwrap()
        );

        // Empty arrays, and a value that looks like a field inside a string.
        let empty = demo_report(|report| {
            report.keys.clear();
            report.users.clear();
            report.findings.clear();
            report.errors.clear();
        });
        assert_eq!(rendered(&empty), serde_json_rendering(&empty));
        let tricky = demo_report(|report| {
            report.findings[0].message = "\n  \"keys\": []\n\"findings\": [],".into();
            report.users.clear();
        });
        assert_eq!(rendered(&tricky), serde_json_rendering(&tricky));
    }

    #[test]
    fn arrays_longer_than_a_batch_keep_their_order() {
        let large = demo_report(|report| {
            let findings = report.findings.clone();
            let keys = report.keys.clone();
            while report.findings.len() < per_batch() * 2 + PER_TASK + 7 {
                for (index, finding) in findings.iter().enumerate() {
                    let mut finding = finding.clone();
                    finding.finding_id = format!("{}#{}-{index}", finding.finding_id, report.findings.len());
                    report.findings.push(finding);
                }
                report.keys.extend(keys.iter().cloned());
            }
        });
        assert_eq!(rendered(&large), serde_json_rendering(&large));
    }
}
