//! Command-line flags (clap), turned into validated settings once, at the edge.
//!
//! Everything a user can get wrong is checked here, before any network call: formats and
//! output extensions, thresholds, `--as-of`, the config file, the endpoint URL. A scan that
//! would fail at the end because of a typo in `--output` must fail in the first millisecond.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigFile, FailOn, Settings, DEFAULT_CONFIG_FILE};
use crate::crawl::{
    AccountsOptions, ConnectOptions, CrawlOptions, LastUsedSource, RetryMode, DEFAULT_ROLE_NAME,
};
use crate::model::Shard;
use crate::output::{self, Destination, Input, Mode};
use crate::report::{Format, TableStyle};
use crate::rules::Threshold;

/// `keyaudit --version`: the crate's version and the commit it was built from, or
/// `not built from git` (decided by `build.rs`, see [`crate::build_info`]).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KEYAUDIT_BUILD_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "keyaudit",
    version = VERSION,
    about = "Audit AWS IAM user access keys: crawl, evaluate, report, gate."
)]
#[command(arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan an account's IAM users and access keys (or a saved inventory) and report findings.
    Scan(Box<ScanArgs>),
    /// List the rules with their ids, default severities, thresholds and documentation.
    Rules(RulesArgs),
    /// Turn findings into a plan of key actions (deactivate, delete); change keys only with --apply.
    Remediate(Box<RemediateArgs>),
    /// Manage one user's access keys: list, create, deactivate, activate, delete, rotate.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Report saved inventories as one scan: the slices of a `scan --shard K/N` run (takes
    /// scan's report flags).
    Merge(Box<MergeArgs>),
    /// Read the scan history (`scan --history`): runs, diffs, trends, audit evidence, pruning.
    #[command(subcommand)]
    History(HistoryCommand),
    /// Print a shell completion script (generated from these definitions) to stdout.
    Completions {
        /// The shell: bash, zsh, fish or powershell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print keyaudit's man page (roff, generated from these definitions) to stdout:
    /// `keyaudit man > keyaudit.1`, `keyaudit man scan > keyaudit-scan.1`.
    Man {
        /// A subcommand's page (`keyaudit-SUBCOMMAND(1)`) instead of the main one.
        subcommand: Option<String>,
    },
}

/// The shells `keyaudit completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// Where the history is: `--history`, else `[history] path` in the config.
#[derive(Debug, Clone, Args)]
pub struct HistoryTarget {
    /// The history database [default: `[history] path` from the config file].
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Config file [default: ./keyaudit.toml if it exists].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// The recorded runs: time, accounts, users, keys, findings by severity, complete.
    List {
        #[command(flatten)]
        target: HistoryTarget,
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
    },
    /// What changed between two runs [default: the last two complete runs]: new, resolved and
    /// persisting findings, and keys created, deleted, deactivated, reactivated. Exit 1 when a
    /// new finding is at or above --fail-on; 3 when a run named is incomplete.
    Diff {
        /// The earlier run (a run_id from `history list`).
        run_a: Option<i64>,
        /// The later run.
        run_b: Option<i64>,
        #[command(flatten)]
        target: HistoryTarget,
        /// Exit 1 when a new finding is at or above this level [default: fail-on of the config, else low].
        #[arg(long, value_name = "LEVEL", value_parser = parse_fail_on)]
        fail_on: Option<FailOn>,
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
    },
    /// Per run: open findings by rule and severity, keys, share of active keys within
    /// max-key-age, median and oldest key age, findings resolved and their mean days open.
    Trend {
        #[command(flatten)]
        target: HistoryTarget,
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
    },
    /// An audit pack for a window: each run's summary and each finding's lifecycle, as CSV,
    /// JSON and a README.txt; the same data always gives the same bytes.
    Evidence {
        /// First day (UTC), included.
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: chrono::NaiveDate,
        /// Last day (UTC), included.
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: chrono::NaiveDate,
        /// Where the files go (created if missing).
        #[arg(long, value_name = "DIR")]
        output_dir: PathBuf,
        #[command(flatten)]
        target: HistoryTarget,
    },
    /// Delete runs older than N days (never the last complete run, nor any after it).
    Prune {
        #[arg(long, value_name = "N")]
        keep_days: u32,
        #[command(flatten)]
        target: HistoryTarget,
    },
}

pub use crate::history::render::Format as HistoryFormat;

impl HistoryTarget {
    /// The history path and the effective settings (for diff's fail-on).
    pub fn resolve(&self) -> Result<(PathBuf, Settings), UsageError> {
        let (_, settings) = load_settings(self.config.as_ref())?;
        let path = self.history.clone().or_else(|| settings.history.clone()).ok_or_else(|| {
            UsageError("no history: give --history PATH or set `[history] path` in the config file".into())
        })?;
        Ok((path, settings))
    }
}

