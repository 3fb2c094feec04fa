//! The formats made for other tools (ASFF, OCSF, JUnit), checked by those tools' own
//! definitions in the test venv: Security Hub's API model (botocore), the OCSF schema, and
//! Python's XML reader. Reports come from the demo inventory, as `reports/` has them, and
//! from a hostile variant (markup in names, a failed call, a suppression).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use clap::Parser;
use serde_json::Value;

use keyaudit::app::{parse_inventory, DEMO_INVENTORY};
use keyaudit::config::Settings;
use keyaudit::exit::Gate;
use keyaudit::finding::FailOn;
use keyaudit::model::{Inventory, ScanError};
use keyaudit::report::{Format, Report};
use keyaudit::rules::evaluate;

fn demo() -> Inventory {
    parse_inventory("demo", DEMO_INVENTORY).expect("demo inventory parses")
}

/// The demo with a user named `<&"'>` (IAM forbids it; keyaudit must not care), a failed
/// call, and the hostile user's findings suppressed.
fn hostile() -> (Inventory, Settings) {
    let mut inventory = demo();
    let user = inventory.accounts[0].users.iter_mut().find(|u| u.user_name == "bob").expect("bob");
    user.user_name = "<&\"'>|`*_".to_string();
    inventory.errors.push(ScanError {
        account_id: Some("444455556666".into()),
        user_name: Some("dave</failure>".into()),
        access_key_id: None,
        operation: "ListAccessKeys".into(),
        code: "AccessDenied".into(),
        message: "not authorized <script>".into(),
    });
    (inventory, Settings::default())
}

fn report_of(inventory: &Inventory, settings: &Settings, fail_on: FailOn, at: DateTime<Utc>) -> Report {
    let findings = evaluate(inventory, &settings.rules, at);
    let gate = Gate::new(&findings, fail_on, inventory.is_complete());
    Report::build(inventory, &findings, &gate, &settings.rules, &[], at, at)
}

fn rendered(format: Format, report: &Report) -> Vec<u8> {
    let mut out = Vec::new();
    format.render(report, &mut out).expect("render");
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Runs `tests/support/<script>` with the test venv's Python; panics with what it said.
fn python(script: &str, args: &[&Path]) -> String {
    let python = std::env::var("KEYAUDIT_TEST_PYTHON").expect("KEYAUDIT_TEST_PYTHON (run scripts/test)");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(python)
        .arg(root.join("tests/support").join(script))
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{script} failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn asff_validates_against_security_hubs_model_and_ids_are_stable_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = demo();
    let settings = Settings::default();
    let first = report_of(&inventory, &settings, settings.fail_on, inventory.collected_at);
    // A day later: ages, messages and times change; the Ids must not.
    let later =
        report_of(&inventory, &settings, settings.fail_on, inventory.collected_at + Duration::days(1));
    let (a, b) = (rendered(Format::Asff, &first), rendered(Format::Asff, &later));
    assert_ne!(a, b, "the second run differs (times, ages)");
    let (hostile_inventory, hostile_settings) = hostile();
    let hostile_report = report_of(
        &hostile_inventory,
        &hostile_settings,
        hostile_settings.fail_on,
        hostile_inventory.collected_at,
    );
    let files = [
        write(dir.path(), "a.asff.json", &a),
        write(dir.path(), "b.asff.json", &b),
        write(dir.path(), "hostile.asff.json", &rendered(Format::Asff, &hostile_report)),
    ];
    python("validate_asff.py", &files.iter().map(PathBuf::as_path).collect::<Vec<_>>());

    let ids = |bytes: &[u8]| -> Vec<String> {
        let findings: Vec<Value> = serde_json::from_slice(bytes).unwrap();
        findings.iter().map(|f| f["Id"].as_str().unwrap().to_string()).collect()
    };
    let (ids_a, ids_b) = (ids(&a), ids(&b));
    assert_eq!(ids_a.len(), first.findings.len());
    assert_eq!(ids_a, ids_b);
    let unique: std::collections::BTreeSet<_> = ids_a.iter().collect();
    assert_eq!(unique.len(), ids_a.len(), "Ids are unique");
}

#[test]
fn ocsf_validates_against_the_ocsf_1_1_0_schema() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = demo();
    let settings = Settings::default();
    let report = report_of(&inventory, &settings, settings.fail_on, inventory.collected_at);
    let (hostile_inventory, hostile_settings) = hostile();
    let mut hostile_report = report_of(
        &hostile_inventory,
        &hostile_settings,
        hostile_settings.fail_on,
        hostile_inventory.collected_at,
    );
    hostile_report.findings[0].suppressed = true;
    hostile_report.findings[0].suppression_reason = Some("SEC-9 <accepted>".into());
    let files = [
        write(dir.path(), "demo.ocsf.json", &rendered(Format::Ocsf, &report)),
        write(dir.path(), "hostile.ocsf.json", &rendered(Format::Ocsf, &hostile_report)),
    ];
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocsf-schema-1.1.0");
    let mut args: Vec<&Path> = vec![&schema, Path::new("detection_finding")];
    args.extend(files.iter().map(PathBuf::as_path));
    let said = python("validate_ocsf.py", &args);
    assert!(said.contains("checked 2 file(s) against OCSF detection_finding (class_uid 2004)"), "{said}");
}

