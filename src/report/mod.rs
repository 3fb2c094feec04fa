//! Reports: one plain data type ([`Report`]) built once from the inventory, findings and
//! gate, and one small renderer per format. Renderers only format; they never decide
//! pass/fail (that is [`crate::exit::Gate`]) and no rule knows which formats exist.

pub mod asff;
mod csv;
mod html;
mod json;
mod junit;
mod keys;
mod markdown;
mod ocsf;
mod plan;
mod sarif;
mod table;

pub use keys::render_keys;
pub use plan::render_plan;
pub(crate) use table::new_table;
pub use table::{GroupBy, TableStyle, MIN_WIDTH};

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::exit::Gate;
use crate::finding::{BaselineState, Finding, RuleId, Severity};
use crate::model::{AccessKey, Account, Inventory, KeyStatus, LastUsed, Root, ScanError, User};
use crate::rules::{days_between, RuleLevel, RuleSettings, Thresholds, RULES};
use crate::suppress::SuppressionStatus;

/// Bumped when a field is removed or changes meaning (adding fields does not bump it).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Sarif,
    /// AWS Security Finding Format (Security Hub).
    Asff,
    /// OCSF 1.1.0 Detection Finding events.
    Ocsf,
    /// JUnit XML for CI test reports.
    Junit,
    /// A short summary for CI job summaries and merge-request comments.
    Markdown,
    /// One self-contained page with charts, for reviewers.
    Html,
}

/// `--output` file endings and their formats; the longer endings first (`.asff.json` before
/// `.json`).
const EXTENSIONS: [(&str, Format); 10] = [
    (".asff.json", Format::Asff),
    (".ocsf.json", Format::Ocsf),
    (".csv", Format::Csv),
    (".json", Format::Json),
    (".txt", Format::Table),
    (".sarif", Format::Sarif),
    (".xml", Format::Junit),
    (".md", Format::Markdown),
    (".html", Format::Html),
    (".htm", Format::Html),
];

impl Format {
    /// The file ending of the format (`.asff.json`, `.csv`): the first one `from_path` knows.
    pub fn extension(self) -> &'static str {
        EXTENSIONS.iter().find(|(_, format)| *format == self).map_or(".txt", |(ending, _)| ending)
    }

    /// The format an `--output` file gets from its extension.
    pub fn from_path(path: &Path) -> Result<Format, String> {
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_ascii_lowercase();
        if let Some((_, format)) = EXTENSIONS.iter().find(|(ending, _)| name.ends_with(ending)) {
            return Ok(*format);
        }
        let expected: Vec<&str> = EXTENSIONS.iter().map(|(ending, _)| *ending).collect();
        let expected = expected.join(", ");
        match path.extension().and_then(|ext| ext.to_str()) {
            Some(other) => Err(format!(
                "--output {}: unknown extension `.{other}` (expected {expected})",
                path.display()
            )),
            None => Err(format!(
                "--output {}: no extension to choose a format from (expected {expected})",
                path.display()
            )),
        }
    }

    /// The report in this format, as files and pipes get it (the table plain).
    pub fn render(self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        self.render_styled(report, &TableStyle::PLAIN, out)
    }

    /// The report in this format; `style` is how the table is drawn (other formats ignore it).
    pub fn render_styled(self, report: &Report, style: &TableStyle, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Format::Table if style.color => {
                // Every value and line was escaped as it was laid out; the colour escapes
                // comfy-table added are the only ones, and must stay.
                table::render(report, style, out)
            }
            Format::Table => {
                // The table is for a terminal: what the data holds is shown, never obeyed.
                // (Already escaped cell by cell; this pass guarantees it for the whole text.)
                let mut text = Vec::new();
                table::render(report, style, &mut text)?;
                let text = String::from_utf8_lossy(&text);
                out.write_all(crate::output::escape_controls(&text, true).as_bytes())
            }
            Format::Csv => csv::render(report, out),
            Format::Json => json::render(report, out),
            Format::Sarif => sarif::render(report, out),
            Format::Asff => asff::render(report, out),
            Format::Ocsf => ocsf::render(report, out),
            Format::Junit => junit::render(report, out),
            Format::Markdown => markdown::render(report, out),
            Format::Html => html::render(report, out),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// When this report was made.
    pub generated_at: DateTime<Utc>,
    /// The instant the rules were evaluated at.
    pub as_of: DateTime<Utc>,
    /// When the inventory was collected from IAM.
    pub collected_at: DateTime<Utc>,
    /// False when any call failed: the report then lacks data, see `errors`.
    pub complete: bool,
    pub accounts: Vec<AccountSummary>,
    pub summary: Summary,
    pub keys: Vec<KeyRow>,
    /// Every IAM user, those without keys too (they were checked: no key is no finding).
    pub users: Vec<UserRow>,
    pub findings: Vec<FindingRow>,
    /// Every configured suppression with its state (active, expired, stale).
    pub suppressions: Vec<SuppressionStatus>,
    pub errors: Vec<ScanError>,
    /// With `--baseline`: what it was and how this scan compares (null without one).
    pub baseline: Option<BaselineSummary>,
    /// With `--baseline`: its findings that this complete scan of their account no longer
    /// has. Never findings themselves; empty without a baseline.
    pub resolved: Vec<ResolvedRow>,
    /// What the rules looked at (not in the JSON report): for formats that also list what
    /// passed (JUnit) or name users by ARN (ASFF).
    #[serde(skip)]
    pub coverage: Coverage,
    /// The AWS region ASFF findings are for (their `ProductArn` and `Region`): `--region`,
    /// else [`DEFAULT_REGION`]. Not in the JSON report.
    #[serde(skip)]
    pub region: String,
    /// The rule thresholds the findings were judged against (not in the JSON report): for
    /// formats that draw them (the HTML report's charts).
    #[serde(skip)]
    pub thresholds: Thresholds,
}