/// Defaults < config file (the one named, else ./keyaudit.toml if it exists).
fn load_settings(config: Option<&PathBuf>) -> Result<(Option<PathBuf>, Settings), UsageError> {
    let mut settings = Settings::default();
    let config_path = match config {
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|path| path.exists()),
    };
    if let Some(path) = &config_path {
        ConfigFile::load(path).map_err(|e| UsageError(e.to_string()))?.apply(&mut settings);
    }
    Ok((config_path, settings))
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Inventories written by `scan --save-inventory`, e.g. one per --shard slice.
    #[arg(value_name = "INVENTORY", required = true)]
    pub inventories: Vec<PathBuf>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

impl MergeArgs {
    pub fn into_plan(self) -> Result<ScanPlan, UsageError> {
        let scan = &self.scan;
        let sources = [
            ("--demo", scan.demo),
            ("--inventory", scan.inventory.is_some()),
            ("--credential-report", scan.credential_report.is_some()),
            ("--org", scan.org),
            ("--accounts", !scan.accounts.is_empty()),
            ("--accounts-file", scan.accounts_file.is_some()),
            ("--shard", scan.shard.is_some()),
        ];
        if let Some((flag, _)) = sources.iter().find(|(_, given)| *given) {
            return Err(UsageError(format!(
                "merge reports the inventories it is given; {flag} belongs to keyaudit scan"
            )));
        }
        let inventories = self.inventories;
        let mut plan = self.scan.into_plan()?;
        plan.inputs.extend(inventories.iter().map(|path| ("merge", path.clone())));
        plan.source = Source::Merge(inventories);
        if !plan.dump_config {
            plan.check_destinations(&[], &[])?;
        }
        Ok(plan)
    }
}