#[test]
fn junit_parses_with_pythons_xml_reader_counts_match_and_hostile_names_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (inventory, settings) = hostile();
    let medium: FailOn = "medium".parse().unwrap();
    let mut report = report_of(&inventory, &settings, medium, inventory.collected_at);
    let carol = report.findings.iter_mut().find(|f| f.rule.as_str() == "two-active-keys").unwrap();
    carol.suppressed = true;
    carol.failing = false;
    carol.suppression_reason = Some("SEC-4 <rotation & cleanup>".into());
    let demo_inventory = demo();
    let demo_report = report_of(&demo_inventory, &settings, settings.fail_on, demo_inventory.collected_at);
    let files = [
        write(dir.path(), "hostile.xml", &rendered(Format::Junit, &report)),
        write(dir.path(), "demo.xml", &rendered(Format::Junit, &demo_report)),
    ];
    let parsed: Value = serde_json::from_str(&python(
        "read_junit.py",
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    ))
    .unwrap();
    let suites = parsed[0]["suites"].as_array().unwrap();
    let cases: Vec<&Value> = suites.iter().flat_map(|s| s["cases"].as_array().unwrap()).collect();
    let case =
        |name: &str| *cases.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no case {name}"));

    let hostile = case("key-too-old: user <&\"'>|`*_ key AKIARZ7EXAMPLEBOB001");
    assert_eq!(hostile["outcome"], "failure");
    let message = hostile["message"].as_str().unwrap();
    assert!(
        message.starts_with("key-too-old (medium): user <&\"'>|`*_, key AKIARZ7EXAMPLEBOB001"),
        "{message}"
    );
    assert_eq!(case("key-unused: user <&\"'>|`*_ key AKIARZ7EXAMPLEBOB001")["outcome"], "passed");
    let legacy = case("key-without-owner: user legacy-reporting key AKIAQ4XEXAMPLELEGACY");
    assert_eq!(legacy["outcome"], "passed", "info is under --fail-on medium");
    assert!(legacy["system_out"]
        .as_str()
        .unwrap()
        .starts_with("below --fail-on medium: key-without-owner (info)"));
    let carol = case("two-active-keys: user carol");
    assert_eq!(carol["outcome"], "skipped");
    assert!(carol["message"].as_str().unwrap().contains("SEC-4 <rotation & cleanup>"));
    let error = case("scan-error ListAccessKeys: dave</failure> #1");
    assert_eq!(error["outcome"], "error");
    assert!(error["message"].as_str().unwrap().ends_with("not authorized <script>"));
    assert_eq!(suites[1]["errors"], 1, "the failed call is in its account's suite");

    let totals = |key: &str| suites.iter().map(|s| s[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!(totals("tests"), 65 + 1, "every check, passing ones too, and the failed call");
    assert_eq!(totals("failures") as usize, report.findings.iter().filter(|f| f.failing).count());
    assert_eq!((totals("skipped"), totals("errors")), (1, 1));
    let demo_suites = parsed[1]["suites"].as_array().unwrap();
    assert_eq!(demo_suites.iter().map(|s| s["failures"].as_u64().unwrap()).sum::<u64>(), 10);
}

/// The `keyaudit ...` command lines of a CI script (a `run:` block folded into one line, or a
/// list of lines), each cut at a shell redirection.
fn keyaudit_commands(script: &str) -> Vec<Vec<String>> {
    script
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("keyaudit "))
        .map(|line| {
            line.split_whitespace().take_while(|word| !word.starts_with('>')).map(str::to_string).collect()
        })
        .collect()
}

