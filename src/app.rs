//! Orchestration: a validated plan in, an exit status out. Data flows one way:
//! source -> inventory -> rules -> findings -> gate + reports.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use crate::baseline::{Baseline, BaselineFinding};
use crate::cli::{
    error_line, BaselineSource, HistoryCommand, HistoryTarget, KeysCommand, RemediateArgs, RulesArgs,
    RulesFormat, ScanPlan, SecretArgs, Source, UsageError,
};
use crate::exit::{ExitStatus, Gate};
use crate::history::render as history_render;
use crate::history::{HistoryError, RunMeta, Store};
use crate::keys::{
    plan_create, plan_delete, plan_rotate, plan_set_status, KeyOps, OpError, SecretSink, Step,
};
use crate::model::{Inventory, KeyStatus, INVENTORY_SCHEMA_VERSION};
use crate::output::{Destination, Input, Mode};
use crate::publish::security_hub;
use crate::remediate::apply::{Outcome, Stopped};
use crate::remediate::audit_log::{self, AuditLog};
use crate::report::{render_keys, render_plan, BaselineSummary, Format, KeyRow, Report, ResolvedRow};
use crate::rules::{evaluate, RuleId, RULES};
use crate::{config, crawl, output};

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
    // Every input is checked before the crawl: a history that is not one, or a baseline that
    // is not a report, is exit 2 with nothing scanned and the file untouched.
    let mut store = match &plan.history {
        Some(path) => Some(Store::open(path, true).map_err(history_error)?),
        None => None,
    };
    let report_baseline = match &plan.baseline {
        Some(BaselineSource::Report(path)) => Some(read_baseline(path)?),
        _ => None,
    };

    // --publish: one runtime for the crawl and the publish, so the publish reaches each
    // account with the crawl's own connections and credentials (no role assumed twice).
    let runtime = plan.publish.map(|_| publish_runtime()).transpose()?;
    let (inventory, sessions) = load_inventory(&plan, runtime.as_ref())?;
    let mut failures = Vec::new();
    let baseline = match (&plan.baseline, &store) {
        (Some(BaselineSource::History), Some(store)) => match history_baseline(store, &inventory) {
            Ok(baseline) => Some(baseline),
            Err(e) => {
                // Without its baseline every finding counts, as if new: fail closed.
                failures.push(format!("--baseline history: {e}"));
                None
            }
        },
        _ => report_baseline,
    };
    let mut evaluated = evaluate_plan(&plan, &inventory, baseline.as_ref());
    let publisher = match (plan.publish, runtime) {
        (Some(target), Some(runtime)) => Some(Publisher::connect(&plan, target, runtime, sessions)?),
        _ => None,
    };
    if let Some(publisher) = &publisher {
        // Security Hub takes findings for the region it is called in: the ASFF file written
        // beside it says the same region.
        evaluated.report.region = publisher.region.clone();
    }
    if let Some(store) = store.as_mut() {
        let meta = RunMeta {
            as_of: evaluated.report.as_of,
            recorded_at: Utc::now(),
            source: source_name(&plan.source),
            settings: &plan.settings.rules,
            fail_on: plan.settings.fail_on.as_str(),
            suppressions: plan.settings.suppressions.iter().map(|s| s.selector()).collect(),
        };
        if let Err(e) = store.record(&inventory, &evaluated.findings, &meta) {
            failures.push(e.to_string());
        }
    }
    let style = crate::report::TableStyle {
        group_by: plan.group_by,
        ..crate::cli::table_style(plan.color, &stdout_info())
    };
    // The files and stdout are rendered at the same time, on every core: for a large
    // Organization this is most of the run (measured in keyaudit-scale-bench).
    let (written, printed) = rayon::join(
        || write_outputs(&plan, &inventory, &evaluated.report),
        || render_stdout(plan.stdout_format, &style, &evaluated.report),
    );
    failures.extend(written?);
    failures.extend(write_split(&plan, &inventory, &evaluated)?);
    printed?;
    if let Some(publisher) = publisher {
        failures.extend(publisher.publish(&inventory, &evaluated.report));
    }
    warn_if_incomplete(&inventory);
    report_failures(&failures, "the other outputs were written");
    let status = evaluated.gate.status().unless_outputs_failed(failures.len());
    // Freeing a large inventory and its report is the last thing the scan would do before the
    // process exits (30 ms of a 5,000-user scan, measured): a thread of its own does it, and
    // the exit does not wait for it. (Without a thread, they are freed here.)
    let _ =
        std::thread::Builder::new().name("keyaudit-free".into()).spawn(move || drop((inventory, evaluated)));
    Ok(status)
}

/// `--publish`: where the findings go, connected before the outputs are written.
struct Publisher {
    runtime: tokio::runtime::Runtime,
    sessions: crawl::Sessions,
    region: String,
}

/// The publish task's stack (see [`publish_runtime`]).
const PUBLISH_STACK_BYTES: usize = 32 * 1024 * 1024;

/// Failure lines printed for one publish at most; the rest are counted.
const MAX_PUBLISH_FAILURE_LINES: usize = 20;

/// The runtime of a scan that publishes: its crawl (if live) and its publish. The SDK's
/// Security Hub types are large and deeply nested: publishing overflowed the main thread's
/// 8 MiB stack in a debug build, and a worker's 8 MiB too; 16 MiB was enough (measured). The
/// publish runs on a worker thread with twice that.
fn publish_runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(PUBLISH_STACK_BYTES)
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))
}

