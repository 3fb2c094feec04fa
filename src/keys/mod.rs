//! `keyaudit keys`: the access-key lifecycle from the reference workflow (list, create,
//! deactivate, reactivate, delete, rotate), made safe to script.
//!
//! Safety rules, all enforced here rather than left to the caller:
//! - a secret is written only where the user asked (`--secret-file`, created new with mode
//!   0600, or `--show-secret`), never in a log, report or error; the destination is prepared
//!   before the key exists, so a secret can never be created and then lost;
//! - every key id is checked to belong to the named user before anything changes;
//! - delete takes an inactive key only (unless `--force`): deactivate first, delete when sure;
//! - rotate never deletes an active key, and deletes an inactive one only with
//!   `--delete-inactive` and only to free the slot the new key needs;
//! - `--dry-run` prints the same steps without calling any mutating API.

mod ops;
mod secret;

/// Mocked IAM for other modules' tests (remediate's apply).
#[cfg(test)]
pub(crate) use ops::tests as mocks;
pub use ops::{KeyOps, OpError};
pub use secret::{Secret, SecretSink};

use crate::model::{AccessKey, KeyStatus};

/// One change to a key, as planned or done. Shown to the user; holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Create,
    Deactivate(String),
    Activate(String),
    Delete(String),
}

impl Step {
    pub fn describe(&self, user: &str) -> String {
        match self {
            Step::Create => format!("create a new access key for user {user}"),
            Step::Deactivate(id) => format!("deactivate access key {id} of user {user}"),
            Step::Activate(id) => format!("activate access key {id} of user {user}"),
            Step::Delete(id) => format!("delete access key {id} of user {user}"),
        }
    }
}

/// Why a command will not run: the user must change something. Exit 2; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// IAM allows two access keys per user; this is a hard limit.
pub const KEYS_PER_USER: usize = 2;

