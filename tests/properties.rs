//! Property tests of the round trips users rely on, with any names IAM might hold (and
//! many it would refuse): an inventory saved with `--save-inventory` loads back exactly, and
//! a CSV report gives back every user name through a standard CSV reader.

use chrono::{DateTime, TimeZone, Utc};
use keyaudit::config::{FailOn, Settings};
use keyaudit::exit::Gate;
use keyaudit::model::{
    AccessKey, Account, Inventory, KeyStatus, LastUsed, Root, ScanError, Shard, User,
    INVENTORY_SCHEMA_VERSION,
};
use keyaudit::report::{Format, Report};
use proptest::collection::vec;
use proptest::prelude::*;

/// Any instant an RFC 3339 timestamp can hold (years 1970-9999), to the nanosecond.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..253_402_300_799, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).single().expect("in range"))
}

fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn last_used() -> impl Strategy<Value = LastUsed> {
    prop_oneof![
        Just(LastUsed::Never),
        Just(LastUsed::Unknown),
        (instant(), proptest::option::of(text()), proptest::option::of(text()))
            .prop_map(|(date, service, region)| LastUsed::At { date, service, region }),
    ]
}

fn key() -> impl Strategy<Value = AccessKey> {
    (text(), any::<bool>(), instant(), last_used()).prop_map(|(access_key_id, active, created, last_used)| {
        AccessKey {
            access_key_id,
            status: if active { KeyStatus::Active } else { KeyStatus::Inactive },
            created,
            last_used,
        }
    })
}

fn user() -> impl Strategy<Value = User> {
    (text(), text(), text(), instant(), vec(key(), 0..3)).prop_map(|(user_name, path, arn, created, keys)| {
        User { user_name, path, arn, created, keys, details: None }
    })
}

fn scan_error() -> impl Strategy<Value = ScanError> {
    (proptest::option::of(text()), proptest::option::of(text()), text(), text()).prop_map(
        |(account_id, user_name, code, message)| ScanError {
            account_id,
            user_name,
            access_key_id: None,
            operation: "ListAccessKeys".into(),
            code,
            message,
        },
    )
}

fn inventory() -> impl Strategy<Value = Inventory> {
    let account = (
        text(),
        vec(user(), 0..4),
        proptest::option::of((any::<bool>(), vec(key(), 0..2))),
        proptest::option::of(instant()),
    )
        .prop_map(|(account_id, users, root, credential_report_generated_at)| Account {
            account_id,
            users,
            root: root.map(|(access_keys_present, keys)| Root { access_keys_present, keys }),
            credential_report_generated_at,
        });
    let shard =
        proptest::option::of((1u32..8, 0u32..8).prop_map(|(count, i)| Shard { index: i % count + 1, count }));
    (instant(), vec(account, 0..3), vec(scan_error(), 0..2), shard).prop_map(
        |(collected_at, accounts, errors, shard)| Inventory {
            schema_version: INVENTORY_SCHEMA_VERSION,
            collected_at,
            accounts,
            errors,
            shard,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `--save-inventory` writes `to_vec_pretty`; `--inventory` reads it with the same
    /// loader the binary uses.
    #[test]
    fn an_inventory_loads_back_exactly_as_saved(inventory in inventory()) {
        let saved = serde_json::to_vec_pretty(&inventory).unwrap();
        let text = String::from_utf8(saved).unwrap();
        let loaded = keyaudit::app::parse_inventory("--inventory saved.json", &text).unwrap();
        prop_assert_eq!(loaded, inventory);
    }

    /// One old, unused, active key per user: every user has findings, and each finding's
    /// row gives the user name back exactly.
    #[test]
    fn csv_rows_give_back_any_user_name(names in vec(text(), 1..5)) {
        let created = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let users: Vec<User> = names
            .iter()
            .enumerate()
            .map(|(index, name)| User {
                user_name: name.clone(),
                path: "/".into(),
                arn: format!("arn:aws:iam::111122223333:user/{index}"),
                created,
                keys: vec![AccessKey {
                    access_key_id: format!("AKIA{index:016}"),
                    status: KeyStatus::Active,
                    created,
                    last_used: LastUsed::Never,
                }],
                details: None,
            })
            .collect();
        let inventory = Inventory {
            schema_version: INVENTORY_SCHEMA_VERSION,
            collected_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            accounts: vec![Account {
                account_id: "111122223333".into(),
                users,
                root: None,
                credential_report_generated_at: None,
            }],
            errors: Vec::new(),
            shard: None,
        };
        let settings = Settings::default();
        let findings = keyaudit::rules::evaluate(&inventory, &settings.rules, inventory.collected_at);
        let gate = Gate::new(&findings, FailOn::Never, true);
        let report = Report::build(&inventory, &findings, &gate, &settings.rules, &[], inventory.collected_at, inventory.collected_at);
        let mut csv = Vec::new();
        Format::Csv.render(&report, &mut csv).unwrap();

        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let column = reader.headers().unwrap().iter().position(|h| h == "user_name").unwrap();
        let key_column = reader.headers().unwrap().iter().position(|h| h == "access_key_id").unwrap();
        let mut rows = 0;
        for record in reader.records() {
            let record = record.unwrap();
            let index: usize = record[key_column][4..].parse().unwrap();
            prop_assert_eq!(&record[column], names[index].as_str());
            rows += 1;
        }
        prop_assert_eq!(rows, findings.len());
        prop_assert!(rows >= names.len());
    }
}
