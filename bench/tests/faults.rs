//! The real keyaudit binary against the simulator injecting one fault mode per test: every
//! run ends complete with every key, or with exit 3 naming the failed call; never a gap.
//!
//! "Every key" is what the same scan finds on the same simulated account without faults (the
//! reference run). A gap is a key missing from the report, or reported with a last use it
//! does not have, without an error row naming its key, its user or the user listing.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use keyaudit_bench::faults::{Fault, FaultKind};
use keyaudit_bench::sim::{Action, SimConfig, Simulator};
use serde_json::Value;

mod common;

/// A run that takes longer has looped or hung: killed, and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(90);
/// For faults that never go away: one retry, so the run ends in seconds.
const FEW_ATTEMPTS: [&str; 2] = ["--max-attempts", "2"];
/// Enough users for three ListUsers pages (1,000 a page).
const THREE_PAGES: usize = 2100;

struct Run {
    code: Option<i32>,
    report: Value,
    stderr: String,
    wall: Duration,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Complete,
    Failed,
}

async fn scan(sim: &Simulator, extra: &[&str]) -> Run {
    let mut command = common::scan_command(&sim.endpoint_url());
    command.args(extra).stdout(Stdio::piped()).stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut child = command.spawn().expect("run keyaudit");
        // Read while waiting, so a large report cannot block the child on a full pipe.
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let read = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        };
        let (stdout, stderr) = (read(Box::new(stdout)), read(Box::new(stderr)));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "keyaudit did not end within {RUN_LIMIT:?}: a listing that loops or a call that hangs"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let wall = start.elapsed();
        let (stdout, stderr) = (stdout.join().expect("stdout"), stderr.join().expect("stderr"));
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        let report = serde_json::from_slice(&stdout)
            .unwrap_or_else(|e| panic!("no JSON report ({e}), exit {:?}: {stderr}", status.code()));
        Run { code: status.code(), report, stderr, wall }
    })
    .await
    .expect("join")
}

/// What the same account gives without faults: every key by id.
async fn reference(config: &SimConfig) -> BTreeMap<String, Value> {
    let clean = SimConfig { faults: Vec::new(), ..config.clone() };
    let sim = Simulator::start(&clean).await.expect("simulator");
    let run = scan(&sim, &[]).await;
    assert_eq!(run.code, Some(0), "the reference run: {}", run.stderr);
    let keys = keys_by_id(&run.report);
    assert_eq!(keys.len(), sim.keys(), "the reference run lists every simulated key");
    keys
}

fn keys_by_id(report: &Value) -> BTreeMap<String, Value> {
    let keys = report["keys"].as_array().expect("keys[]");
    let by_id: BTreeMap<String, Value> = keys
        .iter()
        .map(|key| (key["access_key_id"].as_str().expect("id").to_string(), key.clone()))
        .collect();
    assert_eq!(by_id.len(), keys.len(), "a key listed twice");
    by_id
}

/// The parts of a key that must be right (not its age, which moves with the clock).
fn facts(key: &Value) -> Vec<&Value> {
    [
        "user_name",
        "status",
        "created",
        "last_used_state",
        "last_used",
        "last_used_service",
        "last_used_region",
    ]
    .iter()
    .map(|field| &key[*field])
    .collect()
}

