//! Who may see a conversation, read once per instance for all its live streams.
//!
//! Every agent's live stream decides, per event, whether the agent may see the event's
//! conversation. Asked of the store by each stream on its own, one event cost as many queries as
//! there were agents connected, and on PostgreSQL the streams fell seconds behind the events
//! (offers included). Here the first stream to meet an event reads the conversation's
//! [`Sight`] and the others wait for that one read; each applies it to its own agent
//! ([`AgentScope::sees`]).

use baton_core::{ConversationId, TenantId};
use baton_store::{Sight, Store, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OnceCell;

/// Conversations whose latest read is remembered before starting over.
const REMEMBERED: usize = 10_000;

/// One read of a conversation's sight, good for its events up to `seq`.
#[derive(Debug)]
struct Read {
    /// The seq of the event it was started for: it started after that event was published, so
    /// after its commit and every earlier commit of the conversation (one conversation's commits
    /// are serialized, in seq order).
    seq: i64,
    sight: OnceCell<Option<Sight>>,
}

/// The instance's shared reads (one per conversation, the latest).
#[derive(Debug, Default)]
pub struct Sights {
    reads: Mutex<HashMap<(TenantId, ConversationId), Arc<Read>>>,
}

impl Sights {
    /// The sight of `conversation` as of its event `seq` or later: read from the store by the
    /// first stream that asks for this event, shared with the others (`None`: not the
    /// tenant's).
    pub async fn get(
        &self,
        store: &dyn Store,
        tenant: &TenantId,
        conversation: &ConversationId,
        seq: i64,
    ) -> StoreResult<Option<Sight>> {
        let read = {
            let mut reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (tenant.clone(), conversation.clone());
            match reads.get(&key) {
                Some(read) if read.seq >= seq => read.clone(),
                _ => {
                    if reads.len() >= REMEMBERED {
                        reads.clear();
                    }
                    let read = Arc::new(Read {
                        seq,
                        sight: OnceCell::new(),
                    });
                    reads.insert(key, read.clone());
                    read
                }
            }
        };
        read.sight
            .get_or_try_init(|| store.conversation_sight(tenant, conversation))
            .await
            .cloned()
    }
}
