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
        (&["scan", "--demo", "--format", "xml"], "xml"),
        (&["scan", "--demo", "--output", "report.xml"], "unknown extension `.xml`"),
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
    assert_eq!(ids, ["key-too-old", "key-unused", "inactive-key-kept", "two-active-keys", "root-access-key"]);
    assert_eq!(rules[1]["threshold"], "unused-days");
    assert_eq!(rules[1]["threshold_default"], 45);

    let output = keyaudit(dir.path(), None, &["rules", "key-unused"]);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("CIS AWS Foundations 1.12"), "{}", stdout(&output));
}
