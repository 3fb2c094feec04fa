//! keyaudit: audit AWS IAM user access keys.
//!
//! `crawl` (SDK) -> `model::Inventory` -> `rules::evaluate` -> `rules::Finding` ->
//! `exit::Gate` + `report::Report` -> renderers. See the README for the user's view.

pub mod app;
pub mod baseline;
pub mod build_info;
pub mod cli;
pub mod config;
pub mod crawl;
pub mod credential_report;
pub mod exit;
pub mod finding;
pub mod generate;
pub mod history;
pub mod input;
pub mod keys;
pub mod merge;
pub mod model;
pub mod output;
pub mod privilege;
pub mod publish;
pub mod remediate;
pub mod report;
pub mod rules;
pub mod split;
pub mod suppress;
