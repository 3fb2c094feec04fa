//! Test support: a moto IAM server seeded from a scenario, and a runner for the real binary.

#![allow(dead_code)] // each test file uses a different part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The caller's credentials in every test; they must never appear in any output.
pub const TEST_ACCESS_KEY_ID: &str = "AKIAKEYAUDITTESTER01";
pub const TEST_SECRET: &str = "keyaudit-test-secret-must-never-be-printed-0001";

/// moto's IAM (and STS) on 127.0.0.1, seeded by `tests/support/moto_fixture.py`.
/// Stopped when dropped (its stdin closes; the process is also killed).
pub struct Moto {
    pub endpoint: String,
    pub account_id: String,
    /// Scenario alias -> the access key id moto generated.
    pub keys: HashMap<String, String>,
    /// Every SecretAccessKey moto handed out while seeding.
    pub secrets: Vec<String>,
    /// Scenario alias -> that key's secret, to sign requests as the key.
    pub secret_of: HashMap<String, String>,
    /// Account name -> id (`management`, and each member of the scenario's Organization).
    pub accounts: HashMap<String, String>,
    child: Child,
    _stdin: ChildStdin,
    _scenario: tempfile::NamedTempFile,
}

impl Moto {
    pub fn start(scenario: &Value) -> Moto {
        let python = std::env::var("KEYAUDIT_TEST_PYTHON").unwrap_or_else(|_| {
            panic!(
                "KEYAUDIT_TEST_PYTHON is not set: the end-to-end tests need a Python with moto[server]. \
                 Run scripts/test, which creates one."
            )
        });
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(scenario.to_string().as_bytes()).expect("write scenario");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_fixture.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(file.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read fixture");
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("moto fixture did not start (got {line:?}): {e}"));
        Moto {
            endpoint: ready["endpoint"].as_str().expect("endpoint").to_string(),
            account_id: ready["account_id"].as_str().expect("account").to_string(),
            keys: serde_json::from_value(ready["keys"].clone()).expect("keys"),
            secrets: serde_json::from_value(ready["secrets"].clone()).expect("secrets"),
            secret_of: serde_json::from_value(ready["secret_of"].clone()).expect("secret_of"),
            accounts: serde_json::from_value(ready["accounts"].clone()).expect("accounts"),
            child,
            _stdin: stdin,
            _scenario: file,
        }
    }

