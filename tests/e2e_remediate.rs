//! End-to-end: `keyaudit remediate` against moto. The plan changes nothing; --apply changes
//! exactly the planned keys; a key that changed since the plan is skipped; every action is
//! in the audit log.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use support::*;

const AS_OF: &str = "2026-11-01T00:00:00Z";

fn scenario() -> Value {
    json!({"users": [
        {"name": "u-unused", "keys": [
            {"alias": "unused", "created": "2026-01-01T00:00:00Z", "last_used": "2026-08-01T00:00:00Z", "service": "s3", "region": "us-east-1"}]},
        {"name": "u-old", "keys": [
            {"alias": "old", "created": "2026-01-01T00:00:00Z", "last_used": "2026-10-30T00:00:00Z", "service": "s3", "region": "us-east-1"}]},
        {"name": "u-gone", "keys": [
            {"alias": "gone", "status": "Inactive", "created": "2026-01-01T00:00:00Z", "last_used": "2026-05-01T00:00:00Z", "service": "s3", "region": "us-east-1"}]},
        {"name": "u-fine", "keys": [
            {"alias": "fine", "created": "2026-10-01T00:00:00Z", "last_used": "2026-10-31T00:00:00Z", "service": "s3", "region": "us-east-1"}]},
        {"name": "u-mixed", "keys": [
            {"alias": "m-unused", "created": "2026-08-01T00:00:00Z", "last_used": null},
            {"alias": "m-busy", "created": "2026-09-01T00:00:00Z", "last_used": "2026-10-31T00:00:00Z", "service": "ec2", "region": "eu-west-1"}]}
    ]})
}

/// key id -> status of every key in the account, via a scan.
fn all_keys(moto: &Moto, dir: &Path) -> BTreeMap<String, String> {
    let output = keyaudit(dir, Some(&moto.endpoint), &["scan", "--format", "json", "--fail-on", "never"]);
    assert_exit(&output, 0);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (k["access_key_id"].as_str().unwrap().to_string(), k["status"].as_str().unwrap().to_string())
        })
        .collect()
}

fn audit_lines(path: &Path) -> Vec<Value> {
    read(path.to_path_buf()).lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect()
}

fn planned(document: &Value) -> Vec<(String, String)> {
    document["plan"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (a["access_key_id"].as_str().unwrap().to_string(), a["action"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn plan_changes_nothing_and_apply_changes_exactly_the_planned_keys() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let before = all_keys(&moto, dir.path());

    let output =
        keyaudit(dir.path(), Some(&moto.endpoint), &["remediate", "--as-of", AS_OF, "--format", "json"]);
    assert_exit(&output, 0);
    let plan: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let mut expected = vec![
        (moto.key("unused").to_string(), "deactivate".to_string()),
        (moto.key("gone").to_string(), "delete".to_string()),
        (moto.key("m-unused").to_string(), "deactivate".to_string()),
    ];
    expected.sort();
    let mut got = planned(&plan);
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(plan["applied"], false);
    assert_eq!(all_keys(&moto, dir.path()), before, "a plan changes nothing");
    assert!(!dir.path().join("keyaudit-audit.jsonl").exists(), "no actions, no audit log");

    // --max-actions 1: one action, the others reported as not attempted.
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["remediate", "--as-of", AS_OF, "--apply", "--max-actions", "1", "--audit-log", "audit.jsonl"],
    );
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("Applied 1, skipped 0, failed 0, not attempted (over --max-actions) 2."),
        "{}",
        stdout(&output)
    );
    let log = audit_lines(&dir.path().join("audit.jsonl"));
    assert_eq!(log.iter().filter(|l| l["result"] == "applied").count(), 1);
    assert_eq!(log.iter().filter(|l| l["result"] == "over-limit").count(), 2);
    let first =
        log.iter().find(|l| l["result"] == "applied").unwrap()["access_key_id"].as_str().unwrap().to_string();

    // The rest, from a fresh scan. The key deactivated above is now inactive and long
    // unused, but keyaudit itself deactivated it moments ago: it is not deleted yet.
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &[
            "remediate",
            "--as-of",
            AS_OF,
            "--apply",
            "--yes",
            "--audit-log",
            "audit.jsonl",
            "--format",
            "json",
        ],
    );
    assert_exit(&output, 0);
    let document: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(
        planned(&document).iter().all(|(id, _)| id != &first),
        "just deactivated, so not deleted: {document:#}"
    );

    let after = all_keys(&moto, dir.path());
    let mut expected_after = before.clone();
    expected_after.insert(moto.key("unused").into(), "Inactive".into());
    expected_after.insert(moto.key("m-unused").into(), "Inactive".into());
    expected_after.remove(moto.key("gone"));
    assert_eq!(after, expected_after, "exactly the planned keys changed; m-busy and u-old untouched");

    let log = audit_lines(&dir.path().join("audit.jsonl"));
    let applied: Vec<(&str, &str)> = log
        .iter()
        .filter(|l| l["result"] == "applied")
        .map(|l| (l["access_key_id"].as_str().unwrap(), l["action"].as_str().unwrap()))
        .collect();
    assert_eq!(applied.len(), 3, "{log:#?}");
    for line in &log {
        for field in ["time", "record", "account_id", "user_name", "access_key_id", "action"] {
            assert!(!line[field].is_null(), "audit line without {field}: {line}");
        }
        assert_eq!(line["result"].is_null(), line["record"] == "intent", "{line}");
    }
    // Write-ahead: each applied result comes right after its intent; nothing else has one.
    for (index, line) in log.iter().enumerate() {
        let follows_intent = index > 0
            && log[index - 1]["record"] == "intent"
            && log[index - 1]["access_key_id"] == line["access_key_id"];
        assert_eq!(line["result"] == "applied", follows_intent, "{log:#?}");
    }
    assert_eq!(log.iter().filter(|l| l["record"] == "intent").count(), 3);
}

