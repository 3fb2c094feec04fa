//! The history benchmark's data: a synthetic account of 5,000 users and 7,500 keys that lives
//! through a year of daily scans with realistic churn, written as keyaudit inventories.
//!
//! Churn per day (deterministic, from a fixed seed): 3 keys rotated (a new key, the old one
//! deactivated and deleted a week later), 2 users created with a key, 2 users deleted with
//! theirs. Key use: 60% of keys are used every day (their last-used date moves daily, the
//! worst case for storing key states), 25% every 20 days or so, 15% never.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

pub const ACCOUNT_ID: &str = "123456789012";

/// How a key is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Daily,
    Sometimes,
    Never,
}

#[derive(Debug, Clone)]
struct Key {
    id: String,
    active: bool,
    created: DateTime<Utc>,
    last_used: Option<DateTime<Utc>>,
    usage: Use,
    /// Deactivated by a rotation on this day: deleted a week later.
    retired_on: Option<i64>,
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    created: DateTime<Utc>,
    keys: Vec<Key>,
}

/// A year of one account, one day at a time.
pub struct Account {
    start: DateTime<Utc>,
    day: i64,
    users: Vec<User>,
    next_user: usize,
    next_key: usize,
    rng: u64,
}

impl Account {
    pub fn new(users: usize, start: DateTime<Utc>) -> Account {
        let mut account = Account {
            start,
            day: 0,
            users: Vec::with_capacity(users),
            next_user: 0,
            next_key: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
        };
        for index in 0..users {
            let created = start - Duration::days(100 + account.below(600) as i64);
            let mut user = account.user(created);
            // Every other user has two keys: 7,500 keys for 5,000 users.
            let keys = if index % 2 == 0 { 2 } else { 1 };
            for _ in 0..keys {
                let age = account.below(700) as i64;
                let key = account.key(start - Duration::days(age));
                user.keys.push(key);
            }
            account.users.push(user);
        }
        account
    }

    /// xorshift64*: deterministic and dependency-free.
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn user(&mut self, created: DateTime<Utc>) -> User {
        self.next_user += 1;
        User { name: format!("user-{:05}", self.next_user), created, keys: Vec::new() }
    }

    fn key(&mut self, created: DateTime<Utc>) -> Key {
        self.next_key += 1;
        let usage = match self.below(100) {
            0..60 => Use::Daily,
            60..85 => Use::Sometimes,
            _ => Use::Never,
        };
        let last_used = match usage {
            Use::Never => None,
            _ => Some(self.start.max(created + Duration::hours(1)) - Duration::days(self.below(20) as i64)),
        };
        let last_used = last_used.filter(|used| *used > created);
        Key {
            id: format!("AKIASYNTH{:011}", self.next_key),
            active: true,
            created,
            last_used,
            usage,
            retired_on: None,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.start + Duration::days(self.day)
    }

    pub fn keys(&self) -> usize {
        self.users.iter().map(|u| u.keys.len()).sum()
    }

    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Moves one day on: rotations, new and deleted users, key use.
    pub fn advance(&mut self) {
        self.day += 1;
        let now = self.now();
        // A rotation needs a free slot (IAM allows two keys): it picks a user with one key.
        let mut rotated = 0;
        while rotated < 3 {
            let index = self.below(self.users.len() as u64) as usize;
            if self.users[index].keys.len() != 1 {
                continue;
            }
            let key = self.key(now);
            let user = &mut self.users[index];
            user.keys[0].active = false;
            user.keys[0].retired_on = Some(self.day);
            user.keys.push(Key { usage: Use::Daily, last_used: None, ..key });
            rotated += 1;
        }
        // New users have one or two keys, like the rest: the account keeps its 1.5 keys a user.
        for _ in 0..2 {
            let created = now - Duration::hours(2);
            let mut user = self.user(created);
            let keys = if self.next_user.is_multiple_of(2) { 2 } else { 1 };
            for _ in 0..keys {
                let key = self.key(now - Duration::hours(1));
                user.keys.push(Key { last_used: None, ..key });
            }
            self.users.push(user);
        }
        for _ in 0..2 {
            let index = self.below(self.users.len() as u64) as usize;
            self.users.swap_remove(index);
        }
        let day = self.day;
        let mut users = std::mem::take(&mut self.users);
        for user in &mut users {
            user.keys.retain(|key| key.retired_on.is_none_or(|retired| day - retired < 7));
            for key in user.keys.iter_mut().filter(|key| key.active) {
                match key.usage {
                    Use::Daily => key.last_used = Some(now - Duration::minutes(30)),
                    // About one in 20 occasional keys is used on a given day.
                    Use::Sometimes if self.below(20) == 0 => key.last_used = Some(now - Duration::hours(3)),
                    Use::Sometimes | Use::Never => {}
                }
            }
        }
        self.users = users;
    }

    /// Today's inventory, as `keyaudit scan --save-inventory` writes it.
    pub fn inventory(&self) -> Value {
        let at = |time: DateTime<Utc>| time.to_rfc3339_opts(SecondsFormat::Secs, true);
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|user| {
                let keys: Vec<Value> = user
                    .keys
                    .iter()
                    .map(|key| {
                        let last_used = match key.last_used {
                            Some(date) => {
                                json!({"at": {"date": at(date), "service": "s3", "region": "eu-west-1"}})
                            }
                            None => json!("never"),
                        };
                        json!({
                            "access_key_id": key.id,
                            "status": if key.active { "Active" } else { "Inactive" },
                            "created": at(key.created),
                            "last_used": last_used,
                        })
                    })
                    .collect();
                json!({
                    "user_name": user.name,
                    "path": "/",
                    "arn": format!("arn:aws:iam::{ACCOUNT_ID}:user/{}", user.name),
                    "created": at(user.created),
                    "keys": keys,
                })
            })
            .collect();
        json!({
            "schema_version": 1,
            "collected_at": at(self.now()),
            "accounts": [{"account_id": ACCOUNT_ID, "users": users}],
            "errors": [],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_keeps_the_account_near_its_size_and_churns_a_few_keys_a_day() {
        let start: DateTime<Utc> = "2026-01-01T06:00:00Z".parse().unwrap();
        let mut account = Account::new(5000, start);
        assert_eq!((account.users(), account.keys()), (5000, 7500));
        let ids = |account: &Account| -> std::collections::BTreeSet<String> {
            account.users.iter().flat_map(|u| u.keys.iter().map(|k| k.id.clone())).collect()
        };
        let before = ids(&account);
        account.advance();
        let after = ids(&account);
        let created = after.difference(&before).count();
        assert!((5..=7).contains(&created), "3 rotations and 2 new users with 1 or 2 keys: {created}");
        for _ in 0..30 {
            account.advance();
        }
        assert_eq!(account.users(), 5000);
        assert!((7350..7650).contains(&account.keys()), "{}", account.keys());
        let inventory = account.inventory();
        assert_eq!(inventory["accounts"][0]["users"].as_array().unwrap().len(), 5000);
    }
}
