//! An in-process IAM (and STS) simulator speaking the AWS Query protocol over HTTP/1.1.
//!
//! It answers what keyaudit calls, in IAM's own XML shapes, fast enough that it is never the
//! bottleneck of a benchmark: `ListUsers` (paginated with `MaxItems`/`Marker`),
//! `ListAccessKeys`, `GetAccessKeyLastUsed`, `GetAccountSummary` and STS `GetCallerIdentity`. SigV4 signatures are
//! not checked. Each request first takes a token from a bucket shared by all actions (empty
//! bucket: HTTP 400 `Throttling`, IAM's real throttling error), then waits (holding no lock)
//! until the configured latency has passed since the request arrived, then answers. Counters
//! are atomics, readable while it runs.
//!
//! Many accounts: with `accounts > 1` the simulator is an Organization's worth of accounts
//! with the same users each. STS `AssumeRole` into `arn:aws:iam::ACCOUNT:role/...` hands out
//! session credentials whose access key id names the account, and every request is attributed
//! to an account by the access key id in its SigV4 `Authorization` header (the bench's own
//! key: the first account, [`ACCOUNT_ID`]). Each account has its own IAM token bucket (or one
//! per action with `per_action_buckets`), as IAM's limits are per account; STS has its own,
//! optional. Session credentials can be made to expire (`session_ttl`): a request signed with
//! an expired session gets STS's `ExpiredToken`, as AWS answers.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::faults::{self, Injector};

/// The simulated account (with several: the first, the caller's).
pub const ACCOUNT_ID: &str = "123456789012";
/// The other accounts are `FIRST_MEMBER_ACCOUNT + 1, + 2, ...`.
const FIRST_MEMBER_ACCOUNT: u64 = 210_000_000_000;
const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// IAM's defaults and limits for `MaxItems`.
const DEFAULT_MAX_ITEMS: usize = 100;
const MAX_MAX_ITEMS: usize = 1000;

/// A token bucket: `rate` tokens per second, at most `burst` tokens, starting full.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub rate: f64,
    pub burst: f64,
}

/// Answers held until a deadline, woken by a thread of its own that sleeps with the operating
/// system's precision (tens of microseconds). tokio's timer counts whole milliseconds and
/// rounds a deadline up to the next one, then fires when a worker next turns to it: a 50 ms
/// latency was served in 51.1 ms on average, 1.02x, which every latency-bound measurement
/// carried as if keyaudit had lost it (measured: p1 50.1 ms, median 51.1 ms, p99 52.2 ms).
struct Timer {
    requests: std::sync::mpsc::Sender<(Instant, u64, tokio::sync::oneshot::Sender<()>)>,
}

impl Timer {
    fn start() -> Timer {
        let (requests, waiting) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("sim-timer".into())
            .spawn(move || {
                // The kernel may wake a sleeping thread up to its timer slack late (50 us by
                // default): this thread's sleeps are the simulated latency, so as little as
                // it allows.
                // SAFETY: PR_SET_TIMERSLACK takes a value and touches no memory of ours.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
                Timer::run(waiting)
            })
            .expect("a thread for the simulator's timer");
        Timer { requests }
    }

    /// Resolves at `deadline` (at once if it has passed).
    async fn until(&self, deadline: Instant, serial: u64) {
        if deadline <= Instant::now() {
            return;
        }
        let (wake, woken) = tokio::sync::oneshot::channel();
        if self.requests.send((deadline, serial, wake)).is_ok() {
            let _ = woken.await;
        }
    }

