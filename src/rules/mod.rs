//! The rules engine: pure code. `(inventory, settings, as-of) -> findings`.
//!
//! Rules never touch the SDK, the clock or the output formats. Each rule lives in its own
//! file as a documented function over one user; this module holds the registry (the one
//! table of stable ids), severities, thresholds and the loop that applies them.

mod inactive_key_kept;
mod key_too_old;
mod key_unused;
mod key_without_owner;
mod root_access_key;
pub mod scope;
mod two_active_keys;

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use rayon::prelude::*;
use serde::Serialize;

pub use crate::finding::{Finding, RuleId, Severity};
use crate::model::{AccessKey, Account, Inventory, KeyStatus, User};

impl RuleId {
    pub fn rule(self) -> &'static Rule {
        RULES.iter().find(|rule| rule.rule_id == self).expect("every RuleId has a row in RULES (tested)")
    }

    /// The rule's controls as text ([`Control::requirement`]), made once per process: a report
    /// names them on every finding, and a copy each was five strings per finding, about a
    /// tenth of a large report's memory.
    pub fn requirements(self) -> &'static [String] {
        static MADE: std::sync::OnceLock<Vec<Vec<String>>> = std::sync::OnceLock::new();
        let made = MADE.get_or_init(|| {
            RULES.iter().map(|rule| rule.controls.iter().map(Control::requirement).collect()).collect()
        });
        let index = RULES
            .iter()
            .position(|rule| rule.rule_id == self)
            .expect("every RuleId has a row in RULES (tested)");
        &made[index]
    }
}

/// Which threshold a rule reads; the names are the config keys and the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    MaxKeyAgeDays,
    UnusedDays,
    InactiveGraceDays,
    RotationWindowDays,
}

impl Threshold {
    pub const ALL: [Threshold; 4] = [
        Threshold::MaxKeyAgeDays,
        Threshold::UnusedDays,
        Threshold::InactiveGraceDays,
        Threshold::RotationWindowDays,
    ];

    /// The config key under `[thresholds]`; the flag is the same name with `--`.
    pub fn key(self) -> &'static str {
        match self {
            Threshold::MaxKeyAgeDays => "max-key-age-days",
            Threshold::UnusedDays => "unused-days",
            Threshold::InactiveGraceDays => "inactive-grace-days",
            Threshold::RotationWindowDays => "rotation-window-days",
        }
    }
}

/// Thresholds in whole days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Thresholds {
    pub max_key_age_days: u32,
    pub unused_days: u32,
    pub inactive_grace_days: u32,
    pub rotation_window_days: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { max_key_age_days: 90, unused_days: 45, inactive_grace_days: 30, rotation_window_days: 7 }
    }
}

impl Thresholds {
    pub fn get(&self, threshold: Threshold) -> u32 {
        match threshold {
            Threshold::MaxKeyAgeDays => self.max_key_age_days,
            Threshold::UnusedDays => self.unused_days,
            Threshold::InactiveGraceDays => self.inactive_grace_days,
            Threshold::RotationWindowDays => self.rotation_window_days,
        }
    }

    pub fn set(&mut self, threshold: Threshold, days: u32) {
        match threshold {
            Threshold::MaxKeyAgeDays => self.max_key_age_days = days,
            Threshold::UnusedDays => self.unused_days = days,
            Threshold::InactiveGraceDays => self.inactive_grace_days = days,
            Threshold::RotationWindowDays => self.rotation_window_days = days,
        }
    }
}

/// A rule's configured level: off, or on at a severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleLevel {
    Allow,
    Severity(Severity),
}

impl RuleLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleLevel::Allow => "allow",
            RuleLevel::Severity(severity) => severity.as_str(),
        }
    }
}

impl FromStr for RuleLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "allow" {
            return Ok(RuleLevel::Allow);
        }
        s.parse()
            .map(RuleLevel::Severity)
            .map_err(|_| format!("unknown level `{s}` (expected allow, info, low, medium, high or critical)"))
    }
}

/// Everything the engine needs besides the inventory and the instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSettings {
    pub thresholds: Thresholds,
    /// Overrides of a rule's default severity, or `Allow` to turn it off.
    pub levels: BTreeMap<RuleId, RuleLevel>,
    /// `[owners] tag-keys`: the tags that name a user's owner, first match wins.
    pub owner_tag_keys: Vec<String>,
    /// `[privilege] escalate`: a privileged user's findings are one severity level higher.
    pub escalate_privileged: bool,
    /// `[[scope]]`: thresholds and levels for the users they match (see [`scope`]).
    pub scopes: Vec<scope::Scope>,
}

