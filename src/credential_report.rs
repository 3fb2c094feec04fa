//! An IAM credential report (the 22-column CSV from GetCredentialReport) as an inventory.
//!
//! The report has no access key ids, only two key slots per user; keys are named
//! `slot 1` and `slot 2`, and a slot holds a key when its `last_rotated` is a date (for a
//! key never rotated, that is its creation date). `N/A`, `no_information` and
//! `not_supported` mean "nothing" wherever they appear. The `<root_account>` row becomes
//! the account's root-key information. Anything that does not fit is an error naming the
//! line and column: a malformed report must never read as "no keys".

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::{
    AccessKey, Account, Inventory, KeyStatus, LastUsed, Root, User, INVENTORY_SCHEMA_VERSION,
};
use crate::rules::ROOT_USER;

/// The columns keyaudit reads (AWS's report has 22; the others are passwords, MFA, certs).
const REQUIRED: [&str; 13] = [
    "user",
    "arn",
    "user_creation_time",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
];

/// The id a key gets when the report names only its slot.
pub fn slot_id(slot: u8) -> String {
    format!("slot {slot}")
}

/// True for ids made up by [`slot_id`]: no IAM API can act on them.
pub fn is_slot_id(id: &str) -> bool {
    id.starts_with("slot ")
}

fn is_nothing(value: &str) -> bool {
    matches!(value, "" | "N/A" | "no_information" | "not_supported")
}

/// Parses the report. `collected_at` is when it was generated (or downloaded).
pub fn parse(text: &str, collected_at: DateTime<Utc>) -> Result<Inventory, String> {
    // Flexible: IAM (and moto) write user names and paths unquoted, and both may contain
    // commas; such rows have extra fields, which `unsplit` puts back together.
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| format!("not a CSV file: {e}"))?.clone();
    let columns: HashMap<&str, usize> = header.iter().enumerate().map(|(i, name)| (name, i)).collect();
    if let Some(missing) = REQUIRED.iter().find(|name| !columns.contains_key(*name)) {
        return Err(format!("not an IAM credential report: no `{missing}` column"));
    }

    let mut account_id: Option<String> = None;
    let mut users = Vec::new();
    let mut root = None;
    for (index, record) in reader.records().enumerate() {
        let line = index + 2; // the header is line 1
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let record = unsplit(&header, record).map_err(|e| format!("line {line}: {e}"))?;
        let field = |name: &str| record.get(columns[name]).unwrap_or_default().trim();
        let date = |name: &str| -> Result<Option<DateTime<Utc>>, String> {
            let value = field(name);
            if is_nothing(value) {
                return Ok(None);
            }
            DateTime::parse_from_rfc3339(value)
                .map(|d| Some(d.with_timezone(&Utc)))
                .map_err(|_| format!("line {line}, column {name}: expected a date or N/A, found `{value}`"))
        };
        let flag = |name: &str| -> Result<bool, String> {
            match field(name) {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!("line {line}, column {name}: expected true or false, found `{other}`")),
            }
        };

        let arn = field("arn");
        let row_account = arn
            .split(':')
            .nth(4)
            .filter(|id| id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| format!("line {line}, column arn: not an IAM ARN: `{arn}`"))?;
        match &account_id {
            None => account_id = Some(row_account.to_string()),
            Some(first) if first != row_account => {
                return Err(format!(
                    "line {line}: account {row_account} differs from {first}: one report per account"
                ))
            }
            Some(_) => {}
        }

        let mut keys = Vec::new();
        for slot in [1u8, 2] {
            let prefix = format!("access_key_{slot}");
            let Some(created) = date(&format!("{prefix}_last_rotated"))? else { continue };
            let active = flag(&format!("{prefix}_active"))?;
            let known = |name: String| Some(field(&name).to_string()).filter(|v| !is_nothing(v));
            let last_used = match date(&format!("{prefix}_last_used_date"))? {
                Some(date) => LastUsed::At {
                    date,
                    service: known(format!("{prefix}_last_used_service")),
                    region: known(format!("{prefix}_last_used_region")),
                },
                None => LastUsed::Never,
            };
            keys.push(AccessKey {
                access_key_id: slot_id(slot),
                status: if active { KeyStatus::Active } else { KeyStatus::Inactive },
                created,
                last_used,
            });
        }

        let user = field("user");
        if user == ROOT_USER {
            root = Some(Root { access_keys_present: !keys.is_empty(), keys });
            continue;
        }
        let created = date("user_creation_time")?
            .ok_or_else(|| format!("line {line}, column user_creation_time: a user needs a creation date"))?;
        users.push(User {
            user_name: user.to_string(),
            path: path_of(arn),
            arn: arn.to_string(),
            created,
            keys,
            details: None,
        });
    }
    let account_id = account_id.ok_or("the report has no rows")?;
    users.sort_by(|a, b| a.user_name.cmp(&b.user_name));
    Ok(Inventory {
        schema_version: INVENTORY_SCHEMA_VERSION,
        collected_at,
        accounts: vec![Account { account_id, users, root, credential_report_generated_at: None }],
        errors: Vec::new(),
        shard: None,
    })
}

