//! End-to-end: the real `keyaudit` binary against moto's IAM server, seeded with users and
//! backdated keys. Checks findings, every key listed once, files, exit codes, no secrets.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{json, Value};
use support::*;

const AS_OF: &str = "2026-11-01T00:00:00Z";

/// Names use every character IAM allows besides letters and digits: `+=,.@_-`.
fn scenario() -> Value {
    json!({"users": [
        {"name": "alice", "path": "/eng/", "created": "2024-01-01T00:00:00Z", "keys": [
            {"alias": "alice-ok", "created": "2026-09-01T00:00:00Z", "last_used": "2026-10-30T00:00:00Z", "service": "s3", "region": "eu-west-1"}]},
        {"name": "bob", "keys": [
            {"alias": "bob-old", "created": "2026-01-01T00:00:00Z", "last_used": "2026-10-30T00:00:00Z", "service": "sts", "region": "us-east-1"}]},
        {"name": "ci+deploy@example.com", "path": "/service/", "keys": [
            {"alias": "ci-never", "created": "2026-09-01T00:00:00Z", "last_used": null}]},
        {"name": "svc.backup=nightly,eu_1-a", "path": "/service/", "keys": [
            {"alias": "backup-inactive", "status": "Inactive", "created": "2026-05-01T00:00:00Z", "last_used": "2026-06-01T00:00:00Z", "service": "s3", "region": "eu-west-1"}]},
        {"name": "erin", "keys": [
            {"alias": "erin-1", "created": "2026-08-10T00:00:00Z", "last_used": "2026-10-31T00:00:00Z", "service": "ec2", "region": "us-west-2"},
            {"alias": "erin-2", "created": "2026-09-15T00:00:00Z", "last_used": "2026-10-31T00:00:00Z", "service": "ec2", "region": "us-west-2"}]},
        {"name": "frank", "keys": [
            {"alias": "frank-old", "created": "2026-08-20T00:00:00Z", "last_used": "2026-10-31T00:00:00Z", "service": "lambda", "region": "us-east-1"},
            {"alias": "frank-new", "created": "2026-10-29T00:00:00Z", "last_used": null}]},
        {"name": "grace", "keys": []}
    ]})
}

fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start(&owned(scenario())))
}

fn json_stdout(output: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(output)))
}

