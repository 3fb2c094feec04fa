//! `keyaudit-history-bench`: a year of daily scans of one account (5,000 users, 7,500 keys,
//! realistic churn) recorded with the real keyaudit binary, `scan --inventory DAY.json
//! --history`. Prints what recording costs, the file's size, and how long `history`
//! commands take over the year. See bench/src/history.rs for the synthetic account.
//!
//!   cargo build --release -p keyaudit
//!   cargo run --release -p keyaudit-bench --bin keyaudit-history-bench -- [--days 365] [--users 5000]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use keyaudit_bench::history::Account;
use keyaudit_bench::runner::default_keyaudit_bin;

#[derive(Debug, Parser)]
#[command(name = "keyaudit-history-bench", about = "A year of daily scans recorded in keyaudit's history.")]
struct Args {
    /// Daily runs to record.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// Users in the account (every other one has two keys).
    #[arg(long, default_value_t = 5000)]
    users: usize,
    /// The keyaudit binary [default: as keyaudit-bench finds it].
    #[arg(long)]
    keyaudit: Option<PathBuf>,
    /// Keep the history here instead of a temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn run(bin: &Path, dir: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run keyaudit");
    let elapsed = started.elapsed();
    // 0 or 1 (findings) are the normal outcomes of a scan or a diff.
    if !matches!(output.status.code(), Some(0 | 1)) {
        panic!("keyaudit {args:?}: {:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    elapsed
}

/// The fastest of `n` runs: what the command costs, without the machine's noise.
fn best_of(n: usize, bin: &Path, dir: &Path, args: &[&str]) -> Duration {
    (0..n).map(|_| run(bin, dir, args)).min().expect("n > 0")
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bin = args.keyaudit.clone().unwrap_or_else(default_keyaudit_bin);
    if !bin.exists() {
        eprintln!(
            "keyaudit-history-bench: no keyaudit binary at {} (cargo build --release -p keyaudit)",
            bin.display()
        );
        return ExitCode::from(2);
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("create dir");
    let db = dir.join("history.db");
    let _ = std::fs::remove_file(&db);

    let start = "2026-01-01T06:00:00Z".parse().expect("instant");
    let mut account = Account::new(args.users, start);
    let inventory = dir.join("inventory.json");
    let write_day = |account: &Account| {
        std::fs::write(&inventory, serde_json::to_vec(&account.inventory()).expect("json"))
            .expect("write inventory")
    };
    let scan = ["scan", "--inventory", "inventory.json", "--format", "json", "--fail-on", "never"];
    let scan_recorded = [&scan[..], &["--history", "history.db"]].concat();

    write_day(&account);
    let plain_first = best_of(3, &bin, &dir, &scan);
    let started = Instant::now();
    let mut recorded = Vec::new();
    for day in 0..args.days {
        if day > 0 {
            account.advance();
            write_day(&account);
        }
        recorded.push(run(&bin, &dir, &scan_recorded));
    }
    let total = started.elapsed();
    // The cost of recording on the year-old file: the same day's scan without --history.
    let plain_last = best_of(3, &bin, &dir, &scan);
    let mut sorted = recorded.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let worst = *sorted.last().expect("runs");
    let last_recorded = *recorded.last().expect("runs");

    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.join("history.db-wal")).map(|m| m.len()).unwrap_or(0);
    let history = ["--history", "history.db"];
    fn with<'a>(command: &[&'a str], history: &[&'a str]) -> Vec<&'a str> {
        [command, history].concat()
    }
    let last = args.days.to_string();
    let trend = best_of(3, &bin, &dir, &with(&["history", "trend", "--format", "json"], &history));
    let diff = best_of(3, &bin, &dir, &with(&["history", "diff", "--format", "json"], &history));
    let diff_year =
        best_of(3, &bin, &dir, &with(&["history", "diff", "1", &last, "--format", "json"], &history));
    let list = best_of(3, &bin, &dir, &with(&["history", "list", "--format", "json"], &history));
    let evidence = best_of(
        3,
        &bin,
        &dir,
        &with(
            &[
                "history",
                "evidence",
                "--from",
                "2026-01-01",
                "--to",
                "2026-12-31",
                "--output-dir",
                "evidence",
            ],
            &history,
        ),
    );

    println!(
        "History benchmark: {} daily runs, {} users / {} keys at the end (3 rotations, 2 new and 2 deleted users a day; 60% of keys used daily)\n",
        args.days,
        account.users(),
        account.keys()
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!("| scan without --history, first day (best of 3) | {} |", ms(plain_first));
    println!("| scan without --history, last day (best of 3) | {} |", ms(plain_last));
    println!("| scan with --history, median of {} days | {} |", args.days, ms(median));
    println!("| scan with --history, slowest day | {} |", ms(worst));
    println!(
        "| recording cost on the year-old file (last day with - without) | {} |",
        ms(last_recorded.saturating_sub(plain_last))
    );
    println!("| all {} recorded scans | {:.1} s |", args.days, total.as_secs_f64());
    println!("| history file after {} runs | {:.1} MB |", args.days, size as f64 / 1e6);
    println!("| `history list` | {} |", ms(list));
    println!("| `history trend` | {} |", ms(trend));
    println!("| `history diff` (last two runs) | {} |", ms(diff));
    println!("| `history diff 1 {last}` (a year apart) | {} |", ms(diff_year));
    println!("| `history evidence` (the whole year) | {} |", ms(evidence));
    ExitCode::SUCCESS
}