#[derive(Debug, Args)]
pub struct RemediateArgs {
    /// Where the findings come from: a live scan (default), --inventory, --demo, or --report.
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Plan from a JSON report written earlier by `keyaudit scan` (--format json / .json).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["inventory", "demo"], help_heading = "Remediation")]
    pub report: Option<PathBuf>,
    /// Carry the plan out (default: print it and change nothing).
    #[arg(long, help_heading = "Remediation")]
    pub apply: bool,
    /// Do not ask for confirmation on a terminal.
    #[arg(long, help_heading = "Remediation")]
    pub yes: bool,
    /// Apply at most N actions; the rest are reported as not attempted.
    #[arg(long, value_name = "N", help_heading = "Remediation")]
    pub max_actions: Option<usize>,
    /// Append a JSON line per action applied, skipped or failed to this file.
    #[arg(long, value_name = "PATH", default_value = "keyaudit-audit.jsonl", help_heading = "Remediation")]
    pub audit_log: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The user's keys with status, age and last use.
    List {
        #[command(flatten)]
        target: UserTarget,
        /// `table`, `csv` or `json`.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Create a key. The secret goes only where you say: --secret-file or --show-secret.
    Create {
        #[command(flatten)]
        target: UserTarget,
        #[command(flatten)]
        secret: SecretArgs,
        #[arg(long)]
        dry_run: bool,
    },
    /// Deactivate a key (it stops working; reactivate it if something breaks).
    Deactivate {
        #[command(flatten)]
        target: UserTarget,
        #[arg(long, value_name = "ID")]
        key: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Reactivate an inactive key.
    Activate {
        #[command(flatten)]
        target: UserTarget,
        #[arg(long, value_name = "ID")]
        key: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete a key for good. Inactive keys only, unless --force.
    Delete {
        #[command(flatten)]
        target: UserTarget,
        #[arg(long, value_name = "ID")]
        key: String,
        /// Delete even an active key.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation on a terminal.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Create a new key and deactivate the old one (never deletes an active key).
    Rotate {
        #[command(flatten)]
        target: UserTarget,
        #[command(flatten)]
        secret: SecretArgs,
        /// Leave the old key active for a cut-over window (deactivate it later).
        #[arg(long)]
        keep_old_active: bool,
        /// At the two-key limit, delete an inactive key to free a slot (never an active one).
        #[arg(long)]
        delete_inactive: bool,
        /// Do not ask for confirmation on a terminal before deleting.
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        dry_run: bool,
    },
}

/// The user whose keys a `keys` command works on, and how to reach IAM.
#[derive(Debug, Clone, Args)]
pub struct UserTarget {
    /// The IAM user name.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Where a new secret access key goes. One of the two is required: keyaudit never prints a
/// secret unless asked to.
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// Write the new key and its secret to this new file (mode 0600; never overwritten).
    #[arg(long, value_name = "PATH", conflicts_with = "show_secret")]
    pub secret_file: Option<PathBuf>,
    /// Print the secret on stdout (it is shown once and cannot be retrieved again).
    #[arg(long)]
    pub show_secret: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Evaluate a saved inventory (from --save-inventory) instead of calling AWS.
    #[arg(long, value_name = "PATH", conflicts_with = "demo", help_heading = "Input")]
    pub inventory: Option<PathBuf>,
    /// Evaluate the bundled demo inventory (no AWS account needed).
    #[arg(long, help_heading = "Input")]
    pub demo: bool,
    /// Evaluate an IAM credential report (CSV) downloaded earlier, without calling AWS.
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["inventory", "demo"], help_heading = "Input")]
    pub credential_report: Option<PathBuf>,
    /// Scan every active account of the AWS Organization (ListAccounts), assuming --role-name
    /// in each.
    #[arg(long, help_heading = "Accounts")]
    pub org: bool,
    /// Scan only these accounts (comma-separated ids), assuming --role-name in each but the
    /// caller's own.
    #[arg(long, value_name = "ID,ID", value_delimiter = ',', value_parser = parse_account_id, help_heading = "Accounts")]
    pub accounts: Vec<String>,
    /// Like --accounts, from a file: one account id per line, `#` starts a comment.
    #[arg(long, value_name = "PATH", help_heading = "Accounts")]
    pub accounts_file: Option<PathBuf>,
    /// The role to assume in each other account [default: OrganizationAccountAccessRole].
    /// With --inventory or `merge`, --publish assumes it in the inventory's accounts other
    /// than the caller's (without it, only the caller's own account is published).
    #[arg(long, value_name = "NAME", help_heading = "Accounts")]
    pub role_name: Option<String>,
    /// External id for the role assumption, if the roles require one.
    #[arg(long, value_name = "ID", help_heading = "Accounts")]
    pub external_id: Option<String>,
    /// Session name for the role assumption (shows in CloudTrail).
    #[arg(long, value_name = "NAME", default_value = "keyaudit", help_heading = "Accounts")]
    pub role_session_name: String,
    /// Accounts crawled at once (each with its own --concurrency, pacing and retry state)
    /// [default: all; --total-concurrency bounds the calls].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), help_heading = "Accounts")]
    pub account_concurrency: Option<u16>,
    /// Scan only slice K of N of the accounts (1-based, e.g. `2/8`), for N runs of an indexed
    /// job; `keyaudit merge` joins their inventories. Needs --org, --accounts or --accounts-file.
    #[arg(long, value_name = "K/N", value_parser = parse_shard, help_heading = "Accounts")]
    pub shard: Option<Shard>,
    /// Most IAM calls in flight at once across all accounts (and so most connections).
    #[arg(long, value_name = "N", default_value_t = crate::crawl::DEFAULT_TOTAL_IN_FLIGHT as u16, value_parser = clap::value_parser!(u16).range(1..=4096), help_heading = "Connection")]
    pub total_concurrency: u16,

    /// Also write the inventory collected by this scan as JSON.
    #[arg(long, value_name = "PATH", help_heading = "Input")]
    pub save_inventory: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Most IAM calls in flight at once per account (pacing adapts below it on throttling).
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024), help_heading = "Connection")]
    pub concurrency: u16,
    /// Where keys' last use comes from: `api` (GetAccessKeyLastUsed per key, exact) or
    /// `credential-report` (one report per account, up to 4 hours old; about one call per
    /// user instead of 2.5; its time is shown in every report).
    #[arg(long, value_enum, value_name = "SOURCE", default_value_t = LastUsedSource::Api, help_heading = "Connection")]
    pub last_used_source: LastUsedSource,
    /// Bound the whole scan: what is not done this long after the start (e.g. 30m, 90s, 1h30m)
    /// is reported as failed (DeadlineExceeded, exit 3), and the report is still written.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Connection")]
    pub deadline: Option<Duration>,
    /// No progress bar (it is only shown when stderr is a terminal anyway).
    #[arg(long, help_heading = "Connection")]
    pub no_progress: bool,
    /// Do not read users' tags, groups and policies (GetAccountAuthorizationDetails): owners
    /// and privilege are then not reported and `key-without-owner` does not run.
    #[arg(long, help_heading = "Connection")]
    pub no_details: bool,

    /// Evaluate as of this instant (RFC 3339, e.g. 2026-11-01T00:00:00Z); default: when the
    /// data was collected.
    #[arg(long, value_name = "RFC3339", value_parser = parse_as_of, help_heading = "Rules")]
    pub as_of: Option<DateTime<Utc>>,
    /// Exit 1 when a finding is at or above this level: info, low, medium, high, critical,
    /// or never [default: low].
    #[arg(long, value_name = "LEVEL", value_parser = parse_fail_on, help_heading = "Rules")]
    pub fail_on: Option<FailOn>,
    /// key-too-old: flag active keys older than this many days [default: 90].
    #[arg(long, value_name = "DAYS", value_parser = parse_days, allow_negative_numbers = true, help_heading = "Rules")]
    pub max_key_age_days: Option<u32>,
    /// key-unused: flag active keys unused (or never used) for this many days [default: 45].
    #[arg(long, value_name = "DAYS", value_parser = parse_days, allow_negative_numbers = true, help_heading = "Rules")]
    pub unused_days: Option<u32>,
    /// inactive-key-kept: flag inactive keys idle for this many days [default: 30].
    #[arg(long, value_name = "DAYS", value_parser = parse_days, allow_negative_numbers = true, help_heading = "Rules")]
    pub inactive_grace_days: Option<u32>,
    /// two-active-keys: a newer key younger than this is a rotation in progress [default: 7].
    #[arg(long, value_name = "DAYS", value_parser = parse_days, allow_negative_numbers = true, help_heading = "Rules")]
    pub rotation_window_days: Option<u32>,
    /// Config file [default: ./keyaudit.toml if it exists].
    #[arg(long, value_name = "PATH", help_heading = "Rules")]
    pub config: Option<PathBuf>,
    /// Print the effective settings as a config file and exit.
    #[arg(long, help_heading = "Rules")]
    pub dump_config: bool,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
    /// Also write a report to PATH, format from the extension (.csv, .json, .txt, .sarif,
    /// .asff.json, .ocsf.json, .xml for JUnit, .md, .html); repeatable.
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    pub output: Vec<PathBuf>,
    /// Colour the table's severities on stdout: `auto` when stdout is a terminal and
    /// NO_COLOR is not set, `always`, or `never`. Files never get colour.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, help_heading = "Output")]
    pub color: ColorChoice,

    /// Record this run in a scan history (SQLite; created if missing) [default: `[history]
    /// path` from the config file]. See `keyaudit history`.
    #[arg(long, value_name = "PATH", help_heading = "History")]
    pub history: Option<PathBuf>,
    /// Compare with a baseline: a JSON report of an earlier scan, or `history` (the last
    /// complete run in the history that covers this scan's accounts). Every finding is then
    /// marked new or existing (`./history` names a file called history).
    #[arg(long, value_name = "REPORT.json|history", help_heading = "History")]
    pub baseline: Option<String>,
    /// With --baseline: only new findings at or above --fail-on fail the run (exit 1).
    #[arg(long, requires = "baseline", help_heading = "History")]
    pub fail_on_new: bool,

    /// Send the findings to `security-hub` (BatchImportFindings in --region, else the
    /// configured region; AWS_ENDPOINT_URL_SECURITYHUB reaches another endpoint), each
    /// account's through its own credentials (the role the scan assumed there; with
    /// --inventory or merge, --role-name). Each account scanned completely also has
    /// keyaudit's earlier findings that are gone archived. A finding not published is exit 3.
    #[arg(long, value_enum, value_name = "TARGET", help_heading = "Output")]
    pub publish: Option<crate::publish::Target>,

    /// Also write one report per owner (`[owners] tag-keys`) under --output-dir, in every
    /// --output format, plus `unowned` for the rest.
    #[arg(long, value_enum, value_name = "owner", requires = "output_dir", help_heading = "Output")]
    pub split_by: Option<SplitBy>,
    /// Group the table's findings by owner, account or rule, one table each: on stdout and in
    /// table files (`--output FILE.txt`, --split-by's `.txt` reports).
    #[arg(long, value_enum, value_name = "owner|account|rule", help_heading = "Output")]
    pub group_by: Option<crate::report::GroupBy>,
    /// Where --split-by writes its reports (created if missing).
    #[arg(long, value_name = "DIR", requires = "split_by", help_heading = "Output")]
    pub output_dir: Option<PathBuf>,
}

