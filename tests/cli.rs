//! The binary's behaviour without AWS: the demo, bad input (exit 2, one line, no panic),
//! `rules`, `--dump-config`.

mod support;

use support::*;

#[test]
fn demo_scan_reports_findings_and_exits_1() {
    let dir = temp_dir();
    let output = keyaudit(dir.path(), None, &["scan", "--demo"]);
    assert_exit(&output, 1);
    let out = stdout(&output);
    for rule in keyaudit::rules::RULES.iter().map(|rule| rule.id) {
        assert!(out.contains(rule), "demo lacks {rule}:\n{out}");
    }
    assert!(out.contains("Evaluated as of 2026-11-01T09:00:00Z"), "{out}");
}

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_2() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("garbage.json"), "{ not json").unwrap();
    std::fs::write(dir.path().join("other.json"), r#"{"schema_version": 7}"#).unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[thresholds]\nunused-days = -1\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["scan", "--demo", "--format", "yaml"], "yaml"),
        (&["scan", "--demo", "--output", "report.yaml"], "unknown extension `.yaml`"),
        (&["scan", "--demo", "--unused-days", "-3"], "whole number of days"),
        (&["scan", "--demo", "--max-key-age-days", "ninety"], "got `ninety`"),
        (&["scan", "--demo", "--as-of", "last tuesday"], "RFC 3339"),
        (&["scan", "--inventory", "missing.json"], "--inventory missing.json: cannot read it"),
        (&["scan", "--inventory", "garbage.json"], "not valid JSON"),
        (&["scan", "--inventory", "other.json"], "schema_version 1 (found 7)"),
        (&["scan", "--demo", "--config", "bad.toml"], "thresholds.unused-days"),
        (&["scan", "--demo", "--config", "nope.toml"], "nope.toml: cannot read it"),
        (&["scan", "--demo", "--fail-on", "sometimes"], "unknown level `sometimes`"),
        (&["rules", "no-such-rule"], "unknown rule `no-such-rule`"),
        (&["scan", "--bogus-flag"], "--bogus-flag"),
    ];
    for (args, expected) in cases {
        let output = keyaudit(dir.path(), None, args);
        assert_exit(&output, 2);
        let err = stderr(&output);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(stdout(&output).is_empty(), "{args:?}: wrote a report anyway");
    }
}

#[test]
fn a_bad_default_config_file_in_the_current_directory_is_an_error() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("keyaudit.toml"), "fail-on = \"loud\"\n").unwrap();
    let output = keyaudit(dir.path(), None, &["scan", "--demo"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("keyaudit.toml: fail-on: unknown level `loud`"), "{}", stderr(&output));
}

#[test]
fn dump_config_prints_the_effective_settings() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("keyaudit.toml"), "fail-on = \"high\"\n[rules]\nkey-unused = \"allow\"\n")
        .unwrap();
    let output = keyaudit(dir.path(), None, &["scan", "--dump-config", "--unused-days", "60"]);
    assert_exit(&output, 0);
    let out = stdout(&output);
    for line in [
        "fail-on = \"high\"",
        "unused-days = 60",
        "max-key-age-days = 90",
        "key-unused = \"allow\"",
        "key-too-old = \"medium\"",
    ] {
        assert!(out.contains(line), "missing {line}:\n{out}");
    }
}

#[test]
fn rules_lists_every_rule_with_its_defaults() {
    let dir = temp_dir();
    let output = keyaudit(dir.path(), None, &["rules", "--format", "json"]);
    assert_exit(&output, 0);
    let rules: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let ids: Vec<&str> = rules.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "key-too-old",
            "key-unused",
            "inactive-key-kept",
            "two-active-keys",
            "root-access-key",
            "key-without-owner"
        ]
    );
    assert_eq!(rules[1]["threshold"], "unused-days");
    assert_eq!(rules[1]["threshold_default"], 45);
    assert_eq!(
        rules[1]["controls"],
        serde_json::json!([
            "CIS AWS Foundations Benchmark v3.0.0/1.12",
            "CIS AWS Foundations Benchmark v5.0.0/1.11",
            "AWS Security Hub/IAM.22",
            "PCI DSS v4.0/8.2.6"
        ])
    );

    let output = keyaudit(dir.path(), None, &["rules", "key-unused"]);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("CIS AWS Foundations Benchmark v3.0.0 1.12"), "{}", stdout(&output));
}

