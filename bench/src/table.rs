//! The Markdown results table and the details under it.

use std::fmt::Write as _;

use crate::runner::RunResult;
use crate::sim::Action;

pub const HEADER: [&str; 16] = [
    "scenario",
    "accounts x users",
    "keys",
    "latency",
    "rate/burst",
    "concurrency",
    "calls (needed / made)",
    "throttled",
    "wall s",
    "bound s",
    "ratio",
    "peak RSS MiB",
    "connections (peak open)",
    "throttled share",
    "missing",
    "exit",
];

/// `12345` -> `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_rate(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// One table row.
pub fn row(result: &RunResult) -> Vec<String> {
    let scenario = &result.scenario;
    let bounds = scenario.bounds();
    let bound = bounds.bound();
    let wall = result.wall.as_secs_f64();
    let users = format!("{} x {}", thousands(scenario.accounts as u64), thousands(scenario.users as u64));
    let rate = match scenario.rate_limit {
        Some(limit) => format!("{}/{}", fmt_rate(limit.rate), fmt_rate(limit.burst)),
        None => "none".to_string(),
    };
    let concurrency = match scenario.concurrency {
        Some(_) => scenario.effective_concurrency().to_string(),
        None => format!("{} (default)", scenario.effective_concurrency()),
    };
    let missing = match &result.report {
        Some(report) => {
            let users = scenario.total_users() as i64 - report.users as i64;
            let keys = scenario.keys() as i64 - report.keys as i64;
            let mut cell = format!("{users} / {keys}");
            if report.last_used_unknown > 0 {
                let _ = write!(cell, " (+{} last-use unknown)", thousands(report.last_used_unknown));
            }
            if !report.complete {
                cell.push_str(", incomplete");
            }
            cell
        }
        None => "no report".to_string(),
    };
    vec![
        scenario.name.clone(),
        users,
        thousands(scenario.keys() as u64),
        scenario.latency.to_string(),
        rate,
        concurrency,
        format!("{} / {}", thousands(bounds.calls_needed), thousands(result.stats.requests)),
        thousands(result.stats.throttled),
        format!("{wall:.1}"),
        format!("{bound:.1} ({})", bounds.binding()),
        if bound > 0.0 { format!("{:.2}", wall / bound) } else { "-".to_string() },
        result.peak_rss_kib.map(|kib| format!("{:.1}", kib as f64 / 1024.0)).unwrap_or("?".to_string()),
        format!(
            "{} ({})",
            thousands(result.stats.connections),
            thousands(result.stats.peak_open_connections)
        ),
        if result.stats.requests > 0 {
            format!("{:.1}%", 100.0 * result.stats.throttled as f64 / result.stats.requests as f64)
        } else {
            "-".to_string()
        },
        missing,
        result.exit.to_string(),
    ]
}

pub fn markdown(results: &[RunResult]) -> String {
    let mut out = String::new();
    let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(&HEADER.map(str::to_string)));
    out.push_str(&line(&HEADER.map(|_| "---".to_string())));
    for result in results {
        out.push_str(&line(&row(result)));
    }
    out
}

/// Notes, per-action counts, keyaudit's errors and the end of its stderr.
pub fn details(results: &[RunResult]) -> String {
    let mut out = String::new();
    for result in results {
        let scenario = &result.scenario;
        let _ = writeln!(out, "- **{}**: keyaudit {}", scenario.name, scenario.keyaudit_args().join(" "));
        if let Some(note) = &scenario.note {
            let _ = writeln!(out, "  - note: {note}");
        }
        let per_action: Vec<String> = Action::ALL
            .iter()
            .filter(|a| result.stats.action(**a) > 0)
            .map(|a| {
                format!(
                    "{} {} ({} throttled)",
                    a.name(),
                    thousands(result.stats.action(*a)),
                    thousands(result.stats.action_throttled(*a))
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  - calls: {}; peak in flight at the simulator: {}",
            per_action.join(", "),
            result.stats.peak_in_flight
        );
        if result.stats.account_spans.len() > 1 {
            let mut starts: Vec<f64> = result.stats.account_spans.iter().map(|span| span.0).collect();
            let mut ends: Vec<f64> = result.stats.account_spans.iter().map(|span| span.1).collect();
            let mut lengths: Vec<f64> =
                result.stats.account_spans.iter().map(|span| span.1 - span.0).collect();
            for values in [&mut starts, &mut ends, &mut lengths] {
                values.sort_by(f64::total_cmp);
            }
            let summary = |values: &[f64]| {
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    values[0],
                    values[values.len() / 2],
                    values[values.len() - 1]
                )
            };
            let _ = writeln!(
                out,
                "  - accounts (min / median / max s): first IAM call at {}; last at {}; crawl time {}",
                summary(&starts),
                summary(&ends),
                summary(&lengths)
            );
        }
        if result.stats.expired_token > 0 {
            let _ = writeln!(out, "  - refused with ExpiredToken: {}", result.stats.expired_token);
        }
        let wall = result.wall.as_secs_f64();
        if wall > 0.0 {
            let _ = writeln!(
                out,
                "  - achieved: {:.1} calls/s made, {:.1} calls/s answered without throttling",
                result.stats.requests as f64 / wall,
                (result.stats.requests - result.stats.throttled) as f64 / wall
            );
            let span = result.stats.last_answer - result.stats.first_request;
            if span > 0.0 && result.stats.requests > 0 {
                let _ = writeln!(
                    out,
                    "  - at the simulator: first call {:.2} s after it started, last answer {:.2} s after \
                     that; mean in flight over that span {:.1}; mean time per call {:.1} ms",
                    result.stats.first_request,
                    span,
                    result.stats.busy / span,
                    result.stats.busy / result.stats.requests as f64 * 1000.0
                );
            }
        }
        if let Some(report) = &result.report {
            if !report.errors.is_empty() {
                let errors: Vec<String> =
                    report.errors.iter().map(|(what, n)| format!("{what}: {}", thousands(*n))).collect();
                let _ = writeln!(out, "  - keyaudit errors[]: {}", errors.join(", "));
            }
        }
        if result.report.as_ref().is_none_or(|r| !r.complete) && !result.stderr_tail.is_empty() {
            let _ = writeln!(out, "  - keyaudit stderr (last lines):");
            for l in &result.stderr_tail {
                let _ = writeln!(out, "    > {l}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_506), "12,506");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
