//! `--format html` (and `.html` files): one self-contained page for a reviewer, to open from
//! a mail attachment or a CI artifact viewer. No network at all (a Content-Security-Policy
//! says so to the browser): the CSS and the small sorting/filtering script are inline, and the
//! charts are SVG drawn by `plotters` and embedded in the page.
//!
//! The page comes from a minijinja template (`templates/report.html`), whose `.html` name turns
//! on HTML auto-escaping: every value from IAM or a config (user names hold `+=,.@_-`, tags,
//! suppression reasons, error messages hold anything) goes through it. Only three values are
//! marked safe: the CSS and the script (constant files of this crate) and the charts (SVG
//! whose only text is numbers and this module's captions). The script reads the DOM and
//! carries no data, so no IAM value is ever inside a `<script>`.
//!
//! The verdict and each finding's `failing` are the gate's ([`super::Summary::failing`],
//! [`super::FindingRow::failing`]); the thresholds drawn are the ones the rules used
//! ([`super::Report::thresholds`]).

use std::io::{self, Write};

use minijinja::value::Serde;
use minijinja::{Environment, Value};
use plotters::prelude::*;
use serde::Serialize;

use super::{format_date, LastUsedState, Report, RootAccessKey};
use crate::finding::{RuleId, Severity};
use crate::model::KeyStatus;
use crate::rules::days_between;

const TEMPLATE: &str = include_str!("templates/report.html");
const CSS: &str = include_str!("templates/report.css");
const SCRIPT: &str = include_str!("templates/report.js");

pub(super) fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut env = Environment::new();
    // The `.html` name is what turns auto-escaping on (minijinja's default callback).
    env.add_template("report.html", TEMPLATE).map_err(io::Error::other)?;
    let page = env
        .get_template("report.html")
        .and_then(|template| template.render(Serde(Page::of(report)?)))
        .map_err(io::Error::other)?;
    out.write_all(page.as_bytes())
}

/// What the template shows: the report's data put in display order, nothing decided here.
#[derive(Serialize)]
struct Page {
    verdict: String,
    verdict_class: &'static str,
    as_of: String,
    collected_at: String,
    generated_at: String,
    complete: bool,
    summary: super::Summary,
    severities: Vec<SeverityCount>,
    baseline: Option<super::BaselineSummary>,
    accounts: Vec<AccountLine>,
    rules: Vec<RuleLine>,
    max_key_age_days: u32,
    unused_days: u32,
    never_used: usize,
    unknown_use: usize,
    findings: Vec<FindingLine>,
    errors: Vec<crate::model::ScanError>,
    age_chart: Value,
    last_use_chart: Value,
    css: Value,
    script: Value,
}

#[derive(Serialize)]
struct SeverityCount {
    name: Severity,
    count: usize,
}

#[derive(Serialize)]
struct AccountLine {
    account_id: String,
    users: usize,
    keys: usize,
    active_keys: usize,
    findings: usize,
    errors: usize,
    root: &'static str,
    source: String,
}

#[derive(Serialize)]
struct RuleLine {
    rule: RuleId,
    findings: usize,
    failing: usize,
    suppressed: usize,
}

#[derive(Serialize)]
struct FindingLine {
    finding_id: String,
    severity: Severity,
    /// 0 for critical .. 4 for info: sorting by severity puts the most severe first.
    severity_rank: usize,
    failing: bool,
    suppressed: bool,
    suppression_reason: Option<String>,
    baseline_state: Option<&'static str>,
    rule: RuleId,
    account_id: String,
    user_name: String,
    user_arn: Option<String>,
    privileged: bool,
    privileged_via: String,
    access_key_id: String,
    other_keys: Vec<String>,
    age: String,
    age_sort: String,
    idle: String,
    idle_sort: String,
    owner: String,
    message: String,
}