impl Publisher {
    /// `sessions`: how a live scan reached each account (on this `runtime`). A saved
    /// inventory has none: the caller's credentials reach the caller's account, and
    /// `--role-name`, if given, the others.
    fn connect(
        plan: &ScanPlan,
        target: crate::publish::Target,
        runtime: tokio::runtime::Runtime,
        sessions: Option<crawl::Sessions>,
    ) -> Result<Publisher, AppError> {
        match target {
            crate::publish::Target::SecurityHub => {}
        }
        let sessions = match sessions {
            Some(sessions) => sessions,
            None => {
                let connection = runtime.block_on(crawl::connect(&plan.connect));
                let config = connection.config.ok_or_else(|| {
                    AppError::Runtime("--publish security-hub: no AWS configuration".into())
                })?;
                crawl::Sessions::of_caller(config, plan.saved_inventory_role.clone())
            }
        };
        // `connect` always settles on a region (us-east-1 when nothing names one).
        let region = sessions
            .base()
            .and_then(|config| config.region())
            .map(|region| region.to_string())
            .unwrap_or_else(|| crate::report::DEFAULT_REGION.to_string());
        Ok(Publisher { runtime, sessions, region })
    }

    /// Imports the report's ASFF findings, each account's through that account's own
    /// credentials; archives the gone ones in each account scanned completely. Returns the
    /// failure, if any, as one line (exit 3); each failure has been printed.
    fn publish(self, inventory: &Inventory, report: &Report) -> Option<String> {
        let findings = crate::report::asff::findings(report);
        let complete = inventory.complete_accounts();
        // The scan's accounts, those reached and those it failed to reach: archived only if complete.
        let scope: BTreeMap<String, bool> = crate::history::scope_of(inventory)
            .into_iter()
            .map(|account| {
                let whole = complete.contains(account.as_str());
                (account, whole)
            })
            .collect();
        let Publisher { runtime, mut sessions, region } = self;
        let count = findings.len();
        let task = runtime.spawn(async move {
            if !scope.is_empty() {
                sessions.identify().await;
            }
            let sessions = &sessions;
            security_hub::publish(&region, &findings, &scope, |account| async move {
                let config = sessions.config_for(&account).await?;
                Ok(security_hub::client(&config, &account))
            })
            .await
        });
        let outcome = match runtime.block_on(task) {
            Ok(outcome) => outcome,
            Err(e) => return Some(format!("--publish security-hub: {count} finding(s) not published: {e}")),
        };
        eprintln!("keyaudit: --publish security-hub: {}", outcome.summary());
        for line in outcome.failure_lines(MAX_PUBLISH_FAILURE_LINES) {
            eprintln!("keyaudit: error: --publish security-hub: {}", error_line(&line));
        }
        if outcome.is_ok() {
            return None;
        }
        let not_published: usize = outcome.accounts.iter().map(|a| a.not_imported()).sum();
        let not_archived = outcome
            .accounts
            .iter()
            .any(|a| a.error.is_some() || a.failed.iter().any(|f| f.what == "archived"));
        Some(format!(
            "--publish security-hub: {not_published} finding(s) not published{} in account(s) {}",
            if not_archived { ", earlier findings not archived" } else { "" },
            security_hub::listed(&outcome.failed_accounts(), 10)
        ))
    }
}

fn history_error(error: HistoryError) -> AppError {
    match error {
        HistoryError::Unusable { .. } => usage(error.to_string()),
        HistoryError::Failed { .. } => AppError::Runtime(error.to_string()),
    }
}

fn source_name(source: &Source) -> &'static str {
    match source {
        Source::Live { .. } => "live",
        Source::File(_) => "inventory",
        Source::Merge(_) => "merge",
        Source::CredentialReport(_) => "credential-report",
        Source::Demo => "demo",
    }
}

fn read_baseline(path: &Path) -> Result<Baseline, AppError> {
    let what = format!("--baseline {}", path.display());
    let text = crate::input::read_text(path, crate::input::LIMIT_INVENTORY)
        .map_err(|e| usage(format!("{what}: cannot read it: {e}")))?;
    let mut baseline = Baseline::from_report(&text).map_err(|e| usage(format!("{what}: {e}")))?;
    baseline.source = format!("{}, {}", path.display(), baseline.source);
    Ok(baseline)
}

/// The last complete run of this scan's scope in the history, or an empty baseline (and a
/// warning) when there is none: then every finding is new.
fn history_baseline(store: &Store, inventory: &Inventory) -> Result<Baseline, HistoryError> {
    let scope = crate::history::scope_of(inventory);
    let Some((run_id, findings)) = store.baseline(&scope)? else {
        eprintln!(
            "keyaudit: warning: --baseline history: no complete run in the history covers these {} account(s); every finding is new",
            scope.len()
        );
        return Ok(Baseline {
            source: "history: no complete run of this scope yet".into(),
            findings: Default::default(),
        });
    };
    let collected = store.run(run_id)?.map(|run| run.collected_at).unwrap_or_default();
    let findings = findings
        .into_iter()
        .filter_map(|f| {
            let id = f.id()?;
            let finding = BaselineFinding {
                finding_id: id.clone(),
                rule: f.rule.parse().ok()?,
                severity: f.severity()?,
                account_id: f.account_id,
                user_name: f.user_name,
                key_ids: f.key_ids,
                message: f.message,
            };
            Some((id, finding))
        })
        .collect();
    Ok(Baseline { source: format!("history run {run_id} ({collected})"), findings })
}

