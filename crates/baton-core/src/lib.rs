//! Baton's pure domain.
//!
//! Everything here is a function of its inputs: no I/O, no async, no clock reads. Time comes in
//! as a [`Timestamp`] value. The store and the server call into this crate; it calls nothing back.

pub mod analytics;
pub mod brief;
pub mod conversation;
pub mod escalation;
pub mod hours;
pub mod ids;
pub mod language;
pub mod routing;
pub mod time;
pub mod values;

pub use conversation::{
    Actor, Command, Conversation, ConversationState, EventKind, HandoffSource, TransitionError,
};
pub use ids::{
    AgentId, ApiKeyId, AttachmentId, ConversationId, CustomerId, MessageId, QueueId, TenantId,
};
pub use time::Timestamp;
pub use values::{AgentStatus, CsatScore, EmailAddress, MessageRole, Priority, Role, ValueError};
