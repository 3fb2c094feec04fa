//! The formats made for other tools (ASFF, OCSF, JUnit), checked by those tools' own
//! definitions in the test venv: Security Hub's API model (botocore), the OCSF schema, and
//! Python's XML reader. Reports come from the demo inventory, as `reports/` has them, and
//! from a hostile variant (markup in names, a failed call, a suppression).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
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
