//! End-to-end: `scan --publish security-hub` against moto's Security Hub. The real binary
//! scans moto's IAM and imports its findings; an independent reader (boto3,
//! tests/support/security_hub_findings.py) reads them back. Keys are then fixed through IAM
//! (`keyaudit keys`), and their findings must be archived by the next complete scan, never by
//! an incomplete one.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::*;

/// bob's key is too old, carol's unused, dave's inactive one kept: three findings.
fn scenario() -> Value {
    json!({"users": [
        {"name": "alice", "keys": [
            {"alias": "alice-1", "created": ago(30), "last_used": ago(1), "service": "s3", "region": "eu-west-1"}]},
        {"name": "bob", "keys": [
            {"alias": "bob-old", "created": ago(200), "last_used": ago(1), "service": "sts", "region": "us-east-1"}]},
        {"name": "carol", "keys": [
            {"alias": "carol-unused", "created": ago(60), "last_used": null}]},
        {"name": "dave", "keys": [
            {"alias": "dave-inactive", "status": "Inactive", "created": ago(300), "last_used": ago(200), "service": "s3", "region": "eu-west-1"}]}
    ]})
}

/// Every finding in moto's Security Hub, by Id, read with boto3.
fn hub(moto: &Moto) -> BTreeMap<String, Value> {
    let python = std::env::var("KEYAUDIT_TEST_PYTHON").expect("KEYAUDIT_TEST_PYTHON");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/security_hub_findings.py");
    let output =
        Command::new(python).arg(script).arg(&moto.endpoint).arg(TEST_ACCESS_KEY_ID).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let findings: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let by_id: BTreeMap<String, Value> =
        findings.into_iter().map(|f| (f["Id"].as_str().unwrap().to_string(), f)).collect();
    by_id
}

/// `Id -> RecordState` of every finding in Security Hub.
fn states(moto: &Moto) -> BTreeMap<String, String> {
    hub(moto).into_iter().map(|(id, f)| (id, f["RecordState"].as_str().unwrap().to_string())).collect()
}

fn id(rule: &str, user: &str, key: &str) -> String {
    format!("keyaudit/{rule}:123456789012:{user}:{key}")
}

fn publish(moto: &Moto, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["scan", "--publish", "security-hub", "--format", "json", "--no-progress"];
    args.extend_from_slice(extra);
    keyaudit(dir, Some(&moto.endpoint), &args)
}

fn findings_of(output: &Output) -> Vec<String> {
    let report: Value = serde_json::from_str(&stdout(output)).unwrap();
    let mut ids: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("keyaudit/{}", f["finding_id"].as_str().unwrap()))
        .collect();
    ids.sort();
    ids
}

#[test]
fn publishing_imports_every_asff_finding_and_republishing_updates_them() {
    let moto = Moto::start(&owned(scenario()));
    let dir = temp_dir();
    let dir = dir.path();
    let first = publish(&moto, dir, &["--output", "f.asff.json"]);
    assert_exit(&first, 1);
    assert!(
        stderr(&first).contains("imported 3 of 3 finding(s) into Security Hub in us-east-1; archived 0"),
        "{}",
        stderr(&first)
    );
    let published = hub(&moto);
    assert_eq!(published.keys().cloned().collect::<Vec<_>>(), findings_of(&first));
    assert_eq!(
        published.keys().cloned().collect::<Vec<_>>(),
        vec![
            id("inactive-key-kept", "dave", moto.key("dave-inactive")),
            id("key-too-old", "bob", moto.key("bob-old")),
            id("key-unused", "carol", moto.key("carol-unused")),
        ]
    );
    // What Security Hub holds is exactly the `--format asff` object: the conversion to the
    // SDK's types lost and changed nothing.
    let file: Vec<Value> = serde_json::from_str(&read(dir.join("f.asff.json"))).unwrap();
    assert_eq!(file.len(), 3);
    for object in &file {
        assert_eq!(&published[object["Id"].as_str().unwrap()], object);
    }

    std::thread::sleep(std::time::Duration::from_millis(1_100)); // a later UpdatedAt, to the second
    let again = publish(&moto, dir, &[]);
    assert_exit(&again, 1);
    let republished = hub(&moto);
    assert_eq!(republished.len(), 3, "updated, not duplicated");
    for (id, finding) in &republished {
        assert!(finding["UpdatedAt"].as_str() > published[id]["UpdatedAt"].as_str(), "{id} updated");
        assert_eq!(finding["RecordState"], "ACTIVE");
    }
    for secret in &moto.secrets {
        assert!(!stdout(&again).contains(secret.as_str()) && !stderr(&again).contains(secret.as_str()));
    }
}

