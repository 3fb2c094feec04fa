//! End-to-end: owners and privileged users from GetAccountAuthorizationDetails, against moto
//! (tags, groups, inline policies, and the AWS managed AdministratorAccess).

mod support;

use serde_json::{json, Value};
use support::*;

const AS_OF: &str = "2026-11-01T00:00:00Z";

fn scenario() -> Value {
    let old = |alias: &str| json!({"alias": alias, "created": "2026-01-01T00:00:00Z", "last_used": "2026-10-30T00:00:00Z", "service": "s3", "region": "eu-west-1"});
    json!({
        "managed_policies": true,
        "groups": [
            {"name": "admins", "managed": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
            {"name": "readers", "managed": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}
        ],
        "users": [
            {"name": "root-like", "tags": {"team": "platform"}, "groups": ["admins"], "keys": [old("admin-key")]},
            {"name": "wildcard", "tags": {"owner": "ops@example.com"}, "keys": [old("wild-key")],
             "inline": {"everything": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}},
            {"name": "reporting", "tags": {"owner": "bi@example.com"}, "groups": ["readers"], "keys": [old("report-key")]},
            {"name": "orphan", "tags": {"cost-center": "42"}, "keys": [old("orphan-key")]},
            {"name": "hostile", "tags": {"owner": "../../x\nevil"}, "keys": [old("hostile-key")]}
        ]
    })
}

fn findings(report: &Value) -> Vec<(String, String, String, Value, Value)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["user_name"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["owner"].clone(),
                f["privileged"].clone(),
            )
        })
        .collect()
}

#[test]
fn owners_come_from_tags_and_privileged_users_findings_are_raised_and_say_why() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--no-progress", "--save-inventory", "inv.json"],
    );
    assert_exit(&output, 1);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["complete"], true, "{report}");
    let got = findings(&report);
    // Risk order: high (raised) first, privileged first, then medium, then info.
    assert_eq!(
        got,
        vec![
            ("key-too-old".into(), "root-like".into(), "high".into(), json!("platform"), json!(true)),
            ("key-too-old".into(), "wildcard".into(), "high".into(), json!("ops@example.com"), json!(true)),
            ("key-too-old".into(), "hostile".into(), "medium".into(), json!("../../x\nevil"), json!(false)),
            ("key-too-old".into(), "orphan".into(), "medium".into(), Value::Null, json!(false)),
            (
                "key-too-old".into(),
                "reporting".into(),
                "medium".into(),
                json!("bi@example.com"),
                json!(false)
            ),
            ("key-without-owner".into(), "orphan".into(), "info".into(), Value::Null, json!(false)),
        ]
    );
    let reasons: Vec<&Value> =
        report["findings"].as_array().unwrap().iter().map(|f| &f["privileged_via"]).collect();
    assert_eq!(reasons[0], &json!(["AdministratorAccess via group admins"]));
    assert_eq!(reasons[1], &json!(["inline policy everything allows *:*"]));
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("user is privileged: AdministratorAccess via group admins; raised from medium"),
        "{message}"
    );

    // The inventory keeps the tags, so a re-evaluation needs no AWS.
    let inventory: Value = serde_json::from_str(&read(dir.path().join("inv.json"))).unwrap();
    let users = inventory["accounts"][0]["users"].as_array().unwrap();
    let orphan = users.iter().find(|u| u["user_name"] == "orphan").unwrap();
    assert_eq!(orphan["details"]["tags"], json!({"cost-center": "42"}));

    // --no-details: no details call, no owners, no key-without-owner, no escalation.
    let plain = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--no-progress", "--no-details"],
    );
    assert_exit(&plain, 1);
    let plain: Value = serde_json::from_str(&stdout(&plain)).unwrap();
    let got = findings(&plain);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got.iter().all(|(rule, _, severity, owner, privileged)| rule == "key-too-old"
        && severity == "medium"
        && owner.is_null()
        && privileged.is_null()));

    // A config that turns escalation off keeps medium and still says why.
    std::fs::write(
        dir.path().join("keyaudit.toml"),
        "[privilege]\nescalate = false\n[owners]\ntag-keys = [\"cost-center\"]\n",
    )
    .unwrap();
    let calm = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--no-progress"],
    );
    let calm: Value = serde_json::from_str(&stdout(&calm)).unwrap();
    let got = findings(&calm);
    assert!(got.iter().filter(|f| f.0 == "key-too-old").all(|f| f.2 == "medium"), "{got:?}");
    let orphan = got.iter().find(|f| f.1 == "orphan" && f.0 == "key-too-old").unwrap();
    assert_eq!(orphan.3, json!("42"), "owner from the configured tag key");
    assert_eq!(got.iter().filter(|f| f.0 == "key-without-owner").count(), 4, "{got:?}");
}