/// Writes every output file. From here on the scan has happened: a file that cannot be
/// written is returned as a one-line reason (it costs exit 3, see
/// [`ExitStatus::unless_outputs_failed`]), and the other outputs are still written.
fn write_outputs(plan: &ScanPlan, inventory: &Inventory, report: &Report) -> Result<Vec<String>, AppError> {
    use rayon::prelude::*;
    // Each file on its own core where there is one; the failures in the flags' order.
    let (inventory_failure, output_failures) = rayon::join(
        || save_inventory(plan, inventory),
        || {
            plan.outputs
                .par_iter()
                .filter_map(|(format, path)| {
                    output::write_with(path, |out| format.render_styled(report, &file_style(plan), out))
                        .err()
                        .map(|e| format!("--output {}: cannot write it: {e}", path.display()))
                })
                .collect::<Vec<String>>()
        },
    );
    Ok(inventory_failure.into_iter().chain(output_failures).collect())
}

/// `--split-by owner`: each owner's report, in every `--output` format, under the directory.
/// Failures are one line each (exit 3), like the other outputs.
fn write_split(
    plan: &ScanPlan,
    inventory: &Inventory,
    evaluated: &Evaluated,
) -> Result<Vec<String>, AppError> {
    let Some((_, dir)) = &plan.split else {
        return Ok(Vec::new());
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Ok(vec![format!("--output-dir {}: cannot create it: {e}", dir.display())]);
    }
    let settings = &plan.settings;
    let owners = crate::split::by_owner(inventory, &evaluated.findings, &settings.rules.owner_tag_keys);
    let mut failures = Vec::new();
    let mut written = 0;
    for (owner, (slice, findings)) in &owners {
        let gate = Gate::counting(findings, settings.fail_on, slice.is_complete(), evaluated.gate.new_only);
        let report = Report::build(
            slice,
            findings,
            &gate,
            &settings.rules,
            &evaluated.report.suppressions,
            evaluated.report.as_of,
            evaluated.report.generated_at,
        );
        let stem = crate::split::file_stem(owner.as_deref());
        for (format, _) in &plan.outputs {
            let path = dir.join(format!("{stem}{}", format.extension()));
            match output::write_with(&path, |out| format.render_styled(&report, &file_style(plan), out)) {
                Ok(()) => written += 1,
                Err(e) => failures.push(format!("--output-dir {}: cannot write it: {e}", path.display())),
            }
        }
    }
    eprintln!(
        "keyaudit: --split-by owner: {written} report(s) for {} owner(s) and the unowned in {}",
        owners.len() - 1,
        dir.display()
    );
    Ok(failures)
}

/// How table files are drawn: plain (no terminal width, no colour), grouped as `--group-by`
/// says, like the table on stdout.
fn file_style(plan: &ScanPlan) -> crate::report::TableStyle {
    crate::report::TableStyle { group_by: plan.group_by, ..crate::report::TableStyle::PLAIN }
}

/// Writes `--save-inventory` if asked; the failure, if any, as one line.
fn save_inventory(plan: &ScanPlan, inventory: &Inventory) -> Option<String> {
    let path = plan.save_inventory.as_ref()?;
    let written = serde_json::to_vec_pretty(inventory)
        .map_err(io::Error::other)
        .and_then(|json| output::write_whole(path, &json));
    written.err().map(|e| format!("--save-inventory {}: cannot write it: {e}", path.display()))
}

/// One line per output that could not be written after the scan, with what happened instead.
fn report_failures(failures: &[String], meanwhile: &str) {
    for failure in failures {
        eprintln!("keyaudit: error: {} ({meanwhile}; exit 3)", error_line(failure));
    }
}

/// Where the inventory comes from: the demo, a file, merged slices, a credential report, or
/// a live crawl.
/// The inventory, and for a live scan how it reached each account (see [`crawl::Sessions`]).
/// A live scan runs on `runtime` if given (a publish then reuses its connections), else on
/// its own.
fn load_inventory(
    plan: &ScanPlan,
    runtime: Option<&tokio::runtime::Runtime>,
) -> Result<(Inventory, Option<crawl::Sessions>), AppError> {
    let inventory = match &plan.source {
        Source::Demo => parse_inventory("the demo inventory", DEMO_INVENTORY)?,
        Source::File(path) => read_inventory("--inventory", path)?,
        Source::Merge(paths) => {
            let mut inventories = Vec::new();
            for path in paths {
                inventories.push((path.display().to_string(), read_inventory("merge", path)?));
            }
            crate::merge::merge(inventories).map_err(|e| usage(format!("merge: {e}")))?
        }
        Source::CredentialReport(path) => {
            let what = format!("--credential-report {}", path.display());
            let text = crate::input::read_text(path, crate::input::LIMIT_CREDENTIAL_REPORT)
                .map_err(|e| usage(format!("{what}: cannot read it: {e}")))?;
            // The CSV does not say when it was generated; the download's time is the best
            // default for --as-of (AWS regenerates reports at most every 4 hours).
            let collected_at = std::fs::metadata(path)
                .and_then(|meta| meta.modified())
                .map(chrono::DateTime::<Utc>::from)
                .unwrap_or_else(|_| Utc::now());
            let mut inventory = crate::credential_report::parse(&text, collected_at)
                .map_err(|e| usage(format!("{what}: {e}")))?;
            // The report was generated at or before the file was written: that instant is
            // the account's report time, so reports say where last use came from.
            for account in &mut inventory.accounts {
                account.credential_report_generated_at = Some(collected_at);
            }
            if let Some(later) = crate::credential_report::dates_after(&inventory, collected_at) {
                let generated = format!(
                    "its file's modification time {}, by which it was generated",
                    crate::history::timestamp(collected_at)
                );
                eprintln!("keyaudit: warning: {}", error_line(&impossible_report(&what, &generated, &later)));
            }
            inventory
        }
        Source::Live { crawl, accounts, progress } => {
            let own;
            let runtime = match runtime {
                Some(runtime) => runtime,
                None => {
                    own = self::runtime()?;
                    &own
                }
            };
            let (inventory, sessions) = runtime.block_on(async {
                let connection = crawl::connect(&plan.connect).await;
                let bar = progress_bar(*progress, Some(connection.shared.budget.clone()));
                let scanned = crawl::scan_many(&connection, accounts, crawl, &bar).await;
                bar.bar.finish_and_clear();
                scanned
            });
            return Ok((inventory, Some(sessions)));
        }
    };
    Ok((inventory, None))
}

