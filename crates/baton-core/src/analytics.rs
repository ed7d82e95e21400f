//! Handoff analytics on the event log: per-conversation [`Facts`] folded from events, and the
//! reports computed from them ([`report`]). Pure, like the rest of the core.

mod facts;
pub mod report;
#[cfg(test)]
mod tests;

pub use facts::*;
pub use report::{AgentFigures, Drill, Durations, FactsRow, Filter, Point, Summary};
