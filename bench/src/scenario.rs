//! Benchmark scenarios and their lower bounds.

use std::time::Duration;

use crate::sim::{self, Latency, RateLimit, SimConfig};

/// keyaudit's ListUsers page size.
pub const LIST_USERS_PAGE: u64 = 1000;
/// keyaudit's default `--concurrency`.
pub const KEYAUDIT_DEFAULT_CONCURRENCY: u64 = 64;
/// keyaudit's default `--total-concurrency` (calls in flight across all accounts).
pub const KEYAUDIT_DEFAULT_TOTAL_CONCURRENCY: u64 = 256;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// Scenarios can be selected by group too (`latency`, `rate`, `overload`).
    pub group: &'static str,
    /// Users in each account.
    pub users: usize,
    pub keys_per_user: Vec<usize>,
    /// Accounts; with more than one, keyaudit scans them all (`--accounts-file`), the first
    /// as the caller and the others by assuming a role.
    pub accounts: usize,
    /// One bucket per IAM action (see `SimConfig::per_action_buckets`).
    pub per_action_buckets: bool,
    pub latency: Latency,
    pub rate_limit: Option<RateLimit>,
    /// Passed as `--concurrency N`; `None`: keyaudit's default.
    pub concurrency: Option<u16>,
    /// More keyaudit flags.
    pub extra_args: Vec<String>,
    /// Shown under the table (e.g. why the scenario has fewer users).
    pub note: Option<String>,
}

/// The lower bound of a scenario's wall time, and which limit sets it.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub calls_needed: u64,
    /// `(calls_needed - burst) / rate`; `None` without a rate limit.
    pub rate_bound: Option<f64>,
    /// `calls_needed * mean latency / concurrency`.
    pub latency_bound: f64,
}

impl Bounds {
    pub fn bound(&self) -> f64 {
        self.rate_bound.unwrap_or(0.0).max(self.latency_bound)
    }

    pub fn binding(&self) -> &'static str {
        match self.rate_bound {
            Some(rate) if rate >= self.latency_bound => "rate",
            _ => "latency",
        }
    }
}

