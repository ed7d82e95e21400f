//! In-process fan-out of committed events to live subscribers (WebSocket clients).

use crate::model::StoredEvent;
use std::sync::Arc;
use tokio::sync::broadcast;

/// The broadcast hub a store publishes committed events to.
#[derive(Debug, Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<StoredEvent>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        // Slow consumers that fall more than this far behind are told they lagged.
        let (sender, _) = broadcast::channel(4096);
        LiveHub { sender }
    }
}

impl LiveHub {
    /// A new receiver for events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.sender.subscribe()
    }

    /// Publishes events in order. Having no subscriber is fine.
    pub fn publish(&self, events: impl IntoIterator<Item = StoredEvent>) {
        for event in events {
            let _ = self.sender.send(Arc::new(event));
        }
    }
}
