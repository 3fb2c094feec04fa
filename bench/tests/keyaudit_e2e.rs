//! The real keyaudit binary against the simulator (not timings: behaviour). ListUsers over
//! two pages with throttling that keyaudit must retry to completion, every key found; and a
//! call that can never succeed reported as an error with exit 3, never skipped.

use std::process::Output;

use keyaudit_bench::faults::{Fault, FaultKind};
use keyaudit_bench::sim::{Action, Latency, Logged, RateLimit, SimConfig, Simulator, ACCOUNT_ID};
use serde_json::Value;

mod common;

async fn scan(sim: &Simulator) -> (Output, Value) {
    let mut command = common::scan_command(&sim.endpoint_url());
    let output =
        tokio::task::spawn_blocking(move || command.output().expect("run keyaudit")).await.expect("join");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", String::from_utf8_lossy(&output.stderr)));
    (output, report)
}

/// A scan that must end incomplete: exit 3 and `"complete": false`.
async fn incomplete_scan(config: &SimConfig) -> (Simulator, Value) {
    let sim = Simulator::start(config).await.expect("simulator");
    let (output, report) = scan(&sim).await;
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report["complete"], false);
    (sim, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_two_page_crawl_completes_with_every_key() {
    // 1,100 users: two ListUsers pages of 1,000; 1,650 keys; ~2,750 calls at 150/s (low
    // enough that even a debug build on a loaded machine runs into it).
    let config = SimConfig {
        users: 1100,
        rate_limit: Some(RateLimit { rate: 150.0, burst: 5.0 }),
        ..SimConfig::default()
    };
    let sim = Simulator::start(&config).await.expect("simulator");
    let (output, report) = scan(&sim).await;
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report["complete"], true, "{}", report["errors"]);
    assert_eq!(report["summary"]["users"], 1100);
    assert_eq!(report["summary"]["keys"], 1650);
    let ids: std::collections::BTreeSet<&str> =
        report["keys"].as_array().unwrap().iter().map(|k| k["access_key_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1650, "every key once");
    let stats = sim.stats();
    assert_eq!(
        stats.per_action[Action::ListUsers as usize] - stats.throttled_per_action[Action::ListUsers as usize],
        2
    );
    assert!(stats.throttled > 0, "the scenario must actually throttle: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_always_fails_is_an_error_row_and_exit_3() {
    let config = SimConfig { users: 20, denied_users: vec!["user-000007".into()], ..SimConfig::default() };
    let (_sim, report) = incomplete_scan(&config).await;
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["operation"], "ListAccessKeys");
    assert_eq!(errors[0]["code"], "AccessDenied");
    assert_eq!(errors[0]["user_name"], "user-000007");
    // Named by the account STS gave, though the crawl began before STS answered.
    assert_eq!(errors[0]["account_id"], ACCOUNT_ID);
    assert_eq!(report["summary"]["users"], 20, "the other users are all there");
}

/// The request log of a scan of `users` users with `keys_per_user` (no rate limit,
/// `latency_ms` per call), with its report checked complete.
async fn logged_scan(users: usize, keys_per_user: usize, latency_ms: u64) -> Vec<Logged> {
    logged_scan_and_report(users, keys_per_user, latency_ms).await.0
}

async fn logged_scan_and_report(users: usize, keys_per_user: usize, latency_ms: u64) -> (Vec<Logged>, Value) {
    let config = SimConfig {
        users,
        keys_per_user: vec![keys_per_user],
        latency: Latency::fixed(std::time::Duration::from_millis(latency_ms)),
        log_requests: true,
        ..SimConfig::default()
    };
    let sim = Simulator::start(&config).await.expect("simulator");
    let (output, report) = scan(&sim).await;
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report["summary"]["users"], users);
    assert_eq!(report["complete"], true, "{}", report["errors"]);
    (sim.request_log(), report)
}

fn of(log: &[Logged], action: Action) -> Vec<Logged> {
    log.iter().filter(|entry| entry.action == action).copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_account_lists_its_users_ahead_and_reads_its_details_beside_its_keys() {
    // 2,001 users: three ListUsers pages and, with groups and policies, more than one details
    // page's worth of users. No keys: the key listings are what the order is measured in.
    let log = logged_scan(2001, 0, 20).await;
    let summary = of(&log, Action::GetAccountSummary);
    let pages = of(&log, Action::ListUsers);
    let details = of(&log, Action::GetAccountAuthorizationDetails);
    let key_listings = of(&log, Action::ListAccessKeys);
    assert_eq!(pages.len(), 3);
    assert_eq!(key_listings.len(), 2001);
    // The first page is asked for beside the summary, not after it.
    let first_page = pages.iter().map(|page| page.received).fold(f64::INFINITY, f64::min);
    assert!(first_page < summary[0].answered, "summary {:?}, ListUsers {pages:?}", summary[0]);
    // Every page is asked for before the crawl of the first page's users is well under way:
    // pulled as the crawl needed users, page 2 came after ~1,000 ListAccessKeys.
    let mut listing_starts: Vec<f64> = key_listings.iter().map(|entry| entry.received).collect();
    listing_starts.sort_by(f64::total_cmp);
    let last_page = pages.iter().map(|page| page.received).fold(0.0, f64::max);
    assert!(
        last_page < listing_starts[300],
        "last ListUsers page at {last_page:.3} s, 300th ListAccessKeys at {:.3} s",
        listing_starts[300]
    );
    // The details are read beside the keys: done well before the last key listing.
    let details_done = details.iter().map(|page| page.answered).fold(0.0, f64::max);
    assert!(
        details_done < listing_starts[1500],
        "details done at {details_done:.3} s, 1,500th ListAccessKeys at {:.3} s; details {details:?}, pages {pages:?}",
        listing_starts[1500]
    );
}

/// IAM calls asked for in the round trip after the first ListUsers page was answered: from
/// the first of them, for half the latency (none of them can have been answered by then).
fn second_round_trip(log: &[Logged], latency_ms: u64) -> usize {
    let first_page =
        of(log, Action::ListUsers).iter().map(|page| page.answered).fold(f64::INFINITY, f64::min);
    let after: Vec<f64> = log
        .iter()
        .filter(|entry| entry.action != Action::GetCallerIdentity && entry.received >= first_page)
        .map(|entry| entry.received)
        .collect();
    let starts = after.iter().copied().fold(f64::INFINITY, f64::min);
    after.iter().filter(|&&received| received < starts + latency_ms as f64 / 2000.0).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_account_opens_its_window_wider_after_its_first_round_trip() {
    // Slow start: 2 calls, then 4. An account of more than 1,000 users goes to 8 once its
    // summary says so; one of 1,000 does not.
    let large = second_round_trip(&logged_scan(1001, 1, 50).await, 50);
    let small = second_round_trip(&logged_scan(1000, 1, 50).await, 50);
    assert!(large >= 8, "1,001 users: {large} calls in the second round trip");
    assert!(small <= 4, "1,000 users: {small} calls in the second round trip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_account_reads_its_details_after_its_keys() {
    // One details page: read beside the keys, it was one more call in each account's first
    // round trips (against a small burst), which made a 1,000-account scan 1.9x slower.
    let log = logged_scan(50, 1, 5).await;
    let details = of(&log, Action::GetAccountAuthorizationDetails);
    assert_eq!(details.len(), 1);
    let last_key_call = log
        .iter()
        .filter(|entry| matches!(entry.action, Action::ListAccessKeys | Action::GetAccessKeyLastUsed))
        .map(|entry| entry.answered)
        .fold(0.0, f64::max);
    assert!(
        details[0].received >= last_key_call,
        "details at {:?}, last key call answered at {last_key_call:.3} s",
        details[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_own_account_is_crawled_beside_get_caller_identity_and_named_by_it() {
    let (log, report) = logged_scan_and_report(50, 1, 20).await;
    let identity = of(&log, Action::GetCallerIdentity);
    assert_eq!(identity.len(), 1);
    // Waiting for STS to name the account cost every scan a round trip before its first IAM call.
    for action in [Action::GetAccountSummary, Action::ListUsers] {
        let first = of(&log, action)[0];
        assert!(
            first.received < identity[0].answered,
            "{action:?} {first:?}, GetCallerIdentity {:?}",
            identity[0]
        );
    }
    // ...and what was crawled meanwhile carries the id STS gave, everywhere.
    assert_eq!(report["accounts"][0]["account_id"], ACCOUNT_ID);
    let keys = report["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 50);
    assert!(keys.iter().all(|key| key["account_id"] == ACCOUNT_ID), "{keys:?}");
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.is_empty() && findings.iter().all(|f| f["account_id"] == ACCOUNT_ID));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_get_caller_identity_leaves_nothing_of_the_crawl_begun_beside_it() {
    // STS fails for good while IAM answers: as when GetCallerIdentity came first, the scan is
    // that one error, exit 3, and no account, user or key from the crawl that started beside it
    // (fast answers: the crawl may well have ended before STS gave up).
    let config = SimConfig {
        users: 30,
        faults: vec![Fault::permanent(Action::GetCallerIdentity, FaultKind::Status(500))],
        ..SimConfig::default()
    };
    let (sim, report) = incomplete_scan(&config).await;
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["operation"], "GetCallerIdentity");
    assert_eq!(report["accounts"], serde_json::json!([]));
    assert_eq!(report["summary"]["users"], 0);
    assert_eq!(report["keys"], serde_json::json!([]));
    assert!(sim.stats().per_action[Action::GetCallerIdentity as usize] >= 2, "retried first");
}
