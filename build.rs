//! Records the commit the binary is built from (see `src/build_info.rs`) as
//! `KEYAUDIT_BUILD_COMMIT`, for `--version`. Never fails: without git it says so.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/build_info.rs"]
#[allow(dead_code)]
mod build_info;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/build_info.rs");
    println!("cargo:rerun-if-env-changed=KEYAUDIT_GIT_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let canonical = |path: &Path| path.canonicalize().ok();
    let own = git(&dir, &["rev-parse", "--show-toplevel"]).is_some_and(|top| {
        canonical(Path::new(&top)).is_some() && canonical(Path::new(&top)) == canonical(&dir)
    });
    let head = if own { git(&dir, &["rev-parse", "--short", "HEAD"]) } else { None };
    if own {
        // Rebuild the label when HEAD moves: HEAD itself (a branch switch, a detached
        // checkout) and the branch's ref, loose or packed (a commit). Paths from git, so
        // worktrees (whose HEAD is not under .git/) work too.
        for (args, file) in [
            (&["rev-parse", "--git-path", "HEAD"][..], None),
            (&["rev-parse", "--git-path", "packed-refs"][..], None),
            (&["symbolic-ref", "-q", "HEAD"][..], Some(())),
        ] {
            let Some(path) = git(&dir, args) else { continue };
            let path = match file {
                // A branch name: where its ref file lives.
                Some(()) => match git(&dir, &["rev-parse", "--git-path", &path]) {
                    Some(path) => path,
                    None => continue,
                },
                None => path,
            };
            println!("cargo:rerun-if-changed={}", dir.join(path).display());
        }
    }
    let explicit = std::env::var("KEYAUDIT_GIT_COMMIT").ok();
    let label = build_info::commit_label(explicit.as_deref(), own, head.as_deref());
    println!("cargo:rustc-env=KEYAUDIT_BUILD_COMMIT={label}");
}
