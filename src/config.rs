//! The config file (`keyaudit.toml`): read, then validate, then merge with flags.
//!
//! The file is parsed as plain TOML first and then checked key by key, so every problem is
//! reported with the key that caused it (`thresholds.unused-days: ...`) rather than a parser
//! message. Unknown keys are errors: a typo must never silently fall back to a default.
//!
//! ```toml
//! fail-on = "medium"            # info|low|medium|high|critical|never
//! [thresholds]
//! max-key-age-days = 90
//! unused-days = 45
//! inactive-grace-days = 30
//! rotation-window-days = 7
//! [rules]
//! inactive-key-kept = "high"    # a severity, or "allow" to turn the rule off
//! [history]
//! path = "keyaudit-history.db"  # record every scan (like --history; relative to the cwd)
//! [owners]
//! tag-keys = ["owner", "team"]  # the tags naming a user's owner, first match wins
//! [privilege]
//! escalate = true               # a privileged user's findings one severity level higher
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use crate::finding::FailOn;
use crate::finding::{FindingId, RuleId, Severity};
use crate::remediate::{parse_action, Action, RemediationSettings};
use crate::rules::scope::Scope;
use crate::rules::{RuleLevel, RuleSettings, Threshold, Thresholds, RULES};
use crate::suppress::Suppression;

/// The file looked up in the current directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "keyaudit.toml";

/// The largest threshold, in days: beyond a century a date computed from it can overflow
/// (a grace period of 4,000,000,000 days panicked remediate; found while fuzzing).
pub const MAX_THRESHOLD_DAYS: u32 = 36_500;

/// The effective evaluation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub rules: RuleSettings,
    pub fail_on: FailOn,
    /// What `keyaudit remediate` does for each rule's findings.
    pub remediate: RemediationSettings,
    /// Accepted exceptions, in file order.
    pub suppressions: Vec<Suppression>,
    /// `[history] path`: where scans are recorded (a flag overrides it).
    pub history: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rules: RuleSettings::default(),
            fail_on: FailOn::AtOrAbove(Severity::Low),
            remediate: RemediationSettings::default(),
            suppressions: Vec::new(),
            history: None,
        }
    }
}

/// What the config file says; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    pub fail_on: Option<FailOn>,
    pub thresholds: Vec<(Threshold, u32)>,
    pub levels: Vec<(RuleId, RuleLevel)>,
    pub remediate: Vec<(RuleId, Option<Action>)>,
    pub suppressions: Vec<Suppression>,
    /// `[history] path`: the scan history database.
    pub history: Option<PathBuf>,
    /// `[owners] tag-keys`.
    pub owner_tag_keys: Option<Vec<String>>,
    /// `[privilege] escalate`.
    pub escalate_privileged: Option<bool>,
    /// `[[scope]]`, in file order.
    pub scopes: Vec<Scope>,
}

