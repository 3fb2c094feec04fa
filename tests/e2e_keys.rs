//! End-to-end: `keyaudit keys ...` against moto, following the reference workflow
//! (create, list, deactivate, reactivate, delete, rotate, the two-key limit).

mod support;

use std::path::Path;

use serde_json::{json, Value};
use support::*;

fn run(moto: &Moto, dir: &Path, args: &[&str]) -> std::process::Output {
    keyaudit(dir, Some(&moto.endpoint), args)
}

/// (key id, status) of the user's keys, via `keys list --format json`.
fn keys_of(moto: &Moto, dir: &Path, user: &str) -> Vec<(String, String)> {
    let output = run(moto, dir, &["keys", "list", "--user", user, "--format", "json"]);
    assert_exit(&output, 0);
    let rows: Value = serde_json::from_str(&stdout(&output)).expect("json");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["access_key_id"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string())
        })
        .collect()
}

fn status_of(moto: &Moto, dir: &Path, user: &str, key: &str) -> Option<String> {
    keys_of(moto, dir, user).into_iter().find(|(id, _)| id == key).map(|(_, status)| status)
}

fn secret_in(path: &Path) -> (String, String) {
    let doc: Value = serde_json::from_str(&read(path.to_path_buf())).expect("secret file is JSON");
    (
        doc["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(),
        doc["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

fn assert_no_secret(output: &std::process::Output, secret: &str) {
    assert!(!stdout(output).contains(secret) && !stderr(output).contains(secret), "the secret leaked");
}

#[test]
fn create_writes_the_secret_only_to_a_new_private_file_and_the_third_key_is_refused() {
    let moto = Moto::start(
        &json!({"users": [{"name": "alice", "keys": [{"alias": "a1", "created": "2026-01-01T00:00:00Z"}]}]}),
    );
    let dir = temp_dir();

    // Without a destination for the secret: refused, nothing created.
    let output = run(&moto, dir.path(), &["keys", "create", "--user", "alice"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--secret-file"), "{}", stderr(&output));
    assert_eq!(keys_of(&moto, dir.path(), "alice").len(), 1);

    // Dry run: says what it would do, changes nothing, writes no file.
    let output = run(
        &moto,
        dir.path(),
        &["keys", "create", "--user", "alice", "--secret-file", "new.json", "--dry-run"],
    );
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("would create a new access key for user alice"), "{}", stdout(&output));
    assert!(!dir.path().join("new.json").exists());
    assert_eq!(keys_of(&moto, dir.path(), "alice").len(), 1);

    let output = run(&moto, dir.path(), &["keys", "create", "--user", "alice", "--secret-file", "new.json"]);
    assert_exit(&output, 0);
    let (id, secret) = secret_in(&dir.path().join("new.json"));
    assert_eq!(secret.len(), 40);
    assert_no_secret(&output, &secret);
    assert!(stdout(&output).contains(&id), "prints the new key id: {}", stdout(&output));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("new.json")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(status_of(&moto, dir.path(), "alice", &id).as_deref(), Some("Active"));

    // The file is never overwritten.
    let output = run(&moto, dir.path(), &["keys", "create", "--user", "alice", "--secret-file", "new.json"]);
    assert_exit(&output, 2);
    assert_eq!(secret_in(&dir.path().join("new.json")).1, secret);

    // A third key: refused before calling CreateAccessKey, naming both keys and what to do.
    let output =
        run(&moto, dir.path(), &["keys", "create", "--user", "alice", "--secret-file", "third.json"]);
    assert_exit(&output, 2);
    let err = stderr(&output);
    assert!(
        err.contains("AccessKeysPerUser: 2") && err.contains(&id) && err.contains(moto.key("a1")),
        "{err}"
    );
    assert!(err.contains("deactivate"), "{err}");
    assert!(!dir.path().join("third.json").exists(), "no file for a key that was not created");
    assert_eq!(keys_of(&moto, dir.path(), "alice").len(), 2);

    // --show-secret prints it on stdout, where the user asked for it.
    let moto2 = Moto::start(&json!({"users": [{"name": "bob"}]}));
    let output = run(&moto2, dir.path(), &["keys", "create", "--user", "bob", "--show-secret"]);
    assert_exit(&output, 0);
    let printed: Value =
        serde_json::from_str(stdout(&output).split("\ncreated").next().unwrap()).expect("secret JSON");
    assert_eq!(printed["AccessKey"]["SecretAccessKey"].as_str().unwrap().len(), 40);
    assert!(!stderr(&output).contains(printed["AccessKey"]["SecretAccessKey"].as_str().unwrap()));
}

#[test]
fn deactivate_activate_and_delete_follow_the_seed_workflow() {
    let moto = Moto::start(&json!({"users": [
        {"name": "alice", "keys": [{"alias": "a1"}]},
        {"name": "bob", "keys": [{"alias": "b1"}]}
    ]}));
    let dir = temp_dir();
    let a1 = moto.key("a1");

    let output = run(&moto, dir.path(), &["keys", "deactivate", "--user", "alice", "--key", a1, "--dry-run"]);
    assert_exit(&output, 0);
    assert_eq!(
        status_of(&moto, dir.path(), "alice", a1).as_deref(),
        Some("Active"),
        "dry run changed nothing"
    );

    let output = run(&moto, dir.path(), &["keys", "deactivate", "--user", "alice", "--key", a1]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains(&format!("deactivated access key {a1} of user alice")),
        "{}",
        stdout(&output)
    );
    assert_eq!(status_of(&moto, dir.path(), "alice", a1).as_deref(), Some("Inactive"));

    let output = run(&moto, dir.path(), &["keys", "activate", "--user", "alice", "--key", a1]);
    assert_exit(&output, 0);
    assert_eq!(status_of(&moto, dir.path(), "alice", a1).as_deref(), Some("Active"));

    // An active key is not deleted without --force.
    let output = run(&moto, dir.path(), &["keys", "delete", "--user", "alice", "--key", a1]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("is active; deactivate it first"), "{}", stderr(&output));
    assert_eq!(status_of(&moto, dir.path(), "alice", a1).as_deref(), Some("Active"));

    // Deactivate, then delete (no terminal here, so no prompt).
    assert_exit(&run(&moto, dir.path(), &["keys", "deactivate", "--user", "alice", "--key", a1]), 0);
    let output = run(&moto, dir.path(), &["keys", "delete", "--user", "alice", "--key", a1, "--dry-run"]);
    assert_exit(&output, 0);
    assert!(status_of(&moto, dir.path(), "alice", a1).is_some(), "dry run deleted nothing");
    let output = run(&moto, dir.path(), &["keys", "delete", "--user", "alice", "--key", a1]);
    assert_exit(&output, 0);
    assert_eq!(keys_of(&moto, dir.path(), "alice"), vec![]);

    // --force deletes an active key.
    let b1 = moto.key("b1");
    assert_exit(
        &run(&moto, dir.path(), &["keys", "delete", "--user", "bob", "--key", b1, "--force", "--yes"]),
        0,
    );
    assert_eq!(keys_of(&moto, dir.path(), "bob"), vec![]);
}

#[test]
fn bad_targets_are_refused_and_change_nothing() {
    let moto = Moto::start(&json!({"users": [
        {"name": "alice", "keys": [{"alias": "a1"}]},
        {"name": "bob", "keys": [{"alias": "b1"}]}
    ]}));
    let dir = temp_dir();
    let (a1, b1) = (moto.key("a1"), moto.key("b1"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["keys", "list", "--user", "nobody"], "no user nobody"),
        (vec!["keys", "deactivate", "--user", "nobody", "--key", a1], "no user nobody"),
        (
            vec!["keys", "deactivate", "--user", "alice", "--key", "AKIA0000000000000000"],
            "is not a key of user alice",
        ),
        (vec!["keys", "deactivate", "--user", "alice", "--key", b1], "is not a key of user alice"),
        (
            vec!["keys", "delete", "--user", "alice", "--key", b1, "--force", "--yes"],
            "is not a key of user alice",
        ),
        (vec!["keys", "rotate", "--user", "nobody", "--secret-file", "s.json"], "no user nobody"),
    ];
    for (args, expected) in cases {
        let output = run(&moto, dir.path(), &args);
        assert_exit(&output, 2);
        let err = stderr(&output);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    assert!(!dir.path().join("s.json").exists());
    assert_eq!(status_of(&moto, dir.path(), "alice", a1).as_deref(), Some("Active"));
    assert_eq!(status_of(&moto, dir.path(), "bob", b1).as_deref(), Some("Active"));
}

#[test]
fn rotate_creates_saves_and_deactivates_and_handles_the_limit() {
    let moto = Moto::start(&json!({"users": [
        {"name": "alice", "keys": [{"alias": "old", "created": "2025-01-01T00:00:00Z"}]},
        {"name": "bob", "keys": [{"alias": "b-active"}, {"alias": "b-inactive", "status": "Inactive"}]},
        {"name": "carol", "keys": [{"alias": "c1"}, {"alias": "c2"}]},
        {"name": "dave", "keys": [{"alias": "d-old"}]}
    ]}));
    let dir = temp_dir();

    // Plain rotation: new key active, old inactive, secret saved, nothing deleted.
    let output =
        run(&moto, dir.path(), &["keys", "rotate", "--user", "alice", "--secret-file", "alice.json"]);
    assert_exit(&output, 0);
    let (new, secret) = secret_in(&dir.path().join("alice.json"));
    assert_no_secret(&output, &secret);
    let mut keys = keys_of(&moto, dir.path(), "alice");
    keys.sort();
    let mut expected =
        vec![(new.clone(), "Active".to_string()), (moto.key("old").to_string(), "Inactive".to_string())];
    expected.sort();
    assert_eq!(keys, expected);

    // --keep-old-active leaves the old key working for a cut-over window.
    let output = run(
        &moto,
        dir.path(),
        &["keys", "rotate", "--user", "dave", "--secret-file", "dave.json", "--keep-old-active"],
    );
    assert_exit(&output, 0);
    assert_eq!(status_of(&moto, dir.path(), "dave", moto.key("d-old")).as_deref(), Some("Active"));
    assert_eq!(keys_of(&moto, dir.path(), "dave").len(), 2);

    // At the limit with an inactive key: refused, with the way out...
    let output = run(&moto, dir.path(), &["keys", "rotate", "--user", "bob", "--secret-file", "bob.json"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--delete-inactive"), "{}", stderr(&output));
    assert!(!dir.path().join("bob.json").exists());
    assert_eq!(keys_of(&moto, dir.path(), "bob").len(), 2);
    // ...which deletes only the inactive key, creates, and deactivates the old active one.
    let output = run(
        &moto,
        dir.path(),
        &["keys", "rotate", "--user", "bob", "--secret-file", "bob.json", "--delete-inactive", "--yes"],
    );
    assert_exit(&output, 0);
    let (bob_new, _) = secret_in(&dir.path().join("bob.json"));
    let mut keys = keys_of(&moto, dir.path(), "bob");
    keys.sort();
    let mut expected =
        vec![(bob_new, "Active".to_string()), (moto.key("b-active").to_string(), "Inactive".to_string())];
    expected.sort();
    assert_eq!(keys, expected, "the inactive key is gone, the active one deactivated, not deleted");

    // Two active keys: --delete-inactive never deletes an active key.
    let output = run(
        &moto,
        dir.path(),
        &["keys", "rotate", "--user", "carol", "--secret-file", "carol.json", "--delete-inactive", "--yes"],
    );
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("both are active"), "{}", stderr(&output));
    assert_eq!(
        keys_of(&moto, dir.path(), "carol").iter().filter(|(_, status)| status == "Active").count(),
        2
    );
}

/// `keys create --show-secret` and `keys rotate --delete-inactive --show-secret` with stdout
/// on /dev/full: IAM creates the key, the secret cannot be written, and keyaudit deletes the
/// new key again and says so (exit 3, never 2: something happened).
#[test]
fn a_secret_that_cannot_be_stored_takes_the_new_key_back_and_exits_3() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
    let moto = Moto::start(&json!({"users": [
        {"name": "alice", "keys": [{"alias": "a1", "created": "2026-01-01T00:00:00Z"}]},
        {"name": "bob", "keys": [
            {"alias": "b-old", "created": "2026-01-01T00:00:00Z"},
            {"alias": "b-gone", "status": "Inactive", "created": "2025-01-01T00:00:00Z"}]}
    ]}));
    let dir = temp_dir();
    let before = keys_of(&moto, dir.path(), "alice");
    let credentials = (TEST_ACCESS_KEY_ID, TEST_SECRET);
    let to_full = |args: &[&str]| {
        command(dir.path(), Some(&moto.endpoint), credentials, args)
            .stdout(full.try_clone().unwrap())
            .output()
            .expect("run keyaudit")
    };

    let output = to_full(&["keys", "create", "--user", "alice", "--show-secret"]);
    assert_exit(&output, 3);
    let err = stderr(&output);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("IAM created access key") && err.contains("deleted that key again"), "{err}");
    assert!(err.contains("nothing else was changed"), "{err}");
    assert_eq!(keys_of(&moto, dir.path(), "alice"), before, "the new key is gone again");

    // Rotation at the limit: the inactive key is deleted first; the message must say so.
    // stdout is a pipe nobody reads: the progress lines are dropped (a closed pipe is not an
    // error), the secret cannot be delivered (it is).
    let mut child = command(
        dir.path(),
        Some(&moto.endpoint),
        credentials,
        &["keys", "rotate", "--user", "bob", "--delete-inactive", "--yes", "--show-secret"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("run keyaudit");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("run keyaudit");
    assert_exit(&output, 3);
    let err = stderr(&output);
    let gone = moto.key("b-gone");
    assert!(err.contains(&format!("already done: delete access key {gone}")), "{err}");
    assert!(err.contains("deleted that key again"), "{err}");
    let old = moto.key("b-old");
    assert_eq!(keys_of(&moto, dir.path(), "bob"), vec![(old.to_string(), "Active".to_string())]);
    for secret in &moto.secrets {
        assert_no_secret(&output, secret);
    }
}
