//! The scan history: every run remembered in one SQLite file (rusqlite with its bundled
//! SQLite, so no system library and no server).
//!
//! Design decisions, each for a promise the history makes:
//! - **A run is recorded in one `BEGIN IMMEDIATE` transaction**, so a crash leaves no half
//!   run, and two scans writing at once queue on SQLite's write lock (WAL mode, a busy
//!   timeout) instead of failing or interleaving.
//! - **The file is checked before anything is written to it**: read-only first, SQLite's
//!   header, our `application_id`, the schema version. A file that is not a keyaudit
//!   history, or one written by a newer keyaudit, is an error and stays byte for byte as it
//!   was ([`HistoryError::Unusable`], exit 2).
//! - **Fail closed over time.** A finding's episode is resolved only by a *complete* run
//!   whose scope holds its account and which evaluated its rule. An incomplete run (any
//!   failed call) resolves nothing: a key missing because a call was throttled is unknown,
//!   never fixed.
//! - **Key states are intervals** (`key_states.first_run..=last_run`): a key that did not
//!   change costs no row per run. An interval is extended only from the account's previous
//!   run, so a run that did not see the key (a failed call) leaves a gap, not a guess.
//! - **Findings are episodes** (`findings`: first seen, last seen, resolved) with their
//!   states as intervals too (`finding_states`), so a diff of any two runs is exact and a
//!   finding open for a year costs a row, not 365.
//! - **A key's last-use date has its own table** (`key_last_used`), a row only when it
//!   changed: it moves daily for a key in use, and would otherwise split the key's interval
//!   every run. Measured: this and the finding intervals took a year of daily runs of 5,000
//!   users from 259 MB to the figure in the README.
//! - **Per-run figures are computed when the run is recorded** (`runs`, `run_rule_counts`),
//!   so `history list` and `history trend` read one row per run.
//!
//! The schema is in [`schema::SCHEMA`] and documented in the README for auditors who query
//! the file with any SQLite tool.

pub mod query;
pub mod render;
mod schema;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::finding::{Finding, FindingId, RuleId, Severity};
use crate::model::{Inventory, KeyStatus, LastUsed};
use crate::report::LastUsedState;
use crate::rules::{days_between, RuleLevel, RuleSettings, RULES};

pub use schema::SCHEMA_VERSION;

/// `PRAGMA application_id` of a keyaudit history: "kaud". Tells our file from any other
/// SQLite database.
const APPLICATION_ID: i32 = 0x6b61_7564;

/// How long a writer waits for another writer's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file cannot be used as a history: not SQLite, not ours, newer, missing, corrupt.
    /// Nothing was written to it (exit 2).
    #[error("--history {path}: {message}")]
    Unusable { path: PathBuf, message: String },
    /// A failure while reading or writing a usable history.
    #[error("--history {path}: {message}")]
    Failed { path: PathBuf, message: String },
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What a run is, besides its inventory and findings.
pub struct RunMeta<'a> {
    pub as_of: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// `live`, `inventory`, `credential-report`, `demo` or `merge`.
    pub source: &'a str,
    pub settings: &'a RuleSettings,
    pub fail_on: &'a str,
    /// The suppressions in force, as selectors (what shaped `suppressed`).
    pub suppressions: Vec<String>,
}

/// The settings that shape findings, stored with each run as JSON.
#[derive(Serialize)]
struct StoredSettings<'a> {
    thresholds: crate::rules::Thresholds,
    rules: std::collections::BTreeMap<&'static str, &'static str>,
    fail_on: &'a str,
    suppressions: &'a [String],
}

