//! `keyaudit-bench`: runs keyaudit against the IAM simulator and prints a Markdown table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use keyaudit_bench::runner::{self, RunResult};
use keyaudit_bench::scenario::{self, Scenario};
use keyaudit_bench::sim::{Latency, RateLimit, Simulator};
use keyaudit_bench::table;

#[derive(Debug, Parser)]
#[command(
    name = "keyaudit-bench",
    about = "Benchmark keyaudit against an in-process IAM simulator.",
    after_help = "With no scenario, --all or --quick, runs one ad-hoc scenario `custom` built from the \
                  flags below. With scenarios, the flags given override those fields in each of them.\n\
                  Built-in: latency-c16 latency-c64 rate-100 overload-20 (--all); quick-latency \
                  quick-rate quick-overload (--quick). Groups: latency, rate, overload."
)]
struct Args {
    /// Scenarios or groups to run (see --list).
    scenarios: Vec<String>,
    /// Run the full set.
    #[arg(long)]
    all: bool,
    /// Run the small smoke-test set.
    #[arg(long)]
    quick: bool,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    list: bool,

    /// Users in the simulated account [custom: 5000].
    #[arg(long)]
    users: Option<usize>,
    /// Keys per user, a repeating pattern: `2,1` = every other user has 2 keys [custom: 2,1].
    #[arg(long, value_delimiter = ',')]
    keys_per_user: Option<Vec<usize>>,
    /// Per-request latency in ms, fixed (`50`) or uniform in a range (`0-10`) [custom: 50].
    #[arg(long, value_parser = Latency::parse_ms)]
    latency_ms: Option<Latency>,
    /// Requests per second for all actions together, or `none` [custom: none].
    #[arg(long, value_parser = parse_rate)]
    rate: Option<RateSetting>,
    /// Token bucket size [default: rate / 5, at least 1].
    #[arg(long)]
    burst: Option<f64>,
    /// Accounts, each with --users users and its own rate limit [custom: 1].
    #[arg(long)]
    accounts: Option<usize>,
    /// keyaudit --concurrency [custom: keyaudit's default].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: Option<u16>,

    /// The keyaudit binary [default: $KEYAUDIT_BIN, $CARGO_TARGET_DIR/release/keyaudit,
    /// target/release/keyaudit].
    #[arg(long)]
    keyaudit: Option<PathBuf>,
    /// Kill keyaudit after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// Only run the simulator on 127.0.0.1:PORT (0: any) until Ctrl-C, with the ad-hoc flags.
    #[arg(long, value_name = "PORT")]
    serve: Option<u16>,

    /// More keyaudit flags, after `--` (e.g. `-- --max-attempts 10`).
    #[arg(last = true)]
    extra: Vec<String>,
}

/// `--rate R` or `--rate none` (clap reads `Option<Option<_>>` as an optional value, so the
/// inner option needs a type of its own).
#[derive(Debug, Clone, Copy)]
struct RateSetting(Option<f64>);

fn parse_rate(text: &str) -> Result<RateSetting, String> {
    if text == "none" {
        return Ok(RateSetting(None));
    }
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(RateSetting(Some(rate))),
        _ => Err(format!("bad rate {text:?}: requests per second > 0, or `none`")),
    }
}

impl Args {
    fn overridden(&self, mut scenario: Scenario) -> Scenario {
        if let Some(users) = self.users {
            scenario.users = users;
            scenario.note = None;
        }
        if let Some(pattern) = &self.keys_per_user {
            scenario.keys_per_user = pattern.clone();
        }
        if let Some(latency) = self.latency_ms {
            scenario.latency = latency;
        }
        let rate = match self.rate {
            Some(RateSetting(rate)) => rate,
            None => scenario.rate_limit.map(|r| r.rate),
        };
        scenario.rate_limit = rate.map(|rate| RateLimit {
            rate,
            burst: self
                .burst
                .or(scenario.rate_limit.filter(|r| r.rate == rate).map(|r| r.burst))
                .unwrap_or((rate / 5.0).max(1.0)),
        });
        if let Some(concurrency) = self.concurrency {
            scenario.concurrency = Some(concurrency);
        }
        if let Some(accounts) = self.accounts {
            scenario.accounts = accounts.max(1);
        }
        scenario.extra_args.extend(self.extra.iter().cloned());
        scenario
    }