impl Page {
    fn of(report: &Report) -> Result<Page, minijinja::Error> {
        let chart_error = |e: io::Error| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("drawing a chart: {e}"))
        };
        let thresholds = report.thresholds;
        let active: Vec<_> = report.keys.iter().filter(|key| key.status == KeyStatus::Active).collect();

        let ages: Vec<(i64, usize)> = report
            .keys
            .iter()
            .map(|key| (key.age_days, usize::from(key.status != KeyStatus::Active)))
            .collect();
        // key-too-old flags an age over the limit: the first flagged age is one more.
        let age_chart = histogram(
            &ages,
            &["active", "inactive"],
            i64::from(thresholds.max_key_age_days) + 1,
            &format!("max-key-age-days {}", thresholds.max_key_age_days),
            "key age (days)",
        )
        .map_err(chart_error)?;
        let idle: Vec<(i64, usize)> = active
            .iter()
            .filter_map(|key| key.last_used.map(|date| (days_between(date, report.as_of), 0)))
            .collect();
        // key-unused flags idle days at or over the limit.
        let last_use_chart = histogram(
            &idle,
            &["active"],
            i64::from(thresholds.unused_days),
            &format!("unused-days {}", thresholds.unused_days),
            "days since last use",
        )
        .map_err(chart_error)?;

        let (verdict, verdict_class) = (super::markdown::verdict(report), verdict_class(report));
        Ok(Page {
            verdict,
            verdict_class,
            as_of: format_date(report.as_of),
            collected_at: format_date(report.collected_at),
            generated_at: format_date(report.generated_at),
            complete: report.complete,
            summary: report.summary.clone(),
            severities: Severity::ALL
                .iter()
                .map(|&name| SeverityCount {
                    name,
                    count: report.summary.by_severity.get(&name).copied().unwrap_or_default(),
                })
                .collect(),
            baseline: report.baseline.clone(),
            accounts: report.accounts.iter().map(AccountLine::of).collect(),
            rules: RuleId::ALL
                .iter()
                .map(|&rule| {
                    let of_rule = || report.findings.iter().filter(move |f| f.rule == rule);
                    RuleLine {
                        rule,
                        findings: of_rule().count(),
                        failing: of_rule().filter(|f| f.failing).count(),
                        suppressed: of_rule().filter(|f| f.suppressed).count(),
                    }
                })
                .collect(),
            max_key_age_days: thresholds.max_key_age_days,
            unused_days: thresholds.unused_days,
            never_used: active.iter().filter(|k| k.last_used_state == LastUsedState::Never).count(),
            unknown_use: active.iter().filter(|k| k.last_used_state == LastUsedState::Unknown).count(),
            findings: report.findings.iter().map(FindingLine::of).collect(),
            errors: report.errors.clone(),
            age_chart: Value::from_safe_string(age_chart),
            last_use_chart: Value::from_safe_string(last_use_chart),
            css: Value::from_safe_string(CSS.to_string()),
            script: Value::from_safe_string(SCRIPT.to_string()),
        })
    }
}

/// The CSS class of the verdict, from the gate's numbers (as [`super::markdown::verdict`]).
fn verdict_class(report: &Report) -> &'static str {
    if !report.summary.complete {
        "incomplete"
    } else if report.summary.failing > 0 {
        "fail"
    } else {
        "pass"
    }
}

impl AccountLine {
    fn of(a: &super::AccountSummary) -> AccountLine {
        AccountLine {
            account_id: a.account_id.clone(),
            users: a.users,
            keys: a.keys,
            active_keys: a.active_keys,
            findings: a.findings,
            errors: a.errors,
            root: match a.root_access_key {
                RootAccessKey::Present => "has an access key",
                RootAccessKey::Absent => "no access key (checked)",
                RootAccessKey::Unknown => "unknown (could not be read)",
            },
            source: match a.credential_report_generated_at {
                Some(at) => format!("credential report generated {}", format_date(at)),
                None => "GetAccessKeyLastUsed".to_string(),
            },
        }
    }
}