/// The warning for a credential report holding dates after `generated`, the time it was
/// generated by (a file's: its modification time; IAM's: its GeneratedTime).
fn impossible_report(what: &str, generated: &str, later: &crate::credential_report::LaterDates) -> String {
    format!(
        "{what}: {} date(s) in it are later than {generated} (the latest: {} in {} of {}); its ages and last uses cannot all be right",
        later.count,
        crate::history::timestamp(later.latest),
        later.column,
        later.user,
    )
}

/// What a scan concluded from its inventory.
struct Evaluated {
    findings: Vec<crate::finding::Finding>,
    report: Report,
    gate: Gate,
}

/// Inventory -> findings -> suppressions -> baseline -> gate and report: the part of a scan
/// that `remediate` shares.
fn evaluate_plan(plan: &ScanPlan, inventory: &Inventory, baseline: Option<&Baseline>) -> Evaluated {
    let as_of = plan.as_of.unwrap_or(inventory.collected_at);
    let mut findings = evaluate(inventory, &plan.settings.rules, as_of);
    let suppressions = crate::suppress::apply(&mut findings, &plan.settings.suppressions, as_of);
    let complete = inventory.is_complete();
    let comparison = baseline.map(|baseline| {
        crate::baseline::compare(&mut findings, baseline, &crate::history::scope_of(inventory), complete)
    });
    let gate =
        Gate::counting(&findings, plan.settings.fail_on, complete, plan.fail_on_new && comparison.is_some());
    let mut report =
        Report::build(inventory, &findings, &gate, &plan.settings.rules, &suppressions, as_of, Utc::now());
    if let Some(region) = &plan.connect.region {
        report.region = region.clone();
    }
    if let Some(comparison) = comparison {
        report.baseline = Some(BaselineSummary {
            source: comparison.source,
            fail_on_new: plan.fail_on_new,
            new: comparison.new,
            existing: comparison.existing,
            resolved: comparison.resolved.len(),
            unverified: comparison.unverified,
        });
        report.resolved = comparison
            .resolved
            .into_iter()
            .map(|f| ResolvedRow {
                finding_id: f.finding_id.to_string(),
                rule: f.rule,
                severity: f.severity,
                account_id: f.account_id,
                user_name: f.user_name,
                key_ids: f.key_ids,
                message: f.message,
            })
            .collect();
    }
    Evaluated { findings, report, gate }
}

fn warn_if_incomplete(inventory: &Inventory) {
    if inventory.is_complete() {
        return;
    }
    eprintln!(
        "keyaudit: scan incomplete: {} call(s) failed after retries; the report lacks that data",
        inventory.errors.len()
    );
    if let Some(first) = inventory.errors.first() {
        let failure = format!("{} {}: {}", first.operation, first.code, first.message);
        eprintln!("keyaudit: first failure: {}", error_line(&failure));
    }
}

/// `keyaudit completions SHELL`: the script on stdout.
pub fn completions(shell: crate::cli::Shell) -> Result<ExitStatus, AppError> {
    let mut out = Vec::new();
    crate::generate::completions(shell, &mut out)
        .map_err(|e| AppError::Runtime(format!("completions: {e}")))?;
    write_stdout(&out)?;
    Ok(ExitStatus::Clean)
}

/// `keyaudit man [SUBCOMMAND]`: a man page (roff) on stdout.
pub fn man(subcommand: Option<&str>) -> Result<ExitStatus, AppError> {
    let mut out = Vec::new();
    crate::generate::man(subcommand, &mut out)
        .map_err(|e| usage(format!("man: {e}")))?
        .map_err(|e| AppError::Runtime(format!("man page: {e}")))?;
    write_stdout(&out)?;
    Ok(ExitStatus::Clean)
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
                        "standards": rule.standards(),
                        "controls": rule.controls.iter().map(|c| c.requirement()).collect::<Vec<_>>(),
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
                    rule.id,
                    rule.default_severity,
                    rule.summary,
                    rule.rationale,
                    threshold,
                    rule.standards()
                );
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    write_stdout(&out)?;
    Ok(ExitStatus::Clean)
}

fn read_inventory(flag: &str, path: &Path) -> Result<Inventory, AppError> {
    let text = crate::input::read_text(path, crate::input::LIMIT_INVENTORY)
        .map_err(|e| usage(format!("{flag} {}: cannot read it: {e}", path.display())))?;
    parse_inventory(&format!("{flag} {}", path.display()), &text)
}