#[test]
fn split_by_owner_writes_one_report_per_owner_inside_the_directory_only() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &[
            "scan",
            "--as-of",
            AS_OF,
            "--no-progress",
            "--output",
            "all.json",
            "--output",
            "all.csv",
            "--split-by",
            "owner",
            "--output-dir",
            "teams",
        ],
    );
    assert_exit(&output, 1);
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("teams"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    // 4 owners (platform, ops@, bi@, the hostile one) and the unowned, each as JSON and CSV.
    assert_eq!(files.len(), 10, "{files:?}");
    assert!(files.contains(&"unowned.json".to_string()) && files.contains(&"unowned.csv".to_string()));
    assert!(files.iter().all(|name| !name.contains('\n') && !name.starts_with('.')), "{files:?}");
    // Nothing escaped the directory: the hostile owner's file is in it, under a clean name.
    assert!(!dir.path().join("x").exists() && !dir.path().parent().unwrap().join("x").exists());
    let hostile = files
        .iter()
        .find(|name| name.starts_with("_._x_evil-") && name.ends_with(".json"))
        .expect("hostile owner's file");
    let report: Value = serde_json::from_str(&read(dir.path().join("teams").join(hostile))).unwrap();
    let owners: Vec<&Value> = report["findings"].as_array().unwrap().iter().map(|f| &f["owner"]).collect();
    assert_eq!(owners, vec![&json!("../../x\nevil")], "only that owner's findings");
    assert_eq!(report["keys"].as_array().unwrap().len(), 1, "only that owner's keys");
    let unowned: Value = serde_json::from_str(&read(dir.path().join("teams/unowned.json"))).unwrap();
    let users: Vec<&str> =
        unowned["findings"].as_array().unwrap().iter().map(|f| f["user_name"].as_str().unwrap()).collect();
    assert_eq!(users, vec!["orphan", "orphan"], "key-too-old and key-without-owner of the untagged user");
    // The whole report still goes to each --output path.
    let all: Value = serde_json::from_str(&read(dir.path().join("all.json"))).unwrap();
    assert_eq!(all["findings"].as_array().unwrap().len(), 6);

    let bad = keyaudit(dir.path(), None, &["scan", "--demo", "--split-by", "owner", "--output-dir", "t"]);
    assert_exit(&bad, 2);
    assert!(stderr(&bad).contains("give at least one --output"), "{}", stderr(&bad));
}

#[test]
fn a_scope_changes_the_threshold_for_tagged_users_and_findings_name_it() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    // Platform users (root-like, tagged team=platform) get a year; the rest keep 90 days.
    std::fs::write(
        dir.path().join("keyaudit.toml"),
        "[[scope]]\nname = \"platform\"\ntag = \"team=platform\"\nmax-key-age-days = 365\n\n\
         [[scope]]\nname = \"bi\"\ntag = \"owner=bi@example.com\"\nrules = { key-too-old = \"critical\" }\n",
    )
    .unwrap();
    let output = keyaudit(
        dir.path(),
        Some(&moto.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--no-progress"],
    );
    assert_exit(&output, 1);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let too_old: Vec<(&str, &str, &Value)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "key-too-old")
        .map(|f| (f["user_name"].as_str().unwrap(), f["severity"].as_str().unwrap(), &f["scope"]))
        .collect();
    assert!(!too_old.iter().any(|(user, _, _)| *user == "root-like"), "{too_old:?}");
    assert!(too_old.contains(&("reporting", "critical", &json!("bi"))), "{too_old:?}");
    assert!(too_old.contains(&("orphan", "medium", &Value::Null)), "{too_old:?}");
    // --dump-config shows the scopes as they will apply.
    let dump = keyaudit(dir.path(), None, &["scan", "--dump-config"]);
    assert!(
        stdout(&dump)
            .contains("[[scope]]\nname = \"platform\"\ntag = \"team=platform\"\nmax-key-age-days = 365"),
        "{}",
        stdout(&dump)
    );
}

#[test]
fn a_denied_details_call_is_an_error_row_and_exit_3_with_keys_still_reported() {
    let moto = Moto::start(&scenario());
    let dir = temp_dir();
    let proxy = FailingProxy::start(&moto.endpoint, &["Action=GetAccountAuthorizationDetails"]);
    let output = keyaudit(
        dir.path(),
        Some(&proxy.endpoint),
        &["scan", "--as-of", AS_OF, "--format", "json", "--no-progress", "--max-attempts", "1"],
    );
    assert_exit(&output, 3);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["keys"].as_array().unwrap().len(), 5, "keys are still reported");
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["operation"] == "GetAccountAuthorizationDetails" && e["code"] == "AccessDenied"),
        "{errors:?}"
    );
    // Owner and privilege unknown: null, and no key-without-owner guessed from nothing.
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["owner"].is_null() && f["privileged"].is_null()));
    assert!(!report["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "key-without-owner"));
}
