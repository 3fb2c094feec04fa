//! Suppressions: accepted exceptions, each with a reason and an optional expiry.
//!
//! A suppressed finding stays in the data (JSON, CSV, SARIF mark it suppressed, with the
//! reason) but does not count toward the exit code. An expired suppression stops applying
//! and the report says so; one that matches nothing is reported as stale, so exceptions do
//! not outlive what they were written for. Pure: findings, suppressions and the instant in.
//!
//! ```toml
//! [[suppress]]
//! rule = "key-unused"          # any of rule, account, user (glob: * and ?), key, finding;
//! user = "break-glass-*"        # at least one. `finding` is one finding's id (finding_id)
//! reason = "break-glass users are audited by SEC-142"   # required
//! expires = "2027-01-31"       # optional; stops applying at 00:00 UTC that day
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

pub use crate::finding::SuppressionMark;
use crate::finding::{Finding, FindingId, RuleId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub rule: Option<RuleId>,
    pub account: Option<String>,
    /// Exact, or a glob with `*` and `?`.
    pub user: Option<String>,
    pub key: Option<String>,
    /// Exactly one finding, by its identity (`rule:account:user:key`).
    pub finding: Option<FindingId>,
    pub reason: String,
    pub expires: Option<NaiveDate>,
}

impl Suppression {
    fn matches(&self, finding: &Finding) -> bool {
        self.rule.is_none_or(|rule| rule == finding.rule)
            && self.account.as_deref().is_none_or(|account| glob_match(account, &finding.account_id))
            && self.user.as_deref().is_none_or(|user| glob_match(user, &finding.user_name))
            && self.key.as_deref().is_none_or(|key| {
                finding.access_key_id.as_deref() == Some(key) || finding.key_ids.iter().any(|id| id == key)
            })
            && self.finding.as_ref().is_none_or(|id| *id == finding.id())
    }