#[derive(Debug, thiserror::Error)]
#[error("config file {path}: {message}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let fail = |message: String| ConfigError { path: path.to_path_buf(), message };
        let text = crate::input::read_text(path, crate::input::LIMIT_SMALL)
            .map_err(|e| fail(format!("cannot read it: {e}")))?;
        ConfigFile::parse(&text).map_err(fail)
    }

    /// Parses and validates; every problem found is listed, separated by `; `.
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // toml's Display draws a multi-line snippet; keep one line with the location.
            let line = e.span().map(|span| text[..span.start].lines().count().max(1));
            match line {
                Some(line) => format!("invalid TOML at line {line}: {}", e.message().trim()),
                None => format!("invalid TOML: {}", e.message().trim()),
            }
        })?;
        let mut config = ConfigFile::default();
        let mut problems = Vec::new();
        for (key, value) in &table {
            match (key.as_str(), value) {
                ("fail-on", toml::Value::String(level)) => match level.parse() {
                    Ok(level) => config.fail_on = Some(level),
                    Err(e) => problems.push(format!("fail-on: {e}")),
                },
                ("fail-on", other) => {
                    problems.push(format!("fail-on: expected a string, found {}", other.type_str()))
                }
                ("thresholds", toml::Value::Table(thresholds)) => {
                    for (key, value) in thresholds {
                        let Some(threshold) = Threshold::ALL.into_iter().find(|t| t.key() == key) else {
                            let known: Vec<_> = Threshold::ALL.iter().map(|t| t.key()).collect();
                            problems.push(format!(
                                "thresholds.{key}: unknown threshold (known: {})",
                                known.join(", ")
                            ));
                            continue;
                        };
                        match value.as_integer().map(u32::try_from) {
                            Some(Ok(days)) if days > MAX_THRESHOLD_DAYS => problems.push(format!(
                                "thresholds.{key}: at most {MAX_THRESHOLD_DAYS} days (100 years), found {days}"
                            )),
                            Some(Ok(days)) => config.thresholds.push((threshold, days)),
                            _ => problems.push(format!(
                                "thresholds.{key}: expected a whole number of days (0 or more), found {value}"
                            )),
                        }
                    }
                }
                ("rules", toml::Value::Table(rules)) => {
                    config.levels.extend(rule_entries("rules", rules, &mut problems, |_, text| text.parse()));
                }
                ("remediate", toml::Value::Table(actions)) => {
                    config.remediate.extend(rule_entries(
                        "remediate",
                        actions,
                        &mut problems,
                        |rule, text| {
                            let action = parse_action(text)?;
                            // Validate against the rule (e.g. never `delete` for an active-key rule).
                            RemediationSettings::default().set(rule, action).map(|()| action)
                        },
                    ));
                }
                ("suppress", toml::Value::Array(entries)) => {
                    for (index, entry) in entries.iter().enumerate() {
                        match parse_suppression(entry) {
                            Ok(suppression) => config.suppressions.push(suppression),
                            Err(e) => problems.push(format!("suppress[{}]{e}", index + 1)),
                        }
                    }
                }
                ("scope", toml::Value::Array(entries)) => {
                    for (index, entry) in entries.iter().enumerate() {
                        match parse_scope(entry, index + 1) {
                            Ok(scope) => config.scopes.push(scope),
                            Err(e) => problems.push(format!("scope[{}]{e}", index + 1)),
                        }
                    }
                }
                ("scope", other) => problems.push(format!(
                    "scope: expected an array of tables ([[scope]]), found {}",
                    other.type_str()
                )),
                ("suppress", other) => problems.push(format!(
                    "suppress: expected an array of tables ([[suppress]]), found {}",
                    other.type_str()
                )),
                ("history", toml::Value::Table(history)) => {
                    for (key, value) in history {
                        match (key.as_str(), value) {
                            ("path", toml::Value::String(path)) if !path.trim().is_empty() => {
                                config.history = Some(PathBuf::from(path))
                            }
                            ("path", other) => problems.push(format!(
                                "history.path: expected a file path (a non-empty string), found {other}"
                            )),
                            (key, _) => problems.push(format!("history.{key}: unknown key (known: path)")),
                        }
                    }
                }
                ("owners", toml::Value::Table(owners)) => {
                    for (key, value) in owners {
                        match (key.as_str(), value) {
                            ("tag-keys", toml::Value::Array(items)) => {
                                let keys: Option<Vec<String>> =
                                    items.iter().map(|item| item.as_str().map(str::to_string)).collect();
                                match keys {
                                    Some(keys) if !keys.is_empty() && keys.iter().all(|k| !k.trim().is_empty()) => {
                                        config.owner_tag_keys = Some(keys)
                                    }
                                    _ => problems.push(format!(
                                        "owners.tag-keys: expected a non-empty list of tag keys (strings), found {value}"
                                    )),
                                }
                            }
                            ("tag-keys", other) => problems.push(format!(
                                "owners.tag-keys: expected a list of tag keys, found {}",
                                other.type_str()
                            )),
                            (key, _) => problems.push(format!("owners.{key}: unknown key (known: tag-keys)")),
                        }
                    }
                }
                ("privilege", toml::Value::Table(privilege)) => {
                    for (key, value) in privilege {
                        match (key.as_str(), value) {
                            ("escalate", toml::Value::Boolean(on)) => config.escalate_privileged = Some(*on),
                            ("escalate", other) => problems.push(format!(
                                "privilege.escalate: expected true or false, found {}",
                                other.type_str()
                            )),
                            (key, _) => problems.push(format!("privilege.{key}: unknown key (known: escalate)")),
                        }
                    }
                }
                ("thresholds" | "rules" | "remediate" | "history" | "owners" | "privilege", other) => {
                    problems.push(format!("{key}: expected a table, found {}", other.type_str()))
                }
                (key, _) => problems.push(format!(
                    "{key}: unknown key (known: fail-on, thresholds, rules, remediate, suppress, scope, history, owners, privilege)"
                )),
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.join("; "))
        }
    }

    /// Applies the file over `settings` (defaults first; flags are applied after this).
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(fail_on) = self.fail_on {
            settings.fail_on = fail_on;
        }
        for &(threshold, days) in &self.thresholds {
            settings.rules.thresholds.set(threshold, days);
        }
        for &(rule, level) in &self.levels {
            settings.rules.levels.insert(rule, level);
        }
        settings.suppressions.extend(self.suppressions.iter().cloned());
        if let Some(path) = &self.history {
            settings.history = Some(path.clone());
        }
        if let Some(keys) = &self.owner_tag_keys {
            settings.rules.owner_tag_keys = keys.clone();
        }
        if let Some(on) = self.escalate_privileged {
            settings.rules.escalate_privileged = on;
        }
        settings.rules.scopes.extend(self.scopes.iter().cloned());
        for &(rule, action) in &self.remediate {
            // Validated in `parse`, so this cannot fail.
            let _ = settings.remediate.set(rule, action);
        }
    }
}