impl Store {
    /// Opens (creating it if `create` and it does not exist) and checks a history file.
    pub fn open(path: &Path, create: bool) -> Result<Store, HistoryError> {
        let unusable = |message: String| HistoryError::Unusable { path: path.to_path_buf(), message };
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Err(unusable("is a directory, not a history file".into())),
            Ok(meta) if !meta.is_file() => return Err(unusable("is not a regular file".into())),
            Ok(meta) if meta.len() > 0 => check_existing(path).map_err(unusable)?,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unusable("no such file (a scan with --history creates it)".into()))
            }
            Err(e) => return Err(unusable(format!("cannot read it: {e}"))),
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| unusable(format!("cannot open it: {e}")))?;
        let mut store = Store { conn, path: path.to_path_buf() };
        store.prepare().map_err(|e| unusable(e.to_string()))?;
        Ok(store)
    }

    fn failed(&self, e: impl std::fmt::Display) -> HistoryError {
        HistoryError::Failed { path: self.path.clone(), message: e.to_string() }
    }

    /// WAL, busy timeout, and the schema created or migrated (in one transaction).
    fn prepare(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // Switching a new file to WAL needs it to itself, and SQLite answers "database is
        // locked" at once there instead of waiting the busy timeout: two scans starting on a
        // new history at once had one refused (seen in CI). Wait for it here instead.
        let waited_until = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match self.conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < waited_until =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                done => break done?,
            }
        }
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        schema::migrate(&tx, version)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Records one run in one transaction; returns its id.
    pub fn record(
        &mut self,
        inventory: &Inventory,
        findings: &[Finding],
        meta: &RunMeta,
    ) -> Result<i64, HistoryError> {
        self.record_inner(inventory, findings, meta)
            .map_err(|e| self.failed(format!("cannot record the run: {e}")))
    }

    fn record_inner(
        &mut self,
        inventory: &Inventory,
        findings: &[Finding],
        meta: &RunMeta,
    ) -> rusqlite::Result<i64> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let collected_at = timestamp(inventory.collected_at);
        let complete = inventory.is_complete();
        let stored = StoredSettings {
            thresholds: meta.settings.thresholds,
            rules: RULES.iter().map(|rule| (rule.id, meta.settings.level(rule.rule_id).as_str())).collect(),
            fail_on: meta.fail_on,
            suppressions: &meta.suppressions,
        };
        let figures = RunFigures::of(inventory, findings, meta);
        tx.execute(
            "INSERT INTO runs (recorded_at, collected_at, as_of, keyaudit_version, source, complete, settings,
                accounts, users, keys, active_keys, active_within_max_age, median_key_age_days,
                oldest_key_age_days, findings, critical, high, medium, low, info, suppressed, errors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            params![
                timestamp(meta.recorded_at),
                collected_at,
                timestamp(meta.as_of),
                env!("CARGO_PKG_VERSION"),
                meta.source,
                complete,
                serde_json::to_string(&stored).expect("settings serialize"),
                figures.accounts,
                figures.users,
                figures.keys,
                figures.active_keys,
                figures.active_within_max_age,
                figures.median_key_age_days,
                figures.oldest_key_age_days,
                findings.len() as i64,
                figures.by_severity[&Severity::Critical],
                figures.by_severity[&Severity::High],
                figures.by_severity[&Severity::Medium],
                figures.by_severity[&Severity::Low],
                figures.by_severity[&Severity::Info],
                figures.suppressed,
                inventory.errors.len() as i64,
            ],
        )?;
        let run_id = tx.last_insert_rowid();

        // Scope: every account the run looked at, with the run of it before this one.
        let scope = scope_of(inventory);
        let mut previous_run: HashMap<&str, Option<i64>> = HashMap::new();
        {
            let mut previous = tx.prepare_cached(
                "SELECT MAX(run_id) FROM run_accounts WHERE account_id = ?1 AND run_id < ?2",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO run_accounts (run_id, account_id, users, keys, errors) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for account_id in &scope {
                let before: Option<i64> =
                    previous.query_row(params![account_id, run_id], |row| row.get(0))?;
                previous_run.insert(account_id.as_str(), before);
                let account = inventory.accounts.iter().find(|a| &a.account_id == account_id);
                let users = account.map_or(0, |a| a.users.len()) as i64;
                let keys = account.map_or(0, |a| a.users.iter().map(|u| u.keys.len()).sum::<usize>()) as i64;
                let errors =
                    inventory.errors.iter().filter(|e| e.account_id.as_deref() == Some(account_id)).count()
                        as i64;
                insert.execute(params![run_id, account_id, users, keys, errors])?;
            }
        }

        record_keys(&tx, inventory, run_id, &previous_run)?;
        record_findings(
            &tx,
            findings,
            run_id,
            &collected_at,
            &scope,
            &previous_run,
            complete,
            meta.settings,
        )?;

        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO run_rule_counts (run_id, rule, severity, open, suppressed) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut counts: std::collections::BTreeMap<(RuleId, Severity), (i64, i64)> = Default::default();
            for finding in findings {
                let entry = counts.entry((finding.rule, finding.severity)).or_default();
                entry.0 += 1;
                entry.1 += i64::from(finding.is_suppressed());
            }
            for ((rule, severity), (open, suppressed)) in counts {
                insert.execute(params![run_id, rule.as_str(), severity.as_str(), open, suppressed])?;
            }
            let mut error = tx.prepare_cached(
                "INSERT INTO run_errors (run_id, account_id, user_name, access_key_id, operation, code, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for e in &inventory.errors {
                error.execute(params![
                    run_id,
                    e.account_id,
                    e.user_name,
                    e.access_key_id,
                    e.operation,
                    e.code,
                    e.message
                ])?;
            }
        }
        tx.commit()?;
        Ok(run_id)
    }
}