/// What `--split-by` splits the report by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitBy {
    Owner,
}

/// Where a scan's baseline comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaselineSource {
    Report(PathBuf),
    /// The last complete run of the same scope in the history.
    History,
}

/// How to reach AWS; shared by every subcommand that calls it.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// AWS profile name (else the standard credential chain: env, profile, SSO, IMDS).
    #[arg(long, help_heading = "Connection")]
    pub profile: Option<String>,
    /// Region for signing (IAM is global; defaults to the configured region, else us-east-1).
    #[arg(long, help_heading = "Connection")]
    pub region: Option<String>,
    /// Send IAM and STS calls to this endpoint (AWS_ENDPOINT_URL[_IAM] work too).
    #[arg(long, value_name = "URL", value_parser = parse_endpoint, help_heading = "Connection")]
    pub endpoint_url: Option<String>,
    /// Attempts per IAM call (first try included) before it is recorded as failed; throttled
    /// attempts back off exponentially (up to 20 s) under the SDK's standard retry.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Connection")]
    pub max_attempts: u32,
    /// The SDK's retry mode: `standard` (default) or `adaptive` (adds the SDK's own
    /// client-side rate limiter; measured slower, see the README's performance section).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = RetryMode::Standard, help_heading = "Connection")]
    pub retry_mode: RetryMode,
}

