//! The real keyaudit binary against a simulated Organization: every account reached by
//! assuming a role (the simulator attributes each call to an account by its access key id),
//! each with its own rate limit; role sessions that expire during the crawl; and an account
//! whose role cannot be assumed, which stays that account's error row.

mod common;

use std::process::Output;
use std::time::Duration;

use keyaudit_bench::faults::{Fault, FaultKind};
use keyaudit_bench::sim::{account_id, Action, RateLimit, SimConfig, Simulator};
use serde_json::Value;

/// Scans `accounts` (written to an accounts file) against the simulator.
async fn scan_accounts(sim: &Simulator, accounts: &[String]) -> (Output, Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("accounts.txt");
    std::fs::write(&file, accounts.join("\n")).expect("accounts file");
    let mut command = common::scan_command(&sim.endpoint_url());
    command.arg("--accounts-file").arg(&file);
    let output =
        tokio::task::spawn_blocking(move || command.output().expect("run keyaudit")).await.expect("join");
    drop(dir);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", String::from_utf8_lossy(&output.stderr)));
    (output, report)
}

fn ids(count: usize) -> Vec<String> {
    (0..count).map(account_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_account_is_scanned_through_its_own_role_and_limit() {
    let config = SimConfig {
        users: 10,
        accounts: 6,
        rate_limit: Some(RateLimit { rate: 50.0, burst: 5.0 }),
        ..SimConfig::default()
    };
    let sim = Simulator::start(&config).await.expect("simulator");
    let (output, report) = scan_accounts(&sim, &ids(6)).await;
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report["complete"], true, "{}", report["errors"]);
    let accounts = report["accounts"].as_array().unwrap();
    let scanned: Vec<&str> = accounts.iter().map(|a| a["account_id"].as_str().unwrap()).collect();
    assert_eq!(scanned, ids(6).iter().map(String::as_str).collect::<Vec<_>>());
    for account in accounts {
        assert_eq!(account["users"], 10, "{account}");
        assert_eq!(account["keys"], 15, "{account}");
    }
    // Each key once, and in the account it belongs to (the ARN the simulator answered).
    let keys = report["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 90);
    let stats = sim.stats();
    assert_eq!(stats.action(Action::AssumeRole), 5, "one role per member account: {stats:?}");
    assert_eq!(stats.action(Action::ListUsers) - stats.action_throttled(Action::ListUsers), 6);
    assert!(stats.peak_open_connections <= 256, "connections bounded: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_sessions_that_expire_mid_crawl_are_refreshed() {
    // 40 users, 60 keys: ~102 IAM calls at 10/s, so the member's crawl lasts ~10 s, while its
    // role sessions last 15 s and the SDK refreshes them 10 s before they expire.
    let config = SimConfig {
        users: 40,
        accounts: 2,
        rate_limit: Some(RateLimit { rate: 10.0, burst: 5.0 }),
        session_ttl: Some(Duration::from_secs(15)),
        ..SimConfig::default()
    };
    let sim = Simulator::start(&config).await.expect("simulator");
    let (output, report) = scan_accounts(&sim, &ids(2)).await;
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report["complete"], true, "{}", report["errors"]);
    assert_eq!(report["summary"]["keys"], 120);
    let stats = sim.stats();
    assert!(stats.action(Action::AssumeRole) >= 2, "the session was refreshed: {stats:?}");
    assert_eq!(stats.expired_token, 0, "no call was made with an expired session: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_whose_role_cannot_be_assumed_is_its_own_error_row() {
    let config = SimConfig { users: 5, accounts: 3, ..SimConfig::default() };
    let sim = Simulator::start(&config).await.expect("simulator");
    // An account the simulator does not have: AssumeRole is AccessDenied there.
    let mut accounts = ids(3);
    accounts.push("999999999999".to_string());
    let (output, report) = scan_accounts(&sim, &accounts).await;
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["account_id"], "999999999999");
    assert_eq!(errors[0]["operation"], "AssumeRole");
    assert_eq!(report["accounts"].as_array().unwrap().len(), 3, "the others are complete");
    assert_eq!(report["summary"]["users"], 15);
}

/// `--deadline` bounds STS too: an account whose AssumeRole never answers is that account's
/// `DeadlineExceeded` row when the deadline passes (not after the SDK's 30 s attempt timeout,
/// three times), and the other accounts are complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assume_role_that_never_answers_ends_at_the_deadline() {
    let hung = account_id(1);
    let role = format!("arn:aws:iam::{hung}:role/OrganizationAccountAccessRole");
    let faults = vec![Fault::permanent(Action::AssumeRole, FaultKind::Hang).only("RoleArn", &role)];
    let config = SimConfig { users: 5, accounts: 3, faults, ..SimConfig::default() };
    let sim = Simulator::start(&config).await.expect("simulator");
    let started = std::time::Instant::now();
    let mut command = common::scan_command(&sim.endpoint_url());
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("accounts.txt");
    std::fs::write(&file, ids(3).join("\n")).expect("accounts file");
    command.arg("--accounts-file").arg(&file).args(["--deadline", "3s"]);
    let output =
        tokio::task::spawn_blocking(move || command.output().expect("run keyaudit")).await.expect("join");
    let wall = started.elapsed();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(sim.fault_hits(), [1]);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["account_id"], hung.as_str());
    assert_eq!(errors[0]["operation"], "AssumeRole");
    assert_eq!(errors[0]["code"], "DeadlineExceeded");
    assert_eq!(report["accounts"].as_array().unwrap().len(), 2, "the others are complete");
    assert_eq!(report["summary"]["users"], 10);
    assert!(wall < Duration::from_secs(15), "ended {wall:?} after the start, 3 s deadline");
}
