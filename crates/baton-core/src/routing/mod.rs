//! The routing engine: queues, agents and waiting conversations in, offers and other
//! decisions out.
//!
//! [`Router`] is an indexed in-memory model of one tenant's routing state. The server rebuilds it
//! from the store on start ([`Router::new`], then [`Router::route_all`]), feeds it every event
//! that matters to routing (a conversation queued, an agent's presence or capacity changed, an
//! offer declined, a conversation closed or transferred, a queue opened) and applies the
//! [`Decision`]s it returns as conversation commands. Time is always a parameter; timers are the
//! caller's to persist ([`Router::next_timer`], [`Router::tick`]).
//!
//! [`sim`] runs the same router in a discrete-event simulation, and [`erlang_c`] gives the
//! textbook M/M/c answer it is checked against.

mod decision;
mod erlang;
mod model;
mod router;
pub mod sim;

pub use decision::{Candidate, Decision, Explanation, Position};
pub use erlang::erlang_c;
pub use model::{
    AgentInfo, AgentStats, ConversationInfo, Eligibility, Exclusion, MatchWeights, Memory,
    MissedOffer, OverflowAction, OverflowStep, QueueConfig, QueueMemory, RouterConfig,
    RoutingState, SkillRequirement, Strategy,
};
pub use router::{Router, RouterError, TransferTarget};

#[cfg(test)]
mod tests;