impl FindingLine {
    fn of(f: &super::FindingRow) -> FindingLine {
        let number = |days: Option<i64>| days.map(|d| d.to_string()).unwrap_or_default();
        let idle = match (f.days_since_last_use, f.last_used_state) {
            (Some(days), _) => days.to_string(),
            (None, Some(state)) => state.as_str().to_string(),
            (None, None) => String::new(),
        };
        FindingLine {
            finding_id: f.finding_id.clone(),
            severity: f.severity,
            severity_rank: Severity::ALL.iter().position(|&s| s == f.severity).unwrap_or_default(),
            failing: f.failing,
            suppressed: f.suppressed,
            suppression_reason: f.suppression_reason.clone(),
            baseline_state: f.baseline_state.map(|state| state.as_str()),
            rule: f.rule,
            account_id: f.account_id.clone(),
            user_name: f.user_name.clone(),
            user_arn: f.user_arn.clone(),
            privileged: f.privileged == Some(true),
            privileged_via: f.privileged_via.join("; "),
            access_key_id: f.access_key_id.clone().unwrap_or_default(),
            other_keys: f
                .key_ids
                .iter()
                .filter(|id| Some(id.as_str()) != f.access_key_id.as_deref())
                .cloned()
                .collect(),
            age: number(f.key_age_days),
            age_sort: number(f.key_age_days),
            idle,
            idle_sort: number(f.days_since_last_use),
            owner: f.owner.clone().unwrap_or_default(),
            message: f.message.clone(),
        }
    }
}

const SERIES_COLOURS: [RGBColor; 2] = [RGBColor(9, 105, 218), RGBColor(140, 149, 159)];
const LINE_COLOUR: RGBColor = RGBColor(164, 14, 38);

/// Bins `[start + k*width, start + (k+1)*width)` for `k` in `0..bins`, about 15 of them over
/// `0..=largest` (and the threshold), with `flagged_from` on an edge.
fn bin_layout(largest: i64, flagged_from: i64) -> (i64, i64, usize) {
    let largest = largest.max(flagged_from).max(1);
    let width = (largest / 15).max(1);
    let start = flagged_from.rem_euclid(width) - width;
    let bins = usize::try_from((largest - start) / width + 1).unwrap_or(1);
    (start, width, bins)
}

