//! `keyaudit remediate`: the plan, and after `--apply` what happened to each action.

use std::io::{self, Write};

use serde::Serialize;

use super::{table::new_table, Format};
use crate::remediate::apply::{Outcome, Result as ApplyResult};
use crate::remediate::{Action, Plan, PlannedAction};

#[derive(Serialize)]
struct PlanDocument<'a> {
    applied: bool,
    plan: &'a Plan,
    outcomes: Option<&'a [Outcome]>,
}

/// Renders the plan (`outcomes` is `None` when nothing was applied). CSV is not offered:
/// the plan is for reading and the JSON for machines.
pub fn render_plan(
    format: Format,
    plan: &Plan,
    outcomes: Option<&[Outcome]>,
    max_actions: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == Format::Json {
        return super::write_json(out, &PlanDocument { applied: outcomes.is_some(), plan, outcomes });
    }
    if plan.actions.is_empty() {
        writeln!(out, "Nothing to remediate.")?;
    } else {
        let mut table =
            new_table(["#", "ACTION", "ACCOUNT", "USER", "ACCESS KEY", "RULES", "RESULT", "DETAIL"]);
        for (index, action) in plan.actions.iter().enumerate() {
            let (result, detail) = match outcomes.and_then(|all| all.get(index)) {
                Some(outcome) => (outcome.result.as_str().to_string(), outcome.detail.clone()),
                None if index >= max_actions => {
                    ("over-limit".to_string(), format!("over --max-actions {max_actions}"))
                }
                None => ("planned".to_string(), action.reason.clone()),
            };
            table.add_row(row(index, action, result, detail));
        }
        // User names come from reports and inventories: shown, never obeyed by the terminal.
        writeln!(out, "{}", crate::output::escape_controls(&table.to_string(), true))?;
    }
    let deactivate = plan.actions.iter().filter(|a| a.action == Action::Deactivate).count();
    writeln!(
        out,
        "\n{} action(s) planned ({deactivate} deactivate, {} delete); {} finding(s) lead to no action.",
        plan.actions.len(),
        plan.actions.len() - deactivate,
        plan.not_planned.len()
    )?;
    match outcomes {
        None if !plan.actions.is_empty() => {
            writeln!(out, "Plan only: nothing was changed. Run with --apply to apply it.")
        }
        None => Ok(()),
        Some(outcomes) => {
            let count = |result: ApplyResult| outcomes.iter().filter(|o| o.result == result).count();
            writeln!(
                out,
                "Applied {}, skipped {}, failed {}, not attempted (over --max-actions) {}.",
                count(ApplyResult::Applied),
                count(ApplyResult::Skipped),
                count(ApplyResult::Failed),
                count(ApplyResult::OverLimit)
            )
        }
    }
}

fn row(index: usize, action: &PlannedAction, result: String, detail: String) -> [String; 8] {
    [
        (index + 1).to_string(),
        action.action.to_string(),
        action.account_id.clone(),
        action.user_name.clone(),
        action.access_key_id.clone(),
        action.rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
        result,
        detail,
    ]
}