/// (rule, user, key id or "-") for each finding.
fn finding_set(report: &Value) -> BTreeSet<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["user_name"].as_str().unwrap().to_string(),
                f["access_key_id"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

fn expected_findings(moto: &Moto) -> BTreeSet<(String, String, String)> {
    [
        ("key-too-old", "bob", moto.key("bob-old")),
        ("key-unused", "ci+deploy@example.com", moto.key("ci-never")),
        ("inactive-key-kept", "svc.backup=nightly,eu_1-a", moto.key("backup-inactive")),
        // Named by its older key, the one to deactivate.
        ("two-active-keys", "erin", moto.key("erin-1")),
    ]
    .into_iter()
    .map(|(rule, user, key)| (rule.to_string(), user.to_string(), key.to_string()))
    .collect()
}

#[test]
fn scan_flags_exactly_the_expected_keys_and_lists_every_key_once() {
    let moto = moto();
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &[
            "scan",
            "--as-of",
            AS_OF,
            "--format",
            "json",
            "--output",
            "r.csv",
            "--output",
            "r.txt",
            "--save-inventory",
            "inv.json",
        ],
    );
    assert_exit(&output, 1);
    let report = json_stdout(&output);

    assert_eq!(finding_set(&report), expected_findings(moto));
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["account_id"] == moto.account_id.as_str()));
    let two = report["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "two-active-keys").unwrap();
    let two_ids: BTreeSet<&str> =
        two["key_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(two_ids, BTreeSet::from([moto.key("erin-1"), moto.key("erin-2")]));
    assert!(two["message"]
        .as_str()
        .unwrap()
        .ends_with(&format!("deactivate the older key {}", moto.key("erin-1"))));

    // every key exactly once, with its last use
    let keys = report["keys"].as_array().unwrap();
    let ids: Vec<&str> = keys.iter().map(|k| k["access_key_id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a key listed twice: {ids:?}");
    assert_eq!(unique, moto.keys.values().map(String::as_str).collect());
    let alice = keys.iter().find(|k| k["access_key_id"] == moto.key("alice-ok")).unwrap();
    assert_eq!(alice["last_used"], "2026-10-30T00:00:00Z");
    assert_eq!(alice["last_used_service"], "s3");
    assert_eq!(alice["last_used_region"], "eu-west-1");
    let never = keys.iter().find(|k| k["access_key_id"] == moto.key("ci-never")).unwrap();
    assert_eq!((never["last_used"].clone(), never["last_used_state"].clone()), (Value::Null, json!("never")));
    assert_eq!(report["summary"]["users"], 7);
    assert_eq!(report["summary"]["keys"], 8);
    assert_eq!(report["complete"], true);
    assert_eq!(report["errors"], json!([]));

    // The CSV file has the same findings, and user names round-trip exactly.
    let mut csv = csv::Reader::from_path(dir.path().join("r.csv")).expect("csv");
    let header = csv.headers().unwrap().clone();
    let column =
        |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name}"));
    let records: Vec<csv::StringRecord> = csv.records().map(|r| r.expect("csv row")).collect();
    // The user's ARN and path in every format: JSON keys and findings, CSV, table.
    let ci_arn = format!("arn:aws:iam::{}:user/service/ci+deploy@example.com", moto.account_id);
    let ci_key = keys.iter().find(|k| k["access_key_id"] == moto.key("ci-never")).unwrap();
    assert_eq!(
        (ci_key["user_arn"].as_str(), ci_key["user_path"].as_str()),
        (Some(ci_arn.as_str()), Some("/service/"))
    );
    let ci_finding =
        report["findings"].as_array().unwrap().iter().find(|f| f["user_name"] == "ci+deploy@example.com");
    assert_eq!(ci_finding.unwrap()["user_arn"], ci_arn.as_str());
    let ci_row = records.iter().find(|r| &r[column("user_name")] == "ci+deploy@example.com").unwrap();
    assert_eq!((&ci_row[column("user_arn")], &ci_row[column("user_path")]), (ci_arn.as_str(), "/service/"));
    assert!(read(dir.path().join("r.txt")).contains(&ci_arn));
    // Root was checked and has no key: said, with no finding.
    assert_eq!(report["accounts"][0]["root_access_key"], "absent");
    assert!(read(dir.path().join("r.txt"))
        .contains(&format!("Root user of {}: no access key (checked).", moto.account_id)));
    let rows: BTreeSet<(String, String, String)> = records
        .iter()
        .map(|r| {
            let key = r[column("access_key_id")].to_string();
            (
                r[column("rule")].to_string(),
                r[column("user_name")].to_string(),
                if key.is_empty() { "-".into() } else { key },
            )
        })
        .collect();
    assert_eq!(rows, expected_findings(moto));

    let table = read(dir.path().join("r.txt"));
    assert!(table.contains(moto.key("bob-old")) && table.contains("4 findings"), "{table}");

    // The saved inventory evaluates offline to the same findings.
    let offline = keyaudit(
        dir.path(),
        None,
        &["scan", "--inventory", "inv.json", "--as-of", AS_OF, "--format", "json"],
    );
    assert_exit(&offline, 1);
    assert_eq!(finding_set(&json_stdout(&offline)), expected_findings(moto));

    // No secret, neither the caller's nor any key's, anywhere we wrote.
    let mut everything = stdout(&output) + &stderr(&output) + &table;
    for file in ["r.csv", "inv.json"] {
        everything += &read(dir.path().join(file));
    }
    for secret in moto.secrets.iter().map(String::as_str).chain([TEST_SECRET]) {
        assert!(!everything.contains(secret), "a secret leaked");
    }
}

#[test]
fn fail_on_never_exits_0_and_fail_on_high_ignores_medium_findings() {
    let moto = moto();
    let dir = temp_dir();
    for level in ["never", "high"] {
        let output =
            keyaudit(dir.path(), Some(&moto.endpoint), &["scan", "--as-of", AS_OF, "--fail-on", level]);
        assert_exit(&output, 0);
        assert!(stdout(&output).contains("4 findings"), "{level}: {}", stdout(&output));
    }
}

#[test]
fn thresholds_from_the_config_file_and_flags_change_the_findings() {
    let moto = moto();
    let dir = temp_dir();
    // bob's key is 304 days old; alice's 61: a 30-day limit catches both, and turning
    // the other rules off leaves only key-too-old.
    std::fs::write(
        dir.path().join("keyaudit.toml"),
        "[thresholds]\nmax-key-age-days = 30\n[rules]\nkey-unused = \"allow\"\ninactive-key-kept = \"allow\"\ntwo-active-keys = \"allow\"\n",
    )
    .unwrap();
    let output = keyaudit(dir.path(), Some(&moto.endpoint), &["scan", "--as-of", AS_OF, "--format", "json"]);
    assert_exit(&output, 1);
    let users: BTreeSet<String> =
        finding_set(&json_stdout(&output)).into_iter().map(|(_, user, _)| user).collect();
    assert_eq!(
        users,
        BTreeSet::from(["alice", "bob", "ci+deploy@example.com", "erin", "frank"].map(String::from))
    );

    // A flag beats the file.
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--max-key-age-days", "200"],
    );
    assert_exit(&output, 1);
    let users: BTreeSet<String> =
        finding_set(&json_stdout(&output)).into_iter().map(|(_, user, _)| user).collect();
    assert_eq!(users, BTreeSet::from(["bob".to_string()]));
}

