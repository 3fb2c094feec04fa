//! End-to-end: `scan --publish security-hub` against moto's Security Hub. The real binary
//! scans moto's IAM and imports its findings; an independent reader (boto3,
//! tests/support/security_hub_findings.py) reads them back. Keys are then fixed through IAM
//! (`keyaudit keys`), and their findings must be archived by the next complete scan, never by
//! an incomplete one.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::*;

fn scenario() -> Value {
    four_users_three_findings()
}

/// Every finding in moto's Security Hub of the management account, by Id, read with boto3.
fn hub(moto: &Moto) -> BTreeMap<String, Value> {
    hub_as(moto, None, &[])
}

/// Every finding in the Security Hub of `account` (`None`: the management account, the
/// caller's), by Id, read with boto3 signing as that account (through its
/// OrganizationAccountAccessRole), after importing `import` there as that account.
fn hub_as(moto: &Moto, account: Option<&str>, import: &[Value]) -> BTreeMap<String, Value> {
    use std::io::Write;
    let python = std::env::var("KEYAUDIT_TEST_PYTHON").expect("KEYAUDIT_TEST_PYTHON");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/security_hub_findings.py");
    let mut command = Command::new(python);
    command.arg(script).arg(&moto.endpoint).arg(TEST_ACCESS_KEY_ID).args(account);
    if !import.is_empty() {
        command.arg("--import");
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if !import.is_empty() {
        stdin.write_all(serde_json::to_string(import).unwrap().as_bytes()).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
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

/// An Organization: the management account (the caller) and three members, one finding each.
fn org_scenario() -> Value {
    owned(json!({
        "users": [{"name": "bob", "keys": [
            {"alias": "bob-old", "created": ago(200), "last_used": ago(1), "service": "sts", "region": "us-east-1"}]}],
        "members": [
            {"name": "dev", "users": [{"name": "carol", "keys": [
                {"alias": "carol-unused", "created": ago(60), "last_used": null}]}]},
            {"name": "prod", "users": [{"name": "dave", "keys": [
                {"alias": "dave-inactive", "status": "Inactive", "created": ago(300), "last_used": ago(200), "service": "s3", "region": "eu-west-1"}]}]},
            {"name": "sandbox", "users": [{"name": "erin", "keys": [
                {"alias": "erin-old", "created": ago(400), "last_used": ago(2), "service": "s3", "region": "us-east-1"}]}]}
        ]
    }))
}

/// `keyaudit scan --org --publish security-hub --format json ARGS`, every call through `proxy`.
fn publish_org(proxy: &FailingProxy, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["scan", "--org", "--publish", "security-hub", "--format", "json", "--no-progress"];
    args.extend_from_slice(extra);
    keyaudit(dir, Some(&proxy.endpoint), &args)
}

/// account id -> the Ids of the report's findings in it.
fn report_ids_by_account(output: &Output) -> BTreeMap<String, BTreeSet<String>> {
    let report: Value = serde_json::from_str(&stdout(output)).unwrap();
    let mut by_account: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in report["findings"].as_array().unwrap() {
        let id = format!("keyaudit/{}", f["finding_id"].as_str().unwrap());
        by_account.entry(f["account_id"].as_str().unwrap().to_string()).or_default().insert(id);
    }
    by_account
}

/// The management account's Security Hub is the caller's own (read without a role).
fn hub_of(moto: &Moto, account: &str) -> BTreeMap<String, Value> {
    hub_as(moto, (account != moto.account_id).then_some(account), &[])
}

fn product_arn(account: &str) -> String {
    format!("arn:aws:securityhub:us-east-1:{account}:product/{account}/default")
}

#[test]
fn an_org_scan_publishes_each_accounts_findings_through_that_accounts_own_credentials() {
    let moto = Moto::start(&org_scenario());
    let dir = temp_dir();
    let dir = dir.path();
    // Forwards everything; counts AssumeRole calls and who signed each Security Hub request.
    let proxy = FailingProxy::start(&moto.endpoint, &[]);
    let first = publish_org(&proxy, dir, &[]);
    assert_exit(&first, 1);
    let expected = report_ids_by_account(&first);
    let accounts: Vec<&String> = moto.accounts.values().collect();
    assert_eq!(expected.len(), 4, "one finding in each of the 4 accounts: {expected:?}");

    // moto keeps Security Hub per calling account and takes any AwsAccountId from anyone
    // (unlike AWS, which rejects another account's finding): what each account's own
    // Security Hub holds shows whose credentials imported it. Each holds exactly its own.
    let mut published = BTreeMap::new();
    for account in &accounts {
        let held = hub_of(&moto, account);
        assert_eq!(held.keys().cloned().collect::<BTreeSet<_>>(), expected[*account], "account {account}");
        for finding in held.values() {
            assert_eq!(finding["AwsAccountId"], **account);
            assert_eq!(finding["ProductArn"], product_arn(account));
            assert_eq!(finding["RecordState"], "ACTIVE");
        }
        published.insert(account.to_string(), held);
    }
    assert!(
        stderr(&first).contains(
            "imported 4 of 4 finding(s) into Security Hub in us-east-1 (4 accounts, each through its own credentials); archived 0 earlier finding(s) that are gone"
        ),
        "{}",
        stderr(&first)
    );
    // The crawl's credentials were reused: one AssumeRole per member, for crawl and publish.
    let members: BTreeMap<String, usize> =
        ["dev", "prod", "sandbox"].iter().map(|name| (moto.accounts[*name].clone(), 1)).collect();
    assert_eq!(proxy.assume_role_calls(), members);
    // Each account's Security Hub requests were signed by that account's credentials: one
    // BatchImportFindings and one GetFindings (the search for gone findings) each.
    let mut signers: BTreeMap<String, usize> = members.keys().map(|id| (id.clone(), 2)).collect();
    signers.insert(TEST_ACCESS_KEY_ID.into(), 2);
    assert_eq!(proxy.hub_requests(), signers);

    std::thread::sleep(std::time::Duration::from_millis(1_100)); // a later UpdatedAt, to the second
    let again = publish_org(&proxy, dir, &[]);
    assert_exit(&again, 1);
    for account in &accounts {
        let held = hub_of(&moto, account);
        assert_eq!(
            held.keys().cloned().collect::<BTreeSet<_>>(),
            expected[*account],
            "updated, not duplicated"
        );
        for (id, finding) in &held {
            assert!(
                finding["UpdatedAt"].as_str() > published[*account][id]["UpdatedAt"].as_str(),
                "{id} updated"
            );
        }
    }
    for secret in &moto.secrets {
        assert!(!stdout(&again).contains(secret.as_str()) && !stderr(&again).contains(secret.as_str()));
    }
}

#[test]
fn gone_findings_are_archived_in_each_account_scanned_completely_and_only_there() {
    let moto = Moto::start(&org_scenario());
    let dir = temp_dir();
    let dir = dir.path();
    let (dev, prod) = (moto.accounts["dev"].as_str(), moto.accounts["prod"].as_str());
    let proxy = FailingProxy::start(&moto.endpoint, &[]);
    assert_exit(&publish_org(&proxy, dir, &[]), 1);
    // A finding keyaudit published earlier in dev and in prod whose key is gone now (as if
    // deleted since): the same object as the account's real one, with the Id of a key that
    // no longer exists.
    let ghost = |account: &str| {
        let mut finding = hub_of(&moto, account).into_values().next().unwrap();
        let id = format!("keyaudit/key-too-old:{account}:gone-user:AKIAGONE{}", &account[..8]);
        finding["Id"] = id.clone().into();
        hub_as(&moto, Some(account), &[finding]);
        id
    };
    let (dev_ghost, prod_ghost) = (ghost(dev), ghost(prod));

    // prod's user cannot be listed: prod is incomplete, the other accounts complete.
    let partial = FailingProxy::start(&moto.endpoint, &["Action=ListAccessKeys", "UserName=dave"]);
    let incomplete = publish_org(&partial, dir, &["--max-attempts", "1"]);
    assert_exit(&incomplete, 3);
    assert!(
        stderr(&incomplete).contains(&format!(
            "archived 1 earlier finding(s) that are gone in 3 account(s); none in {prod}: not scanned completely"
        )),
        "{}",
        stderr(&incomplete)
    );
    let state =
        |account: &str, id: &str| hub_of(&moto, account)[id]["RecordState"].as_str().unwrap().to_string();
    assert_eq!(state(dev, &dev_ghost), "ARCHIVED", "dev was scanned completely");
    assert_eq!(state(prod, &prod_ghost), "ACTIVE", "prod was not: its missing findings are unknown");
    for account in [dev, prod] {
        let held = hub_of(&moto, account);
        assert_eq!(held.len(), 2, "archived in place, nothing duplicated or moved: {held:?}");
        let real: Vec<&Value> =
            held.values().filter(|f| !f["Id"].as_str().unwrap().contains("gone-user")).collect();
        assert_eq!(real[0]["RecordState"], "ACTIVE", "{account}'s open finding stays open");
    }

    let complete = publish_org(&proxy, dir, &[]);
    assert_exit(&complete, 1);
    assert!(
        stderr(&complete).contains("archived 1 earlier finding(s) that are gone"),
        "{}",
        stderr(&complete)
    );
    assert_eq!(state(prod, &prod_ghost), "ARCHIVED");
    assert_eq!(state(dev, &dev_ghost), "ARCHIVED", "archived stays archived");
}

#[test]
fn a_member_account_where_security_hub_is_denied_is_exit_3_naming_it_and_the_others_still_publish() {
    let moto = Moto::start(&org_scenario());
    let dir = temp_dir();
    let dir = dir.path();
    let sandbox = moto.accounts["sandbox"].as_str();
    // sandbox's role may read IAM (the crawl) but not call Security Hub.
    let proxy = FailingProxy::deny_security_hub_of(&moto.endpoint, sandbox);
    let output = publish_org(&proxy, dir, &["--fail-on", "never"]);
    assert_exit(&output, 3);
    let expected = report_ids_by_account(&output);
    assert_eq!(expected.len(), 4, "the report is whole, sandbox included");
    let err = stderr(&output);
    assert!(err.contains("imported 3 of 4 finding(s)"), "{err}");
    assert!(
        err.contains(&format!("error: --publish security-hub: account {sandbox}: could not list earlier findings to archive: GetFindings"))
            && err.contains("AccessDeniedException"),
        "{err}"
    );
    assert!(err.contains(&format!("finding keyaudit/key-too-old:{sandbox}:erin:")), "{err}");
    assert!(
        err.contains(&format!(
            "--publish security-hub: 1 finding(s) not published, earlier findings not archived in account(s) {sandbox}"
        )),
        "{err}"
    );
    assert!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 2, "import and search denied");
    for (account, ids) in &expected {
        let held: BTreeSet<String> = hub_of(&moto, account).into_keys().collect();
        if account == sandbox {
            assert!(held.is_empty(), "{held:?}");
        } else {
            assert_eq!(&held, ids, "account {account} published despite sandbox");
        }
    }
}

#[test]
fn a_saved_inventory_publishes_the_callers_account_and_the_others_only_through_role_name() {
    let moto = Moto::start(&org_scenario());
    let dir = temp_dir();
    let dir = dir.path();
    let saved = keyaudit(
        dir,
        Some(&moto.endpoint),
        &["scan", "--org", "--save-inventory", "org.json", "--no-progress"],
    );
    assert_exit(&saved, 1);
    let members: Vec<&str> =
        ["dev", "prod", "sandbox"].iter().map(|name| moto.accounts[*name].as_str()).collect();

    // No credentials for the members: only the caller's own account is published.
    let inventory = publish(&moto, dir, &["--inventory", "org.json", "--fail-on", "never"]);
    assert_exit(&inventory, 3);
    let err = stderr(&inventory);
    assert!(err.contains("imported 1 of 4 finding(s)"), "{err}");
    for member in &members {
        assert!(
            err.contains(&format!(
                "account {member}: 1 finding(s) not published, nothing archived: no credentials for it: the caller's are account 123456789012's"
            )),
            "{err}"
        );
        assert!(hub_of(&moto, member).is_empty(), "nothing of {member} published anywhere");
    }
    assert_eq!(hub(&moto).len(), 1, "the management account's own finding, and no other");
    assert!(
        err.contains(
            "--publish security-hub: 3 finding(s) not published, earlier findings not archived in account(s)"
        ),
        "{err}"
    );

    // `merge` (of one inventory here; of every shard in a pipeline) with --role-name reaches
    // each member through that role.
    let merged = keyaudit(
        dir,
        Some(&moto.endpoint),
        &[
            "merge",
            "org.json",
            "--publish",
            "security-hub",
            "--role-name",
            "OrganizationAccountAccessRole",
            "--fail-on",
            "never",
            "--no-progress",
        ],
    );
    assert_exit(&merged, 0);
    assert!(stderr(&merged).contains("imported 4 of 4 finding(s)"), "{}", stderr(&merged));
    for member in &members {
        let held = hub_of(&moto, member);
        assert_eq!(held.len(), 1, "{member}: {held:?}");
        assert!(held.values().all(|f| f["AwsAccountId"] == *member), "{held:?}");
    }
}