impl Scenario {
    fn new(
        name: &str,
        group: &'static str,
        users: usize,
        latency: Latency,
        rate_limit: Option<RateLimit>,
        concurrency: u16,
    ) -> Scenario {
        Scenario {
            name: name.to_string(),
            group,
            users,
            keys_per_user: vec![2, 1],
            accounts: 1,
            per_action_buckets: false,
            latency,
            rate_limit,
            concurrency: Some(concurrency),
            extra_args: Vec::new(),
            note: None,
        }
    }

    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            users: self.users,
            keys_per_user: self.keys_per_user.clone(),
            latency: self.latency,
            rate_limit: self.rate_limit,
            accounts: self.accounts,
            per_action_buckets: self.per_action_buckets,
            faults: Vec::new(),
            ..SimConfig::default()
        }
    }

    /// Keys in all accounts.
    pub fn keys(&self) -> usize {
        sim::total_keys(self.users, &self.keys_per_user) * self.accounts
    }

    /// Users in all accounts.
    pub fn total_users(&self) -> usize {
        self.users * self.accounts
    }

    /// The keyaudit arguments after the fixed ones.
    pub fn keyaudit_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(n) = self.concurrency {
            args.extend(["--concurrency".to_string(), n.to_string()]);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// The last value of keyaudit flag `name` in the arguments (`--name V` or `--name=V`).
    fn flag_value(&self, name: &str) -> Option<u64> {
        let args = self.keyaudit_args();
        let mut found = None;
        let mut i = 0;
        while i < args.len() {
            if args[i] == name {
                found = args.get(i + 1).and_then(|v| v.parse().ok()).or(found);
                i += 1;
            } else if let Some(v) = args[i].strip_prefix(name).and_then(|rest| rest.strip_prefix('=')) {
                found = v.parse().ok().or(found);
            }
            i += 1;
        }
        found
    }

    /// The most calls keyaudit keeps in flight in one account: the last `--concurrency` it is
    /// given, else its default.
    pub fn effective_concurrency(&self) -> u64 {
        self.flag_value("--concurrency").unwrap_or(KEYAUDIT_DEFAULT_CONCURRENCY).max(1)
    }

    /// The most calls keyaudit keeps in flight in all accounts together.
    pub fn total_concurrency(&self) -> u64 {
        let total = self.flag_value("--total-concurrency").unwrap_or(KEYAUDIT_DEFAULT_TOTAL_CONCURRENCY);
        (self.effective_concurrency() * self.accounts as u64).min(total).max(1)
    }

    /// The IAM calls a complete scan of one account needs, none retried: the ListUsers
    /// pages, one ListAccessKeys per user, one GetAccessKeyLastUsed per key, one
    /// GetAccountSummary (root keys), and the GetAccountAuthorizationDetails pages (1,000
    /// users each) unless `--no-details`.
    ///
    /// With `--last-used-source credential-report`, GenerateCredentialReport and
    /// GetCredentialReport replace the GetAccessKeyLastUsed calls.
    pub fn iam_calls_per_account(&self) -> u64 {
        self.iam_calls_by_action().iter().sum()
    }

    /// [`Self::iam_calls_per_account`], one number per IAM action (each of which has its own
    /// token bucket with `per_action_buckets`): ListUsers, ListAccessKeys, the last-use calls
    /// (GetAccessKeyLastUsed, or GenerateCredentialReport and GetCredentialReport),
    /// GetAccountSummary, GetAccountAuthorizationDetails.
    pub fn iam_calls_by_action(&self) -> Vec<u64> {
        let users = self.users as u64;
        let keys = sim::total_keys(self.users, &self.keys_per_user) as u64;
        let pages = users.div_ceil(LIST_USERS_PAGE).max(1);
        let details = if self.extra_args.iter().any(|arg| arg == "--no-details") { 0 } else { pages };
        let mut calls = vec![pages, users];
        if self.uses_credential_report() {
            calls.extend([1, 1]);
        } else {
            calls.push(keys);
        }
        calls.extend([1, details]);
        calls
    }

    /// Every call of a complete scan, none retried: each account's IAM calls, the caller's
    /// GetCallerIdentity, and for every other account an AssumeRole and a GetCallerIdentity.
    pub fn calls_needed(&self) -> u64 {
        let accounts = self.accounts.max(1) as u64;
        self.iam_calls_per_account() * accounts + 1 + 2 * (accounts - 1)
    }

    pub fn uses_credential_report(&self) -> bool {
        self.extra_args
            .windows(2)
            .any(|pair| pair[0] == "--last-used-source" && pair[1] == "credential-report")
            || self.extra_args.iter().any(|arg| arg == "--last-used-source=credential-report")
    }

    /// IAM's limits are per account and every account here is alike, so the rate bound is one
    /// account's own (the slowest account's, as they would be in an Organization), and the
    /// latency bound spreads every call over the calls keyaudit keeps in flight. With a bucket
    /// per action, the rate bound is the busiest action's.
    pub fn bounds(&self) -> Bounds {
        let calls = self.calls_needed();
        let bucket_calls = if self.per_action_buckets {
            self.iam_calls_by_action().into_iter().max().unwrap_or(0)
        } else {
            self.iam_calls_per_account()
        } as f64;
        let rate_bound = self.rate_limit.map(|limit| (bucket_calls - limit.burst).max(0.0) / limit.rate);
        let latency_bound =
            calls as f64 * self.latency.mean().as_secs_f64() / self.total_concurrency() as f64;
        Bounds { calls_needed: calls, rate_bound, latency_bound }
    }
}

fn ms(ms: u64) -> Latency {
    Latency::fixed(Duration::from_millis(ms))
}

fn rate(rate: f64, burst: f64) -> Option<RateLimit> {
    Some(RateLimit { rate, burst })
}

