//! `keyaudit-scale-bench`: how long keyaudit takes to evaluate and report a large merged
//! inventory (the CPU-bound part of an Organization-wide audit), against the number of keys.
//! Each size is an inventory of N synthetic accounts of 5,000 users and 7,500 keys (the
//! history benchmark's account, see bench/src/history.rs), evaluated by the real binary:
//! `scan --inventory big.json --format json` (plus a CSV file), best of `--runs`.
//!
//!   cargo build --release -p keyaudit
//!   cargo run --release -p keyaudit-bench --bin keyaudit-scale-bench -- [--accounts 4,20,100,270]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use keyaudit_bench::history::Account;
use keyaudit_bench::runner::default_keyaudit_bin;

#[derive(Debug, Parser)]
#[command(name = "keyaudit-scale-bench", about = "Evaluation and report time against the number of keys.")]
struct Args {
    /// Inventory sizes, in accounts of 7,500 keys each.
    #[arg(long, value_delimiter = ',', default_value = "4,20,100,270")]
    accounts: Vec<usize>,
    /// Runs per size (the fastest is reported).
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// The keyaudit binary [default: as keyaudit-bench finds it].
    #[arg(long)]
    keyaudit: Option<PathBuf>,
}

/// Writes an inventory of `accounts` synthetic accounts, one account at a time (the JSON of
/// the whole would not need to exist in memory).
fn write_inventory(path: &std::path::Path, accounts: usize) -> u64 {
    let start = "2026-01-01T06:00:00Z".parse().expect("instant");
    let base = Account::new(5000, start).inventory();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create inventory"));
    write!(out, r#"{{"schema_version":1,"collected_at":{},"accounts":["#, base["collected_at"]).unwrap();
    for index in 0..accounts {
        let mut account = base["accounts"][0].clone();
        account["account_id"] = format!("{:012}", 210_000_000_000u64 + index as u64).into();
        for user in account["users"].as_array_mut().expect("users") {
            for key in user["keys"].as_array_mut().expect("keys") {
                // Key ids are unique per account in IAM; make them unique across accounts too.
                let id = key["access_key_id"].as_str().expect("id").to_string();
                key["access_key_id"] = format!("AKIA{index:05}{}", &id[9..]).into();
            }
        }
        if index > 0 {
            out.write_all(b",").unwrap();
        }
        serde_json::to_writer(&mut out, &account).expect("write account");
    }
    out.write_all(br#"],"errors":[]}"#).unwrap();
    out.flush().unwrap();
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The one number read back from a report (the rest is skipped, never held).
#[derive(serde::Deserialize)]
struct Counted {
    summary: Summary,
}

#[derive(serde::Deserialize)]
struct Summary {
    findings: u64,
}

/// Peak RSS of the children waited for so far (they run one at a time, largest last).
fn children_max_rss_mib() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bin = args.keyaudit.clone().unwrap_or_else(default_keyaudit_bin);
    if !bin.exists() {
        eprintln!(
            "keyaudit-scale-bench: no keyaudit binary at {} (cargo build --release -p keyaudit)",
            bin.display()
        );
        return ExitCode::from(2);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    println!("| accounts | keys | inventory MB | findings | scan --inventory, JSON + CSV (best of {}) | keys/s | peak RSS MiB |", args.runs);
    println!("|---|---|---|---|---|---|---|");
    let mut sizes = args.accounts.clone();
    sizes.sort_unstable();
    for accounts in sizes {
        let path = dir.path().join("inventory.json");
        let bytes = write_inventory(&path, accounts);
        let mut best = Duration::MAX;
        let mut findings = 0;
        for _ in 0..args.runs.max(1) {
            // stdout goes to a file and only the count is read back: the bench must stay
            // small, because a child's peak RSS as Linux reports it (vfork, then exec) is at
            // least its parent's peak (measured: a parsed report made every later child
            // "2,019 MiB" where /usr/bin/time said 637).
            let stdout = std::fs::File::create(dir.path().join("stdout.json")).expect("stdout file");
            let started = Instant::now();
            let output = Command::new(&bin)
                .current_dir(dir.path())
                .args([
                    "scan",
                    "--inventory",
                    "inventory.json",
                    "--format",
                    "json",
                    "--fail-on",
                    "never",
                    "--output",
                    "r.csv",
                ])
                .stdout(Stdio::from(stdout))
                .stderr(Stdio::piped())
                .output()
                .expect("run keyaudit");
            best = best.min(started.elapsed());
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            let report = std::fs::File::open(dir.path().join("stdout.json")).expect("report");
            let report: Counted =
                serde_json::from_reader(std::io::BufReader::new(report)).expect("JSON report");
            findings = report.summary.findings;
        }
        let keys = accounts * 7500;
        println!(
            "| {accounts} | {keys} | {:.0} | {findings} | {:.2} s | {:.0} | {:.0} |",
            bytes as f64 / 1e6,
            best.as_secs_f64(),
            keys as f64 / best.as_secs_f64(),
            children_max_rss_mib()
        );
    }
    ExitCode::SUCCESS
}
