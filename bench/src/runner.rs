//! Runs one scenario: a fresh simulator in-process, the real keyaudit binary as a child
//! process against it, and the measurements.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::scenario::Scenario;
use crate::sim::{Simulator, StatsSnapshot};

/// The bench's credentials (the simulator ignores signatures).
pub const ACCESS_KEY_ID: &str = "AKIABENCH000000000001";

/// `keyaudit-bench __launch OUT PROGRAM ARGS...`: the launcher mode (see [`launcher_main`]).
pub const LAUNCH_ARG: &str = "__launch";

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Killed by the bench after `--timeout`.
    TimedOut,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "{code}"),
            Exit::Signal(signal) => write!(f, "signal {signal}"),
            Exit::TimedOut => write!(f, "timeout"),
        }
    }
}

/// What keyaudit's JSON report says.
#[derive(Debug, Clone, Default)]
pub struct ReportSummary {
    pub users: u64,
    pub keys: u64,
    /// Keys listed whose GetAccessKeyLastUsed failed (`last_used_state` = `unknown`).
    pub last_used_unknown: u64,
    pub complete: bool,
    /// `errors[]` counted by `operation code`.
    pub errors: BTreeMap<String, u64>,
}

impl ReportSummary {
    pub fn parse(stdout: &[u8]) -> Option<ReportSummary> {
        let report: serde_json::Value = serde_json::from_slice(stdout).ok()?;
        let summary = report.get("summary")?;
        let mut errors = BTreeMap::new();
        for error in report.get("errors").and_then(|e| e.as_array()).into_iter().flatten() {
            let field = |name: &str| error.get(name).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            *errors.entry(format!("{} {}", field("operation"), field("code"))).or_insert(0) += 1;
        }
        let last_used_unknown = report
            .get("keys")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
            .filter(|key| key.get("last_used_state").and_then(|s| s.as_str()) == Some("unknown"))
            .count() as u64;
        Some(ReportSummary {
            users: summary.get("users")?.as_u64()?,
            keys: summary.get("keys")?.as_u64()?,
            last_used_unknown,
            complete: report.get("complete")?.as_bool()?,
            errors,
        })
    }
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub scenario: Scenario,
    pub wall: Duration,
    pub exit: Exit,
    /// keyaudit's own peak resident set size (`wait4` rusage `ru_maxrss`), KiB; `None` if
    /// it was killed.
    pub peak_rss_kib: Option<u64>,
    pub stats: StatsSnapshot,
    /// `None` if stdout was not a keyaudit JSON report.
    pub report: Option<ReportSummary>,
    /// The last lines keyaudit wrote to stderr.
    pub stderr_tail: Vec<String>,
}

/// Finds the keyaudit binary: `KEYAUDIT_BIN`, else `$CARGO_TARGET_DIR/release/keyaudit`, else
/// the workspace's `target/release/keyaudit`.
pub fn default_keyaudit_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("KEYAUDIT_BIN") {
        return PathBuf::from(bin);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target/release/keyaudit");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).join("release/keyaudit").exists() || !workspace.exists() => {
            Path::new(&dir).join("release/keyaudit")
        }
        _ => workspace,
    }
}