    pub fn key(&self, alias: &str) -> &str {
        self.keys.get(alias).unwrap_or_else(|| panic!("no key {alias}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `keyaudit ARGS` in `dir` with a clean AWS environment: test credentials, no
/// profile files, no IMDS, the endpoint (if any) through the SDK's own variable.
pub fn keyaudit(dir: &Path, endpoint: Option<&str>, args: &[&str]) -> Output {
    keyaudit_as(dir, endpoint, (TEST_ACCESS_KEY_ID, TEST_SECRET), args)
}

/// Like [`keyaudit`], signing as the given access key (moto then records that key as used).
pub fn keyaudit_as(dir: &Path, endpoint: Option<&str>, credentials: (&str, &str), args: &[&str]) -> Output {
    command(dir, endpoint, credentials, args).output().expect("run keyaudit")
}

/// Like [`keyaudit`], for runs with little output, but fails the test if the run takes longer
/// than `limit` (a hang):
/// the process is killed and the test panics with what it printed so far.
pub fn keyaudit_within(dir: &Path, endpoint: Option<&str>, limit: Duration, args: &[&str]) -> Output {
    let mut child = command(dir, endpoint, (TEST_ACCESS_KEY_ID, TEST_SECRET), args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keyaudit");
    let started = Instant::now();
    while child.try_wait().expect("wait for keyaudit").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect keyaudit");
            panic!("keyaudit {args:?} still running after {limit:?} (a hang): {}", stderr(&output));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect keyaudit")
}

/// The real binary with a clean AWS environment (see [`keyaudit`]), ready to run.
pub fn command(dir: &Path, endpoint: Option<&str>, credentials: (&str, &str), args: &[&str]) -> Command {
    command_of(Path::new(env!("CARGO_BIN_EXE_keyaudit")), dir, endpoint, credentials, args)
}

/// [`command`] for a copy of the binary at `program` (e.g. one another user may run).
pub fn command_of(
    program: &Path,
    dir: &Path,
    endpoint: Option<&str>,
    credentials: (&str, &str),
    args: &[&str],
) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
        .env("AWS_ACCESS_KEY_ID", credentials.0)
        .env("AWS_SECRET_ACCESS_KEY", credentials.1)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_BACKTRACE", "1"); // a panic would show a backtrace: tests assert there is none
    if let Some(endpoint) = endpoint {
        command.env("AWS_ENDPOINT_URL", endpoint);
    }
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// Asserts the exit code, showing stdout and stderr when it is wrong.
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(output),
        stderr(output)
    );
    let err = stderr(output);
    assert!(!err.contains("panicked") && !err.contains("stack backtrace"), "panic: {err}");
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// An HTTP proxy in front of moto that answers `AccessDenied` to every request whose form
/// body contains all of `needles` (e.g. `Action=ListAccessKeys`, `UserName=bob`), and
/// forwards everything else: "a call that always fails", which moto cannot produce itself.
/// One request per connection (`Connection: close`).
///
/// It also watches AssumeRole: each answer's access key id is remembered as the role's
/// account, so Security Hub requests are counted by the account whose credentials signed them
/// ([`FailingProxy::hub_requests`]), and [`FailingProxy::deny_security_hub_of`] can deny one
/// account's Security Hub calls, as a role without `securityhub:*` permissions would be.
pub struct FailingProxy {
    pub endpoint: String,
    /// Requests answered with the failure.
    pub failed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    needles: Vec<String>,
    /// Security Hub requests signed with this account's assumed-role credentials are denied.
    deny_hub_of: Option<String>,
    /// Access key id -> the account of the role whose AssumeRole returned it.
    assumed_keys: std::sync::Mutex<HashMap<String, String>>,
    /// Role account -> AssumeRole requests.
    assume_role_calls: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
    /// Signing account (or, for keys not from AssumeRole, the access key id) -> Security Hub requests.
    hub_requests: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
}

impl FailingProxy {
    pub fn start(upstream: &str, needles: &[&str]) -> FailingProxy {
        Self::with(upstream, needles, None)
    }

    /// A proxy that denies every Security Hub request signed with credentials of a role in
    /// `account` (and forwards everything else, that account's IAM calls included).
    pub fn deny_security_hub_of(upstream: &str, account: &str) -> FailingProxy {
        Self::with(upstream, &[], Some(account.to_string()))
    }

    fn with(upstream: &str, needles: &[&str], deny_hub_of: Option<String>) -> FailingProxy {
        use std::net::TcpListener;
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let state = Arc::new(ProxyState {
            needles: needles.iter().map(|n| n.to_string()).collect(),
            deny_hub_of,
            ..ProxyState::default()
        });
        let failed = Arc::new(AtomicUsize::new(0));
        let counter = failed.clone();
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, state, counter) = (upstream.clone(), shared.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _ = proxy_one(client, &upstream, &state, &counter);
                });
            }
        });
        FailingProxy { endpoint, failed, state }
    }

    /// AssumeRole requests so far, by the account of the role.
    pub fn assume_role_calls(&self) -> std::collections::BTreeMap<String, usize> {
        self.state.assume_role_calls.lock().unwrap().clone()
    }

    /// Security Hub requests so far, by the account whose assumed-role credentials signed
    /// them, or by the access key id for other credentials (the caller's own).
    pub fn hub_requests(&self) -> std::collections::BTreeMap<String, usize> {
        self.state.hub_requests.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 message head and body (by Content-Length).
fn read_message(reader: &mut impl BufRead) -> std::io::Result<(Vec<String>, Vec<u8>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let length = head
        .iter()
        .find_map(|h| h.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((head, body))
}

/// The text between `start` and the next `end` in `text`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

fn proxy_one(
    client: std::net::TcpStream,
    upstream: &str,
    state: &ProxyState,
    failed: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let (head, body) = read_message(&mut reader)?;
    let mut client = client;
    let text = String::from_utf8_lossy(&body);
    let forward = |head: &[String]| -> Vec<u8> {
        let mut out = Vec::new();
        for line in head.iter().filter(|h| !h.to_ascii_lowercase().starts_with("connection:")) {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out
    };
    let deny = |client: &mut std::net::TcpStream, content_type: &str, body: &str| {
        failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let response = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(response.as_bytes())
    };
    // Security Hub's REST paths all start so (BatchImportFindings: POST /findings/import).
    if head.first().is_some_and(|line| line.starts_with("POST /findings")) {
        let signer = head.iter().find_map(|h| between(h, "Credential=", "/")).unwrap_or("(unsigned)");
        let account =
            state.assumed_keys.lock().unwrap().get(signer).cloned().unwrap_or_else(|| signer.to_string());
        *state.hub_requests.lock().unwrap().entry(account.clone()).or_default() += 1;
        if state.deny_hub_of.as_deref() == Some(account.as_str()) {
            let json = "{\"__type\":\"AccessDeniedException\",\"Message\":\"denied by the test proxy: no securityhub permissions in this account\"}";
            return deny(&mut client, "application/json\r\nx-amzn-ErrorType: AccessDeniedException", json);
        }
    }
    if !state.needles.is_empty() && state.needles.iter().all(|needle| text.contains(needle.as_str())) {
        let xml =
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
                   <Code>AccessDenied</Code><Message>denied by the test proxy</Message></Error>\
                   <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>";
        return deny(&mut client, "text/xml", xml);
    }
    let role_account = text
        .contains("Action=AssumeRole")
        .then(|| between(&text, "RoleArn=arn%3Aaws%3Aiam%3A%3A", "%3A").map(str::to_string))
        .flatten();
    let mut server = std::net::TcpStream::connect(upstream)?;
    server.write_all(&forward(&head))?;
    server.write_all(&body)?;
    let (response_head, response_body) = read_message(&mut BufReader::new(server))?;
    if let Some(account) = role_account {
        *state.assume_role_calls.lock().unwrap().entry(account.clone()).or_default() += 1;
        if let Some(key) =
            between(&String::from_utf8_lossy(&response_body), "<AccessKeyId>", "</AccessKeyId>")
        {
            state.assumed_keys.lock().unwrap().insert(key.to_string(), account);
        }
    }
    client.write_all(&forward(&response_head))?;
    client.write_all(&response_body)
}

/// `scenario` with an `owner` tag on every user that has no tags: the scenarios of tests that
/// are not about owners, so `key-without-owner` (which a real account's untagged users
/// raise) does not enter their expected findings.
pub fn owned(mut scenario: Value) -> Value {
    fn tag(users: &mut Value) {
        for user in users.as_array_mut().into_iter().flatten() {
            if user.get("tags").is_none() {
                let owner = format!("{}-owner", user["name"].as_str().unwrap_or("user"));
                user["tags"] = serde_json::json!({ "owner": owner });
            }
        }
    }
    tag(&mut scenario["users"]);
    for member in scenario["members"].as_array_mut().into_iter().flatten() {
        tag(&mut member["users"]);
    }
    scenario
}

/// An RFC 3339 instant `days` before now, for scenarios evaluated at the scan's own time.
pub fn ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The child may write at most `bytes` to any file (RLIMIT_FSIZE), and a write past that
/// fails with EFBIG instead of killing it (SIGXFSZ ignored, a disposition exec keeps): a
/// full disk, without root or a small filesystem. Pipes (stdout, stderr) are not files.
#[cfg(unix)]
pub fn limit_file_size(command: &mut Command, bytes: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls (setrlimit, signal).
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// The uid and gid of `nobody`, which root tests drop to for what file permissions do not
/// stop root from doing (e.g. reading a file it may only append to).
#[cfg(unix)]
pub const NOBODY: (u32, u32) = (65534, 65534);

/// Runs the child as `uid`/`gid` with no supplementary groups (the test must be root).
#[cfg(unix)]
pub fn run_as(command: &mut Command, (uid, gid): (u32, u32)) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls (setgroups, setgid, setuid).
    unsafe {
        command.pre_exec(move || {
            if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Whether the tests run as root (file permissions do not apply to root).
#[cfg(unix)]
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// alice's key is fine, bob's too old, carol's unused, dave's inactive one kept: three
/// findings. Dates are relative to now, so keys the test creates (at "now" in moto) and the
/// seeded ones are evaluated at the same instant, the scan's own.
pub fn four_users_three_findings() -> Value {
    serde_json::json!({"users": [
        {"name": "alice", "keys": [
            {"alias": "alice-1", "created": ago(30), "last_used": ago(1), "service": "s3", "region": "eu-west-1"}]},
        {"name": "bob", "keys": [
            {"alias": "bob-old", "created": ago(200), "last_used": ago(1), "service": "sts", "region": "us-east-1"}]},
        {"name": "carol", "keys": [
            {"alias": "carol-unused", "created": ago(60), "last_used": null}]},
        {"name": "dave", "keys": [
            {"alias": "dave-inactive", "status": "Inactive", "created": ago(300), "last_used": ago(200), "service": "s3", "region": "eu-west-1"}]}
    ]})
}

/// The demo's report at its collection instant, with the default settings (as `reports/`
/// has it), built through the library as `scan --demo` builds it.
pub fn demo_report() -> keyaudit::report::Report {
    use keyaudit::app::{parse_inventory, DEMO_INVENTORY};
    let inventory = parse_inventory("demo", DEMO_INVENTORY).expect("demo inventory parses");
    let settings = keyaudit::config::Settings::default();
    let as_of = inventory.collected_at;
    let findings = keyaudit::rules::evaluate(&inventory, &settings.rules, as_of);
    let gate = keyaudit::exit::Gate::new(&findings, settings.fail_on, inventory.is_complete());
    keyaudit::report::Report::build(&inventory, &findings, &gate, &settings.rules, &[], as_of, as_of)
}