fn describe_keys(keys: &[AccessKey]) -> String {
    keys.iter()
        .map(|key| {
            format!(
                "{} ({}, created {})",
                key.access_key_id,
                key.status.as_str(),
                key.created.format("%Y-%m-%d")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The key `key_id` among `user`'s keys, or a refusal that says whose it is not.
pub fn find_key<'a>(user: &str, keys: &'a [AccessKey], key_id: &str) -> Result<&'a AccessKey, Refusal> {
    keys.iter().find(|key| key.access_key_id == key_id).ok_or_else(|| {
        Refusal(format!(
            "access key {key_id} is not a key of user {user} (its keys: {}); nothing changed",
            if keys.is_empty() { "none".to_string() } else { describe_keys(keys) }
        ))
    })
}

/// `create`: refused at the two-key limit, with what to do about it.
pub fn plan_create(user: &str, keys: &[AccessKey]) -> Result<Vec<Step>, Refusal> {
    if keys.len() >= KEYS_PER_USER {
        return Err(at_limit(user, keys, false));
    }
    Ok(vec![Step::Create])
}

fn at_limit(user: &str, keys: &[AccessKey], rotating: bool) -> Refusal {
    let inactive = keys.iter().find(|key| key.status == KeyStatus::Inactive);
    let advice = match (inactive, rotating) {
        (Some(key), true) => format!(
            "add --delete-inactive to delete the inactive key {} first, or delete it yourself",
            key.access_key_id
        ),
        (Some(key), false) => format!(
            "delete the inactive key first: keyaudit keys delete --user {user} --key {}",
            key.access_key_id
        ),
        (None, _) => format!(
            "both are active: deactivate the one no longer in use (keyaudit keys deactivate --user {user} --key ID), \
             delete it when nothing breaks, then try again"
        ),
    };
    Refusal(format!(
        "user {user} already has {KEYS_PER_USER} access keys ({}), IAM's hard limit (AccessKeysPerUser: \
         {KEYS_PER_USER}); {advice}",
        describe_keys(keys)
    ))
}

/// `deactivate` / `activate`: the key must be the user's; a no-op if already in that state.
pub fn plan_set_status(
    user: &str,
    keys: &[AccessKey],
    key_id: &str,
    to: KeyStatus,
) -> Result<Vec<Step>, Refusal> {
    let key = find_key(user, keys, key_id)?;
    if key.status == to {
        return Ok(Vec::new());
    }
    Ok(vec![match to {
        KeyStatus::Active => Step::Activate(key_id.to_string()),
        KeyStatus::Inactive => Step::Deactivate(key_id.to_string()),
    }])
}

/// `delete`: only an inactive key, unless forced.
pub fn plan_delete(user: &str, keys: &[AccessKey], key_id: &str, force: bool) -> Result<Vec<Step>, Refusal> {
    let key = find_key(user, keys, key_id)?;
    if key.status == KeyStatus::Active && !force {
        return Err(Refusal(format!(
            "access key {key_id} of user {user} is active; deactivate it first (keyaudit keys deactivate --user {user} \
             --key {key_id}) and delete it once nothing breaks, or pass --force"
        )));
    }
    Ok(vec![Step::Delete(key_id.to_string())])
}

/// `rotate`: free a slot if asked (inactive keys only), create, then deactivate the old
/// active key unless it is kept for a cut-over window. Never deletes in the same step as a
/// deactivation.
pub fn plan_rotate(
    user: &str,
    keys: &[AccessKey],
    delete_inactive: bool,
    keep_old_active: bool,
) -> Result<Vec<Step>, Refusal> {
    let mut steps = Vec::new();
    let mut remaining: Vec<&AccessKey> = keys.iter().collect();
    if keys.len() >= KEYS_PER_USER {
        let oldest_inactive =
            keys.iter().filter(|key| key.status == KeyStatus::Inactive).min_by_key(|key| key.created);
        match (delete_inactive, oldest_inactive) {
            (true, Some(key)) => {
                steps.push(Step::Delete(key.access_key_id.clone()));
                remaining.retain(|k| k.access_key_id != key.access_key_id);
            }
            _ => return Err(at_limit(user, keys, true)),
        }
    }
    steps.push(Step::Create);
    if !keep_old_active {
        for key in remaining.iter().filter(|key| key.status == KeyStatus::Active) {
            steps.push(Step::Deactivate(key.access_key_id.clone()));
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyStatus::*, LastUsed};

    fn key(id: &str, status: KeyStatus, created: &str) -> AccessKey {
        AccessKey {
            access_key_id: id.into(),
            status,
            created: format!("{created}T00:00:00Z").parse().unwrap(),
            last_used: LastUsed::Never,
        }
    }

    #[test]
    fn create_is_refused_at_the_limit_with_advice() {
        assert_eq!(plan_create("u", &[key("A", Active, "2026-01-01")]), Ok(vec![Step::Create]));
        let both_active = [key("A", Active, "2026-01-01"), key("B", Active, "2026-02-01")];
        let err = plan_create("u", &both_active).unwrap_err().0;
        assert!(
            err.contains("AccessKeysPerUser: 2") && err.contains("A (Active") && err.contains("deactivate"),
            "{err}"
        );
        let one_inactive = [key("A", Active, "2026-01-01"), key("B", Inactive, "2026-02-01")];
        let err = plan_create("u", &one_inactive).unwrap_err().0;
        assert!(err.contains("keyaudit keys delete --user u --key B"), "{err}");
    }

    #[test]
    fn keys_of_other_users_are_refused() {
        let keys = [key("A", Active, "2026-01-01")];
        let err = plan_set_status("u", &keys, "OTHER", Inactive).unwrap_err().0;
        assert!(err.contains("OTHER is not a key of user u"), "{err}");
        assert_eq!(plan_set_status("u", &keys, "A", Inactive), Ok(vec![Step::Deactivate("A".into())]));
        assert_eq!(plan_set_status("u", &keys, "A", Active), Ok(vec![]), "already active: nothing to do");
    }

    #[test]
    fn delete_takes_inactive_keys_unless_forced() {
        let keys = [key("A", Active, "2026-01-01"), key("B", Inactive, "2026-02-01")];
        assert!(plan_delete("u", &keys, "A", false).unwrap_err().0.contains("is active"));
        assert_eq!(plan_delete("u", &keys, "A", true), Ok(vec![Step::Delete("A".into())]));
        assert_eq!(plan_delete("u", &keys, "B", false), Ok(vec![Step::Delete("B".into())]));
    }

    #[test]
    fn rotate_plans() {
        let one = [key("OLD", Active, "2026-01-01")];
        assert_eq!(
            plan_rotate("u", &one, false, false),
            Ok(vec![Step::Create, Step::Deactivate("OLD".into())])
        );
        assert_eq!(plan_rotate("u", &one, false, true), Ok(vec![Step::Create]));
        assert_eq!(plan_rotate("u", &[], false, false), Ok(vec![Step::Create]));

        let full = [key("OLD", Active, "2026-01-01"), key("GONE", Inactive, "2025-06-01")];
        let err = plan_rotate("u", &full, false, false).unwrap_err().0;
        assert!(err.contains("--delete-inactive") && err.contains("GONE"), "{err}");
        assert_eq!(
            plan_rotate("u", &full, true, false),
            Ok(vec![Step::Delete("GONE".into()), Step::Create, Step::Deactivate("OLD".into())])
        );

        let both_active = [key("A", Active, "2026-01-01"), key("B", Active, "2026-02-01")];
        let err = plan_rotate("u", &both_active, true, false).unwrap_err().0;
        assert!(err.contains("both are active"), "never deletes an active key: {err}");

        let both_inactive = [key("I1", Inactive, "2025-01-01"), key("I2", Inactive, "2025-06-01")];
        assert_eq!(
            plan_rotate("u", &both_inactive, true, false),
            Ok(vec![Step::Delete("I1".into()), Step::Create])
        );
    }
}