impl From<ConnectArgs> for ConnectOptions {
    fn from(args: ConnectArgs) -> ConnectOptions {
        ConnectOptions {
            profile: args.profile,
            region: args.region,
            endpoint_url: args.endpoint_url,
            max_attempts: args.max_attempts,
            retry_mode: args.retry_mode,
            total_concurrency: 0,
        }
    }
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Show one rule's full documentation.
    pub rule: Option<String>,
    /// `table` or `json`.
    #[arg(long, value_enum, default_value_t = RulesFormat::Table)]
    pub format: RulesFormat,
}

/// Formats for a list of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesFormat {
    Table,
    Json,
}

/// Where the inventory comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Live {
        crawl: CrawlOptions,
        accounts: AccountsOptions,
        progress: bool,
    },
    File(PathBuf),
    /// Several saved inventories reported as one (`keyaudit merge`).
    Merge(Vec<PathBuf>),
    CredentialReport(PathBuf),
    Demo,
}

/// A scan, validated.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    pub source: Source,
    /// How to reach AWS (a live scan, or applying a remediation plan).
    pub connect: ConnectOptions,
    pub save_inventory: Option<PathBuf>,
    pub settings: Settings,
    pub as_of: Option<DateTime<Utc>>,
    pub stdout_format: Format,
    /// `--color`; what it means for stdout is [`table_style`]'s to say.
    pub color: ColorChoice,
    pub outputs: Vec<(Format, PathBuf)>,
    /// The files this run reads (flag, path): no output may be one of them.
    pub inputs: Vec<(&'static str, PathBuf)>,
    pub dump_config: bool,
    /// Record the run here (`--history`, or the config's `[history] path`).
    pub history: Option<PathBuf>,
    pub baseline: Option<BaselineSource>,
    pub fail_on_new: bool,
    /// `--split-by owner --output-dir DIR`.
    pub split: Option<(SplitBy, PathBuf)>,
    /// `--group-by`: the table's findings in groups (stdout and table files).
    pub group_by: Option<crate::report::GroupBy>,
    /// Publish the findings here after the outputs are written (`--publish`).
    pub publish: Option<crate::publish::Target>,
    /// `--role-name` given: for an inventory that is not crawled now (`--inventory`, `merge`),
    /// the role `--publish` assumes in its accounts other than the caller's.
    pub saved_inventory_role: Option<AccountsOptions>,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// What stdout is, read once from the process's environment (`app`), so the choice below is a
/// pure function.
#[derive(Debug, Clone, Default)]
pub struct StdoutInfo {
    pub is_terminal: bool,
    /// The terminal's width in columns, as the terminal reports it.
    pub terminal_columns: Option<u16>,
    /// `COLUMNS`, which overrides the terminal's own width (as in `COLUMNS=80 keyaudit ...`).
    pub columns_var: Option<String>,
    /// `NO_COLOR` (<https://no-color.org>): set and not empty means no colour under `auto`.
    pub no_color_var: Option<String>,
}

/// How the table on stdout is drawn: on a terminal, as wide as it is and coloured unless
/// `NO_COLOR` or `--color never`; in a pipe or a file, the plain table (coloured only with
/// `--color always`).
pub fn table_style(choice: ColorChoice, stdout: &StdoutInfo) -> TableStyle {
    let width = if stdout.is_terminal {
        let columns = stdout.columns_var.as_deref().and_then(|text| text.trim().parse::<u16>().ok());
        columns.or(stdout.terminal_columns).filter(|&width| width > 0)
    } else {
        None
    };
    let no_color = stdout.no_color_var.as_deref().is_some_and(|value| !value.is_empty());
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout.is_terminal && !no_color,
    };
    TableStyle { width, color, group_by: None }
}

