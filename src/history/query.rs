//! What the history answers: runs, the diff of two runs, trends, an audit pack, pruning,
//! and the baseline of a new scan. Plain data out; `super::render` formats it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{timestamp, HistoryError, Store};
use crate::finding::{FindingId, RuleId, Severity};

/// One recorded run, as `history list` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct RunRow {
    pub run_id: i64,
    pub collected_at: String,
    pub complete: bool,
    pub source: String,
    pub keyaudit_version: String,
    pub accounts: i64,
    pub users: i64,
    pub keys: i64,
    pub active_keys: i64,
    pub findings: i64,
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub info: i64,
    pub suppressed: i64,
    pub errors: i64,
}

const RUN_COLUMNS: &str = "run_id, collected_at, complete, source, keyaudit_version, accounts, users, keys, \
     active_keys, findings, critical, high, medium, low, info, suppressed, errors";

fn run_row(row: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        run_id: row.get(0)?,
        collected_at: row.get(1)?,
        complete: row.get(2)?,
        source: row.get(3)?,
        keyaudit_version: row.get(4)?,
        accounts: row.get(5)?,
        users: row.get(6)?,
        keys: row.get(7)?,
        active_keys: row.get(8)?,
        findings: row.get(9)?,
        critical: row.get(10)?,
        high: row.get(11)?,
        medium: row.get(12)?,
        low: row.get(13)?,
        info: row.get(14)?,
        suppressed: row.get(15)?,
        errors: row.get(16)?,
    })
}

