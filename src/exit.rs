//! Exit codes, defined once. Pass/fail is decided here from the findings and the scan's
//! completeness, beside the reporters and never inside one.

use std::process::ExitCode;

use crate::finding::{BaselineState, FailOn, Finding};

/// Why each number: 0 and 1 follow linters (clean / findings), 2 is what clap and most
/// Unix tools use for bad usage, and 3 is kept apart so a scheduler can tell "the keys are
/// bad" (1) from "we don't know, the data is missing" (3). When a scan is incomplete and
/// also has findings, 3 wins: missing data is the more urgent thing to fix, and a partial
/// scan must never look like a normal result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// No finding at or above `--fail-on`, and the scan was complete.
    Clean = 0,
    /// At least one finding at or above `--fail-on`.
    Findings = 1,
    /// Bad flags, config file or input file; nothing was scanned.
    Usage = 2,
    /// The scan failed or is incomplete (unreachable endpoint, bad credentials, calls that
    /// failed after retries). Reports are still written, marked incomplete. Also: an output
    /// file could not be written after the scan, or a change to IAM failed part-way.
    ScanFailed = 3,
}

impl ExitStatus {
    /// The status once `failed` output files could not be written after the scan. The
    /// scan's own verdict is no longer the whole truth (a reader of the missing report sees
    /// nothing), and 2 would claim nothing was scanned: 3, "we do not have what was asked".
    pub fn unless_outputs_failed(self, failed: usize) -> ExitStatus {
        if failed == 0 {
            self
        } else {
            ExitStatus::ScanFailed
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status as u8)
    }
}

/// The pass/fail verdict, computed once and shown by the reporters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    pub fail_on: FailOn,
    /// Findings at or above `fail_on` (and new, with `--fail-on-new`), not suppressed.
    pub failing: usize,
    pub complete: bool,
    /// `--fail-on-new`: only findings the baseline does not have count.
    pub new_only: bool,
}

impl Gate {
    pub fn new(findings: &[Finding], fail_on: FailOn, complete: bool) -> Gate {
        Gate::counting(findings, fail_on, complete, false)
    }

    /// With `new_only`, a finding counts only when marked new against a baseline; a finding
    /// with no baseline mark counts (there was nothing to compare it with: fail closed).
    pub fn counting(findings: &[Finding], fail_on: FailOn, complete: bool, new_only: bool) -> Gate {
        let mut gate = Gate { fail_on, failing: 0, complete, new_only };
        gate.failing = findings.iter().filter(|finding| gate.counts(finding)).count();
        gate
    }

    /// Whether this finding counts toward exit 1: not suppressed, at or above `fail_on`, and
    /// new when only new findings count. Reports show it per finding (JUnit failures).
    pub fn counts(&self, finding: &Finding) -> bool {
        !finding.is_suppressed()
            && self.fail_on.fails(finding.severity)
            && (!self.new_only || finding.baseline != Some(BaselineState::Existing))
    }

    pub fn status(&self) -> ExitStatus {
        if !self.complete {
            ExitStatus::ScanFailed
        } else if self.failing > 0 {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{RuleId, Severity};

    fn finding(severity: Severity) -> Finding {
        Finding {
            rule: RuleId::KeyUnused,
            severity,
            account_id: "1".into(),
            user_name: "u".into(),
            access_key_id: Some("K".into()),
            key_ids: vec!["K".into()],
            message: String::new(),
            key: None,
            suppression: None,
            baseline: None,
            owner: None,
            privileged_via: None,
            scope: None,
        }
    }

    #[test]
    fn status_table() {
        let low = [finding(Severity::Low)];
        let cases = [
            (&[][..], FailOn::AtOrAbove(Severity::Low), true, ExitStatus::Clean),
            (&low[..], FailOn::AtOrAbove(Severity::Low), true, ExitStatus::Findings),
            (&low[..], FailOn::AtOrAbove(Severity::Info), true, ExitStatus::Findings),
            (&low[..], FailOn::AtOrAbove(Severity::Medium), true, ExitStatus::Clean),
            (&low[..], FailOn::Never, true, ExitStatus::Clean),
            (&low[..], FailOn::Never, false, ExitStatus::ScanFailed),
            (&[][..], FailOn::AtOrAbove(Severity::Low), false, ExitStatus::ScanFailed),
        ];
        for (findings, fail_on, complete, expected) in cases {
            assert_eq!(Gate::new(findings, fail_on, complete).status(), expected, "{fail_on:?} {complete}");
        }
        let mut existing = finding(Severity::High);
        existing.baseline = Some(BaselineState::Existing);
        let mut new = finding(Severity::High);
        new.baseline = Some(BaselineState::New);
        let high = FailOn::AtOrAbove(Severity::High);
        assert_eq!(Gate::counting(&[existing.clone()], high, true, true).status(), ExitStatus::Clean);
        assert_eq!(Gate::counting(&[existing.clone()], high, true, false).status(), ExitStatus::Findings);
        assert_eq!(Gate::counting(&[existing.clone(), new], high, true, true).status(), ExitStatus::Findings);
        assert_eq!(Gate::counting(&[existing], high, false, true).status(), ExitStatus::ScanFailed);
        for status in [ExitStatus::Clean, ExitStatus::Findings, ExitStatus::ScanFailed] {
            assert_eq!(status.unless_outputs_failed(0), status);
            assert_eq!(
                status.unless_outputs_failed(1),
                ExitStatus::ScanFailed,
                "a lost output is never 0, 1 or 2"
            );
        }
    }
}
