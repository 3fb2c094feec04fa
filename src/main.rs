//! Parse, run, exit. Nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use keyaudit::cli::{error_line, one_line, Cli, Command};
use keyaudit::exit::ExitStatus;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version
            let _ = error.print();
            return ExitStatus::Clean.into();
        }
        Err(error) if error.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `keyaudit` alone: the help is the useful answer, but it is still not a run.
            let _ = error.print();
            return ExitStatus::Usage.into();
        }
        Err(error) => {
            eprintln!("keyaudit: {}", one_line(&error));
            return ExitStatus::Usage.into();
        }
    };
    let result = match cli.command {
        Command::Scan(args) => args.into_plan().map_err(Into::into).and_then(keyaudit::app::scan),
        Command::Rules(args) => keyaudit::app::rules(args),
        Command::Keys(command) => keyaudit::app::keys(command),
        Command::Remediate(args) => keyaudit::app::remediate(*args),
        Command::Merge(args) => args.into_plan().map_err(Into::into).and_then(keyaudit::app::scan),
        Command::History(command) => keyaudit::app::history(command),
        Command::Completions { shell } => keyaudit::app::completions(shell),
        Command::Man { subcommand } => keyaudit::app::man(subcommand.as_deref()),
    };
    match result {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("keyaudit: error: {}", error_line(&error.to_string()));
            error.status().into()
        }
    }
}