/// The owner tags when the config names none.
pub const DEFAULT_OWNER_TAG_KEYS: [&str; 2] = ["owner", "team"];

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            thresholds: Thresholds::default(),
            levels: BTreeMap::new(),
            owner_tag_keys: DEFAULT_OWNER_TAG_KEYS.map(String::from).into(),
            escalate_privileged: true,
            scopes: Vec::new(),
        }
    }
}

/// A user's owner: the value of the first of `tag_keys` it carries (not empty). `None` also
/// when its details are unknown; see [`crate::model::User::details`].
pub fn owner_of<'a>(user: &'a User, tag_keys: &[String]) -> Option<&'a str> {
    let tags = &user.details.as_ref()?.tags;
    tag_keys.iter().find_map(|key| tags.get(key).map(String::as_str).filter(|value| !value.is_empty()))
}

impl RuleSettings {
    pub fn level(&self, rule: RuleId) -> RuleLevel {
        self.levels.get(&rule).copied().unwrap_or(RuleLevel::Severity(rule.rule().default_severity))
    }
}

/// One row of the registry: a rule's stable id, its documentation and its check.
pub struct Rule {
    pub rule_id: RuleId,
    pub id: &'static str,
    pub default_severity: Severity,
    pub threshold: Option<Threshold>,
    /// One line: what it checks.
    pub summary: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// The compliance controls it checks: the one place they are written; `keyaudit rules`,
    /// SARIF and ASFF (`Compliance.RelatedRequirements`) read them from here.
    pub controls: &'static [Control],
    /// What one of its findings is about.
    pub subject: Subject,
    check: Check,
}

impl Rule {
    /// The controls as one line, grouped by framework:
    /// `CIS AWS Foundations Benchmark v3.0.0 1.14; ...; PCI DSS v4.0 8.3.9, 8.6.3`.
    pub fn standards(&self) -> String {
        let mut groups: Vec<(Framework, Vec<&str>)> = Vec::new();
        for control in self.controls {
            match groups.iter_mut().find(|(framework, _)| *framework == control.framework) {
                Some((_, ids)) => ids.push(control.id),
                None => groups.push((control.framework, vec![control.id])),
            }
        }
        let groups: Vec<String> = groups
            .iter()
            .map(|(framework, ids)| format!("{} {}", framework.name(), ids.join(", ")))
            .collect();
        if groups.is_empty() {
            return "no compliance control (a practice keyaudit checks)".to_string();
        }
        groups.join("; ")
    }
}

/// What a finding of a rule is about: one key, one user (and the keys involved), or the
/// account (its root user). Formats that also list what passed (JUnit) enumerate these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Key,
    User,
    Account,
}

/// A compliance framework that rules map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    CisV3,
    CisV5,
    SecurityHub,
    PciDss4,
}

impl Framework {
    /// The standard's name as Security Hub writes it in `RelatedRequirements`.
    pub fn name(self) -> &'static str {
        match self {
            Framework::CisV3 => "CIS AWS Foundations Benchmark v3.0.0",
            Framework::CisV5 => "CIS AWS Foundations Benchmark v5.0.0",
            Framework::SecurityHub => "AWS Security Hub",
            Framework::PciDss4 => "PCI DSS v4.0",
        }
    }
}

/// One control of a framework, e.g. CIS v3.0.0 `1.14`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    pub framework: Framework,
    pub id: &'static str,
}

impl Control {
    pub const fn new(framework: Framework, id: &'static str) -> Control {
        Control { framework, id }
    }

    /// `standard/control`, the form of ASFF's `Compliance.RelatedRequirements`.
    pub fn requirement(&self) -> String {
        format!("{}/{}", self.framework.name(), self.id)
    }
}

/// What a rule looks at: one user at a time, or the account as a whole (its root user).
#[derive(Clone, Copy)]
enum Check {
    User(fn(&Context, &User, &mut Vec<Hit>)),
    Account(fn(&Context, &Account, &mut Vec<Hit>)),
}

/// The one table of rules, in the order `keyaudit rules` lists them.
pub static RULES: &[Rule] = &[
    key_too_old::RULE,
    key_unused::RULE,
    inactive_key_kept::RULE,
    two_active_keys::RULE,
    root_access_key::RULE,
    key_without_owner::RULE,
];