/// Dates in a credential report later than when it was generated: impossible in a real
/// report (a clock, an edit or a mix-up), so its ages and last uses cannot all be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaterDates {
    /// How many dates are later.
    pub count: usize,
    /// The latest of them, and where it is (`user`, column).
    pub latest: DateTime<Utc>,
    pub user: String,
    pub column: String,
}

/// The dates of `inventory` (made by [`parse`]) later than `generated_at`, if any.
pub fn dates_after(inventory: &Inventory, generated_at: DateTime<Utc>) -> Option<LaterDates> {
    fn keys_of<'a>(user: &'a str, keys: &[AccessKey], dates: &mut Vec<(DateTime<Utc>, &'a str, String)>) {
        for key in keys {
            let slot = key.access_key_id.strip_prefix("slot ").unwrap_or(&key.access_key_id);
            dates.push((key.created, user, format!("access_key_{slot}_last_rotated")));
            if let Some(used) = key.last_used.date() {
                dates.push((used, user, format!("access_key_{slot}_last_used_date")));
            }
        }
    }
    let mut dates: Vec<(DateTime<Utc>, &str, String)> = Vec::new();
    for account in &inventory.accounts {
        if let Some(root) = &account.root {
            keys_of(ROOT_USER, &root.keys, &mut dates);
        }
        for user in &account.users {
            dates.push((user.created, &user.user_name, "user_creation_time".to_string()));
            keys_of(&user.user_name, &user.keys, &mut dates);
        }
    }
    let later: Vec<_> = dates.into_iter().filter(|(date, _, _)| *date > generated_at).collect();
    let (latest, user, column) = later.iter().max_by_key(|(date, _, _)| *date)?.clone();
    Some(LaterDates { count: later.len(), latest, user: user.to_string(), column })
}

/// Rejoins a row whose user name or ARN held unquoted commas. Everything after the ARN is
/// commas-free (dates, flags, regions, services), so the ARN is the fields from the first
/// one starting with `arn:` up to where the fixed tail begins.
fn unsplit(header: &csv::StringRecord, record: csv::StringRecord) -> Result<csv::StringRecord, String> {
    let (want, have) = (header.len(), record.len());
    if have == want {
        return Ok(record);
    }
    if have < want || header.get(0) != Some("user") || header.get(1) != Some("arn") {
        return Err(format!("expected {want} fields, found {have}"));
    }
    let fields: Vec<&str> = record.iter().collect();
    let tail = have - (want - 2);
    let arn_start =
        fields[1..tail].iter().position(|f| f.starts_with("arn:")).map(|i| i + 1).ok_or("no ARN field")?;
    let mut rebuilt = csv::StringRecord::new();
    rebuilt.push_field(&fields[..arn_start].join(","));
    rebuilt.push_field(&fields[arn_start..tail].join(","));
    for field in &fields[tail..] {
        rebuilt.push_field(field);
    }
    Ok(rebuilt)
}