pub fn parse_inventory(what: &str, text: &str) -> Result<Inventory, AppError> {
    // Check the version first so an old or future file gets a clear message, not a
    // confusing field error. Only the version is kept: the rest is skipped, not built (a
    // `serde_json::Value` of a 2-million-key inventory took more memory than the inventory).
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: Option<serde_json::Value>,
    }
    let version = serde_json::from_str::<Version>(text)
        .map_err(|e| usage(format!("{what}: not valid JSON: {e}")))?
        .schema_version
        .and_then(|version| version.as_u64());
    if version != Some(u64::from(INVENTORY_SCHEMA_VERSION)) {
        return Err(usage(format!(
            "{what}: not a keyaudit inventory of schema_version {INVENTORY_SCHEMA_VERSION} (found {})",
            version.map_or("none".to_string(), |v| v.to_string())
        )));
    }
    serde_json::from_str(text).map_err(|e| usage(format!("{what}: not a keyaudit inventory: {e}")))
}

/// Renders the report straight to stdout (buffered, never whole in memory). A closed pipe
/// is not an error, as in [`write_stdout`].
fn render_stdout(format: Format, style: &crate::report::TableStyle, report: &Report) -> Result<(), AppError> {
    let stdout = io::stdout().lock();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout);
    match format.render_styled(report, style, &mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(AppError::Runtime(format!("writing to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// What stdout is: the one place the terminal and the environment are read for the table.
fn stdout_info() -> crate::cli::StdoutInfo {
    let is_terminal = io::stdout().is_terminal();
    crate::cli::StdoutInfo {
        is_terminal,
        terminal_columns: if is_terminal { terminal_columns() } else { None },
        columns_var: std::env::var("COLUMNS").ok(),
        no_color_var: std::env::var("NO_COLOR").ok(),
    }
}

#[cfg(unix)]
fn terminal_columns() -> Option<u16> {
    rustix::termios::tcgetwinsize(io::stdout()).ok().map(|size| size.ws_col).filter(|&columns| columns > 0)
}

#[cfg(not(unix))]
fn terminal_columns() -> Option<u16> {
    None
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

/// Progress on stderr: users done and, for several accounts, accounts done out of how many
/// and the calls per second made across all of them.
struct Bar {
    bar: ProgressBar,
    /// Attempts made so far in every account (the crawl's shared budget counts them).
    attempts: Option<std::sync::Arc<crawl::limiter::Budget>>,
    accounts: std::sync::atomic::AtomicUsize,
    accounts_done: std::sync::atomic::AtomicUsize,
    started: std::time::Instant,
}

impl Bar {
    fn refresh(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.accounts.load(Relaxed);
        if total <= 1 {
            return;
        }
        let calls = self.attempts.as_ref().map_or(0, |budget| budget.attempts());
        let per_second = calls as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            ", accounts {}/{total}, {per_second:.0} calls/s",
            self.accounts_done.load(Relaxed)
        ));
    }
}

impl crawl::Progress for Bar {
    fn user_done(&self) {
        self.bar.inc(1);
        self.refresh();
    }

    fn accounts_total(&self, accounts: usize) {
        self.accounts.store(accounts, std::sync::atomic::Ordering::Relaxed);
        self.refresh();
    }

    fn impossible_credential_report(
        &self,
        account: &str,
        generated_at: DateTime<Utc>,
        later: &crate::credential_report::LaterDates,
    ) {
        // Worded as for a report read from a file, and likewise still used: the user chose
        // the report's last uses over a call per key.
        let what = format!("the credential report of account {account}");
        let generated =
            format!("the time IAM says it was generated, {}", crate::history::timestamp(generated_at));
        let line = impossible_report(&what, &generated, later);
        self.bar.suspend(|| eprintln!("keyaudit: warning: {}", error_line(&line)));
    }

    fn account_done(&self) {
        self.accounts_done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.refresh();
    }
}

/// A spinner on stderr, only when stderr is a terminal and not turned off; quiet in pipes.
fn progress_bar(enabled: bool, attempts: Option<std::sync::Arc<crawl::limiter::Budget>>) -> Bar {
    let bar = if !enabled || !io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} scanning IAM: {pos} users done{msg} ({elapsed})")
        {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    };
    Bar {
        bar,
        attempts,
        accounts: Default::default(),
        accounts_done: Default::default(),
        started: std::time::Instant::now(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Runtime(format!("cannot start the async runtime: {e}")))
}

fn op_error(context: &str, error: OpError) -> AppError {
    match error {
        OpError::Refused(refusal) => usage(format!("{context}: {refusal}")),
        OpError::Failed(_) | OpError::SecretNotStored(_) => AppError::Runtime(format!("{context}: {error}")),
    }
}

/// Where a new secret will go, checked before any call so a refusal changes nothing.
enum SecretDestination {
    File(std::path::PathBuf),
    Stdout,
}

fn secret_destination(args: &SecretArgs) -> Result<SecretDestination, AppError> {
    match (&args.secret_file, args.show_secret) {
        (Some(path), _) => {
            if path.exists() {
                return Err(usage(format!(
                    "--secret-file {}: the file exists; keyaudit never overwrites a secret file",
                    path.display()
                )));
            }
            let dir = output::parent_dir(path);
            if !dir.is_dir() {
                return Err(usage(format!("--secret-file {}: directory {} does not exist", path.display(), dir.display())));
            }
            Ok(SecretDestination::File(path.clone()))
        }
        (None, true) => Ok(SecretDestination::Stdout),
        (None, false) => Err(usage(
            "a new key's secret is shown exactly once, so keyaudit needs to know where it goes: pass --secret-file PATH \
             (a new file, mode 0600) or --show-secret (stdout); nothing changed"
                .to_string(),
        )),
    }
}

/// Asks on the terminal; only called when stdin and stderr are terminals.
fn confirm(question: &str) -> bool {
    eprint!("{} [y/N] ", error_line(question));
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

fn interactive() -> bool {
    io::stdin().is_terminal() && io::stderr().is_terminal()
}

pub fn keys(command: KeysCommand) -> Result<ExitStatus, AppError> {
    runtime()?.block_on(run_keys(command))
}

async fn run_keys(command: KeysCommand) -> Result<ExitStatus, AppError> {
    let (name, target, dry_run, yes) = match &command {
        KeysCommand::List { target, .. } => ("keys list", target, false, true),
        KeysCommand::Create { target, dry_run, .. } => ("keys create", target, *dry_run, true),
        KeysCommand::Deactivate { target, dry_run, .. } => ("keys deactivate", target, *dry_run, true),
        KeysCommand::Activate { target, dry_run, .. } => ("keys activate", target, *dry_run, true),
        KeysCommand::Delete { target, dry_run, yes, .. } => ("keys delete", target, *dry_run, *yes),
        KeysCommand::Rotate { target, dry_run, yes, .. } => ("keys rotate", target, *dry_run, *yes),
    };
    let destination = match &command {
        KeysCommand::Create { secret, .. } | KeysCommand::Rotate { secret, .. } => {
            Some(secret_destination(secret)?)
        }
        _ => None,
    };
    let user = target.user.as_str();
    let connection = crawl::connect(&target.connect.clone().into()).await;
    let ops = KeyOps::new(&connection).await.map_err(|e| op_error(name, e))?;
    let keys = ops.list(user).await.map_err(|e| op_error(name, e))?;

    let planned = match &command {
        KeysCommand::List { format, .. } => {
            let now = Utc::now();
            let rows: Vec<KeyRow> =
                keys.iter().map(|key| KeyRow::new(&ops.account_id, user, key, now)).collect();
            let mut out = Vec::new();
            render_keys(*format, &rows, &mut out)
                .map_err(|e| AppError::Runtime(format!("rendering: {e}")))?;
            write_stdout(&out)?;
            return Ok(ExitStatus::Clean);
        }
        KeysCommand::Create { .. } => plan_create(user, &keys),
        KeysCommand::Deactivate { key, .. } => plan_set_status(user, &keys, key, KeyStatus::Inactive),
        KeysCommand::Activate { key, .. } => plan_set_status(user, &keys, key, KeyStatus::Active),
        KeysCommand::Delete { key, force, .. } => plan_delete(user, &keys, key, *force),
        KeysCommand::Rotate { delete_inactive, keep_old_active, .. } => {
            plan_rotate(user, &keys, *delete_inactive, *keep_old_active)
        }
    };
    let steps = planned.map_err(|refusal| usage(format!("{name}: {refusal}")))?;

    let mut out = String::new();
    if steps.is_empty() {
        out.push_str("nothing to do: the key is already in that state\n");
    }
    if dry_run {
        for step in &steps {
            out.push_str(&format!("dry run: would {} (account {})\n", step.describe(user), ops.account_id));
        }
        write_stdout(out.as_bytes())?;
        return Ok(ExitStatus::Clean);
    }
    let deletes: Vec<String> =
        steps.iter().filter(|s| matches!(s, Step::Delete(_))).map(|s| s.describe(user)).collect();
    if !deletes.is_empty() && !yes && interactive() && !confirm(&format!("{}?", deletes.join("; "))) {
        return Err(usage(format!("{name}: not confirmed; nothing changed")));
    }

    let mut sink = match destination {
        Some(SecretDestination::File(path)) if steps.contains(&Step::Create) => {
            Some(SecretSink::create_file(&path).map_err(|refusal| usage(format!("{name}: {refusal}")))?)
        }
        Some(SecretDestination::Stdout) if steps.contains(&Step::Create) => Some(SecretSink::Stdout),
        _ => None,
    };
    let mut done = Vec::new();
    for step in &steps {
        match ops.apply(user, step, &mut sink).await {
            Ok(line) => {
                done.push(step.describe(user));
                if let Err(e) = write_stdout(format!("{line}\n").as_bytes()) {
                    // The step happened: say so, and go no further unseen.
                    return Err(AppError::Runtime(format!(
                        "{name}: {e}; stopped, already done: {}",
                        done.join("; ")
                    )));
                }
            }
            Err(error) => {
                if let Some(sink) = sink.take() {
                    sink.discard();
                }
                let before = match (done.is_empty(), &error) {
                    (true, OpError::SecretNotStored(_)) => "nothing else was changed".to_string(),
                    (true, _) => "nothing was changed".to_string(),
                    (false, _) => format!("already done: {}", done.join("; ")),
                };
                let context = format!("{name}: could not {} ({before})", step.describe(user));
                // Exit 2 says nothing happened: once a step is done, any failure is exit 3.
                return Err(if done.is_empty() {
                    op_error(&context, error)
                } else {
                    AppError::Runtime(format!("{context}: {error}"))
                });
            }
        }
    }
    Ok(ExitStatus::Clean)
}

pub fn remediate(args: RemediateArgs) -> Result<ExitStatus, AppError> {
    let RemediateArgs { scan, report: report_path, apply, yes, max_actions, audit_log } = args;
    if !scan.output.is_empty() {
        return Err(usage(
            "--output is for `keyaudit scan`; remediate prints its plan (--format table|json)".into(),
        ));
    }
    if !matches!(scan.format, Format::Table | Format::Json) {
        return Err(usage("remediate prints its plan as --format table or json".into()));
    }
    if scan.split_by.is_some() {
        return Err(usage("--split-by is for `keyaudit scan`; remediate prints one plan".into()));
    }
    if scan.publish.is_some() {
        return Err(usage(
            "--publish is for `keyaudit scan`; remediate changes keys, the next scan publishes the result"
                .into(),
        ));
    }
    if scan.history.is_some() || scan.baseline.is_some() {
        return Err(usage(
            "--history and --baseline are for `keyaudit scan`; remediate acts on the findings of one scan"
                .into(),
        ));
    }
    let mut plan = scan.into_plan()?;
    // A config's `[history] path` records scans; remediate's own crawl is not one of them.
    plan.history = None;
    if plan.dump_config {
        write_stdout(config::dump(&plan.settings).as_bytes())?;
        return Ok(ExitStatus::Clean);
    }
    // Every file checked before any network call; the log only matters if it will be written.
    let log_destination = Destination { flag: "--audit-log", path: &audit_log, mode: Mode::Append };
    let report_input = report_path.as_deref().map(|path| Input { flag: "--report", path });
    plan.check_destinations(
        if apply { std::slice::from_ref(&log_destination) } else { &[] },
        report_input.as_slice(),
    )?;
    // The log's history is what keeps a key deactivated minutes ago from being deleted: a
    // log that cannot be read whole is a refusal, never "no history".
    let history =
        audit_log::read_history(&audit_log).map_err(|e| usage(format!("{e}; nothing was changed")))?;

    let (findings, complete, failures) = match &report_path {
        Some(path) => {
            let text = crate::input::read_text(path, crate::input::LIMIT_INVENTORY)
                .map_err(|e| usage(format!("--report {}: cannot read it: {e}", path.display())))?;
            let report: SavedReport = serde_json::from_str(&text).map_err(|e| {
                usage(format!("--report {}: not a keyaudit JSON report: {e}", path.display()))
            })?;
            (report.findings, report.complete, Vec::new())
        }
        None => {
            let (inventory, _) = load_inventory(&plan, None)?;
            let report = evaluate_plan(&plan, &inventory, None).report;
            warn_if_incomplete(&inventory);
            let failures: Vec<String> = save_inventory(&plan, &inventory).into_iter().collect();
            (report.findings, inventory.is_complete(), failures)
        }
    };
    let actions = crate::remediate::plan(
        &findings,
        &plan.settings.remediate,
        &history,
        plan.settings.rules.thresholds.inactive_grace_days,
        Utc::now(),
    );
    let max_actions = max_actions.unwrap_or(usize::MAX);
    let incomplete = if complete { ExitStatus::Clean } else { ExitStatus::ScanFailed };

    if !apply || actions.actions.is_empty() || !failures.is_empty() {
        let mut out = Vec::new();
        render_plan(plan.stdout_format, &actions, None, max_actions, &mut out)
            .map_err(|e| AppError::Runtime(format!("rendering the plan: {e}")))?;
        write_stdout(&out)?;
        report_failures(
            &failures,
            if apply { "so nothing was applied, no key changed" } else { "plan printed" },
        );
        return Ok(incomplete.unless_outputs_failed(failures.len()));
    }

    let attempted = actions.actions.len().min(max_actions);
    if !yes && interactive() && !confirm(&format!("Apply {attempted} action(s) to IAM access keys?")) {
        return Err(usage("remediate: not confirmed; nothing changed".into()));
    }
    let mut log =
        AuditLog::open(&audit_log, &history).map_err(|e| usage(format!("{e}; nothing was changed")))?;
    let outcomes = runtime()?.block_on(async {
        let connection = crawl::connect(&plan.connect).await;
        let ops = KeyOps::new(&connection).await.map_err(|e| op_error("remediate", e))?;
        crate::remediate::apply::apply(&ops, &actions, max_actions, &mut log)
            .await
            .map_err(|stopped| AppError::Runtime(stopped_message(&audit_log, &stopped)))
    })?;
    let mut out = Vec::new();
    render_plan(plan.stdout_format, &actions, Some(&outcomes), max_actions, &mut out)
        .map_err(|e| AppError::Runtime(format!("rendering the plan: {e}")))?;
    write_stdout(&out)?;
    let failed = outcomes.iter().any(|o| o.result == crate::remediate::apply::Result::Failed);
    Ok(if failed { ExitStatus::ScanFailed } else { incomplete })
}

/// What a run stopped by the audit log did, and what state the keys are in, in one line.
fn stopped_message(path: &Path, stopped: &Stopped) -> String {
    let describe = |outcome: &Outcome| {
        format!(
            "{} {} of user {}: {}",
            outcome.action.action,
            outcome.action.access_key_id,
            outcome.action.user_name,
            outcome.result.as_str()
        )
    };
    let done: Vec<String> = stopped.outcomes.iter().map(describe).collect();
    let done = if done.is_empty() { "none".to_string() } else { done.join("; ") };
    let action = &stopped.action;
    let what = match &stopped.unrecorded {
        None => format!(
            "could not record the intent to {} access key {} of user {}, so it was not touched",
            action.action, action.access_key_id, action.user_name
        ),
        Some(outcome) => {
            format!("could not record the result of {} (its intent is in the log)", describe(outcome))
        }
    };
    format!(
        "remediate: --audit-log {}: write failed ({}): {what}; stopped, the remaining actions were not attempted; \
         done and recorded before: {done}",
        path.display(),
        stopped.error
    )
}

/// The parts of a saved JSON report that remediation reads.
#[derive(serde::Deserialize)]
struct SavedReport {
    complete: bool,
    findings: Vec<crate::report::FindingRow>,
}

/// `keyaudit history ...`: reads (or prunes) the scan history.
pub fn history(command: HistoryCommand) -> Result<ExitStatus, AppError> {
    match command {
        HistoryCommand::List { target, format } => {
            let (store, _) = open_history(&target)?;
            write_stdout(&history_render::list(&store.runs().map_err(history_error)?, format))?;
            Ok(ExitStatus::Clean)
        }
        HistoryCommand::Diff { run_a, run_b, target, fail_on, format } => {
            let (store, settings) = open_history(&target)?;
            let (a, b) = match (run_a, run_b) {
                (Some(a), Some(b)) => (a, b),
                (Some(a), None) => {
                    let last = store.runs().map_err(history_error)?.last().map(|run| run.run_id);
                    (a, last.ok_or_else(|| usage("history diff: no runs recorded yet".into()))?)
                }
                _ => store.last_two_complete().map_err(history_error)?.ok_or_else(|| {
                    usage(
                        "history diff: needs two complete runs to compare (see `keyaudit history list`)"
                            .into(),
                    )
                })?,
            };
            for run in [a, b] {
                if store.run(run).map_err(history_error)?.is_none() {
                    return Err(usage(format!("history diff: no run {run} (see `keyaudit history list`)")));
                }
            }
            let diff = store.diff(a, b).map_err(history_error)?;
            write_stdout(&history_render::diff(&diff, format))?;
            let named_incomplete = run_a.is_some() && !(diff.from.complete && diff.to.complete);
            let fail_on = fail_on.unwrap_or(settings.fail_on);
            let failing = diff
                .new
                .iter()
                .filter(|f| !f.suppressed && f.severity().is_none_or(|severity| fail_on.fails(severity)))
                .count();
            Ok(if named_incomplete {
                ExitStatus::ScanFailed
            } else if failing > 0 {
                ExitStatus::Findings
            } else {
                ExitStatus::Clean
            })
        }
        HistoryCommand::Trend { target, format } => {
            let (store, _) = open_history(&target)?;
            write_stdout(&history_render::trend(&store.trend().map_err(history_error)?, format))?;
            Ok(ExitStatus::Clean)
        }
        HistoryCommand::Evidence { from, to, output_dir, target } => {
            if from > to {
                return Err(usage(format!("history evidence: --from {from} is after --to {to}")));
            }
            if output_dir.exists() && !output_dir.is_dir() {
                return Err(usage(format!("--output-dir {}: not a directory", output_dir.display())));
            }
            let (store, _) = open_history(&target)?;
            let evidence = store.evidence(from, to).map_err(history_error)?;
            std::fs::create_dir_all(&output_dir).map_err(|e| {
                AppError::Runtime(format!("--output-dir {}: cannot create it: {e}", output_dir.display()))
            })?;
            let files = history_render::evidence(&evidence);
            for (name, bytes) in &files {
                let path = output_dir.join(name);
                output::write_whole(&path, bytes)
                    .map_err(|e| AppError::Runtime(format!("{}: cannot write it: {e}", path.display())))?;
            }
            eprintln!(
                "keyaudit: evidence for {from} to {to}: {} run(s), {} finding lifecycle(s), {} files in {}",
                evidence.runs.len(),
                evidence.findings.len(),
                files.len(),
                output_dir.display()
            );
            Ok(ExitStatus::Clean)
        }
        HistoryCommand::Prune { keep_days, target } => {
            let (mut store, _) = open_history(&target)?;
            let pruned = store.prune(keep_days, Utc::now()).map_err(history_error)?;
            eprintln!(
                "keyaudit: pruned {} run(s), {} key(s), {} resolved finding(s); {} run(s) kept",
                pruned.runs, pruned.keys, pruned.findings, pruned.remaining
            );
            Ok(ExitStatus::Clean)
        }
    }
}

fn open_history(target: &HistoryTarget) -> Result<(Store, config::Settings), AppError> {
    let (path, settings) = target.resolve()?;
    let store = Store::open(&path, false).map_err(history_error)?;
    Ok((store, settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn an_output_that_fails_after_the_scan_costs_exit_3_and_the_others_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let doomed = dir.path().join("doomed");
        std::fs::create_dir(&doomed).unwrap();
        let [first, lost, inventory] =
            [dir.path().join("a.json"), doomed.join("b.csv"), dir.path().join("inv.json")];
        let argv = ["keyaudit", "scan", "--demo", "--save-inventory", path(&inventory)];
        let argv = argv.into_iter().chain(["--output", path(&first), "--output", path(&lost)]);
        let Command::Scan(args) = Cli::try_parse_from(argv).unwrap().command else { unreachable!() };
        let plan = args.into_plan().unwrap();
        // Valid when checked; gone by the time the scan is done.
        std::fs::remove_dir(&doomed).unwrap();
        let (inventory_data, _) = load_inventory(&plan, None).unwrap();
        let Evaluated { report, gate, .. } = evaluate_plan(&plan, &inventory_data, None);
        let failures = write_outputs(&plan, &inventory_data, &report).unwrap();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].starts_with(&format!("--output {}: cannot write it", lost.display())),
            "{failures:?}"
        );
        assert!(std::fs::read_to_string(&first).unwrap().contains("\"findings\""));
        assert!(std::fs::read_to_string(&inventory).unwrap().contains("schema_version"));
        assert_eq!(gate.status(), ExitStatus::Findings);
        assert_eq!(gate.status().unless_outputs_failed(failures.len()), ExitStatus::ScanFailed);
    }

    fn path(path: &Path) -> &str {
        path.to_str().unwrap()
    }
}