    fn selected(&self) -> Result<Vec<Scenario>, String> {
        let (full, quick) = (scenario::full(), scenario::quick());
        let extra = scenario::extra();
        let mut chosen: Vec<Scenario> = Vec::new();
        let mut add = |s: &Scenario| {
            if !chosen.iter().any(|c| c.name == s.name) {
                chosen.push(s.clone());
            }
        };
        if self.quick {
            quick.iter().for_each(&mut add);
        }
        if self.all {
            full.iter().for_each(&mut add);
        }
        for name in &self.scenarios {
            // An exact name, else a group of the full set.
            let exact: Vec<&Scenario> =
                full.iter().chain(&quick).chain(&extra).filter(|s| s.name == *name).collect();
            let matches =
                if exact.is_empty() { full.iter().filter(|s| s.group == name).collect() } else { exact };
            if matches.is_empty() {
                return Err(format!("unknown scenario {name:?} (see --list)"));
            }
            matches.into_iter().for_each(&mut add);
        }
        if chosen.is_empty() {
            chosen.push(Scenario {
                name: "custom".to_string(),
                group: "custom",
                users: 5000,
                keys_per_user: vec![2, 1],
                accounts: self.accounts.unwrap_or(1),
                per_action_buckets: false,
                latency: Latency::fixed(Duration::from_millis(50)),
                rate_limit: None,
                concurrency: None,
                extra_args: Vec::new(),
                note: None,
            });
        }
        Ok(chosen.into_iter().map(|s| self.overridden(s)).collect())
    }
}

fn main() -> ExitCode {
    // Launcher mode first, before anything allocates: see runner::run.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if raw.get(1).is_some_and(|arg| arg == runner::LAUNCH_ARG) {
        return runner::launcher_main(&raw[2..]);
    }
    let args = Args::parse();
    if args.list {
        for s in scenario::quick().into_iter().chain(scenario::full()).chain(scenario::extra()) {
            let b = s.bounds();
            println!(
                "{:<24} {:>4} x {:>5} users {:>7} keys  latency {:<8} rate {:<7} concurrency {:<3}  bound {:.1} s ({})",
                s.name,
                s.accounts,
                s.users,
                s.keys(),
                s.latency.to_string(),
                s.rate_limit.map(|r| format!("{}/{}", r.rate, r.burst)).unwrap_or("none".into()),
                s.effective_concurrency(),
                b.bound(),
                b.binding()
            );
        }
        return ExitCode::SUCCESS;
    }
    let scenarios = match args.selected() {
        Ok(scenarios) => scenarios,
        Err(message) => {
            eprintln!("keyaudit-bench: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if let Some(port) = args.serve {
        return runtime.block_on(serve(&scenarios[0], port));
    }

    let keyaudit = args.keyaudit.clone().unwrap_or_else(runner::default_keyaudit_bin);
    if !keyaudit.exists() {
        eprintln!(
            "keyaudit-bench: no keyaudit binary at {} (build it: cargo build --release -p keyaudit; \
             or set KEYAUDIT_BIN / --keyaudit)",
            keyaudit.display()
        );
        return ExitCode::from(2);
    }
    eprintln!("keyaudit: {}", keyaudit.display());

    let mut results: Vec<RunResult> = Vec::new();
    for scenario in &scenarios {
        let bounds = scenario.bounds();
        eprintln!(
            "running {}: {} users, {} keys, {} calls needed, bound {:.1} s ({}) ...",
            scenario.name,
            scenario.users,
            scenario.keys(),
            bounds.calls_needed,
            bounds.bound(),
            bounds.binding()
        );
        match runtime.block_on(runner::run(scenario, &keyaudit, Duration::from_secs(args.timeout))) {
            Ok(result) => {
                eprintln!("  {}", table::row(&result).join(" | "));
                results.push(result);
            }
            Err(error) => {
                eprintln!("keyaudit-bench: {}: {error}", scenario.name);
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{}", table::markdown(&results));
    println!("{}", table::details(&results));
    println!(
        "bound = max(rate bound, latency bound); latency bound \
         = calls needed x mean latency / calls in flight. calls needed = per account ceil(users/1000) ListUsers + users \
         ListAccessKeys + keys GetAccessKeyLastUsed + 1 GetAccountSummary, plus 1 GetCallerIdentity, plus an AssumeRole \
         and a GetCallerIdentity per account other than the caller's; the rate bound is one account's own (IAM calls - \
         burst) / rate, as every account has its own limit. missing = expected - found users / keys in keyaudit's JSON report."
    );
    ExitCode::SUCCESS
}

async fn serve(scenario: &Scenario, port: u16) -> ExitCode {
    let sim = match Simulator::start_on(&scenario.sim_config(), port).await {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("keyaudit-bench: cannot listen on 127.0.0.1:{port}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "IAM simulator on {} ({} users, {} keys, latency {}, rate {}); Ctrl-C stops it",
        sim.endpoint_url(),
        sim.users(),
        sim.keys(),
        scenario.latency,
        scenario.rate_limit.map(|r| format!("{}/s burst {}", r.rate, r.burst)).unwrap_or("none".into())
    );
    let _ = tokio::signal::ctrl_c().await;
    println!("{:?}", sim.stats());
    ExitCode::SUCCESS
}
