//! The store at the SQL level: what a run costs, what resolves a finding, pruning, trends.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::model::{AccessKey, Account, ScanError, User};
use crate::rules::{evaluate, RuleSettings};

const ACCOUNT: &str = "111122223333";

fn day(n: i64) -> DateTime<Utc> {
    "2026-01-01T06:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::days(n)
}

fn key(id: &str, status: KeyStatus, created: i64, used: Option<i64>) -> AccessKey {
    AccessKey {
        access_key_id: id.into(),
        status,
        created: day(created),
        last_used: used.map_or(LastUsed::Never, |d| LastUsed::At {
            date: day(d),
            service: None,
            region: None,
        }),
    }
}

fn inventory(at: i64, users: Vec<(&str, Vec<AccessKey>)>, errors: usize) -> Inventory {
    Inventory {
        schema_version: 1,
        collected_at: day(at),
        accounts: vec![Account {
            account_id: ACCOUNT.into(),
            root: None,
            credential_report_generated_at: None,
            users: users
                .into_iter()
                .map(|(name, keys)| User {
                    user_name: name.into(),
                    path: "/".into(),
                    arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
                    created: day(-500),
                    keys,
                    details: None,
                })
                .collect(),
        }],
        errors: (0..errors)
            .map(|_| ScanError {
                account_id: Some(ACCOUNT.into()),
                user_name: Some("bob".into()),
                access_key_id: None,
                operation: "ListAccessKeys".into(),
                code: "Throttling".into(),
                message: "Rate exceeded".into(),
            })
            .collect(),
        shard: None,
    }
}

fn record(store: &mut Store, inventory: &Inventory, settings: &RuleSettings) -> i64 {
    let findings = evaluate(inventory, settings, inventory.collected_at);
    let meta = RunMeta {
        as_of: inventory.collected_at,
        recorded_at: inventory.collected_at,
        source: "inventory",
        settings,
        fail_on: "low",
        suppressions: vec![],
    };
    store.record(inventory, &findings, &meta).unwrap()
}

fn count(store: &Store, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |row| row.get(0)).unwrap()
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("h.db"), true).unwrap()
}

#[test]
fn an_unchanged_key_costs_one_row_and_a_run_that_missed_it_leaves_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let settings = RuleSettings::default();
    // alice's key is unchanged across 5 runs; bob's is used every day (a new state each run).
    for n in 0..5 {
        let users = vec![
            ("alice", vec![key("AKIAALICE", KeyStatus::Active, -100, None)]),
            ("bob", vec![key("AKIABOB", KeyStatus::Active, -10, Some(n))]),
        ];
        record(&mut store, &inventory(n, users, 0), &settings);
    }
    let alice = "SELECT count(*) FROM key_states JOIN keys USING (key_ref) WHERE access_key_id = 'AKIAALICE'";
    assert_eq!(count(&store, alice), 1);
    let bob = "SELECT count(*) FROM key_states JOIN keys USING (key_ref) WHERE access_key_id = 'AKIABOB'";
    assert_eq!(count(&store, bob), 1, "a moving last-use date does not split the state");
    let bob_used =
        "SELECT count(*) FROM key_last_used JOIN keys USING (key_ref) WHERE access_key_id = 'AKIABOB'";
    assert_eq!(count(&store, bob_used), 5, "one row per date it was last used at");
    // alice's key-too-old and key-unused, open for five runs: one finding state each.
    assert_eq!(count(&store, "SELECT count(*) FROM findings"), 2);
    assert_eq!(count(&store, "SELECT count(*) FROM finding_states"), 2);

    // Run 6 did not see alice's key (bob's listing failed too, so it is incomplete); run 7 did.
    record(
        &mut store,
        &inventory(5, vec![("bob", vec![key("AKIABOB", KeyStatus::Active, -10, Some(4))])], 1),
        &settings,
    );
    record(
        &mut store,
        &inventory(6, vec![("alice", vec![key("AKIAALICE", KeyStatus::Active, -10, None)])], 0),
        &settings,
    );
    assert_eq!(count(&store, alice), 2, "the gap in run 6 is kept, not papered over");
    let in_run_6 = store.keys_of(6).unwrap();
    assert!(!in_run_6.contains_key(&(ACCOUNT.to_string(), "AKIAALICE".to_string())));
    assert!(store.keys_of(7).unwrap().contains_key(&(ACCOUNT.to_string(), "AKIAALICE".to_string())));
}