/// A table keyed by rule id with string values (`[rules]`, `[remediate]`): the entries that
/// parse, and a problem naming `section.key` for each one that does not.
fn rule_entries<T>(
    section: &str,
    table: &toml::Table,
    problems: &mut Vec<String>,
    parse: impl Fn(RuleId, &str) -> Result<T, String>,
) -> Vec<(RuleId, T)> {
    let mut entries = Vec::new();
    for (key, value) in table {
        let parsed = key.parse::<RuleId>().and_then(|rule| match value.as_str() {
            Some(text) => parse(rule, text).map(|parsed| (rule, parsed)),
            None => Err(format!("expected a string, found {value}")),
        });
        match parsed {
            Ok(entry) => entries.push(entry),
            Err(e) => problems.push(format!("{section}.{key}: {e}")),
        }
    }
    entries
}

/// One `[[scope]]` table (the `position`-th); errors start with `.key: ` (or `: `) to follow
/// `scope[N]`.
fn parse_scope(entry: &toml::Value, position: usize) -> Result<Scope, String> {
    let toml::Value::Table(table) = entry else {
        return Err(format!(": expected a table, found {}", entry.type_str()));
    };
    let mut scope = Scope { name: format!("scope[{position}]"), ..Scope::default() };
    for (key, value) in table {
        if let Some(threshold) = Threshold::ALL.into_iter().find(|t| t.key() == key) {
            match value.as_integer().map(u32::try_from) {
                Some(Ok(days)) if days <= MAX_THRESHOLD_DAYS => scope.thresholds.push((threshold, days)),
                _ => {
                    return Err(format!(
                    ".{key}: expected a whole number of days from 0 to {MAX_THRESHOLD_DAYS}, found {value}"
                ))
                }
            }
            continue;
        }
        if key == "rules" {
            let toml::Value::Table(rules) = value else {
                return Err(format!(
                    ".rules: expected a table like {{ key-unused = \"high\" }}, found {}",
                    value.type_str()
                ));
            };
            let mut problems = Vec::new();
            scope.levels = rule_entries("rules", rules, &mut problems, |_, text| text.parse());
            if let Some(problem) = problems.first() {
                return Err(format!(".{problem}"));
            }
            continue;
        }
        const MATCHERS: [&str; 5] = ["name", "account", "user", "path", "tag"];
        if !MATCHERS.contains(&key.as_str()) {
            return Err(format!(
                ".{key}: unknown key (known: name, account, user, path, tag, rules, and the thresholds)"
            ));
        }
        let text = value.as_str().ok_or_else(|| format!(".{key}: expected a string, found {value}"))?;
        match key.as_str() {
            "name" => scope.name = text.to_string(),
            "account" => scope.account = Some(text.to_string()),
            "user" => scope.user = Some(text.to_string()),
            "path" => scope.path = Some(text.to_string()),
            "tag" => {
                scope.tag = Some(match text.split_once('=') {
                    Some((key, value)) => (key.to_string(), Some(value.to_string())),
                    None => (text.to_string(), None),
                })
            }
            other => {
                return Err(format!(
                    ".{other}: unknown key (known: name, account, user, path, tag, rules, and the thresholds)"
                ))
            }
        }
    }
    if scope.account.is_none() && scope.user.is_none() && scope.path.is_none() && scope.tag.is_none() {
        return Err(": matches everything; give at least one of account, user, path, tag".into());
    }
    if scope.thresholds.is_empty() && scope.levels.is_empty() {
        return Err(": changes nothing; give a threshold or rules".into());
    }
    Ok(scope)
}