/// The full set (`--all`).
pub fn full() -> Vec<Scenario> {
    let overload_range = Latency { min: Duration::ZERO, max: Duration::from_millis(10) };
    let mut overload = Scenario::new("overload-20", "overload", 1000, overload_range, rate(20.0, 5.0), 64);
    overload.note = Some(
        "overload-20 is limited to 1,000 users (2,503 calls, >= 125 s at 20 req/s) so that `--all` \
         stays under ~10 minutes."
            .to_string(),
    );
    let mut report = Scenario::new("rate-100-report", "rate", 5000, ms(50), rate(100.0, 20.0), 64);
    report.extra_args = vec!["--last-used-source".into(), "credential-report".into()];
    vec![
        Scenario::new("latency-c16", "latency", 5000, ms(50), None, 16),
        Scenario::new("latency-c64", "latency", 5000, ms(50), None, 64),
        Scenario::new("rate-100", "rate", 5000, ms(50), rate(100.0, 20.0), 64),
        report,
        overload,
        low_rate("low-rate-10", 1000, false),
        many_accounts("org-40", 40, 100),
        many_accounts("accounts-1000", 1000, 10),
    ]
}

/// One account at a low limit (10/s, burst 5), keyaudit's default flags: how gently it starts
/// and how close to the limit it runs. `per_action_buckets`: IAM's buckets per API.
pub fn low_rate(name: &str, users: usize, per_action_buckets: bool) -> Scenario {
    let mut scenario = Scenario::new(name, "low-rate", users, ms(20), rate(10.0, 5.0), 0);
    scenario.concurrency = None;
    scenario.per_action_buckets = per_action_buckets;
    scenario
}

/// `accounts` accounts of `users` users, each with its own limit of 10/s (burst 5), scanned in
/// one run with keyaudit's default flags.
pub fn many_accounts(name: &str, accounts: usize, users: usize) -> Scenario {
    let mut scenario = Scenario::new(name, "accounts", users, ms(20), rate(10.0, 5.0), 0);
    scenario.concurrency = None;
    scenario.accounts = accounts;
    scenario
}

/// Scenarios run only by name (not in `--all`): variants for comparisons.
pub fn extra() -> Vec<Scenario> {
    let mut gentle = low_rate("low-rate-10-per-action", 1000, true);
    gentle.note = Some("one token bucket per IAM action (10/s, burst 5 each)".to_string());
    vec![gentle]
}

/// The smoke-test set (`--quick`).
pub fn quick() -> Vec<Scenario> {
    let overload_range = Latency { min: Duration::ZERO, max: Duration::from_millis(10) };
    let mut overload = Scenario::new("quick-overload", "overload", 200, overload_range, rate(20.0, 5.0), 64);
    overload.note = Some("quick-overload has 200 users (503 calls, >= 25 s at 20 req/s).".to_string());
    vec![
        Scenario::new("quick-latency", "latency", 500, ms(10), None, 16),
        Scenario::new("quick-rate", "rate", 500, ms(10), rate(100.0, 20.0), 16),
        overload,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_bounds() {
        let all = full();
        let latency = &all[0];
        assert_eq!(latency.keys(), 7500);
        assert_eq!(latency.calls_needed(), 5 + 5000 + 7500 + 2 + 5);
        let bounds = latency.bounds();
        assert!((bounds.bound() - 12_512.0 * 0.05 / 16.0).abs() < 1e-9);
        assert_eq!(bounds.binding(), "latency");

        let rate = &all[2];
        let bounds = rate.bounds();
        assert!((bounds.bound() - (12_511.0 - 20.0) / 100.0).abs() < 1e-9);
        assert_eq!(bounds.binding(), "rate");

        let report = &all[3];
        assert!(report.uses_credential_report());
        assert_eq!(report.calls_needed(), 5 + 5000 + 2 + 2 + 5);
    }

    #[test]
    fn concurrency_from_extra_args() {
        let mut scenario = full().remove(0);
        scenario.extra_args = vec!["--concurrency=8".into()];
        assert_eq!(scenario.effective_concurrency(), 8);
        scenario.concurrency = None;
        scenario.extra_args = vec!["--max-attempts".into(), "3".into()];
        assert_eq!(scenario.effective_concurrency(), KEYAUDIT_DEFAULT_CONCURRENCY);
    }
}