/// A problem with what the user asked for: exit 2, one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl ScanArgs {
    /// Validates the flags and merges defaults < config file < flags.
    pub fn into_plan(self) -> Result<ScanPlan, UsageError> {
        let (config_path, mut settings) = load_settings(self.config.as_ref())?;
        if let Some(fail_on) = self.fail_on {
            settings.fail_on = fail_on;
        }
        for (threshold, value) in [
            (Threshold::MaxKeyAgeDays, self.max_key_age_days),
            (Threshold::UnusedDays, self.unused_days),
            (Threshold::InactiveGraceDays, self.inactive_grace_days),
            (Threshold::RotationWindowDays, self.rotation_window_days),
        ] {
            if let Some(days) = value {
                settings.rules.thresholds.set(threshold, days);
            }
        }

        let mut outputs = Vec::new();
        for path in &self.output {
            let format = Format::from_path(path).map_err(UsageError)?;
            outputs.push((format, path.clone()));
        }
        let history = self.history.clone().or_else(|| settings.history.clone());
        let baseline = match self.baseline.as_deref() {
            None => None,
            Some("history") if history.is_none() => {
                return Err(UsageError(
                    "--baseline history: no history to read; give --history PATH or set `[history] path` in the config file".into(),
                ))
            }
            Some("history") => Some(BaselineSource::History),
            Some("") => return Err(UsageError("--baseline: expected a JSON report's path or `history`".into())),
            Some(path) => Some(BaselineSource::Report(PathBuf::from(path))),
        };
        let split = match (self.split_by, &self.output_dir) {
            (Some(by), Some(dir)) => {
                if outputs.is_empty() {
                    return Err(UsageError(
                        "--split-by writes every --output format per owner: give at least one --output"
                            .into(),
                    ));
                }
                if dir.exists() && !dir.is_dir() {
                    return Err(UsageError(format!("--output-dir {}: not a directory", dir.display())));
                }
                Some((by, dir.clone()))
            }
            _ => None,
        };
        let baseline_path = match &baseline {
            Some(BaselineSource::Report(path)) => Some(path.clone()),
            _ => None,
        };
        let inputs: Vec<(&'static str, PathBuf)> = [
            ("--inventory", &self.inventory),
            ("--credential-report", &self.credential_report),
            ("--config", &config_path),
            ("--accounts-file", &self.accounts_file),
            ("--baseline", &baseline_path),
        ]
        .into_iter()
        .filter_map(|(flag, path)| path.clone().map(|path| (flag, path)))
        .collect();

        // A saved inventory brings no credentials: --role-name says how --publish reaches its
        // accounts other than the caller's.
        let saved_inventory_role = self.role_name.clone().map(|role_name| AccountsOptions {
            role_name,
            external_id: self.external_id.clone(),
            session_name: self.role_session_name.clone(),
            ..AccountsOptions::default()
        });
        let source = if self.demo {
            Source::Demo
        } else if let Some(path) = self.inventory {
            Source::File(path)
        } else if let Some(path) = self.credential_report {
            Source::CredentialReport(path)
        } else {
            if self.shard.is_some() && !self.org && self.accounts.is_empty() && self.accounts_file.is_none() {
                return Err(UsageError(
                    "--shard splits a list of accounts: give --org, --accounts or --accounts-file".into(),
                ));
            }
            let mut accounts: Vec<String> = self.accounts.clone();
            if let Some(path) = &self.accounts_file {
                accounts.extend(read_accounts_file(path)?);
            }
            Source::Live {
                accounts: AccountsOptions {
                    org: self.org,
                    accounts: (!accounts.is_empty()).then_some(accounts),
                    role_name: self.role_name.unwrap_or_else(|| DEFAULT_ROLE_NAME.to_string()),
                    external_id: self.external_id,
                    session_name: self.role_session_name,
                    account_concurrency: self.account_concurrency.map(usize::from),
                    shard: self.shard,
                },
                crawl: CrawlOptions {
                    concurrency: usize::from(self.concurrency),
                    last_used_source: self.last_used_source,
                    details: !self.no_details,
                    // Counted from here, the start: the deadline bounds the whole scan.
                    deadline: self.deadline.map(|limit| tokio::time::Instant::now() + limit),
                },
                progress: !self.no_progress,
            }
        };
        let plan = ScanPlan {
            source,
            connect: ConnectOptions {
                total_concurrency: usize::from(self.total_concurrency),
                ..self.connect.into()
            },
            save_inventory: self.save_inventory,
            settings,
            as_of: self.as_of,
            stdout_format: self.format,
            color: self.color,
            outputs,
            inputs,
            dump_config: self.dump_config,
            history,
            baseline,
            fail_on_new: self.fail_on_new,
            split,
            group_by: self.group_by,
            publish: self.publish,
            saved_inventory_role,
        };
        if !plan.dump_config {
            plan.check_destinations(&[], &[])?;
        }
        Ok(plan)
    }
}

impl ScanPlan {
    /// Checks every file this run will write (its own outputs plus `more`) against each other
    /// and every file it reads (its own inputs plus `more_inputs`), before anything happens.
    pub fn check_destinations(&self, more: &[Destination], more_inputs: &[Input]) -> Result<(), UsageError> {
        let mut destinations: Vec<Destination> = self
            .outputs
            .iter()
            .map(|(_, path)| Destination { flag: "--output", path, mode: Mode::Replace })
            .collect();
        if let Some(path) = &self.save_inventory {
            destinations.push(Destination { flag: "--save-inventory", path, mode: Mode::Replace });
        }
        if let Some(path) = &self.history {
            destinations.push(Destination { flag: "--history", path, mode: Mode::Append });
        }
        destinations.extend_from_slice(more);
        let mut inputs: Vec<Input> = self.inputs.iter().map(|(flag, path)| Input { flag, path }).collect();
        inputs.extend_from_slice(more_inputs);
        output::check(&destinations, &inputs).map_err(UsageError)
    }
}