impl Store {
    fn query<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, HistoryError> {
        f(self.connection()).map_err(|e| self.failed(format!("cannot read {what}: {e}")))
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunRow>, HistoryError> {
        self.query("the runs", |conn| {
            let mut stmt = conn.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY run_id"))?;
            let rows = stmt.query_map([], run_row)?;
            rows.collect()
        })
    }

    pub fn run(&self, run_id: i64) -> Result<Option<RunRow>, HistoryError> {
        self.query("a run", |conn| {
            conn.query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"), [run_id], run_row)
                .optional()
        })
    }

    fn scope(&self, run_id: i64) -> Result<BTreeSet<String>, HistoryError> {
        self.query("a run's accounts", |conn| {
            let mut stmt = conn.prepare_cached("SELECT account_id FROM run_accounts WHERE run_id = ?1")?;
            let rows = stmt.query_map([run_id], |row| row.get(0))?;
            rows.collect()
        })
    }

    /// The rules a run evaluated (not turned off with `allow`).
    fn enabled_rules(&self, run_id: i64) -> Result<BTreeSet<String>, HistoryError> {
        let settings: String = self.query("a run's settings", |conn| {
            conn.query_row("SELECT settings FROM runs WHERE run_id = ?1", [run_id], |row| row.get(0))
        })?;
        let value: serde_json::Value = serde_json::from_str(&settings)
            .map_err(|e| self.failed(format!("run {run_id} has unreadable settings: {e}")))?;
        let rules = value
            .get("rules")
            .and_then(|rules| rules.as_object())
            .ok_or_else(|| self.failed(format!("run {run_id} has unreadable settings: no rules")))?;
        Ok(rules
            .iter()
            .filter(|(_, level)| level.as_str() != Some("allow"))
            .map(|(rule, _)| rule.clone())
            .collect())
    }

    /// The findings a run saw.
    pub fn findings_of(&self, run_id: i64) -> Result<Vec<RunFinding>, HistoryError> {
        self.query("a run's findings", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT f.finding_id, f.rule, fs.severity, f.account_id, f.user_name, f.key_ids, f.message,
                        fs.suppressed, fs.suppression_reason
                 FROM finding_states fs JOIN findings f USING (episode)
                 WHERE fs.last_run >= ?1 AND fs.first_run <= ?1 ORDER BY f.finding_id",
            )?;
            let rows = stmt.query_map([run_id], |row| {
                let key_ids: String = row.get(5)?;
                Ok(RunFinding {
                    finding_id: row.get(0)?,
                    rule: row.get(1)?,
                    severity: row.get(2)?,
                    account_id: row.get(3)?,
                    user_name: row.get(4)?,
                    key_ids: key_ids.split_whitespace().map(str::to_string).collect(),
                    message: row.get(6)?,
                    suppressed: row.get(7)?,
                    suppression_reason: row.get(8)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The keys a run saw, by (account, key id).
    pub(super) fn keys_of(&self, run_id: i64) -> Result<BTreeMap<(String, String), KeySeen>, HistoryError> {
        self.query("a run's keys", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT k.account_id, k.access_key_id, k.user_name, s.status
                 FROM key_states s JOIN keys k USING (key_ref)
                 WHERE s.last_run >= ?1 AND s.first_run <= ?1",
            )?;
            let rows = stmt.query_map([run_id], |row| {
                Ok(((row.get(0)?, row.get(1)?), KeySeen { user_name: row.get(2)?, status: row.get(3)? }))
            })?;
            rows.collect()
        })
    }

    /// The last two complete runs, older first.
    pub fn last_two_complete(&self) -> Result<Option<(i64, i64)>, HistoryError> {
        let ids: Vec<i64> = self.query("the runs", |conn| {
            let mut stmt =
                conn.prepare("SELECT run_id FROM runs WHERE complete = 1 ORDER BY run_id DESC LIMIT 2")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect()
        })?;
        Ok(match ids[..] {
            [newer, older] => Some((older, newer)),
            _ => None,
        })
    }

    /// What changed from run `a` to run `b`. Fails closed: a finding missing from `b` is
    /// resolved only if `b` is complete, scanned its account and evaluated its rule;
    /// otherwise it is `unverified`. Likewise for keys (deleted, created).
    pub fn diff(&self, a: i64, b: i64) -> Result<Diff, HistoryError> {
        let missing = |id| self.failed(format!("no run {id} (see `keyaudit history list`)"));
        let from = self.run(a)?.ok_or_else(|| missing(a))?;
        let to = self.run(b)?.ok_or_else(|| missing(b))?;
        let (scope_a, scope_b) = (self.scope(a)?, self.scope(b)?);
        let rules_b = self.enabled_rules(b)?;
        let before: BTreeMap<String, RunFinding> =
            self.findings_of(a)?.into_iter().map(|f| (f.finding_id.clone(), f)).collect();
        let after: BTreeMap<String, RunFinding> =
            self.findings_of(b)?.into_iter().map(|f| (f.finding_id.clone(), f)).collect();

        let mut diff = Diff { from: from.clone(), to: to.clone(), ..Diff::default() };
        for (id, finding) in &after {
            if before.contains_key(id) {
                diff.persisting.push(finding.clone());
            } else {
                diff.new.push(finding.clone());
            }
        }
        for (id, finding) in &before {
            if after.contains_key(id) {
                continue;
            }
            if to.complete && scope_b.contains(&finding.account_id) && rules_b.contains(&finding.rule) {
                diff.resolved.push(finding.clone());
            } else {
                diff.unverified.push(finding.clone());
            }
        }

        let keys_a = self.keys_of(a)?;
        let keys_b = self.keys_of(b)?;
        let change = |(account_id, key_id): &(String, String),
                      seen: &KeySeen,
                      from: Option<&str>,
                      to: Option<&str>| KeyChange {
            account_id: account_id.clone(),
            user_name: seen.user_name.clone(),
            access_key_id: key_id.clone(),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        };
        let mut unverified_keys = 0usize;
        for (key, seen) in &keys_b {
            match keys_a.get(key) {
                None if from.complete && scope_a.contains(&key.0) => {
                    diff.keys.created.push(change(key, seen, None, Some(&seen.status)))
                }
                None => unverified_keys += 1,
                Some(old) if old.status == "Active" && seen.status == "Inactive" => {
                    diff.keys.deactivated.push(change(key, seen, Some(&old.status), Some(&seen.status)))
                }
                Some(old) if old.status == "Inactive" && seen.status == "Active" => {
                    diff.keys.reactivated.push(change(key, seen, Some(&old.status), Some(&seen.status)))
                }
                Some(_) => {}
            }
        }
        for (key, seen) in &keys_a {
            if keys_b.contains_key(key) {
                continue;
            }
            if to.complete && scope_b.contains(&key.0) {
                diff.keys.deleted.push(change(key, seen, Some(&seen.status), None));
            } else {
                unverified_keys += 1;
            }
        }
        for run in [&from, &to] {
            if !run.complete {
                diff.notes.push(format!(
                    "run {} is incomplete ({} failed call(s)): what it lacks is unknown, so nothing it misses counts as resolved or deleted",
                    run.run_id, run.errors
                ));
            }
        }
        if !diff.unverified.is_empty() {
            diff.notes.push(format!(
                "{} finding(s) of run {a} are not in run {b}, which could not confirm them gone (incomplete, another scope, or the rule off): listed as unverified, not resolved",
                diff.unverified.len()
            ));
        }
        if unverified_keys > 0 {
            diff.notes.push(format!(
                "{unverified_keys} key(s) seen in only one run whose absence the other run cannot confirm: not counted as created or deleted"
            ));
        }
        Ok(diff)
    }

    /// Per run: open findings, keys, ages and the pace of resolution.
    pub fn trend(&self) -> Result<Vec<TrendRow>, HistoryError> {
        self.query("the trend", |conn| {
            // Per run: open findings by rule, and by severity.
            type Counts = (BTreeMap<String, i64>, BTreeMap<String, i64>);
            let mut counts: HashMap<i64, Counts> = HashMap::new();
            let mut stmt = conn.prepare("SELECT run_id, rule, severity, open FROM run_rule_counts")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let entry = counts.entry(row.get(0)?).or_default();
                let open: i64 = row.get(3)?;
                *entry.0.entry(row.get(1)?).or_default() += open;
                *entry.1.entry(row.get(2)?).or_default() += open;
            }
            let mut resolved: HashMap<i64, (i64, f64)> = HashMap::new();
            let mut stmt = conn.prepare(
                "SELECT resolved_run, count(*), avg(julianday(resolved_at) - julianday(first_seen_at))
                 FROM findings WHERE resolved_run IS NOT NULL GROUP BY resolved_run",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                resolved.insert(row.get(0)?, (row.get(1)?, row.get(2)?));
            }
            let mut stmt = conn.prepare(
                "SELECT run_id, collected_at, complete, findings, keys, active_keys, active_within_max_age,
                        median_key_age_days, oldest_key_age_days FROM runs ORDER BY run_id",
            )?;
            let rows = stmt.query_map([], |row| {
                let run_id: i64 = row.get(0)?;
                let active_keys: i64 = row.get(5)?;
                let within: i64 = row.get(6)?;
                let (by_rule, by_severity) = counts.get(&run_id).cloned().unwrap_or_default();
                let (resolved_count, mean) = resolved.get(&run_id).copied().unwrap_or((0, f64::NAN));
                Ok(TrendRow {
                    run_id,
                    collected_at: row.get(1)?,
                    complete: row.get(2)?,
                    open_findings: row.get(3)?,
                    by_rule: RuleId::ALL
                        .iter()
                        .map(|r| (r.as_str().to_string(), by_rule.get(r.as_str()).copied().unwrap_or(0)))
                        .collect(),
                    by_severity: Severity::ALL
                        .iter()
                        .map(|s| (s.as_str().to_string(), by_severity.get(s.as_str()).copied().unwrap_or(0)))
                        .collect(),
                    keys: row.get(4)?,
                    active_keys,
                    active_within_max_age_share: (active_keys > 0)
                        .then(|| round2(within as f64 / active_keys as f64)),
                    median_key_age_days: row.get(7)?,
                    oldest_key_age_days: row.get(8)?,
                    resolved: resolved_count,
                    mean_days_to_resolve: (resolved_count > 0).then(|| round2(mean)),
                })
            })?;
            rows.collect()
        })
    }

    /// The audit pack of the runs collected on days `from..=to` (UTC).
    pub fn evidence(&self, from: NaiveDate, to: NaiveDate) -> Result<Evidence, HistoryError> {
        let start = timestamp(from.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
        let end = timestamp(to.succ_opt().unwrap_or(to).and_hms_opt(0, 0, 0).expect("midnight").and_utc());
        let runs: Vec<RunRow> = self.query("the runs", |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE collected_at >= ?1 AND collected_at < ?2 ORDER BY run_id"
            ))?;
            let rows = stmt.query_map(params![start, end], run_row)?;
            rows.collect()
        })?;
        let lifecycles: Vec<Lifecycle> = self.query("the findings", |conn| {
            let mut stmt = conn.prepare(
                "SELECT f.episode, f.finding_id, f.rule, f.severity, f.account_id, f.user_name, f.key_ids,
                        f.first_seen_at, f.last_seen_at, f.resolved_at,
                        (SELECT fs.suppression_reason FROM finding_states fs JOIN runs r ON r.run_id = fs.first_run
                          WHERE fs.episode = f.episode AND r.collected_at < ?2
                          ORDER BY fs.first_run DESC LIMIT 1),
                        f.message
                 FROM findings f
                 WHERE f.first_seen_at < ?2 AND (f.resolved_at IS NULL OR f.resolved_at >= ?1)
                 ORDER BY f.first_seen_at, f.finding_id, f.episode",
            )?;
            let rows = stmt.query_map(params![start, end], |row| {
                let first: String = row.get(7)?;
                let last: String = row.get(8)?;
                let resolved: Option<String> = row.get(9)?;
                let key_ids: String = row.get(6)?;
                let reason: Option<String> = row.get(10)?;
                let days_open = days(&first, resolved.as_deref().unwrap_or(&last));
                Ok(Lifecycle {
                    finding_id: row.get(1)?,
                    rule: row.get(2)?,
                    severity: row.get(3)?,
                    account_id: row.get(4)?,
                    user_name: row.get(5)?,
                    key_ids: key_ids.split_whitespace().map(str::to_string).collect(),
                    first_seen: first,
                    last_seen: last,
                    // Resolved after the window: still open within it.
                    resolved_at: resolved.filter(|at| *at < end),
                    days_open,
                    suppressed: reason.is_some(),
                    suppression_reason: reason,
                    message: row.get(11)?,
                })
            })?;
            rows.collect()
        })?;
        Ok(Evidence { from, to, runs, findings: lifecycles })
    }

    /// Deletes runs collected more than `keep_days` before `now`, never the last complete
    /// run nor any after it (so `--baseline history` and `diff` keep working), then what
    /// only they referenced, then compacts the file.
    pub fn prune(&mut self, keep_days: u32, now: DateTime<Utc>) -> Result<Pruned, HistoryError> {
        let cutoff = timestamp(now - chrono::Duration::days(i64::from(keep_days)));
        let path = self.path.clone();
        let result = (|| -> rusqlite::Result<Pruned> {
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let protected: Option<i64> =
                tx.query_row("SELECT max(run_id) FROM runs WHERE complete = 1", [], |row| row.get(0))?;
            let protected = protected.unwrap_or(i64::MAX);
            let runs = tx.execute(
                "DELETE FROM runs WHERE collected_at < ?1 AND run_id < ?2",
                params![cutoff, protected],
            )?;
            let oldest: Option<i64> = tx.query_row("SELECT min(run_id) FROM runs", [], |row| row.get(0))?;
            let oldest = oldest.unwrap_or(i64::MAX);
            tx.execute("DELETE FROM key_states WHERE last_run < ?1", [oldest])?;
            let keys =
                tx.execute("DELETE FROM keys WHERE key_ref NOT IN (SELECT key_ref FROM key_states)", [])?;
            let findings = tx.execute(
                "DELETE FROM findings WHERE resolved_run IS NOT NULL AND resolved_run < ?1",
                [oldest],
            )?;
            let remaining: i64 = tx.query_row("SELECT count(*) FROM runs", [], |row| row.get(0))?;
            tx.commit()?;
            self.conn.execute_batch("VACUUM")?;
            Ok(Pruned { runs, keys, findings, remaining })
        })();
        result.map_err(|e| HistoryError::Failed { path, message: format!("cannot prune: {e}") })
    }

    /// The baseline for a scan of `accounts`: the findings of the last complete run whose
    /// scope holds every one of them (restricted to those accounts), with that run's id.
    pub fn baseline(
        &self,
        accounts: &BTreeSet<String>,
    ) -> Result<Option<(i64, Vec<RunFinding>)>, HistoryError> {
        let complete: Vec<i64> = self.query("the runs", |conn| {
            let mut stmt = conn.prepare("SELECT run_id FROM runs WHERE complete = 1 ORDER BY run_id DESC")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect()
        })?;
        for run_id in complete {
            if accounts.is_subset(&self.scope(run_id)?) {
                let findings = self
                    .findings_of(run_id)?
                    .into_iter()
                    .filter(|f| accounts.contains(&f.account_id))
                    .collect();
                return Ok(Some((run_id, findings)));
            }
        }
        Ok(None)
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Whole days between two stored instants (0 if either cannot be read).
fn days(from: &str, to: &str) -> i64 {
    match (from.parse::<DateTime<Utc>>(), to.parse::<DateTime<Utc>>()) {
        (Ok(from), Ok(to)) => crate::rules::days_between(from, to),
        _ => 0,
    }
}

/// A finding as one run saw it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunFinding {
    pub finding_id: String,
    pub rule: String,
    pub severity: String,
    pub account_id: String,
    pub user_name: String,
    pub key_ids: Vec<String>,
    /// As last seen.
    pub message: String,
    pub suppressed: bool,
    pub suppression_reason: Option<String>,
}

impl RunFinding {
    pub fn id(&self) -> Option<FindingId> {
        FindingId::parse(&self.finding_id).ok()
    }

    pub fn severity(&self) -> Option<Severity> {
        self.severity.parse().ok()
    }
}

#[derive(Debug, Clone)]
pub(super) struct KeySeen {
    user_name: String,
    status: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct KeyChange {
    pub account_id: String,
    pub user_name: String,
    pub access_key_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct KeyChanges {
    pub created: Vec<KeyChange>,
    pub deleted: Vec<KeyChange>,
    pub deactivated: Vec<KeyChange>,
    pub reactivated: Vec<KeyChange>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Diff {
    pub from: RunRow,
    pub to: RunRow,
    pub new: Vec<RunFinding>,
    pub resolved: Vec<RunFinding>,
    pub persisting: Vec<RunFinding>,
    /// In `from`, not in `to`, but `to` cannot confirm they are gone.
    pub unverified: Vec<RunFinding>,
    pub keys: KeyChanges,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrendRow {
    pub run_id: i64,
    pub collected_at: String,
    pub complete: bool,
    pub open_findings: i64,
    pub by_rule: BTreeMap<String, i64>,
    pub by_severity: BTreeMap<String, i64>,
    pub keys: i64,
    pub active_keys: i64,
    /// Active keys not older than max-key-age-days, as a share of active keys (0..1).
    pub active_within_max_age_share: Option<f64>,
    pub median_key_age_days: Option<i64>,
    pub oldest_key_age_days: Option<i64>,
    /// Finding episodes this run resolved, and their mean days from first seen.
    pub resolved: i64,
    pub mean_days_to_resolve: Option<f64>,
}

/// A finding's life, as the audit pack lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Lifecycle {
    pub finding_id: String,
    pub rule: String,
    pub severity: String,
    pub account_id: String,
    pub user_name: String,
    pub key_ids: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    /// Null while open (at the end of the window).
    pub resolved_at: Option<String>,
    /// Whole days from first seen to resolved (or to last seen while open).
    pub days_open: i64,
    /// Under a suppression in the last run of the window that saw it.
    pub suppressed: bool,
    pub suppression_reason: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub runs: Vec<RunRow>,
    pub findings: Vec<Lifecycle>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    pub runs: usize,
    pub keys: usize,
    pub findings: usize,
    pub remaining: i64,
}
