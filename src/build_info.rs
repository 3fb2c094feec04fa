//! Which commit a binary was built from, for `keyaudit --version` (`keyaudit 0.1.0 (a1b2c3d)`).
//!
//! `build.rs` includes this file to decide the label at build time, and the library includes
//! it so the decision is unit-tested: a build script has no tests of its own. A build from a
//! tarball, a crate or a Docker context without `.git` must still succeed, and say so
//! instead of guessing: a checkout nested in some other repository is not that repository's
//! commit either.

/// What `--version` says when the commit is not known.
pub const OUTSIDE_GIT: &str = "not built from git";

/// The commit label: `explicit` (the `KEYAUDIT_GIT_COMMIT` variable, for builds whose
/// context has no `.git`, such as the Dockerfile's) if it is a commit id, else `short_head`
/// (`git rev-parse --short HEAD`) when git's top level is the crate's own directory, else
/// [`OUTSIDE_GIT`].
pub fn commit_label(explicit: Option<&str>, git_toplevel_is_crate: bool, short_head: Option<&str>) -> String {
    let commit = |text: &str| {
        let text = text.trim();
        (4..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
    };
    match (explicit.map(str::trim), short_head.map(str::trim)) {
        (Some(id), _) if commit(id) => id.to_ascii_lowercase(),
        (_, Some(head)) if git_toplevel_is_crate && commit(head) => head.to_ascii_lowercase(),
        _ => OUTSIDE_GIT.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_is_a_commit_id_or_says_it_is_not_known() {
        let cases = [
            ("a checkout", None, true, Some("a1b2c3d\n"), "a1b2c3d"),
            ("no .git (git failed)", None, false, None, OUTSIDE_GIT),
            ("git answered for an enclosing repository", None, false, Some("0123abc"), OUTSIDE_GIT),
            (
                "git printed something that is not a commit",
                None,
                true,
                Some("fatal: not a git repository"),
                OUTSIDE_GIT,
            ),
            ("empty output", None, true, Some(""), OUTSIDE_GIT),
            ("given explicitly (Docker)", Some("DEADBEE"), false, None, "deadbee"),
            ("an explicit value wins", Some("1234567"), true, Some("a1b2c3d"), "1234567"),
            ("an explicit empty value is ignored", Some(""), true, Some("a1b2c3d"), "a1b2c3d"),
            ("an explicit non-commit is ignored", Some("latest"), false, None, OUTSIDE_GIT),
        ];
        for (name, explicit, own, head, expected) in cases {
            assert_eq!(commit_label(explicit, own, head), expected, "{name}");
        }
    }
}
