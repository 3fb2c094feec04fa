//! The shared vocabulary of findings: severity, the fail-on level, rule ids, the finding
//! itself and its identity. Everyone imports this module and it imports nothing of theirs,
//! so config, exit, report, remediate, rules, suppress, history and baselines can talk
//! about a finding without importing each other.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::model::AccessKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|level| level.as_str() == s)
            .ok_or_else(|| format!("unknown severity `{s}` (expected info, low, medium, high or critical)"))
    }
}

/// The level at or above which findings fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Never,
    AtOrAbove(Severity),
}

impl FailOn {
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Never => "never",
            FailOn::AtOrAbove(severity) => severity.as_str(),
        }
    }

    pub fn fails(self, severity: Severity) -> bool {
        match self {
            FailOn::Never => false,
            FailOn::AtOrAbove(level) => severity >= level,
        }
    }
}

impl FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "never" {
            return Ok(FailOn::Never);
        }
        s.parse()
            .map(FailOn::AtOrAbove)
            .map_err(|_| format!("unknown level `{s}` (expected info, low, medium, high, critical or never)"))
    }
}

/// Stable rule ids. They appear in reports, configs, suppressions, baselines and history:
/// never rename one. The registry (`crate::rules::RULES`) has one row per id (tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    KeyTooOld,
    KeyUnused,
    InactiveKeyKept,
    TwoActiveKeys,
    RootAccessKey,
    KeyWithoutOwner,
}

impl RuleId {
    pub const ALL: [RuleId; 6] = [
        RuleId::KeyTooOld,
        RuleId::KeyUnused,
        RuleId::InactiveKeyKept,
        RuleId::TwoActiveKeys,
        RuleId::RootAccessKey,
        RuleId::KeyWithoutOwner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::KeyTooOld => "key-too-old",
            RuleId::KeyUnused => "key-unused",
            RuleId::InactiveKeyKept => "inactive-key-kept",
            RuleId::TwoActiveKeys => "two-active-keys",
            RuleId::RootAccessKey => "root-access-key",
            RuleId::KeyWithoutOwner => "key-without-owner",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuleId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleId::ALL.into_iter().find(|rule| rule.as_str() == s).ok_or_else(|| {
            let ids: Vec<&str> = RuleId::ALL.iter().map(|rule| rule.as_str()).collect();
            format!("unknown rule `{s}` (known rules: {})", ids.join(", "))
        })
    }
}

/// How a suppression touched one finding (set by `crate::suppress::apply`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppressionMark {
    /// Position in the config file's `[[suppress]]` list, from 1.
    pub index: usize,
    pub reason: String,
    pub expires: Option<NaiveDate>,
    /// True when only an expired suppression matched: the finding counts again.
    pub expired: bool,
}

/// A finding against a baseline (an earlier report, or the last run in the history).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineState {
    /// Not in the baseline: counts toward `--fail-on-new`.
    New,
    /// Already in the baseline.
    Existing,
}

impl BaselineState {
    pub fn as_str(self) -> &'static str {
        match self {
            BaselineState::New => "new",
            BaselineState::Existing => "existing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    pub account_id: String,
    pub user_name: String,
    /// The key the finding names (for `two-active-keys`, the older key: the one to
    /// deactivate). `None` only when no key can be named (`root-access-key`); `key_ids` lists
    /// every key involved.
    pub access_key_id: Option<String>,
    pub key_ids: Vec<String>,
    pub message: String,
    /// The key the finding is about, for reports' age and last-use columns.
    #[serde(skip)]
    pub key: Option<AccessKey>,
    /// Set by `crate::suppress::apply`.
    pub suppression: Option<SuppressionMark>,
    /// Set by `crate::baseline::compare` when the scan has a baseline.
    pub baseline: Option<BaselineState>,
    /// The user's owner (`[owners] tag-keys`); `None` when it has none or it is unknown.
    pub owner: Option<String>,
    /// Why the user is privileged (empty: it is not); `None`: unknown (details not read).
    pub privileged_via: Option<Vec<String>>,
    /// The `[[scope]]` whose thresholds and levels applied, by name; `None`: the base ones.
    pub scope: Option<String>,
}

impl Finding {
    /// Suppressed by a suppression in force: reported, but not counted by the gate.
    pub fn is_suppressed(&self) -> bool {
        self.suppression.as_ref().is_some_and(|mark| !mark.expired)
    }

