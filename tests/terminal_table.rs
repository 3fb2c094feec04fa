//! The table as a terminal gets it (`TableStyle` with a width and colour), snapshot-tested at
//! 80 and 200 columns, with and without colour. The style is a parameter of the renderer, so
//! these are pure: no terminal needed. Files in `tests/snapshots/`; regenerate after an
//! intended change with `KEYAUDIT_BLESS=1 scripts/test --test terminal_table`.

use std::path::Path;

use keyaudit::app::{parse_inventory, DEMO_INVENTORY};
use keyaudit::config::Settings;
use keyaudit::exit::Gate;
use keyaudit::report::{Format, Report, TableStyle};
use keyaudit::rules::evaluate;

fn demo_report() -> Report {
    let inventory = parse_inventory("demo", DEMO_INVENTORY).expect("demo inventory parses");
    let settings = Settings::default();
    let as_of = inventory.collected_at;
    let findings = evaluate(&inventory, &settings.rules, as_of);
    let gate = Gate::new(&findings, settings.fail_on, inventory.is_complete());
    Report::build(&inventory, &findings, &gate, &settings.rules, &[], as_of, as_of)
}

fn table(report: &Report, style: TableStyle) -> String {
    let mut out = Vec::new();
    Format::Table.render_styled(report, &style, &mut out).expect("render");
    String::from_utf8(out).expect("utf-8")
}

/// The text without SGR colour sequences (`ESC [ ... m`).
fn strip_colour(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            assert_eq!(chars.next(), Some('['), "only CSI sequences");
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
                assert!(c.is_ascii_digit() || c == ';', "only SGR sequences, got {c:?}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_table_fits_80_and_200_columns_with_and_without_colour() {
    let report = demo_report();
    let bless = std::env::var_os("KEYAUDIT_BLESS").is_some();
    let mut stale = Vec::new();
    for width in [80u16, 200] {
        let plain = table(&report, TableStyle { width: Some(width), color: false, group_by: None });
        let coloured = table(&report, TableStyle { width: Some(width), color: true, group_by: None });
        for line in plain.lines() {
            assert!(line.chars().count() <= usize::from(width), "wider than {width}: {line}");
        }
        assert!(!plain.contains('\u{1b}'), "no colour unless asked");
        assert!(coloured.contains("\u{1b}["), "severities coloured");
        assert_eq!(strip_colour(&coloured), plain, "colour changes nothing else");
        // Key ids stay whole, however narrow.
        for key in report.findings.iter().flat_map(|f| &f.key_ids) {
            assert!(plain.contains(key.as_str()), "{key} split at {width}:\n{plain}");
        }
        for (text, name) in
            [(plain, format!("table-{width}.txt")), (coloured, format!("table-{width}-color.txt"))]
        {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(&name);
            if bless {
                std::fs::write(&path, &text).expect("write snapshot");
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "tests/snapshots/{stale:?} are out of date; run KEYAUDIT_BLESS=1 scripts/test --test terminal_table and review the diff"
    );
}

#[test]
fn at_80_columns_columns_are_left_out_and_said_so_and_at_200_none_are() {
    let report = demo_report();
    let narrow = table(&report, TableStyle { width: Some(80), color: false, group_by: None });
    let header = narrow.lines().next().unwrap();
    for kept in ["SEVERITY", "RULE", "USER", "ACCESS KEY", "DETAIL"] {
        assert!(header.contains(kept), "{header}");
    }
    assert!(!header.contains("USER ARN"), "{header}");
    assert!(
        narrow.contains("(left out to fit 80 columns: USER ARN, PATH, OWNER, LAST USED, ACCOUNT, AGE)"),
        "{narrow}"
    );
    let wide = table(&report, TableStyle { width: Some(200), color: false, group_by: None });
    assert!(wide.lines().next().unwrap().contains("USER ARN") && !wide.contains("left out"), "{wide}");
}

#[test]
fn plain_style_is_the_table_files_get() {
    let report = demo_report();
    let mut file = Vec::new();
    Format::Table.render(&report, &mut file).unwrap();
    assert_eq!(table(&report, TableStyle::PLAIN), String::from_utf8(file).unwrap());
    let sample =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/demo.txt")).unwrap();
    assert_eq!(table(&report, TableStyle::PLAIN), sample);
}

#[test]
fn control_characters_in_iam_values_stay_escaped_inside_colour() {
    let mut report = demo_report();
    report.findings[0].user_name = "evil\u{1b}[2J\u{1b}]0;title\u{7}name".to_string();
    report.findings[0].message = "bidi \u{202e}override and a\ttab".to_string();
    for width in [None, Some(80), Some(200)] {
        let coloured = table(&report, TableStyle { width, color: true, group_by: None });
        // Every escape left is one of the colour sequences (strip_colour panics on others).
        let plain = strip_colour(&coloured);
        assert!(!plain.contains('\u{1b}') && !plain.contains('\u{7}') && !plain.contains('\u{202e}'));
        if width != Some(80) {
            // (At 80 columns the escaped name is wrapped like any long word.)
            assert!(plain.contains("\\u{1b}[2J") && plain.contains("\\u{202e}"), "{plain}");
        }
        assert_eq!(plain, table(&report, TableStyle { width, color: false, group_by: None }));
    }
}

#[test]
fn group_by_gives_one_table_per_owner_account_or_rule_under_a_heading() {
    let report = demo_report();
    let style = |group_by| TableStyle { width: None, color: false, group_by: Some(group_by) };
    let by_owner = table(&report, style(keyaudit::report::GroupBy::Owner));
    let headings: Vec<&str> = by_owner.lines().filter(|line| line.starts_with("OWNER ")).collect();
    // The riskiest first: platform's high findings, then the rest in the order they come.
    assert_eq!(headings.first(), Some(&"OWNER platform: 2 finding(s)"), "{by_owner}");
    assert!(headings.contains(&"OWNER (none or unknown): 4 finding(s)"), "{headings:?}");
    let counted: usize = headings
        .iter()
        .map(|h| h.rsplit(": ").next().unwrap().trim_end_matches(" finding(s)").parse::<usize>().unwrap())
        .sum();
    assert_eq!(counted, report.findings.iter().filter(|f| !f.suppressed).count());
    let by_account = table(&report, style(keyaudit::report::GroupBy::Account));
    assert_eq!(by_account.lines().filter(|line| line.starts_with("ACCOUNT ")).count(), 2, "{by_account}");
    let by_rule = table(&report, style(keyaudit::report::GroupBy::Rule));
    assert!(by_rule.contains("RULE key-too-old: "), "{by_rule}");
    assert_eq!(
        table(&report, TableStyle::PLAIN),
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/reports/demo.txt")).unwrap()
    );
}
