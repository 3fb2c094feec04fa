//! The launcher mode that measures keyaudit's own peak RSS.

use std::process::Command;

#[test]
fn launcher_reports_exit_code_and_rss() {
    let dir = std::env::temp_dir().join(format!("keyaudit-bench-launcher-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("rusage");
    let status = Command::new(env!("CARGO_BIN_EXE_keyaudit-bench"))
        .args(["__launch".as_ref(), out.as_os_str(), "/bin/sh".as_ref(), "-c".as_ref(), "exit 3".as_ref()])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let text = std::fs::read_to_string(&out).unwrap();
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words[..3], ["exit", "3", "rss"], "{text}");
    let rss: u64 = words[3].parse().unwrap();
    // A shell: more than nothing, far less than the 64 MiB a parent's RSS would add.
    assert!(rss > 0 && rss < 64 * 1024, "{rss} KiB");
    std::fs::remove_dir_all(&dir).unwrap();
}
