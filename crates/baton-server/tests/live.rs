//! Live updates over WebSocket, and several instances sharing one PostgreSQL.

mod common;

use common::*;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(instance: &Instance, token: &str) -> Socket {
    let url = format!("ws://{}/v1/live?token={token}", instance.addr);
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    assert_eq!(response.status(), 101);
    socket
}

/// Reads events until `n` events of `conversation` arrived (10 s at most), leaving out
/// escalation evaluations (tested on their own).
async fn next_events(socket: &mut Socket, conversation: &str, n: usize) -> Vec<Value> {
    next_events_without(socket, conversation, n, &[]).await
}

/// Like [`next_events`], failing on any event of a `forbidden` conversation (another
/// tenant's) that arrives meanwhile.
async fn next_events_without(
    socket: &mut Socket,
    conversation: &str,
    n: usize,
    forbidden: &[&str],
) -> Vec<Value> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < n {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; got {got:?}"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            assert!(
                !forbidden.iter().any(|f| event["conversation_id"] == *f),
                "another tenant's event reached the socket: {event}"
            );
            if event["conversation_id"] == conversation && event["type"] != "escalation_evaluated" {
                got.push(event);
            }
        }
    }
    got
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

async fn live_in_order(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "live_order").await else {
        return;
    };
    // A supervisor sees every conversation from its start (agents: see `live_for_agents`).
    let (_, agent) = app.person("live@test.example", "supervisor").await;
    let mut socket = connect(&app.instance, &agent).await;

    // Another tenant's activity, interleaved with ours, must not reach this socket; its own
    // admin's socket gets it (the positive control: the events exist and are published).
    let (_, other_key, other_admin) = create_tenant(app.instance.store.as_ref(), "Other").await;
    let other_token = login(&app, &other_admin).await;
    let mut other_socket = connect(&app.instance, &other_token).await;
    let other = app.post("/v1/conversations", &other_key, json!({})).await;
    assert_eq!(other.status, 201);
    let other_id = other.body["id"].as_str().unwrap().to_string();
    let other_says = |text: &'static str| {
        let url = app.url(&format!("/v1/conversations/{other_id}/messages"));
        let client = app.client.clone();
        let key = other_key.clone();
        async move {
            let r = send(
                &client,
                Method::POST,
                &url,
                Some(&key),
                Some(json!({"role": "customer", "text": text})),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
    };

    let id = app.conversation().await;
    for text in ["one", "two", "three"] {
        other_says("secret of the other tenant").await;
        let r = app
            .post(
                &format!("/v1/conversations/{id}/messages"),
                &app.api_key,
                json!({"role": "customer", "text": text}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    other_says("one more secret").await;
    app.post(
        &format!("/v1/conversations/{id}/handoff"),
        &app.api_key,
        json!({"reason": "customer_request"}),
    )
    .await;
    let events = next_events_without(&mut socket, &id, 5, &[other_id.as_str()]).await;
    let theirs = next_events(&mut other_socket, &other_id, 5).await;
    assert_eq!(
        types(&theirs),
        [
            "started",
            "message_added",
            "message_added",
            "message_added",
            "message_added"
        ]
    );
    assert_eq!(
        types(&events),
        [
            "started",
            "message_added",
            "message_added",
            "message_added",
            "handoff_requested"
        ]
    );
    let texts: Vec<&str> = events[1..4]
        .iter()
        .map(|e| e["data"]["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

/// Logs `email` in with the harness password; returns the session token.
async fn login(app: &TestApp, email: &str) -> String {
    let res = send(
        &app.client,
        Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_in_order_sqlite() {
    live_in_order(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_in_order_postgres() {
    live_in_order(Backend::Postgres).await
}

#[tokio::test]
async fn live_requires_a_person() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "live_auth").await else {
        return;
    };
    let anonymous = send(&app.client, Method::GET, &app.url("/v1/live"), None, None).await;
    anonymous.assert_error(401, "missing_credentials");
    let url = format!("ws://{}/v1/live?token={}", app.instance.addr, app.api_key);
    let refused = tokio_tungstenite::connect_async(url).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("an API key must not open the live stream: {other:?}"),
    }
}

/// Two instances on one PostgreSQL: a second `Instance` over the same database.
async fn second_instance(app: &TestApp) -> Instance {
    start_instance(app.db.url()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_across_instances_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres, "live_two").await else {
        return;
    };
    let b = second_instance(&app).await;
    let (_, agent) = app.person("two@test.example", "supervisor").await;
    // The agent is connected to instance A; everything is posted to instance B.
    let mut socket = connect(&app.instance, &agent).await;
    let on_b = |path: &str| format!("{}{}", b.base, path);
    let started = send(
        &app.client,
        Method::POST,
        &on_b("/v1/conversations"),
        Some(&app.api_key),
        Some(json!({"channel": "web"})),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let id = started.body["id"].as_str().unwrap().to_string();
    for i in 0..5 {
        let r = send(
            &app.client,
            Method::POST,
            &on_b(&format!("/v1/conversations/{id}/messages")),
            Some(&app.api_key),
            Some(json!({"role": "customer", "text": format!("message {i}")})),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    // Another tenant's conversation on instance B, then one more message of ours: the other
    // tenant's events travel between instances too, and must not reach this socket.
    let (_, other_key, _) = create_tenant(app.instance.store.as_ref(), "Other").await;
    let other = send(
        &app.client,
        Method::POST,
        &on_b("/v1/conversations"),
        Some(&other_key),
        Some(json!({"channel": "web"})),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.body);
    let other_id = other.body["id"].as_str().unwrap().to_string();
    let r = send(
        &app.client,
        Method::POST,
        &on_b(&format!("/v1/conversations/{id}/messages")),
        Some(&app.api_key),
        Some(json!({"role": "customer", "text": "message 5"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let events = next_events_without(&mut socket, &id, 7, &[other_id.as_str()]).await;
    assert_eq!(types(&events)[0], "started");
    let texts: Vec<String> = events[1..]
        .iter()
        .map(|e| e["data"]["message"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        texts,
        (0..6).map(|i| format!("message {i}")).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_race_across_instances_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres, "claim_race").await else {
        return;
    };
    let b = second_instance(&app).await;
    let (first_id, first) = app.person("first@test.example", "agent").await;
    let (second_id, second) = app.person("second@test.example", "agent").await;
    for round in 0..5 {
        let id = app.queued_conversation().await;
        let (url_a, url_b) = (
            app.url(&format!("/v1/conversations/{id}/claim")),
            format!("{}/v1/conversations/{id}/claim", b.base),
        );
        let claim_a = send(
            &app.client,
            Method::POST,
            &url_a,
            Some(&first),
            Some(json!({})),
        );
        let claim_b = send(
            &app.client,
            Method::POST,
            &url_b,
            Some(&second),
            Some(json!({})),
        );
        let (a, bres) = tokio::join!(claim_a, claim_b);
        let statuses = [a.status.as_u16(), bres.status.as_u16()];
        assert!(
            statuses.contains(&200) && statuses.contains(&409),
            "round {round}: {statuses:?} {} {}",
            a.body,
            bres.body
        );
        let loser = if a.status == 409 { &a } else { &bres };
        assert_eq!(loser.code(), "not_assignee", "{}", loser.body);
        let events = app
            .get(&format!("/v1/conversations/{id}/events"), &first)
            .await;
        let assigned: Vec<&Value> = events.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "assigned")
            .collect();
        assert_eq!(assigned.len(), 1, "round {round}: exactly one assignment");
        let winner = assigned[0]["data"]["agent"].as_str().unwrap();
        assert!(winner == first_id || winner == second_id);
        let conv = app.get(&format!("/v1/conversations/{id}"), &first).await;
        assert_eq!(conv.body["assignee"], winner);
        // Closed again, so capacity (a hard limit) never decides a later round.
        let token = if winner == first_id { &first } else { &second };
        let closed = app
            .post(&format!("/v1/conversations/{id}/close"), token, json!({}))
            .await;
        assert_eq!(closed.status, 200, "{}", closed.body);
    }
}

/// Reads frames until the tenant-wide `agent_status_changed` marker arrives (10 s at most);
/// returns the conversation events before it.
async fn until_marker(socket: &mut Socket) -> Vec<Value> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; got {got:?}"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == "agent_status_changed" {
                return got;
            }
            if !event["conversation_id"].is_null() {
                got.push(event);
            }
        }
    }
}

fn of<'a>(events: &'a [Value], conversation: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["conversation_id"] == conversation)
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

/// Agents' live streams carry only what they may see: nothing while the bot has a
/// conversation, their own team's queue, and the event that takes one out of their sight.
async fn live_for_agents(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "live_agents").await else {
        return;
    };
    for (id, name) in [("billing", "Billing"), ("sales", "Sales")] {
        let q = app
            .post(
                "/v1/queues",
                &app.admin_token,
                json!({"id": id, "name": name}),
            )
            .await;
        assert_eq!(q.status, 201, "{}", q.body);
    }
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for (email, queue) in [
        ("ana@live.example", "billing"),
        ("ben@live.example", "sales"),
    ] {
        let created = app
            .post(
                "/v1/agents",
                &app.admin_token,
                json!({"email": email, "name": email, "password": PASSWORD, "role": "agent",
                       "skills": [], "languages": ["en"], "queues": [queue]}),
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
        tokens.push(login.body["token"].as_str().unwrap().to_string());
        ids.push(created.body["id"].as_str().unwrap().to_string());
    }
    let (ana, ben) = (&tokens[0], &tokens[1]);
    // Ana is at work (busy: no offers from the router, but a colleague may hand her one).
    let r = app
        .put("/v1/agents/me/status", ana, json!({"status": "busy"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut ana_socket = connect(&app.instance, ana).await;
    let mut ben_socket = connect(&app.instance, ben).await;

    // With the bot, then handed to sales: ben's team.
    let a = app.conversation().await;
    app.post(
        &format!("/v1/conversations/{a}/messages"),
        &app.api_key,
        json!({"role": "customer", "text": "hello bot"}),
    )
    .await;
    app.hand_off(&a, Some("sales")).await;
    // Handed to billing: ana's team.
    let b = app.conversation().await;
    app.hand_off(&b, Some("billing")).await;
    // Ben takes A and transfers it to ana in billing; she accepts.
    let r = app
        .post(&format!("/v1/conversations/{a}/claim"), ben, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post(
            &format!("/v1/conversations/{a}/transfer"),
            ben,
            json!({"to_agent": ids[0], "to_queue": "billing", "note": "billing question"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post(&format!("/v1/conversations/{a}/accept"), ana, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .post(
            &format!("/v1/conversations/{a}/messages"),
            ana,
            json!({"text": "Hi, Ana from billing"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let marker = app
        .put(
            "/v1/agents/me/status",
            &app.admin_token,
            json!({"status": "away"}),
        )
        .await;
    assert_eq!(marker.status, 200, "{}", marker.body);

    let for_ana = until_marker(&mut ana_socket).await;
    let for_ben = until_marker(&mut ben_socket).await;
    // Nothing of the bot phase reaches anyone.
    for events in [&for_ana, &for_ben] {
        assert!(!of(events, &a).contains(&"started"), "{events:?}");
    }
    // B is billing's only.
    assert!(
        of(&for_ana, &b).contains(&"handoff_requested"),
        "{for_ana:?}"
    );
    assert!(of(&for_ben, &b).is_empty(), "{for_ben:?}");
    // A: ben from the handoff to the transfer that took it away, ana from the transfer on.
    let ben_a = of(&for_ben, &a);
    assert_eq!(ben_a.first(), Some(&"handoff_requested"), "{ben_a:?}");
    assert_eq!(ben_a.last(), Some(&"transferred"), "{ben_a:?}");
    assert!(ben_a.contains(&"assigned"), "{ben_a:?}");
    let ana_a = of(&for_ana, &a);
    // From the transfer offer to her on; nothing of ben's time before it.
    assert!(ana_a.contains(&"offered"), "{ana_a:?}");
    assert!(ana_a.contains(&"transferred"), "{ana_a:?}");
    assert!(!ana_a.contains(&"handoff_requested"), "{ana_a:?}");
    assert!(!ana_a.contains(&"assigned"), "{ana_a:?}");
    assert_eq!(ana_a.last(), Some(&"message_added"), "{ana_a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_for_agents_sqlite() {
    live_for_agents(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_for_agents_postgres() {
    live_for_agents(Backend::Postgres).await
}

/// Waits (2 s at most) until the server closes `socket`; returns the close code, if any.
async fn closed_within(socket: &mut Socket, what: &str) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => panic!("{what}: the live socket was still open after 2 s"),
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Logout, a password change and a demotion end the agent's sessions and close their live
/// sockets at once; a change that ends no session (a new display name) leaves the socket open.
async fn ended_sessions_close_sockets(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "live_revoke").await else {
        return;
    };
    let admin = app.admin_token.clone();
    let (ann, ann_token) = app.person("ann@test.example", "supervisor").await;
    let login = |email: &'static str, password: &'static str| {
        let url = app.url("/v1/auth/login");
        let client = app.client.clone();
        async move {
            let res = send(
                &client,
                Method::POST,
                &url,
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
            assert_eq!(res.status, 200, "{}", res.body);
            res.body["token"].as_str().unwrap().to_string()
        }
    };

    // Logout closes the socket opened with that session.
    let mut socket = connect(&app.instance, &ann_token).await;
    let res = send(
        &app.client,
        Method::POST,
        &app.url("/v1/auth/logout"),
        Some(&ann_token),
        None,
    )
    .await;
    assert_eq!(res.status, 204, "{}", res.body);
    assert_eq!(closed_within(&mut socket, "logout").await, Some(4001));
    app.get("/v1/agents/me", &ann_token)
        .await
        .assert_error(401, "invalid_token");

    // A rename ends nothing (the test can fail: the socket stays open).
    let token = login("ann@test.example", PASSWORD).await;
    let mut socket = connect(&app.instance, &token).await;
    let res = send(
        &app.client,
        Method::PATCH,
        &app.url(&format!("/v1/agents/{ann}")),
        Some(&admin),
        Some(json!({"name": "Ann B."})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
        .is_err(),
        "a rename closed the socket"
    );
    assert_eq!(app.get("/v1/agents/me", &token).await.status, 200);

    // A password change ends every session.
    let res = send(
        &app.client,
        Method::PATCH,
        &app.url(&format!("/v1/agents/{ann}")),
        Some(&admin),
        Some(json!({"password": "a brand new passphrase"})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        closed_within(&mut socket, "password change").await,
        Some(4001)
    );
    app.get("/v1/agents/me", &token)
        .await
        .assert_error(401, "invalid_token");

    // A demotion too.
    let token = login("ann@test.example", "a brand new passphrase").await;
    let mut socket = connect(&app.instance, &token).await;
    let res = send(
        &app.client,
        Method::PATCH,
        &app.url(&format!("/v1/agents/{ann}")),
        Some(&admin),
        Some(json!({"role": "agent"})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(closed_within(&mut socket, "demotion").await, Some(4001));
    app.get("/v1/agents/me", &token)
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_close_sockets_sqlite() {
    ended_sessions_close_sockets(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_close_sockets_postgres() {
    ended_sessions_close_sockets(Backend::Postgres).await;
}

/// The first event of `kind` on `socket` (5 s at most).
async fn first_of(socket: &mut Socket, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event within 5 s"))
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let event: Value = serde_json::from_str(&text).unwrap();
            if event["type"] == kind {
                return event;
            }
        }
    }
}

/// A colleague's email does not reach an `agent`'s live socket (a supervisor's shows it), and
/// deactivating the agent closes their socket.
async fn agent_sockets_hide_emails_and_close_on_deactivation(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "live_agent_emails").await else {
        return;
    };
    let (ann, ann_token) = app.person("ann@test.example", "agent").await;
    let (_, sue_token) = app.person("sue@test.example", "supervisor").await;
    let mut ann_socket = connect(&app.instance, &ann_token).await;
    let mut sue_socket = connect(&app.instance, &sue_token).await;
    app.person("bob@test.example", "agent").await;
    let seen_by_ann = first_of(&mut ann_socket, "agent_created").await;
    assert!(
        seen_by_ann["data"]["after"]["email"].is_null(),
        "{seen_by_ann}"
    );
    let seen_by_sue = first_of(&mut sue_socket, "agent_created").await;
    assert_eq!(seen_by_sue["data"]["after"]["email"], "bob@test.example");

    let res = send(
        &app.client,
        Method::PATCH,
        &app.url(&format!("/v1/agents/{ann}")),
        Some(&app.admin_token),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        closed_within(&mut ann_socket, "deactivation").await,
        Some(4001)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sockets_hide_emails_and_close_on_deactivation_sqlite() {
    agent_sockets_hide_emails_and_close_on_deactivation(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_sockets_hide_emails_and_close_on_deactivation_postgres() {
    agent_sockets_hide_emails_and_close_on_deactivation(Backend::Postgres).await;
}

/// An instance remembers the API keys it saw valid (a read saved per request); a key revoked
/// on another instance stops working on this one as soon as the revocation's event arrives,
/// long before the cache's own expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_keys_stop_working_on_every_instance_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres, "key_revoked_two").await else {
        return;
    };
    let b = second_instance(&app).await;
    let created = app
        .post("/v1/api-keys", &app.admin_token, json!({"name": "bot"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["key"].as_str().unwrap().to_string();
    let key_id = created.body["id"].as_str().unwrap().to_string();
    let on_b = format!("{}/v1/conversations", b.base);
    // Used on B: B now holds the key as valid.
    for _ in 0..2 {
        let r = send(
            &app.client,
            Method::POST,
            &on_b,
            Some(&secret),
            Some(json!({})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let revoked = send(
        &app.client,
        Method::DELETE,
        &app.url(&format!("/v1/api-keys/{key_id}")),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(revoked.status, 204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = send(
            &app.client,
            Method::POST,
            &on_b,
            Some(&secret),
            Some(json!({})),
        )
        .await;
        if r.status == 401 {
            assert_eq!(r.body["error"]["code"], "invalid_token", "{}", r.body);
            // The message says what to do, not the code again.
            let message = r.body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("valid API key"), "{}", r.body);
            break;
        }
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(
            std::time::Instant::now() < deadline,
            "instance B still accepts a key revoked on A after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
