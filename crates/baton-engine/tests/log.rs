//! The event log's companions, on SQLite and PostgreSQL: the tamper-evident hash chain, the
//! analytics facts folded in the same transaction, and the transactional outbox.

use baton_core::analytics::{self, Facts};
use baton_core::conversation::{Actor, Command, HandoffSource};
use baton_core::{ConversationId, CsatScore, MessageRole, Role, TenantId, Timestamp};
use baton_engine::service::{self, CustomerInput, NewAgent, NewMessage};
use baton_store::outbox::*;
use baton_store::reports::AuditFilter;
use baton_store::testing::TestDatabase;
use baton_store::*;
use sqlx::AssertSqlSafe;
use std::collections::HashSet;
use std::sync::Arc;

const T0: i64 = 1_700_000_000_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

/// Runs raw SQL against the test database (to tamper with it, as an attacker would).
async fn raw(db: &TestDatabase, sql: &str) {
    if db.url().starts_with("sqlite:") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
        sqlx::query(AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(db.url()).await.unwrap();
        sqlx::query(AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
    }
}

async fn open(db: &TestDatabase) -> Arc<dyn Store> {
    let store = connect(db.url()).await.expect("open");
    store.migrate().await.expect("migrate");
    store
}

macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDatabase::sqlite(stringify!($name)).await;
                    super::$name(&db).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDatabase::postgres(stringify!($name)).await else {
                        eprintln!("skipping: BATON_TEST_POSTGRES_URL is not set");
                        return;
                    };
                    super::$name(&db).await;
                }
            )+
        }
    };
}

on_both!(
    chain,
    one_insert_for_many_events,
    facts,
    outbox,
    retention,
    erasure,
    attachments
);

/// A tenant with one agent and one finished, handed-off conversation.
async fn story(store: &dyn Store) -> (TenantId, ConversationId) {
    let tenant = service::create_tenant(store, "Acme", "admin@acme.example", "hash", at(0))
        .await
        .unwrap()
        .tenant
        .id;
    let agent = service::create_agent(
        store,
        &tenant,
        NewAgent {
            email: format!("ana-{}@acme.example", baton_store::ids::new_suffix()),
            name: "Ana".into(),
            role: Role::Agent,
            skills: vec![],
            languages: vec!["en".into()],
            queues: vec![],
            capacity: 2,
        },
        "hash",
        &Actor::System,
        at(1),
    )
    .await
    .unwrap()
    .id;
    let (outcome, _) = service::start_conversation(
        store,
        &tenant,
        CustomerInput {
            tier: Some("gold".into()),
            ..CustomerInput::default()
        },
        "web".into(),
        Default::default(),
        &Actor::Customer,
        at(10),
    )
    .await
    .unwrap();
    let id = outcome.conversation.id;
    let say = |role, text: &str| NewMessage {
        role,
        text: text.into(),
        external_id: None,
        bot: None,
    };
    service::post_message(
        store,
        &tenant,
        &id,
        say(MessageRole::Customer, "I want a refund"),
        &Actor::Customer,
        at(20),
        None,
    )
    .await
    .unwrap();
    let me = Actor::Agent { id: agent.clone() };
    let run = |command: Command, actor: Actor, t: i64| {
        let (tenant, id) = (tenant.clone(), id.clone());
        async move {
            service::run_command(store, &tenant, &id, &command, &actor, at(t))
                .await
                .unwrap()
        }
    };
    run(
        Command::RequestHandoff {
            reason: "customer_request".into(),
            source: HandoffSource::Customer,
            queue: None,
            priority: None,
            note: None,
        },
        Actor::Customer,
        30,
    )
    .await;
    run(Command::Claim, me.clone(), 90_030).await;
    service::post_message(
        store,
        &tenant,
        &id,
        say(MessageRole::Agent, "On it"),
        &me,
        at(150_030),
        None,
    )
    .await
    .unwrap();
    run(
        Command::Close {
            resolution: Some("refunded".into()),
            override_owner: false,
        },
        me.clone(),
        600_000,
    )
    .await;
    run(
        Command::RecordCsat {
            score: CsatScore::new(4).unwrap(),
            comment: None,
        },
        Actor::Customer,
        610_000,
    )
    .await;
    (tenant, id)
}

async fn events_of(store: &dyn Store, tenant: &TenantId, id: &ConversationId) -> Vec<StoredEvent> {
    store
        .events(
            tenant,
            id,
            &PageRequest {
                limit: 500,
                cursor: None,
            },
        )
        .await
        .unwrap()
        .items
}