/// Complete with every key, or exit 3 with an error row naming `operation`; never a gap.
fn assert_no_gap(reference: &BTreeMap<String, Value>, run: &Run, operation: &str) -> Outcome {
    let keys = keys_by_id(&run.report);
    let errors = run.report["errors"].as_array().expect("errors[]");
    for (id, key) in &keys {
        let known = reference.get(id).unwrap_or_else(|| panic!("key {id} is not in the account"));
        if key["last_used_state"] != "unknown" {
            assert_eq!(facts(key), facts(known), "key {id} reported wrong");
        }
    }
    match run.code {
        Some(0 | 1) => {
            assert_eq!(run.report["complete"], true, "{}", run.report["errors"]);
            assert!(errors.is_empty(), "{errors:?}");
            let missing: Vec<&String> = reference.keys().filter(|id| !keys.contains_key(*id)).collect();
            assert!(missing.is_empty(), "complete, yet {} keys missing: {missing:?}", missing.len());
            Outcome::Complete
        }
        Some(3) => {
            assert_eq!(run.report["complete"], false);
            assert!(
                errors.iter().any(|error| error["operation"] == operation),
                "no error row names {operation}: {errors:?}"
            );
            let names = |error: &Value, field: &str, value: &Value| error[field] == *value;
            for (id, known) in reference {
                let id_value = Value::String(id.clone());
                let covered = match keys.get(id) {
                    Some(key) if key["last_used_state"] != "unknown" => true,
                    Some(_) => errors.iter().any(|error| names(error, "access_key_id", &id_value)),
                    None => errors.iter().any(|error| {
                        names(error, "user_name", &known["user_name"])
                            || (error["operation"] == "ListUsers" && error["user_name"].is_null())
                    }),
                };
                assert!(covered, "key {id} missing or unknown without an error row saying so: {errors:?}");
            }
            Outcome::Failed
        }
        other => panic!("exit {other:?}: {}", run.stderr),
    }
}

/// Runs `config` (with its faults) and checks it against the reference.
async fn check(config: SimConfig, extra: &[&str], operation: &str) -> (Outcome, Run) {
    let reference = reference(&config).await;
    let sim = Simulator::start(&config).await.expect("simulator");
    let run = scan(&sim, extra).await;
    let hits = sim.fault_hits();
    assert!(hits.iter().all(|&hits| hits > 0), "every fault must hit: {hits:?}");
    (assert_no_gap(&reference, &run, operation), run)
}

fn config(users: usize, faults: Vec<Fault>) -> SimConfig {
    SimConfig { users, keys_per_user: vec![1, 2, 0], faults, ..SimConfig::default() }
}

/// An error row's (operation, code).
fn row(operation: &str, code: &str) -> (String, String) {
    (operation.to_string(), code.to_string())
}