/// Runs `scenario` against a fresh simulator. `timeout`: kill keyaudit after this long.
///
/// keyaudit is started through a small launcher (this binary in [`LAUNCH_ARG`] mode) that
/// reaps it with `wait4`: on Linux a child's `ru_maxrss` starts at the RSS of the process it
/// was spawned from (the high-water mark of the old address space is kept at `exec`), and this
/// bench holds tens of MiB, whereas the fresh launcher holds about 2.
pub async fn run(scenario: &Scenario, keyaudit: &Path, timeout: Duration) -> std::io::Result<RunResult> {
    let trace = std::env::var_os(TRACE_VAR).map(PathBuf::from);
    let mut config = scenario.sim_config();
    config.log_requests = trace.is_some();
    let sim = Simulator::start(&config).await?;
    let workdir = std::env::temp_dir().join(format!("keyaudit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let rusage_file = workdir.join("keyaudit-rusage");
    let _ = std::fs::remove_file(&rusage_file);
    let mut scope_args: Vec<OsString> = Vec::new();
    if scenario.accounts > 1 {
        let file = workdir.join("accounts.txt");
        let ids: Vec<String> = (0..scenario.accounts).map(crate::sim::account_id).collect();
        std::fs::write(&file, ids.join("\n") + "\n")?;
        scope_args = vec!["--accounts-file".into(), file.into_os_string()];
    }

    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg(LAUNCH_ARG)
        .arg(&rusage_file)
        .arg(keyaudit)
        .args(["scan", "--endpoint-url", &sim.endpoint_url(), "--format", "json", "--fail-on", "never"])
        .arg("--no-progress")
        .args(scope_args)
        .args(scenario.keyaudit_args())
        // An empty directory: no ./keyaudit.toml is picked up.
        .current_dir(&workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A process group of their own, so that a timeout kills the launcher and keyaudit.
        .process_group(0);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    let nowhere = workdir.join("nonexistent");
    command
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", nowhere.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", nowhere.join("credentials"));

    let started = Instant::now();
    let spawned_at = sim.elapsed();
    let mut child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());

    let mut waiter = tokio::task::spawn_blocking(move || wait4(pid));
    let (timed_out, (launcher_status, _)) = match tokio::time::timeout(timeout, &mut waiter).await {
        Ok(joined) => (false, joined.map_err(std::io::Error::other)??),
        Err(_) => {
            // SAFETY: the process group we created (launcher and keyaudit); the launcher is
            // not reaped yet (the waiter has not returned), so the group id is still ours.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            (true, waiter.await.map_err(std::io::Error::other)??)
        }
    };
    let wall = started.elapsed();
    let exited_at = sim.elapsed();
    // Reaped by wait4: dropping `child` neither waits nor kills.
    drop(child);

    let launched = std::fs::read_to_string(&rusage_file).ok().and_then(|text| parse_launched(&text));
    let (exit, peak_rss_kib) = match launched {
        _ if timed_out => (Exit::TimedOut, None),
        Some((exit, rss)) => (exit, Some(rss)),
        None => {
            let exit = exit_from_status(launcher_status);
            if exit == Exit::Code(LAUNCH_FAILED) {
                let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
                return Err(std::io::Error::other(stderr.trim().to_string()));
            }
            (exit, None)
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let stderr_tail = lines[lines.len().saturating_sub(8)..].iter().map(|l| l.to_string()).collect();
    let stats = sim.stats();
    if let Some(dir) = &trace {
        write_trace(dir, &scenario.name, spawned_at, exited_at, &sim.request_log())?;
    }
    drop(sim);
    let _ = std::fs::remove_file(&rusage_file);
    let _ = std::fs::remove_file(workdir.join("accounts.txt"));
    let _ = std::fs::remove_dir(&workdir);

    Ok(RunResult {
        scenario: scenario.clone(),
        wall,
        exit,
        peak_rss_kib,
        stats,
        report: ReportSummary::parse(&stdout),
        stderr_tail,
    })
}

/// `KEYAUDIT_BENCH_TRACE=DIR`: log every request of each run and write it to
/// `DIR/SCENARIO.csv` (`action,received,answered`, seconds since the simulator started, in
/// the order answered; the rows `keyaudit-spawned` and `keyaudit-exited` mark the process),
/// for seeing where a run's time goes: calls in flight over time, the order of an account's
/// calls, the gap before the first call and after the last answer.
pub const TRACE_VAR: &str = "KEYAUDIT_BENCH_TRACE";

fn write_trace(
    dir: &Path,
    name: &str,
    spawned: f64,
    exited: f64,
    log: &[crate::sim::Logged],
) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::from("action,received,answered\n");
    let _ = writeln!(text, "keyaudit-spawned,{spawned:.6},{spawned:.6}");
    for entry in log {
        let _ = writeln!(text, "{},{:.6},{:.6}", entry.action.name(), entry.received, entry.answered);
    }
    let _ = writeln!(text, "keyaudit-exited,{exited:.6},{exited:.6}");
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{name}.csv")), text)
}

/// The launcher's exit code when it could not start the program.
const LAUNCH_FAILED: i32 = 125;

fn exit_from_status(status: i32) -> Exit {
    if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    }
}

/// `exit 3 rss 51234` / `signal 9 rss 51234`.
fn parse_launched(text: &str) -> Option<(Exit, u64)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [kind, value, "rss", rss] = words[..] else {
        return None;
    };
    let value = value.parse().ok()?;
    let exit = match kind {
        "exit" => Exit::Code(value),
        "signal" => Exit::Signal(value),
        _ => return None,
    };
    Some((exit, rss.parse().ok()?))
}

/// Launcher mode, `__launch OUT PROGRAM ARGS...`: runs PROGRAM with this process's stdio,
/// environment and directory, reaps it with `wait4`, writes `exit N rss KIB` (or `signal N
/// rss KIB`) to OUT, and exits with its code. Called before anything else in `main`, so this
/// process stays small.
pub fn launcher_main(args: &[OsString]) -> ExitCode {
    let [out, program, rest @ ..] = args else {
        eprintln!("usage: keyaudit-bench {LAUNCH_ARG} OUT PROGRAM [ARGS...]");
        return ExitCode::from(LAUNCH_FAILED as u8);
    };
    let child = match Command::new(program).args(rest).spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!("cannot run {}: {error}", Path::new(program).display());
            return ExitCode::from(LAUNCH_FAILED as u8);
        }
    };
    let (status, usage) = match wait4(child.id() as libc::pid_t) {
        Ok(reaped) => reaped,
        Err(error) => {
            eprintln!("wait4: {error}");
            return ExitCode::from(LAUNCH_FAILED as u8);
        }
    };
    let rss = usage.ru_maxrss.max(0);
    let (line, code) = if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        (format!("exit {code} rss {rss}\n"), code)
    } else {
        let signal = libc::WTERMSIG(status);
        (format!("signal {signal} rss {rss}\n"), 128 + signal)
    };
    if let Err(error) = std::fs::write(out, line) {
        eprintln!("cannot write {}: {error}", Path::new(out).display());
        return ExitCode::from(LAUNCH_FAILED as u8);
    }
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn read_all<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buffer);
        }
        buffer
    })
}

/// Waits for one child and returns its status and its own resource usage.
fn wait4(pid: libc::pid_t) -> std::io::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is our own child.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
