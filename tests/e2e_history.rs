//! End-to-end: the scan history. The real binary scans moto with `--history`, keys are
//! changed through IAM (`keyaudit keys`, against the same moto), and the history must show
//! exactly those changes; baselines gate only on new findings; an incomplete scan resolves
//! nothing; the file itself is refused untouched when it is not a keyaudit history.

mod support;

use std::path::Path;

use chrono::Utc;
use serde_json::Value;
use support::*;

fn scenario() -> Value {
    four_users_three_findings()
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

/// `rule user` of each finding in a JSON array.
fn findings(value: &Value) -> Vec<String> {
    let mut list: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|f| format!("{} {}", f["rule"].as_str().unwrap(), f["user_name"].as_str().unwrap()))
        .collect();
    list.sort();
    list
}

/// `user key` of each key change in a JSON array.
fn keys(value: &Value) -> Vec<String> {
    let mut list: Vec<String> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{} {}", k["user_name"].as_str().unwrap(), k["access_key_id"].as_str().unwrap()))
        .collect();
    list.sort();
    list
}

fn scan(moto: &Moto, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["scan", "--history", "h.db", "--format", "json", "--no-progress"];
    args.extend_from_slice(extra);
    keyaudit(dir, Some(&moto.endpoint), &args)
}

#[test]
fn diff_shows_exactly_the_key_changes_made_through_iam_and_the_findings_they_moved() {
    let moto = Moto::start(&owned(scenario()));
    let dir = temp_dir();
    let dir = dir.path();
    let first = scan(&moto, dir, &[]);
    assert_exit(&first, 1);
    let report = json_of(&first);
    assert_eq!(
        findings(&report["findings"]),
        vec!["inactive-key-kept dave", "key-too-old bob", "key-unused carol"]
    );
    for f in report["findings"].as_array().unwrap() {
        let id = format!(
            "{}:{}:{}:{}",
            f["rule"].as_str().unwrap(),
            f["account_id"].as_str().unwrap(),
            f["user_name"].as_str().unwrap(),
            f["access_key_id"].as_str().unwrap()
        );
        assert_eq!(f["finding_id"], id.as_str(), "one identity: rule:account:user:key");
    }

    // Through IAM: a new key for alice, carol's unused key deactivated, dave's deleted.
    let run = |args: &[&str]| {
        let output = keyaudit(dir, Some(&moto.endpoint), args);
        assert_exit(&output, 0);
        output
    };
    run(&["keys", "create", "--user", "alice", "--secret-file", "alice-2.json"]);
    let created: Value = serde_json::from_str(&read(dir.join("alice-2.json"))).unwrap();
    let alice_2 =
        created["AccessKey"]["AccessKeyId"].as_str().expect("new key id in the secret file").to_string();
    run(&["keys", "deactivate", "--user", "carol", "--key", moto.key("carol-unused")]);
    run(&["keys", "delete", "--user", "dave", "--key", moto.key("dave-inactive"), "--yes"]);

    assert_exit(&scan(&moto, dir, &[]), 1);

    let diff = keyaudit(dir, None, &["history", "diff", "--history", "h.db", "--format", "json"]);
    // inactive-key-kept (low) is new, at the default fail-on: exit 1.
    assert_exit(&diff, 1);
    let diff = json_of(&diff);
    assert_eq!(diff["from"]["run_id"], 1);
    assert_eq!(diff["to"]["run_id"], 2);
    assert_eq!(findings(&diff["new"]), vec!["inactive-key-kept carol"]);
    assert_eq!(findings(&diff["resolved"]), vec!["inactive-key-kept dave", "key-unused carol"]);
    assert_eq!(findings(&diff["persisting"]), vec!["key-too-old bob"]);
    assert_eq!(findings(&diff["unverified"]), Vec::<String>::new());
    assert_eq!(keys(&diff["keys"]["created"]), vec![format!("alice {alice_2}")]);
    assert_eq!(keys(&diff["keys"]["deleted"]), vec![format!("dave {}", moto.key("dave-inactive"))]);
    assert_eq!(keys(&diff["keys"]["deactivated"]), vec![format!("carol {}", moto.key("carol-unused"))]);
    assert_eq!(keys(&diff["keys"]["reactivated"]), Vec::<String>::new());

    // The same diff gates at a higher level: no new finding at or above medium.
    let medium =
        keyaudit(dir, None, &["history", "diff", "1", "2", "--history", "h.db", "--fail-on", "medium"]);
    assert_exit(&medium, 0);
    assert!(stdout(&medium).contains("1 new, 2 resolved, 1 persisting"), "{}", stdout(&medium));

    // --fail-on-new against the history: nothing changed since run 2, so only existing
    // findings remain: exit 0, every finding marked existing.
    let gate = scan(&moto, dir, &["--baseline", "history", "--fail-on-new"]);
    assert_exit(&gate, 0);
    let report = json_of(&gate);
    assert!(
        report["findings"].as_array().unwrap().iter().all(|f| f["baseline_state"] == "existing"),
        "{report}"
    );
    assert_eq!(report["baseline"]["new"], 0);
    assert_eq!(report["summary"]["failing"], 0);

    // carol's key reactivated: key-unused is back, and new against run 3: exit 1.
    run(&["keys", "activate", "--user", "carol", "--key", moto.key("carol-unused")]);
    let gate = scan(&moto, dir, &["--baseline", "history", "--fail-on-new"]);
    assert_exit(&gate, 1);
    let report = json_of(&gate);
    let new: Vec<&Value> =
        report["findings"].as_array().unwrap().iter().filter(|f| f["baseline_state"] == "new").collect();
    assert_eq!(new.len(), 1, "{report}");
    assert_eq!(new[0]["rule"], "key-unused");
    assert_eq!(findings(&report["resolved"]), vec!["inactive-key-kept carol"]);

    let reactivated =
        keyaudit(dir, None, &["history", "diff", "3", "4", "--history", "h.db", "--format", "json"]);
    assert_exit(&reactivated, 1);
    assert_eq!(
        keys(&json_of(&reactivated)["keys"]["reactivated"]),
        vec![format!("carol {}", moto.key("carol-unused"))]
    );

    // Four runs listed, all complete.
    let list = json_of(&keyaudit(dir, None, &["history", "list", "--history", "h.db", "--format", "json"]));
    let runs = list.as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|run| run["complete"] == true && run["run_id"].is_i64()));
}

