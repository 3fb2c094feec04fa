//! Shell completions and the man page, generated from the clap definitions in
//! [`crate::cli`] at run time (`keyaudit completions SHELL`, `keyaudit man`): never written by
//! hand, so they cannot drift from the flags. A subcommand rather than a build step, so a
//! packager gets them from the binary they ship, with no build-time output directory to find.

use std::io::{self, Write};

use clap::CommandFactory;

use crate::cli::{Cli, Shell};

/// Writes the completion script for `shell`.
pub fn completions(shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "keyaudit", out);
    Ok(())
}

/// Writes the man page `keyaudit(1)`, which lists every subcommand as `keyaudit-NAME(1)`, or
/// with `subcommand` that page, with all its flags. `None` from `Err` names the known ones.
pub fn man(subcommand: Option<&str>, out: &mut dyn Write) -> Result<io::Result<()>, String> {
    let mut command = Cli::command();
    command.build();
    let page = match subcommand {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                return Err(format!("no subcommand `{name}` (known: {})", names.join(", ")));
            };
            // The page's name and title as the main page refers to it.
            sub.clone().name(format!("keyaudit-{name}")).version(crate::cli::VERSION)
        }
    };
    Ok(clap_mangen::Man::new(page).render(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    const SUBCOMMANDS: [&str; 8] =
        ["scan", "rules", "remediate", "keys", "merge", "history", "completions", "man"];

    #[test]
    fn every_completion_script_knows_every_subcommand() {
        for shell in Shell::value_variants() {
            let mut out = Vec::new();
            completions(*shell, &mut out).unwrap();
            let script = String::from_utf8(out).unwrap();
            for name in SUBCOMMANDS {
                assert!(script.contains(name), "{shell:?} completions lack `{name}`");
            }
            assert!(script.contains("max-key-age-days"), "{shell:?} completions lack scan's flags");
        }
    }

    #[test]
    fn the_man_pages_are_roff_listing_every_subcommand_and_the_version() {
        let page = |name: Option<&str>| {
            let mut out = Vec::new();
            man(name, &mut out).unwrap().unwrap();
            String::from_utf8(out).unwrap()
        };
        let main = page(None);
        assert!(main.contains(".TH keyaudit 1"), "{main}");
        assert!(main.contains(crate::cli::VERSION), "the page carries the version with its commit");
        for name in SUBCOMMANDS {
            assert!(main.contains(&format!("keyaudit\\-{name}(1)")), "the man page lacks `{name}`");
        }
        let scan = page(Some("scan"));
        assert!(scan.contains(".TH keyaudit-scan 1") && scan.contains("max\\-key\\-age\\-days"), "{scan}");
        assert!(scan.contains(crate::cli::VERSION));
        let mut out = Vec::new();
        assert!(man(Some("nope"), &mut out).unwrap_err().contains("known: scan, rules"));
    }
}
