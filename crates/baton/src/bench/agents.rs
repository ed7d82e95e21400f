//! Agents as people run them: logged in, on the live WebSocket, `available`; every offer they
//! see is accepted at once and the conversation closed `handle` later. Offers are observed on
//! the WebSocket only: the HTTP answer of a handoff says nothing about who gets it or when.

use super::api::{Api, NoAnswer};
use super::stats::Failures;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// A connected live WebSocket.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/v1/live` on `addr` with `token`, within `timeout`.
pub async fn connect(addr: &str, token: &str, timeout: Duration) -> anyhow::Result<Socket> {
    let url = format!("ws://{addr}/v1/live?token={token}");
    let (socket, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| anyhow::anyhow!("the live WebSocket did not open within {timeout:?}"))??;
    Ok(socket)
}

/// One live event, parsed.
#[derive(Debug)]
pub enum Live {
    /// An offer to this agent of a conversation.
    OfferToMe(String),
    /// The server could not keep up with this socket and dropped `missed` events.
    Lagged(u64),
    /// Anything else.
    Other,
}

/// Reads one text frame as a live event for agent `me`.
pub fn parse(text: &str, me: &str) -> Live {
    let Ok(event) = serde_json::from_str::<Value>(text) else {
        return Live::Other;
    };
    match event["type"].as_str() {
        Some("offered") if event["data"]["agent"].as_str() == Some(me) => {
            match event["conversation_id"].as_str() {
                Some(id) => Live::OfferToMe(id.to_string()),
                None => Live::Other,
            }
        }
        Some("lagged") => Live::Lagged(event["missed"].as_u64().unwrap_or(0)),
        _ => Live::Other,
    }
}

/// What every agent saw and did, shared with the driver.
#[derive(Debug, Default)]
pub struct Observed {
    /// The first offer of each conversation, to anyone.
    first_offer: Mutex<HashMap<String, Instant>>,
    /// Conversations that are handoffs of this run, to count them as they are offered.
    handoffs: std::collections::HashSet<String>,
    /// How many of `handoffs` were offered so far.
    offered_handoffs: watch::Sender<usize>,
    offers: AtomicU64,
    accepted: AtomicU64,
    closed: AtomicU64,
    lagged_notices: AtomicU64,
    lagged_events: AtomicU64,
    disconnects: AtomicU64,
    failures: Mutex<Failures>,
    /// Who holds what, as the agents know it: each conversation accepted and not yet being
    /// closed, and how many each agent holds.
    holding: Mutex<Holding>,
    /// Accepts answered 2xx for a conversation another agent (or the same) still held.
    double_assignments: AtomicU64,
    /// Accepts answered 2xx that took an agent past its capacity.
    capacity_overruns: AtomicU64,
}

#[derive(Debug, Default)]
struct Holding {
    by_conversation: HashMap<String, String>,
    by_agent: HashMap<String, u32>,
    most: u32,
}

impl Observed {
    /// Watches offers of the conversations `handoffs`.
    pub fn new(handoffs: impl IntoIterator<Item = String>) -> Observed {
        Observed {
            handoffs: handoffs.into_iter().collect(),
            ..Observed::default()
        }
    }

    fn offer(&self, conversation: &str, at: Instant) {
        self.offers.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_offer.lock().unwrap_or_else(|e| e.into_inner());
        if first.contains_key(conversation) {
            return;
        }
        first.insert(conversation.to_string(), at);
        if self.handoffs.contains(conversation) {
            self.offered_handoffs.send_modify(|n| *n += 1);
        }
    }

