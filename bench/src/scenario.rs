//! Benchmark scenarios and their lower bounds.

use std::time::Duration;

use crate::sim::{self, Latency, RateLimit, SimConfig};

/// keyaudit's ListUsers page size.
pub const LIST_USERS_PAGE: u64 = 1000;
/// keyaudit's default `--concurrency`.
pub const KEYAUDIT_DEFAULT_CONCURRENCY: u64 = 64;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// Scenarios can be selected by group too (`latency`, `rate`, `overload`).
    pub group: &'static str,
    pub users: usize,
    pub keys_per_user: Vec<usize>,
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
            denied_users: Vec::new(),
            faults: Vec::new(),
        }
    }

    pub fn keys(&self) -> usize {
        sim::total_keys(self.users, &self.keys_per_user)
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

    /// The most calls keyaudit keeps in flight: the last `--concurrency` it is given, else its
    /// default.
    pub fn effective_concurrency(&self) -> u64 {
        let args = self.keyaudit_args();
        let mut found = None;
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--concurrency" {
                found = args.get(i + 1).and_then(|v| v.parse().ok()).or(found);
                i += 1;
            } else if let Some(v) = args[i].strip_prefix("--concurrency=") {
                found = v.parse().ok().or(found);
            }
            i += 1;
        }
        found.unwrap_or(KEYAUDIT_DEFAULT_CONCURRENCY).max(1)
    }

    /// The calls a complete scan needs, none retried: the ListUsers pages, one ListAccessKeys
    /// per user, one GetAccessKeyLastUsed per key, one GetCallerIdentity and one
    /// GetAccountSummary (root keys; keyaudit since commit 10ad841).
    ///
    /// With `--last-used-source credential-report`, GenerateCredentialReport and
    /// GetCredentialReport replace the GetAccessKeyLastUsed calls.
    pub fn calls_needed(&self) -> u64 {
        let users = self.users as u64;
        let last_used = if self.uses_credential_report() { 2 } else { self.keys() as u64 };
        users.div_ceil(LIST_USERS_PAGE).max(1) + users + last_used + 2
    }

    pub fn uses_credential_report(&self) -> bool {
        self.extra_args
            .windows(2)
            .any(|pair| pair[0] == "--last-used-source" && pair[1] == "credential-report")
            || self.extra_args.iter().any(|arg| arg == "--last-used-source=credential-report")
    }

    pub fn bounds(&self) -> Bounds {
        let calls = self.calls_needed();
        let rate_bound = self.rate_limit.map(|limit| (calls as f64 - limit.burst).max(0.0) / limit.rate);
        let latency_bound =
            calls as f64 * self.latency.mean().as_secs_f64() / self.effective_concurrency() as f64;
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
    ]
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
        assert_eq!(latency.calls_needed(), 5 + 5000 + 7500 + 2);
        let bounds = latency.bounds();
        assert!((bounds.bound() - 12_507.0 * 0.05 / 16.0).abs() < 1e-9);
        assert_eq!(bounds.binding(), "latency");

        let rate = &all[2];
        let bounds = rate.bounds();
        assert!((bounds.bound() - (12_507.0 - 20.0) / 100.0).abs() < 1e-9);
        assert_eq!(bounds.binding(), "rate");

        let report = &all[3];
        assert!(report.uses_credential_report());
        assert_eq!(report.calls_needed(), 5 + 5000 + 2 + 2);
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