    /// Wakes each waiting answer at its deadline, until every [`Timer`] handle is gone.
    fn run(waiting: std::sync::mpsc::Receiver<(Instant, u64, tokio::sync::oneshot::Sender<()>)>) {
        use std::cmp::Reverse;
        use std::sync::mpsc::RecvTimeoutError;
        let mut due: std::collections::BinaryHeap<Reverse<(Instant, u64)>> = Default::default();
        let mut wakers: HashMap<u64, tokio::sync::oneshot::Sender<()>> = HashMap::new();
        loop {
            let now = Instant::now();
            while let Some(&Reverse((deadline, serial))) = due.peek() {
                if deadline > now {
                    break;
                }
                due.pop();
                if let Some(wake) = wakers.remove(&serial) {
                    let _ = wake.send(());
                }
            }
            let next = match due.peek() {
                Some(&Reverse((deadline, _))) => waiting.recv_timeout(deadline - now),
                None => waiting.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match next {
                Ok((deadline, serial, wake)) => {
                    due.push(Reverse((deadline, serial)));
                    wakers.insert(serial, wake);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// Per-request latency, drawn uniformly from `min..=max` for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    pub min: Duration,
    pub max: Duration,
}

impl Latency {
    pub fn fixed(latency: Duration) -> Latency {
        Latency { min: latency, max: latency }
    }

    pub fn mean(&self) -> Duration {
        (self.min + self.max) / 2
    }

    /// `50` (milliseconds) or `0-10` (a range, uniform).
    pub fn parse_ms(text: &str) -> Result<Latency, String> {
        let ms = |part: &str| {
            part.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| Duration::from_secs_f64(v / 1000.0))
        };
        let bad = || format!("bad latency {text:?}: expected milliseconds, e.g. 50 or 0-10");
        match text.split_once('-') {
            Some((lo, hi)) => {
                let (min, max) = (ms(lo).ok_or_else(bad)?, ms(hi).ok_or_else(bad)?);
                if min > max {
                    return Err(bad());
                }
                Ok(Latency { min, max })
            }
            None => Ok(Latency::fixed(ms(text).ok_or_else(bad)?)),
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| {
            let v = d.as_secs_f64() * 1000.0;
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        };
        if self.min == self.max {
            write!(f, "{} ms", ms(self.min))
        } else {
            write!(f, "{}-{} ms", ms(self.min), ms(self.max))
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub users: usize,
    /// Keys of user `i` are `keys_per_user[i % len]` (e.g. `[2, 1]`: every other user has two
    /// keys, 5,000 users have 7,500 keys). IAM allows at most 2 keys per user; the simulator
    /// does not enforce it.
    pub keys_per_user: Vec<usize>,
    pub latency: Latency,
    /// `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Users whose ListAccessKeys is always denied (HTTP 403 `AccessDenied`), to test that a
    /// call that can never succeed is reported, not skipped.
    pub denied_users: Vec<String>,
    /// Accounts, each with `users` users (at least 1).
    pub accounts: usize,
    /// One token bucket per IAM action in each account instead of one for all actions (IAM's
    /// real buckets are unpublished and may be per API).
    pub per_action_buckets: bool,
    /// STS's own limit (AssumeRole, GetCallerIdentity), for all accounts together; `None`:
    /// unlimited.
    pub sts_rate_limit: Option<RateLimit>,
    /// How long assumed-role sessions last; `None`: an hour, as AWS's default.
    pub session_ttl: Option<Duration>,
    /// Faults to inject (see [`crate::faults`]); none by default.
    pub faults: Vec<faults::Fault>,
    /// Keep a [`Logged`] record of every request, for tests of the order calls come in.
    pub log_requests: bool,
}

/// One request, as [`Simulator::request_log`] gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logged {
    pub action: Action,
    /// Seconds since the simulator started that it was received and answered.
    pub received: f64,
    pub answered: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            users: 100,
            keys_per_user: vec![2, 1],
            latency: Latency::default(),
            rate_limit: None,
            denied_users: Vec::new(),
            accounts: 1,
            per_action_buckets: false,
            sts_rate_limit: None,
            session_ttl: None,
            faults: Vec::new(),
            log_requests: false,
        }
    }
}

/// The id of account `index` (0: [`ACCOUNT_ID`]).
pub fn account_id(index: usize) -> String {
    if index == 0 {
        ACCOUNT_ID.to_string()
    } else {
        format!("{:012}", FIRST_MEMBER_ACCOUNT + index as u64)
    }
}

impl SimConfig {
    /// The number of keys this configuration creates, in all accounts.
    pub fn total_keys(&self) -> usize {
        total_keys(self.users, &self.keys_per_user) * self.accounts.max(1)
    }
}

/// The number of keys `users` users get with a keys-per-user pattern.
pub fn total_keys(users: usize, pattern: &[usize]) -> usize {
    if pattern.is_empty() {
        return 0;
    }
    let full = users / pattern.len();
    let rest: usize = pattern[..users % pattern.len()].iter().sum();
    full * pattern.iter().sum::<usize>() + rest
}

/// The actions the simulator counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListUsers,
    GetAccountAuthorizationDetails,
    ListAccessKeys,
    GetAccessKeyLastUsed,
    GetAccountSummary,
    GetCallerIdentity,
    GenerateCredentialReport,
    GetCredentialReport,
    AssumeRole,
    Other,
}

impl Action {
    pub const COUNT: usize = 10;
    pub const ALL: [Action; Action::COUNT] = [
        Action::ListUsers,
        Action::GetAccountAuthorizationDetails,
        Action::ListAccessKeys,
        Action::GetAccessKeyLastUsed,
        Action::GetAccountSummary,
        Action::GetCallerIdentity,
        Action::GenerateCredentialReport,
        Action::GetCredentialReport,
        Action::AssumeRole,
        Action::Other,
    ];

    fn from_name(name: &str) -> Action {
        match name {
            "ListUsers" => Action::ListUsers,
            "GetAccountAuthorizationDetails" => Action::GetAccountAuthorizationDetails,
            "ListAccessKeys" => Action::ListAccessKeys,
            "GetAccessKeyLastUsed" => Action::GetAccessKeyLastUsed,
            "GetAccountSummary" => Action::GetAccountSummary,
            "GetCallerIdentity" => Action::GetCallerIdentity,
            "GenerateCredentialReport" => Action::GenerateCredentialReport,
            "GetCredentialReport" => Action::GetCredentialReport,
            "AssumeRole" => Action::AssumeRole,
            _ => Action::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::ListUsers => "ListUsers",
            Action::GetAccountAuthorizationDetails => "GetAccountAuthorizationDetails",
            Action::ListAccessKeys => "ListAccessKeys",
            Action::GetAccessKeyLastUsed => "GetAccessKeyLastUsed",
            Action::GetAccountSummary => "GetAccountSummary",
            Action::GetCallerIdentity => "GetCallerIdentity",
            Action::GenerateCredentialReport => "GenerateCredentialReport",
            Action::GetCredentialReport => "GetCredentialReport",
            Action::AssumeRole => "AssumeRole",
            Action::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// STS's actions, which IAM's buckets do not count.
    fn is_sts(self) -> bool {
        matches!(self, Action::GetCallerIdentity | Action::AssumeRole)
    }
}

/// Live counters.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    throttled: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    per_action: [AtomicU64; Action::COUNT],
    throttled_per_action: [AtomicU64; Action::COUNT],
    connections: AtomicU64,
    open_connections: AtomicU64,
    peak_open_connections: AtomicU64,
    expired_token: AtomicU64,
    /// Nanoseconds spent handling requests, summed over requests: / wall = mean in flight.
    busy_ns: AtomicU64,
    /// Nanoseconds since the simulator started of the first request and of the last answer.
    first_request_ns: AtomicU64,
    last_answer_ns: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Every request received, throttled ones included.
    pub requests: u64,
    /// Requests answered with `Throttling`.
    pub throttled: u64,
    /// The most requests being handled at once (received, not yet answered).
    pub peak_in_flight: u64,
    /// Requests per action (indexed like [`Action::ALL`]), throttled ones included.
    pub per_action: [u64; Action::COUNT],
    pub throttled_per_action: [u64; Action::COUNT],
    /// TCP connections accepted, and the most open at once.
    pub connections: u64,
    pub peak_open_connections: u64,
    /// Requests refused with `ExpiredToken` (signed with an expired session).
    pub expired_token: u64,
    /// Per account, seconds since the simulator started of its first and last request.
    pub account_spans: Vec<(f64, f64)>,
    /// Seconds spent handling requests, summed over all requests (latency included).
    pub busy: f64,
    /// Seconds since the simulator started of the first request and of the last answer.
    pub first_request: f64,
    pub last_answer: f64,
}

impl StatsSnapshot {
    pub fn action(&self, action: Action) -> u64 {
        self.per_action[action.index()]
    }

    pub fn action_throttled(&self, action: Action) -> u64 {
        self.throttled_per_action[action.index()]
    }
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: load(&self.requests),
            throttled: load(&self.throttled),
            peak_in_flight: load(&self.peak_in_flight),
            per_action: std::array::from_fn(|i| load(&self.per_action[i])),
            throttled_per_action: std::array::from_fn(|i| load(&self.throttled_per_action[i])),
            connections: load(&self.connections),
            peak_open_connections: load(&self.peak_open_connections),
            expired_token: load(&self.expired_token),
            account_spans: Vec::new(),
            busy: load(&self.busy_ns) as f64 / 1e9,
            first_request: load(&self.first_request_ns) as f64 / 1e9,
            last_answer: load(&self.last_answer_ns) as f64 / 1e9,
        }
    }
}

struct Key {
    id: String,
    user: usize,
    active: bool,
    created: String,
    /// (date, service, region); `None`: never used.
    last_used: Option<(String, &'static str, &'static str)>,
}

struct UserRec {
    name: String,
    id: String,
    created: String,
    keys: Vec<usize>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct State {
    users: Vec<UserRec>,
    by_name: HashMap<String, usize>,
    keys: Vec<Key>,
    by_key_id: HashMap<String, usize>,
    latency: Latency,
    rate_limit: Option<RateLimit>,
    denied_users: Vec<String>,
    /// Account ids, and each account's IAM buckets (one, or one per action).
    account_ids: Vec<String>,
    account_index: HashMap<String, usize>,
    buckets: Vec<Vec<Mutex<Bucket>>>,
    sts_rate_limit: Option<RateLimit>,
    sts_bucket: Mutex<Bucket>,
    session_ttl: Duration,
    /// Assumed-role sessions: (account index, expiry), numbered by position.
    sessions: Mutex<Vec<(usize, Instant)>>,
    /// Per account, its first and last IAM request.
    account_spans: Vec<Mutex<Option<(Instant, Instant)>>>,
    /// Every request, when [`SimConfig::log_requests`].
    log: Option<Mutex<Vec<Logged>>>,
    started: Instant,
    stats: Arc<Stats>,
    next_request: AtomicU64,
    faults: Injector,
    timer: Timer,
}

/// The bench caller's key id prefix for session credentials: `ASIA` + 8 digits of account
/// index + 8 digits of session number.
const SESSION_PREFIX: &str = "ASIA";
const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(3600);

impl State {
    fn new(config: &SimConfig) -> State {
        let mut users = Vec::with_capacity(config.users);
        let mut keys = Vec::new();
        for i in 0..config.users {
            let count = if config.keys_per_user.is_empty() {
                0
            } else {
                config.keys_per_user[i % config.keys_per_user.len()]
            };
            let mut user_keys = Vec::with_capacity(count);
            for _ in 0..count {
                let g = keys.len();
                // Keys created over ~2 years before 2026-01-01; every 5th never used, every
                // 7th inactive; the others used some days after creation.
                let created_day = DAY_2024_01_01 + (g as i64 * 37) % 700;
                let last_used = (g % 5 != 0).then(|| {
                    let day = (created_day + 1 + (g as i64 * 13) % 400).min(DAY_2026_01_01 - 1);
                    let service = ["iam", "s3", "sts", "ec2"][g % 4];
                    let region = ["us-east-1", "eu-west-1", "us-west-2"][g % 3];
                    (iso_date(day, (g as i64 * 7919) % 86_400), service, region)
                });
                keys.push(Key {
                    id: format!("AKIA{g:016}"),
                    user: i,
                    active: g % 7 != 3,
                    created: iso_date(created_day, (g as i64 * 104_729) % 86_400),
                    last_used,
                });
                user_keys.push(g);
            }
            users.push(UserRec {
                name: format!("user-{i:06}"),
                id: format!("AIDA{i:017}"),
                created: iso_date(DAY_2023_01_01 + (i as i64 % 365), (i as i64 * 31) % 86_400),
                keys: user_keys,
            });
        }
        let by_name = users.iter().enumerate().map(|(i, u)| (u.name.clone(), i)).collect();
        let by_key_id = keys.iter().enumerate().map(|(i, k)| (k.id.clone(), i)).collect();
        let full = |limit: Option<RateLimit>| {
            Mutex::new(Bucket { tokens: limit.map(|r| r.burst).unwrap_or(0.0), last: Instant::now() })
        };
        let accounts = config.accounts.max(1);
        let account_ids: Vec<String> = (0..accounts).map(account_id).collect();
        let account_index = account_ids.iter().enumerate().map(|(i, id)| (id.clone(), i)).collect();
        let per_account = if config.per_action_buckets { Action::COUNT } else { 1 };
        let buckets =
            (0..accounts).map(|_| (0..per_account).map(|_| full(config.rate_limit)).collect()).collect();
        State {
            users,
            by_name,
            keys,
            by_key_id,
            latency: config.latency,
            rate_limit: config.rate_limit,
            denied_users: config.denied_users.clone(),
            account_ids,
            account_index,
            buckets,
            sts_rate_limit: config.sts_rate_limit,
            sts_bucket: full(config.sts_rate_limit),
            session_ttl: config.session_ttl.unwrap_or(DEFAULT_SESSION_TTL),
            sessions: Mutex::new(Vec::new()),
            account_spans: (0..accounts).map(|_| Mutex::new(None)).collect(),
            log: config.log_requests.then(|| Mutex::new(Vec::new())),
            started: Instant::now(),
            stats: Arc::new(Stats::default()),
            next_request: AtomicU64::new(0),
            faults: Injector::new(&config.faults),
            timer: Timer::start(),
        }
    }

    /// Takes a token for `action` in `account` (STS actions from STS's bucket); `false` when
    /// the bucket is empty.
    fn admit(&self, account: usize, action: Action) -> bool {
        let (limit, bucket) = if action.is_sts() {
            (self.sts_rate_limit, &self.sts_bucket)
        } else {
            let buckets = &self.buckets[account];
            let which = if buckets.len() > 1 { action.index() } else { 0 };
            (self.rate_limit, &buckets[which])
        };
        let Some(limit) = limit else {
            return true;
        };
        let mut bucket = bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.last = now;
        bucket.tokens = (bucket.tokens + elapsed * limit.rate).min(limit.burst);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The account a request is made in, from the access key id that signed it; `Err` for a
    /// session that has expired. Keys the simulator did not hand out act in the first account.
    fn account_of(&self, access_key_id: Option<&str>) -> Result<usize, ()> {
        let Some(session) = access_key_id.and_then(|id| id.strip_prefix(SESSION_PREFIX)) else {
            return Ok(0);
        };
        let number = session.get(8..).and_then(|n| n.parse::<usize>().ok());
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match number.and_then(|n| sessions.get(n)) {
            Some(&(_, expiry)) if Instant::now() >= expiry => Err(()),
            Some(&(account, _)) => Ok(account),
            None => Ok(0),
        }
    }

    /// A new session in `account`: its access key id and when it expires (wall clock).
    fn new_session(&self, account: usize) -> (String, std::time::SystemTime) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.push((account, Instant::now() + self.session_ttl));
        let id = format!("{SESSION_PREFIX}{account:08}{:08}", sessions.len() - 1);
        (id, std::time::SystemTime::now() + self.session_ttl)
    }

    fn latency_for(&self, request: u64) -> Duration {
        let Latency { min, max } = self.latency;
        if min == max {
            return min;
        }
        let span = (max - min).as_nanos() as u64;
        min + Duration::from_nanos(splitmix64(request) % (span + 1))
    }
}

/// A running simulator. Dropping it stops accepting connections (open ones end when their
/// client closes them).
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Simulator {
    /// Binds 127.0.0.1 on a free port and starts serving on the current tokio runtime.
    pub async fn start(config: &SimConfig) -> std::io::Result<Simulator> {
        Simulator::start_on(config, 0).await
    }

    /// Binds 127.0.0.1:`port` (0: a free port).
    pub async fn start_on(config: &SimConfig, port: u16) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::new(config));
        let accept = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(Simulator { addr, state, accept })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> StatsSnapshot {
        let mut stats = self.state.stats.snapshot();
        let started = self.state.started;
        stats.account_spans = self
            .state
            .account_spans
            .iter()
            .filter_map(|span| {
                let span = span.lock().unwrap_or_else(|e| e.into_inner());
                let (first, last) = (*span)?;
                Some((
                    first.duration_since(started).as_secs_f64(),
                    last.duration_since(started).as_secs_f64(),
                ))
            })
            .collect();
        stats
    }

    /// Seconds since the simulator started, on the clock of [`Logged`].
    pub fn elapsed(&self) -> f64 {
        self.state.started.elapsed().as_secs_f64()
    }

    /// Every request so far in the order they were answered (empty unless
    /// [`SimConfig::log_requests`]).
    pub fn request_log(&self) -> Vec<Logged> {
        self.state
            .log
            .as_ref()
            .map_or_else(Vec::new, |log| log.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Users in all accounts.
    pub fn users(&self) -> usize {
        self.state.users.len() * self.accounts()
    }

    /// Keys in all accounts.
    pub fn keys(&self) -> usize {
        self.state.keys.len() * self.accounts()
    }

    pub fn accounts(&self) -> usize {
        self.state.account_ids.len()
    }

    /// How many times each configured fault has hit, in [`SimConfig::faults`] order.
    pub fn fault_hits(&self) -> Vec<u64> {
        self.state.faults.hits()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of file descriptors or similar: back off a little, keep serving.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let stats = &state.stats;
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let open = stats.open_connections.fetch_add(1, Ordering::Relaxed) + 1;
        stats.peak_open_connections.fetch_max(open, Ordering::Relaxed);
        tokio::spawn(async move {
            let stats = state.stats.clone();
            let _open = Gauge(&stats.open_connections);
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { faults::deliver(handle(&state, request).await) }
            });
            let _ =
                http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Decrements a gauge however the request or connection ends (also if the client goes away).
struct Gauge<'a>(&'a AtomicU64);

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The access key id in a SigV4 `Authorization` header (`... Credential=AKID/date/...`).
fn signing_key_id(request: &Request<Incoming>) -> Option<String> {
    let header = request.headers().get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let credential = header.split("Credential=").nth(1)?;
    Some(credential.split('/').next()?.to_string())
}

/// Answers one request, and times it for the stats (and the log).
async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let received = Instant::now();
    let since_start = |at: Instant| at.duration_since(state.started).as_nanos() as u64 + 1;
    let stats = &state.stats;
    let _ = stats.first_request_ns.compare_exchange(
        0,
        since_start(received),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let mut action = Action::Other;
    let response = answer(state, request, received, &mut action).await;
    let answered = Instant::now();
    stats.busy_ns.fetch_add((answered - received).as_nanos() as u64, Ordering::Relaxed);
    stats.last_answer_ns.fetch_max(since_start(answered), Ordering::Relaxed);
    if let Some(log) = &state.log {
        let seconds = |at: Instant| at.duration_since(state.started).as_secs_f64();
        let entry = Logged { action, received: seconds(received), answered: seconds(answered) };
        log.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }
    response
}

/// The answer to one request, `received` when it came in; `seen` is set to its action as soon
/// as it is known.
async fn answer(
    state: &State,
    request: Request<Incoming>,
    received: Instant,
    seen: &mut Action,
) -> Response<Full<Bytes>> {
    let stats = &state.stats;
    let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    stats.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    let _in_flight = Gauge(&stats.in_flight);
    let serial = state.next_request.fetch_add(1, Ordering::Relaxed);
    let request_id = request_id(serial);
    let account = state.account_of(signing_key_id(&request).as_deref());

    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let form = parse_form(&body);
    let action_name = form.get("Action").map(String::as_str).unwrap_or("");
    let action = Action::from_name(action_name);
    *seen = action;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    stats.per_action[action.index()].fetch_add(1, Ordering::Relaxed);

    let Ok(account) = account else {
        stats.expired_token.fetch_add(1, Ordering::Relaxed);
        let ns = if action.is_sts() { STS_NS } else { IAM_NS };
        let message = "The security token included in the request is expired";
        return error(StatusCode::FORBIDDEN, ns, "Sender", "ExpiredToken", message, &request_id);
    };
    if !action.is_sts() {
        let now = Instant::now();
        let mut span = state.account_spans[account].lock().unwrap_or_else(|e| e.into_inner());
        *span = Some(span.map_or((now, now), |(first, _)| (first, now)));
    }
    let admitted = state.admit(account, action);
    if !admitted {
        stats.throttled.fetch_add(1, Ordering::Relaxed);
        stats.throttled_per_action[action.index()].fetch_add(1, Ordering::Relaxed);
    }
    let latency = state.latency_for(serial);
    if !latency.is_zero() {
        // The latency is counted from the request's arrival: reading its body and taking a
        // token are part of it.
        state.timer.until(received + latency, serial).await;
    }
    if !admitted {
        return error(StatusCode::BAD_REQUEST, IAM_NS, "Sender", "Throttling", "Rate exceeded", &request_id);
    }

    let account_id = state.account_ids[account].as_str();
    let result = match action {
        Action::ListUsers => list_users(state, account_id, &form, &request_id),
        Action::GetAccountAuthorizationDetails => {
            authorization_details(state, account_id, &form, &request_id)
        }
        Action::ListAccessKeys => list_access_keys(state, account_id, &form, &request_id),
        Action::GetAccessKeyLastUsed => get_access_key_last_used(state, &form, &request_id),
        Action::GetAccountSummary => Ok(get_account_summary(state, &request_id)),
        Action::GetCallerIdentity => Ok(get_caller_identity(account_id, &request_id)),
        Action::AssumeRole => assume_role(state, &form, &request_id),
        Action::GenerateCredentialReport => Ok(generate_credential_report(&request_id)),
        Action::GetCredentialReport => Ok(get_credential_report(state, account_id, &request_id)),
        Action::Other => Err(Fault {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidAction",
            message: format!("Could not find operation {action_name}"),
        }),
    };
    let result = match state.faults.inject(serial, action, &form, result).await {
        Ok(result) => result,
        Err(injected) => {
            return injected.into_response(|status, code, message| {
                error(status, IAM_NS, "Receiver", code, message, &request_id)
            })
        }
    };
    match result {
        Ok(xml) => xml_response(StatusCode::OK, xml, &request_id),
        Err(fault) => {
            let ns = if action.is_sts() { STS_NS } else { IAM_NS };
            error(fault.status, ns, "Sender", fault.code, &fault.message, &request_id)
        }
    }
}

struct Fault {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn validation(message: impl Into<String>) -> Fault {
    Fault { status: StatusCode::BAD_REQUEST, code: "ValidationError", message: message.into() }
}

fn no_such_entity(message: String) -> Fault {
    Fault { status: StatusCode::NOT_FOUND, code: "NoSuchEntity", message }
}

/// The users a paginated listing answers with: `MaxItems` (checked as IAM checks it) from
/// the position its `Marker` (`{prefix}N`) names. Each listing has its own marker prefix, so
/// one's marker is invalid for the other, as in IAM.
fn users_page(state: &State, form: &HashMap<String, String>, prefix: &str) -> Result<(usize, usize), Fault> {
    let max_items = match form.get("MaxItems") {
        None => DEFAULT_MAX_ITEMS,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_MAX_ITEMS).contains(&n) => n,
            _ => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{v}' at 'maxItems' failed to satisfy constraint: \
                     Member must have value between 1 and {MAX_MAX_ITEMS}"
                )))
            }
        },
    };
    let start = match form.get("Marker") {
        None => 0,
        Some(marker) => marker
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= state.users.len())
            .ok_or_else(|| validation("Invalid Marker."))?,
    };
    Ok((start, (start + max_items).min(state.users.len())))
}

