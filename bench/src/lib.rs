//! keyaudit's benchmark: an in-process IAM simulator ([`sim`]), scenarios with their lower
//! bounds ([`scenario`]), fault injection for it ([`faults`]), a runner for the real keyaudit binary ([`runner`]) and the results
//! table ([`table`]).

pub mod faults;
pub mod history;
pub mod runner;
pub mod scenario;
pub mod sim;
pub mod table;