#[test]
fn findings_resolve_only_in_complete_runs_that_evaluated_their_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let settings = RuleSettings::default();
    let unused = || vec![("carol", vec![key("AKIACAROL", KeyStatus::Active, -100, None)])];
    let open_episodes = "SELECT count(*) FROM findings WHERE resolved_run IS NULL";
    record(&mut store, &inventory(0, unused(), 0), &settings);
    assert_eq!(count(&store, open_episodes), 2); // key-too-old, key-unused

    // An incomplete run without carol's key resolves nothing.
    record(&mut store, &inventory(1, vec![], 1), &settings);
    assert_eq!(count(&store, open_episodes), 2);

    // A complete run with key-unused turned off resolves key-too-old only.
    let mut off = RuleSettings::default();
    off.levels.insert(RuleId::KeyUnused, RuleLevel::Allow);
    off.levels.insert(RuleId::KeyTooOld, RuleLevel::Severity(Severity::High));
    record(&mut store, &inventory(2, vec![], 0), &off);
    let still_open: Vec<String> = {
        let mut stmt =
            store.connection().prepare("SELECT rule FROM findings WHERE resolved_run IS NULL").unwrap();
        let rows = stmt.query_map([], |row| row.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(still_open, vec!["key-unused"]);

    // The key comes back: a new episode of key-too-old, the open key-unused one continues.
    record(&mut store, &inventory(3, unused(), 0), &settings);
    assert_eq!(count(&store, "SELECT count(*) FROM findings WHERE rule = 'key-too-old'"), 2);
    assert_eq!(count(&store, "SELECT count(*) FROM findings WHERE rule = 'key-unused'"), 1);
    let trend = store.trend().unwrap();
    assert_eq!(trend.iter().map(|t| t.resolved).collect::<Vec<_>>(), vec![0, 0, 1, 0]);
    assert_eq!(trend[2].mean_days_to_resolve, Some(2.0));
    assert_eq!(trend[0].by_rule["key-unused"], 1);
    assert_eq!(trend[0].active_within_max_age_share, Some(0.0));
}

#[test]
fn prune_keeps_the_last_complete_run_and_what_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let settings = RuleSettings::default();
    let users = || vec![("carol", vec![key("AKIACAROL", KeyStatus::Active, -100, None)])];
    record(&mut store, &inventory(0, users(), 0), &settings);
    record(&mut store, &inventory(1, vec![], 0), &settings); // carol's key deleted: resolved
    record(&mut store, &inventory(2, users(), 1), &settings); // incomplete, after the last complete
    let pruned = store.prune(0, day(400)).unwrap();
    assert_eq!(pruned.runs, 1, "run 1 goes; run 2 is the last complete one and run 3 comes after it");
    let runs: Vec<i64> = store.runs().unwrap().iter().map(|run| run.run_id).collect();
    assert_eq!(runs, vec![2, 3]);
    assert_eq!(
        count(&store, "SELECT count(*) FROM findings WHERE resolved_run IS NOT NULL AND resolved_run < 2"),
        0
    );
    assert!(store.baseline(&[ACCOUNT.to_string()].into()).unwrap().is_some_and(|(run, _)| run == 2));
    // A new run after pruning never reuses a pruned id.
    assert_eq!(record(&mut store, &inventory(3, users(), 0), &settings), 4);
}

#[test]
fn a_run_that_fails_part_way_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let settings = RuleSettings::default();
    let users = || vec![("carol", vec![key("AKIACAROL", KeyStatus::Active, -100, None)])];
    record(&mut store, &inventory(0, users(), 0), &settings);
    let tables = [
        "runs",
        "run_accounts",
        "keys",
        "key_states",
        "key_last_used",
        "findings",
        "finding_states",
        "run_rule_counts",
    ];
    let counts = |store: &Store| -> Vec<i64> {
        tables.iter().map(|table| count(store, &format!("SELECT count(*) FROM {table}"))).collect()
    };
    let before = counts(&store);
    // The last statements of a run fail (their table is gone): everything before them, the
    // run row, its keys and findings, must be rolled back with them.
    store.connection().execute_batch("ALTER TABLE run_rule_counts RENAME TO gone").unwrap();
    let findings = evaluate(&inventory(1, users(), 0), &settings, day(1));
    let meta = RunMeta {
        as_of: day(1),
        recorded_at: day(1),
        source: "inventory",
        settings: &settings,
        fail_on: "low",
        suppressions: vec![],
    };
    let error = store.record(&inventory(1, users(), 0), &findings, &meta).unwrap_err();
    assert!(error.to_string().contains("cannot record the run"), "{error}");
    store.connection().execute_batch("ALTER TABLE gone RENAME TO run_rule_counts").unwrap();
    assert_eq!(counts(&store), before);
}

#[test]
fn a_truncated_or_damaged_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    {
        let mut store = Store::open(&path, true).unwrap();
        record(
            &mut store,
            &inventory(0, vec![("carol", vec![key("AKIACAROL", KeyStatus::Active, -100, None)])], 0),
            &RuleSettings::default(),
        );
        store.connection().pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let whole = std::fs::read(&path).unwrap();
    // The header survives, the schema page does not.
    let mut damaged = whole[..100].to_vec();
    damaged.extend(std::iter::repeat_n(0xA5u8, whole.len() - 100));
    std::fs::write(&path, &damaged).unwrap();
    let error = Store::open(&path, true).err().expect("a damaged file is refused");
    assert!(matches!(error, HistoryError::Unusable { .. }), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), damaged);
}
