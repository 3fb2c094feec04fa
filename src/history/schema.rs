//! The history's tables, and migrations between schema versions (`PRAGMA user_version`).
//!
//! Adding a version: append its statements to [`MIGRATIONS`] (never edit an earlier one),
//! and bump nothing else: `SCHEMA_VERSION` is the number of migrations.

use rusqlite::Transaction;

/// The schema this keyaudit writes; a file with a higher version is refused untouched.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Version 1. Instants are RFC 3339 text in UTC (they sort as text); booleans are 0/1.
pub const SCHEMA: &str = r#"
-- One row per recorded scan, with the figures `history list` and `trend` show.
CREATE TABLE runs (
    run_id                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
    recorded_at            TEXT NOT NULL,     -- when the run was written here
    collected_at           TEXT NOT NULL,     -- when IAM was read: the run's time
    as_of                  TEXT NOT NULL,     -- the instant rules were evaluated at
    keyaudit_version       TEXT NOT NULL,
    source                 TEXT NOT NULL,     -- live | inventory | credential-report | demo | merge
    complete               INTEGER NOT NULL,  -- 0 when any call failed: the run resolves nothing
    settings               TEXT NOT NULL,     -- JSON: thresholds, rule levels, fail-on, suppressions
    accounts               INTEGER NOT NULL,
    users                  INTEGER NOT NULL,
    keys                   INTEGER NOT NULL,
    active_keys            INTEGER NOT NULL,
    active_within_max_age  INTEGER NOT NULL,  -- active keys not older than max-key-age-days
    median_key_age_days    INTEGER,
    oldest_key_age_days    INTEGER,
    findings               INTEGER NOT NULL,
    critical               INTEGER NOT NULL,
    high                   INTEGER NOT NULL,
    medium                 INTEGER NOT NULL,
    low                    INTEGER NOT NULL,
    info                   INTEGER NOT NULL,
    suppressed             INTEGER NOT NULL,
    errors                 INTEGER NOT NULL   -- failed calls
);

-- The run's scope: every account it looked at.
CREATE TABLE run_accounts (
    run_id      INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,
    users       INTEGER NOT NULL,
    keys        INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    PRIMARY KEY (run_id, account_id)
) WITHOUT ROWID;
CREATE INDEX run_accounts_by_account ON run_accounts (account_id, run_id);

-- Every call that failed after retries.
CREATE TABLE run_errors (
    run_id         INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    account_id     TEXT,
    user_name      TEXT,
    access_key_id  TEXT,
    operation      TEXT NOT NULL,
    code           TEXT NOT NULL,
    message        TEXT NOT NULL
);
CREATE INDEX run_errors_by_run ON run_errors (run_id);

-- Every access key ever seen.
CREATE TABLE keys (
    key_ref        INTEGER PRIMARY KEY,
    account_id     TEXT NOT NULL,
    user_name      TEXT NOT NULL,
    access_key_id  TEXT NOT NULL,
    created        TEXT NOT NULL,
    UNIQUE (account_id, access_key_id)
);

-- A key's state over consecutive runs of its account: seen with this state in every run of
-- the account from first_run to last_run. A key absent from a run leaves a gap. Its last-use
-- date is in key_last_used (it moves daily for a key in use; the rest rarely changes).
CREATE TABLE key_states (
    key_ref            INTEGER NOT NULL REFERENCES keys (key_ref) ON DELETE CASCADE,
    first_run          INTEGER NOT NULL,
    last_run           INTEGER NOT NULL,
    status             TEXT NOT NULL,      -- Active | Inactive
    last_used_state    TEXT NOT NULL,      -- used | never | unknown
    last_used_service  TEXT,
    last_used_region   TEXT,
    PRIMARY KEY (key_ref, first_run)
) WITHOUT ROWID;
CREATE INDEX key_states_by_last_run ON key_states (last_run, first_run);

-- A key's last-use date, from the run that first saw that date: a row only when it changed.
-- Its value in run R is the row with the largest run_id <= R.
CREATE TABLE key_last_used (
    key_ref    INTEGER NOT NULL REFERENCES keys (key_ref) ON DELETE CASCADE,
    run_id     INTEGER NOT NULL,
    last_used  TEXT NOT NULL,
    PRIMARY KEY (key_ref, run_id)
) WITHOUT ROWID;

-- A finding's episode: from the run it was first seen in to the complete run that no
-- longer had it (resolved_run), or still open (NULL). A finding that comes back after being
-- resolved opens a new episode.
CREATE TABLE findings (
    episode         INTEGER PRIMARY KEY,
    finding_id      TEXT NOT NULL,          -- rule:account:user:key
    rule            TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    user_name       TEXT NOT NULL,
    key_ids         TEXT NOT NULL,          -- space-separated
    severity        TEXT NOT NULL,          -- as last seen
    message         TEXT NOT NULL,          -- as last seen
    first_seen_run  INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_seen_run   INTEGER NOT NULL,
    last_seen_at    TEXT NOT NULL,
    resolved_run    INTEGER,
    resolved_at     TEXT
);
CREATE UNIQUE INDEX findings_open ON findings (finding_id) WHERE resolved_run IS NULL;
CREATE INDEX findings_by_account ON findings (account_id, rule) WHERE resolved_run IS NULL;
CREATE INDEX findings_by_resolved ON findings (resolved_run);

-- How an episode was seen, over consecutive runs of its account (like key_states): open in
-- every run from first_run to last_run with this severity and suppression.
CREATE TABLE finding_states (
    episode             INTEGER NOT NULL REFERENCES findings (episode) ON DELETE CASCADE,
    first_run           INTEGER NOT NULL,
    last_run            INTEGER NOT NULL,
    severity            TEXT NOT NULL,
    suppressed          INTEGER NOT NULL,
    suppression_reason  TEXT,
    PRIMARY KEY (episode, first_run)
) WITHOUT ROWID;
CREATE INDEX finding_states_by_last_run ON finding_states (last_run, first_run);

-- Open findings per run by rule and severity (for `history trend`).
CREATE TABLE run_rule_counts (
    run_id      INTEGER NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    rule        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    open        INTEGER NOT NULL,
    suppressed  INTEGER NOT NULL,
    PRIMARY KEY (run_id, rule, severity)
) WITHOUT ROWID;
"#;

const MIGRATIONS: &[&str] = &[SCHEMA];

/// Brings a file at `version` (0: new) to [`SCHEMA_VERSION`], inside the caller's
/// transaction. Newer files are refused before this is reached.
pub fn migrate(tx: &Transaction, version: u32) -> rusqlite::Result<()> {
    for (index, statements) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(statements)?;
        tx.pragma_update(None, "user_version", index as u32 + 1)?;
    }
    Ok(())
}
