//! The sample reports in `reports/` are what `keyaudit scan --demo` writes. This test keeps
//! them current (and so doubles as a snapshot test of every format).
//! Regenerate after an intended change: `KEYAUDIT_BLESS=1 scripts/test --test sample_reports`.

use std::path::Path;

use keyaudit::app::{parse_inventory, DEMO_INVENTORY};
use keyaudit::config::Settings;
use keyaudit::exit::{ExitStatus, Gate};
use keyaudit::report::{Format, Report};
use keyaudit::rules::evaluate;

#[test]
fn sample_reports_match_the_demo() {
    let inventory = parse_inventory("demo", DEMO_INVENTORY).expect("demo inventory parses");
    let settings = Settings::default();
    let as_of = inventory.collected_at;
    let findings = evaluate(&inventory, &settings.rules, as_of);
    let gate = Gate::new(&findings, settings.fail_on, inventory.is_complete());
    assert_eq!(gate.status(), ExitStatus::Findings);
    // generated_at is pinned to the collection time so the files are reproducible.
    let report =
        Report::build(&inventory, &findings, &gate, &settings.rules, &[], as_of, inventory.collected_at);

    let bless = std::env::var_os("KEYAUDIT_BLESS").is_some();
    let mut stale = Vec::new();
    for (format, name) in [
        (Format::Table, "demo.txt"),
        (Format::Csv, "demo.csv"),
        (Format::Json, "demo.json"),
        (Format::Sarif, "demo.sarif"),
        (Format::Asff, "demo.asff.json"),
        (Format::Ocsf, "demo.ocsf.json"),
        (Format::Junit, "demo.xml"),
        (Format::Markdown, "demo.md"),
        (Format::Html, "demo.html"),
    ] {
        let mut rendered = Vec::new();
        format.render(&report, &mut rendered).expect("render");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports").join(name);
        if bless {
            std::fs::write(&path, &rendered).expect("write sample report");
        } else if std::fs::read(&path).ok().as_deref() != Some(rendered.as_slice()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "reports/{stale:?} are out of date; run KEYAUDIT_BLESS=1 scripts/test --test sample_reports and review the diff"
    );
}
