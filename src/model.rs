//! The inventory: what a crawl found, as plain serde data.
//!
//! Everything downstream (rules, reports) works from this type alone, so an inventory saved
//! with `--save-inventory` evaluates exactly like a live scan. The one design decision worth
//! knowing: a key's last use is a three-state value. "Never used" and "we could not find
//! out" are different facts, and only the first may ever count as evidence (fail closed).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Bumped whenever a saved inventory stops being readable by an older keyaudit.
pub const INVENTORY_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub schema_version: u32,
    /// When the data was collected. Evaluation defaults to this instant (see `--as-of`).
    pub collected_at: DateTime<Utc>,
    pub accounts: Vec<Account>,
    /// Calls that failed after retries. Non-empty means the inventory is incomplete.
    #[serde(default)]
    pub errors: Vec<ScanError>,
    /// Set when this inventory is one slice of a sharded scan (`--shard K/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

/// Slice `index` (1-based) of `count` of an account list. An account belongs to the slice
/// its id falls in (`id mod count`), so slices stay stable as an Organization grows: a new
/// account joins one slice, the others keep theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn owns(&self, account_id: &str) -> bool {
        // Account ids are 12 digits; anything else (checked at the edge) falls back to a
        // stable byte hash rather than to one slice.
        let number = account_id.parse::<u64>().unwrap_or_else(|_| {
            account_id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            })
        });
        number % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Inventory {
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }

    /// The accounts whose data is whole: in the inventory and named by no error. An error
    /// that names no account says nothing about the accounts present (a merge's missing
    /// shard holds other accounts; a failed GetCallerIdentity leaves none).
    pub fn complete_accounts(&self) -> std::collections::BTreeSet<&str> {
        let failed: std::collections::HashSet<&str> =
            self.errors.iter().filter_map(|e| e.account_id.as_deref()).collect();
        self.accounts.iter().map(|a| a.account_id.as_str()).filter(|id| !failed.contains(id)).collect()
    }

    /// Every key with its account and user, in inventory order.
    pub fn keys(&self) -> impl Iterator<Item = (&Account, &User, &AccessKey)> {
        self.accounts.iter().flat_map(|account| {
            account.users.iter().flat_map(move |user| user.keys.iter().map(move |key| (account, user, key)))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub account_id: String,
    pub users: Vec<User>,
    /// What is known about the root user's access keys; `None` if it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    /// Set when keys' last use came from a credential report: when it was generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_report_generated_at: Option<DateTime<Utc>>,
}

/// The root user's access keys (from GetAccountSummary, or a credential report's
/// `<root_account>` row, which also gives their status, dates and last use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    pub access_keys_present: bool,
    /// Known only from a credential report (ids `slot 1`, `slot 2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<AccessKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub user_name: String,
    pub path: String,
    pub arn: String,
    pub created: DateTime<Utc>,
    pub keys: Vec<AccessKey>,
    /// Tags, groups and privilege (GetAccountAuthorizationDetails). `None`: not read
    /// (`--no-details`, a credential report) or could not be read (see `errors`): the owner
    /// and privilege are unknown, never "none".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<UserDetails>,
}

/// What a user's details say about who owns it and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDetails {
    /// The user's tags, exactly as IAM has them.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// The groups the user is in.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Why the user is privileged (`AdministratorAccess via group admins`); empty when it
    /// is not. See `crate::privilege`.
    #[serde(default)]
    pub privileged_via: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    pub access_key_id: String,
    pub status: KeyStatus,
    pub created: DateTime<Utc>,
    pub last_used: LastUsed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// What IAM's GetAccessKeyLastUsed said about a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LastUsed {
    /// IAM has no record of the key ever being used.
    Never,
    /// Last used at `date`, by `service` in `region` (either may be unknown to IAM).
    At { date: DateTime<Utc>, service: Option<String>, region: Option<String> },
    /// The lookup failed; the matching entry in `Inventory::errors` says why.
    Unknown,
}

impl LastUsed {
    pub fn date(&self) -> Option<DateTime<Utc>> {
        match self {
            LastUsed::At { date, .. } => Some(*date),
            LastUsed::Never | LastUsed::Unknown => None,
        }
    }
}

/// A call that still failed after the SDK's retries. Never swallowed: it makes the scan
/// incomplete and exits 3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanError {
    /// `None` only when the account itself could not be identified.
    pub account_id: Option<String>,
    pub user_name: Option<String>,
    pub access_key_id: Option<String>,
    /// The IAM/STS operation, e.g. `ListAccessKeys`.
    pub operation: String,
    /// The service's error code (`Throttling`, `AccessDenied`) or the kind of transport
    /// failure (`DispatchFailure`, `Timeout`).
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn shards_split_accounts_into_disjoint_stable_slices() {
        let ids: Vec<String> = (0..1000u64).map(|i| format!("{:012}", 123_456_789_012 + i * 7919)).collect();
        let count = 8;
        let mut owners = vec![0; ids.len()];
        for index in 1..=count {
            let shard = Shard { index, count };
            let mine = ids.iter().filter(|id| shard.owns(id)).count();
            assert!((100..=150).contains(&mine), "slice {shard} has {mine} of 1000");
            for (i, id) in ids.iter().enumerate() {
                owners[i] += usize::from(shard.owns(id));
            }
        }
        assert!(owners.iter().all(|&n| n == 1), "every account in exactly one slice");
        assert!(Shard { index: 1, count: 1 }.owns("not-a-number"), "one slice owns everything");
    }

    #[test]
    fn an_account_is_complete_when_no_error_names_it() {
        use super::{Account, Inventory, ScanError};
        let account = |id: &str| Account {
            account_id: id.into(),
            users: vec![],
            root: None,
            credential_report_generated_at: None,
        };
        let error = |account: Option<&str>| ScanError {
            account_id: account.map(str::to_string),
            user_name: None,
            access_key_id: None,
            operation: "ListAccessKeys".into(),
            code: "AccessDenied".into(),
            message: "denied".into(),
        };
        let inventory = Inventory {
            schema_version: 1,
            collected_at: chrono::Utc::now(),
            accounts: vec![account("111111111111"), account("222222222222"), account("333333333333")],
            // One account's call failed, one account was never reached, and a merge lacks a shard.
            errors: vec![error(Some("222222222222")), error(Some("444444444444")), error(None)],
            shard: None,
        };
        assert!(!inventory.is_complete());
        assert_eq!(
            inventory.complete_accounts().into_iter().collect::<Vec<_>>(),
            ["111111111111", "333333333333"]
        );
    }
}