/// One IAM user as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    pub account_id: String,
    pub user_name: String,
    pub user_arn: String,
    pub user_path: String,
    #[serde(serialize_with = "iso8601")]
    pub created: DateTime<Utc>,
    pub keys: usize,
    pub active_keys: usize,
    /// Null when it has none or it is unknown.
    pub owner: Option<String>,
    /// Null when unknown (details not read).
    pub privileged: Option<bool>,
}

/// The region of ASFF findings when `--region` is not given.
pub const DEFAULT_REGION: &str = "us-east-1";

/// What a scan evaluated, besides what it found.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// The enabled rules and the severity each ran at, in registry order.
    pub rules: Vec<(RuleId, Severity)>,
    /// Every user, in inventory order (users without keys too: user rules judged them).
    pub users: Vec<UserRef>,
    /// (account, user) -> position in `users`, so a lookup per finding is not a search.
    index: HashMap<(String, String), usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub account_id: String,
    pub user_name: String,
    pub arn: String,
}

impl Coverage {
    /// The user's ARN as IAM gave it, if the inventory has the user.
    pub fn arn(&self, account_id: &str, user_name: &str) -> Option<&str> {
        let at = *self.index.get(&(account_id.to_string(), user_name.to_string()))?;
        Some(self.users[at].arn.as_str())
    }

    fn new(rules: Vec<(RuleId, Severity)>, users: Vec<UserRef>) -> Coverage {
        let index = users
            .iter()
            .enumerate()
            .map(|(at, user)| ((user.account_id.clone(), user.user_name.clone()), at))
            .collect();
        Coverage { rules, users, index }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BaselineSummary {
    /// `report generated <time>` or `history run <id> (<time>)`.
    pub source: String,
    /// `--fail-on-new`: only new findings count toward exit 1.
    pub fail_on_new: bool,
    pub new: usize,
    pub existing: usize,
    pub resolved: usize,
    /// Baseline findings this scan cannot confirm gone (incomplete, or their account was
    /// not scanned): neither resolved nor findings.
    pub unverified: usize,
}

/// A baseline finding that is gone.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedRow {
    pub finding_id: String,
    pub rule: RuleId,
    pub severity: Severity,
    pub account_id: String,
    pub user_name: String,
    pub key_ids: Vec<String>,
    /// The message it had in the baseline.
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountSummary {
    pub account_id: String,
    /// `api` (GetAccessKeyLastUsed) or `credential-report`.
    pub last_used_source: LastUseSource,
    /// When the credential report that supplied last-use data was generated.
    pub credential_report_generated_at: Option<DateTime<Utc>>,
    pub users: usize,
    pub keys: usize,
    pub active_keys: usize,
    pub findings: usize,
    pub errors: usize,
    /// Whether the root user has an access key: `present`, `absent`, or `unknown` when it
    /// could not be read. `absent` says root was checked and is clean.
    pub root_access_key: RootAccessKey,
}

/// What is known about the root user's access keys (from [`crate::model::Account::root`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RootAccessKey {
    Present,
    Absent,
    Unknown,
}

impl RootAccessKey {
    pub fn of(root: Option<&Root>) -> RootAccessKey {
        match root {
            Some(root) if root.access_keys_present => RootAccessKey::Present,
            Some(_) => RootAccessKey::Absent,
            None => RootAccessKey::Unknown,
        }
    }
}

/// Where keys' last use came from: always one of two words (the credential report's time
/// is its own field, `credential_report_generated_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LastUseSource {
    /// GetAccessKeyLastUsed, per key.
    Api,
    /// An IAM credential report (`--last-used-source credential-report` or
    /// `--credential-report FILE`).
    CredentialReport,
}

impl LastUseSource {
    pub fn of(account: &Account) -> LastUseSource {
        match account.credential_report_generated_at {
            Some(_) => LastUseSource::CredentialReport,
            None => LastUseSource::Api,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LastUseSource::Api => "api",
            LastUseSource::CredentialReport => "credential-report",
        }
    }
}