#[test]
fn a_credential_report_evaluates_offline_with_slot_names() {
    let dir = temp_dir();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/credential-report.csv");
    let fixture = fixture.to_str().unwrap();
    let output = keyaudit(
        dir.path(),
        None,
        &["scan", "--credential-report", fixture, "--as-of", "2026-11-01T00:00:00Z", "--format", "json"],
    );
    assert_exit(&output, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let mut got: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["user_name"].as_str().unwrap().to_string(),
                f["access_key_id"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    got.sort();
    let mut expected: Vec<(String, String, String)> = [
        ("inactive-key-kept", "alice", "slot 2"),
        ("key-too-old", "bob", "slot 1"),
        ("key-too-old", "ci+deploy@example.com", "slot 1"),
        ("key-unused", "ci+deploy@example.com", "slot 1"),
        ("root-access-key", "<root_account>", "-"),
        // The older key (slot 1, created 2026-08-10) is the one to deactivate.
        ("two-active-keys", "erin", "slot 1"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(report["summary"]["users"], 5, "root is not a user");
    // The data came from a credential report, generated at the latest when its file was
    // written; a consistent report draws no warning.
    assert_eq!(report["accounts"][0]["last_used_source"], "credential-report");
    assert_eq!(report["accounts"][0]["root_access_key"], "present");
    for row in report["keys"].as_array().unwrap().iter().chain(report["findings"].as_array().unwrap()) {
        assert_eq!(row["last_used_source"], "credential-report", "{row}");
        assert!(row["credential_report_generated_at"].is_string(), "{row}");
    }
    let alice = report["keys"].as_array().unwrap().iter().find(|k| k["user_name"] == "alice").unwrap();
    assert_eq!(alice["user_arn"], "arn:aws:iam::123456789012:user/engineering/alice");
    assert_eq!(alice["user_path"], "/engineering/");
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    assert_eq!(report["findings"][0]["severity"], "critical");

    // Remediation cannot act on keys without ids, and says why.
    let output = keyaudit(
        dir.path(),
        None,
        &["remediate", "--credential-report", fixture, "--as-of", "2026-11-01T00:00:00Z", "--format", "json"],
    );
    assert_exit(&output, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(plan["plan"]["actions"], serde_json::json!([]));
    assert!(stdout(&output).contains("names no key id"));
}

/// A credential report cannot hold dates from after it was generated; its file's
/// modification time is the latest it can have been. One warning line, and the scan goes on.
#[test]
fn a_credential_report_older_than_its_own_dates_is_warned_about_once() {
    let dir = temp_dir();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/credential-report.csv");
    let path = dir.path().join("report.csv");
    std::fs::copy(&fixture, &path).unwrap();
    // Before erin's two last uses of 2026-10-31T14:00 and 15:00.
    let written: chrono::DateTime<chrono::Utc> = "2026-10-31T13:00:00Z".parse().unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(written.into()).unwrap();
    let output =
        keyaudit(dir.path(), None, &["scan", "--credential-report", "report.csv", "--format", "json"]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    let warnings: Vec<&str> = err.lines().filter(|line| line.starts_with("keyaudit: warning: ")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    for expected in [
        "--credential-report report.csv: 2 date(s) in it are later than its file's modification time 2026-10-31T13:00:00Z",
        "the latest: 2026-10-31T15:00:00Z in access_key_2_last_used_date of erin",
    ] {
        assert!(warnings[0].contains(expected), "{err}");
    }
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["accounts"][0]["credential_report_generated_at"], "2026-10-31T13:00:00Z");
}

#[test]
fn a_garbage_credential_report_is_exit_2() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("junk.csv"), "name,age\nbob,42\n").unwrap();
    std::fs::write(dir.path().join("binary.csv"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
    for (file, expected) in
        [("junk.csv", "not an IAM credential report: no `user` column"), ("binary.csv", "cannot read it")]
    {
        let output = keyaudit(dir.path(), None, &["scan", "--credential-report", file]);
        assert_exit(&output, 2);
        let err = stderr(&output);
        assert!(err.contains(expected), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

/// Nothing listens on port 9 (discard): a run that called AWS would fail there and exit 3,
/// so exit 2 within seconds shows the refusal came before any network call.
const NO_AWS: &str = "http://127.0.0.1:9";

/// Asserts a refusal: exit 2, one stderr line containing `expected`, nothing on stdout, no
/// file created or changed in `dir`, and well before any network timeout.
fn assert_refused_up_front(dir: &std::path::Path, args: &[&str], expected: &str) {
    let before = listing(dir);
    let output = keyaudit_within(dir, None, std::time::Duration::from_secs(20), args);
    assert_exit(&output, 2);
    let err = stderr(&output);
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(err.contains(expected), "{args:?}: expected {expected:?} in {err}");
    assert!(stdout(&output).is_empty(), "{args:?}: wrote a report anyway");
    assert_eq!(listing(dir), before, "{args:?}: a file was created or changed");
}

/// Every file under `dir` with its contents.
fn listing(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| (path.clone(), std::fs::read(&path).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn outputs_that_cannot_be_written_are_refused_before_any_network_call() {
    let dir = temp_dir();
    std::fs::create_dir(dir.path().join("adir.json")).unwrap();
    std::fs::write(dir.path().join("inv.json"), keyaudit::app::DEMO_INVENTORY).unwrap();
    let live = ["scan", "--endpoint-url", NO_AWS, "--max-attempts", "1"];
    let cases: &[(&[&str], &str)] = &[
        (&["--output", "adir.json"], "--output adir.json: is a directory"),
        (&["--save-inventory", "adir.json"], "--save-inventory adir.json: is a directory"),
        (&["--output", "missing/r.csv"], "directory missing does not exist"),
        (&["--save-inventory", "missing/inv.json"], "directory missing does not exist"),
        (&["--output", "r.json", "--save-inventory", "r.json"], "are the same file"),
        (&["--output", "r.json", "--output", "./r.json"], "are the same file"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = live.iter().chain(args.iter()).copied().collect();
        assert_refused_up_front(dir.path(), &args, expected);
    }
    // Offline sources: the input file is never overwritten by an output.
    assert_refused_up_front(
        dir.path(),
        &["scan", "--inventory", "inv.json", "--output", "inv.json"],
        "that is the --inventory file being read",
    );
    assert_refused_up_front(
        dir.path(),
        &["scan", "--inventory", "./inv.json", "--save-inventory", "inv.json"],
        "that is the --inventory file being read",
    );
    assert_refused_up_front(
        dir.path(),
        &[
            "remediate",
            "--demo",
            "--apply",
            "--yes",
            "--endpoint-url",
            NO_AWS,
            "--audit-log",
            "x.json",
            "--save-inventory",
            "x.json",
        ],
        "are the same file",
    );
}

#[test]
fn an_audit_log_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = temp_dir();
    let apply = ["remediate", "--demo", "--apply", "--yes", "--endpoint-url", NO_AWS];
    let args: Vec<&str> = apply.iter().copied().chain(["--audit-log", "/dev/full"]).collect();
    assert_refused_up_front(dir.path(), &args, "--audit-log /dev/full: not a regular file");
    assert_refused_up_front(
        dir.path(),
        &["remediate", "--demo", "--audit-log", "/dev/zero"],
        "not a regular file",
    );
    // A FIFO would block the open (or the read) forever.
    let fifo = dir.path().join("log.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|status| status.success()) {
        assert_refused_up_front(
            dir.path(),
            &["remediate", "--demo", "--audit-log", "log.fifo"],
            "not a regular file",
        );
        let args: Vec<&str> = apply.iter().copied().chain(["--audit-log", "log.fifo"]).collect();
        assert_refused_up_front(dir.path(), &args, "not a regular file");
    }
}

/// `/dev/zero` as an input was read forever, growing memory; every input now refuses a
/// device at once, and reads any other file only up to a size no real one comes near.
#[test]
fn an_input_that_is_a_device_is_refused_at_once() {
    let dir = temp_dir();
    let cases: [&[&str]; 6] = [
        &["scan", "--inventory", "/dev/zero"],
        &["scan", "--credential-report", "/dev/urandom"],
        &["scan", "--demo", "--config", "/dev/zero"],
        &["scan", "--accounts-file", "/dev/zero", "--endpoint-url", NO_AWS],
        &["merge", "/dev/zero"],
        &["remediate", "--report", "/dev/zero"],
    ];
    for args in cases {
        assert_refused_up_front(dir.path(), args, "a device, not a file");
    }
}

#[test]
fn control_characters_from_inputs_are_escaped_in_one_line_errors() {
    let dir = temp_dir();
    // TOML escapes put an ANSI "clear screen" and a newline into the value echoed back.
    std::fs::write(dir.path().join("evil.toml"), "fail-on = \"lo\\u001b[2J\\nud\"\n").unwrap();
    let report =
        read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/credential-report.csv"));
    let header = report.lines().next().unwrap();
    // A quoted user name holding a newline, and a date holding an escape sequence.
    let row = "\"bob\nsecond\",arn:aws:iam::123456789012:user/bob,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,\
               true,2026\u{1b}[31m,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A";
    std::fs::write(dir.path().join("evil.csv"), format!("{header}\n{row}\n")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["scan", "--demo", "--config", "evil.toml"], "unknown level `lo\\u{1b}[2J\\nud`"),
        (&["scan", "--credential-report", "evil.csv"], "found `2026\\u{1b}[31m`"),
        (
            &["scan", "--inventory", "no\u{1b}[2Jfile.json"],
            "--inventory no\\u{1b}[2Jfile.json: cannot read it",
        ),
    ];
    for (args, expected) in cases {
        let output = keyaudit(dir.path(), None, args);
        assert_exit(&output, 2);
        let err = stderr(&output);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(
            !err.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: raw control character: {err:?}"
        );
        assert!(err.contains(expected), "{args:?}: expected {expected:?} in {err}");
    }
}

#[test]
fn control_characters_in_an_inventory_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let mut inventory: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/inventory.json")).unwrap(),
    )
    .unwrap();
    // A user name that clears the screen and hides the rest of the line, then reverses text.
    let users = inventory["accounts"][0]["users"].as_array_mut().unwrap();
    let erin = users
        .iter_mut()
        .find(|user| user["user_name"] == "erin")
        .expect("erin, who has a finding and a planned action");
    erin["user_name"] = "bob\u{1b}[2J\u{1b}[8m\r\u{202e}evil".into();
    let path = dir.path().join("inventory.json");
    std::fs::write(&path, inventory.to_string()).unwrap();
    for command in [vec!["scan"], vec!["remediate"]] {
        let mut args = command.clone();
        args.extend(["--inventory", path.to_str().unwrap(), "--format", "table"]);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyaudit")).args(&args).output().unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains("bob\\u{1b}[2J\\u{1b}[8m\\r\\u{202e}evil"), "{command:?}: {stdout}");
        assert!(
            !stdout.contains('\u{1b}') && !stdout.contains('\r') && !stdout.contains('\u{202e}'),
            "{command:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn an_input_fifo_with_no_writer_is_refused_at_once_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(dir.path().join("inventory.json"))
        .status()
        .unwrap()
        .success());
    let output = keyaudit_within(
        dir.path(),
        None,
        std::time::Duration::from_secs(10),
        &["scan", "--inventory", "inventory.json"],
    );
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("a pipe with no writer"), "{}", stderr(&output));
}

/// `--version` names the commit it was built from (`keyaudit 0.1.0 (a1b2c3d)`), or says it
/// was built outside git; the fallback itself is unit-tested in `src/build_info.rs`.
#[test]
fn version_names_the_commit_it_was_built_from() {
    let dir = temp_dir();
    let output = keyaudit(dir.path(), None, &["--version"]);
    assert_exit(&output, 0);
    let version = stdout(&output);
    let label = version
        .trim_end()
        .strip_prefix(concat!("keyaudit ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version}"));
    let manifest = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(manifest).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let own = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| std::fs::canonicalize(top).ok() == std::fs::canonicalize(manifest).ok());
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) if own && std::env::var_os("KEYAUDIT_GIT_COMMIT").is_none() => assert_eq!(label, head),
        _ => assert!(
            label == "not built from git" || label.bytes().all(|b| b.is_ascii_hexdigit()),
            "{version}"
        ),
    }
}

#[test]
fn completions_and_man_pages_are_generated_for_every_subcommand() {
    let dir = temp_dir();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = keyaudit(dir.path(), None, &["completions", shell]);
        assert_exit(&output, 0);
        let script = stdout(&output);
        for name in ["scan", "rules", "remediate", "keys", "merge", "history", "completions", "man"] {
            assert!(script.contains(name), "{shell} completions lack `{name}`");
        }
    }
    let output = keyaudit(dir.path(), None, &["man"]);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains(".TH keyaudit 1") && stdout(&output).contains("keyaudit\\-history(1)"));
    let output = keyaudit(dir.path(), None, &["man", "remediate"]);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains(".TH keyaudit-remediate 1"));
    for bad in [&["completions", "tcsh"][..], &["man", "nope"][..]] {
        let output = keyaudit(dir.path(), None, bad);
        assert_exit(&output, 2);
        assert_eq!(stderr(&output).trim_end().lines().count(), 1, "{}", stderr(&output));
    }
}

/// In a pipe the table is the plain one whatever `COLUMNS` says; `--color always` colours it
/// (and changes nothing else), `--color never` and `NO_COLOR` keep it plain.
#[test]
fn color_flag_and_no_color_in_a_pipe() {
    let dir = temp_dir();
    let sample =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/demo.txt"))
            .unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = command(dir.path(), None, ("AKIDEXAMPLE", "secret"), args);
        command.env_remove("NO_COLOR").env_remove("COLUMNS");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert_exit(&output, 1);
        stdout(&output)
    };
    assert_eq!(run(&["scan", "--demo"], &[("COLUMNS", "80")]), sample);
    assert_eq!(run(&["scan", "--demo", "--color", "never"], &[]), sample);
    assert_eq!(run(&["scan", "--demo", "--color", "auto"], &[("NO_COLOR", "1")]), sample);
    let coloured = run(&["scan", "--demo", "--color", "always"], &[("NO_COLOR", "1")]);
    assert!(coloured.contains("\u{1b}[38;5;9m high"), "{coloured}");
    let mut plain = coloured.clone();
    for sgr in [
        "\u{1b}[38;5;9m",
        "\u{1b}[38;5;11m",
        "\u{1b}[38;5;14m",
        "\u{1b}[38;5;8m",
        "\u{1b}[39m",
        "\u{1b}[1m",
        "\u{1b}[22m",
        "\u{1b}[0m",
    ] {
        plain = plain.replace(sgr, "");
    }
    assert_eq!(plain, sample, "colour changes nothing else");
    let bad =
        command(dir.path(), None, ("AKIDEXAMPLE", "secret"), &["scan", "--demo", "--color", "sometimes"])
            .output()
            .unwrap();
    assert_exit(&bad, 2);
}

/// On a real terminal (a pseudo-terminal from util-linux `script`): the table fits the width
/// and severities are coloured unless NO_COLOR is set. Skipped, saying so, without `script`.
#[test]
fn on_a_terminal_the_table_fits_and_is_coloured() {
    let has_script =
        std::process::Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success());
    if !has_script {
        println!(
            "SKIPPED on_a_terminal_the_table_fits_and_is_coloured: no util-linux `script` to make a terminal"
        );
        return;
    }
    let dir = temp_dir();
    let binary = env!("CARGO_BIN_EXE_keyaudit");
    let on_terminal = |columns: &str, no_color: Option<&str>| {
        let mut command = std::process::Command::new("script");
        command
            .args(["-qec", &format!("{binary} scan --demo"), "/dev/null"])
            .current_dir(dir.path())
            .env("COLUMNS", columns)
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::null());
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        String::from_utf8(output.stdout).unwrap().replace("\r\n", "\n")
    };
    let coloured = on_terminal("80", None);
    assert!(coloured.contains("\u{1b}[38;5;9m"), "{coloured}");
    let plain = on_terminal("80", Some("1"));
    assert!(!plain.contains('\u{1b}'), "{plain}");
    assert!(plain.contains("left out to fit 80 columns"), "{plain}");
    for line in plain.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line}");
    }
    assert!(plain.contains("AKIARZ7EXAMPLECIDEP1"), "key ids whole");
    let wide = on_terminal("200", Some("1"));
    assert!(wide.lines().next().unwrap().contains("USER ARN"), "{wide}");
    // Too narrow for columns: a record per finding, every line within 40.
    let narrow = on_terminal("40", Some("1"));
    assert!(narrow.contains("\nACCESS KEY: AKIARZ7EXAMPLECIDEP1\n"), "{narrow}");
    for line in narrow.lines() {
        assert!(line.chars().count() <= 40, "wider than 40: {line}");
    }
}