fn parse_account_id(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(id.to_string())
    } else {
        Err(format!("expected a 12-digit AWS account id, got `{text}`"))
    }
}

fn read_accounts_file(path: &Path) -> Result<Vec<String>, UsageError> {
    let text = crate::input::read_text(path, crate::input::LIMIT_SMALL)
        .map_err(|e| UsageError(format!("--accounts-file {}: cannot read it: {e}", path.display())))?;
    let mut ids = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        ids.push(parse_account_id(line).map_err(|e| {
            UsageError(format!("--accounts-file {} line {}: {e}", path.display(), index + 1))
        })?);
    }
    if ids.is_empty() {
        return Err(UsageError(format!("--accounts-file {}: no account ids in it", path.display())));
    }
    Ok(ids)
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    let bad = || format!("expected K/N with 1 <= K <= N, e.g. 2/8, got `{text}`");
    let (index, count) = text.split_once('/').ok_or_else(bad)?;
    let (index, count) =
        (index.trim().parse::<u32>().map_err(|_| bad())?, count.trim().parse::<u32>().map_err(|_| bad())?);
    if index == 0 || count == 0 || index > count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

fn parse_days(text: &str) -> Result<u32, String> {
    let days = text
        .parse::<u32>()
        .map_err(|_| format!("expected a whole number of days (0 or more), got `{text}`"))?;
    if days > crate::config::MAX_THRESHOLD_DAYS {
        return Err(format!("at most {} days (100 years), got `{text}`", crate::config::MAX_THRESHOLD_DAYS));
    }
    Ok(days)
}

fn parse_as_of(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|date| date.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 instant such as 2026-11-01T00:00:00Z ({e})"))
}

/// `90s`, `30m`, `2h`, `1h30m`, `500ms`: whole numbers with units, largest first; more than 0.
fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("ms", 1), ("m", 60_000), ("s", 1_000)];
    let bad = || format!("expected a duration such as 90s, 30m or 1h30m, got `{text}`");
    let mut rest = text.trim();
    let mut millis: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, scale) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit)).ok_or_else(bad)?;
        rest = &rest[unit.len()..];
        millis = number.checked_mul(*scale).and_then(|part| millis.checked_add(part)).ok_or_else(bad)?;
    }
    match millis {
        0 => Err(bad()),
        millis => Ok(Duration::from_millis(millis)),
    }
}

fn parse_fail_on(text: &str) -> Result<FailOn, String> {
    text.parse()
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("http://").or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(text.to_string()),
        _ => Err("expected an http:// or https:// URL with a host".to_string()),
    }
}

/// clap's errors, as one line (help and version pass through unchanged).
pub fn one_line(error: &clap::Error) -> String {
    let joined = error
        .render()
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty() && !line.starts_with("For more information") && !line.starts_with("Usage:")
        })
        .collect::<Vec<_>>()
        .join(" ");
    error_line(&joined)
}

