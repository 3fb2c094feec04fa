//! The HTML report in a real browser: Debian's `chromium`, headless. It loads
//! `reports/demo.html` from disk (as a reviewer opening an attachment would), runs its script,
//! and the DOM it ends with must hold every finding of the demo; a screenshot must be drawn.
//! A report with script in its IAM values must not run it.
//!
//! Without a chromium binary these tests print why they did not run and pass: `scripts/test`
//! installs chromium (`apt-get install chromium`) when it runs as root and it is missing.
//! Point `KEYAUDIT_CHROMIUM` at another Chromium/Chrome binary to use it instead.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyaudit::report::Format;
use support::demo_report;

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KEYAUDIT_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn skip(test: &str) {
    println!(
        "SKIPPED {test}: no chromium binary on PATH (apt-get install chromium, or set KEYAUDIT_CHROMIUM); \
         scripts/test installs it when run as root"
    );
}

/// Runs headless chromium on `page` with `args`, in its own profile directory, bounded to a
/// minute; returns stdout.
fn run_chromium(binary: &Path, page: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(binary)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).expect("read chromium's output"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => {
                assert!(status.success(), "chromium failed: {status}");
                break;
            }
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("chromium did not finish within 60 s");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    reader.join().expect("reader thread")
}

fn text_of_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[test]
fn the_demo_report_renders_every_finding_in_headless_chromium() {
    let Some(binary) = chromium() else {
        return skip("the_demo_report_renders_every_finding_in_headless_chromium");
    };
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/demo.html");
    let dom = run_chromium(&binary, &page, &["--dump-dom".to_string()]);

    let report = demo_report();
    assert!(!report.findings.is_empty());
    for f in &report.findings {
        assert!(dom.contains(&text_of_html(&f.finding_id)), "{} not in the rendered DOM", f.finding_id);
    }
    // The script ran: it showed the filter controls and counted the rows it shows.
    let count = format!("{n} of {n} shown", n = report.findings.len());
    assert!(dom.contains(&count), "the table script did not run:\n{dom}");
    assert!(dom.contains("<div id=\"controls\">"), "controls still hidden");
    assert_eq!(dom.matches("<svg").count(), 2, "both charts are in the page");

    let dir = tempfile::tempdir().expect("screenshot dir");
    let shot = dir.path().join("demo.png");
    run_chromium(
        &binary,
        &page,
        &[format!("--screenshot={}", shot.display()), "--window-size=1400,2400".to_string()],
    );
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} bytes", png.len());
}

#[test]
fn script_in_iam_values_does_not_run_in_the_browser() {
    let Some(binary) = chromium() else { return skip("script_in_iam_values_does_not_run_in_the_browser") };
    let mut report = demo_report();
    let hostile = "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\">";
    report.findings[0].user_name = hostile.to_string();
    report.findings[0].owner = Some(format!("\"onload=\"document.title='owned'{hostile}"));
    let dir = tempfile::tempdir().expect("page dir");
    let page = dir.path().join("hostile.html");
    let mut html = Vec::new();
    Format::Html.render(&report, &mut html).expect("render");
    std::fs::write(&page, html).expect("write page");

    let dom = run_chromium(&binary, &page, &["--dump-dom".to_string()]);
    assert!(!dom.contains("owned</title>"), "a value's script ran:\n{dom}");
    assert!(dom.contains("<title>keyaudit: FAIL"), "{dom}");
    assert!(!dom.contains("<img"), "a value became an element:\n{dom}");
    // The value is shown as text.
    assert!(dom.contains("&lt;script&gt;document.title='owned'&lt;/script&gt;"), "{dom}");
}