/// `--group-by` groups a table file (`--output FILE.txt`) as it groups the table on stdout,
/// and the per-owner table files of `--split-by`; files stay plain whatever the terminal.
#[test]
fn group_by_groups_table_files_too() {
    let dir = temp_dir();
    let output = keyaudit(dir.path(), None, &["scan", "--demo", "--group-by", "owner", "--output", "r.txt"]);
    assert_exit(&output, 1);
    let file = std::fs::read_to_string(dir.path().join("r.txt")).unwrap();
    assert!(file.starts_with("OWNER platform: 2 finding(s)\n"), "{file}");
    assert!(file.contains("\nOWNER (none or unknown): 4 finding(s)\n"), "{file}");
    // (stdout is a pipe here: the plain table, which the file must match.)
    assert_eq!(file, stdout(&output));

    let args =
        "scan --demo --group-by rule --color always --output rules.txt --split-by owner --output-dir split";
    let coloured = keyaudit(dir.path(), None, &args.split(' ').collect::<Vec<_>>());
    assert_exit(&coloured, 1);
    assert!(stdout(&coloured).contains("\u{1b}["), "stdout coloured as asked");
    let file = std::fs::read_to_string(dir.path().join("rules.txt")).unwrap();
    assert!(!file.contains('\u{1b}'), "a file is never coloured:\n{file}");
    assert!(file.starts_with("RULE key-too-old: "), "{file}");
    let platform = std::fs::read_dir(dir.path().join("split"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_string_lossy().starts_with("platform-"))
        .expect("platform's report");
    let platform = std::fs::read_to_string(platform).unwrap();
    assert!(platform.starts_with("RULE key-too-old: 1 finding(s)\n"), "{platform}");
    assert!(platform.contains("\nRULE key-unused: 1 finding(s)\n"), "{platform}");
}