/// The accounts a run looked at: those in its inventory, and those named by a failed call
/// (an account whose role could not be assumed is in scope: it was meant to be scanned).
pub fn scope_of(inventory: &Inventory) -> BTreeSet<String> {
    let mut scope: BTreeSet<String> = inventory.accounts.iter().map(|a| a.account_id.clone()).collect();
    scope.extend(inventory.errors.iter().filter_map(|e| e.account_id.clone()));
    scope
}

/// One key state per key, extending the key's last interval when nothing changed since the
/// account's previous run; its last-use date only when it moved.
fn record_keys(
    tx: &rusqlite::Transaction,
    inventory: &Inventory,
    run_id: i64,
    previous_run: &HashMap<&str, Option<i64>>,
) -> rusqlite::Result<()> {
    let mut insert_key = tx.prepare_cached(
        "INSERT INTO keys (account_id, user_name, access_key_id, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id, access_key_id) DO UPDATE SET user_name = excluded.user_name
         RETURNING key_ref",
    )?;
    let mut latest = tx.prepare_cached(
        "SELECT first_run, last_run, status, last_used_state, last_used_service, last_used_region
         FROM key_states WHERE key_ref = ?1 ORDER BY first_run DESC LIMIT 1",
    )?;
    let mut extend =
        tx.prepare_cached("UPDATE key_states SET last_run = ?1 WHERE key_ref = ?2 AND first_run = ?3")?;
    let mut insert_state = tx.prepare_cached(
        "INSERT INTO key_states (key_ref, first_run, last_run, status, last_used_state,
            last_used_service, last_used_region) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut latest_use = tx.prepare_cached(
        "SELECT last_used FROM key_last_used WHERE key_ref = ?1 ORDER BY run_id DESC LIMIT 1",
    )?;
    let mut insert_use =
        tx.prepare_cached("INSERT INTO key_last_used (key_ref, run_id, last_used) VALUES (?1, ?2, ?3)")?;
    for (account, user, key) in inventory.keys() {
        let key_ref: i64 = insert_key.query_row(
            params![account.account_id, user.user_name, key.access_key_id, timestamp(key.created)],
            |row| row.get(0),
        )?;
        let (service, region) = match &key.last_used {
            LastUsed::At { service, region, .. } => (service.clone(), region.clone()),
            _ => (None, None),
        };
        let state = (
            key.status.as_str().to_string(),
            LastUsedState::of(&key.last_used).as_str().to_string(),
            service,
            region,
        );
        type State = (String, String, Option<String>, Option<String>);
        let previous: Option<(i64, i64, State)> = latest
            .query_row(params![key_ref], |row| {
                Ok((row.get(0)?, row.get(1)?, (row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?)))
            })
            .optional()?;
        let prior_run = previous_run.get(account.account_id.as_str()).copied().flatten();
        match previous {
            Some((first_run, last_run, stored)) if Some(last_run) == prior_run && stored == state => {
                extend.execute(params![run_id, key_ref, first_run])?;
            }
            _ => {
                insert_state.execute(params![key_ref, run_id, state.0, state.1, state.2, state.3])?;
            }
        }
        if let Some(date) = key.last_used.date() {
            let date = timestamp(date);
            let stored: Option<String> =
                latest_use.query_row(params![key_ref], |row| row.get(0)).optional()?;
            if stored.as_deref() != Some(date.as_str()) {
                insert_use.execute(params![key_ref, run_id, date])?;
            }
        }
    }
    Ok(())
}