/// What a check sees besides the user.
pub struct Context<'a> {
    pub as_of: DateTime<Utc>,
    pub thresholds: Thresholds,
    /// `[owners] tag-keys`: the tags that name a user's owner, first match wins.
    pub owner_tag_keys: &'a [String],
}

/// What a check reports; the engine adds rule, severity, account and key details.
struct Hit {
    /// The user the finding names when it is not the user being checked (`<root_account>`).
    subject: Option<String>,
    /// The key the finding is about, or `None` when it is about the user.
    key: Option<AccessKey>,
    /// For a user-level finding: the keys involved.
    key_ids: Vec<String>,
    message: String,
}

impl Hit {
    fn key(key: &AccessKey, message: String) -> Hit {
        Hit { subject: None, key: Some(key.clone()), key_ids: vec![key.access_key_id.clone()], message }
    }
}

/// How reports name the root user (as IAM's credential report does).
pub const ROOT_USER: &str = "<root_account>";

/// Days from `from` to `to` as *started* days: a key created 90 days and 1 second ago is in
/// its 91st day and is 91 days old (negative if `from` is later).
///
/// This is the one age convention of keyaudit: every age and idle time a report shows is
/// this number, and every rule judges this same number against its threshold, so a shown
/// age can never look within a limit the rule says it exceeds (a 90.5-day key shows 91
/// against a limit of 90, never 90). Rounding down would show 90; rounding to the nearest
/// day would show 90 for 90.4 days. The history module's figures use it too.
pub fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let elapsed = to - from;
    // `num_days` truncates toward zero, so adding the started day only where time remains
    // past the whole days rounds up (and for a negative span, truncation already is ceil).
    let whole = elapsed.num_days();
    if elapsed > Duration::days(whole) {
        whole + 1
    } else {
        whole
    }
}