#[test]
fn endpoint_flag_works_like_the_environment_variable() {
    let moto = moto();
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        None,
        &[
            "scan",
            "--endpoint-url",
            &moto.endpoint,
            "--as-of",
            AS_OF,
            "--format",
            "json",
            "--concurrency",
            "1",
        ],
    );
    assert_exit(&output, 1);
    assert_eq!(finding_set(&json_stdout(&output)), expected_findings(moto));
}

#[test]
fn without_as_of_the_scan_evaluates_at_collection_time() {
    let moto = moto();
    let dir = temp_dir();
    let output =
        keyaudit(dir.path(), Some(&moto.endpoint), &["scan", "--format", "json", "--fail-on", "never"]);
    assert_exit(&output, 0);
    let report = json_stdout(&output);
    assert_eq!(report["as_of"], report["collected_at"]);
    // Everything seeded is in the past, so at least the AS_OF findings hold now.
    assert!(finding_set(&report).is_superset(&expected_findings(moto)));
}

#[test]
fn a_closed_port_is_a_failed_scan_exit_3_with_an_incomplete_report() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let dir = temp_dir();
    let endpoint = format!("http://127.0.0.1:{port}");
    let output = keyaudit(
        dir.path(),
        Some(&endpoint),
        &["scan", "--max-attempts", "2", "--format", "json", "--output", "r.csv"],
    );
    assert_exit(&output, 3);
    let report = json_stdout(&output);
    assert_eq!(report["complete"], false);
    assert_eq!(report["errors"][0]["operation"], "GetCallerIdentity");
    assert_eq!(report["errors"][0]["code"], "DispatchFailure");
    assert!(stderr(&output).contains("scan incomplete"), "{}", stderr(&output));
    let csv = read(dir.path().join("r.csv"));
    assert!(csv.contains("scan-error") && csv.contains("GetCallerIdentity"), "{csv}");
    assert!(!stdout(&output).contains(TEST_SECRET) && !stderr(&output).contains(TEST_SECRET));
}