    /// `agent` got `conversation` (an accept answered 2xx). A conversation is counted as held
    /// until its close is *sent*, so what is counted is surely still held by the server: an
    /// overrun or double assignment counted here is one the server made.
    fn took(&self, agent: &Agent, conversation: &str) {
        let mut h = self.holding.lock().unwrap_or_else(|e| e.into_inner());
        if h.by_conversation
            .insert(conversation.to_string(), agent.id.clone())
            .is_some()
        {
            self.double_assignments.fetch_add(1, Ordering::Relaxed);
        }
        let held = h.by_agent.entry(agent.id.clone()).or_default();
        *held += 1;
        let held = *held;
        h.most = h.most.max(held);
        if agent.capacity.is_some_and(|c| held > c) {
            self.capacity_overruns.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `agent` is about to close `conversation`.
    fn letting_go(&self, agent: &Agent, conversation: &str) {
        let mut h = self.holding.lock().unwrap_or_else(|e| e.into_inner());
        if h.by_conversation.get(conversation) == Some(&agent.id) {
            h.by_conversation.remove(conversation);
        }
        if let Some(held) = h.by_agent.get_mut(&agent.id) {
            *held = held.saturating_sub(1);
        }
    }

    fn fail(&self, kind: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(kind);
    }

    /// When `conversation` was first offered, if it was.
    pub fn first_offer(&self, conversation: &str) -> Option<Instant> {
        self.first_offer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(conversation)
            .copied()
    }

    /// Conversations accepted whose close has not been answered yet.
    pub fn in_hand(&self) -> u64 {
        let failed_closes: u64 = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .iter()
            .filter(|(k, _)| k.starts_with("close "))
            .map(|(_, v)| v)
            .sum();
        let done = self.closed.load(Ordering::Relaxed) + failed_closes;
        self.accepted.load(Ordering::Relaxed).saturating_sub(done)
    }

    /// Follows the number of handoffs offered so far.
    pub fn offered_handoffs(&self) -> watch::Receiver<usize> {
        self.offered_handoffs.subscribe()
    }

    /// The agents' figures.
    pub fn figures(&self) -> AgentFigures {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let conflicts = |prefix: &str| {
            failures
                .0
                .iter()
                .filter(|(k, _)| k.starts_with(prefix) && k.ends_with("409"))
                .map(|(_, v)| v)
                .sum::<u64>()
        };
        let accept_conflicts = conflicts("accept ");
        let close_conflicts = conflicts("close ");
        let most_held = self.holding.lock().unwrap_or_else(|e| e.into_inner()).most;
        AgentFigures {
            double_assignments: self.double_assignments.load(Ordering::Relaxed),
            capacity_overruns: self.capacity_overruns.load(Ordering::Relaxed),
            most_held,
            offers: self.offers.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            accept_conflicts,
            closed: self.closed.load(Ordering::Relaxed),
            close_conflicts,
            still_held: self.in_hand(),
            errors: failures.total() - accept_conflicts - close_conflicts,
            lagged_notices: self.lagged_notices.load(Ordering::Relaxed),
            lagged_events: self.lagged_events.load(Ordering::Relaxed),
            disconnects: self.disconnects.load(Ordering::Relaxed),
            failures,
        }
    }
}

/// What the agents did.
#[derive(Debug, Clone, Serialize)]
pub struct AgentFigures {
    /// Offers received over the WebSockets (re-offers included).
    pub offers: u64,
    /// Accepts answered 200.
    pub accepted: u64,
    /// Accepts answered 409 (the offer expired or went to someone else meanwhile).
    pub accept_conflicts: u64,
    /// Closes answered 200.
    pub closed: u64,
    /// Closes answered 409.
    pub close_conflicts: u64,
    /// Accepted but not closed when the agents stopped.
    pub still_held: u64,
    /// Other failures of accepts and closes (statuses, timeouts, transport).
    pub errors: u64,
    /// `lagged` notices: the server dropped events for a slow socket.
    pub lagged_notices: u64,
    /// Events those notices said were dropped.
    pub lagged_events: u64,
    /// Sockets that closed before the end.
    pub disconnects: u64,
    /// Every failure by `accept <kind>` / `close <kind>`.
    pub failures: Failures,
    /// Accepts answered 2xx for a conversation an agent still held (should be 0).
    pub double_assignments: u64,
    /// Accepts answered 2xx that took an agent past its capacity (should be 0).
    pub capacity_overruns: u64,
    /// The most conversations one agent held at once.
    pub most_held: u32,
}

/// One logged-in agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Agent id.
    pub id: String,
    /// Session token.
    pub token: String,
    /// The server it talks to.
    pub instance: usize,
    /// How many conversations it may hold at once, as the server answered its creation.
    pub capacity: Option<u32>,
}

/// Runs `agent` on its open `socket` until `stop`: accepts every offer to it at once and
/// closes each accepted conversation `handle` later. Accepts and closes still pending at the
/// stop are abandoned.
pub async fn work(
    api: Api,
    agent: Agent,
    socket: Socket,
    observed: Arc<Observed>,
    handle: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = socket.split();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => match parse(&text, &agent.id) {
                    Live::OfferToMe(conversation) => {
                        observed.offer(&conversation, Instant::now());
                        tasks.spawn(take(api.clone(), agent.clone(), conversation, observed.clone(), handle));
                    }
                    Live::Lagged(missed) => {
                        observed.lagged_notices.fetch_add(1, Ordering::Relaxed);
                        observed.lagged_events.fetch_add(missed, Ordering::Relaxed);
                    }
                    Live::Other => {}
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    observed.disconnects.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            },
            // Reap finished accept/close tasks as they end.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.abort_all();
    let _ = sink.send(Message::Close(None)).await;
}

/// Accepts the offer of `conversation`, then closes it `handle` later.
async fn take(
    api: Api,
    agent: Agent,
    conversation: String,
    observed: Arc<Observed>,
    handle: Duration,
) {
    let path = format!("/v1/conversations/{conversation}/accept");
    match api
        .call(agent.instance, Method::POST, &path, &agent.token, None)
        .await
    {
        Ok(a) if a.status.is_success() => {
            observed.accepted.fetch_add(1, Ordering::Relaxed);
            observed.took(&agent, &conversation);
        }
        Ok(a) => return observed.fail(&format!("accept {}", a.status.as_u16())),
        Err(e) => return observed.fail(&format!("accept {}", e.kind())),
    }
    tokio::time::sleep(handle).await;
    observed.letting_go(&agent, &conversation);
    let path = format!("/v1/conversations/{conversation}/close");
    let body = Some(json!({"resolution": "resolved"}));
    match api
        .call(agent.instance, Method::POST, &path, &agent.token, body)
        .await
    {
        Ok(a) if a.status.is_success() => {
            observed.closed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(a) => observed.fail(&format!("close {}", a.status.as_u16())),
        Err(NoAnswer::Timeout) => observed.fail("close timeout"),
        Err(NoAnswer::Transport) => observed.fail("close transport"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_to_me_are_told_apart() {
        let offer = r#"{"seq": 9, "conversation_id": "conv_1", "type": "offered", "actor": {"type": "system"}, "data": {"agent": "agt_me", "expires_at": "2026-01-01T00:00:30Z"}, "at": "2026-01-01T00:00:00Z"}"#;
        assert!(matches!(parse(offer, "agt_me"), Live::OfferToMe(c) if c == "conv_1"));
        assert!(matches!(parse(offer, "agt_other"), Live::Other));
        assert!(matches!(
            parse(r#"{"type": "lagged", "missed": 12}"#, "agt_me"),
            Live::Lagged(12)
        ));
        assert!(matches!(parse("not json", "agt_me"), Live::Other));
    }
}