fn error_codes(run: &Run) -> Vec<(String, String)> {
    let errors = run.report["errors"].as_array().expect("errors[]");
    let field = |error: &Value, name: &str| error[name].as_str().unwrap_or_default().to_string();
    errors.iter().map(|error| (field(error, "operation"), field(error, "code"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_5xx_on_a_share_of_requests_is_retried_to_completion() {
    let faults = vec![
        Fault::transient(Action::ListUsers, FaultKind::Status(500), 1),
        Fault::permanent(Action::ListAccessKeys, FaultKind::Status(500)).percent(10),
        Fault::permanent(Action::GetAccessKeyLastUsed, FaultKind::Status(503)).percent(10),
    ];
    let (outcome, _) = check(config(300, faults), &[], "ListAccessKeys").await;
    assert_eq!(outcome, Outcome::Complete);
}

#[tokio::test]
async fn a_reset_closes_the_connection_without_an_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let faults = vec![Fault::permanent(Action::GetAccountSummary, FaultKind::Reset)];
    let sim = Simulator::start(&config(1, faults)).await.expect("simulator");
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.expect("connect");
    let form = "Action=GetAccountSummary&Version=2010-05-08";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        sim.addr(),
        form.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(sim.fault_hits(), [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_retried_to_completion() {
    let faults = vec![
        Fault::transient(Action::GetAccountSummary, FaultKind::Reset, 1),
        Fault::transient(Action::ListUsers, FaultKind::Reset, 1),
        Fault::permanent(Action::ListAccessKeys, FaultKind::Reset).percent(10),
        Fault::permanent(Action::GetAccessKeyLastUsed, FaultKind::Reset).percent(10),
    ];
    let (outcome, _) = check(config(300, faults), &[], "ListAccessKeys").await;
    assert_eq!(outcome, Outcome::Complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_body_is_retried_and_one_that_stays_cut_off_is_exit_3() {
    // The first page cut after its first user: parsed as is, one user and no more pages.
    let once = vec![Fault::transient(Action::ListUsers, FaultKind::Truncate, 1)];
    let (outcome, _) = check(config(THREE_PAGES, once), &[], "ListUsers").await;
    assert_eq!(outcome, Outcome::Complete, "the retry gets the whole page");

    let always =
        vec![Fault::permanent(Action::ListAccessKeys, FaultKind::Truncate).only("UserName", "user-000004")];
    let (outcome, run) = check(config(50, always), &FEW_ATTEMPTS, "ListAccessKeys").await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(error_codes(&run), [row("ListAccessKeys", "MalformedResponse")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_list_users_result_is_exit_3_never_no_users() {
    let faults = vec![Fault::permanent(Action::ListUsers, FaultKind::EmptyResult)];
    let (outcome, run) = check(config(50, faults), &FEW_ATTEMPTS, "ListUsers").await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(error_codes(&run), [row("ListUsers", "MalformedResponse")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_elements_are_exit_3_never_never_used_or_no_keys() {
    // A key that was used: read as "never used", it would get key-unused.
    let reference = reference(&config(50, Vec::new())).await;
    let (used, _) = reference.iter().find(|(_, key)| key["last_used_state"] == "used").expect("a used key");
    let faults = vec![
        Fault::permanent(Action::GetAccessKeyLastUsed, FaultKind::MissingElement("AccessKeyLastUsed"))
            .only("AccessKeyId", used),
        Fault::permanent(Action::ListAccessKeys, FaultKind::MissingElement("AccessKeyMetadata"))
            .only("UserName", "user-000004"),
    ];
    let (outcome, run) = check(config(50, faults), &FEW_ATTEMPTS, "GetAccessKeyLastUsed").await;
    assert_eq!(outcome, Outcome::Failed);
    let mut codes = error_codes(&run);
    codes.sort();
    assert_eq!(
        codes,
        [row("GetAccessKeyLastUsed", "MalformedResponse"), row("ListAccessKeys", "MalformedResponse")]
    );
}

/// A permanent ListUsers page fault over three pages: exit 3 with one ListUsers row, `code`.
async fn list_users_page_fault(kind: FaultKind, code: &str) -> Run {
    let faults = vec![Fault::permanent(Action::ListUsers, kind)];
    let (outcome, run) = check(config(THREE_PAGES, faults), &[], "ListUsers").await;
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(error_codes(&run), [row("ListUsers", code)]);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_page_without_a_marker_is_exit_3() {
    list_users_page_fault(FaultKind::TruncatedWithoutMarker, "MalformedResponse").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_marker_is_exit_3_never_a_silent_stop() {
    list_users_page_fault(FaultKind::RepeatMarker, "PaginationLoop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_cycle_ends_with_exit_3_never_loops() {
    list_users_page_fault(FaultKind::CycleMarker, "PaginationLoop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_listed_on_two_pages_are_exit_3() {
    let run = list_users_page_fault(FaultKind::DuplicateUsers, "DuplicateItems").await;
    assert!(!keys_by_id(&run.report).is_empty(), "the pages up to the duplicate are reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_never_answers_ends_at_the_deadline_with_exit_3() {
    let reference = reference(&config(50, Vec::new())).await;
    let (hung, _) = reference.iter().next().expect("a key");
    let faults =
        vec![Fault::permanent(Action::GetAccessKeyLastUsed, FaultKind::Hang).only("AccessKeyId", hung)];
    let sim = Simulator::start(&config(50, faults)).await.expect("simulator");
    let run = scan(&sim, &["--deadline", "3s"]).await;
    assert_eq!(sim.fault_hits(), [1]);
    assert_eq!(assert_no_gap(&reference, &run, "GetAccessKeyLastUsed"), Outcome::Failed);
    // Users' details are read after the listing, which the hung call held past the deadline:
    // they are not done either, and say so.
    assert_eq!(
        error_codes(&run),
        [
            row("GetAccessKeyLastUsed", "DeadlineExceeded"),
            row("GetAccountAuthorizationDetails", "DeadlineExceeded")
        ]
    );
    assert_eq!(run.report["errors"][0]["access_key_id"], hung.as_str());
    assert!(run.wall < Duration::from_secs(30), "ended {:?} after the start, 3 s deadline", run.wall);
}