fn suppressions_config(ci_expires: &str) -> String {
    format!(
        r#"
[[suppress]]
rule = "key-too-old"
user = "b?b"
reason = "SEC-101: bob's batch job is being retired"
expires = "2027-01-01"

[[suppress]]
user = "ci+*@example.com"
reason = "SEC-102: deploy key, rotated by the platform team"
expires = "{ci_expires}"

[[suppress]]
rule = "inactive-key-kept"
account = "123456789012"
reason = "SEC-103: kept for the forensics hold"

[[suppress]]
rule = "two-active-keys"
user = "erin"
reason = "SEC-104: migration window"

[[suppress]]
user = "departed-*"
reason = "SEC-099: users long gone"
"#
    )
}

#[test]
fn suppressions_keep_findings_in_the_report_but_out_of_the_exit_code() {
    let moto = moto();
    let dir = temp_dir();
    std::fs::write(dir.path().join("keyaudit.toml"), suppressions_config("2027-06-30")).unwrap();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--output", "r.csv", "--output", "r.txt"],
    );
    assert_exit(&output, 0);
    let report = json_stdout(&output);
    assert_eq!(finding_set(&report), expected_findings(moto), "suppressed findings stay in the report");
    for finding in report["findings"].as_array().unwrap() {
        assert_eq!(finding["suppressed"], true, "{finding}");
        assert!(finding["suppression_reason"].as_str().unwrap().starts_with("SEC-10"), "{finding}");
    }
    assert_eq!(report["summary"]["suppressed"], 4);
    assert_eq!(report["summary"]["failing"], 0);
    let states: Vec<(&str, u64)> = report["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["state"].as_str().unwrap(), s["matched"].as_u64().unwrap()))
        .collect();
    assert_eq!(states, vec![("active", 1), ("active", 1), ("active", 1), ("active", 1), ("stale", 0)]);

    let mut csv = csv::Reader::from_path(dir.path().join("r.csv")).unwrap();
    let column = csv.headers().unwrap().iter().position(|h| h == "suppressed").expect("suppressed column");
    assert!(csv.records().all(|r| &r.unwrap()[column] == "true"));
    let table = read(dir.path().join("r.txt"));
    assert!(table.contains("SUPPRESSED FINDINGS") && table.contains("stale (matches nothing)"), "{table}");
}

#[test]
fn an_expired_suppression_stops_applying_and_says_so() {
    let moto = moto();
    let dir = temp_dir();
    std::fs::write(dir.path().join("keyaudit.toml"), suppressions_config("2026-10-15")).unwrap();
    let output = keyaudit(dir.path(), Some(&moto.endpoint), &["scan", "--as-of", AS_OF, "--format", "json"]);
    assert_exit(&output, 1);
    let report = json_stdout(&output);
    let ci = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["user_name"] == "ci+deploy@example.com")
        .unwrap();
    assert_eq!((ci["suppressed"].clone(), ci["suppression_expired"].clone()), (json!(false), json!(true)));
    assert_eq!(report["summary"]["failing"], 1);
    assert_eq!(report["suppressions"][1]["state"], "expired");

    let output = keyaudit(dir.path(), Some(&moto.endpoint), &["scan", "--as-of", AS_OF]);
    assert_exit(&output, 1);
    assert!(stdout(&output).contains("suppression expired 2026-10-15"), "{}", stdout(&output));
    assert!(stdout(&output).contains("expired (no longer applied)"), "{}", stdout(&output));
}