#[test]
fn a_fixed_keys_finding_is_archived_by_the_next_complete_scan_and_not_by_an_incomplete_one() {
    let moto = Moto::start(&owned(scenario()));
    let dir = temp_dir();
    let dir = dir.path();
    assert_exit(&publish(&moto, dir, &[]), 1);
    let bob = id("key-too-old", "bob", moto.key("bob-old"));
    let carol_unused = id("key-unused", "carol", moto.key("carol-unused"));
    let dave = id("inactive-key-kept", "dave", moto.key("dave-inactive"));

    // Fixed through IAM: carol's unused key deactivated (now an inactive key kept), dave's
    // inactive key deleted.
    for args in [
        &["keys", "deactivate", "--user", "carol", "--key", moto.key("carol-unused")][..],
        &["keys", "delete", "--user", "dave", "--key", moto.key("dave-inactive"), "--yes"][..],
    ] {
        assert_exit(&keyaudit(dir, Some(&moto.endpoint), args), 0);
    }

    // Incomplete: bob's keys cannot be listed. IAM and STS go through the failing proxy,
    // Security Hub straight to moto by its own variable.
    let proxy = FailingProxy::start(&moto.endpoint, &["Action=ListAccessKeys", "UserName=bob"]);
    let incomplete = command(
        dir,
        None,
        (TEST_ACCESS_KEY_ID, TEST_SECRET),
        &["scan", "--publish", "security-hub", "--format", "json", "--no-progress", "--max-attempts", "1"],
    )
    .env("AWS_ENDPOINT_URL_IAM", &proxy.endpoint)
    .env("AWS_ENDPOINT_URL_STS", &proxy.endpoint)
    .env("AWS_ENDPOINT_URL_SECURITYHUB", &moto.endpoint)
    .output()
    .unwrap();
    assert_exit(&incomplete, 3);
    assert!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let carol_inactive = id("inactive-key-kept", "carol", moto.key("carol-unused"));
    assert_eq!(findings_of(&incomplete), vec![carol_inactive.clone()]);
    assert!(
        stderr(&incomplete).contains("archived nothing: the scan is incomplete"),
        "{}",
        stderr(&incomplete)
    );
    let after_incomplete = states(&moto);
    for finding in [&bob, &carol_unused, &dave, &carol_inactive] {
        assert_eq!(after_incomplete[finding], "ACTIVE", "{finding} after the incomplete scan");
    }

    let complete = publish(&moto, dir, &[]);
    assert_exit(&complete, 1);
    assert!(stderr(&complete).contains("imported 2 of 2 finding(s)"), "{}", stderr(&complete));
    assert!(stderr(&complete).contains("archived 2 earlier finding(s)"), "{}", stderr(&complete));
    let after = states(&moto);
    assert_eq!(after.len(), 4, "archived in place, nothing deleted or duplicated");
    assert_eq!(after[&bob], "ACTIVE", "still open");
    assert_eq!(after[&carol_inactive], "ACTIVE", "open today");
    assert_eq!(after[&carol_unused], "ARCHIVED", "carol's key is no longer unused-and-active");
    assert_eq!(after[&dave], "ARCHIVED", "dave's key is gone");

    // Archived stays archived: the next complete scan neither revives nor re-archives it.
    let next = publish(&moto, dir, &[]);
    assert_exit(&next, 1);
    assert!(stderr(&next).contains("archived 0 earlier finding(s)"), "{}", stderr(&next));
    assert_eq!(states(&moto), after);
}

#[test]
fn a_publish_that_fails_is_exit_3_and_the_findings_are_still_reported() {
    let moto = Moto::start(&owned(scenario()));
    let dir = temp_dir();
    let dir = dir.path();
    // Every BatchImportFindings request naming bob's finding is denied; the rest of moto,
    // IAM included, answers.
    let proxy = FailingProxy::start(&moto.endpoint, &["keyaudit/key-too-old:123456789012:bob:"]);
    let output = keyaudit(
        dir,
        Some(&proxy.endpoint),
        &["scan", "--publish", "security-hub", "--format", "json", "--no-progress", "--fail-on", "never"],
    );
    // Without the publish failure this run is clean (--fail-on never): 3 says it is not.
    assert_exit(&output, 3);
    assert_eq!(findings_of(&output).len(), 3, "the report is whole");
    let err = stderr(&output);
    let failed: Vec<&str> = err.lines().filter(|l| l.contains(": finding keyaudit/")).collect();
    assert_eq!(failed.len(), 3, "one line per finding of the denied request: {err}");
    assert!(failed.iter().all(|l| l.contains("not imported: BatchImportFindings failed")), "{err}");
    assert!(err.contains("--publish security-hub: 3 finding(s) not published"), "{err}");
    assert!(hub(&moto).is_empty());
}

#[test]
fn an_unknown_publish_target_is_exit_2_before_any_call() {
    let dir = temp_dir();
    // No server at all: a call would fail as exit 3, not 2.
    let output = keyaudit(
        dir.path(),
        Some("http://127.0.0.1:9"),
        &["scan", "--publish", "security-lake", "--no-progress"],
    );
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("security-hub"), "{}", stderr(&output));
    let remediate =
        keyaudit(dir.path(), Some("http://127.0.0.1:9"), &["remediate", "--publish", "security-hub"]);
    assert_exit(&remediate, 2);
}