#[test]
fn an_incomplete_scan_resolves_nothing_and_is_never_a_baseline() {
    let moto = Moto::start(&owned(scenario()));
    let dir = temp_dir();
    let dir = dir.path();
    assert_exit(&scan(&moto, dir, &[]), 1);

    // bob's keys can never be listed: the run is incomplete, and bob's key-too-old finding
    // is missing from it, but it is not fixed.
    let proxy = FailingProxy::start(&moto.endpoint, &["Action=ListAccessKeys", "UserName=bob"]);
    let output = keyaudit(
        dir,
        Some(&proxy.endpoint),
        &["scan", "--history", "h.db", "--format", "json", "--no-progress", "--max-attempts", "1"],
    );
    assert_exit(&output, 3);
    assert!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(findings(&json_of(&output)["findings"]), vec!["inactive-key-kept dave", "key-unused carol"]);

    let diff = keyaudit(dir, None, &["history", "diff", "1", "2", "--history", "h.db", "--format", "json"]);
    assert_exit(&diff, 3); // a run named is incomplete; the diff is still printed
    let diff = json_of(&diff);
    assert_eq!(diff["to"]["complete"], false);
    assert_eq!(findings(&diff["resolved"]), Vec::<String>::new(), "an incomplete run resolves nothing");
    assert_eq!(findings(&diff["unverified"]), vec!["key-too-old bob"]);
    assert_eq!(keys(&diff["keys"]["deleted"]), Vec::<String>::new(), "bob's key is unknown, not deleted");
    assert!(diff["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("incomplete")));

    // The default diff compares complete runs only: there is just one.
    let default = keyaudit(dir, None, &["history", "diff", "--history", "h.db"]);
    assert_exit(&default, 2);

    // The baseline is run 1 (the last complete one), not the incomplete run 2.
    let gate = scan(&moto, dir, &["--baseline", "history", "--fail-on-new"]);
    assert_exit(&gate, 0);
    let report = json_of(&gate);
    assert!(report["baseline"]["source"].as_str().unwrap().starts_with("history run 1 "), "{report}");

    // In the audit pack bob's finding was never resolved.
    let today = Utc::now().date_naive().to_string();
    let evidence = keyaudit(
        dir,
        None,
        &[
            "history",
            "evidence",
            "--history",
            "h.db",
            "--from",
            &today,
            "--to",
            &today,
            "--output-dir",
            "pack",
        ],
    );
    assert_exit(&evidence, 0);
    let lifecycles: Value = serde_json::from_str(&read(dir.join("pack/findings.json"))).unwrap();
    let bob = lifecycles.as_array().unwrap().iter().find(|f| f["user_name"] == "bob").expect("bob's finding");
    assert_eq!(bob["resolved_at"], Value::Null);
    assert!(read(dir.join("pack/README.txt")).contains("Incomplete runs"));
}

#[test]
fn two_scans_writing_at_once_both_land() {
    let dir = temp_dir();
    let dir = dir.path();
    let children: Vec<_> = (0..2)
        .map(|_| {
            command(dir, None, (TEST_ACCESS_KEY_ID, TEST_SECRET), &["scan", "--demo", "--history", "h.db"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    }
    let list = keyaudit(dir, None, &["history", "list", "--history", "h.db", "--format", "json"]);
    assert_exit(&list, 0);
    let runs = json_of(&list);
    let ids: Vec<i64> = runs.as_array().unwrap().iter().map(|r| r["run_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(runs.as_array().unwrap().iter().all(|r| r["findings"] == 11));

    // Another writer holds the lock: the scan waits for it (busy timeout), then lands.
    let mut holder = rusqlite::Connection::open(dir.join("h.db")).unwrap();
    let tx = holder.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    let mut waiting =
        command(dir, None, (TEST_ACCESS_KEY_ID, TEST_SECRET), &["scan", "--demo", "--history", "h.db"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(waiting.try_wait().unwrap().is_none(), "the scan must wait for the other writer, not fail");
    tx.commit().unwrap();
    let output = waiting.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let list = json_of(&keyaudit(dir, None, &["history", "list", "--history", "h.db", "--format", "json"]));
    assert_eq!(list.as_array().unwrap().len(), 3);
}

#[test]
fn a_file_that_is_not_a_history_or_is_newer_is_exit_2_and_left_untouched() {
    let dir = temp_dir();
    let dir = dir.path();
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, b"this is not a database, just some bytes\n").unwrap();

    let foreign = dir.join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();

    let newer = dir.join("newer.db");
    assert_exit(&keyaudit(dir, None, &["scan", "--demo", "--history", "newer.db"]), 1);
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }

    for (file, reason) in [
        (&garbage, "not an SQLite database"),
        (&foreign, "not a keyaudit history"),
        (&newer, "written by a newer keyaudit (history schema 99"),
    ] {
        let before = std::fs::read(file).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        for args in [
            vec!["scan", "--demo", "--history", name],
            vec!["scan", "--demo", "--history", name, "--baseline", "history"],
            vec!["history", "list", "--history", name],
            vec!["history", "diff", "--history", name],
            vec!["history", "trend", "--history", name],
            vec!["history", "prune", "--keep-days", "0", "--history", name],
        ] {
            let output = keyaudit(dir, None, &args);
            assert_exit(&output, 2);
            let err = stderr(&output);
            assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
            assert!(err.contains(reason), "{args:?}: {err}");
            assert!(stdout(&output).is_empty(), "{args:?}: exit 2 means nothing happened");
            assert_eq!(std::fs::read(file).unwrap(), before, "{args:?} changed {name}");
        }
    }
    // A baseline that is not a keyaudit report: exit 2, one line.
    std::fs::write(dir.join("other.json"), br#"{"Findings": []}"#).unwrap();
    let output = keyaudit(dir, None, &["scan", "--demo", "--baseline", "other.json"]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("--baseline other.json: not a keyaudit JSON report"),
        "{}",
        stderr(&output)
    );
    let missing = keyaudit(dir, None, &["history", "list", "--history", "missing.db"]);
    assert_exit(&missing, 2);
    assert!(!dir.join("missing.db").exists(), "reading a history never creates one");
}

#[test]
fn evidence_is_byte_identical_across_two_exports() {
    let dir = temp_dir();
    let dir = dir.path();
    for _ in 0..3 {
        assert_exit(&keyaudit(dir, None, &["scan", "--demo", "--history", "h.db"]), 1);
    }
    for out in ["one", "two"] {
        let output = keyaudit(
            dir,
            None,
            &[
                "history",
                "evidence",
                "--history",
                "h.db",
                "--from",
                "2026-10-01",
                "--to",
                "2026-11-30",
                "--output-dir",
                out,
            ],
        );
        assert_exit(&output, 0);
    }
    let names = ["README.txt", "runs.csv", "runs.json", "findings.csv", "findings.json"];
    for name in names {
        let one = std::fs::read(dir.join("one").join(name)).unwrap();
        assert!(!one.is_empty(), "{name}");
        assert_eq!(one, std::fs::read(dir.join("two").join(name)).unwrap(), "{name} differs between exports");
    }
    let runs: Value = serde_json::from_str(&read(dir.join("one/runs.json"))).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 3);
    // A window with no run: an empty pack, still written.
    let output = keyaudit(
        dir,
        None,
        &[
            "history",
            "evidence",
            "--history",
            "h.db",
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-31",
            "--output-dir",
            "empty",
        ],
    );
    assert_exit(&output, 0);
    assert!(read(dir.join("empty/README.txt")).contains("Runs: 0"));
}
