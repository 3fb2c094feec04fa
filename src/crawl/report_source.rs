//! The credential-report fast path for last-use data (`--last-used-source credential-report`).
//!
//! GetAccessKeyLastUsed costs one call per key. One GenerateCredentialReport +
//! GetCredentialReport gives every key's last use for the account at once, cutting a crawl
//! to about one call per user. The report names no key ids, only slots; a key is matched to
//! its slot by creation time (to the second) and status, and any key that does not match
//! exactly (created after the report, changed status, two keys created in the same second)
//! falls back to GetAccessKeyLastUsed. The report can be up to 4 hours old; an old report
//! can only make a key look *less* recently used (a finding too many, never one too few),
//! and its generation time is shown in every report.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_iam::types::ReportStateType;
use aws_sdk_iam::Client as IamClient;
use chrono::{DateTime, Utc};

use super::{scan_error, to_chrono, Limiter};
use crate::credential_report::{self, LaterDates};
use crate::model::{AccessKey, KeyStatus, LastUsed, ScanError};

/// Where keys' last use comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LastUsedSource {
    /// GetAccessKeyLastUsed for every key: exact and current.
    #[default]
    Api,
    /// The IAM credential report (up to 4 hours old), with the API for keys it cannot match.
    CredentialReport,
}

/// Last-use data from one credential report, by user.
#[derive(Debug, Clone)]
pub struct ReportHints {
    pub generated_at: DateTime<Utc>,
    /// Dates in the report later than its GeneratedTime: impossible, so its last uses cannot
    /// all be right. Still used (as a report read from a file is), and said as a warning.
    pub later: Option<LaterDates>,
    by_user: HashMap<String, Vec<AccessKey>>,
}

impl ReportHints {
    pub fn parse(text: &str, generated_at: DateTime<Utc>) -> Result<ReportHints, String> {
        let inventory = credential_report::parse(text, generated_at)?;
        let later = credential_report::dates_after(&inventory, generated_at);
        let by_user = inventory
            .accounts
            .into_iter()
            .flat_map(|account| account.users)
            .map(|user| (user.user_name, user.keys))
            .collect();
        Ok(ReportHints { generated_at, later, by_user })
    }

    /// The last use of `key` of `user`, if the report identifies the key unambiguously.
    pub fn last_used(&self, user: &str, key_created: DateTime<Utc>, status: KeyStatus) -> Option<LastUsed> {
        let slots = self.by_user.get(user)?;
        let same_second = |a: DateTime<Utc>, b: DateTime<Utc>| a.timestamp() == b.timestamp();
        let mut matching = slots.iter().filter(|slot| same_second(slot.created, key_created));
        let slot = matching.next()?;
        if matching.next().is_some() || slot.status != status {
            return None;
        }
        Some(slot.last_used.clone())
    }
}

/// Generates (if needed) and downloads the account's credential report.
pub async fn fetch(iam: &IamClient, limiter: &Limiter, account: &str) -> Result<ReportHints, ScanError> {
    // GenerateCredentialReport starts a report or reports on the one under way; poll it
    // (a long-running job, not a retry) for up to a minute.
    for _ in 0..60 {
        let state = {
            let _permit = limiter.acquire().await;
            iam.generate_credential_report()
                .send()
                .await
                .map_err(|e| scan_error(Some(account), None, None, "GenerateCredentialReport", &e))?
        };
        if state.state() == Some(&ReportStateType::Complete) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let report = {
        let _permit = limiter.acquire().await;
        iam.get_credential_report()
            .send()
            .await
            .map_err(|e| scan_error(Some(account), None, None, "GetCredentialReport", &e))?
    };
    let malformed = |message: String| ScanError {
        account_id: Some(account.to_string()),
        user_name: None,
        access_key_id: None,
        operation: "GetCredentialReport".into(),
        code: "MalformedResponse".into(),
        message,
    };
    let generated_at =
        report.generated_time().map(to_chrono).ok_or_else(|| malformed("no GeneratedTime".into()))?;
    let content = report.content().ok_or_else(|| malformed("no Content".into()))?;
    let text = std::str::from_utf8(content.as_ref()).map_err(|e| malformed(format!("not UTF-8: {e}")))?;
    ReportHints::parse(text, generated_at).map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_slots_by_creation_second_and_status() {
        let text = include_str!("../../tests/fixtures/credential-report.csv");
        let hints = ReportHints::parse(text, "2026-11-01T00:00:00Z".parse().unwrap()).unwrap();
        let created = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // alice slot 1: created 2026-09-01T10:00:00, active, last used 2026-10-30T08:15:00 s3.
        let exact = hints.last_used("alice", created("2026-09-01T10:00:00.123456Z"), KeyStatus::Active);
        assert_eq!(exact.and_then(|l| l.date()), Some(created("2026-10-30T08:15:00Z")));
        assert_eq!(
            hints.last_used("alice", created("2026-09-01T10:00:01Z"), KeyStatus::Active),
            None,
            "other second"
        );
        assert_eq!(
            hints.last_used("alice", created("2026-09-01T10:00:00Z"), KeyStatus::Inactive),
            None,
            "status changed"
        );
        assert_eq!(hints.last_used("nobody", created("2026-09-01T10:00:00Z"), KeyStatus::Active), None);
        let never =
            hints.last_used("ci+deploy@example.com", created("2026-08-01T00:05:00Z"), KeyStatus::Active);
        assert_eq!(never, Some(LastUsed::Never));
    }

    #[test]
    fn a_report_generated_before_its_own_dates_is_marked() {
        let text = include_str!("../../tests/fixtures/credential-report.csv");
        let after_every_date = ReportHints::parse(text, "2026-11-01T00:00:00Z".parse().unwrap()).unwrap();
        assert_eq!(after_every_date.later, None);
        // The fixture's latest date is erin's slot 2 last use, 2026-10-31T15:00:00Z.
        let before_two = ReportHints::parse(text, "2026-10-31T13:00:00Z".parse().unwrap()).unwrap();
        let later = before_two.later.as_ref().expect("two dates after it");
        assert_eq!((later.count, later.user.as_str()), (2, "erin"));
        // Its last uses are still used.
        let created = "2026-09-15T10:00:00Z".parse().unwrap();
        let used = before_two.last_used("erin", created, KeyStatus::Active).and_then(|used| used.date());
        assert_eq!(used, "2026-10-31T15:00:00Z".parse().ok());
    }
}
