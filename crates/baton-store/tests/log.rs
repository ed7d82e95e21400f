//! The event log's companions, on SQLite and PostgreSQL: the tamper-evident hash chain, the
//! analytics facts folded in the same transaction, and the transactional outbox.

use baton_core::analytics::{self, Facts};
use baton_core::conversation::{Actor, Command, HandoffSource};
use baton_core::{ConversationId, CsatScore, MessageRole, Role, TenantId, Timestamp};
use baton_store::outbox::*;
use baton_store::reports::AuditFilter;
use baton_store::service::{self, CustomerInput, NewAgent, NewMessage};
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

on_both!(chain, facts, outbox);

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
            email: format!("ana-{}@acme.example", service::new_suffix()),
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
                .find(|e| e.kind == "message_added" && e.data.to_string().contains("On it"))
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
    assert_eq!(page.items[0].kind, "rules_updated");
    assert_eq!(
        page.items[0].data["after"],
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
    assert_eq!(all.items[0].kind, "rules_updated");
    assert!(all.next_cursor.is_some());
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
            Box::leak(Box::new(serde_json::from_value(e.data.clone()).unwrap())) as &_,
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
            kind: "closed".into(),
            actor: Actor::System,
            data: serde_json::json!({"type": "closed", "resolution": null}),
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