/// Reads reports of every version: before issue 13 a finding's source in credential-report
/// mode was the text `credential-report generated <time>`.
impl<'de> Deserialize<'de> for LastUseSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "api" => Ok(LastUseSource::Api),
            "credential-report" => Ok(LastUseSource::CredentialReport),
            old if old.starts_with("credential-report ") => Ok(LastUseSource::CredentialReport),
            other => Err(serde::de::Error::custom(format!(
                "unknown last_used_source `{other}` (expected api or credential-report)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub accounts: usize,
    pub users: usize,
    pub keys: usize,
    pub active_keys: usize,
    pub findings: usize,
    /// Findings per severity, every level present.
    pub by_severity: BTreeMap<Severity, usize>,
    pub fail_on: &'static str,
    /// Findings at or above `fail_on` and not suppressed: these fail the run.
    pub failing: usize,
    /// Findings under a suppression in force (reported, not counted).
    pub suppressed: usize,
    pub errors: usize,
    pub complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LastUsedState {
    Used,
    Never,
    /// The lookup failed; see `errors`.
    Unknown,
}

impl LastUsedState {
    pub fn of(last_used: &LastUsed) -> LastUsedState {
        match last_used {
            LastUsed::At { .. } => LastUsedState::Used,
            LastUsed::Never => LastUsedState::Never,
            LastUsed::Unknown => LastUsedState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LastUsedState::Used => "used",
            LastUsedState::Never => "never",
            LastUsedState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    pub account_id: String,
    pub user_name: String,
    pub access_key_id: String,
    pub status: KeyStatus,
    #[serde(serialize_with = "iso8601")]
    pub created: DateTime<Utc>,
    pub age_days: i64,
    pub last_used_state: LastUsedState,
    /// Null when never used or unknown.
    #[serde(serialize_with = "iso8601_or_null")]
    pub last_used: Option<DateTime<Utc>>,
    pub last_used_service: Option<String>,
    pub last_used_region: Option<String>,
    /// The user's ARN and path (null in `keys list`, which reads only the keys).
    pub user_arn: Option<String>,
    pub user_path: Option<String>,
    /// `api` or `credential-report`.
    pub last_used_source: LastUseSource,
    /// With `last_used_source` `credential-report`: when that report was generated.
    #[serde(serialize_with = "iso8601_or_null")]
    pub credential_report_generated_at: Option<DateTime<Utc>>,
    /// The user's owner (`[owners] tag-keys`); null when it has none or it is unknown.
    pub owner: Option<String>,
    /// Whether the user is privileged; null when unknown (details not read).
    pub privileged: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingRow {
    /// The finding's identity (`rule:account:user:key`, see [`crate::finding::FindingId`]):
    /// the same in every run, to quote in a ticket, a suppression or a baseline.
    #[serde(default)]
    pub finding_id: String,
    pub rule: RuleId,
    pub severity: Severity,
    pub account_id: String,
    pub user_name: String,
    /// The key the finding names (for `two-active-keys` the older key, the one to
    /// deactivate); null only when none can be named (`root-access-key`). `key_ids` lists
    /// every key involved.
    pub access_key_id: Option<String>,
    pub key_ids: Vec<String>,
    pub message: String,
    pub key_status: Option<KeyStatus>,
    #[serde(serialize_with = "iso8601_or_null")]
    pub key_created: Option<DateTime<Utc>>,
    pub key_age_days: Option<i64>,
    /// The names `keys[]` uses for the same three values (`key_status`, `key_created`,
    /// `key_age_days`, which report schema 2 will drop).
    #[serde(default)]
    pub status: Option<KeyStatus>,
    #[serde(default)]
    #[serde(serialize_with = "iso8601_or_null")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub age_days: Option<i64>,
    pub last_used_state: Option<LastUsedState>,
    #[serde(serialize_with = "iso8601_or_null")]
    pub last_used: Option<DateTime<Utc>>,
    pub last_used_service: Option<String>,
    pub last_used_region: Option<String>,
    pub days_since_last_use: Option<i64>,
    /// Where `last_used` came from: `api` or `credential-report` (the account's source; set
    /// on every finding).
    #[serde(default)]
    pub last_used_source: Option<LastUseSource>,
    /// With `last_used_source` `credential-report`: when that report was generated.
    #[serde(default)]
    #[serde(serialize_with = "iso8601_or_null")]
    pub credential_report_generated_at: Option<DateTime<Utc>>,
    /// The user's ARN and path; null for the root user (`<root_account>`), which is not an
    /// IAM user.
    #[serde(default)]
    pub user_arn: Option<String>,
    #[serde(default)]
    pub user_path: Option<String>,
    /// Under a suppression in force: reported, but not counted by the exit code.
    #[serde(default)]
    pub suppressed: bool,
    /// Counts toward exit 1 (the gate's verdict on this finding: not suppressed, at or above
    /// `--fail-on`, and new with `--fail-on-new`).
    #[serde(default)]
    pub failing: bool,
    /// The reason of the suppression that matched (in force or expired).
    #[serde(default)]
    pub suppression_reason: Option<String>,
    #[serde(default)]
    pub suppression_expires: Option<NaiveDate>,
    /// A suppression matched but has expired: the finding counts again.
    #[serde(default)]
    pub suppression_expired: bool,
    /// Against `--baseline`: `new`, or `existing` when the baseline has it; null without one.
    #[serde(default)]
    pub baseline_state: Option<BaselineState>,
    /// The user's owner (`[owners] tag-keys`); null when it has none or it is unknown.
    #[serde(default)]
    pub owner: Option<String>,
    /// Whether the user is privileged; null when unknown (details not read).
    #[serde(default)]
    pub privileged: Option<bool>,
    /// Why it is privileged (`AdministratorAccess via group admins`).
    #[serde(default)]
    pub privileged_via: Vec<String>,
    /// The `[[scope]]` whose thresholds and levels applied; null: the base settings.
    #[serde(default)]
    pub scope: Option<String>,
    /// The compliance controls the rule checks (`CIS AWS Foundations v3.0.0/1.14`, ...): the
    /// rule's one list ([`RuleId::requirements`]), owned only when read back from a file.
    #[serde(default)]
    pub controls: Cow<'static, [String]>,
}

impl KeyRow {
    /// A key as `keys list` sees it: from the API, with no user details.
    pub fn new(account_id: &str, user_name: &str, key: &AccessKey, as_of: DateTime<Utc>) -> KeyRow {
        let (service, region) = match &key.last_used {
            LastUsed::At { service, region, .. } => (service.clone(), region.clone()),
            LastUsed::Never | LastUsed::Unknown => (None, None),
        };
        KeyRow {
            account_id: account_id.to_string(),
            user_name: user_name.to_string(),
            access_key_id: key.access_key_id.clone(),
            status: key.status,
            created: key.created,
            age_days: days_between(key.created, as_of),
            last_used_state: LastUsedState::of(&key.last_used),
            last_used: key.last_used.date(),
            last_used_service: service,
            last_used_region: region,
            user_arn: None,
            user_path: None,
            last_used_source: LastUseSource::Api,
            credential_report_generated_at: None,
            owner: None,
            privileged: None,
        }
    }

    /// A key of a scanned inventory: with its user's ARN, path, owner and privilege and its
    /// account's source.
    fn of(
        account: &Account,
        user: &User,
        key: &AccessKey,
        as_of: DateTime<Utc>,
        tag_keys: &[String],
    ) -> KeyRow {
        KeyRow {
            owner: crate::rules::owner_of(user, tag_keys).map(str::to_string),
            privileged: user.details.as_ref().map(|details| !details.privileged_via.is_empty()),
            user_arn: Some(user.arn.clone()),
            user_path: Some(user.path.clone()),
            last_used_source: LastUseSource::of(account),
            credential_report_generated_at: account.credential_report_generated_at,
            ..KeyRow::new(&account.account_id, &user.user_name, key, as_of)
        }
    }
}

impl Report {
    pub fn build(
        inventory: &Inventory,
        findings: &[Finding],
        gate: &Gate,
        rules: &RuleSettings,
        suppressions: &[SuppressionStatus],
        as_of: DateTime<Utc>,
        generated_at: DateTime<Utc>,
    ) -> Report {
        // Rows are built on every core (a large Organization has millions, a large account
        // thousands), in order.
        let keys: Vec<KeyRow> = inventory
            .accounts
            .par_iter()
            .flat_map(|account| {
                account.users.par_iter().flat_map_iter(move |user| {
                    user.keys
                        .iter()
                        .map(move |key| KeyRow::of(account, user, key, as_of, &rules.owner_tag_keys))
                })
            })
            .collect();
        // Indexes, not searches: a finding's account and user are looked up once each, and
        // per-account counts are one pass (searching made a large Organization quadratic).
        let accounts_by_id: HashMap<&str, &Account> =
            inventory.accounts.iter().map(|account| (account.account_id.as_str(), account)).collect();
        let users_by_name: HashMap<(&str, &str), &User> = inventory
            .accounts
            .iter()
            .flat_map(|account| {
                account
                    .users
                    .iter()
                    .map(move |user| ((account.account_id.as_str(), user.user_name.as_str()), user))
            })
            .collect();

        let findings: Vec<FindingRow> = findings
            .par_iter()
            .map(|finding| {
                let key = finding.key.as_ref();
                let last_used = key.and_then(|key| key.last_used.date());
                let (service, region) = match key.map(|key| &key.last_used) {
                    Some(LastUsed::At { service, region, .. }) => (service.clone(), region.clone()),
                    _ => (None, None),
                };
                let account = accounts_by_id.get(finding.account_id.as_str()).copied();
                let user =
                    users_by_name.get(&(finding.account_id.as_str(), finding.user_name.as_str())).copied();
                FindingRow {
                    finding_id: finding.id().to_string(),
                    rule: finding.rule,
                    severity: finding.severity,
                    account_id: finding.account_id.clone(),
                    user_name: finding.user_name.clone(),
                    access_key_id: finding.access_key_id.clone(),
                    key_ids: finding.key_ids.clone(),
                    message: finding.message.clone(),
                    key_status: key.map(|key| key.status),
                    key_created: key.map(|key| key.created),
                    key_age_days: key.map(|key| days_between(key.created, as_of)),
                    status: key.map(|key| key.status),
                    created: key.map(|key| key.created),
                    age_days: key.map(|key| days_between(key.created, as_of)),
                    last_used_state: key.map(|key| LastUsedState::of(&key.last_used)),
                    last_used,
                    last_used_service: service,
                    last_used_region: region,
                    days_since_last_use: last_used.map(|date| days_between(date, as_of)),
                    last_used_source: account.map(LastUseSource::of),
                    credential_report_generated_at: account.and_then(|a| a.credential_report_generated_at),
                    user_arn: user.map(|u| u.arn.clone()),
                    user_path: user.map(|u| u.path.clone()),
                    suppressed: finding.is_suppressed(),
                    failing: gate.counts(finding),
                    suppression_reason: finding.suppression.as_ref().map(|mark| mark.reason.clone()),
                    suppression_expires: finding.suppression.as_ref().and_then(|mark| mark.expires),
                    suppression_expired: finding.suppression.as_ref().is_some_and(|mark| mark.expired),
                    baseline_state: finding.baseline,
                    owner: finding.owner.clone(),
                    privileged: finding.privileged_via.as_ref().map(|reasons| !reasons.is_empty()),
                    privileged_via: finding.privileged_via.clone().unwrap_or_default(),
                    scope: finding.scope.clone(),
                    controls: Cow::Borrowed(finding.rule.requirements()),
                }
            })
            .collect();

        let mut active_by_account: HashMap<&str, usize> = HashMap::new();
        for key in keys.iter().filter(|key| key.status == KeyStatus::Active) {
            *active_by_account.entry(key.account_id.as_str()).or_default() += 1;
        }
        let mut findings_by_account: HashMap<&str, usize> = HashMap::new();
        for finding in &findings {
            *findings_by_account.entry(finding.account_id.as_str()).or_default() += 1;
        }
        let accounts: Vec<AccountSummary> = inventory
            .accounts
            .iter()
            .map(|account| AccountSummary {
                account_id: account.account_id.clone(),
                last_used_source: LastUseSource::of(account),
                credential_report_generated_at: account.credential_report_generated_at,
                users: account.users.len(),
                keys: account.users.iter().map(|user| user.keys.len()).sum(),
                active_keys: active_by_account.get(account.account_id.as_str()).copied().unwrap_or(0),
                findings: findings_by_account.get(account.account_id.as_str()).copied().unwrap_or(0),
                errors: inventory
                    .errors
                    .iter()
                    .filter(|e| e.account_id.as_deref() == Some(account.account_id.as_str()))
                    .count(),
                root_access_key: RootAccessKey::of(account.root.as_ref()),
            })
            .collect();

        let mut by_severity: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|&s| (s, 0)).collect();
        for finding in &findings {
            *by_severity.entry(finding.severity).or_default() += 1;
        }
        let summary = Summary {
            accounts: accounts.len(),
            users: accounts.iter().map(|a| a.users).sum(),
            keys: keys.len(),
            active_keys: keys.iter().filter(|key| key.status == KeyStatus::Active).count(),
            findings: findings.len(),
            by_severity,
            fail_on: gate.fail_on.as_str(),
            failing: gate.failing,
            suppressed: findings.iter().filter(|f| f.suppressed).count(),
            errors: inventory.errors.len(),
            complete: gate.complete,
        };

        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            generated_at,
            as_of,
            collected_at: inventory.collected_at,
            complete: gate.complete,
            accounts,
            summary,
            keys,
            findings,
            suppressions: suppressions.to_vec(),
            errors: inventory.errors.clone(),
            baseline: None,
            resolved: Vec::new(),
            users: inventory
                .accounts
                .iter()
                .flat_map(|account| {
                    account.users.iter().map(|user| UserRow {
                        account_id: account.account_id.clone(),
                        user_name: user.user_name.clone(),
                        user_arn: user.arn.clone(),
                        user_path: user.path.clone(),
                        created: user.created,
                        keys: user.keys.len(),
                        active_keys: user.keys.iter().filter(|key| key.status == KeyStatus::Active).count(),
                        owner: crate::rules::owner_of(user, &rules.owner_tag_keys).map(str::to_string),
                        privileged: user.details.as_ref().map(|details| !details.privileged_via.is_empty()),
                    })
                })
                .collect(),
            coverage: Coverage::new(
                RULES
                    .iter()
                    .filter_map(|rule| match rules.level(rule.rule_id) {
                        RuleLevel::Severity(severity) => Some((rule.rule_id, severity)),
                        RuleLevel::Allow => None,
                    })
                    .collect(),
                inventory
                    .accounts
                    .iter()
                    .flat_map(|account| {
                        account.users.iter().map(|user| UserRef {
                            account_id: account.account_id.clone(),
                            user_name: user.user_name.clone(),
                            arn: user.arn.clone(),
                        })
                    })
                    .collect(),
            ),
            region: DEFAULT_REGION.to_string(),
            thresholds: rules.thresholds,
        }
    }
}

/// Writes `value` as pretty-printed JSON and a newline: every JSON document keyaudit writes.
///
/// serde_json writes a token at a time. Handed `out` itself, each token was a virtual call
/// into the caller's writer; a buffer of a concrete type takes them inline and passes `out`
/// 64 KiB at a time (measured: `scan --inventory` of 150,000 keys with the JSON report and a
/// CSV file, 2.52 s -> 2.08 s).
pub(crate) fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut buffered = io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer_pretty(&mut buffered, value)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// A date as chrono's own `Serialize` writes it (RFC 3339, `Z`, fractions only when there
/// are any), formatted whole first: chrono hands serde_json a `Display` that writes a
/// character at a time, each one escaped and written on its own, which was a tenth of the
/// time of rendering a large JSON report (measured with `perf`).
fn iso8601<S: serde::Serializer>(date: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&date.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// [`iso8601`], or null.
fn iso8601_or_null<S: serde::Serializer>(
    date: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => iso8601(date, serializer),
        None => serializer.serialize_none(),
    }
}

/// Dates in tables and CSV: RFC 3339 in UTC, to the second.
pub(crate) fn format_date(date: DateTime<Utc>) -> String {
    date.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::config::Settings;

    /// The demo's report at its collection instant (as `reports/` has it), changed by `edit`.
    pub fn demo_report(edit: impl FnOnce(&mut Report)) -> Report {
        let inventory = crate::app::parse_inventory("demo", crate::app::DEMO_INVENTORY).unwrap();
        let settings = Settings::default();
        let as_of = inventory.collected_at;
        let findings = crate::rules::evaluate(&inventory, &settings.rules, as_of);
        let gate = Gate::new(&findings, settings.fail_on, inventory.is_complete());
        let mut report = Report::build(&inventory, &findings, &gate, &settings.rules, &[], as_of, as_of);
        edit(&mut report);
        report
    }

    /// `report` rendered as `format`, as its file would hold it.
    pub fn rendered(format: Format, report: &Report) -> String {
        let mut out = Vec::new();
        format.render(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::FailOn;
    use crate::rules::{evaluate, RuleSettings};
    use chrono::Duration;
    use test_support::rendered;

    fn as_of() -> DateTime<Utc> {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    /// One account, one user `alice` (path `/service/`) with the given keys.
    pub(crate) fn inventory(keys: Vec<AccessKey>) -> Inventory {
        Inventory {
            schema_version: 1,
            collected_at: as_of(),
            accounts: vec![Account {
                account_id: "111122223333".into(),
                users: vec![User {
                    user_name: "alice".into(),
                    path: "/service/".into(),
                    arn: "arn:aws:iam::111122223333:user/service/alice".into(),
                    created: as_of() - Duration::days(1000),
                    keys,
                    details: None,
                }],
                root: None,
                credential_report_generated_at: None,
            }],
            errors: vec![],
            shard: None,
        }
    }

    /// The report writes dates itself (see [`iso8601`]); they must read exactly as chrono's
    /// own `Serialize` writes them, whole seconds or not, in every row that has one.
    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        for date in [
            "2020-06-01T12:00:00Z",
            "2020-06-01T12:00:00.5Z",
            "2020-06-01T12:00:00.123456Z",
            "2020-06-01T12:00:00.123456789Z",
            "1970-01-01T00:00:00Z",
        ] {
            let date: DateTime<Utc> = date.parse().unwrap();
            let chrono = serde_json::to_string(&date).unwrap();
            let mut row = KeyRow::new("111122223333", "alice", &key_at(date), as_of());
            row.last_used = Some(date);
            row.credential_report_generated_at = Some(date);
            let written = serde_json::to_value(&row).unwrap();
            for field in ["created", "last_used", "credential_report_generated_at"] {
                assert_eq!(written[field].to_string(), chrono, "{field}");
            }
            let mut report = report_of(&inventory(vec![key_at(date)]));
            let finding = report.findings.first_mut().expect("a finding on a key that old");
            finding.credential_report_generated_at = Some(date);
            let written = serde_json::to_value(&*finding).unwrap();
            for field in ["key_created", "created", "last_used", "credential_report_generated_at"] {
                assert_eq!(written[field].to_string(), chrono, "{field}");
            }
            assert_eq!(
                serde_json::to_value(&report.users[0]).unwrap()["created"].to_string(),
                serde_json::to_string(&report.users[0].created).unwrap()
            );
        }
        let never = AccessKey { last_used: LastUsed::Never, ..key_at(as_of()) };
        let row = KeyRow::new("111122223333", "alice", &never, as_of());
        assert_eq!(serde_json::to_value(&row).unwrap()["last_used"], serde_json::Value::Null);
    }

    /// An active key created and last used at `date`.
    fn key_at(date: DateTime<Utc>) -> AccessKey {
        AccessKey {
            access_key_id: "AKIAEXAMPLE000000001".into(),
            status: KeyStatus::Active,
            created: date,
            last_used: LastUsed::At { date, service: Some("s3".into()), region: Some("us-east-1".into()) },
        }
    }

    pub(crate) fn report_of(inventory: &Inventory) -> Report {
        let findings = evaluate(inventory, &RuleSettings::default(), as_of());
        let gate = Gate::new(&findings, FailOn::AtOrAbove(Severity::Low), inventory.is_complete());
        Report::build(inventory, &findings, &gate, &RuleSettings::default(), &[], as_of(), as_of())
    }

    /// The reviewer's 90.5-day key: over the limit, so it shows 91 everywhere, never 90; and
    /// its last use 45.5 days ago shows 46 (its 46th day idle), never 45.
    #[test]
    fn a_key_ninety_and_a_half_days_old_shows_91_in_every_format() {
        let half = Duration::hours(12);
        let key = AccessKey {
            access_key_id: "AKIAHALF".into(),
            status: KeyStatus::Active,
            created: as_of() - Duration::days(90) - half,
            last_used: LastUsed::At {
                date: as_of() - Duration::days(45) - half,
                service: None,
                region: None,
            },
        };
        let report = report_of(&inventory(vec![key]));
        assert_eq!(report.keys[0].age_days, 91);
        let rules: Vec<RuleId> = report.findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, [RuleId::KeyTooOld, RuleId::KeyUnused]);
        for f in &report.findings {
            assert_eq!((f.key_age_days, f.days_since_last_use), (Some(91), Some(46)), "{f:?}");
        }
        assert_eq!(report.findings[0].message, "active key is 91 days old (limit 90 days); rotate it");
        assert_eq!(
            report.findings[1].message,
            "active key last used 46 days ago (limit 45 days); deactivate it"
        );

        let csv = rendered(Format::Csv, &report);
        let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
        let header = reader.headers().unwrap().clone();
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        for row in reader.records() {
            let row = row.unwrap();
            assert_eq!((&row[column("key_age_days")], &row[column("days_since_last_use")]), ("91", "46"));
        }
        let table = rendered(Format::Table, &report);
        assert!(table.contains("| 91d ") && table.contains("(46d ago)"), "{table}");
        assert!(!table.contains("is 90 days") && !table.contains("90d"), "{table}");
    }

    fn two_keys() -> Vec<AccessKey> {
        let key = |id: &str, days: i64| AccessKey {
            access_key_id: id.into(),
            status: KeyStatus::Active,
            created: as_of() - Duration::days(days),
            last_used: LastUsed::Never,
        };
        vec![key("AKIANEW", 30), key("AKIAOLD", 200)]
    }

    #[test]
    fn user_arn_and_path_are_on_every_key_and_finding_in_every_format() {
        let report = report_of(&inventory(two_keys()));
        let arn = "arn:aws:iam::111122223333:user/service/alice";
        assert!(!report.findings.is_empty());
        for key in &report.keys {
            assert_eq!((key.user_arn.as_deref(), key.user_path.as_deref()), (Some(arn), Some("/service/")));
        }
        for f in &report.findings {
            assert_eq!(
                (f.user_arn.as_deref(), f.user_path.as_deref()),
                (Some(arn), Some("/service/")),
                "{f:?}"
            );
        }
        let json: serde_json::Value = serde_json::from_str(&rendered(Format::Json, &report)).unwrap();
        assert_eq!(json["keys"][0]["user_arn"], arn);
        assert_eq!(json["findings"][0]["user_path"], "/service/");

        let csv = rendered(Format::Csv, &report);
        let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        // New columns come after the ones readers already index.
        assert_eq!(
            header[19..23],
            ["baseline_state", "user_arn", "user_path", "credential_report_generated_at"]
        );
        for row in reader.records() {
            let row = row.unwrap();
            assert_eq!((&row[20], &row[21]), (arn, "/service/"));
        }
        let table = rendered(Format::Table, &report);
        assert!(
            table.contains("| PATH ") && table.contains(arn) && table.contains("| /service/ "),
            "{table}"
        );
    }

    #[test]
    fn two_active_keys_names_the_older_key_in_every_format() {
        let report = report_of(&inventory(two_keys()));
        let two = report.findings.iter().find(|f| f.rule == RuleId::TwoActiveKeys).unwrap();
        assert_eq!(two.access_key_id.as_deref(), Some("AKIAOLD"));
        assert_eq!(two.key_ids, ["AKIANEW", "AKIAOLD"]);
        assert_eq!(two.finding_id, "two-active-keys:111122223333:alice:AKIANEW+AKIAOLD");
        assert_eq!(two.key_age_days, Some(200), "the key columns describe the named key");
        assert!(two.message.ends_with("deactivate the older key AKIAOLD"), "{}", two.message);
        let table = rendered(Format::Table, &report);
        assert!(table.contains("| AKIAOLD ") && table.contains("also: AKIANEW"), "{table}");
        let sarif: serde_json::Value = serde_json::from_str(&rendered(Format::Sarif, &report)).unwrap();
        let location = sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ruleId"] == "two-active-keys")
            .map(|r| r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].clone())
            .unwrap();
        assert_eq!(location, "111122223333/alice/AKIANEW+AKIAOLD", "SARIF location unchanged");
    }

    #[test]
    fn root_access_key_says_present_absent_or_unknown_and_the_table_says_it_was_checked() {
        let cases = [
            (Some(Root { access_keys_present: false, keys: vec![] }), "absent", "no access key (checked)", 0),
            (Some(Root { access_keys_present: true, keys: vec![] }), "present", "has an access key", 1),
            (None, "unknown", "UNKNOWN (could not be read)", 0),
        ];
        for (root, json_value, line, root_findings) in cases {
            let mut inventory = inventory(vec![]);
            inventory.accounts[0].root = root;
            let report = report_of(&inventory);
            let json: serde_json::Value = serde_json::from_str(&rendered(Format::Json, &report)).unwrap();
            assert_eq!(json["accounts"][0]["root_access_key"], json_value);
            let table = rendered(Format::Table, &report);
            assert!(table.contains(&format!("Root user of 111122223333: {line}")), "{table}");
            let found = report.findings.iter().filter(|f| f.rule == RuleId::RootAccessKey).count();
            assert_eq!(found, root_findings, "{json_value}");
            if root_findings == 1 {
                let f = report.findings.iter().find(|f| f.rule == RuleId::RootAccessKey).unwrap();
                assert_eq!(
                    (f.user_arn.as_deref(), f.user_path.as_deref()),
                    (None, None),
                    "root is not an IAM user"
                );
            }
        }
    }

    #[test]
    fn last_used_source_is_one_of_two_words_with_the_report_time_apart() {
        let generated: DateTime<Utc> = "2026-06-01T08:00:00Z".parse().unwrap();
        for (at, word) in [(None, "api"), (Some(generated), "credential-report")] {
            let mut inventory = inventory(two_keys());
            inventory.accounts[0].credential_report_generated_at = at;
            let report = report_of(&inventory);
            let json: serde_json::Value = serde_json::from_str(&rendered(Format::Json, &report)).unwrap();
            let at = at.map(|_| "2026-06-01T08:00:00Z");
            assert_eq!(json["accounts"][0]["last_used_source"], word);
            for row in json["keys"].as_array().unwrap().iter().chain(json["findings"].as_array().unwrap()) {
                assert_eq!(row["last_used_source"], word, "{row}");
                assert_eq!(row["credential_report_generated_at"].as_str(), at, "{row}");
            }
            let csv = rendered(Format::Csv, &report);
            let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
            for row in reader.records() {
                let row = row.unwrap();
                assert_eq!((&row[15], &row[22]), (word, at.unwrap_or_default()));
            }
        }
        // Reports written before this field had two words still load (remediate --report).
        for (old, expected) in [
            ("\"credential-report generated 2026-06-01T08:00:00Z\"", LastUseSource::CredentialReport),
            ("\"api\"", LastUseSource::Api),
        ] {
            assert_eq!(serde_json::from_str::<LastUseSource>(old).unwrap(), expected);
        }
        assert!(serde_json::from_str::<LastUseSource>("\"carrier pigeon\"").is_err());
    }

    #[test]
    fn users_without_keys_are_listed_and_findings_use_the_keys_names_too() {
        let report = test_support::demo_report(|_| {});
        let grace =
            report.users.iter().find(|u| u.user_name == "grace.console").expect("the user with no key");
        assert_eq!(
            (grace.keys, grace.active_keys, grace.owner.as_deref()),
            (0, 0, Some("grace@example.com"))
        );
        assert_eq!(report.users.len(), report.summary.users);
        let json: serde_json::Value = serde_json::from_str(&tests_render(Format::Json, &report)).unwrap();
        let finding =
            json["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "key-too-old").unwrap();
        for (new, old) in [("status", "key_status"), ("created", "key_created"), ("age_days", "key_age_days")]
        {
            assert_eq!(finding[new], finding[old], "{new}");
            assert!(!finding[new].is_null(), "{new}");
        }
        assert!(json["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_name"] == "grace.console" && u["keys"] == 0));
    }

    #[test]
    fn every_finding_carries_its_rules_controls_in_json_csv_and_sarif() {
        let report = test_support::demo_report(|_| {});
        let too_old = report.findings.iter().find(|f| f.rule == RuleId::KeyTooOld).unwrap();
        assert!(too_old.controls.contains(&"AWS Security Hub/IAM.3".to_string()), "{:?}", too_old.controls);
        assert!(too_old.controls.contains(&"PCI DSS v4.0/8.3.9".to_string()));
        let json: serde_json::Value = serde_json::from_str(&tests_render(Format::Json, &report)).unwrap();
        assert_eq!(json["findings"][0]["controls"], serde_json::json!(report.findings[0].controls));
        let csv = tests_render(Format::Csv, &report);
        let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
        let column = reader.headers().unwrap().iter().position(|h| h == "controls").unwrap();
        let first = reader.records().next().unwrap().unwrap();
        assert_eq!(&first[column], report.findings[0].controls.join("; "));
        let sarif: serde_json::Value = serde_json::from_str(&tests_render(Format::Sarif, &report)).unwrap();
        assert_eq!(sarif["runs"][0]["results"][0]["properties"]["controls"], json["findings"][0]["controls"]);
    }

    fn tests_render(format: Format, report: &Report) -> String {
        let mut out = Vec::new();
        format.render(report, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn output_extensions_choose_the_format() {
        let cases = [
            ("r.csv", Format::Csv),
            ("r.json", Format::Json),
            ("R.JSON", Format::Json),
            ("r.txt", Format::Table),
            ("r.sarif", Format::Sarif),
            ("r.asff.json", Format::Asff),
            ("r.ocsf.json", Format::Ocsf),
            ("junit.XML", Format::Junit),
            ("summary.md", Format::Markdown),
            ("review.html", Format::Html),
            ("REVIEW.HTM", Format::Html),
            ("dir.asff.json/r.json", Format::Json),
            ("findings.ASFF.JSON", Format::Asff),
        ];
        for (path, format) in cases {
            assert_eq!(Format::from_path(Path::new(path)), Ok(format), "{path}");
        }
        assert!(Format::from_path(Path::new("r.yaml")).unwrap_err().contains("unknown extension `.yaml`"));
        assert!(Format::from_path(Path::new("r")).unwrap_err().contains("no extension"));
    }
}
