//! The real keyaudit binary against the simulator (not timings: behaviour). ListUsers over
//! two pages with throttling that keyaudit must retry to completion, every key found; and a
//! call that can never succeed reported as an error with exit 3, never skipped.

use std::process::Output;

use keyaudit_bench::sim::{Action, RateLimit, SimConfig, Simulator};
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
    let sim = Simulator::start(&config).await.expect("simulator");
    let (output, report) = scan(&sim).await;
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report["complete"], false);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["operation"], "ListAccessKeys");
    assert_eq!(errors[0]["code"], "AccessDenied");
    assert_eq!(errors[0]["user_name"], "user-000007");
    assert_eq!(report["summary"]["users"], 20, "the other users are all there");
}