    /// Known to be privileged.
    pub fn is_privileged(&self) -> bool {
        self.privileged_via.as_ref().is_some_and(|reasons| !reasons.is_empty())
    }

    pub fn id(&self) -> FindingId {
        FindingId::new(self.rule, &self.account_id, &self.user_name, &self.key_ids)
    }
}

/// What makes two findings (in two runs, a report and a baseline, SARIF uploads) the same
/// finding: `rule:account:user:key`, where `key` is the key's id, or the user's key ids
/// joined with `+` for a finding about a user (empty when there is none: the root user's
/// key ids are not always known; SARIF fingerprints of earlier versions kept). Built from
/// `key_ids` (never from `access_key_id`), so which key a user-level finding names does not
/// change its identity. Defined here once; SARIF fingerprints, suppressions (`finding =`),
/// baselines and the history store all use it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FindingId(String);

impl FindingId {
    pub fn new(rule: RuleId, account_id: &str, user_name: &str, key_ids: &[String]) -> FindingId {
        FindingId(format!("{}:{account_id}:{user_name}:{}", rule.as_str(), key_ids.join("+")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads an identity back (from a config, a baseline or the history store): four
    /// parts, a known rule, a 12-digit account. User names cannot contain `:` in IAM, so the
    /// split is unambiguous.
    pub fn parse(text: &str) -> Result<FindingId, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let [rule, account, user, keys] = parts[..] else {
            return Err(format!("`{text}` is not a finding id (expected rule:account:user:key)"));
        };
        rule.parse::<RuleId>()?;
        let _ = keys;
        if account.is_empty() || user.is_empty() {
            return Err(format!("`{text}` is not a finding id (expected rule:account:user:key)"));
        }
        Ok(FindingId(text.to_string()))
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_rule_account_user_keys() {
        let cases: [(RuleId, &[&str], &str); 3] = [
            (RuleId::KeyUnused, &["AKIA1"], "key-unused:111122223333:alice:AKIA1"),
            (RuleId::TwoActiveKeys, &["AKIA1", "AKIA2"], "two-active-keys:111122223333:alice:AKIA1+AKIA2"),
            (RuleId::RootAccessKey, &[], "root-access-key:111122223333:<root_account>:"),
        ];
        for (rule, keys, expected) in cases {
            let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            let user = if rule == RuleId::RootAccessKey { "<root_account>" } else { "alice" };
            let id = FindingId::new(rule, "111122223333", user, &keys);
            assert_eq!(id.as_str(), expected);
            assert_eq!(FindingId::parse(expected).unwrap(), id);
        }
        for bad in ["", "key-unused:1:u", "nope:1:u:K", "key-unused:1::K", "a:b:c:d:e"] {
            assert!(FindingId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fail_on_compares_severities() {
        let medium = FailOn::AtOrAbove(Severity::Medium);
        assert!(!medium.fails(Severity::Low));
        assert!(medium.fails(Severity::Medium));
        assert!(medium.fails(Severity::Critical));
        assert!(!FailOn::Never.fails(Severity::Critical));
        assert_eq!("never".parse::<FailOn>().unwrap(), FailOn::Never);
        assert!("sometimes".parse::<FailOn>().is_err());
    }

    #[test]
    fn rule_ids_round_trip() {
        for rule in RuleId::ALL {
            assert_eq!(rule.as_str().parse::<RuleId>().unwrap(), rule);
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
        assert!("key-old".parse::<RuleId>().unwrap_err().contains("key-too-old"));
    }
}