#[test]
fn ci_recipes_parse_and_their_keyaudit_commands_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci");
    let (github, gitlab) = (root.join("github-actions.yml"), root.join("gitlab-ci.yml"));
    let parsed: Value = serde_json::from_str(&python("read_yaml.py", &[&github, &gitlab])).unwrap();

    let workflow = &parsed[0];
    assert_eq!(workflow["permissions"]["id-token"], "write", "OIDC needs an id-token");
    assert_eq!(workflow["permissions"]["security-events"], "write", "upload-sarif needs it");
    assert!(workflow["on"]["schedule"][0]["cron"].is_string());
    let steps = workflow["jobs"]["audit"]["steps"].as_array().unwrap();
    let uses =
        |prefix: &str| steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix)));
    assert!(uses("aws-actions/configure-aws-credentials@").unwrap()["with"]["role-to-assume"].is_string());
    let upload = uses("github/codeql-action/upload-sarif@").expect("a SARIF upload");
    assert_eq!(upload["if"], "always()", "findings (exit 1) must not skip the upload");
    let scan = steps.iter().find(|s| s["name"] == "Scan").unwrap()["run"].as_str().unwrap();
    assert!(scan.contains(">> \"$GITHUB_STEP_SUMMARY\""), "{scan}");
    let mut commands = keyaudit_commands(scan);

    let job = &parsed[1]["keyaudit"];
    assert_eq!(job["artifacts"]["when"], "always");
    let junit = job["artifacts"]["reports"]["junit"].as_str().unwrap();
    assert_eq!(Format::from_path(Path::new(junit)), Ok(Format::Junit));
    assert_eq!(job["id_tokens"]["AWS_ID_TOKEN"]["aud"], "sts.amazonaws.com");
    let script: Vec<&str> = job["script"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    commands.extend(keyaudit_commands(&script.join("\n")));

    assert_eq!(commands.len(), 2, "{commands:?}");
    for command in &commands {
        keyaudit::cli::Cli::try_parse_from(command).unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let outputs: Vec<&String> =
            command.windows(2).filter(|pair| pair[0] == "--output").map(|pair| &pair[1]).collect();
        for output in outputs {
            Format::from_path(Path::new(output)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    assert!(
        commands[0].contains(&"keyaudit.sarif".to_string()) && commands[0].contains(&"markdown".to_string())
    );
    assert!(commands[1].contains(&junit.to_string()), "the JUnit artifact is what the scan writes");
}

#[test]
fn the_scheduled_security_hub_recipe_parses_and_its_command_publishes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci/codebuild-buildspec.yml");
    let parsed: Value = serde_json::from_str(&python("read_yaml.py", &[&path])).unwrap();
    let spec = &parsed[0];
    assert_eq!(spec["version"], 0.2);
    let build: Vec<&str> =
        spec["phases"]["build"]["commands"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let commands = keyaudit_commands(&build.join("\n"));
    assert_eq!(commands.len(), 1, "{commands:?}");
    let command = &commands[0];
    keyaudit::cli::Cli::try_parse_from(command).unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(command.windows(2).any(|pair| pair == ["--publish", "security-hub"]), "{command:?}");
    let artifacts: Vec<&str> =
        spec["artifacts"]["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    for output in command.windows(2).filter(|pair| pair[0] == "--output").map(|pair| pair[1].as_str()) {
        Format::from_path(Path::new(output)).unwrap_or_else(|e| panic!("{e}"));
        assert!(artifacts.contains(&output), "{output} is kept as an artifact");
    }
}
