//! Joining inventories: the slices of a sharded scan (`--shard K/N`, one per job of an
//! indexed job) into one inventory that evaluates and reports like a single scan.
//!
//! Fail closed, as everywhere: an account in two inputs is a contradiction, not something to
//! pick from (bad input, nothing is reported); a slice that is missing, or a failed call in any
//! slice, makes the merged inventory incomplete (exit 3), never a smaller clean one.

use crate::model::{Inventory, ScanError, Shard, INVENTORY_SCHEMA_VERSION};

/// Merges `inputs` (each named for error messages). Evaluation defaults to the latest
/// `collected_at` among them: the slices of one scheduled run finish within minutes of each
/// other, and judging a key at an instant before its own data was collected would be worse.
pub fn merge(inputs: Vec<(String, Inventory)>) -> Result<Inventory, String> {
    let Some(collected_at) = inputs.iter().map(|(_, inventory)| inventory.collected_at).max() else {
        return Err("nothing to merge".into());
    };
    let mut errors = shard_gaps(&inputs)?;
    let mut accounts = Vec::new();
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (name, inventory) in inputs {
        for account in inventory.accounts {
            if let Some(first) = seen.insert(account.account_id.clone(), name.clone()) {
                return Err(format!("account {} is in both {first} and {name}", account.account_id));
            }
            accounts.push(account);
        }
        errors.extend(inventory.errors);
    }
    accounts.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    Ok(Inventory { schema_version: INVENTORY_SCHEMA_VERSION, collected_at, accounts, errors, shard: None })
}

/// More slices than any scheduler's indexed job would run; a larger count is a broken file.
const MAX_SHARDS: u32 = 10_000;

/// For sharded inputs: every slice 1..=N once, all of the same N. A missing slice is an error
/// row (the merged inventory is incomplete); two inputs claiming one slice, slices of
/// different N, or sharded and unsharded inputs mixed are bad input.
fn shard_gaps(inputs: &[(String, Inventory)]) -> Result<Vec<ScanError>, String> {
    let shards: Vec<(&str, Option<Shard>)> =
        inputs.iter().map(|(name, inventory)| (name.as_str(), inventory.shard)).collect();
    let Some(count) = shards.iter().find_map(|(_, shard)| shard.map(|s| s.count)) else {
        return Ok(Vec::new());
    };
    if !(1..=MAX_SHARDS).contains(&count) {
        return Err(format!("a sharded scan of {count} slices cannot be right (1 to {MAX_SHARDS})"));
    }
    let mut seen: Vec<Option<&str>> = vec![None; count as usize];
    for (name, shard) in shards {
        let shard =
            shard.ok_or_else(|| format!("{name} is not a slice of a sharded scan; the others are"))?;
        if shard.index == 0 || shard.index > shard.count {
            return Err(format!("{name} claims slice {shard}, which cannot be"));
        }
        if shard.count != count {
            return Err(format!("{name} is slice {shard}, the others are slices of {count}"));
        }
        let slot = &mut seen[shard.index as usize - 1];
        if let Some(first) = slot.replace(name) {
            return Err(format!("{first} and {name} are both slice {shard}"));
        }
    }
    Ok(seen
        .iter()
        .enumerate()
        .filter(|(_, name)| name.is_none())
        .map(|(index, _)| ScanError {
            account_id: None,
            user_name: None,
            access_key_id: None,
            operation: "Merge".into(),
            code: "MissingShard".into(),
            message: format!(
                "slice {} of the sharded scan is missing: its accounts are not in this report",
                Shard { index: index as u32 + 1, count }
            ),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::model::Account;

    fn slice(index: u32, count: u32, accounts: &[&str], at: &str) -> Inventory {
        Inventory {
            schema_version: 1,
            collected_at: at.parse::<DateTime<Utc>>().unwrap(),
            accounts: accounts
                .iter()
                .map(|id| Account {
                    account_id: id.to_string(),
                    users: vec![],
                    root: None,
                    credential_report_generated_at: None,
                })
                .collect(),
            errors: vec![],
            shard: Some(Shard { index, count }),
        }
    }

    fn named(inventories: Vec<Inventory>) -> Vec<(String, Inventory)> {
        inventories.into_iter().enumerate().map(|(i, inv)| (format!("s{}.json", i + 1), inv)).collect()
    }

    #[test]
    fn joins_every_slice_into_one_complete_inventory() {
        let merged = merge(named(vec![
            slice(2, 2, &["222222222222"], "2026-11-30T10:05:00Z"),
            slice(1, 2, &["333333333333", "111111111111"], "2026-11-30T10:00:00Z"),
        ]))
        .unwrap();
        let ids: Vec<&str> = merged.accounts.iter().map(|a| a.account_id.as_str()).collect();
        assert_eq!(ids, ["111111111111", "222222222222", "333333333333"]);
        assert!(merged.is_complete());
        assert_eq!(merged.collected_at.to_rfc3339(), "2026-11-30T10:05:00+00:00", "the latest");
        assert_eq!(merged.shard, None);
    }

    #[test]
    fn a_missing_slice_or_a_failed_call_makes_it_incomplete() {
        let mut second = slice(2, 3, &["222222222222"], "2026-11-30T10:00:00Z");
        second.errors.push(ScanError {
            account_id: Some("222222222222".into()),
            user_name: None,
            access_key_id: None,
            operation: "ListUsers".into(),
            code: "Throttling".into(),
            message: "Rate exceeded".into(),
        });
        let merged =
            merge(named(vec![slice(1, 3, &["111111111111"], "2026-11-30T10:00:00Z"), second])).unwrap();
        let codes: Vec<&str> = merged.errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["MissingShard", "Throttling"]);
        assert!(merged.errors[0].message.contains("slice 3/3"), "{}", merged.errors[0].message);
    }

    #[test]
    fn contradictions_are_refused() {
        let at = "2026-11-30T10:00:00Z";
        let cases = [
            (vec![slice(1, 2, &["111111111111"], at), slice(2, 2, &["111111111111"], at)], "is in both"),
            (vec![slice(1, 2, &["111111111111"], at), slice(1, 2, &["222222222222"], at)], "both slice 1/2"),
            (vec![slice(1, 2, &["111111111111"], at), slice(2, 3, &["222222222222"], at)], "slices of 2"),
        ];
        for (inputs, expected) in cases {
            let error = merge(named(inputs)).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let mut unsharded = slice(1, 2, &["222222222222"], at);
        unsharded.shard = None;
        let error = merge(named(vec![slice(1, 2, &["111111111111"], at), unsharded])).unwrap_err();
        assert!(error.contains("not a slice"), "{error}");
        let error = merge(named(vec![slice(3, 2, &["111111111111"], at)])).unwrap_err();
        assert!(error.contains("cannot be"), "{error}");
        let error = merge(named(vec![slice(1, u32::MAX, &["111111111111"], at)])).unwrap_err();
        assert!(error.contains("cannot be right"), "{error}");
    }
}
