//! Routing in the server, end to end: offers on handoff, accept, decline, expiry on persisted
//! timers (also across a restart), capacity, presence, and a two-instance storm on PostgreSQL.
//!
//! Nothing here sleeps for a guessed duration: waits are for an event on the live WebSocket
//! (or a state visible through the API) with a timeout.

mod common;

use common::*;
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: std::net::SocketAddr, token: &str) -> Socket {
    let url = format!("ws://{addr}/v1/live?token={token}");
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    assert_eq!(response.status(), 101);
    socket
}

/// Reads live events until one matches `pred` (within `secs` seconds); returns it.
async fn wait_for(socket: &mut Socket, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; saw {seen:#?}"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            if pred(&event) {
                return event;
            }
            seen.push(event);
        }
    }
}

fn is(event: &Value, kind: &str, conversation: &str) -> bool {
    event["type"] == kind && event["conversation_id"] == conversation
}

/// Creates an agent with `capacity` in `queues`, logs in, and sets `status`.
async fn agent(
    app: &TestApp,
    email: &str,
    capacity: u32,
    queues: &[&str],
    status: &str,
) -> (String, String) {
    let created = app
        .post(
            "/v1/agents",
            &app.admin_token,
            json!({"email": email, "name": email.split('@').next().unwrap(), "password": PASSWORD,
                   "role": "agent", "languages": ["en"], "queues": queues, "capacity": capacity}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let login = send(
        &app.client,
        Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["token"].as_str().unwrap().to_string();
    if status != "offline" {
        set_status(app, &token, status).await;
    }
    (created.body["id"].as_str().unwrap().to_string(), token)
}

async fn set_status(app: &TestApp, token: &str, status: &str) {
    let res = app
        .put("/v1/agents/me/status", token, json!({"status": status}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

async fn queue(app: &TestApp, id: &str, offer_timeout_secs: u32) {
    let res = app
        .post(
            "/v1/queues",
            &app.admin_token,
            json!({"id": id, "name": id, "offer_timeout_secs": offer_timeout_secs}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
}

async fn handoff(app: &TestApp, id: &str, queue: Option<&str>) -> Value {
    let mut body = json!({"reason": "customer_request"});
    if let Some(q) = queue {
        body["queue"] = json!(q);
    }
    let res = app
        .post(
            &format!("/v1/conversations/{id}/handoff"),
            &app.api_key,
            body,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body
}

async fn new_conversation(app: &TestApp, n: usize) -> String {
    let res = app
        .post(
            "/v1/conversations",
            &app.api_key,
            json!({"customer": {"external_id": format!("cust-{n}"), "name": "Ann"}, "channel": "web"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    res.body["id"].as_str().unwrap().to_string()
}

async fn get(app: &TestApp, id: &str) -> Value {
    let res = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body
}

async fn events(app: &TestApp, id: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/conversations/{id}/events?limit=500"),
            &app.admin_token,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["items"].as_array().unwrap().clone()
}

fn offered_to(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "offered")
        .map(|e| e["data"]["agent"].as_str().unwrap().to_string())
        .collect()
}

async fn act(app: &TestApp, id: &str, token: &str, what: &str) -> Res {
    app.post(&format!("/v1/conversations/{id}/{what}"), token, json!({}))
        .await
}

// ---------------------------------------------------------------- offers, accept, decline

async fn offer_decline_accept(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "routing_offer").await else {
        return;
    };
    // No queues: the built-in default queue, every agent works it.
    let (a, a_token) = agent(&app, "a@routing.example", 1, &[], "available").await;
    let (b, b_token) = agent(&app, "b@routing.example", 1, &[], "available").await;

    let id = new_conversation(&app, 1).await;
    let after = handoff(&app, &id, None).await;
    // Offered within the handoff request: `a` has been idle longest.
    assert_eq!(after["state"], "queued");
    assert_eq!(after["offer"]["agent"], a.as_str(), "{after}");
    let view = get(&app, &id).await;
    assert_eq!(view["offer"]["agent"], a.as_str());
    assert_eq!(view["routing"]["strategy"], "longest_idle", "{view}");
    assert!(
        view["routing"]["winner_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{view}"
    );
    let log = events(&app, &id).await;
    let offered = log
        .iter()
        .find(|e| e["type"] == "offered")
        .expect("offered event");
    assert_eq!(offered["actor"]["type"], "system", "{offered}");
    assert!(
        offered["data"]["explanation"]["candidates"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{offered}"
    );

    // Only the offered agent may answer.
    act(&app, &id, &b_token, "accept")
        .await
        .assert_error(409, "no_offer");
    // Decline: offered to the next eligible agent at once.
    let declined = act(&app, &id, &a_token, "decline").await;
    assert_eq!(declined.status, 200, "{}", declined.body);
    assert_eq!(
        declined.body["offer"]["agent"],
        b.as_str(),
        "{}",
        declined.body
    );
    // b declines too: nobody else is eligible, so it waits, never offered to a decliner again.
    let declined = act(&app, &id, &b_token, "decline").await;
    assert_eq!(declined.status, 200);
    assert_eq!(declined.body["state"], "queued");
    assert!(declined.body["offer"].is_null(), "{}", declined.body);
    assert_eq!(
        offered_to(&events(&app, &id).await),
        vec![a.clone(), b.clone()]
    );

    // A second conversation: accept makes it assigned.
    let id2 = new_conversation(&app, 2).await;
    let after = handoff(&app, &id2, None).await;
    let to = after["offer"]["agent"]
        .as_str()
        .expect("offered")
        .to_string();
    let token = if to == a { &a_token } else { &b_token };
    let accepted = act(&app, &id2, token, "accept").await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.body["state"], "assigned");
    assert_eq!(accepted.body["assignee"], to.as_str());
    let kinds: Vec<String> = events(&app, &id2)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"handoff_requested".to_string()),
        "{kinds:?}"
    );
    assert!(
        kinds.ends_with(&["offered".into(), "assigned".into()]),
        "{kinds:?}"
    );
}

// ---------------------------------------------------------------- expiry on persisted timers

async fn offer_expires_and_moves_on(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "routing_expiry").await else {
        return;
    };
    queue(&app, "support", 5).await;
    let (a, _) = agent(&app, "a@expiry.example", 1, &["support"], "available").await;
    let (b, _) = agent(&app, "b@expiry.example", 1, &["support"], "available").await;
    let mut socket = connect(app.instance.addr, &app.admin_token).await;
    let id = new_conversation(&app, 1).await;
    let after = handoff(&app, &id, Some("support")).await;
    assert_eq!(after["offer"]["agent"], a.as_str());

    let expired = wait_for(&mut socket, 15, |e| is(e, "offer_expired", &id)).await;
    assert_eq!(expired["data"]["agent"], a.as_str());
    assert_eq!(expired["actor"]["type"], "system");
    let next = wait_for(&mut socket, 5, |e| is(e, "offered", &id)).await;
    assert_eq!(next["data"]["agent"], b.as_str());
    assert_eq!(get(&app, &id).await["offer"]["agent"], b.as_str());
}

/// The instance that made the offer stops; a new one on the same database expires it.
async fn offer_expires_across_a_restart(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "routing_restart").await else {
        return;
    };
    queue(&app, "support", 5).await;
    let (a, _) = agent(&app, "a@restart.example", 1, &["support"], "available").await;
    let (b, _) = agent(&app, "b@restart.example", 1, &["support"], "available").await;
    let id = new_conversation(&app, 1).await;
    assert_eq!(
        handoff(&app, &id, Some("support")).await["offer"]["agent"],
        a.as_str()
    );

    let TestApp {
        db,
        instance,
        admin_token,
        client,
        tenant,
        ..
    } = app;
    drop(instance);
    let second = start_instance(db.url()).await;
    let mut socket = connect(second.addr, &admin_token).await;
    let next = wait_for(&mut socket, 15, |e| is(e, "offered", &id)).await;
    assert_eq!(next["data"]["agent"], b.as_str());
    let view = send(
        &client,
        Method::GET,
        &format!("{}/v1/conversations/{id}", second.base),
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(view.body["offer"]["agent"], b.as_str(), "{}", view.body);
    let _ = tenant;
}

// ---------------------------------------------------------------- capacity and presence

async fn capacity_holds_until_close(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "routing_capacity").await else {
        return;
    };
    let (a, a_token) = agent(&app, "a@capacity.example", 1, &[], "available").await;
    let first = new_conversation(&app, 1).await;
    assert_eq!(
        handoff(&app, &first, None).await["offer"]["agent"],
        a.as_str()
    );
    assert_eq!(act(&app, &first, &a_token, "accept").await.status, 200);

    let second = new_conversation(&app, 2).await;
    let after = handoff(&app, &second, None).await;
    assert_eq!(after["state"], "queued");
    assert!(after["offer"].is_null(), "{after}");
    // Waiting, first in line, with an estimate (one agent staffed).
    assert_eq!(after["position"], 1, "{after}");
    assert!(after["estimated_wait_secs"].as_u64().is_some(), "{after}");
    assert!(
        events(&app, &second)
            .await
            .iter()
            .any(|e| e["type"] == "queue_positions")
    );

    let closed = act(&app, &first, &a_token, "close").await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let view = get(&app, &second).await;
    assert_eq!(view["offer"]["agent"], a.as_str(), "{view}");
    assert!(view["position"].is_null());
}

async fn away_releases_offers_and_available_gets_them(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "routing_presence").await else {
        return;
    };
    // Nobody available: the conversation stays queued (not deferred).
    let (a, a_token) = agent(&app, "a@presence.example", 2, &[], "offline").await;
    let (b, b_token) = agent(&app, "b@presence.example", 2, &[], "offline").await;
    let id = new_conversation(&app, 1).await;
    let after = handoff(&app, &id, None).await;
    assert_eq!(after["state"], "queued");
    assert!(after["offer"].is_null());

    // Becoming available routes at once (within the status request).
    set_status(&app, &a_token, "available").await;
    assert_eq!(get(&app, &id).await["offer"]["agent"], a.as_str());
    set_status(&app, &b_token, "available").await;
    // Going away withdraws the pending offer, and it moves on.
    set_status(&app, &a_token, "away").await;
    let view = get(&app, &id).await;
    assert_eq!(view["offer"]["agent"], b.as_str(), "{view}");
    let log = events(&app, &id).await;
    assert!(
        log.iter()
            .any(|e| e["type"] == "offer_expired" && e["data"]["agent"] == a.as_str())
    );
    assert_eq!(offered_to(&log), vec![a, b]);
}

/// An agent whose live connection closed is set away after the stale delay, releasing offers.
async fn stale_presence_sets_away(backend: Backend) {
    let Some(db) = database(backend, "routing_stale").await else {
        return;
    };
    let instance = start_instance(db.url()).await;
    let app = TestApp::with_instance(db, instance).await;
    let (a, a_token) = agent(&app, "a@stale.example", 1, &[], "available").await;
    // A second instance with a short stale delay, on the same database.
    let store = baton_store::connect(app.db.url()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut state = baton_server::AppState::new(store);
    state.stale_presence_ms = 300;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(baton_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    // Watch on the second instance: with SQLite, live events reach the process that wrote them.
    let mut watcher = connect(addr, &app.admin_token).await;
    let mut socket = connect(addr, &a_token).await;
    let id = new_conversation(&app, 1).await;
    assert_eq!(handoff(&app, &id, None).await["offer"]["agent"], a.as_str());
    socket.send(Message::Close(None)).await.unwrap();
    drop(socket);
    let changed = wait_for(&mut watcher, 10, |e| e["type"] == "agent_status_changed").await;
    assert_eq!(changed["data"]["after"]["status"], "away", "{changed}");
    assert_eq!(changed["actor"]["type"], "system");
    wait_for(&mut watcher, 5, |e| is(e, "offer_expired", &id)).await;
    let _ = stop.send(());
}

async fn queue_settings_are_validated(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "routing_settings").await else {
        return;
    };
    queue(&app, "general", 30).await;
    let ok = app
        .post(
            "/v1/queues",
            &app.admin_token,
            json!({"id": "billing", "name": "Billing", "settings": {
                "auto_accept": false,
                "overflow": [{"after_secs": 60, "action": {"type": "move_to_queue", "queue": "general"}}]
            }}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    for bad in [
        json!({"nonsense": true}),
        json!({"overflow": [{"after_secs": 60, "action": {"type": "move_to_queue", "queue": "nowhere"}}]}),
        json!({"hours": {"tz": "Nowhere/Special"}}),
    ] {
        let res = app
            .post(
                "/v1/queues",
                &app.admin_token,
                json!({"id": "x", "name": "X", "settings": bad}),
            )
            .await;
        res.assert_error(422, "invalid_settings");
    }
}

/// Auto-accept queues assign at once; overflow moves a conversation nobody can take.
async fn auto_accept_and_overflow(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "routing_auto").await else {
        return;
    };
    queue(&app, "general", 30).await;
    let res = app
        .post(
            "/v1/queues",
            &app.admin_token,
            json!({"id": "vip", "name": "VIP", "settings": {
                "overflow": [{"after_secs": 600, "action": {"type": "move_to_queue", "queue": "general"}}]
            }}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let res = app
        .put(
            "/v1/queues/general",
            &app.admin_token,
            json!({"name": "general", "settings": {"auto_accept": true}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let (a, _) = agent(&app, "a@auto.example", 1, &["general"], "available").await;
    // Nobody staffs `vip`: its overflow step runs at once, to `general`, which auto-accepts.
    let id = new_conversation(&app, 1).await;
    let after = handoff(&app, &id, Some("vip")).await;
    assert_eq!(after["state"], "assigned", "{after}");
    assert_eq!(after["assignee"], a.as_str());
    assert_eq!(after["queue"], "general");
    let kinds: Vec<String> = events(&app, &id)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"queue_changed".to_string()), "{kinds:?}");
    assert!(
        kinds.ends_with(&["offered".into(), "assigned".into()]),
        "{kinds:?}"
    );
}

macro_rules! both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )+
        }
    };
}

both!(
    offer_decline_accept,
    offer_expires_and_moves_on,
    offer_expires_across_a_restart,
    capacity_holds_until_close,
    away_releases_offers_and_available_gets_them,
    stale_presence_sets_away,
    queue_settings_are_validated,
    auto_accept_and_overflow,
);

// ---------------------------------------------------------------- storm on PostgreSQL

/// Two instances, 3 agents of capacity 2, 20 conversations handed off concurrently across both,
/// with concurrent accepts, declines and status flips. Then the event log must show no double
/// assignment and no agent above capacity, and the end state must be settled.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn postgres_storm_across_two_instances() {
    let Some(db) = database(Backend::Postgres, "routing_storm").await else {
        return;
    };
    let first = start_instance(db.url()).await;
    let second = start_instance(db.url()).await;
    let app = TestApp::with_instance(db, first).await;
    let bases = [app.instance.base.clone(), second.base.clone()];
    let mut agents = Vec::new();
    for n in 0..3 {
        agents.push(
            agent(
                &app,
                &format!("storm{n}@routing.example"),
                2,
                &[],
                "available",
            )
            .await,
        );
    }
    let capacity = 2;

    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(new_conversation(&app, n).await);
    }
    let client = app.client.clone();
    let key = app.api_key.clone();
    let handoffs = ids.iter().enumerate().map(|(n, id)| {
        let (client, key, base) = (client.clone(), key.clone(), bases[n % 2].clone());
        let id = id.clone();
        tokio::spawn(async move {
            let r = send(
                &client,
                Method::POST,
                &format!("{base}/v1/conversations/{id}/handoff"),
                Some(&key),
                Some(json!({"reason": "customer_request"})),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
        })
    });
    // Each agent answers the offers it sees, on alternating instances: accept twice out of
    // three, decline otherwise, and flips away and back now and then.
    let workers = agents.iter().enumerate().map(|(n, (agent_id, token))| {
        let (client, bases, ids) = (client.clone(), bases.clone(), ids.clone());
        let (agent_id, token) = (agent_id.clone(), token.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
            let mut round = n;
            while tokio::time::Instant::now() < deadline {
                round += 1;
                let base = &bases[round % 2];
                if round % 7 == 0 {
                    for status in ["away", "available"] {
                        let r = send(
                            &client,
                            Method::PUT,
                            &format!("{base}/v1/agents/me/status"),
                            Some(&token),
                            Some(json!({"status": status})),
                        )
                        .await;
                        assert_eq!(r.status, 200, "{}", r.body);
                    }
                    continue;
                }
                let mut answered = false;
                for id in &ids {
                    let view = send(
                        &client,
                        Method::GET,
                        &format!("{base}/v1/conversations/{id}"),
                        Some(&token),
                        None,
                    )
                    .await;
                    if view.body["offer"]["agent"] != agent_id.as_str() {
                        continue;
                    }
                    let what = if (round + id.len()) % 3 == 0 {
                        "decline"
                    } else {
                        "accept"
                    };
                    let r = send(
                        &client,
                        Method::POST,
                        &format!("{base}/v1/conversations/{id}/{what}"),
                        Some(&token),
                        Some(json!({})),
                    )
                    .await;
                    // A concurrent change (status flip, expiry) may have withdrawn the offer.
                    assert!(
                        r.status == 200 || r.status == 409,
                        "{} {}",
                        r.status,
                        r.body
                    );
                    answered = true;
                }
                if !answered {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    });
    for h in handoffs {
        h.await.unwrap();
    }
    for w in workers {
        w.await.unwrap();
    }
    // Settle: everyone available, one last change to route on.
    for (_, token) in &agents {
        set_status(&app, token, "available").await;
    }

    // Replay the log in commit order.
    let tenant = baton_core::TenantId::parse(app.tenant.as_str()).unwrap();
    let mut log = Vec::new();
    for id in &ids {
        let id = baton_core::ConversationId::parse(id.as_str()).unwrap();
        let page = baton_store::PageRequest {
            limit: 500,
            cursor: None,
        };
        log.extend(
            app.instance
                .store
                .events(&tenant, &id, &page)
                .await
                .unwrap()
                .items,
        );
    }
    log.sort_by_key(|e| e.seq);
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut offer: HashMap<String, String> = HashMap::new();
    let mut load: HashMap<String, usize> = HashMap::new();
    for e in &log {
        let conv = e.conversation.as_ref().unwrap().to_string();
        let agent = e.data["agent"].as_str().map(String::from);
        match e.kind.as_str() {
            "offered" => {
                assert!(
                    !offer.contains_key(&conv),
                    "two offers out for {conv} at seq {}",
                    e.seq
                );
                offer.insert(conv.clone(), agent.clone().unwrap());
            }
            "offer_declined" | "offer_expired" => {
                offer.remove(&conv);
            }
            "assigned" => {
                assert!(
                    !owner.contains_key(&conv),
                    "{conv} assigned twice (seq {})",
                    e.seq
                );
                offer.remove(&conv);
                let agent = agent.unwrap();
                *load.entry(agent.clone()).or_default() += 1;
                assert!(
                    load[&agent] <= capacity,
                    "{agent} above capacity at seq {}",
                    e.seq
                );
                owner.insert(conv.clone(), agent);
            }
            "closed" | "transferred" => panic!("no closes or transfers in this test"),
            _ => {}
        }
        // Reserved capacity (assigned + offered) never exceeds capacity either.
        for (agent, _) in &agents {
            let reserved = owner.values().filter(|a| *a == agent).count()
                + offer.values().filter(|a| *a == agent).count();
            assert!(
                reserved <= capacity,
                "{agent} reserved {reserved} at seq {}",
                e.seq
            );
        }
    }
    // End state: assigned, or queued with no eligible free agent.
    for id in &ids {
        let view = get(&app, id).await;
        match view["state"].as_str().unwrap() {
            "assigned" => {}
            "queued" => {
                if view["offer"].is_object() {
                    continue;
                }
                let declined: Vec<String> = events(&app, id)
                    .await
                    .iter()
                    // Declined, or released (away flip): never offered to that agent again.
                    .filter(|e| e["type"] == "offer_declined" || e["type"] == "offer_expired")
                    .map(|e| e["data"]["agent"].as_str().unwrap().to_string())
                    .collect();
                for (agent_id, _) in &agents {
                    let reserved = owner.values().filter(|a| *a == agent_id).count()
                        + offer.values().filter(|a| *a == agent_id).count();
                    assert!(
                        reserved >= capacity || declined.contains(agent_id),
                        "{id} waits while {agent_id} has room ({reserved}) and did not decline it"
                    );
                }
            }
            other => panic!("{id} ended {other}"),
        }
    }
    assert!(owner.len() <= 3 * capacity);
    drop(second);
}