/// Every error and warning line keyaudit prints goes through here. Messages quote inputs
/// (file contents, paths, IAM values), and a hostile input must not be able to split the
/// message over lines or drive the terminal: control characters (ANSI escapes included),
/// Unicode line separators and bidirectional overrides are written as Rust escapes
/// (`\n`, `\u{1b}`), so the line stays one line and shows what the input held.
pub fn error_line(text: &str) -> String {
    output::escape_controls(text.trim_end_matches(['\n', '\r']), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Result<ScanPlan, String> {
        let mut argv = vec!["keyaudit", "scan"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| one_line(&e))?;
        let Command::Scan(scan) = cli.command else { unreachable!("scan parsed") };
        scan.into_plan().map_err(|e| e.0)
    }

    #[test]
    fn table_style_fits_a_terminal_and_colours_it_unless_told_not_to() {
        let terminal = |columns: Option<&str>, no_color: Option<&str>| StdoutInfo {
            is_terminal: true,
            terminal_columns: Some(132),
            columns_var: columns.map(String::from),
            no_color_var: no_color.map(String::from),
        };
        let pipe = StdoutInfo { is_terminal: false, columns_var: Some("80".into()), ..StdoutInfo::default() };
        let style = |width, color| TableStyle { width, color, group_by: None };
        let cases = [
            (ColorChoice::Auto, terminal(None, None), style(Some(132), true)),
            (ColorChoice::Auto, terminal(Some("80"), None), style(Some(80), true)),
            (ColorChoice::Auto, terminal(Some("wide"), None), style(Some(132), true)),
            (ColorChoice::Auto, terminal(None, Some("1")), style(Some(132), false)),
            (ColorChoice::Auto, terminal(None, Some("")), style(Some(132), true)),
            (ColorChoice::Always, terminal(None, Some("1")), style(Some(132), true)),
            (ColorChoice::Never, terminal(None, None), style(Some(132), false)),
            // A pipe or a file: the plain table, whatever COLUMNS says.
            (ColorChoice::Auto, pipe.clone(), TableStyle::PLAIN),
            (ColorChoice::Never, pipe.clone(), TableStyle::PLAIN),
            (ColorChoice::Always, pipe, style(None, true)),
        ];
        for (choice, stdout, expected) in cases {
            assert_eq!(table_style(choice, &stdout), expected, "{choice:?} {stdout:?}");
        }
        assert_eq!(plan(&["--demo", "--color", "never"]).unwrap().color, ColorChoice::Never);
        assert_eq!(plan(&["--demo"]).unwrap().color, ColorChoice::Auto);
        assert!(plan(&["--demo", "--color", "sometimes"]).is_err());
    }

    #[test]
    fn flags_override_defaults() {
        let plan =
            plan(&["--demo", "--unused-days", "10", "--fail-on", "never", "--output", "r.csv"]).unwrap();
        assert_eq!(plan.settings.rules.thresholds.unused_days, 10);
        assert_eq!(plan.settings.rules.thresholds.max_key_age_days, 90);
        assert_eq!(plan.settings.fail_on, FailOn::Never);
        assert_eq!(plan.outputs, vec![(Format::Csv, PathBuf::from("r.csv"))]);
    }

    #[test]
    fn deadlines_read_like_durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        let plan = plan(&["--deadline", "30m"]).unwrap();
        let Source::Live { crawl, .. } = plan.source else { panic!("a live scan") };
        let left = crawl.deadline.expect("a deadline") - tokio::time::Instant::now();
        assert!(left <= Duration::from_secs(1800) && left > Duration::from_secs(1790), "{left:?}");
    }

    #[test]
    fn bad_flags_are_one_line_errors_naming_the_problem() {
        let cases = [
            (vec!["--format", "yaml"], "'yaml'"),
            (vec!["--unused-days", "-5"], "whole number of days"),
            (vec!["--unused-days", "ten"], "got `ten`"),
            (vec!["--inactive-grace-days", "4000000000"], "at most 36500 days"),
            (vec!["--as-of", "yesterday"], "RFC 3339"),
            (vec!["--fail-on", "severe"], "unknown level `severe`"),
            (vec!["--output", "report.yaml"], "unknown extension `.yaml`"),
            (vec!["--output", "report"], "no extension"),
            (vec!["--output", "/no/such/dir/r.csv"], "does not exist"),
            (vec!["--endpoint-url", "localhost:5000"], "http://"),
            (vec!["--concurrency", "0"], "--concurrency"),
            (vec!["--org", "--shard", "3/2"], "K/N with 1 <= K <= N"),
            (vec!["--org", "--shard", "0/2"], "got `0/2`"),
            (vec!["--shard", "1/2"], "--shard splits a list of accounts"),
            (vec!["--deadline", "10"], "such as 90s"),
            (vec!["--deadline", "0s"], "got `0s`"),
            (vec!["--deadline", "5x"], "got `5x`"),
            (vec!["--accounts", "123,456"], "12-digit AWS account id, got `123`"),
            (
                vec!["--accounts-file", "/no/such/accounts.txt"],
                "--accounts-file /no/such/accounts.txt: cannot read it",
            ),
            (vec!["--config", "/no/such/keyaudit.toml"], "cannot read it"),
        ];
        for (args, expected) in cases {
            let error = plan(&args).unwrap_err();
            assert!(error.contains(expected), "{args:?}: {error}");
            assert!(!error.contains('\n'), "{args:?}: {error}");
        }
    }

    #[test]
    fn error_lines_escape_control_characters_and_stay_one_line() {
        assert_eq!(error_line("plain `text` stays"), "plain `text` stays");
        assert_eq!(error_line("a\nb\r\tc\n"), "a\\nb\\r\\tc");
        assert_eq!(error_line("\u{1b}[2J\u{7}x\u{9b}"), "\\u{1b}[2J\\u{7}x\\u{9b}");
        assert_eq!(error_line("ab\u{202e}cd\u{2028}"), "ab\\u{202e}cd\\u{2028}");
        assert_eq!(error_line("caf\u{e9} \u{4e2d}"), "caf\u{e9} \u{4e2d}", "printable Unicode is kept");
    }
}