#[test]
fn a_key_changed_between_plan_and_apply_is_skipped() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--save-inventory", "inv.json", "--fail-on", "never"],
    );
    assert_exit(&output, 0);

    // After the plan was made: the "unused" key is used (a request signed with it), and
    // someone deactivates m-unused by hand.
    let unused = moto.key("unused");
    let output = keyaudit_as(
        dir.path(),
        Some(&moto.endpoint),
        (unused, &moto.secret_of["unused"]),
        &["keys", "list", "--user", "u-unused"],
    );
    assert_exit(&output, 0);
    let m_unused = moto.key("m-unused");
    assert_exit(
        &keyaudit(
            dir.path(),
            Some(&moto.endpoint),
            &["keys", "deactivate", "--user", "u-mixed", "--key", m_unused],
        ),
        0,
    );

    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &[
            "remediate",
            "--inventory",
            "inv.json",
            "--as-of",
            AS_OF,
            "--apply",
            "--yes",
            "--audit-log",
            "a.jsonl",
            "--format",
            "json",
        ],
    );
    assert_exit(&output, 0);
    let document: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let results: BTreeMap<String, (String, String)> = document["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["access_key_id"].as_str().unwrap().to_string(),
                (o["result"].as_str().unwrap().to_string(), o["detail"].as_str().unwrap().to_string()),
            )
        })
        .collect();
    assert_eq!(results[unused].0, "skipped");
    assert!(results[unused].1.contains("used since the plan"), "{:?}", results[unused]);
    assert_eq!(results[m_unused].0, "skipped");
    assert!(results[m_unused].1.contains("status changed"), "{:?}", results[m_unused]);
    assert_eq!(results[moto.key("gone")].0, "applied");

    let after = all_keys(&moto, dir.path());
    assert_eq!(after[unused], "Active", "a key used since the plan is left alone");
    assert!(!after.contains_key(moto.key("gone")));
    let log = audit_lines(&dir.path().join("a.jsonl"));
    let records: Vec<&str> = log.iter().map(|l| l["record"].as_str().unwrap()).collect();
    assert_eq!(
        records,
        ["intent", "result", "result", "result"],
        "an intent only before the one change: {log:#?}"
    );
}

#[test]
fn remediate_from_a_json_report_plans_the_same_actions() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--output", "report.json", "--fail-on", "never"],
    );
    assert_exit(&output, 0);
    // Offline: planning from a report needs no AWS.
    let output = keyaudit(dir.path(), None, &["remediate", "--report", "report.json", "--format", "json"]);
    assert_exit(&output, 0);
    let mut got = planned(&serde_json::from_str(&stdout(&output)).unwrap());
    got.sort();
    let mut expected = vec![
        (moto.key("unused").to_string(), "deactivate".to_string()),
        (moto.key("gone").to_string(), "delete".to_string()),
        (moto.key("m-unused").to_string(), "deactivate".to_string()),
    ];
    expected.sort();
    assert_eq!(got, expected);

    std::fs::write(dir.path().join("bad.json"), "[1, 2]").unwrap();
    let output = keyaudit(dir.path(), None, &["remediate", "--report", "bad.json"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("not a keyaudit JSON report"), "{}", stderr(&output));
}

