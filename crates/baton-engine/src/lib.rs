//! Baton's application layer: the use cases between the HTTP server (which parses, authorizes
//! and maps errors) and the store (which only persists).
//!
//! Today it holds live routing ([`routing`]): each tenant's router in memory on the instance
//! that holds the tenant's lease, fed by the event log, committing its decisions in fenced
//! transactions. The conversation commands still live in `baton_store::service`, and the bots,
//! the brief and deliveries in the server; they move here next (see `../shared/DESIGN.md`).

pub mod routing;

pub use routing::Routing;