/// Runs the SARIF 2.1.0 schema validator over `files`; panics with its complaints.
fn assert_valid_sarif(files: &[&Path]) {
    let python = std::env::var("KEYAUDIT_TEST_PYTHON").expect("KEYAUDIT_TEST_PYTHON (run scripts/test)");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(python)
        .arg(root.join("tests/support/validate_sarif.py"))
        .arg(root.join("tests/fixtures/sarif-schema-2.1.0.json"))
        .args(files)
        .output()
        .expect("run the SARIF validator");
    assert!(output.status.success(), "invalid SARIF:\n{}{}", stdout(&output), stderr(&output));
}

#[test]
fn sarif_output_validates_and_fingerprints_are_stable_across_runs() {
    let moto = moto();
    let dir = temp_dir();
    std::fs::write(dir.path().join("keyaudit.toml"), suppressions_config("2027-06-30")).unwrap();
    // Two runs at different instants: ages and messages change, fingerprints must not.
    for (as_of, file) in [(AS_OF, "a.sarif"), ("2026-11-03T00:00:00Z", "b.sarif")] {
        let output = keyaudit(
            dir.path(),
            Some(&moto.endpoint),
            &["scan", "--as-of", as_of, "--fail-on", "never", "--output", file],
        );
        assert_exit(&output, 0);
    }
    let (a, b) = (dir.path().join("a.sarif"), dir.path().join("b.sarif"));
    assert_valid_sarif(&[&a, &b]);

    let fingerprints = |path: &Path| -> BTreeSet<String> {
        let log: Value = serde_json::from_str(&read(path.to_path_buf())).unwrap();
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"]["keyaudit/v1"].as_str().unwrap().to_string())
            .collect()
    };
    let log: Value = serde_json::from_str(&read(a.clone())).unwrap();
    let run = &log["runs"][0];
    let rule_ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rule_ids,
        [
            "key-too-old",
            "key-unused",
            "inactive-key-kept",
            "two-active-keys",
            "root-access-key",
            "key-without-owner"
        ]
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results
        .iter()
        .all(|r| r["suppressions"][0]["justification"].as_str().unwrap().starts_with("SEC-10")));
    let bob = results.iter().find(|r| r["properties"]["user_name"] == "bob").unwrap();
    assert_eq!(bob["ruleId"], "key-too-old");
    assert_eq!(
        bob["partialFingerprints"]["keyaudit/v1"],
        format!("key-too-old:{}:bob:{}", moto.account_id, moto.key("bob-old"))
    );
    assert_ne!(read(a.clone()), read(b.clone()), "the runs differ in content");
    assert_eq!(fingerprints(&a), fingerprints(&b), "the same findings keep their fingerprints");
    assert_eq!(fingerprints(&a).len(), 4, "fingerprints are unique");
}

#[test]
fn sarif_of_an_incomplete_scan_says_so_and_validates() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        Some(&format!("http://127.0.0.1:{port}")),
        &["scan", "--max-attempts", "1", "--format", "sarif"],
    );
    assert_exit(&output, 3);
    std::fs::write(dir.path().join("x.sarif"), stdout(&output)).unwrap();
    assert_valid_sarif(&[&dir.path().join("x.sarif")]);
    let log = json_stdout(&output);
    assert_eq!(log["runs"][0]["invocations"][0]["executionSuccessful"], false);
    assert!(log["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
        .as_str()
        .unwrap()
        .contains("GetCallerIdentity"));
}

