//! Publishing a scan's findings where the organisation tracks work. A step of the scan after
//! evaluation (see `app::scan`), like the history record: it reads the report, never changes
//! it, and never decides pass/fail; its failures cost exit 3 beside the scan's own status.

pub mod security_hub;

/// Where `scan --publish` sends findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// AWS Security Hub (BatchImportFindings), in the scan's region.
    SecurityHub,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::SecurityHub => "security-hub",
        }
    }
}