/// One `[[suppress]]` table; errors start with `.key: ` (or `: `) to follow `suppress[N]`.
fn parse_suppression(entry: &toml::Value) -> Result<Suppression, String> {
    let toml::Value::Table(table) = entry else {
        return Err(format!(": expected a table, found {}", entry.type_str()));
    };
    let mut suppression = Suppression {
        rule: None,
        account: None,
        user: None,
        key: None,
        finding: None,
        reason: String::new(),
        expires: None,
    };
    for (key, value) in table {
        let text = value.as_str().ok_or_else(|| format!(".{key}: expected a string, found {value}"))?;
        match key.as_str() {
            "rule" => suppression.rule = Some(text.parse().map_err(|e| format!(".rule: {e}"))?),
            "account" => suppression.account = Some(text.to_string()),
            "user" => suppression.user = Some(text.to_string()),
            "key" => suppression.key = Some(text.to_string()),
            "finding" => {
                suppression.finding = Some(FindingId::parse(text).map_err(|e| format!(".finding: {e}"))?)
            }
            "reason" => suppression.reason = text.trim().to_string(),
            "expires" => {
                suppression.expires = Some(
                    text.parse::<chrono::NaiveDate>()
                        .map_err(|_| format!(".expires: expected a date like 2027-01-31, found `{text}`"))?,
                )
            }
            other => {
                return Err(format!(
                    ".{other}: unknown key (known: rule, account, user, key, finding, reason, expires)"
                ))
            }
        }
    }
    if suppression.reason.is_empty() {
        return Err(".reason: required: say why the exception is accepted".to_string());
    }
    if suppression.rule.is_none()
        && suppression.account.is_none()
        && suppression.user.is_none()
        && suppression.key.is_none()
        && suppression.finding.is_none()
    {
        return Err(
            ": matches everything; give at least one of rule, account, user, key, finding".to_string()
        );
    }
    Ok(suppression)
}

