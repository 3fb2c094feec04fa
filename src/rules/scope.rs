//! Scoped thresholds: `[[scope]]` entries that override thresholds and rule levels for the
//! users they match (break-glass users 365 days, prod users stricter).
//!
//! A scope matches by any of `account` (glob), `user` (glob), `path` (prefix of the user's
//! IAM path) and `tag` (`key=value`, or `key` for any value), all given ones at once. The
//! **most specific** matching scope applies: the one with the most of those four given; among
//! equally specific ones, the first in the file. Only one scope applies to a user (no
//! merging), so what applied is one name in the report. Tags are known only from the user's
//! details: a `tag` scope never matches a user whose details could not be read (the report
//! says which scope applied to each finding, so a missing one shows).

use crate::finding::RuleId;
use crate::model::{Account, User};
use crate::suppress::glob_match;

use super::{RuleLevel, RuleSettings, Threshold, Thresholds};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// How reports name it; `scope[N]` (its position, from 1) when not given.
    pub name: String,
    pub account: Option<String>,
    pub user: Option<String>,
    pub path: Option<String>,
    /// `(key, Some(value))` for `key=value`, `(key, None)` for any value.
    pub tag: Option<(String, Option<String>)>,
    pub thresholds: Vec<(Threshold, u32)>,
    pub levels: Vec<(RuleId, RuleLevel)>,
}

impl Scope {
    fn specificity(&self) -> usize {
        [self.account.is_some(), self.user.is_some(), self.path.is_some(), self.tag.is_some()]
            .into_iter()
            .filter(|given| *given)
            .count()
    }

    /// Whether it applies to `user` of `account` (`None`: the account as a whole, its root
    /// user; only an account-only scope applies there).
    fn matches(&self, account: &Account, user: Option<&User>) -> bool {
        if self.account.as_deref().is_some_and(|pattern| !glob_match(pattern, &account.account_id)) {
            return false;
        }
        let Some(user) = user else {
            return self.user.is_none() && self.path.is_none() && self.tag.is_none();
        };
        self.user.as_deref().is_none_or(|pattern| glob_match(pattern, &user.user_name))
            && self.path.as_deref().is_none_or(|prefix| user.path.starts_with(prefix))
            && self.tag.as_ref().is_none_or(|(key, value)| {
                let tags = user.details.as_ref().map(|details| &details.tags);
                match (tags.and_then(|tags| tags.get(key)), value) {
                    (Some(found), Some(value)) => found == value,
                    (Some(_), None) => true,
                    (None, _) => false,
                }
            })
    }

    /// `tag=env=prod user=ci-*`: how `--dump-config` and messages show its matchers.
    pub fn selector(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in [("account", &self.account), ("user", &self.user), ("path", &self.path)] {
            if let Some(value) = value {
                parts.push(format!("{name}={value}"));
            }
        }
        if let Some((key, value)) = &self.tag {
            parts.push(match value {
                Some(value) => format!("tag={key}={value}"),
                None => format!("tag={key}"),
            });
        }
        parts.join(" ")
    }
}

/// The settings that apply to one user (or the account's root): the base settings with the
/// most specific matching scope's overrides, and that scope's name.
pub struct Effective<'a> {
    pub thresholds: Thresholds,
    settings: &'a RuleSettings,
    scope: Option<&'a Scope>,
}

