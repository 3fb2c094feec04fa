//! End-to-end: scanning every account of an AWS Organization in moto, by assuming
//! OrganizationAccountAccessRole in each member account.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{json, Value};
use support::*;

const AS_OF: &str = "2026-11-01T00:00:00Z";

fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        Moto::start(&owned(json!({
            "users": [{"name": "admin", "keys": [
                {"alias": "mgmt-old", "created": "2025-01-01T00:00:00Z", "last_used": "2026-10-30T00:00:00Z", "service": "sts", "region": "us-east-1"}]}],
            "members": [
                {"name": "dev", "users": [
                    {"name": "dev-ci", "keys": [{"alias": "dev-unused", "created": "2026-06-01T00:00:00Z", "last_used": null}]},
                    {"name": "dev-ok", "keys": [{"alias": "dev-ok", "created": "2026-10-01T00:00:00Z", "last_used": "2026-10-31T00:00:00Z", "service": "s3", "region": "eu-west-1"}]}]},
                {"name": "prod", "users": [
                    {"name": "prod-batch", "keys": [
                        {"alias": "prod-inactive", "status": "Inactive", "created": "2026-01-01T00:00:00Z", "last_used": "2026-03-01T00:00:00Z", "service": "s3", "region": "us-east-1"}]}]}
            ]
        })))
    })
}

fn scan(args: &[&str]) -> (std::process::Output, Value) {
    let moto = moto();
    let dir = temp_dir();
    let mut all = vec!["scan", "--as-of", AS_OF, "--format", "json"];
    all.extend_from_slice(args);
    let output = keyaudit(dir.path(), Some(&moto.endpoint), &all);
    let report =
        serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&output)));
    (output, report)
}

/// account id -> (rule, user, key) findings.
fn findings_by_account(report: &Value) -> BTreeMap<String, BTreeSet<(String, String, String)>> {
    let mut map: BTreeMap<String, BTreeSet<_>> = BTreeMap::new();
    for f in report["findings"].as_array().unwrap() {
        map.entry(f["account_id"].as_str().unwrap().to_string()).or_default().insert((
            f["rule"].as_str().unwrap().to_string(),
            f["user_name"].as_str().unwrap().to_string(),
            f["access_key_id"].as_str().unwrap_or("-").to_string(),
        ));
    }
    map
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
}

