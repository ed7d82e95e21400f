//! Baton's application layer: the use cases between the HTTP server (which parses, authorizes
//! and maps errors) and the store (which only persists).
//!
//! - [`service`]: the commands. Each opens one transaction, loads and locks what it changes,
//!   lets the core decide, appends the core's events with their projections and follow-up
//!   jobs, and commits. Nothing else writes conversation state.
//! - [`routing`]: live routing. Each tenant's router in memory on the instance that holds the
//!   tenant's lease, fed by the event log, committing its decisions in fenced transactions.
//!
//! The bots, the brief and deliveries still live in the server; they move here next (see
//! `../shared/DESIGN.md`).

pub mod routing;
pub mod service;

pub use routing::Routing;