/// Opens, continues and (for a complete run only) resolves finding episodes.
#[allow(clippy::too_many_arguments)] // one run's facts, each used once
fn record_findings(
    tx: &rusqlite::Transaction,
    findings: &[Finding],
    run_id: i64,
    collected_at: &str,
    scope: &BTreeSet<String>,
    previous_run: &HashMap<&str, Option<i64>>,
    complete: bool,
    settings: &RuleSettings,
) -> rusqlite::Result<()> {
    let mut open_episode =
        tx.prepare_cached("SELECT episode FROM findings WHERE finding_id = ?1 AND resolved_run IS NULL")?;
    let mut continue_episode = tx.prepare_cached(
        "UPDATE findings SET last_seen_run = ?1, last_seen_at = ?2, severity = ?3, message = ?4 WHERE episode = ?5",
    )?;
    let mut new_episode = tx.prepare_cached(
        "INSERT INTO findings (finding_id, rule, account_id, user_name, key_ids, severity, message,
            first_seen_run, first_seen_at, last_seen_run, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?9)",
    )?;
    let mut latest = tx.prepare_cached(
        "SELECT first_run, last_run, severity, suppressed, suppression_reason
         FROM finding_states WHERE episode = ?1 ORDER BY first_run DESC LIMIT 1",
    )?;
    let mut extend =
        tx.prepare_cached("UPDATE finding_states SET last_run = ?1 WHERE episode = ?2 AND first_run = ?3")?;
    let mut insert_state = tx.prepare_cached(
        "INSERT OR IGNORE INTO finding_states (episode, first_run, last_run, severity, suppressed, suppression_reason)
         VALUES (?1, ?2, ?2, ?3, ?4, ?5)",
    )?;
    for finding in findings {
        let id: FindingId = finding.id();
        let episode: Option<i64> =
            open_episode.query_row(params![id.as_str()], |row| row.get(0)).optional()?;
        let episode = match episode {
            Some(episode) => {
                continue_episode.execute(params![
                    run_id,
                    collected_at,
                    finding.severity.as_str(),
                    finding.message,
                    episode
                ])?;
                episode
            }
            None => {
                new_episode.execute(params![
                    id.as_str(),
                    finding.rule.as_str(),
                    finding.account_id,
                    finding.user_name,
                    finding.key_ids.join(" "),
                    finding.severity.as_str(),
                    finding.message,
                    run_id,
                    collected_at,
                ])?;
                tx.last_insert_rowid()
            }
        };
        let reason =
            finding.suppression.as_ref().filter(|_| finding.is_suppressed()).map(|mark| mark.reason.clone());
        let state = (finding.severity.as_str().to_string(), finding.is_suppressed(), reason);
        type State = (String, bool, Option<String>);
        let previous: Option<(i64, i64, State)> = latest
            .query_row(params![episode], |row| {
                Ok((row.get(0)?, row.get(1)?, (row.get(2)?, row.get(3)?, row.get(4)?)))
            })
            .optional()?;
        let prior_run = previous_run.get(finding.account_id.as_str()).copied().flatten();
        match previous {
            Some((_, last_run, _)) if last_run == run_id => {} // the same finding twice in one run
            Some((first_run, last_run, stored)) if Some(last_run) == prior_run && stored == state => {
                extend.execute(params![run_id, episode, first_run])?;
            }
            _ => {
                insert_state.execute(params![episode, run_id, state.0, state.1, state.2])?;
            }
        }
    }
    if complete {
        // Resolved: open in an account of this run, of a rule this run evaluated, and not
        // seen in it. A rule turned off resolves nothing; it was not looked at.
        let enabled: Vec<&str> = RULES
            .iter()
            .filter(|rule| matches!(settings.level(rule.rule_id), RuleLevel::Severity(_)))
            .map(|rule| rule.id)
            .collect();
        let mut resolve = tx.prepare_cached(
            "UPDATE findings SET resolved_run = ?1, resolved_at = ?2
             WHERE resolved_run IS NULL AND account_id = ?3 AND rule = ?4 AND last_seen_run < ?1",
        )?;
        for account_id in scope {
            for rule in &enabled {
                resolve.execute(params![run_id, collected_at, account_id, rule])?;
            }
        }
    }
    Ok(())
}