/// The effective settings as a config file (`--dump-config`): every value spelled out, so
/// it can be saved and used as `--config`.
pub fn dump(settings: &Settings) -> String {
    let mut out = String::new();
    let thresholds: &Thresholds = &settings.rules.thresholds;
    let _ = writeln!(out, "fail-on = \"{}\"", settings.fail_on.as_str());
    let _ = writeln!(out, "\n[thresholds]");
    for threshold in Threshold::ALL {
        let _ = writeln!(out, "{} = {}", threshold.key(), thresholds.get(threshold));
    }
    let _ = writeln!(out, "\n[rules]");
    for rule in RULES {
        let _ = writeln!(out, "{} = \"{}\"", rule.id, settings.rules.level(rule.rule_id).as_str());
    }
    let _ = writeln!(out, "\n[remediate]");
    for rule in RULES {
        let action = settings.remediate.action(rule.rule_id);
        let _ = writeln!(out, "{} = \"{}\"", rule.id, action.map_or("none", |a| a.as_str()));
    }
    let tag_keys: Vec<toml::Value> =
        settings.rules.owner_tag_keys.iter().map(|key| toml::Value::String(key.clone())).collect();
    let _ = writeln!(out, "\n[owners]\ntag-keys = {}", toml::Value::Array(tag_keys));
    let _ = writeln!(out, "\n[privilege]\nescalate = {}", settings.rules.escalate_privileged);
    if let Some(path) = &settings.history {
        let _ = writeln!(out, "\n[history]\npath = {}", toml::Value::String(path.display().to_string()));
    }
    for scope in &settings.rules.scopes {
        let _ = writeln!(out, "\n[[scope]]");
        let _ = writeln!(out, "name = {}", toml::Value::String(scope.name.clone()));
        let tag = scope.tag.as_ref().map(|(key, value)| match value {
            Some(value) => format!("{key}={value}"),
            None => key.clone(),
        });
        for (name, value) in
            [("account", &scope.account), ("user", &scope.user), ("path", &scope.path), ("tag", &tag)]
        {
            if let Some(value) = value {
                let _ = writeln!(out, "{name} = {}", toml::Value::String(value.clone()));
            }
        }
        for (threshold, days) in &scope.thresholds {
            let _ = writeln!(out, "{} = {days}", threshold.key());
        }
        if !scope.levels.is_empty() {
            let levels: Vec<String> =
                scope.levels.iter().map(|(rule, level)| format!("{rule} = \"{}\"", level.as_str())).collect();
            let _ = writeln!(out, "rules = {{ {} }}", levels.join(", "));
        }
    }
    for suppression in &settings.suppressions {
        let _ = writeln!(out, "\n[[suppress]]");
        let fields = [
            ("rule", suppression.rule.map(|rule| rule.as_str().to_string())),
            ("account", suppression.account.clone()),
            ("user", suppression.user.clone()),
            ("key", suppression.key.clone()),
            ("finding", suppression.finding.as_ref().map(|id| id.to_string())),
            ("reason", Some(suppression.reason.clone())),
            ("expires", suppression.expires.map(|date| date.to_string())),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                let _ = writeln!(out, "{name} = {}", toml::Value::String(value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_applies_over_defaults() {
        let config = ConfigFile::parse(
            r#"
            fail-on = "high"
            [thresholds]
            unused-days = 60
            max-key-age-days = 0
            [rules]
            inactive-key-kept = "allow"
            key-unused = "critical"
            "#,
        )
        .unwrap();
        let mut settings = Settings::default();
        config.apply(&mut settings);
        assert_eq!(settings.fail_on, FailOn::AtOrAbove(Severity::High));
        assert_eq!(settings.rules.thresholds.unused_days, 60);
        assert_eq!(settings.rules.thresholds.max_key_age_days, 0);
        assert_eq!(settings.rules.thresholds.inactive_grace_days, 30);
        assert_eq!(settings.rules.level(RuleId::InactiveKeyKept), RuleLevel::Allow);
        assert_eq!(settings.rules.level(RuleId::KeyUnused), RuleLevel::Severity(Severity::Critical));
        assert_eq!(settings.rules.level(RuleId::KeyTooOld), RuleLevel::Severity(Severity::Medium));
    }

    #[test]
    fn every_problem_names_its_key() {
        let cases = [
            ("fail-on = \"sometimes\"", "fail-on: unknown level `sometimes`"),
            ("fail-on = 3", "fail-on: expected a string"),
            (
                "[thresholds]\nunused-days = -5",
                "thresholds.unused-days: expected a whole number of days (0 or more), found -5",
            ),
            ("[thresholds]\nunused-days = \"45\"", "thresholds.unused-days: expected a whole number"),
            ("[thresholds]\nunused-days = 4.5", "thresholds.unused-days: expected a whole number"),
            ("[thresholds]\nunused = 4", "thresholds.unused: unknown threshold"),
            (
                "[thresholds]\ninactive-grace-days = 4000000000",
                "thresholds.inactive-grace-days: at most 36500 days (100 years), found 4000000000",
            ),
            ("[rules]\nkey-old = \"high\"", "rules.key-old: unknown rule `key-old`"),
            ("[rules]\nkey-unused = \"severe\"", "rules.key-unused: unknown level `severe`"),
            ("rules = 1", "rules: expected a table"),
            ("[[suppress]]\nuser = \"bob\"", "suppress[1].reason: required"),
            ("[[suppress]]\nreason = \"x\"", "suppress[1]: matches everything"),
            ("[[suppress]]\nreason = \"x\"\nrule = \"nope\"", "suppress[1].rule: unknown rule `nope`"),
            (
                "[[suppress]]\nreason = \"x\"\nuser = \"a\"\nexpires = \"soon\"",
                "suppress[1].expires: expected a date",
            ),
            ("[[suppress]]\nreason = \"x\"\nusr = \"a\"", "suppress[1].usr: unknown key"),
            (
                "[[suppress]]\nreason = \"x\"\nfinding = \"key-unused:1\"",
                "suppress[1].finding: `key-unused:1` is not a finding id",
            ),
            ("suppress = 1", "suppress: expected an array of tables"),
            (
                "[remediate]\nkey-unused = \"delete\"",
                "remediate.key-unused: `delete` is not an action for key-unused",
            ),
            ("[remediate]\nkey-unused = \"burn\"", "remediate.key-unused: unknown action `burn`"),
            ("colour = \"red\"", "colour: unknown key"),
            ("[history]\npath = 3", "history.path: expected a file path"),
            ("[history]\nfile = \"h.db\"", "history.file: unknown key (known: path)"),
            ("history = \"h.db\"", "history: expected a table"),
            ("[owners]\ntag-keys = \"owner\"", "owners.tag-keys: expected a list of tag keys, found string"),
            ("[owners]\ntag-keys = []", "owners.tag-keys: expected a non-empty list"),
            ("[owners]\ntag-keys = [\"owner\", 3]", "owners.tag-keys: expected a non-empty list"),
            ("[owners]\ntags = [\"owner\"]", "owners.tags: unknown key (known: tag-keys)"),
            ("[privilege]\nescalate = \"yes\"", "privilege.escalate: expected true or false"),
            ("[[scope]]\nmax-key-age-days = 30", "scope[1]: matches everything"),
            ("[[scope]]\ntag = \"env=prod\"", "scope[1]: changes nothing"),
            (
                "[[scope]]\ntag = \"env=prod\"\nmax-key-age-days = -1",
                "scope[1].max-key-age-days: expected a whole number",
            ),
            (
                "[[scope]]\nuser = \"ci-*\"\nrules = { key-old = \"high\" }",
                "scope[1].rules.key-old: unknown rule",
            ),
            ("[[scope]]\nuser = \"ci-*\"\nmax-age = 3", "scope[1].max-age: unknown key"),
            ("fail-on = ", "invalid TOML at line 1"),
        ];
        for (text, expected) in cases {
            let error = ConfigFile::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: got {error:?}");
            assert!(!error.contains('\n'), "{text:?}: error spans lines: {error:?}");
        }
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let error = ConfigFile::parse("a = 1\nb = 2").unwrap_err();
        assert!(error.contains("a: unknown key") && error.contains("b: unknown key"), "{error}");
    }

    #[test]
    fn dump_round_trips_through_the_parser() {
        let mut settings = Settings { fail_on: FailOn::Never, ..Settings::default() };
        settings.history = Some(PathBuf::from("audits/history.db"));
        settings.rules.owner_tag_keys = vec!["email".into(), "owner".into()];
        settings.rules.escalate_privileged = false;
        settings.rules.scopes.push(Scope {
            name: "prod \"users\"".into(),
            tag: Some(("env".into(), Some("prod".into()))),
            path: Some("/service/".into()),
            thresholds: vec![(Threshold::MaxKeyAgeDays, 30)],
            levels: vec![(RuleId::KeyUnused, RuleLevel::Severity(Severity::High))],
            ..Scope::default()
        });
        settings.rules.thresholds.unused_days = 12;
        settings.rules.levels.insert(RuleId::TwoActiveKeys, RuleLevel::Allow);
        settings.remediate.set(RuleId::KeyTooOld, Some(Action::Deactivate)).unwrap();
        settings.remediate.set(RuleId::InactiveKeyKept, None).unwrap();
        settings.suppressions.push(Suppression {
            rule: Some(RuleId::KeyUnused),
            account: None,
            user: Some("ci-\"quoted\"*".into()),
            key: None,
            finding: Some(FindingId::parse("key-unused:111122223333:ci-x:AKIA1").unwrap()),
            reason: "SEC-1: accepted".into(),
            expires: Some("2027-01-31".parse().unwrap()),
        });
        let mut reread = Settings::default();
        ConfigFile::parse(&dump(&settings)).unwrap().apply(&mut reread);
        assert_eq!(reread.fail_on, settings.fail_on);
        assert_eq!(reread.rules.thresholds, settings.rules.thresholds);
        assert_eq!(reread.suppressions, settings.suppressions);
        assert_eq!(reread.history, settings.history);
        assert_eq!(reread.rules.owner_tag_keys, settings.rules.owner_tag_keys);
        assert_eq!(reread.rules.escalate_privileged, settings.rules.escalate_privileged);
        assert_eq!(reread.rules.scopes, settings.rules.scopes);

        for rule in RULES {
            assert_eq!(reread.rules.level(rule.rule_id), settings.rules.level(rule.rule_id), "{}", rule.id);
            assert_eq!(
                reread.remediate.action(rule.rule_id),
                settings.remediate.action(rule.rule_id),
                "{}",
                rule.id
            );
        }
    }
}