/// An impossible credential report fetched live is warned about as one read from a file is.
/// moto answers GetCredentialReport with a GeneratedTime fixed at 2015-02-02T20:02:02Z
/// (`moto/iam/responses.py`), so every report it serves holds dates after it: an impossible
/// report, served through the real calls by a real IAM implementation.
#[test]
fn a_live_credential_report_generated_before_its_own_dates_is_warned_about_once() {
    let moto = moto();
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--last-used-source", "credential-report"],
    );
    assert_exit(&output, 1);
    let stderr = stderr(&output);
    let warnings: Vec<&str> = stderr.lines().filter(|line| line.starts_with("keyaudit: warning: ")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let prefix = format!("keyaudit: warning: the credential report of account {}: ", moto.account_id);
    assert!(warnings[0].starts_with(&prefix), "{stderr}");
    assert!(
        warnings[0].contains(
            " date(s) in it are later than the time IAM says it was generated, 2015-02-02T20:02:02Z (the latest: "
        ),
        "{stderr}"
    );
    assert!(warnings[0].ends_with("; its ages and last uses cannot all be right"), "{stderr}");
    // Still used, as the file mode uses it: the same findings, last use from the report.
    let report = json_stdout(&output);
    assert_eq!(finding_set(&report), expected_findings(moto));
    assert_eq!(report["accounts"][0]["credential_report_generated_at"], "2015-02-02T20:02:02Z");
    // With the API as the source there is no report and no warning.
    let api = keyaudit(dir.path(), Some(&moto.endpoint), &["scan", "--as-of", AS_OF, "--format", "json"]);
    assert!(!support::stderr(&api).contains("warning"), "{}", support::stderr(&api));
}

#[test]
fn the_credential_report_fast_path_finds_the_same_and_says_where_last_use_came_from() {
    let moto = moto();
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &[
            "scan",
            "--as-of",
            AS_OF,
            "--format",
            "json",
            "--last-used-source",
            "credential-report",
            "--output",
            "r.txt",
        ],
    );
    assert_exit(&output, 1);
    let report = json_stdout(&output);
    assert_eq!(finding_set(&report), expected_findings(moto));
    assert_eq!(report["accounts"][0]["last_used_source"], "credential-report");
    assert!(report["accounts"][0]["credential_report_generated_at"].is_string());
    let bob = report["findings"].as_array().unwrap().iter().find(|f| f["user_name"] == "bob").unwrap();
    assert_eq!(bob["last_used_source"], "credential-report", "{bob}");
    assert_eq!(
        bob["credential_report_generated_at"],
        report["accounts"][0]["credential_report_generated_at"]
    );
    let alice = report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["access_key_id"] == moto.key("alice-ok"))
        .unwrap();
    assert_eq!(alice["last_used"], "2026-10-30T00:00:00Z");
    assert!(read(dir.path().join("r.txt")).contains("comes from its credential report generated"));
}

/// A disk that fills during the crawl: the outputs were checked before any call, the scan
/// ran, and writing one report fails afterwards. That is exit 3 with one line naming the
/// file (never exit 2, "nothing happened"), the report that fits is still written, and the
/// one that did not leaves no half-written file or temporary file behind. The disk is "full"
/// through RLIMIT_FSIZE between the two reports' sizes.
#[cfg(unix)]
#[test]
fn an_output_that_cannot_be_written_after_the_crawl_is_exit_3_and_leaves_no_half_file() {
    let moto = moto();
    let dir = temp_dir();
    let args = ["scan", "--as-of", AS_OF, "--output", "report.json", "--output", "report.csv"];
    let credentials = (TEST_ACCESS_KEY_ID, TEST_SECRET);

    let output = keyaudit(dir.path(), Some(&moto.endpoint), &args);
    assert_exit(&output, 1);
    let csv = read(dir.path().join("report.csv"));
    let json_len = std::fs::metadata(dir.path().join("report.json")).unwrap().len();
    assert!(json_len > csv.len() as u64 + 100, "the JSON report is the larger one");
    for name in ["report.json", "report.csv"] {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }

    let mut run = command(dir.path(), Some(&moto.endpoint), credentials, &args);
    let output = limit_file_size(&mut run, csv.len() as u64 + 100).output().unwrap();
    assert_exit(&output, 3);
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().filter(|line| line.starts_with("keyaudit: error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("--output report.json: cannot write it") && lines[0].contains("exit 3"),
        "{err}"
    );
    assert_eq!(read(dir.path().join("report.csv")), csv, "the report that fits is written whole");
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["report.csv"], "no report.json, no temporary file");
}