/// The per-run figures `history list` and `history trend` show.
struct RunFigures {
    accounts: i64,
    users: i64,
    keys: i64,
    active_keys: i64,
    active_within_max_age: i64,
    median_key_age_days: Option<i64>,
    oldest_key_age_days: Option<i64>,
    by_severity: std::collections::BTreeMap<Severity, i64>,
    suppressed: i64,
}

impl RunFigures {
    fn of(inventory: &Inventory, findings: &[Finding], meta: &RunMeta) -> RunFigures {
        let max_age = i64::from(meta.settings.thresholds.max_key_age_days);
        let mut ages: Vec<i64> =
            inventory.keys().map(|(_, _, key)| days_between(key.created, meta.as_of)).collect();
        ages.sort_unstable();
        let active: Vec<i64> = inventory
            .keys()
            .filter(|(_, _, key)| key.status == KeyStatus::Active)
            .map(|(_, _, key)| days_between(key.created, meta.as_of))
            .collect();
        let mut by_severity: std::collections::BTreeMap<Severity, i64> =
            Severity::ALL.iter().map(|&s| (s, 0)).collect();
        for finding in findings {
            *by_severity.entry(finding.severity).or_default() += 1;
        }
        let count = |n: usize| n as i64;
        RunFigures {
            accounts: count(scope_of(inventory).len()),
            users: count(inventory.accounts.iter().map(|a| a.users.len()).sum()),
            keys: count(ages.len()),
            active_keys: count(active.len()),
            // "Within" as the rule judges it: key-too-old fires past max-key-age.
            active_within_max_age: count(active.iter().filter(|&&age| age <= max_age).count()),
            median_key_age_days: (!ages.is_empty()).then(|| ages[ages.len() / 2]),
            oldest_key_age_days: ages.last().copied(),
            by_severity,
            suppressed: count(findings.iter().filter(|f| f.is_suppressed()).count()),
        }
    }
}

/// Instants in the file: RFC 3339, UTC, to the second; they sort as text.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Read-only checks of an existing, non-empty file; nothing is written.
fn check_existing(path: &Path) -> Result<(), String> {
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let read = file.read(&mut header).map_err(|e| format!("cannot read it: {e}"))?;
    if read < header.len() || &header != b"SQLite format 3\0" {
        return Err("not a keyaudit history (not an SQLite database); the file was left untouched".into());
    }
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| format!("cannot open it: {e}"))?;
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    // One read transaction, so the three come from one snapshot: read one by one, a scan
    // creating the file between them gave "no application id, no version" and then its
    // tables, which reads as somebody else's database (seen: two scans starting on a new
    // history at once, one refused).
    let read_header = || -> rusqlite::Result<(i32, u32, i64)> {
        let tx = conn.unchecked_transaction()?;
        let application_id: i32 = tx.pragma_query_value(None, "application_id", |row| row.get(0))?;
        let version: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
        Ok((application_id, version, tables))
    };
    let (application_id, version, tables) = read_header()
        .map_err(|e| format!("not a usable keyaudit history ({e}); the file was left untouched"))?;
    if application_id != APPLICATION_ID && (tables > 0 || version > 0) {
        return Err("an SQLite database, but not a keyaudit history; the file was left untouched".into());
    }
    if version > SCHEMA_VERSION {
        return Err(format!(
            "written by a newer keyaudit (history schema {version}; this one reads up to {SCHEMA_VERSION}); \
             the file was left untouched"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