#[test]
fn org_scan_covers_every_account_with_findings_per_account() {
    let moto = moto();
    let (output, report) = scan(&["--org"]);
    assert_exit(&output, 1);
    let (mgmt, dev, prod) = (&moto.accounts["management"], &moto.accounts["dev"], &moto.accounts["prod"]);

    let accounts: Vec<&str> =
        report["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap()).collect();
    let mut expected_accounts = vec![mgmt.as_str(), dev.as_str(), prod.as_str()];
    expected_accounts.sort();
    assert_eq!(accounts, expected_accounts);
    assert_eq!(report["complete"], true, "{}", report["errors"]);

    let by_account = findings_by_account(&report);
    assert_eq!(by_account[mgmt], set(&[("key-too-old", "admin", moto.key("mgmt-old"))]));
    assert_eq!(
        by_account[dev],
        set(&[
            ("key-too-old", "dev-ci", moto.key("dev-unused")),
            ("key-unused", "dev-ci", moto.key("dev-unused"))
        ])
    );
    assert_eq!(by_account[prod], set(&[("inactive-key-kept", "prod-batch", moto.key("prod-inactive"))]));

    // Every key once, in its own account.
    let keys: BTreeSet<(String, String)> = report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (k["account_id"].as_str().unwrap().to_string(), k["access_key_id"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(keys.len(), 4);
    assert!(keys.contains(&(dev.clone(), moto.key("dev-ok").to_string())));
    let summaries: BTreeMap<&str, (u64, u64)> = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account_id"].as_str().unwrap(),
                (a["users"].as_u64().unwrap(), a["findings"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(summaries[dev.as_str()], (2, 2));
    assert_eq!(summaries[prod.as_str()], (1, 1));

    // The table groups by account and counts per account.
    let dir = temp_dir();
    let output = keyaudit(dir.path(), Some(&moto.endpoint), &["scan", "--as-of", AS_OF, "--org"]);
    assert_exit(&output, 1);
    let table = stdout(&output);
    for id in [mgmt, dev, prod] {
        assert!(table.contains(&format!("account {id}:")), "no per-account summary for {id}:\n{table}");
    }
}

#[test]
fn accounts_pick_a_subset_and_unknown_ones_are_errors() {
    let moto = moto();
    let dev = moto.accounts["dev"].as_str();
    let (output, report) = scan(&["--org", "--accounts", dev]);
    assert_exit(&output, 1);
    let accounts: Vec<&str> =
        report["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap()).collect();
    assert_eq!(accounts, vec![dev]);

    // Without --org: named accounts are reached by assuming the role; the caller's directly.
    let mgmt = moto.accounts["management"].as_str();
    let dir = temp_dir();
    std::fs::write(dir.path().join("accounts.txt"), format!("# audit scope\n{dev}\n{mgmt}  # management\n"))
        .unwrap();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--accounts-file", "accounts.txt"],
    );
    assert_exit(&output, 1);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["accounts"].as_array().unwrap().len(), 2);

    // An account outside the Organization: an error row, exit 3, the others still scanned.
    let (output, report) = scan(&["--org", "--accounts", &format!("{dev},999999999999")]);
    assert_exit(&output, 3);
    assert_eq!(report["complete"], false);
    assert_eq!(report["errors"][0]["account_id"], "999999999999");
    assert_eq!(report["errors"][0]["code"], "NotInOrganization");
    assert_eq!(report["accounts"].as_array().unwrap().len(), 1);
}

/// Two shard jobs of an indexed job, each saving its slice, then `keyaudit merge`: the same
/// accounts, findings and verdict as one `--org` scan; a missing slice makes it incomplete;
/// an account in two inventories is refused.
#[test]
fn sharded_scans_merge_into_the_same_report_as_one_scan() {
    let moto = moto();
    let dir = temp_dir();
    let (_, whole) = scan(&["--org"]);
    let mut slices = Vec::new();
    for k in 1..=2 {
        let path = dir.path().join(format!("inventory-{k}.json"));
        let shard = format!("{k}/2");
        let output = keyaudit(
            dir.path(),
            Some(&moto.endpoint),
            &[
                "scan",
                "--org",
                "--shard",
                &shard,
                "--fail-on",
                "never",
                "--save-inventory",
                path.to_str().unwrap(),
            ],
        );
        assert_exit(&output, 0);
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved["shard"], json!({"index": k, "count": 2}));
        slices.push(path);
    }
    let ids = |report: &Value| -> Vec<String> {
        report["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["account_id"].as_str().unwrap().to_string())
            .collect()
    };
    let slice_ids: Vec<Vec<String>> = slices
        .iter()
        .map(|path| ids(&serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()))
        .collect();
    let mut union: Vec<String> = slice_ids.concat();
    union.sort();
    assert_eq!(union, ids(&whole), "the slices are disjoint and cover every account: {slice_ids:?}");

    let paths: Vec<&str> = slices.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["merge", paths[0], paths[1], "--as-of", AS_OF, "--format", "json"];
    let output = keyaudit(dir.path(), None, &args);
    assert_exit(&output, 1);
    let merged: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(merged["complete"], true, "{}", merged["errors"]);
    assert_eq!(ids(&merged), ids(&whole));
    assert_eq!(findings_by_account(&merged), findings_by_account(&whole));
    assert_eq!(merged["summary"]["keys"], whole["summary"]["keys"]);

    // One slice alone: its accounts, reported incomplete (the other slice is missing).
    let output = keyaudit(dir.path(), None, &["merge", paths[0], "--as-of", AS_OF, "--format", "json"]);
    assert_exit(&output, 3);
    let partial: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(partial["errors"][0]["code"], "MissingShard", "{}", partial["errors"]);

    // The same slice twice: refused, nothing reported.
    args[2] = paths[0];
    let output = keyaudit(dir.path(), None, &args);
    assert_exit(&output, 2);
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("is in both") || stderr(&output).contains("both slice"),
        "{}",
        stderr(&output)
    );
}