    pub fn expired(&self, as_of: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|date| as_of.date_naive() >= date)
    }

    /// `rule=key-unused user=ci-*`: how reports name a suppression.
    pub fn selector(&self) -> String {
        let mut parts = Vec::new();
        if let Some(rule) = self.rule {
            parts.push(format!("rule={rule}"));
        }
        for (name, value) in [("account", &self.account), ("user", &self.user), ("key", &self.key)] {
            if let Some(value) = value {
                parts.push(format!("{name}={value}"));
            }
        }
        if let Some(id) = &self.finding {
            parts.push(format!("finding={id}"));
        }
        parts.join(" ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SuppressionState {
    /// In force and matching at least one finding.
    Active,
    /// Past its `expires` date: no longer applied.
    Expired,
    /// In force but matching nothing: probably obsolete, remove it.
    Stale,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppressionStatus {
    pub index: usize,
    pub selector: String,
    pub reason: String,
    pub expires: Option<NaiveDate>,
    pub state: SuppressionState,
    /// Findings it matched (expired ones included).
    pub matched: usize,
}

/// Marks each finding with the first suppression that matches it (an unexpired one first)
/// and returns every suppression's state.
pub fn apply(
    findings: &mut [Finding],
    suppressions: &[Suppression],
    as_of: DateTime<Utc>,
) -> Vec<SuppressionStatus> {
    let mut matched = vec![0usize; suppressions.len()];
    for finding in findings.iter_mut() {
        let mut expired_match = None;
        let mut mark = None;
        for (index, suppression) in suppressions.iter().enumerate() {
            if !suppression.matches(finding) {
                continue;
            }
            matched[index] += 1;
            if suppression.expired(as_of) {
                expired_match.get_or_insert(index);
            } else if mark.is_none() {
                mark = Some(index);
            }
        }
        finding.suppression = mark
            .map(|index| (index, false))
            .or(expired_match.map(|index| (index, true)))
            .map(|(index, expired)| SuppressionMark {
                index: index + 1,
                reason: suppressions[index].reason.clone(),
                expires: suppressions[index].expires,
                expired,
            });
    }
    suppressions
        .iter()
        .enumerate()
        .map(|(index, suppression)| SuppressionStatus {
            index: index + 1,
            selector: suppression.selector(),
            reason: suppression.reason.clone(),
            expires: suppression.expires,
            state: if suppression.expired(as_of) {
                SuppressionState::Expired
            } else if matched[index] == 0 {
                SuppressionState::Stale
            } else {
                SuppressionState::Active
            },
            matched: matched[index],
        })
        .collect()
}

/// `*` matches any run of characters, `?` any one; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    fn finding(rule: RuleId, user: &str, key: Option<&str>) -> Finding {
        Finding {
            rule,
            severity: Severity::Medium,
            account_id: "111122223333".into(),
            user_name: user.into(),
            access_key_id: key.map(str::to_string),
            key_ids: key.into_iter().map(str::to_string).collect(),
            message: String::new(),
            key: None,
            suppression: None,
            baseline: None,
            owner: None,
            privileged_via: None,
            scope: None,
        }
    }

    fn suppression(
        rule: Option<RuleId>,
        user: Option<&str>,
        key: Option<&str>,
        expires: Option<&str>,
    ) -> Suppression {
        Suppression {
            rule,
            account: None,
            user: user.map(str::to_string),
            key: key.map(str::to_string),
            finding: None,
            reason: "accepted".into(),
            expires: expires.map(|d| d.parse().unwrap()),
        }
    }

    #[test]
    fn globs() {
        for (pattern, text, expected) in [
            ("ci-*", "ci-deploy", true),
            ("ci-*", "ci-", true),
            ("ci-*", "xci-deploy", false),
            ("*@example.com", "ci+deploy@example.com", true),
            ("svc.?", "svc.a", true),
            ("svc.?", "svc.ab", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn active_expired_and_stale() {
        let as_of: DateTime<Utc> = "2026-11-01T12:00:00Z".parse().unwrap();
        let mut findings = vec![
            finding(RuleId::KeyUnused, "ci-deploy", Some("K1")),
            finding(RuleId::KeyTooOld, "ci-deploy", Some("K1")),
            finding(RuleId::KeyUnused, "bob", Some("K2")),
            finding(RuleId::TwoActiveKeys, "carol", None),
        ];
        let suppressions = vec![
            suppression(Some(RuleId::KeyUnused), Some("ci-*"), None, Some("2027-01-01")), // active
            suppression(None, Some("bob"), None, Some("2026-11-01")),                     // expired today
            suppression(None, Some("nobody"), None, None),                                // stale
            suppression(Some(RuleId::TwoActiveKeys), None, None, None), // active, user-level
        ];
        let states = apply(&mut findings, &suppressions, as_of);
        let marks: Vec<Option<(usize, bool)>> =
            findings.iter().map(|f| f.suppression.as_ref().map(|m| (m.index, m.expired))).collect();
        assert_eq!(marks, vec![Some((1, false)), None, Some((2, true)), Some((4, false))]);
        let got: Vec<(SuppressionState, usize)> = states.iter().map(|s| (s.state, s.matched)).collect();
        assert_eq!(
            got,
            vec![
                (SuppressionState::Active, 1),
                (SuppressionState::Expired, 1),
                (SuppressionState::Stale, 0),
                (SuppressionState::Active, 1),
            ]
        );
        assert_eq!(states[0].selector, "rule=key-unused user=ci-*");
    }

    #[test]
    fn key_matches_user_level_findings_through_their_key_ids() {
        let mut f = finding(RuleId::TwoActiveKeys, "carol", None);
        f.key_ids = vec!["K1".into(), "K2".into()];
        let mut findings = vec![f];
        apply(
            &mut findings,
            &[suppression(None, None, Some("K2"), None)],
            "2026-01-01T00:00:00Z".parse().unwrap(),
        );
        assert!(findings[0].suppression.is_some());
    }

    #[test]
    fn a_finding_id_matches_that_finding_only() {
        let mut findings = vec![
            finding(RuleId::KeyUnused, "ci-deploy", Some("K1")),
            finding(RuleId::KeyTooOld, "ci-deploy", Some("K1")),
        ];
        let mut by_id = suppression(None, None, None, None);
        by_id.finding = Some(FindingId::parse("key-too-old:111122223333:ci-deploy:K1").unwrap());
        let states = apply(&mut findings, &[by_id], "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(findings[0].suppression, None);
        assert!(findings[1].suppression.is_some());
        assert_eq!(states[0].selector, "finding=key-too-old:111122223333:ci-deploy:K1");
    }
}