/// GetAccountAuthorizationDetails: the users (no groups or policies here), paginated like
/// ListUsers; nine users in ten carry an `owner` tag.
fn authorization_details(
    state: &State,
    account_id: &str,
    form: &HashMap<String, String>,
    request_id: &str,
) -> Result<String, Fault> {
    let (start, end) = users_page(state, form, "d")?;
    let mut xml = String::with_capacity(256 + (end - start) * 400);
    let _ = write!(
        xml,
        r#"<GetAccountAuthorizationDetailsResponse xmlns="{IAM_NS}"><GetAccountAuthorizationDetailsResult><UserDetailList>"#
    );
    for (index, user) in state.users[start..end].iter().enumerate() {
        let name = escape(&user.name);
        let tags = if (start + index) % 10 == 9 {
            String::from("<Tags/>")
        } else {
            format!(
                "<Tags><member><Key>owner</Key><Value>team-{}</Value></member></Tags>",
                (start + index) % 20
            )
        };
        let _ = write!(
            xml,
            "<member><Path>/</Path><UserName>{name}</UserName><UserId>{}</UserId>\
             <Arn>arn:aws:iam::{account_id}:user/{name}</Arn><CreateDate>{}</CreateDate>\
             <GroupList/><AttachedManagedPolicies/><UserPolicyList/>{tags}</member>",
            user.id, user.created
        );
    }
    xml.push_str("</UserDetailList><GroupDetailList/><RoleDetailList/><Policies/>");
    if end < state.users.len() {
        let _ = write!(xml, "<IsTruncated>true</IsTruncated><Marker>d{end}</Marker>");
    } else {
        xml.push_str("<IsTruncated>false</IsTruncated>");
    }
    let _ = write!(
        xml,
        "</GetAccountAuthorizationDetailsResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetAccountAuthorizationDetailsResponse>"
    );
    Ok(xml)
}

