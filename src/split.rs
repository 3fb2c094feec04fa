//! `--split-by owner`: one report per owner, so a job can mail or ticket each team its own
//! list. Pure: which users and findings go to which owner, and the file name each owner gets.
//!
//! File names are made from tag values, which IAM lets hold anything (`../..`, `/abs`,
//! newlines). A name keeps only `A-Z a-z 0-9 . _ - + = , @` (no `..`), never starts with a dot, is at
//! most 64 characters, and ends with a hash of the exact owner value, so no name leaves the
//! directory, none holds a control character, and two owners never share a file (`a/b` and
//! `a_b` clean to the same text but not the same hash). The owner-less report is `unowned`,
//! which no owner's name can be (they all end with a hash).

use std::collections::BTreeMap;

use crate::finding::Finding;
use crate::model::Inventory;
use crate::rules::owner_of;

/// The file stem for `owner` (`None`: the findings nobody owns, or whose owner is unknown).
pub fn file_stem(owner: Option<&str>) -> String {
    let Some(owner) = owner else {
        return "unowned".to_string();
    };
    let clean: String = owner
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-+=,@".contains(c) { c } else { '_' })
        .take(64)
        .collect();
    // No `..` anywhere (harmless without a `/`, but never worth explaining).
    let mut clean = clean;
    while clean.contains("..") {
        clean = clean.replace("..", ".");
    }
    let clean = clean.trim_start_matches('.');
    format!("{}{}{:016x}", clean, if clean.is_empty() { "" } else { "-" }, fnv1a(owner.as_bytes()))
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Each owner's slice: the inventory with only its users (accounts kept, for scope and root)
/// and its findings. Unowned findings (no owner tag, details unknown, the root user) go to
/// `None`, always present.
pub fn by_owner(
    inventory: &Inventory,
    findings: &[Finding],
    tag_keys: &[String],
) -> BTreeMap<Option<String>, (Inventory, Vec<Finding>)> {
    let mut owners: BTreeMap<Option<String>, (Inventory, Vec<Finding>)> = BTreeMap::new();
    // Every account kept (its scope and root), with no users yet.
    let skeleton = Inventory {
        accounts: inventory
            .accounts
            .iter()
            .map(|account| crate::model::Account { users: Vec::new(), ..account.clone() })
            .collect(),
        ..inventory.clone()
    };
    owners.insert(None, (skeleton.clone(), Vec::new()));
    for (index, account) in inventory.accounts.iter().enumerate() {
        for user in &account.users {
            let owner = owner_of(user, tag_keys).map(str::to_string);
            let slot = owners.entry(owner).or_insert_with(|| (skeleton.clone(), Vec::new()));
            slot.0.accounts[index].users.push(user.clone());
        }
    }
    for finding in findings {
        let slot = owners.entry(finding.owner.clone()).or_insert_with(|| (skeleton.clone(), Vec::new()));
        slot.1.push(finding.clone());
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_directory_and_never_collide() {
        let owners = [
            "alice@example.com",
            "../../etc/passwd",
            "/abs",
            "line\nbreak",
            "a/b",
            "a_b",
            ".hidden",
            "",
            "é",
        ];
        let mut seen = std::collections::BTreeSet::new();
        for owner in owners {
            let stem = file_stem(Some(owner));
            assert!(seen.insert(stem.clone()), "{owner:?} collides: {stem}");
            assert!(!stem.starts_with('.') && !stem.contains('/') && !stem.contains(".."), "{stem}");
            assert!(stem.chars().all(|c| c.is_ascii_alphanumeric() || "._-+=,@".contains(c)), "{stem}");
            assert!(stem.len() <= 64 + 17, "{stem}");
            assert_ne!(stem, "unowned");
        }
        assert_eq!(file_stem(None), "unowned");
        assert!(file_stem(Some("alice@example.com")).starts_with("alice@example.com-"));
        assert_eq!(file_stem(Some("team")), file_stem(Some("team")), "stable");
    }
}