async fn chain(db: &TestDatabase) {
    let store = open(db).await;
    let (tenant, id) = story(store.as_ref()).await;
    service::put_settings(
        store.as_ref(),
        &tenant,
        &[("rules", serde_json::json!({"rules": []}))],
        &Actor::System,
        at(700_000),
    )
    .await
    .unwrap();
    let report = store.verify_log().await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    let events = events_of(store.as_ref(), &tenant, &id).await;
    assert!(report.events as usize > events.len());
    // Tenant chain + conversation chain.
    assert_eq!(report.chains, 2);

    // A database from before the chain: hashes missing, filled in by migrate.
    raw(db, "UPDATE events SET hash = NULL").await;
    assert!(store.verify_log().await.unwrap().broken.is_some());
    store.migrate().await.unwrap();
    assert!(store.verify_log().await.unwrap().broken.is_none());

    // Rewriting history: the changed event is named.
    let target = &events[3];
    raw(
        db,
        &format!(
            "UPDATE events SET data = REPLACE(data, 'On it', 'Not my job') WHERE seq = {}",
            events
                .iter()
                .find(|e| e.kind() == "message_added"
                    && e.body.to_json().to_string().contains("On it"))
                .unwrap()
                .seq
        ),
    )
    .await;
    let broken = store
        .verify_log()
        .await
        .unwrap()
        .broken
        .expect("tampering found");
    assert_eq!(broken.conversation.as_deref(), Some(id.as_str()));
    assert_eq!(broken.kind, "message_added");
    assert!(broken.problem.contains("changed"), "{}", broken.problem);

    // Removing an event: the one after it no longer follows.
    raw(db, "UPDATE events SET hash = NULL").await;
    store.migrate().await.unwrap();
    raw(
        db,
        &format!("DELETE FROM events WHERE seq = {}", target.seq),
    )
    .await;
    let broken = store
        .verify_log()
        .await
        .unwrap()
        .broken
        .expect("removal found");
    assert_eq!(broken.seq, events[4].seq);

    // The audit view lists tenant-wide changes with before and after, newest first.
    let page = store
        .audit_events(
            &tenant,
            &AuditFilter {
                kind: Some("rules".into()),
                ..AuditFilter::default()
            },
            &PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].kind(), "rules_updated");
    assert_eq!(
        page.items[0].body.to_json()["after"],
        serde_json::json!({"rules": []})
    );
    let all = store
        .audit_events(
            &tenant,
            &AuditFilter::default(),
            &PageRequest {
                limit: 1,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.items[0].kind(), "rules_updated");
    assert!(all.next_cursor.is_some());
}

/// Events of two chains appended with one statement: numbered in the order given, each hash
/// following its own chain's previous one, so the log verifies in log order.
async fn one_insert_for_many_events(db: &TestDatabase) {
    let store = open(db).await;
    let (tenant, id) = story(store.as_ref()).await;
    let before = events_of(store.as_ref(), &tenant, &id).await.len();
    let note = |n: usize| NewEvent {
        tenant: tenant.clone(),
        conversation: Some(id.clone()),
        actor: Actor::System,
        body: EventBody::record(
            "tagged",
            serde_json::json!({"type": "tagged", "tag": format!("t{n}")}),
        ),
        at: at(800_000 + n as i64),
    };
    let tenant_event = NewEvent {
        tenant: tenant.clone(),
        conversation: None,
        actor: Actor::System,
        body: EventBody::record("rules_updated", serde_json::json!({"n": 1})),
        at: at(800_010),
    };
    let batch = vec![note(1), tenant_event, note(2), note(3)];
    let mut tx = store.begin().await.unwrap();
    let stored = tx.append_events(&batch).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored.len(), 4);
    assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq), "{stored:?}");
    for (given, got) in batch.iter().zip(&stored) {
        assert_eq!(
            (given.kind(), given.body.to_json()),
            (got.kind(), got.body.to_json())
        );
    }
    let events = events_of(store.as_ref(), &tenant, &id).await;
    assert_eq!(events.len(), before + 3);
    assert_eq!(events.last().unwrap().seq, stored[3].seq);
    let report = store.verify_log().await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    // Nothing to append is no statement and no error.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.append_events(&[]).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

async fn facts(db: &TestDatabase) {
    let store = open(db).await;
    let (tenant, id) = story(store.as_ref()).await;
    let rows = store
        .facts_rows(&tenant, at(0), at(1_000_000))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].conversation, id);
    assert_eq!(rows[0].tier.as_deref(), Some("gold"));
    // The rollup is exactly the replay of the log.
    let events = events_of(store.as_ref(), &tenant, &id).await;
    let replayed = Facts::replay(events.iter().map(|e| {
        (
            Box::leak(Box::new(serde_json::from_value(e.body.to_json()).unwrap())) as &_,
            &e.actor,
            e.at,
        )
    }));
    assert_eq!(rows[0].facts, replayed);
    let s = analytics::report::summary(
        &rows,
        &analytics::Filter::default(),
        &baton_core::hours::Calendar::always_open(),
    );
    assert_eq!(s.handoff_rate, Some(1.0));
    assert_eq!(s.queue_wait.median_seconds, Some(90.0));
    assert_eq!(s.median_first_response_seconds, Some(150.0));
    assert_eq!(s.resolved_after_handoff, 1);
    assert_eq!(s.csat_after_handoff, Some(4.0));
    // Outside the range: nothing.
    assert!(
        store
            .facts_rows(&tenant, at(20), at(1_000_000))
            .await
            .unwrap()
            .is_empty()
    );

    // Lost rollup: rebuilt from the log, on demand and lazily by the next event.
    raw(db, "DELETE FROM conversation_facts").await;
    assert_eq!(store.rebuild_facts(Some(&tenant)).await.unwrap(), 1);
    let rebuilt = store
        .facts_rows(&tenant, at(0), at(1_000_000))
        .await
        .unwrap();
    assert_eq!(rebuilt[0].facts, replayed);
    raw(db, "DELETE FROM conversation_facts").await;
    service::post_message(
        store.as_ref(),
        &tenant,
        &id,
        NewMessage {
            role: MessageRole::Customer,
            text: "It came back".into(),
            external_id: None,
            bot: None,
        },
        &Actor::Customer,
        at(700_000),
        None,
    )
    .await
    .unwrap();
    let lazy = store
        .facts_rows(&tenant, at(0), at(1_000_000))
        .await
        .unwrap();
    assert_eq!(lazy[0].facts.reopens, 1);
    assert_eq!(lazy[0].facts.handoffs, replayed.handoffs);
}