/// A histogram of whole-day values, stacked by series (`values` are `(days, series index)`),
/// with a vertical line at `flagged_from`, the first value the rule flags. The bins are cut so
/// that the line falls on a bin edge: every bar is wholly on one side of it.
fn histogram(
    values: &[(i64, usize)],
    series: &[&str],
    flagged_from: i64,
    line_label: &str,
    x_desc: &str,
) -> io::Result<String> {
    let largest = values.iter().map(|&(days, _)| days).max().unwrap_or(0);
    let (start, width, bins) = bin_layout(largest, flagged_from);
    let mut counts = vec![vec![0u32; series.len()]; bins];
    for &(days, index) in values {
        let bin = usize::try_from((days.max(0) - start) / width).unwrap_or(0).min(bins - 1);
        counts[bin][index] += 1;
    }
    let tallest = counts.iter().map(|stack| stack.iter().sum::<u32>()).max().unwrap_or(0);
    let y_end = tallest + 1;
    let x_end = (start + width * i64::try_from(bins).unwrap_or(1)) as f64;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 300)).into_drawing_area();
        let chart_error = |e: DrawingAreaErrorKind<io::Error>| io::Error::other(e.to_string());
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..x_end, 0u32..y_end)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc("keys")
            .y_labels(usize::try_from(y_end).unwrap_or(1).clamp(2, 10))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(chart_error)?;
        for (index, name) in series.iter().enumerate() {
            let colour = SERIES_COLOURS[index % SERIES_COLOURS.len()];
            let bars = counts.iter().enumerate().filter(|(_, stack)| stack[index] > 0).map(|(bin, stack)| {
                let below: u32 = stack[..index].iter().sum();
                let left = (start + width * bin as i64).max(0) as f64;
                let right = (start + width * (bin as i64 + 1)) as f64;
                Rectangle::new([(left, below), (right, below + stack[index])], colour.filled())
            });
            chart
                .draw_series(bars)
                .map_err(chart_error)?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        let line = flagged_from as f64;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(line, 0), (line, y_end)],
                LINE_COLOUR.stroke_width(2),
            )))
            .map_err(chart_error)?
            .label(line_label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], LINE_COLOUR.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_support::demo_report;
    use crate::report::Format;

    fn rendered(report: &Report) -> String {
        crate::report::test_support::rendered(Format::Html, report)
    }

    #[test]
    fn hostile_iam_values_are_escaped_everywhere_they_appear() {
        let hostile = "<script>alert(1)</script>\"onload=alert(2) x='y'&";
        let report = demo_report(|r| {
            let f = &mut r.findings[0];
            f.user_name = format!("ci+deploy=,.@_-{hostile}");
            f.owner = Some(hostile.into());
            f.message = hostile.into();
            f.user_arn = Some(hostile.into());
            f.suppression_reason = Some(hostile.into());
            f.privileged = Some(true);
            f.privileged_via = vec![hostile.into()];
            f.finding_id = hostile.into();
            r.accounts[0].account_id = hostile.into();
        });
        let html = rendered(&report);
        // The page's own script is the only one, and no attribute was opened by a value.
        assert_eq!(html.matches("<script>").count(), 1, "{html}");
        assert!(!html.contains("alert(1)</script>"), "{html}");
        assert!(!html.contains("\"onload="), "{html}");
        assert!(!html.contains("x='y'"), "{html}");
        assert!(html.contains(
            "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;&quot;onload=alert(2) x=&#x27;y&#x27;&amp;"
        ));
        assert!(html.contains("ci+deploy=,.@_-&lt;script&gt;"), "IAM's own characters stay readable");
    }

    #[test]
    fn the_page_needs_no_network_and_shows_everything_without_scripts() {
        let report = demo_report(|_| {});
        let html = rendered(&report);
        assert!(html.contains("default-src 'none'"), "a CSP forbids every request");
        for reference in ["http://", "https://", "src=", "href=", "@import", "url("] {
            // The SVG namespace is a name, not a request.
            let found = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!found.contains(reference), "{reference} in the page");
        }
        // Every finding is in the HTML itself; only the filter controls wait for the script.
        for f in &report.findings {
            let escaped = f.finding_id.replace('<', "&lt;").replace('>', "&gt;");
            assert!(html.contains(&format!("<code class=\"id\">{escaped}</code>")), "{}", f.finding_id);
        }
        assert_eq!(html.matches("<tr class=\"sev-").count(), report.findings.len());
        assert!(html.contains("<div id=\"controls\" hidden>"));
        assert!(html.contains(&super::super::markdown::verdict(&report)));
    }

    #[test]
    fn charts_are_svg_with_the_rule_thresholds_from_the_report() {
        let report = demo_report(|r| {
            r.thresholds.max_key_age_days = 120;
            r.thresholds.unused_days = 60;
        });
        let html = rendered(&report);
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(html.contains("max-key-age-days 120") && html.contains("unused-days 60"), "{html}");
        assert!(!html.contains("max-key-age-days 90"));
    }

    #[test]
    fn histogram_bins_never_straddle_the_threshold() {
        // Ages 90 (compliant) and 91 (flagged) land in different bars, whatever the bin width.
        for (largest, flagged_from) in [(20, 91), (95, 91), (400, 91), (5000, 91), (3, 45), (700, 1)] {
            let (start, width, bins) = bin_layout(largest, flagged_from);
            let bin = |days: i64| (days - start) / width;
            assert!(start <= 0, "{largest}");
            assert_ne!(bin(flagged_from - 1), bin(flagged_from), "{largest} {flagged_from} width {width}");
            assert!(bin(largest) < bins as i64 && bin(flagged_from) < bins as i64);
            assert!((8..=32).contains(&bins) || width == 1, "{bins} bins");
            let values = [(flagged_from - 1, 0), (flagged_from, 0), (largest, 0)];
            assert!(histogram(&values, &["active"], flagged_from, "limit", "days")
                .unwrap()
                .starts_with("<svg"));
        }
    }
}