fn list_users(
    state: &State,
    account_id: &str,
    form: &HashMap<String, String>,
    request_id: &str,
) -> Result<String, Fault> {
    let (start, end) = users_page(state, form, "m")?;
    let mut xml = String::with_capacity(64 + (end - start) * 280);
    let _ = write!(xml, r#"<ListUsersResponse xmlns="{IAM_NS}"><ListUsersResult><Users>"#);
    for user in &state.users[start..end] {
        let name = escape(&user.name);
        let _ = write!(
            xml,
            "<member><Path>/</Path><UserName>{name}</UserName><UserId>{}</UserId>\
             <Arn>arn:aws:iam::{account_id}:user/{name}</Arn><CreateDate>{}</CreateDate></member>",
            user.id, user.created
        );
    }
    xml.push_str("</Users>");
    if end < state.users.len() {
        let _ = write!(xml, "<IsTruncated>true</IsTruncated><Marker>m{end}</Marker>");
    } else {
        xml.push_str("<IsTruncated>false</IsTruncated>");
    }
    let _ = write!(
        xml,
        "</ListUsersResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></ListUsersResponse>"
    );
    Ok(xml)
}

fn list_access_keys(
    state: &State,
    account_id: &str,
    form: &HashMap<String, String>,
    request_id: &str,
) -> Result<String, Fault> {
    // Without UserName IAM lists the caller's keys; the bench caller has none here.
    let keys: &[usize] = match form.get("UserName") {
        None => &[],
        Some(name) if state.denied_users.contains(name) => {
            return Err(Fault {
                status: StatusCode::FORBIDDEN,
                code: "AccessDenied",
                message: format!(
                    "User: arn:aws:iam::{account_id}:user/keyaudit-bench is not authorized to perform: \
                     iam:ListAccessKeys on resource: user {name}"
                ),
            })
        }
        Some(name) => {
            let user = state
                .by_name
                .get(name)
                .ok_or_else(|| no_such_entity(format!("The user with name {name} cannot be found.")))?;
            &state.users[*user].keys
        }
    };
    let mut xml = String::with_capacity(256 + keys.len() * 220);
    let _ =
        write!(xml, r#"<ListAccessKeysResponse xmlns="{IAM_NS}"><ListAccessKeysResult><AccessKeyMetadata>"#);
    for key in keys.iter().map(|k| &state.keys[*k]) {
        let _ = write!(
            xml,
            "<member><UserName>{}</UserName><AccessKeyId>{}</AccessKeyId><Status>{}</Status>\
             <CreateDate>{}</CreateDate></member>",
            escape(&state.users[key.user].name),
            key.id,
            if key.active { "Active" } else { "Inactive" },
            key.created
        );
    }
    let _ = write!(
        xml,
        "</AccessKeyMetadata><IsTruncated>false</IsTruncated></ListAccessKeysResult>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></ListAccessKeysResponse>"
    );
    Ok(xml)
}

fn get_access_key_last_used(
    state: &State,
    form: &HashMap<String, String>,
    request_id: &str,
) -> Result<String, Fault> {
    let id = form.get("AccessKeyId").ok_or_else(|| validation("AccessKeyId is required"))?;
    let key = state
        .by_key_id
        .get(id)
        .map(|k| &state.keys[*k])
        .ok_or_else(|| no_such_entity(format!("The Access Key with id {id} cannot be found")))?;
    let last_used = match &key.last_used {
        Some((date, service, region)) => format!(
            "<LastUsedDate>{date}</LastUsedDate><ServiceName>{service}</ServiceName><Region>{region}</Region>"
        ),
        None => "<ServiceName>N/A</ServiceName><Region>N/A</Region>".to_string(),
    };
    Ok(format!(
        r#"<GetAccessKeyLastUsedResponse xmlns="{IAM_NS}"><GetAccessKeyLastUsedResult><UserName>{}</UserName><AccessKeyLastUsed>{last_used}</AccessKeyLastUsed></GetAccessKeyLastUsedResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetAccessKeyLastUsedResponse>"#,
        escape(&state.users[key.user].name)
    ))
}

/// A few of IAM's summary entries; the root user has no access keys.
fn get_account_summary(state: &State, request_id: &str) -> String {
    let entries = [
        ("Users", state.users.len()),
        ("UsersQuota", 5000),
        ("AccessKeysPerUserQuota", 2),
        ("AccountAccessKeysPresent", 0),
        ("AccountMFAEnabled", 1),
        ("Groups", 0),
        ("Roles", 0),
        ("Policies", 0),
    ];
    let mut xml =
        format!(r#"<GetAccountSummaryResponse xmlns="{IAM_NS}"><GetAccountSummaryResult><SummaryMap>"#);
    for (key, value) in entries {
        let _ = write!(xml, "<entry><key>{key}</key><value>{value}</value></entry>");
    }
    let _ = write!(
        xml,
        "</SummaryMap></GetAccountSummaryResult><ResponseMetadata><RequestId>{request_id}</RequestId>\
         </ResponseMetadata></GetAccountSummaryResponse>"
    );
    xml
}

/// The report is always ready here (IAM takes seconds to minutes to generate one).
fn generate_credential_report(request_id: &str) -> String {
    format!(
        r#"<GenerateCredentialReportResponse xmlns="{IAM_NS}"><GenerateCredentialReportResult><State>COMPLETE</State><Description>Report is ready</Description></GenerateCredentialReportResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GenerateCredentialReportResponse>"#
    )
}

/// IAM's 22-column credential report for the simulated account, base64 in `Content`.
fn get_credential_report(state: &State, account_id: &str, request_id: &str) -> String {
    let mut csv = String::from(
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,\
         password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,\
         access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,\
         access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,\
         access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,\
         cert_2_active,cert_2_last_rotated\n",
    );
    let _ = writeln!(
        csv,
        "<root_account>,arn:aws:iam::{account_id}:root,2020-01-01T00:00:00+00:00,not_supported,N/A,not_supported,\
         not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
    );
    for user in &state.users {
        let _ = write!(
            csv,
            "{},arn:aws:iam::{account_id}:user/{},{},false,N/A,N/A,N/A,false",
            user.name, user.name, user.created
        );
        for slot in 0..2 {
            match user.keys.get(slot).map(|k| &state.keys[*k]) {
                Some(key) => {
                    let (date, region, service) = match &key.last_used {
                        Some((date, service, region)) => (date.as_str(), *region, *service),
                        None => ("N/A", "N/A", "N/A"),
                    };
                    let _ = write!(csv, ",{},{},{date},{region},{service}", key.active, key.created);
                }
                None => csv.push_str(",false,N/A,N/A,N/A,N/A"),
            }
        }
        csv.push_str(",false,N/A,false,N/A\n");
    }
    format!(
        r#"<GetCredentialReportResponse xmlns="{IAM_NS}"><GetCredentialReportResult><Content>{}</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>2026-01-01T00:00:00Z</GeneratedTime></GetCredentialReportResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCredentialReportResponse>"#,
        base64(csv.as_bytes())
    )
}

/// Standard base64 with padding (the Query protocol's encoding of blobs).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn get_caller_identity(account_id: &str, request_id: &str) -> String {
    let arn = if account_id == ACCOUNT_ID {
        format!("arn:aws:iam::{account_id}:user/keyaudit-bench")
    } else {
        format!("arn:aws:sts::{account_id}:assumed-role/keyaudit-bench/keyaudit")
    };
    format!(
        r#"<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult><Arn>{arn}</Arn><UserId>AIDABENCH0000000000001</UserId><Account>{account_id}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
    )
}

/// STS AssumeRole into `arn:aws:iam::ACCOUNT:role/NAME`: session credentials that act in
/// that account. A role in an account the simulator does not have is `AccessDenied`.
fn assume_role(state: &State, form: &HashMap<String, String>, request_id: &str) -> Result<String, Fault> {
    let arn = form.get("RoleArn").ok_or_else(|| validation("RoleArn is required"))?;
    let account = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| state.account_index.get(id))
        .ok_or_else(|| Fault {
            status: StatusCode::FORBIDDEN,
            code: "AccessDenied",
            message: format!("User: arn:aws:iam::{ACCOUNT_ID}:user/keyaudit-bench is not authorized to perform: sts:AssumeRole on resource: {arn}"),
        })?;
    let (key_id, expires) = state.new_session(*account);
    let since_epoch = expires.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let expiration = iso_date(since_epoch / 86_400, since_epoch % 86_400);
    let account_id = &state.account_ids[*account];
    let session = form.get("RoleSessionName").map(|s| escape(s)).unwrap_or_default();
    let role = arn.rsplit('/').next().map(escape).unwrap_or_default();
    Ok(format!(
        r#"<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROABENCH0000000000001:{session}</AssumedRoleId><Arn>arn:aws:sts::{account_id}:assumed-role/{role}/{session}</Arn></AssumedRoleUser><Credentials><AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>bench-session-secret</SecretAccessKey><SessionToken>bench-session-token</SessionToken><Expiration>{expiration}</Expiration></Credentials></AssumeRoleResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></AssumeRoleResponse>"#
    ))
}

fn error(
    status: StatusCode,
    ns: &str,
    kind: &str,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let xml = format!(
        r#"<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"#,
        escape(message)
    );
    xml_response(status, xml, request_id)
}

fn xml_response(status: StatusCode, xml: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(xml)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/xml"));
    if let Ok(value) = hyper::header::HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// A UUID-shaped request id, unique per request.
fn request_id(serial: u64) -> String {
    let a = splitmix64(serial);
    let b = splitmix64(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Parses an `application/x-www-form-urlencoded` body (later duplicates win).
pub fn parse_form(body: &[u8]) -> HashMap<String, String> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |b| *b == b'=');
            let key = percent_decode(parts.next().unwrap_or_default());
            let value = percent_decode(parts.next().unwrap_or_default());
            (key, value)
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => {
                let hex = std::str::from_utf8(&input[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(text: &str) -> String {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

const DAY_2023_01_01: i64 = 19_358;
const DAY_2024_01_01: i64 = 19_723;
const DAY_2026_01_01: i64 = 20_454;

/// `days` since 1970-01-01 plus `secs` into that day, as `2026-01-01T00:00:00Z`.
fn iso_date(days: i64, secs: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = secs.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (input, expected) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn dates() {
        assert_eq!(iso_date(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_date(DAY_2023_01_01, 0), "2023-01-01T00:00:00Z");
        assert_eq!(iso_date(DAY_2024_01_01, 3661), "2024-01-01T01:01:01Z");
        assert_eq!(iso_date(DAY_2026_01_01, 86_399), "2026-01-01T23:59:59Z");
    }

    #[test]
    fn forms() {
        let form = parse_form(b"Action=ListUsers&Marker=a%2Bb%3D&UserName=x+y&Bad=%zz&Tail=%4");
        assert_eq!(form["Action"], "ListUsers");
        assert_eq!(form["Marker"], "a+b=");
        assert_eq!(form["UserName"], "x y");
        assert_eq!(form["Bad"], "%zz");
        assert_eq!(form["Tail"], "%4");
    }

    #[test]
    fn key_counts() {
        assert_eq!(total_keys(5000, &[2, 1]), 7500);
        assert_eq!(total_keys(5, &[2, 1]), 8);
        assert_eq!(total_keys(5, &[]), 0);
        let config = SimConfig { users: 7, keys_per_user: vec![2, 0, 1], ..SimConfig::default() };
        assert_eq!(State::new(&config).keys.len(), config.total_keys());
    }

    #[test]
    fn latency_parsing() {
        assert_eq!(Latency::parse_ms("50").unwrap(), Latency::fixed(Duration::from_millis(50)));
        let range = Latency::parse_ms("0-10").unwrap();
        assert_eq!(range.mean(), Duration::from_millis(5));
        assert_eq!(range.to_string(), "0-10 ms");
        assert!(Latency::parse_ms("10-0").is_err());
        assert!(Latency::parse_ms("x").is_err());
    }
}