impl<'a> Effective<'a> {
    pub fn of(settings: &'a RuleSettings, account: &Account, user: Option<&User>) -> Effective<'a> {
        let mut best: Option<&Scope> = None;
        for scope in settings.scopes.iter().filter(|scope| scope.matches(account, user)) {
            if best.is_none_or(|best| scope.specificity() > best.specificity()) {
                best = Some(scope);
            }
        }
        let mut thresholds = settings.thresholds;
        for &(threshold, days) in best.map(|scope| scope.thresholds.as_slice()).unwrap_or_default() {
            thresholds.set(threshold, days);
        }
        Effective { thresholds, settings, scope: best }
    }

    pub fn level(&self, rule: RuleId) -> RuleLevel {
        self.scope
            .and_then(|scope| scope.levels.iter().find(|(id, _)| *id == rule).map(|(_, level)| *level))
            .unwrap_or_else(|| self.settings.level(rule))
    }

    pub fn scope_name(&self) -> Option<String> {
        self.scope.map(|scope| scope.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{evaluate, RuleSettings};
    use super::*;
    use crate::finding::Severity;
    use crate::model::{Inventory, KeyStatus, LastUsed, UserDetails};

    fn scope(name: &str, edit: impl FnOnce(&mut Scope)) -> Scope {
        let mut scope = Scope { name: name.into(), ..Scope::default() };
        edit(&mut scope);
        scope
    }

    fn inventory() -> Inventory {
        let mut prod = user(vec![key("PROD", KeyStatus::Active, 60, used(1))]);
        prod.user_name = "deploy".into();
        let tags = [("env", "prod"), ("team", "deploy")].map(|(k, v)| (k.to_string(), v.to_string()));
        prod.details = Some(UserDetails { tags: tags.into(), ..Default::default() });
        let mut glass = user(vec![key("GLASS", KeyStatus::Active, 200, LastUsed::Never)]);
        glass.user_name = "break-glass-1".into();
        glass.path = "/emergency/".into();
        Inventory {
            schema_version: 1,
            collected_at: as_of(),
            accounts: vec![Account {
                account_id: "111122223333".into(),
                users: vec![prod, glass, user(vec![key("PLAIN", KeyStatus::Active, 100, used(1))])],
                root: None,
                credential_report_generated_at: None,
            }],
            errors: vec![],
            shard: None,
        }
    }

    #[test]
    fn the_most_specific_scope_applies_and_findings_name_it() {
        let settings = RuleSettings {
            scopes: vec![
                // Prod users: keys older than 30 days, and high.
                scope("prod", |s| {
                    s.tag = Some(("env".into(), Some("prod".into())));
                    s.thresholds = vec![(Threshold::MaxKeyAgeDays, 30)];
                    s.levels = vec![(RuleId::KeyTooOld, RuleLevel::Severity(Severity::High))];
                }),
                // Break-glass users: a year, and never key-unused.
                scope("break-glass", |s| {
                    s.user = Some("break-glass-*".into());
                    s.thresholds = vec![(Threshold::MaxKeyAgeDays, 365)];
                    s.levels = vec![(RuleId::KeyUnused, RuleLevel::Allow)];
                }),
                // More specific than break-glass (two matchers): wins for the same user.
                scope("emergency-break-glass", |s| {
                    s.user = Some("break-glass-*".into());
                    s.path = Some("/emergency/".into());
                    s.thresholds = vec![(Threshold::MaxKeyAgeDays, 400)];
                }),
            ],
            ..RuleSettings::default()
        };
        let findings = evaluate(&inventory(), &settings, as_of());
        let got: Vec<(&str, &str, Severity, Option<&str>)> = findings
            .iter()
            .map(|f| {
                (f.rule.as_str(), f.access_key_id.as_deref().unwrap_or("-"), f.severity, f.scope.as_deref())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("key-too-old", "PROD", Severity::High, Some("prod")),
                // The 200-day never-used key: within 400 days, but key-unused is not turned off
                // by the scope that applies (only one scope applies, the most specific).
                ("key-unused", "GLASS", Severity::Medium, Some("emergency-break-glass")),
                ("key-too-old", "PLAIN", Severity::Medium, None),
            ]
        );
    }

    #[test]
    fn a_tag_scope_never_matches_unknown_details_and_root_only_account_scopes() {
        let settings = RuleSettings {
            scopes: vec![scope("prod", |s| s.tag = Some(("env".into(), None)))],
            ..RuleSettings::default()
        };
        let inventory = inventory();
        let account = &inventory.accounts[0];
        assert_eq!(
            Effective::of(&settings, account, Some(&account.users[0])).scope_name().as_deref(),
            Some("prod")
        );
        assert_eq!(
            Effective::of(&settings, account, Some(&account.users[2])).scope_name(),
            None,
            "no details"
        );
        assert_eq!(Effective::of(&settings, account, None).scope_name(), None, "root: account scopes only");
        let settings = RuleSettings {
            scopes: vec![scope("acct", |s| s.account = Some("1111*".into()))],
            ..RuleSettings::default()
        };
        assert_eq!(Effective::of(&settings, account, None).scope_name().as_deref(), Some("acct"));
    }
}
