//! Orchestration: a validated plan in, an exit status out. Data flows one way:
//! source -> inventory -> rules -> findings -> gate + reports.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{RulesArgs, RulesFormat, ScanPlan, Source, UsageError};
use crate::exit::{ExitStatus, Gate};
use crate::model::{Inventory, INVENTORY_SCHEMA_VERSION};
use crate::report::{Format, Report};
use crate::rules::{evaluate, RuleId, RULES};
use crate::{config, crawl};

/// The bundled demo: a realistic inventory that triggers every rule.
pub const DEMO_INVENTORY: &str = include_str!("../demo/inventory.json");

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("{0}")]
    Runtime(String),
}

impl AppError {
    pub fn status(&self) -> ExitStatus {
        match self {
            AppError::Usage(_) => ExitStatus::Usage,
            AppError::Runtime(_) => ExitStatus::ScanFailed,
        }
    }
}

fn usage(message: String) -> AppError {
    AppError::Usage(UsageError(message))
}

pub fn scan(plan: ScanPlan) -> Result<ExitStatus, AppError> {
    if plan.dump_config {
        write_stdout(config::dump(&plan.settings).as_bytes())?;
        return Ok(ExitStatus::Clean);
    }

    let inventory = match &plan.source {
        Source::Demo => parse_inventory("the demo inventory", DEMO_INVENTORY)?,
        Source::File(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("--inventory {}: cannot read it: {e}", path.display())))?;
            parse_inventory(&format!("--inventory {}", path.display()), &text)?
        }
        Source::Live { connect, crawl, progress } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))?;
            let bar = progress_bar(*progress);
            let inventory = runtime.block_on(async {
                let connection = crawl::connect(connect).await;
                crawl::scan(&connection, crawl, &bar).await
            });
            bar.0.finish_and_clear();
            inventory
        }
    };

    if let Some(path) = &plan.save_inventory {
        let json = serde_json::to_vec_pretty(&inventory).map_err(|e| AppError::Runtime(e.to_string()))?;
        write_file("--save-inventory", path, &json)?;
    }

    let as_of = plan.as_of.unwrap_or(inventory.collected_at);
    let findings = evaluate(&inventory, &plan.settings.rules, as_of);
    let gate = Gate::new(&findings, plan.settings.fail_on, inventory.is_complete());
    let report = Report::build(&inventory, &findings, &gate, as_of, Utc::now());

    for (format, path) in &plan.outputs {
        write_file("--output", path, &render(*format, &report)?)?;
    }
    write_stdout(&render(plan.stdout_format, &report)?)?;
    if !gate.complete {
        eprintln!(
            "keyaudit: scan incomplete: {} call(s) failed after retries; the report lacks that data",
            inventory.errors.len()
        );
        if let Some(first) = inventory.errors.first() {
            eprintln!("keyaudit: first failure: {} {}: {}", first.operation, first.code, first.message);
        }
    }
    Ok(gate.status())
}

pub fn rules(args: RulesArgs) -> Result<ExitStatus, AppError> {
    let selected: Vec<_> = match &args.rule {
        Some(id) => {
            let rule_id: RuleId = id.parse().map_err(usage)?;
            vec![rule_id.rule()]
        }
        None => RULES.iter().collect(),
    };
    let mut out = Vec::new();
    match args.format {
        RulesFormat::Json => {
            let rows: Vec<_> = selected
                .iter()
                .map(|rule| {
                    serde_json::json!({
                        "id": rule.id,
                        "default_severity": rule.default_severity,
                        "threshold": rule.threshold.map(|t| t.key()),
                        "threshold_default": rule.threshold.map(|t| crate::rules::Thresholds::default().get(t)),
                        "summary": rule.summary,
                        "rationale": rule.rationale,
                        "standards": rule.standards,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &rows).map_err(|e| AppError::Runtime(e.to_string()))?;
            out.push(b'\n');
        }
        RulesFormat::Table => {
            for rule in selected {
                let threshold = rule
                    .threshold
                    .map(|t| {
                        format!("--{} (default {})", t.key(), crate::rules::Thresholds::default().get(t))
                    })
                    .unwrap_or_else(|| "none".into());
                let text = format!(
                    "{}  [{}]\n  {}\n  Why: {}\n  Threshold: {}\n  Maps to: {}\n\n",
                    rule.id, rule.default_severity, rule.summary, rule.rationale, threshold, rule.standards
                );
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    write_stdout(&out)?;
    Ok(ExitStatus::Clean)
}

pub fn parse_inventory(what: &str, text: &str) -> Result<Inventory, AppError> {
    // Check the version first so an old or future file gets a clear message, not a
    // confusing field error.
    let version = serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| usage(format!("{what}: not valid JSON: {e}")))?
        .get("schema_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(INVENTORY_SCHEMA_VERSION)) {
        return Err(usage(format!(
            "{what}: not a keyaudit inventory of schema_version {INVENTORY_SCHEMA_VERSION} (found {})",
            version.map_or("none".to_string(), |v| v.to_string())
        )));
    }
    serde_json::from_str(text).map_err(|e| usage(format!("{what}: not a keyaudit inventory: {e}")))
}

fn render(format: Format, report: &Report) -> Result<Vec<u8>, AppError> {
    let mut buffer = Vec::new();
    format
        .render(report, &mut buffer)
        .map_err(|e| AppError::Runtime(format!("rendering the report: {e}")))?;
    Ok(buffer)
}

fn write_file(flag: &str, path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    std::fs::write(path, bytes).map_err(|e| usage(format!("{flag} {}: cannot write it: {e}", path.display())))
}

/// A closed pipe (`keyaudit scan | head`) is not an error: the reader got what it wanted.
fn write_stdout(bytes: &[u8]) -> Result<(), AppError> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(AppError::Runtime(format!("writing to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

struct Bar(ProgressBar);

impl crawl::Progress for Bar {
    fn user_done(&self) {
        self.0.inc(1);
    }
}

/// A spinner on stderr, only when stderr is a terminal and not turned off.
fn progress_bar(enabled: bool) -> Bar {
    if !enabled || !io::stderr().is_terminal() {
        return Bar(ProgressBar::hidden());
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} scanning IAM: {pos} users done ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    Bar(bar)
}