/// `arn:aws:iam::123456789012:user/eng/alice` -> `/eng/`.
fn path_of(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    let mut parts: Vec<&str> = resource.split('/').collect();
    if parts.len() <= 2 {
        return "/".to_string();
    }
    parts.pop();
    format!("/{}/", parts[1..].join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn now() -> DateTime<Utc> {
        "2026-11-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn parses_the_fixture() {
        let text = include_str!("../tests/fixtures/credential-report.csv");
        let inventory = parse(text, now()).unwrap();
        let account = &inventory.accounts[0];
        assert_eq!(account.account_id, "123456789012");
        let root = account.root.as_ref().unwrap();
        assert!(root.access_keys_present);
        assert_eq!(root.keys.len(), 1);
        let alice = account.users.iter().find(|u| u.user_name == "alice").unwrap();
        assert_eq!(alice.path, "/engineering/");
        assert_eq!(alice.keys.len(), 2);
        assert_eq!(alice.keys[0].access_key_id, "slot 1");
        assert_eq!(
            alice.keys[0].last_used,
            LastUsed::At {
                date: "2026-10-30T08:15:00Z".parse().unwrap(),
                service: Some("s3".into()),
                region: Some("us-east-1".into())
            }
        );
        assert_eq!(alice.keys[1].status, KeyStatus::Inactive);
        let console = account.users.iter().find(|u| u.user_name == "console-only").unwrap();
        assert!(console.keys.is_empty(), "N/A slots are no keys");
        let never = account.users.iter().find(|u| u.user_name == "ci+deploy@example.com").unwrap();
        assert_eq!(never.keys[0].last_used, LastUsed::Never);
    }

    #[test]
    fn garbage_is_an_error_naming_the_problem() {
        let row = |key1_rotated: &str| {
            format!("{HEADER}\nbob,arn:aws:iam::123456789012:user/bob,2025-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,{key1_rotated},N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")
        };
        let cases = [
            ("hello,world\n1,2\n".to_string(), "no `user` column"),
            (
                row("yesterday"),
                "line 2, column access_key_1_last_rotated: expected a date or N/A, found `yesterday`",
            ),
            (format!("{HEADER}\n"), "no rows"),
            (format!("{HEADER}\nbob,not-an-arn\n"), "line 2"),
            (row("2025-01-01T00:00:00+00:00").replace("true,2025", "yes,2025"), "expected true or false"),
        ];
        for (text, expected) in cases {
            let error = parse(&text, now()).unwrap_err();
            assert!(error.contains(expected), "{expected}: got {error}");
        }
        assert!(parse(&row("2025-01-01T00:00:00+00:00"), now()).is_ok());
    }

    #[test]
    fn unquoted_commas_in_names_are_put_back_together() {
        let text = format!(
            "{HEADER}\nsvc.backup=nightly,eu_1-a,arn:aws:iam::123456789012:user/service/svc.backup=nightly,eu_1-a,2025-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2025-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let inventory = parse(&text, now()).unwrap();
        let user = &inventory.accounts[0].users[0];
        assert_eq!(user.user_name, "svc.backup=nightly,eu_1-a");
        assert_eq!(user.arn, "arn:aws:iam::123456789012:user/service/svc.backup=nightly,eu_1-a");
        assert_eq!(user.path, "/service/");
        assert_eq!(user.keys.len(), 1);
        assert!(parse(&format!("{HEADER}\nbob,arn:aws:iam::123456789012:user/bob,2025\n"), now())
            .unwrap_err()
            .contains("expected 22 fields, found 3"));
    }

    #[test]
    fn dates_after_generation_are_found() {
        let text = include_str!("../tests/fixtures/credential-report.csv");
        let inventory = parse(text, now()).unwrap();
        // The fixture's latest date is erin's slot 2 last use, 2026-10-31T15:00:00Z.
        let cases = [
            ("generated after every date", "2026-11-01T00:00:00Z", None),
            ("generated at the latest date", "2026-10-31T15:00:00Z", None),
            (
                "generated before two last uses",
                "2026-10-31T13:00:00Z",
                Some((2, "2026-10-31T15:00:00Z", "erin", "access_key_2_last_used_date")),
            ),
        ];
        for (name, generated, expected) in cases {
            let got = dates_after(&inventory, generated.parse().unwrap());
            let expected =
                expected.map(|(count, latest, user, column): (usize, &str, &str, &str)| LaterDates {
                    count,
                    latest: latest.parse().unwrap(),
                    user: user.into(),
                    column: column.into(),
                });
            assert_eq!(got, expected, "{name}");
        }
        // The root row counts too (its slot 1 was last used 2026-06-01T09:00:00Z).
        let early = dates_after(&inventory, "2026-01-01T00:00:00Z".parse().unwrap()).unwrap();
        assert!(early.count > 5, "{early:?}");
        let root_only = format!(
            "{HEADER}\n<root_account>,arn:aws:iam::123456789012:root,2019-03-01T10:00:00+00:00,not_supported,N/A,not_supported,not_supported,true,true,2021-05-05T12:00:00+00:00,2030-06-01T09:00:00+00:00,us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let got = dates_after(&parse(&root_only, now()).unwrap(), now()).unwrap();
        assert_eq!(
            (got.user.as_str(), got.column.as_str()),
            ("<root_account>", "access_key_1_last_used_date")
        );
    }

    #[test]
    fn paths_from_arns() {
        assert_eq!(path_of("arn:aws:iam::123456789012:user/alice"), "/");
        assert_eq!(path_of("arn:aws:iam::123456789012:user/a/b/alice"), "/a/b/");
        assert_eq!(path_of("arn:aws:iam::123456789012:root"), "/");
    }
}