/// Evaluates every enabled rule on every user. Findings of a privileged user are raised one
/// severity level (unless `escalate_privileged` is off; never `key-without-owner`, whose
/// `info` must not start failing gates) and say why. The result is grouped by account, then
/// in risk order: most severe first, then privileged users' first, then the oldest key
/// first; then by user, key and rule, so reports are stable from run to run.
pub fn evaluate(inventory: &Inventory, settings: &RuleSettings, as_of: DateTime<Utc>) -> Vec<Finding> {
    // Accounts are independent: evaluated on every core, then put in one order.
    let mut findings: Vec<Finding> = inventory
        .accounts
        .par_iter()
        .flat_map_iter(|account| evaluate_account(account, settings, as_of))
        .collect();
    let age = |finding: &Finding| finding.key.as_ref().map(|key| key.created);
    findings.par_sort_by(|a, b| {
        a.account_id
            .cmp(&b.account_id)
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| b.is_privileged().cmp(&a.is_privileged()))
            .then_with(|| age(a).cmp(&age(b)))
            .then_with(|| a.user_name.cmp(&b.user_name))
            .then_with(|| a.access_key_id.cmp(&b.access_key_id))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    findings
}

/// Users evaluated per rayon task: enough that a small account is one task, few enough that a
/// single large account (5,000 users) spreads over every core.
const USERS_PER_TASK: usize = 256;

/// One account's findings, in no particular order. The users of one account are independent
/// too: a scan of one large account evaluates them on every core.
fn evaluate_account(account: &Account, settings: &RuleSettings, as_of: DateTime<Utc>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = account
        .users
        .par_chunks(USERS_PER_TASK)
        .flat_map_iter(|users| {
            let mut findings = Vec::new();
            let mut hits = Vec::new();
            for user in users {
                evaluate_subject(account, Some(user), settings, as_of, &mut hits, &mut findings);
            }
            findings
        })
        .collect();
    evaluate_subject(account, None, settings, as_of, &mut Vec::new(), &mut findings);
    findings
}

/// The findings on one user (`None`: the account's root), under the settings of the scope
/// that applies to it.
fn evaluate_subject(
    account: &Account,
    user: Option<&User>,
    settings: &RuleSettings,
    as_of: DateTime<Utc>,
    hits: &mut Vec<Hit>,
    findings: &mut Vec<Finding>,
) {
    let effective = scope::Effective::of(settings, account, user);
    let context =
        Context { as_of, thresholds: effective.thresholds, owner_tag_keys: &settings.owner_tag_keys };
    let user_name = user.map_or(ROOT_USER, |user| user.user_name.as_str());
    for rule in RULES {
        let RuleLevel::Severity(severity) = effective.level(rule.rule_id) else {
            continue;
        };
        match (rule.check, user) {
            (Check::User(check), Some(user)) => check(&context, user, hits),
            (Check::Account(check), None) => check(&context, account, hits),
            _ => continue,
        }
        if hits.is_empty() {
            continue;
        }
        let owner = user.and_then(|user| owner_of(user, &settings.owner_tag_keys)).map(str::to_string);
        let privileged_via = user.and_then(|user| user.details.as_ref()).map(|d| d.privileged_via.clone());
        findings.extend(hits.drain(..).map(|hit| {
            let mut finding = Finding {
                rule: rule.rule_id,
                severity,
                account_id: account.account_id.clone(),
                user_name: hit.subject.unwrap_or_else(|| user_name.to_string()),
                access_key_id: hit.key.as_ref().map(|key| key.access_key_id.clone()),
                key_ids: hit.key_ids,
                message: hit.message,
                key: hit.key,
                suppression: None,
                baseline: None,
                owner: owner.clone(),
                privileged_via: privileged_via.clone(),
                scope: effective.scope_name(),
            };
            escalate(&mut finding, settings);
            finding
        }));
    }
}

/// One severity level up for a privileged user's finding, and the reason in its message.
fn escalate(finding: &mut Finding, settings: &RuleSettings) {
    let Some(reasons) = finding.privileged_via.as_ref().filter(|reasons| !reasons.is_empty()) else {
        return;
    };
    let why = reasons.join(", ");
    if !settings.escalate_privileged || finding.rule == RuleId::KeyWithoutOwner {
        finding.message.push_str(&format!(" (user is privileged: {why})"));
        return;
    }
    let from = finding.severity;
    finding.severity = match from {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    };
    if finding.severity != from {
        finding.message.push_str(&format!(" (user is privileged: {why}; raised from {from})"));
    } else {
        finding.message.push_str(&format!(" (user is privileged: {why})"));
    }
}

fn active_keys(user: &User) -> impl Iterator<Item = &AccessKey> {
    user.keys.iter().filter(|key| key.status == KeyStatus::Active)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders for table-driven rule tests, all relative to one fixed instant.
    use super::*;
    use crate::model::LastUsed;

    pub fn as_of() -> DateTime<Utc> {
        "2026-06-01T12:00:00Z".parse().expect("valid instant")
    }

    pub fn days_ago(days: i64) -> DateTime<Utc> {
        as_of() - Duration::days(days)
    }

    pub fn key(id: &str, status: KeyStatus, created_days_ago: i64, last_used: LastUsed) -> AccessKey {
        AccessKey { access_key_id: id.to_string(), status, created: days_ago(created_days_ago), last_used }
    }

    pub fn used(days: i64) -> LastUsed {
        LastUsed::At { date: days_ago(days), service: Some("s3".into()), region: Some("us-east-1".into()) }
    }

    pub fn user(keys: Vec<AccessKey>) -> User {
        User {
            user_name: "alice".into(),
            path: "/".into(),
            arn: "arn:aws:iam::111122223333:user/alice".into(),
            created: days_ago(1000),
            keys,
            details: None,
        }
    }

    /// A key created `created_hours_ago` hours before [`as_of`], for the edges between days.
    pub fn key_hours(id: &str, status: KeyStatus, created_hours_ago: i64, last_used: LastUsed) -> AccessKey {
        AccessKey {
            access_key_id: id.to_string(),
            status,
            created: as_of() - Duration::hours(created_hours_ago),
            last_used,
        }
    }

    pub fn used_hours(hours: i64) -> LastUsed {
        LastUsed::At { date: as_of() - Duration::hours(hours), service: None, region: None }
    }

    /// What `rule` reports on `user`: (named key, key ids, message) per hit.
    pub fn hits(rule: &Rule, user: &User) -> Vec<(Option<String>, Vec<String>, String)> {
        let context = Context {
            as_of: as_of(),
            thresholds: Thresholds::default(),
            owner_tag_keys: &DEFAULT_OWNER_TAG_KEYS.map(String::from),
        };
        let mut hits = Vec::new();
        match rule.check {
            Check::User(check) => check(&context, user, &mut hits),
            Check::Account(_) => panic!("{} checks accounts", rule.id),
        }
        hits.into_iter().map(|hit| (hit.key.map(|key| key.access_key_id), hit.key_ids, hit.message)).collect()
    }

    /// The ids of the keys (or, for hits naming several keys, "user:" and their ids) that
    /// `rule` flags.
    pub fn flagged(rule: &Rule, user: &User) -> Vec<String> {
        hits(rule, user)
            .into_iter()
            .map(|(key, key_ids, _)| match key {
                Some(key) if key_ids.len() <= 1 => key,
                _ => format!("user:{}", key_ids.join("+")),
            })
            .collect()
    }

    /// The first number of days in a rule's message (the age or idle time it shows).
    pub fn shown_days(message: &str) -> i64 {
        let words: Vec<&str> = message.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "days" || *w == "days,").expect("message shows days");
        words[at - 1].parse().expect("a number before `days`")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::model::{Account, LastUsed};

    #[test]
    fn rule_ids_are_unique_kebab_case_and_match_the_enum() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "duplicate rule id {}", rule.id);
            assert_eq!(serde_json::to_value(rule.rule_id).unwrap(), rule.id);
            assert!(rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_eq!(rule.rule_id.as_str(), rule.id);
            assert_eq!(rule.id.parse::<RuleId>().unwrap(), rule.rule_id);
            assert!(!rule.summary.is_empty() && !rule.rationale.is_empty());
            // Every rule maps to controls but key-without-owner, a practice no framework names.
            assert!(!rule.controls.is_empty() || rule.rule_id == RuleId::KeyWithoutOwner, "{}", rule.id);
        }
        // One row per id, in the registry and in the vocabulary alike.
        assert_eq!(RULES.len(), RuleId::ALL.len());
        for id in RuleId::ALL {
            assert_eq!(id.rule().rule_id, id);
        }
    }

    #[test]
    fn findings_have_the_shape_of_their_rules_subject() {
        let demo = crate::app::parse_inventory("demo", crate::app::DEMO_INVENTORY).unwrap();
        let findings = evaluate(&demo, &RuleSettings::default(), demo.collected_at);
        for rule in RULES {
            let mine: Vec<_> = findings.iter().filter(|f| f.rule == rule.rule_id).collect();
            assert!(!mine.is_empty(), "the demo has no {} finding to check", rule.id);
            for finding in mine {
                // A finding naming several keys (two-active-keys names the older one) is
                // about the user.
                let one_key = finding.access_key_id.is_some() && finding.key_ids.len() == 1;
                let shape = match (one_key, finding.user_name == ROOT_USER) {
                    (_, true) => Subject::Account,
                    (true, false) => Subject::Key,
                    (false, false) => Subject::User,
                };
                assert_eq!(shape, rule.subject, "{}", finding.id());
            }
        }
    }

    #[test]
    fn controls_read_as_one_line_per_framework() {
        assert_eq!(
            RuleId::KeyTooOld.rule().standards(),
            "CIS AWS Foundations Benchmark v3.0.0 1.14; CIS AWS Foundations Benchmark v5.0.0 1.13; \
             AWS Security Hub IAM.3; PCI DSS v4.0 8.3.9, 8.6.3"
        );
        assert_eq!(RuleId::RootAccessKey.rule().controls[2].requirement(), "AWS Security Hub/IAM.4");
        // The list made once per process is each rule's own, in its order.
        for rule in RULES {
            let each: Vec<String> = rule.controls.iter().map(Control::requirement).collect();
            assert_eq!(rule.rule_id.requirements(), each.as_slice(), "{}", rule.id);
        }
    }

    #[test]
    fn every_rule_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        for rule in RULES {
            assert!(readme.contains(&format!("`{}`", rule.id)), "README does not document {}", rule.id);
        }
    }

    #[test]
    fn unknown_rule_and_level_names_are_errors() {
        assert!("key-old".parse::<RuleId>().unwrap_err().contains("key-too-old"));
        assert!("severe".parse::<RuleLevel>().is_err());
        assert_eq!("allow".parse::<RuleLevel>().unwrap(), RuleLevel::Allow);
        assert_eq!("high".parse::<RuleLevel>().unwrap(), RuleLevel::Severity(Severity::High));
    }

    fn inventory() -> Inventory {
        Inventory {
            schema_version: 1,
            collected_at: as_of(),
            accounts: vec![Account {
                account_id: "111122223333".into(),
                root: None,
                credential_report_generated_at: None,
                users: vec![user(vec![
                    key("AKIAOLDUNUSED", KeyStatus::Active, 200, LastUsed::Never),
                    key("AKIAFRESH", KeyStatus::Active, 100, used(1)),
                ])],
            }],
            errors: vec![],
            shard: None,
        }
    }

    #[test]
    fn engine_applies_levels_and_sorts_by_severity() {
        let mut settings = RuleSettings::default();
        settings.levels.insert(RuleId::KeyUnused, RuleLevel::Severity(Severity::Critical));
        settings.levels.insert(RuleId::TwoActiveKeys, RuleLevel::Allow);
        let findings = evaluate(&inventory(), &settings, as_of());
        let got: Vec<(RuleId, Severity, Option<&str>)> =
            findings.iter().map(|f| (f.rule, f.severity, f.access_key_id.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                (RuleId::KeyUnused, Severity::Critical, Some("AKIAOLDUNUSED")),
                // Same severity: the older key first (risk order).
                (RuleId::KeyTooOld, Severity::Medium, Some("AKIAOLDUNUSED")),
                (RuleId::KeyTooOld, Severity::Medium, Some("AKIAFRESH")),
            ]
        );
        assert!(findings.iter().all(|f| f.account_id == "111122223333" && f.user_name == "alice"));
    }

    #[test]
    fn user_level_finding_lists_the_users_keys() {
        let findings = evaluate(&inventory(), &RuleSettings::default(), as_of());
        let two = findings.iter().find(|f| f.rule == RuleId::TwoActiveKeys).expect("two-active-keys finding");
        // It names the older key, the one to deactivate; `key_ids` (and so its identity) keep both.
        assert_eq!(two.access_key_id.as_deref(), Some("AKIAOLDUNUSED"));
        assert_eq!(two.key_ids, vec!["AKIAOLDUNUSED", "AKIAFRESH"]);
        assert_eq!(two.id().as_str(), "two-active-keys:111122223333:alice:AKIAOLDUNUSED+AKIAFRESH");
    }

    #[test]
    fn days_between_counts_started_days() {
        let at = |hours: i64| as_of() - Duration::hours(hours);
        let cases = [
            ("same instant", at(0), 0),
            ("one second", as_of() - Duration::seconds(1), 1),
            ("89.5 days", at(89 * 24 + 12), 90),
            ("exactly 90 days", at(90 * 24), 90),
            ("90 days and 1 second", as_of() - Duration::days(90) - Duration::seconds(1), 91),
            ("90.5 days", at(90 * 24 + 12), 91),
            ("a millisecond past 45 days", as_of() - Duration::days(45) - Duration::milliseconds(1), 46),
            ("half a day in the future", at(-12), 0),
            ("1.5 days in the future", at(-36), -1),
        ];
        for (name, from, expected) in cases {
            assert_eq!(days_between(from, as_of()), expected, "{name}");
        }
    }

    /// The reviewer point, for every rule with a threshold: around each limit, the
    /// number a message shows is over the limit exactly when the rule fires (`>` for
    /// key-too-old, `>=` for the others, as their documentation says).
    #[test]
    fn shown_days_agree_with_every_verdict_around_the_limits() {
        let h = |days: f64| (days * 24.0).round() as i64;
        for days in [44.0, 44.5, 45.0, 45.5, 89.5, 90.0, 90.5, 91.0, 29.5, 30.0, 30.5, 6.5, 7.0, 7.5] {
            let hours = h(days);
            let cases: [(&Rule, User, i64, bool); 5] = [
                (
                    &key_too_old::RULE,
                    user(vec![key_hours("K", KeyStatus::Active, hours, used(1))]),
                    90,
                    false,
                ),
                (
                    &key_unused::RULE,
                    user(vec![key_hours("K", KeyStatus::Active, 5000, used_hours(hours))]),
                    45,
                    true,
                ),
                (
                    &key_unused::RULE,
                    user(vec![key_hours("K", KeyStatus::Active, hours, LastUsed::Never)]),
                    45,
                    true,
                ),
                (
                    &inactive_key_kept::RULE,
                    user(vec![key_hours("K", KeyStatus::Inactive, 5000, used_hours(hours))]),
                    30,
                    true,
                ),
                (
                    &two_active_keys::RULE,
                    user(vec![
                        key_hours("OLD", KeyStatus::Active, 5000, used(1)),
                        key_hours("NEW", KeyStatus::Active, hours, used(1)),
                    ]),
                    7,
                    true,
                ),
            ];
            for (rule, user, limit, at_limit_fires) in cases {
                let shown = days_between(as_of() - Duration::hours(hours), as_of());
                let fires = if at_limit_fires { shown >= limit } else { shown > limit };
                let found = hits(rule, &user);
                assert_eq!(!found.is_empty(), fires, "{} at {days} days (shown {shown})", rule.id);
                for (_, _, message) in found {
                    assert_eq!(shown_days(&message), shown, "{} at {days} days: {message}", rule.id);
                }
            }
        }
    }
}