/// The audit log is what keeps a key deactivated minutes ago from being deleted: a log that
/// cannot be read whole (one invalid UTF-8 byte, a line that is not a record) is a refusal
/// naming the line, before any action, and no key changes.
#[test]
fn an_audit_log_that_cannot_be_read_whole_is_refused_and_no_key_changes() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let before = all_keys(&moto, dir.path());
    let valid = format!(
        r#"{{"time":"2026-11-01T00:00:00.000Z","account_id":"{}","user_name":"u-gone","access_key_id":"{}","action":"deactivate","rules":["key-unused"],"result":"applied","detail":"deactivated"}}"#,
        moto.account_id,
        moto.key("gone")
    );
    let bad_logs: [(Vec<u8>, &str); 2] = [
        ([valid.as_bytes(), b"\n{\"time\xff\n"].concat(), "audit.jsonl line 2: invalid UTF-8"),
        (
            format!("{valid}\n{valid}\n{{\"time\": 1}}\n").into_bytes(),
            "audit.jsonl line 3: not an audit record",
        ),
    ];
    for (log, expected) in bad_logs {
        std::fs::write(dir.path().join("audit.jsonl"), &log).unwrap();
        for apply in [true, false] {
            let mut args = vec!["remediate", "--as-of", AS_OF, "--audit-log", "audit.jsonl"];
            if apply {
                args.extend(["--apply", "--yes"]);
            }
            let output = keyaudit(dir.path(), Some(&moto.endpoint), &args);
            assert_exit(&output, 2);
            let err = stderr(&output);
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            assert!(err.contains(expected) && err.contains("nothing was changed"), "{err}");
            assert!(stdout(&output).is_empty(), "no plan from a log that cannot be read");
            assert_eq!(std::fs::read(dir.path().join("audit.jsonl")).unwrap(), log, "the log is untouched");
        }
    }
    assert_eq!(all_keys(&moto, dir.path()), before, "no key changed");
}

/// Write-ahead on a full disk: the intent cannot be appended to the audit log, so the key is
/// not touched, the run says exactly that (exit 3, one line), and the log is unchanged. The
/// disk is "full" through RLIMIT_FSIZE at the log's current size.
#[cfg(unix)]
#[test]
fn a_full_disk_stops_remediation_before_the_first_change() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let before = all_keys(&moto, dir.path());
    let log = format!(
        "{}\n",
        json!({"time": "2026-01-01T00:00:00.000Z", "record": "result", "account_id": moto.account_id,
               "user_name": "u-fine", "access_key_id": moto.key("fine"), "action": "deactivate",
               "rules": ["key-unused"], "result": "skipped", "detail": "an earlier run"})
    );
    std::fs::write(dir.path().join("audit.jsonl"), &log).unwrap();

    let args = ["remediate", "--as-of", AS_OF, "--apply", "--yes", "--audit-log", "audit.jsonl"];
    let mut run = command(dir.path(), Some(&moto.endpoint), (TEST_ACCESS_KEY_ID, TEST_SECRET), &args);
    let output = limit_file_size(&mut run, log.len() as u64).output().unwrap();
    assert_exit(&output, 3);
    let err = stderr(&output);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("--audit-log audit.jsonl: write failed")
            && err.contains("could not record the intent to")
            && err.contains("so it was not touched")
            && err.contains("done and recorded before: none"),
        "{err}"
    );
    assert_eq!(read(dir.path().join("audit.jsonl")), log, "nothing was appended");
    assert_eq!(all_keys(&moto, dir.path()), before, "no key changed without its intent on disk");

    // Room again: the same command applies the plan, each change after its intent.
    let output = keyaudit(dir.path(), Some(&moto.endpoint), &args);
    assert_exit(&output, 0);
    assert_ne!(all_keys(&moto, dir.path()), before);
}

/// An audit log that can be appended to but not read (write-only permissions) cannot prove
/// what was deactivated recently, so remediation refuses up front: exit 2, one line naming
/// the file, no key changed. Root reads any file, so as root the run drops to `nobody`.
#[cfg(unix)]
#[test]
fn an_audit_log_that_can_be_appended_to_but_not_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;

    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let before = all_keys(&moto, dir.path());
    let log_path = dir.path().join("audit.jsonl");
    std::fs::write(&log_path, "").unwrap();
    std::fs::set_permissions(&log_path, std::fs::Permissions::from_mode(0o200)).unwrap();

    let args = ["remediate", "--as-of", AS_OF, "--apply", "--yes", "--audit-log", "audit.jsonl"];
    let credentials = (TEST_ACCESS_KEY_ID, TEST_SECRET);
    let output = if is_root() {
        // nobody needs a binary outside /root, a directory it can enter, and the log as its own.
        let program = dir.path().join("keyaudit");
        if std::fs::hard_link(env!("CARGO_BIN_EXE_keyaudit"), &program).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_keyaudit"), &program).unwrap();
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(&log_path, Some(NOBODY.0), Some(NOBODY.1)).unwrap();
        let mut run = command_of(&program, dir.path(), Some(&moto.endpoint), credentials, &args);
        run_as(&mut run, NOBODY).output().unwrap()
    } else {
        command(dir.path(), Some(&moto.endpoint), credentials, &args).output().unwrap()
    };
    assert_exit(&output, 2);
    let err = stderr(&output);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--audit-log audit.jsonl: cannot open it: Permission denied"), "{err}");
    assert!(stdout(&output).is_empty(), "no plan from a log that cannot be read: {}", stdout(&output));
    assert_eq!(std::fs::metadata(&log_path).unwrap().len(), 0, "nothing was appended");
    assert_eq!(all_keys(&moto, dir.path()), before, "no key changed");
}