async fn outbox(db: &TestDatabase) {
    let store = open(db).await;
    let tenant = service::create_tenant(store.as_ref(), "Acme", "admin@acme.example", "h", at(0))
        .await
        .unwrap()
        .tenant
        .id;
    let sub = |id: &str, events: &[&str], channel: Option<&str>| Subscription {
        id: id.into(),
        tenant: tenant.clone(),
        kind: SubscriptionKind::Webhook,
        events: events.iter().map(|e| e.to_string()).collect(),
        channel: channel.map(String::from),
        config: serde_json::json!({"url": "http://127.0.0.1:9/hook"}),
        enabled: true,
        created_at: at(0),
    };
    let mut tx = store.begin().await.unwrap();
    tx.put_subscription(&sub(
        "sub_all",
        &["started", "message_added", "closed"],
        None,
    ))
    .await
    .unwrap();
    tx.put_subscription(&sub("sub_wa", &["started"], Some("whatsapp")))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.subscriptions(&tenant, None).await.unwrap().len(), 2);

    let (outcome, _) = service::start_conversation(
        store.as_ref(),
        &tenant,
        CustomerInput::default(),
        "web".into(),
        Default::default(),
        &Actor::Customer,
        at(10),
    )
    .await
    .unwrap();
    let id = outcome.conversation.id;
    for (i, text) in ["one", "two"].iter().enumerate() {
        service::post_message(
            store.as_ref(),
            &tenant,
            &id,
            NewMessage {
                role: MessageRole::Customer,
                text: text.to_string(),
                external_id: None,
                bot: None,
            },
            &Actor::Customer,
            at(20 + i as i64),
            None,
        )
        .await
        .unwrap();
    }
    // A rolled-back transaction announces nothing.
    {
        let mut tx = store.begin().await.unwrap();
        tx.append_event(&NewEvent {
            tenant: tenant.clone(),
            conversation: Some(id.clone()),
            actor: Actor::System,
            body: EventBody::record(
                "closed",
                serde_json::json!({"type": "closed", "resolution": null}),
            ),
            at: at(30),
        })
        .await
        .unwrap();
    }
    let page = store
        .deliveries(
            &tenant,
            Some(DeliveryState::Pending),
            &PageRequest {
                limit: 50,
                cursor: None,
            },
        )
        .await
        .unwrap();
    // started + 2 messages to sub_all; the web conversation is not for sub_wa.
    assert_eq!(page.items.len(), 3, "{:?}", page.items);
    assert!(page.items.iter().all(|d| d.subscription == "sub_all"));

    // Order per conversation: only the oldest pending one is claimable.
    let first = store.claim_deliveries(at(100), 10).await.unwrap();
    assert_eq!(first.len(), 1);
    let started_seq = first[0].event_seq;
    // Claimed: hidden by the lease, and the next one still waits behind it.
    assert!(
        store
            .claim_deliveries(at(200), 10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .finish_delivery(
            &first[0].id,
            &DeliveryOutcome::Retry {
                at: at(5_000),
                error: "HTTP 503".into(),
            },
            at(300),
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_deliveries(at(4_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_deliveries(at(5_000), 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    assert_eq!(again[0].event_seq, started_seq);
    store
        .finish_delivery(&again[0].id, &DeliveryOutcome::Delivered, at(5_100))
        .await
        .unwrap();
    let second = store.claim_deliveries(at(5_200), 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(second[0].event_seq > started_seq);
    store
        .finish_delivery(
            &second[0].id,
            &DeliveryOutcome::Dead("HTTP 410".into()),
            at(5_300),
        )
        .await
        .unwrap();
    // A dead-lettered delivery does not hold the line.
    let third = store.claim_deliveries(at(5_400), 10).await.unwrap();
    assert_eq!(third.len(), 1);
    store
        .finish_delivery(&third[0].id, &DeliveryOutcome::Delivered, at(5_500))
        .await
        .unwrap();
    let dead = store
        .deliveries(
            &tenant,
            Some(DeliveryState::Dead),
            &PageRequest {
                limit: 50,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(dead.items.len(), 1);
    assert_eq!(dead.items[0].last_error.as_deref(), Some("HTTP 410"));
    assert!(
        store
            .redeliver(&tenant, &dead.items[0].id, at(6_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .redeliver(&tenant, "dlv_nope", at(6_000))
            .await
            .unwrap()
    );
    let back = store.claim_deliveries(at(6_000), 10).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].id, dead.items[0].id);
    assert_eq!(back[0].attempts, 1);
    let stats = store.delivery_stats().await.unwrap();
    assert!(
        stats
            .iter()
            .any(|s| s.state == DeliveryState::Delivered && s.count == 2)
    );

    // Another tenant sees none of it.
    let other = service::create_tenant(store.as_ref(), "Other", "admin@other.example", "h", at(0))
        .await
        .unwrap()
        .tenant
        .id;
    assert!(store.delivery(&other, &back[0].id).await.unwrap().is_none());
    assert!(
        !store
            .redeliver(&other, &back[0].id, at(7_000))
            .await
            .unwrap()
    );
    // Deleting a subscription drops its undelivered rows.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_subscription(&tenant, "sub_all").await.unwrap());
    tx.commit().await.unwrap();
    assert!(
        store
            .claim_deliveries(at(100_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two instances on one PostgreSQL never claim the same delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_instances_claim_each_delivery_once() {
    let Some(db) = TestDatabase::postgres("outbox_claims").await else {
        eprintln!("skipping: BATON_TEST_POSTGRES_URL is not set");
        return;
    };
    let a = open(&db).await;
    let b = open(&db).await;
    let tenant = service::create_tenant(a.as_ref(), "Acme", "admin@acme.example", "h", at(0))
        .await
        .unwrap()
        .tenant
        .id;
    let mut tx = a.begin().await.unwrap();
    tx.put_subscription(&Subscription {
        id: "sub_1".into(),
        tenant: tenant.clone(),
        kind: SubscriptionKind::Webhook,
        events: vec!["started".into()],
        channel: None,
        config: serde_json::json!({}),
        enabled: true,
        created_at: at(0),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for _ in 0..60 {
        service::start_conversation(
            a.as_ref(),
            &tenant,
            CustomerInput::default(),
            "web".into(),
            Default::default(),
            &Actor::Customer,
            at(10),
        )
        .await
        .unwrap();
    }
    let claim = |store: Arc<dyn Store>| async move {
        let mut got = Vec::new();
        loop {
            let batch = store.claim_deliveries(at(1_000), 7).await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(batch.into_iter().map(|d| d.id));
        }
    };
    let (x, y) = tokio::join!(
        tokio::spawn(claim(a.clone())),
        tokio::spawn(claim(b.clone()))
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let xs: HashSet<_> = x.iter().collect();
    assert!(y.iter().all(|id| !xs.contains(id)), "claimed twice");
    assert_eq!(x.len() + y.len(), 60);
}

const DAY: i64 = 86_400_000;

/// A closed conversation of a new customer, whose last change is at `closed_at`.
async fn closed_conversation(
    store: &dyn Store,
    tenant: &TenantId,
    closed_at: Timestamp,
) -> ConversationId {
    let (outcome, _) = service::start_conversation(
        store,
        tenant,
        CustomerInput::default(),
        "web".into(),
        Default::default(),
        &Actor::Customer,
        closed_at,
    )
    .await
    .unwrap();
    let id = outcome.conversation.id;
    service::post_message(
        store,
        tenant,
        &id,
        NewMessage {
            role: MessageRole::Customer,
            text: "hello".into(),
            external_id: None,
            bot: None,
        },
        &Actor::Customer,
        closed_at,
        None,
    )
    .await
    .unwrap();
    service::run_command(
        store,
        tenant,
        &id,
        &Command::Close {
            resolution: None,
            override_owner: true,
        },
        &Actor::Customer,
        closed_at,
    )
    .await
    .unwrap();
    id
}

async fn count(db: &TestDatabase, sql: &str) -> i64 {
    use sqlx::Connection;
    if db.url().starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
        sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(db.url()).await.unwrap();
        sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

/// Retention: finished outbox rows, old idempotency records, expired sessions and customer
/// tokens, and closed conversations past their time go, in batches smaller than what there is
/// to prune; what is still kept stays, and the log still verifies. Two stores pruning at once
/// (two instances) remove each row once.
async fn retention(db: &TestDatabase) {
    let store = open(db).await;
    let other = open(db).await;
    let s = store.as_ref();
    let created = service::create_tenant(s, "Acme", "admin@acme.example", "h", at(0))
        .await
        .unwrap();
    let tenant = created.tenant.id.clone();
    let now = at(100 * DAY);

    // Outbox: a webhook on `started`; 7 conversations closed 60 days ago, 2 closed yesterday,
    // 1 open. Their `started` deliveries: the old ones delivered or dead 60 days ago.
    let mut tx = s.begin().await.unwrap();
    tx.put_subscription(&Subscription {
        id: "sub_1".into(),
        tenant: tenant.clone(),
        kind: SubscriptionKind::Webhook,
        events: vec!["started".into()],
        channel: None,
        config: serde_json::json!({}),
        enabled: true,
        created_at: at(0),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut old = Vec::new();
    for _ in 0..7 {
        old.push(closed_conversation(s, &tenant, at(40 * DAY)).await);
    }
    let mut recent = Vec::new();
    for _ in 0..2 {
        recent.push(closed_conversation(s, &tenant, at(99 * DAY)).await);
    }
    let (open_conv, _) = service::start_conversation(
        s,
        &tenant,
        CustomerInput::default(),
        "web".into(),
        Default::default(),
        &Actor::Customer,
        at(10 * DAY),
    )
    .await
    .unwrap();
    let claimed = s.claim_deliveries(now, 100).await.unwrap();
    assert_eq!(claimed.len(), 10, "one delivery per started conversation");
    let open_id = open_conv.conversation.id.clone();
    for (i, d) in claimed.iter().enumerate() {
        if d.conversation.as_ref() == Some(&open_id) {
            continue; // still being delivered
        }
        let outcome = if i % 2 == 0 {
            DeliveryOutcome::Delivered
        } else {
            DeliveryOutcome::Dead("410 Gone".into())
        };
        let when = if recent.iter().any(|r| Some(r) == d.conversation.as_ref()) {
            at(99 * DAY)
        } else {
            at(40 * DAY)
        };
        s.finish_delivery(&d.id, &outcome, when).await.unwrap();
    }

    // Idempotency: 5 records from 3 days ago, 1 from an hour ago.
    for i in 0..5 {
        s.idempotency_claim(
            "scope",
            &format!("old-{i}"),
            "fp",
            now.plus_millis(-3 * DAY),
        )
        .await
        .unwrap();
    }
    s.idempotency_claim("scope", "fresh", "fp", now.plus_millis(-3_600_000))
        .await
        .unwrap();

    // Sessions: 3 expired 8 days ago, 1 expired an hour ago, 1 live.
    let admin = s.agents(&tenant).await.unwrap().remove(0);
    for _ in 0..3 {
        service::open_session(s, &admin, 1_000, now.plus_millis(-9 * DAY))
            .await
            .unwrap();
    }
    service::open_session(s, &admin, 1_000, now.plus_millis(-3_600_000))
        .await
        .unwrap();
    let live = service::open_session(s, &admin, DAY, now).await.unwrap();

    let retention = maintenance::Retention {
        deliveries_ms: Some(30 * DAY),
        idempotency_ms: Some(2 * DAY),
        expired_sessions_ms: Some(7 * DAY),
        closed_conversations_ms: Some(30 * DAY),
    };
    // Two instances at once, batches of 2: every row is removed exactly once between them.
    let (a, b) = tokio::join!(s.prune(&retention, now, 2), other.prune(&retention, now, 2));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.conversations + b.conversations, 7, "{a:?} {b:?}");
    assert_eq!(a.idempotency + b.idempotency, 5, "{a:?} {b:?}");
    assert_eq!(a.sessions + b.sessions, 3, "{a:?} {b:?}");
    // The old conversations' deliveries went with them; the recent ones' stay (finished
    // yesterday) and the open one's is still pending.
    assert_eq!(count(db, "SELECT COUNT(*) FROM deliveries").await, 3);
    for id in &old {
        assert_eq!(s.conversation(&tenant, id).await.unwrap(), None);
        assert_eq!(
            count(
                db,
                &format!("SELECT COUNT(*) FROM events WHERE conversation = '{id}'")
            )
            .await,
            0
        );
        assert_eq!(
            count(
                db,
                &format!("SELECT COUNT(*) FROM messages WHERE conversation = '{id}'")
            )
            .await,
            0
        );
        assert!(s.facts(&tenant, id).await.unwrap().is_none());
    }
    for id in recent.iter().chain([&open_conv.conversation.id]) {
        assert!(
            s.conversation(&tenant, id).await.unwrap().is_some(),
            "{id} kept"
        );
    }
    assert_eq!(count(db, "SELECT COUNT(*) FROM idempotency").await, 1);
    assert!(
        s.session(&baton_store::ids::hash_secret(&live), now)
            .await
            .unwrap()
            .is_some(),
        "the live session stays"
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM sessions").await, 2);

    // Finished deliveries past their time go on their own too (without their conversation).
    let later = at(99 * DAY + 31 * DAY);
    let kept_conversations = maintenance::Retention {
        closed_conversations_ms: None,
        ..retention
    };
    let pruned = s.prune(&kept_conversations, later, 1).await.unwrap();
    assert_eq!(pruned.deliveries, 2, "{pruned:?}");
    assert_eq!(pruned.conversations, 0, "{pruned:?}");
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM deliveries").await,
        1,
        "the pending one"
    );
    // Nothing to keep forever is pruned with an empty policy.
    let none = maintenance::Retention {
        deliveries_ms: None,
        idempotency_ms: None,
        expired_sessions_ms: None,
        closed_conversations_ms: None,
    };
    assert!(s.prune(&none, at(1000 * DAY), 10).await.unwrap().is_empty());
    let report = s.verify_log().await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");
}

/// Erasure: one customer's personal data leaves the messages, the events (and with them what
/// the outbox would send), the projections, the profile and stored idempotent answers; the
/// chain still verifies, the audit trail says who erased what and when, and changing an
/// erased event or its record afterwards is still caught.
async fn erasure(db: &TestDatabase) {
    let store = open(db).await;
    let s = store.as_ref();
    let created = service::create_tenant(s, "Acme", "admin@acme.example", "h", at(0))
        .await
        .unwrap();
    let tenant = created.tenant.id.clone();
    let admin = s.agents(&tenant).await.unwrap().remove(0);
    let by = Actor::Agent {
        id: admin.id.clone(),
    };
    let secret = "Zanzibar-4471";
    let mut tx = s.begin().await.unwrap();
    tx.put_subscription(&Subscription {
        id: "sub_1".into(),
        tenant: tenant.clone(),
        kind: SubscriptionKind::Webhook,
        events: vec!["message_added".into()],
        channel: None,
        config: serde_json::json!({}),
        enabled: true,
        created_at: at(0),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut attributes = serde_json::Map::new();
    attributes.insert(
        "address".into(),
        serde_json::json!(format!("{secret} Road")),
    );
    let (outcome, _) = service::start_conversation(
        s,
        &tenant,
        CustomerInput {
            external_id: Some(format!("wa-{secret}")),
            name: Some(format!("Ada {secret}")),
            email: Some("ada@example.com".into()),
            phone: Some("+15550123".into()),
            tier: Some("gold".into()),
            attributes: attributes.clone(),
            ..CustomerInput::default()
        },
        "web".into(),
        attributes,
        &Actor::Customer,
        at(10),
    )
    .await
    .unwrap();
    let id = outcome.conversation.id;
    let customer = outcome.conversation.customer.clone();
    let say = |role, text: String| NewMessage {
        role,
        text,
        external_id: None,
        bot: None,
    };
    service::post_message(
        s,
        &tenant,
        &id,
        say(
            MessageRole::Customer,
            format!("my card is {secret}, refund me"),
        ),
        &Actor::Customer,
        at(20),
        None,
    )
    .await
    .unwrap();
    service::run_command(
        s,
        &tenant,
        &id,
        &Command::RequestHandoff {
            reason: "customer_request".into(),
            source: HandoffSource::Customer,
            queue: None,
            priority: None,
            note: Some(format!("lives at {secret}")),
        },
        &Actor::Customer,
        at(30),
    )
    .await
    .unwrap();
    service::run_command(
        s,
        &tenant,
        &id,
        &Command::RecordBrief(
            serde_json::json!({"summary": format!("Ada ({secret}) wants a refund")}),
        ),
        &Actor::System,
        at(31),
    )
    .await
    .unwrap();
    service::set_customer_email(
        s,
        &tenant,
        &id,
        &baton_core::EmailAddress::parse("ada.other@example.com").unwrap(),
        &Actor::Customer,
        at(35),
    )
    .await
    .unwrap();
    // An idempotent request's stored answer about this conversation.
    s.idempotency_claim("t:key", "k1", "fp", at(36))
        .await
        .unwrap();
    s.idempotency_complete(
        "t:key",
        "k1",
        201,
        &format!("{{\"id\":\"{id}\",\"text\":\"{secret}\"}}"),
    )
    .await
    .unwrap();
    // Another customer's conversation is not touched.
    let (bystander, _) = service::start_conversation(
        s,
        &tenant,
        CustomerInput {
            name: Some(format!("Bo {secret}")),
            ..CustomerInput::default()
        },
        "web".into(),
        Default::default(),
        &Actor::Customer,
        at(40),
    )
    .await
    .unwrap();

    // Open conversations are refused, and nothing changes.
    let refused = s.erase_customer(&tenant, &customer, &by, at(50)).await;
    assert!(
        matches!(
            &refused,
            Err(StoreError::Conflict {
                code: "customer_has_open_conversations",
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(matches!(
        s.erase_customer(
            &tenant,
            &baton_core::CustomerId::with_suffix("nobody"),
            &by,
            at(50)
        )
        .await,
        Err(StoreError::NotFound(_))
    ));
    service::run_command(
        s,
        &tenant,
        &id,
        &Command::Close {
            resolution: None,
            override_owner: true,
        },
        &by,
        at(60),
    )
    .await
    .unwrap();
    service::run_command(
        s,
        &tenant,
        &id,
        &Command::RecordCsat {
            score: CsatScore::new(2).unwrap(),
            comment: Some(format!("{secret} was rude")),
        },
        &Actor::Customer,
        at(70),
    )
    .await
    .unwrap();
    let facts_before = s.facts(&tenant, &id).await.unwrap().expect("facts");
    assert_eq!(s.verify_log().await.unwrap().broken, None);
    // The handoff left its brief job pending (no worker runs here).
    assert!(s.next_timer_due().await.unwrap().is_some());

    let erased = s
        .erase_customer(&tenant, &customer, &by, at(100))
        .await
        .unwrap();
    // ...and the erasure took it: a worker that built the brief before cannot write it back.
    assert!(
        !service::record_brief(
            s,
            &tenant,
            &id,
            serde_json::json!({"summary": format!("{secret} wants a refund")}),
            at(101),
        )
        .await
        .unwrap()
    );
    assert_eq!(erased.conversations, vec![id.clone()]);
    assert!(erased.messages >= 1, "{erased:?}");
    assert!(erased.events >= 5, "{erased:?}");

    // The text is gone from every place that held it...
    let other = bystander.conversation.id.clone();
    for sql in [
        format!(
            "SELECT COUNT(*) FROM messages WHERE text LIKE '%{secret}%' AND conversation <> '{other}'"
        ),
        format!(
            "SELECT COUNT(*) FROM events WHERE data LIKE '%{secret}%' AND (conversation IS NULL OR conversation <> '{other}')"
        ),
        format!(
            "SELECT COUNT(*) FROM conversations WHERE data LIKE '%{secret}%' AND id <> '{other}'"
        ),
        format!("SELECT COUNT(*) FROM conversation_facts WHERE data LIKE '%{secret}%'"),
        format!(
            "SELECT COUNT(*) FROM customers WHERE (name LIKE '%{secret}%' OR external_id LIKE '%{secret}%' OR attributes LIKE '%{secret}%') AND id <> '{}'",
            bystander.conversation.customer
        ),
        format!("SELECT COUNT(*) FROM idempotency WHERE body LIKE '%{secret}%'"),
    ] {
        assert_eq!(
            count(db, &sql).await,
            0,
            "the erased text is still found by {sql}"
        );
    }
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM events WHERE data LIKE '%ada.other@example.com%'"
        )
        .await,
        0
    );
    let profile = s
        .customer(&tenant, &customer)
        .await
        .unwrap()
        .expect("the customer row stays");
    assert_eq!(
        (
            profile.name,
            profile.email,
            profile.phone,
            profile.external_id
        ),
        (None, None, None, None)
    );
    assert!(profile.attributes.is_empty());
    assert_eq!(
        profile.tier.as_deref(),
        Some("gold"),
        "the segment stays for analytics"
    );
    let conv = s.conversation(&tenant, &id).await.unwrap().unwrap();
    assert!(conv.attributes.is_empty());
    let messages = s
        .messages(
            &tenant,
            &id,
            &PageRequest {
                limit: 50,
                cursor: None,
            },
        )
        .await
        .unwrap()
        .items;
    assert!(
        messages
            .iter()
            .all(|m| m.text == baton_core::conversation::ERASED),
        "{messages:?}"
    );
    // ...including what the outbox sends: a delivery's payload is read from its event.
    let delivery = s.claim_deliveries(at(200), 10).await.unwrap();
    assert!(!delivery.is_empty());
    for d in &delivery {
        let events = s.events_by_seq(&[d.event_seq]).await.unwrap();
        let text = serde_json::to_string(&events).unwrap();
        if d.conversation.as_ref() == Some(&id) {
            assert!(!text.contains(secret), "{text}");
        }
    }
    // The bystander keeps everything.
    let bo = s
        .customer(&tenant, &bystander.conversation.customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bo.name, Some(format!("Bo {secret}")));
    // Analytics are unchanged.
    assert_eq!(s.facts(&tenant, &id).await.unwrap().unwrap(), facts_before);

    // The chain verifies, and the audit trail says who erased what and when.
    let report = s.verify_log().await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    let audit = s
        .audit_events(
            &tenant,
            &AuditFilter {
                kind: Some("customer_erased".into()),
                ..AuditFilter::default()
            },
            &PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .unwrap()
        .items;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, by);
    assert_eq!(audit[0].at, at(100));
    assert_eq!(audit[0].seq, erased.event_seq);
    assert_eq!(audit[0].body.to_json()["customer"], customer.as_str());
    assert_eq!(
        audit[0].body.to_json()["events"].as_array().unwrap().len() as u64,
        erased.events
    );
    assert!(!audit[0].body.to_json().to_string().contains(secret));

    // Erasing again changes nothing more and still verifies.
    let again = s
        .erase_customer(&tenant, &customer, &by, at(110))
        .await
        .unwrap();
    assert_eq!(again.events, 0);
    assert_eq!(s.verify_log().await.unwrap().broken, None);

    // Tampering with an erased event is caught...
    raw(
        db,
        &format!(
            "UPDATE events SET data = REPLACE(data, '[erased]', 'forged') \
             WHERE conversation = '{id}' AND kind = 'message_added'"
        ),
    )
    .await;
    let broken = s
        .verify_log()
        .await
        .unwrap()
        .broken
        .expect("tampering is caught");
    assert_eq!(broken.kind, "message_added");
    assert!(broken.problem.contains("after it was erased"), "{broken:?}");
    raw(
        db,
        &format!(
            "UPDATE events SET data = REPLACE(data, 'forged', '[erased]') \
             WHERE conversation = '{id}' AND kind = 'message_added'"
        ),
    )
    .await;
    assert_eq!(s.verify_log().await.unwrap().broken, None);
    // ...and so is tampering with the erasure record.
    raw(
        db,
        &format!(
            "UPDATE events SET data = REPLACE(data, 'cus_', 'cux_') WHERE seq = {}",
            erased.event_seq
        ),
    )
    .await;
    let broken = s
        .verify_log()
        .await
        .unwrap()
        .broken
        .expect("tampering is caught");
    assert_eq!(broken.seq, erased.event_seq);
}

/// Attachments: every byte value round-trips through the database (BLOB, BYTEA); the message
/// that carries the file names it in the transcript and its event; erasure deletes the files
/// of the customer's conversations and the chain still verifies; retention pruning takes a
/// closed conversation's files with it.
async fn attachments(db: &TestDatabase) {
    let store = open(db).await;
    let s = store.as_ref();
    let tenant = service::create_tenant(s, "Acme", "admin@acme.example", "h", at(0))
        .await
        .unwrap()
        .tenant
        .id;
    let bytes: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(4096))
        .collect();
    let send = |conversation: ConversationId, when: Timestamp| {
        let bytes = bytes.clone();
        let tenant = tenant.clone();
        async move {
            service::post_attachment(
                s,
                &tenant,
                &conversation,
                service::NewAttachment {
                    role: MessageRole::Customer,
                    filename: "scan.pdf".into(),
                    content_type: "application/pdf".into(),
                    sha256: "00".repeat(32),
                    bytes,
                },
                1 << 20,
                &Actor::Customer,
                when,
            )
            .await
            .unwrap()
        }
    };
    let id = closed_conversation(s, &tenant, at(10)).await;
    // A customer's file reopens a closed conversation, as any message of theirs does.
    let sent = send(id.clone(), at(20)).await;
    let file = sent.message.attachment.clone().expect("a reference");
    assert_eq!(sent.message.text, "scan.pdf");
    assert_eq!(file.size, bytes.len() as u64);
    let (stored, read) = s
        .attachment(&tenant, &id, &file.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(read, bytes);
    assert_eq!(stored.message, sent.message.id);
    assert_eq!(stored.uploader, Actor::Customer);
    // A conversation's files are limited in total.
    let full = service::post_attachment(
        s,
        &tenant,
        &id,
        service::NewAttachment {
            role: MessageRole::Customer,
            filename: "more.pdf".into(),
            content_type: "application/pdf".into(),
            sha256: "00".repeat(32),
            bytes: bytes.clone(),
        },
        2 * bytes.len() as u64 - 1,
        &Actor::Customer,
        at(25),
    )
    .await;
    assert!(
        matches!(
            &full,
            Err(StoreError::Conflict {
                code: "attachments_full",
                ..
            })
        ),
        "{full:?}"
    );
    let other_tenant = service::create_tenant(s, "Other", "admin@other.example", "h", at(0))
        .await
        .unwrap()
        .tenant
        .id;
    assert!(
        s.attachment(&other_tenant, &id, &file.id)
            .await
            .unwrap()
            .is_none()
    );
    let page = PageRequest {
        limit: 50,
        cursor: None,
    };
    let transcript = s.messages(&tenant, &id, &page).await.unwrap().items;
    assert_eq!(transcript.last().unwrap().attachment.as_ref(), Some(&file));
    let events = s.events(&tenant, &id, &page).await.unwrap().items;
    assert!(
        events
            .iter()
            .any(|e| e.body.to_json()["message"]["attachment"]["id"] == file.id.as_str()),
        "{events:?}"
    );

    // Erasure removes the file and its name.
    service::run_command(
        s,
        &tenant,
        &id,
        &Command::Close {
            resolution: None,
            override_owner: true,
        },
        &Actor::System,
        at(30),
    )
    .await
    .unwrap();
    let customer = s
        .conversation(&tenant, &id)
        .await
        .unwrap()
        .unwrap()
        .customer;
    let erased = s
        .erase_customer(&tenant, &customer, &Actor::System, at(40))
        .await
        .unwrap();
    assert_eq!(erased.conversations, vec![id.clone()]);
    assert!(
        s.attachment(&tenant, &id, &file.id)
            .await
            .unwrap()
            .is_none()
    );
    let transcript = s.messages(&tenant, &id, &page).await.unwrap().items;
    assert!(transcript.iter().all(|m| m.attachment.is_none()));
    let events = s.events(&tenant, &id, &page).await.unwrap().items;
    assert!(
        !serde_json::to_string(&events.iter().map(|e| e.body.to_json()).collect::<Vec<_>>())
            .unwrap()
            .contains("scan.pdf")
    );
    let report = s.verify_log().await.unwrap();
    assert_eq!(report.broken, None, "{report:?}");

    // Retention takes a closed conversation's files with it.
    let old = closed_conversation(s, &tenant, at(50)).await;
    let file = send(old.clone(), at(60)).await.message.attachment.unwrap();
    service::run_command(
        s,
        &tenant,
        &old,
        &Command::Close {
            resolution: None,
            override_owner: true,
        },
        &Actor::System,
        at(70),
    )
    .await
    .unwrap();
    let policy = maintenance::Retention {
        deliveries_ms: None,
        idempotency_ms: None,
        expired_sessions_ms: None,
        closed_conversations_ms: Some(DAY),
    };
    let pruned = s.prune(&policy, at(10 * DAY), 10).await.unwrap();
    assert_eq!(pruned.conversations, 2, "{pruned:?}");
    assert!(
        s.attachment(&tenant, &old, &file.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM attachments").await, 0);
}
