//! The store's backend suite: every test is one async function over `Arc<dyn Store>`, run
//! against SQLite (a fresh file each) and against PostgreSQL when `BATON_TEST_POSTGRES_URL` is
//! set (a fresh database each, dropped at the end).

use baton_core::conversation::{self, Actor, BotTurn, Command, EventKind, HandoffSource};
use baton_core::{
    AgentId, Conversation, ConversationId, ConversationState, CsatScore, MessageRole, QueueId,
    Role, TenantId, Timestamp, TransitionError,
};
use baton_engine::service::{self, CustomerInput, NewAgent, NewMessage};
use baton_store::outbox::{Subscription, SubscriptionKind};
use baton_store::*;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const T0: i64 = 1_700_000_000_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn unique() -> String {
    ulid::Ulid::generate().to_string().to_ascii_lowercase()
}

// ---------------------------------------------------------------- harness

/// A fresh SQLite file in its own (not yet existing) folder, removed afterwards.
struct SqliteDir(PathBuf);

impl Drop for SqliteDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = SqliteDir(std::env::temp_dir().join(format!("baton-store-test-{}", unique())));
    let url = format!("sqlite://{}", dir.0.join("nested/baton.db").display());
    let store = connect(&url).await.expect("open sqlite");
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrating twice is a no-op");
    test(store).await;
}

fn postgres_admin_url(test: &str) -> Option<String> {
    baton_store::testing::postgres_url(test)
}

/// `admin` with its database replaced by `db` (query string kept).
fn with_database(admin: &str, db: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..host_end])
}

/// Creates database `baton_test_<random>`, runs `test` with its URL, drops it (even on panic).
async fn with_postgres_db<F, Fut>(name: &str, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    use sqlx::Connection;
    let Some(admin_url) = postgres_admin_url(name) else {
        return;
    };
    let db = format!("baton_test_{}", unique());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("admin connection");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let result = AssertUnwindSafe(test(with_database(&admin_url, &db)))
        .catch_unwind()
        .await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop test database");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn pg_store(url: &str) -> Arc<dyn Store> {
    let store = connect(url).await.expect("open postgres");
    assert_eq!(store.backend(), Backend::Postgres);
    store.migrate().await.expect("migrate");
    store
}

async fn with_postgres<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    with_postgres_db(name, |url| async move {
        let store = pg_store(&url).await;
        test(store).await;
    })
    .await;
}

/// Runs each listed test against SQLite and PostgreSQL.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_sqlite(super::$name).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::with_postgres(stringify!($name), super::$name).await;
                }
            )+
        }
    };
}

backend_tests!(
    story,
    concurrent_duplicate_posts,
    tenant_isolation,
    pagination,
    idempotency,
    idempotency_commits_with_the_command,
    live_events,
    errors_and_conflicts,
    timers_and_open_conversations,
    routing_leases_and_agent_load,
    channel_conversations_open_once,
    visibility,
    widget_start_is_atomic,
    customer_email,
    writes_that_queue_commit_together,
    deferred_writes,
    queue_gauges,
    conversation_read,
    adopted_reads,
    messages_sent_together,
);

// ---------------------------------------------------------------- helpers

async fn new_tenant(store: &dyn Store, name: &str) -> service::CreatedTenant {
    let email = format!("admin-{}@{name}.example", unique());
    service::create_tenant(store, name, &email, "argon2-hash-admin", at(0))
        .await
        .expect("tenant")
}

async fn new_agent(store: &dyn Store, tenant: &TenantId, email: &str) -> baton_core::AgentId {
    let new = NewAgent {
        email: email.to_string(),
        name: format!("Agent {email}"),
        role: Role::Agent,
        skills: vec![Skill {
            name: "billing".into(),
            level: 7,
        }],
        languages: vec!["en".into(), "es".into()],
        queues: vec![QueueId::with_suffix("billing")],
        capacity: 3,
    };
    service::create_agent(store, tenant, new, "argon2-hash", &Actor::System, at(1))
        .await
        .expect("agent")
        .id
}

async fn start(store: &dyn Store, tenant: &TenantId, external: Option<&str>) -> Conversation {
    let customer = CustomerInput {
        external_id: external.map(str::to_string),
        name: Some("Ada".into()),
        ..Default::default()
    };
    let mut attrs = serde_json::Map::new();
    attrs.insert("page".into(), serde_json::json!("/pricing"));
    service::start_conversation(
        store,
        tenant,
        customer,
        "web".into(),
        attrs,
        &Actor::Customer,
        at(10),
    )
    .await
    .expect("start")
    .0
    .conversation
}

fn text(role: MessageRole, text: &str, external_id: Option<&str>) -> NewMessage {
    NewMessage {
        role,
        text: text.to_string(),
        external_id: external_id.map(str::to_string),
        bot: None,
    }
}

async fn all_events(store: &dyn Store, tenant: &TenantId, id: &ConversationId) -> Vec<StoredEvent> {
    let mut out = Vec::new();
    let mut page = PageRequest {
        limit: 2,
        cursor: None,
    };
    loop {
        let p = store.events(tenant, id, &page).await.expect("events");
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return out,
        }
    }
}

fn handoff(queue: &QueueId) -> Command {
    Command::RequestHandoff {
        reason: "customer_request".into(),
        source: HandoffSource::Customer,
        queue: Some(queue.clone()),
        priority: None,
        note: Some("wants a refund".into()),
    }
}

async fn recv(rx: &mut broadcast::Receiver<Arc<StoredEvent>>) -> Arc<StoredEvent> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("receiver open")
}

// ---------------------------------------------------------------- tests

/// The life of a tenant: accounts, sessions, queues, and one conversation from first message to
/// CSAT, with illegal moves refused and the event log able to rebuild the projection.
async fn story(store: Arc<dyn Store>) {
    let store = store.as_ref();
    store.ping().await.expect("ping");

    // Tenant, admin and first API key.
    let created = new_tenant(store, "acme").await;
    let tenant = created.tenant.id.clone();
    assert_eq!(
        store.tenant(&tenant).await.unwrap(),
        Some(created.tenant.clone())
    );
    let key = store
        .api_key_by_hash(&baton_store::ids::hash_secret(&created.api_key_secret))
        .await
        .unwrap()
        .expect("key by hash");
    assert_eq!(key, created.api_key);
    assert_eq!(
        store.api_keys(&tenant).await.unwrap(),
        vec![created.api_key.clone()]
    );
    service::revoke_api_key(store, &tenant, &key.id, &Actor::System, at(2))
        .await
        .unwrap();
    assert!(
        store
            .api_key_by_hash(&baton_store::ids::hash_secret(&created.api_key_secret))
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        service::revoke_api_key(store, &tenant, &key.id, &Actor::System, at(2)).await,
        Err(StoreError::NotFound(_))
    ));

    // Agents and login (email is case-insensitive).
    let email = format!("Bea-{}@Acme.example", unique());
    let bea = new_agent(store, &tenant, &email).await;
    let (agent, hash) = store
        .agent_for_login(&email.to_uppercase())
        .await
        .unwrap()
        .expect("login lookup");
    assert_eq!(agent.id, bea);
    assert_eq!(agent.email, email.to_ascii_lowercase());
    assert_eq!(hash, "argon2-hash");
    assert_eq!(
        agent.skills,
        vec![Skill {
            name: "billing".into(),
            level: 7
        }]
    );
    assert_eq!(
        store.agent(&tenant, &bea).await.unwrap(),
        Some(agent.clone())
    );
    let cid = new_agent(store, &tenant, &format!("cid-{}@acme.example", unique())).await;
    assert_eq!(store.agents(&tenant).await.unwrap().len(), 3);
    let updated = service::update_agent(
        store,
        &tenant,
        &bea,
        &Actor::System,
        at(3),
        None,
        |a: &mut Agent| {
            a.status = baton_core::AgentStatus::Available;
            a.capacity = 5;
        },
    )
    .await
    .unwrap();
    assert_eq!(store.agent(&tenant, &bea).await.unwrap(), Some(updated));
    let mut tx = store.begin().await.unwrap();
    tx.set_agent_password(&tenant, &bea, "new-hash")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.agent_for_login(&email).await.unwrap().unwrap().1,
        "new-hash"
    );

    // Sessions expire.
    let session_token = service::open_session(store, &agent, 1_000, at(0))
        .await
        .unwrap();
    let token_hash = baton_store::ids::hash_secret(&session_token);
    let session = store
        .session(&token_hash, at(999))
        .await
        .unwrap()
        .expect("live session");
    assert_eq!(
        (session.tenant.clone(), session.agent.clone()),
        (tenant.clone(), bea.clone())
    );
    assert!(
        store
            .session(&token_hash, at(1_000))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    service::close_session(store, &session_token, at(0))
        .await
        .unwrap();
    assert!(
        store.session(&token_hash, at(0)).await.unwrap().is_none(),
        "closed"
    );

    // Queues: create, update, list, delete.
    let billing = QueueId::with_suffix("billing");
    let mut queue = Queue {
        id: billing.clone(),
        tenant: tenant.clone(),
        name: "Billing".into(),
        skills: vec![Skill {
            name: "billing".into(),
            level: 3,
        }],
        languages: vec!["en".into()],
        strategy: "round_robin".into(),
        offer_timeout_secs: 30,
        settings: serde_json::json!({ "overflow": [] }),
        created_at: at(4),
    };
    service::save_queue(store, &queue, &Actor::System, at(4))
        .await
        .unwrap();
    queue.name = "Billing & refunds".into();
    queue.strategy = "least_busy".into();
    service::save_queue(store, &queue, &Actor::System, at(5))
        .await
        .unwrap();
    assert_eq!(
        store.queue(&tenant, &billing).await.unwrap(),
        Some(queue.clone())
    );
    let spare = Queue {
        id: QueueId::with_suffix("spare"),
        name: "Spare".into(),
        ..queue.clone()
    };
    service::save_queue(store, &spare, &Actor::System, at(5))
        .await
        .unwrap();
    assert_eq!(
        store.queues(&tenant).await.unwrap(),
        vec![queue.clone(), spare.clone()]
    );
    service::delete_queue(store, &tenant, &spare.id, &Actor::System, at(6))
        .await
        .unwrap();
    assert!(store.queue(&tenant, &spare.id).await.unwrap().is_none());
    assert!(matches!(
        service::delete_queue(store, &tenant, &spare.id, &Actor::System, at(6)).await,
        Err(StoreError::NotFound(_))
    ));

    // A conversation: customer and bot turns, a duplicate delivery.
    let conv = start(store, &tenant, Some("crm-42")).await;
    let id = conv.id.clone();
    assert_eq!(
        store.conversation(&tenant, &id).await.unwrap(),
        Some(conv.clone())
    );
    let customer = store
        .customer(&tenant, &conv.customer)
        .await
        .unwrap()
        .expect("customer");
    assert_eq!(customer.external_id.as_deref(), Some("crm-42"));
    let again = start(store, &tenant, Some("crm-42")).await;
    assert_eq!(
        again.customer, conv.customer,
        "a returning customer is reused"
    );

    let first = service::post_message(
        store,
        &tenant,
        &id,
        text(
            MessageRole::Customer,
            "my invoice is wrong",
            Some("wamid.1"),
        ),
        &Actor::Customer,
        at(20),
        None,
    )
    .await
    .unwrap();
    assert!(!first.duplicate);
    let dup = service::post_message(
        store,
        &tenant,
        &id,
        text(
            MessageRole::Customer,
            "my invoice is wrong",
            Some("wamid.1"),
        ),
        &Actor::Customer,
        at(21),
        None,
    )
    .await
    .unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.message, first.message);
    assert!(dup.events.is_empty());
    let bot = NewMessage {
        bot: Some(BotTurn {
            confidence: Some(0.4),
            intent: Some("billing".into()),
            fallback: false,
        }),
        ..text(MessageRole::Bot, "Let me check.", None)
    };
    let bot = service::post_message(store, &tenant, &id, bot, &Actor::Bot, at(22), None)
        .await
        .unwrap();
    assert!(bot.message.seq > first.message.seq);

    // Handoff, claim, reply, note, close, CSAT.
    let cmd = |c: Command, actor: Actor, t: i64| {
        let (tenant, id) = (tenant.clone(), id.clone());
        async move { service::run_command(store, &tenant, &id, &c, &actor, at(t)).await }
    };
    let bea_actor = Actor::Agent { id: bea.clone() };
    let out = cmd(handoff(&billing), Actor::Customer, 30).await.unwrap();
    assert_eq!(out.conversation.state, ConversationState::Queued);
    let out = cmd(Command::Claim, bea_actor.clone(), 31).await.unwrap();
    assert_eq!(out.conversation.assignee.as_ref(), Some(&bea));
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].kind(), "assigned");
    let stolen = cmd(Command::Claim, Actor::Agent { id: cid.clone() }, 32).await;
    assert!(matches!(
        stolen,
        Err(StoreError::Transition(TransitionError::NotAssignee))
    ));
    service::post_message(
        store,
        &tenant,
        &id,
        text(MessageRole::Agent, "Fixed, sorry!", None),
        &bea_actor,
        at(33),
        None,
    )
    .await
    .unwrap();
    service::post_message(
        store,
        &tenant,
        &id,
        text(MessageRole::Note, "refund issued", None),
        &bea_actor,
        at(34),
        None,
    )
    .await
    .unwrap();
    let assigned = store
        .conversations(
            &tenant,
            &ConversationFilter {
                assignee: Some(bea.clone()),
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        assigned.items.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![&id]
    );
    let close = Command::Close {
        resolution: Some("refunded".into()),
        override_owner: false,
    };
    let out = cmd(close.clone(), bea_actor.clone(), 35).await.unwrap();
    assert_eq!(out.conversation.state, ConversationState::Closed);
    let csat = Command::RecordCsat {
        score: CsatScore::new(5).unwrap(),
        comment: None,
    };
    cmd(csat.clone(), Actor::Customer, 36).await.unwrap();

    // Illegal moves are refused and write nothing.
    let before = all_events(store, &tenant, &id).await;
    let stored_before = store.conversation(&tenant, &id).await.unwrap();
    let reply = service::post_message(
        store,
        &tenant,
        &id,
        text(MessageRole::Agent, "one more thing", None),
        &bea_actor,
        at(37),
        None,
    )
    .await;
    assert!(
        matches!(
            reply,
            Err(StoreError::Transition(TransitionError::InvalidState { .. }))
        ),
        "{reply:?}"
    );
    assert!(matches!(
        cmd(csat, Actor::Customer, 38).await,
        Err(StoreError::Transition(TransitionError::CsatAlreadyRecorded))
    ));
    assert!(matches!(
        cmd(close, bea_actor.clone(), 39).await,
        Err(StoreError::Transition(TransitionError::InvalidState { .. }))
    ));
    assert_eq!(
        all_events(store, &tenant, &id).await,
        before,
        "refused commands append nothing"
    );
    assert_eq!(
        store.conversation(&tenant, &id).await.unwrap(),
        stored_before
    );
    let messages = store
        .messages(&tenant, &id, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(messages.items.len(), 4);
    assert_eq!(
        messages.items[1].bot.as_ref().and_then(|b| b.confidence),
        Some(0.4)
    );
    assert_eq!(messages.items[3].role, MessageRole::Note);

    // Replaying the log rebuilds the stored projection.
    let stored = store.conversation(&tenant, &id).await.unwrap().unwrap();
    let mut replayed = Conversation::new(
        id.clone(),
        tenant.clone(),
        conv.customer.clone(),
        String::new(),
        at(0),
    );
    for event in &before {
        let kind: EventKind = serde_json::from_value(event.body.to_json()).expect("event kind");
        assert_eq!(kind.name(), event.kind());
        conversation::apply(&mut replayed, &kind, event.at);
    }
    assert_eq!(replayed, stored);
    assert_eq!(stored.version as usize, before.len());

    // Counts per state, across tenants.
    let counts = store.conversation_counts().await.unwrap();
    assert!(counts.contains(&("closed".to_string(), 1)), "{counts:?}");
    assert!(counts.contains(&("bot".to_string(), 1)), "{counts:?}");
}

/// Five deliveries of one channel message at once are stored once.
async fn concurrent_duplicate_posts(store: Arc<dyn Store>) {
    let tenant = new_tenant(store.as_ref(), "dupes").await.tenant.id;
    let conv = start(store.as_ref(), &tenant, None).await;
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (store, tenant, id) = (store.clone(), tenant.clone(), conv.id.clone());
        tasks.push(tokio::spawn(async move {
            service::post_message(
                store.as_ref(),
                &tenant,
                &id,
                text(MessageRole::Customer, "hello", Some("wamid.same")),
                &Actor::Customer,
                at(100 + i),
                None,
            )
            .await
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        let outcome = task.await.unwrap();
        // The contract: the same message posted again is a duplicate, never a conflict, even
        // when the posts race.
        match outcome {
            Ok(o) if !o.duplicate => fresh += 1,
            Ok(_) => {}
            Err(e) => panic!("a racing duplicate post failed: {e:?}"),
        }
    }
    assert_eq!(fresh, 1);
    let messages = store
        .messages(&tenant, &conv.id, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(messages.items.len(), 1);
    let conv = store
        .conversation(&tenant, &conv.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.message_count, 1);
}

/// Nothing of one tenant is visible through another's id.
async fn tenant_isolation(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let a = new_tenant(store, "alpha").await;
    let b = new_tenant(store, "beta").await;
    let (ta, tb) = (a.tenant.id.clone(), b.tenant.id.clone());
    let conv = start(store, &ta, Some("same-external")).await;
    service::post_message(
        store,
        &ta,
        &conv.id,
        text(MessageRole::Customer, "hi", Some("m1")),
        &Actor::Customer,
        at(1),
        None,
    )
    .await
    .unwrap();
    let queue = Queue {
        id: QueueId::with_suffix("general"),
        tenant: ta.clone(),
        name: "General".into(),
        skills: vec![],
        languages: vec![],
        strategy: "round_robin".into(),
        offer_timeout_secs: 30,
        settings: serde_json::json!({}),
        created_at: at(0),
    };
    service::save_queue(store, &queue, &Actor::System, at(0))
        .await
        .unwrap();

    assert!(store.conversation(&tb, &conv.id).await.unwrap().is_none());
    assert!(store.customer(&tb, &conv.customer).await.unwrap().is_none());
    assert!(store.agent(&tb, &a.admin.id).await.unwrap().is_none());
    assert!(store.queue(&tb, &queue.id).await.unwrap().is_none());
    assert!(store.queues(&tb).await.unwrap().is_empty());
    assert!(
        store
            .api_keys(&tb)
            .await
            .unwrap()
            .iter()
            .all(|k| k.tenant == tb)
    );
    assert_eq!(store.agents(&tb).await.unwrap().len(), 1);
    let listed = store
        .conversations(&tb, &ConversationFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert!(
        store
            .messages(&tb, &conv.id, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        store
            .events(&tb, &conv.id, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let refused =
        service::run_command(store, &tb, &conv.id, &Command::Claim, &Actor::System, at(2)).await;
    assert!(matches!(refused, Err(StoreError::NotFound("conversation"))));
    assert!(matches!(
        service::delete_queue(store, &tb, &queue.id, &Actor::System, at(2)).await,
        Err(StoreError::NotFound(_))
    ));
    // The same external ids are independent per tenant.
    let conv_b = start(store, &tb, Some("same-external")).await;
    assert_ne!(conv_b.customer, conv.customer);
    let posted = service::post_message(
        store,
        &tb,
        &conv_b.id,
        text(MessageRole::Customer, "hi", Some("m1")),
        &Actor::Customer,
        at(3),
        None,
    )
    .await
    .unwrap();
    assert!(!posted.duplicate);
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.revoke_api_key(&tb, &a.api_key.id, at(4)).await.unwrap());
    assert!(
        tx.agent_for_update(&tb, &a.admin.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        tx.conversation_for_update(&tb, &conv.id)
            .await
            .unwrap()
            .is_none()
    );
}

/// Conversations page newest first by id; messages and events oldest first by seq.
async fn pagination(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tenant = new_tenant(store, "pages").await.tenant.id;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(start(store, &tenant, None).await.id);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut page = PageRequest {
        limit: 3,
        cursor: None,
    };
    let mut pages = 0;
    loop {
        let p = store
            .conversations(&tenant, &ConversationFilter::default(), &page)
            .await
            .unwrap();
        pages += 1;
        seen.extend(p.items.into_iter().map(|c| c.id));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "newest first, each once");
    let exact = PageRequest {
        limit: 7,
        cursor: None,
    };
    let p = store
        .conversations(&tenant, &ConversationFilter::default(), &exact)
        .await
        .unwrap();
    assert_eq!(
        (p.items.len(), p.next_cursor),
        (7, None),
        "no empty last page"
    );

    // Filters.
    let queued = &ids[0];
    let q = QueueId::with_suffix("vip");
    service::run_command(
        store,
        &tenant,
        queued,
        &handoff(&q),
        &Actor::Customer,
        at(50),
    )
    .await
    .unwrap();
    let filter = ConversationFilter {
        state: Some(ConversationState::Queued),
        ..Default::default()
    };
    let p = store
        .conversations(&tenant, &filter, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        p.items.iter().map(|c| &c.id).collect::<Vec<_>>(),
        vec![queued]
    );
    let filter = ConversationFilter {
        queue: Some(q),
        ..Default::default()
    };
    assert_eq!(
        store
            .conversations(&tenant, &filter, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let filter = ConversationFilter {
        since: Some(at(11)),
        ..Default::default()
    };
    assert!(
        store
            .conversations(&tenant, &filter, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let filter = ConversationFilter {
        until: Some(at(11)),
        ..Default::default()
    };
    assert_eq!(
        store
            .conversations(&tenant, &filter, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        7
    );

    // Messages.
    let id = &ids[1];
    for i in 0..5 {
        service::post_message(
            store,
            &tenant,
            id,
            text(MessageRole::Customer, &format!("m{i}"), None),
            &Actor::Customer,
            at(60 + i),
            None,
        )
        .await
        .unwrap();
    }
    let mut texts = Vec::new();
    let mut page = PageRequest {
        limit: 2,
        cursor: None,
    };
    loop {
        let p = store.messages(&tenant, id, &page).await.unwrap();
        texts.extend(p.items.into_iter().map(|m| m.text));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);

    // Events: 1 started + 5 messages, in order, across pages of 2.
    let events = all_events(store, &tenant, id).await;
    assert_eq!(events.len(), 6);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(events[0].kind(), "started");

    // Bad cursors are the caller's mistake.
    let bad = PageRequest {
        limit: 2,
        cursor: Some("not-a-seq".into()),
    };
    assert!(matches!(
        store.messages(&tenant, id, &bad).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        store.events(&tenant, id, &bad).await,
        Err(StoreError::InvalidInput(_))
    ));
    let bad = PageRequest {
        limit: 2,
        cursor: Some("no spaces allowed".into()),
    };
    assert!(matches!(
        store
            .conversations(&tenant, &ConversationFilter::default(), &bad)
            .await,
        Err(StoreError::InvalidInput(_))
    ));
}

/// Claim, replay, in-progress, take-over after 60 s, mismatch, release.
async fn idempotency(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let claim =
        |key: &'static str, fp: &'static str, t: i64| s.idempotency_claim("ten_a", key, fp, at(t));
    assert_eq!(
        claim("k1", "fp1", 0).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim("k1", "fp1", 1).await.unwrap(),
        IdempotencyClaim::InProgress
    );
    assert_eq!(
        claim("k1", "fp2", 1).await.unwrap(),
        IdempotencyClaim::Mismatch
    );
    s.idempotency_complete("ten_a", "k1", 201, r#"{"ok":true}"#)
        .await
        .unwrap();
    assert_eq!(
        claim("k1", "fp1", 2).await.unwrap(),
        IdempotencyClaim::Replay {
            status: 201,
            body: r#"{"ok":true}"#.into()
        }
    );
    assert_eq!(
        claim("k1", "fp2", 2).await.unwrap(),
        IdempotencyClaim::Mismatch
    );
    // Completed keys are not released.
    s.idempotency_release("ten_a", "k1").await.unwrap();
    assert!(matches!(
        claim("k1", "fp1", 3).await.unwrap(),
        IdempotencyClaim::Replay { .. }
    ));

    // Scopes are independent.
    assert_eq!(
        s.idempotency_claim("ten_b", "k1", "fp9", at(0))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );

    // A request that died is taken over after 60 s, once.
    assert_eq!(
        claim("k2", "fp1", 0).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim("k2", "fp1", 59_999).await.unwrap(),
        IdempotencyClaim::InProgress
    );
    assert_eq!(
        claim("k2", "fp1", 60_000).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        claim("k2", "fp1", 60_001).await.unwrap(),
        IdempotencyClaim::InProgress
    );

    // A released key can be claimed again.
    assert_eq!(
        claim("k3", "fp1", 0).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    s.idempotency_release("ten_a", "k3").await.unwrap();
    assert_eq!(
        claim("k3", "fp2", 1).await.unwrap(),
        IdempotencyClaim::Claimed
    );
}

/// A keyed request's command marks the key in its own transaction: when the process dies
/// after the commit and before the answer is recorded, a retry (even after the 60 s takeover)
/// is told the command ran, never runs it again; a rolled-back command leaves the key free.
async fn idempotency_commits_with_the_command(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let created = new_tenant(s, "Idem").await;
    let tenant = created.tenant.id.clone();
    let scope = "ten_idem".to_string();
    let claim = |key: &'static str, t: i64| s.idempotency_claim("ten_idem", key, "fp", at(t));
    assert_eq!(claim("crash", 0).await.unwrap(), IdempotencyClaim::Claimed);
    let before = store.kb_articles(&tenant).await.unwrap().len();
    // The request: one command, committed; then the process dies (no complete, no release).
    baton_store::idempotency::scoped(scope.clone(), "crash".into(), async {
        let article = KbArticle {
            id: "idem-article".into(),
            tenant: tenant.clone(),
            title: "Idempotent".into(),
            body: "Body".into(),
            tags: Vec::new(),
            language: "en".into(),
            created_at: at(0),
            updated_at: at(0),
        };
        service::create_kb_article(s, &article, &Actor::System, at(0))
            .await
            .unwrap();
    })
    .await;
    assert_eq!(store.kb_articles(&tenant).await.unwrap().len(), before + 1);
    assert_eq!(
        claim("crash", 1).await.unwrap(),
        IdempotencyClaim::InProgress
    );
    assert_eq!(
        claim("crash", 60_001).await.unwrap(),
        IdempotencyClaim::Committed,
        "a retry after the takeover delay would run the command again"
    );
    // A 5xx after the commit does not free the key either.
    s.idempotency_release("ten_idem", "crash").await.unwrap();
    assert_eq!(
        claim("crash", 60_002).await.unwrap(),
        IdempotencyClaim::Committed
    );
    // The answer, once recorded, is replayed.
    s.idempotency_complete("ten_idem", "crash", 201, "{}")
        .await
        .unwrap();
    assert!(matches!(
        claim("crash", 60_003).await.unwrap(),
        IdempotencyClaim::Replay { status: 201, .. }
    ));

    // A command that rolls back leaves the key as it was: a retry after the delay runs it.
    assert_eq!(claim("rolled", 0).await.unwrap(), IdempotencyClaim::Claimed);
    baton_store::idempotency::scoped(scope, "rolled".into(), async {
        let tx = s.begin().await.unwrap();
        drop(tx);
    })
    .await;
    assert_eq!(
        claim("rolled", 60_001).await.unwrap(),
        IdempotencyClaim::Claimed
    );
}

/// Subscribers get committed events in commit order; a dropped transaction publishes nothing.
async fn live_events(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let tenant = new_tenant(s, "live").await.tenant.id;
    let mut rx = s.subscribe();
    let conv = start(s, &tenant, None).await;
    let started = recv(&mut rx).await;
    assert_eq!(
        (started.kind(), started.conversation.as_ref()),
        ("started", Some(&conv.id))
    );

    // Rolled back: never published.
    let mut tx = s.begin().await.unwrap();
    let ghost = NewEvent {
        tenant: tenant.clone(),
        conversation: None,
        actor: Actor::System,
        body: EventBody::record("ghost", serde_json::json!({})),
        at: at(1),
    };
    tx.append_event(&ghost).await.unwrap();
    drop(tx);

    let out = service::run_command(
        s,
        &tenant,
        &conv.id,
        &handoff(&QueueId::with_suffix("q")),
        &Actor::Customer,
        at(2),
    )
    .await
    .unwrap();
    let mut tx = s.begin().await.unwrap();
    let audit = tx
        .append_event(&NewEvent {
            body: EventBody::record("audit", serde_json::json!({})),
            ..ghost.clone()
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut got = Vec::new();
    for _ in 0..out.events.len() + 1 {
        got.push(recv(&mut rx).await.as_ref().clone());
    }
    let mut expected = out.events.clone();
    expected.push(audit);
    assert_eq!(got, expected);
    assert!(got.iter().all(|e| e.kind() != "ghost"));
    assert!(rx.try_recv().is_err(), "nothing else was published");
    assert_eq!(
        s.events_by_seq(&[expected[0].seq]).await.unwrap(),
        vec![expected[0].clone()]
    );
}

/// Write transactions that queue behind each other (on SQLite, they share one commit): each
/// one that commits is durable and published once its call returns, in commit order; one that
/// ends without committing (dropped after writing) leaves nothing, even in the middle of others.
/// A transaction's writes whose outcome it does not need at once (a conversation's new
/// state, a timer) are sent later on SQLite, with its next read or its release: later reads of
/// the same transaction see them, a write that changes nothing when it must still fails the
/// transaction alone, and transcript rows and events go in together.
async fn deferred_writes(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let tenant = new_tenant(s, "deferred").await.tenant.id;
    let conv = start(s, &tenant, None).await;

    // Read your own deferred writes.
    let mut tx = s.begin().await.unwrap();
    let mut c = tx
        .conversation_for_update(&tenant, &conv.id)
        .await
        .unwrap()
        .unwrap();
    c.priority = baton_core::Priority::MAX;
    c.version += 1;
    tx.save_conversation(&c).await.unwrap();
    tx.set_timer(&tenant, "deferred:job", Some(at(5)))
        .await
        .unwrap();
    let again = tx
        .conversation_for_update(&tenant, &conv.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.priority, again.version),
        (baton_core::Priority::MAX, c.version)
    );
    tx.commit().await.unwrap();
    let stored = s.conversation(&tenant, &conv.id).await.unwrap().unwrap();
    assert_eq!(stored.priority, baton_core::Priority::MAX);
    let due = s.due_timers(at(6), 100).await.unwrap();
    assert!(
        due.contains(&(tenant.clone(), "deferred:job".to_string())),
        "{due:?}"
    );

    // A conversation that is not there: the commit fails, and nothing of the transaction
    // stays (neither what was written before nor after the failing write).
    let mut tx = s.begin().await.unwrap();
    tx.put_setting(&tenant, "before", &serde_json::json!(1), at(7))
        .await
        .unwrap();
    let mut ghost = c.clone();
    ghost.id = ConversationId::with_suffix(&unique());
    match tx.save_conversation(&ghost).await {
        // SQLite: deferred, so the commit fails.
        Ok(()) => {
            assert_eq!(s.backend(), Backend::Sqlite);
            tx.set_timer(&tenant, "deferred:after", Some(at(7)))
                .await
                .unwrap();
            let committed = tx.commit().await;
            assert!(
                matches!(committed, Err(StoreError::NotFound("conversation"))),
                "{committed:?}"
            );
        }
        // PostgreSQL: run at once.
        Err(e) => {
            assert!(matches!(e, StoreError::NotFound("conversation")), "{e:?}");
            drop(tx);
        }
    }
    assert_eq!(s.setting(&tenant, "before").await.unwrap(), None);
    let due = s.due_timers(at(8), 100).await.unwrap();
    assert!(
        !due.iter().any(|(_, kind)| kind == "deferred:after"),
        "{due:?}"
    );
    // The writer goes on.
    let mut tx = s.begin().await.unwrap();
    tx.put_setting(&tenant, "after", &serde_json::json!(2), at(9))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        s.setting(&tenant, "after").await.unwrap(),
        Some(serde_json::json!(2))
    );

    // Messages and their events in one append: each message gets its seq, in order.
    let mut tx = s.begin().await.unwrap();
    let mut messages: Vec<Message> = (0..2)
        .map(|n| Message {
            id: baton_core::MessageId::with_suffix(&unique()),
            tenant: tenant.clone(),
            conversation: conv.id.clone(),
            seq: 0,
            role: MessageRole::Customer,
            text: format!("hello {n}"),
            agent: None,
            external_id: Some(format!("ext-{n}-{}", unique())),
            bot: None,
            attachment: None,
            created_at: at(10),
        })
        .collect();
    let event = NewEvent {
        tenant: tenant.clone(),
        conversation: Some(conv.id.clone()),
        actor: Actor::System,
        body: EventBody::record("note", serde_json::json!({ "n": 1 })),
        at: at(10),
    };
    let stored = tx.append(&mut messages, &[event]).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        messages[0].seq > 0 && messages[1].seq > messages[0].seq,
        "{messages:?}"
    );
    tx.commit().await.unwrap();
    let transcript = s.recent_messages(&tenant, &conv.id, 10).await.unwrap();
    let seqs: Vec<i64> = transcript
        .iter()
        .filter(|m| m.text.starts_with("hello "))
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, vec![messages[0].seq, messages[1].seq]);

    // Appended and committed at once: the same seqs, then durable.
    let mut one = vec![Message {
        id: baton_core::MessageId::with_suffix(&unique()),
        external_id: None,
        text: "hello 2".into(),
        ..messages[0].clone()
    }];
    let note = NewEvent {
        tenant: tenant.clone(),
        conversation: Some(conv.id.clone()),
        actor: Actor::System,
        body: EventBody::record("note", serde_json::json!({ "n": 2 })),
        at: at(11),
    };
    let tx = s.begin().await.unwrap();
    let stored = tx.append_and_commit(&mut one, &[note]).await.unwrap();
    assert!(one[0].seq > messages[1].seq, "{one:?}");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].seq > 0);
    let events = all_events(s, &tenant, &conv.id).await;
    assert_eq!(events.last().map(|e| e.seq), Some(stored[0].seq));
    let transcript = s.recent_messages(&tenant, &conv.id, 10).await.unwrap();
    assert_eq!(transcript.last().map(|m| m.seq), Some(one[0].seq));

    // A reused external id is the conflict it was, and the transaction can end.
    let mut tx = s.begin().await.unwrap();
    let mut again = vec![Message {
        id: baton_core::MessageId::with_suffix(&unique()),
        ..messages[0].clone()
    }];
    let reused = tx.append(&mut again, &[]).await;
    assert!(
        matches!(
            reused,
            Err(StoreError::Conflict {
                code: "external_id_reused",
                ..
            })
        ),
        "{reused:?}"
    );
    drop(tx);
    assert_eq!(
        s.recent_messages(&tenant, &conv.id, 10)
            .await
            .unwrap()
            .len(),
        transcript.len()
    );
}

async fn writes_that_queue_commit_together(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let tenant = new_tenant(s, "batch").await.tenant.id;
    let mut rx = s.subscribe();
    let setting = |n: u32| serde_json::json!({ "n": n });
    let audit = |n: u32| NewEvent {
        tenant: tenant.clone(),
        conversation: None,
        actor: Actor::System,
        body: EventBody::record(format!("audit_{n}"), serde_json::json!({ "n": n })),
        at: at(i64::from(n)),
    };

    // The first holds the writer while the others queue up behind it.
    let mut first = s.begin().await.unwrap();
    first
        .put_setting(&tenant, "k1", &setting(1), at(1))
        .await
        .unwrap();
    first.append_event(&audit(1)).await.unwrap();
    let mut queued = Vec::new();
    for n in 2..=6u32 {
        let store = store.clone();
        let tenant = tenant.clone();
        let event = audit(n);
        queued.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.put_setting(
                &tenant,
                &format!("k{n}"),
                &serde_json::json!({ "n": n }),
                at(2),
            )
            .await
            .unwrap();
            tx.append_event(&event).await.unwrap();
            if n % 2 == 0 {
                drop(tx); // ends without committing
                return;
            }
            tx.commit().await.unwrap();
            // Committed means durable and readable by anyone.
            let got = store.setting(&tenant, &format!("k{n}")).await.unwrap();
            assert_eq!(got, Some(serde_json::json!({ "n": n })));
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.commit().await.unwrap();
    assert_eq!(s.setting(&tenant, "k1").await.unwrap(), Some(setting(1)));
    for task in queued {
        task.await.unwrap();
    }
    for n in [2, 4, 6] {
        assert_eq!(
            s.setting(&tenant, &format!("k{n}")).await.unwrap(),
            None,
            "k{n}"
        );
    }
    // Published: exactly the committed ones, in commit (seq) order.
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(recv(&mut rx).await);
    }
    assert!(rx.try_recv().is_err(), "nothing else was published");
    let mut kinds: Vec<&str> = got.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds[0], "audit_1");
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "commit order");
    kinds.sort_unstable();
    assert_eq!(kinds, ["audit_1", "audit_3", "audit_5"]);
    assert!(
        s.verify_log().await.unwrap().broken.is_none(),
        "hash chain intact"
    );

    // Callers that give up waiting at any point of their commit: the writer carries on, and
    // each write is stored whole or not at all.
    for n in 0..30u64 {
        let mut tx = s.begin().await.unwrap();
        tx.put_setting(&tenant, "gave_up", &serde_json::json!({ "n": n }), at(3))
            .await
            .unwrap();
        tx.put_setting(
            &tenant,
            "gave_up_too",
            &serde_json::json!({ "n": n }),
            at(3),
        )
        .await
        .unwrap();
        let _ = tokio::time::timeout(Duration::from_micros(n * 20), tx.commit()).await;
        let mut tx = s.begin().await.unwrap();
        tx.put_setting(&tenant, "after", &serde_json::json!({ "n": n }), at(4))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            s.setting(&tenant, "after").await.unwrap(),
            Some(serde_json::json!({ "n": n }))
        );
        assert_eq!(
            s.setting(&tenant, "gave_up").await.unwrap(),
            s.setting(&tenant, "gave_up_too").await.unwrap(),
            "all or nothing"
        );
    }

    // Many at once, through the commands: every one answered, stored and published.
    let conversations: Vec<ConversationId> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(start(s, &tenant, None).await.id);
        }
        v
    };
    let mut rx = s.subscribe();
    let mut posts = Vec::new();
    for i in 0..40u32 {
        let store = store.clone();
        let tenant = tenant.clone();
        let id = conversations[i as usize % conversations.len()].clone();
        posts.push(tokio::spawn(async move {
            service::post_message(
                store.as_ref(),
                &tenant,
                &id,
                text(
                    MessageRole::Customer,
                    &format!("message {i}"),
                    Some(&format!("m{i}")),
                ),
                &Actor::Customer,
                at(100 + i64::from(i)),
                None,
            )
            .await
            .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for post in posts {
        let out = post.await.unwrap();
        assert!(!out.duplicate);
        seqs.extend(out.events.iter().map(|e| e.seq));
    }
    let mut published = Vec::new();
    while published.len() < seqs.len() {
        let event = recv(&mut rx).await;
        // On PostgreSQL the starts' own events can still be on their way (NOTIFY).
        if event.kind() != "started" {
            published.push(event);
        }
    }
    // Each conversation's events in order (across conversations, PostgreSQL's sequence
    // numbers need not follow the commit order).
    for id in &conversations {
        let mine: Vec<i64> = published
            .iter()
            .filter(|e| e.conversation.as_ref() == Some(id))
            .map(|e| e.seq)
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "published in commit order"
        );
    }
    let mut published: Vec<i64> = published.iter().map(|e| e.seq).collect();
    published.sort_unstable();
    seqs.sort_unstable();
    assert_eq!(published, seqs);
    let mut stored = 0;
    for id in &conversations {
        stored += s
            .messages(
                &tenant,
                id,
                &PageRequest {
                    limit: 100,
                    cursor: None,
                },
            )
            .await
            .unwrap()
            .items
            .len();
    }
    assert_eq!(stored, 40);
}

/// Named conflicts and bad URLs.
async fn errors_and_conflicts(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let a = new_tenant(s, "conflicts").await;
    let b = new_tenant(s, "others").await;
    let twin = || NewAgent {
        email: format!("  {}  ", a.admin.email.to_uppercase()),
        name: "Twin".into(),
        role: Role::Agent,
        skills: vec![],
        languages: vec![],
        queues: vec![],
        capacity: 1,
    };
    // Emails are unique within a tenant: another tenant may use the same one.
    service::create_agent(s, &b.tenant.id, twin(), "h", &Actor::System, at(0))
        .await
        .expect("another tenant's email is free here");
    assert_eq!(s.agents(&b.tenant.id).await.unwrap().len(), 2);
    let taken = service::create_agent(s, &a.tenant.id, twin(), "h", &Actor::System, at(0)).await;
    assert!(
        matches!(
            taken,
            Err(StoreError::Conflict {
                code: "email_taken",
                ..
            })
        ),
        "email is unique within a tenant: {taken:?}"
    );
    // The failed transaction left nothing behind.
    assert_eq!(s.agents(&a.tenant.id).await.unwrap().len(), 1);
    assert_eq!(
        s.agents_for_login(&a.admin.email).await.unwrap().len(),
        2,
        "both tenants' accounts can log in"
    );

    let conv = start(s, &a.tenant.id, None).await;
    let other = start(s, &a.tenant.id, None).await;
    service::post_message(
        s,
        &a.tenant.id,
        &conv.id,
        text(MessageRole::Customer, "x", Some("ext")),
        &Actor::Customer,
        at(1),
        None,
    )
    .await
    .unwrap();
    let reused = service::post_message(
        s,
        &a.tenant.id,
        &other.id,
        text(MessageRole::Customer, "x", Some("ext")),
        &Actor::Customer,
        at(1),
        None,
    )
    .await;
    assert!(matches!(
        reused,
        Err(StoreError::Conflict {
            code: "external_id_reused",
            ..
        })
    ));

    let mut tx = s.begin().await.unwrap();
    let again = tx.insert_tenant(&a.tenant).await;
    assert!(matches!(
        again,
        Err(StoreError::Conflict {
            code: "tenant_exists",
            ..
        })
    ));
    drop(tx);

    let err = connect("mysql://root:secret@db/baton").await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Config(_)));
    assert!(
        msg.contains("sqlite://") && msg.contains("postgres://"),
        "{msg}"
    );
    assert!(!msg.contains("secret"), "{msg}");
    let err = connect("postgres://baton:hunter2@127.0.0.1:1/baton")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("127.0.0.1:1") && msg.contains("running"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
}

// ---------------------------------------------------------------- PostgreSQL only

/// A server's store opens its whole pool at start and keeps it (`open_whole_pool`); a short-
/// lived command's opens connections only as it needs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_servers_pool_opens_whole() {
    use sqlx::Connection;
    let Some(admin_url) = postgres_admin_url("whole_pool") else {
        return;
    };
    with_postgres_db("whole_pool", |url| async move {
        let db = url
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        let mut backends = async move || -> i64 {
            sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = $1 AND backend_type = 'client backend'",
            )
            .bind(&db)
            .fetch_one(&mut admin)
            .await
            .unwrap()
        };
        let options = |whole| baton_store::ConnectOptions {
            max_connections: 6,
            open_whole_pool: whole,
            ..Default::default()
        };
        let lazy = baton_store::connect_with(&url, options(false))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The pool's first connection and the live listener's.
        let opened_lazily = backends().await;
        assert!(opened_lazily < 6, "{opened_lazily} backends");
        drop(lazy);
        let whole = baton_store::connect_with(&url, options(true))
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = backends().await;
            if n >= 6 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {n} backends 10 s after opening a whole pool of 6"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(whole);
    })
    .await;
}

/// Two instances (two pools) give one agent conversations at once: her capacity holds (3
/// here), whichever instance the claims arrive on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_capacity_holds_across_instances() {
    with_postgres_db("capacity_across_instances", |url| async move {
        let a = pg_store(&url).await;
        let b = pg_store(&url).await;
        let created = new_tenant(a.as_ref(), "cap").await;
        let tenant = created.tenant.id.clone();
        let ann = new_agent(
            a.as_ref(),
            &tenant,
            &format!("ann-{}@cap.example", unique()),
        )
        .await;
        let mut claims = Vec::new();
        for i in 0..8 {
            let conv = start(a.as_ref(), &tenant, None).await;
            service::run_command(
                a.as_ref(),
                &tenant,
                &conv.id,
                &handoff(&QueueId::with_suffix("q")),
                &Actor::Customer,
                at(1),
            )
            .await
            .unwrap();
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (tenant, id, ann) = (tenant.clone(), conv.id.clone(), ann.clone());
            claims.push(tokio::spawn(async move {
                service::run_command(
                    store.as_ref(),
                    &tenant,
                    &id,
                    &Command::Claim,
                    &Actor::Agent { id: ann },
                    at(2),
                )
                .await
            }));
        }
        let mut won = 0;
        for claim in claims {
            match claim.await.unwrap() {
                Ok(_) => won += 1,
                Err(StoreError::Transition(TransitionError::AgentAtCapacity {
                    held,
                    capacity,
                    ..
                })) => assert_eq!((held, capacity), (3, 3)),
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(won, 3, "capacity 3");
    })
    .await;
}

/// Two instances (two pools) claim one queued conversation at once: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_claim_across_instances() {
    with_postgres_db("concurrent_claim_across_instances", |url| async move {
        let a = pg_store(&url).await;
        let b = pg_store(&url).await;
        let created = new_tenant(a.as_ref(), "race").await;
        let tenant = created.tenant.id.clone();
        let ann = new_agent(
            a.as_ref(),
            &tenant,
            &format!("ann-{}@race.example", unique()),
        )
        .await;
        let bob = new_agent(
            a.as_ref(),
            &tenant,
            &format!("bob-{}@race.example", unique()),
        )
        .await;
        for round in 0..5 {
            let conv = start(a.as_ref(), &tenant, None).await;
            service::run_command(
                a.as_ref(),
                &tenant,
                &conv.id,
                &handoff(&QueueId::with_suffix("q")),
                &Actor::Customer,
                at(1),
            )
            .await
            .unwrap();
            let claim = |store: Arc<dyn Store>, agent: AgentId| {
                let (tenant, id) = (tenant.clone(), conv.id.clone());
                tokio::spawn(async move {
                    service::run_command(
                        store.as_ref(),
                        &tenant,
                        &id,
                        &Command::Claim,
                        &Actor::Agent { id: agent },
                        at(2),
                    )
                    .await
                })
            };
            let (ra, rb) = (claim(a.clone(), ann.clone()), claim(b.clone(), bob.clone()));
            let results = [ra.await.unwrap(), rb.await.unwrap()];
            let wins = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(wins, 1, "round {round}: {results:?}");
            for r in &results {
                if let Err(e) = r {
                    assert!(
                        matches!(
                            e,
                            StoreError::Transition(
                                TransitionError::NotAssignee | TransitionError::InvalidState { .. }
                            )
                        ),
                        "{e:?}"
                    );
                }
            }
            let assigned = all_events(b.as_ref(), &tenant, &conv.id)
                .await
                .into_iter()
                .filter(|e| e.kind() == "assigned")
                .count();
            assert_eq!(assigned, 1);
            // Closed again, so capacity (a hard limit) never decides a later round.
            service::run_command(
                a.as_ref(),
                &tenant,
                &conv.id,
                &Command::Close {
                    resolution: None,
                    override_owner: true,
                },
                &Actor::System,
                at(3),
            )
            .await
            .unwrap();
        }
    })
    .await;
}

/// An event committed through instance A reaches subscribers of instance B, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_live_across_instances() {
    with_postgres_db("live_across_instances", |url| async move {
        let a = pg_store(&url).await;
        let b = pg_store(&url).await;
        let mut rx_a = a.subscribe();
        let mut rx_b = b.subscribe();
        let tenant = new_tenant(a.as_ref(), "fanout").await.tenant.id;
        let conv = start(a.as_ref(), &tenant, None).await;
        let on_b = recv(&mut rx_b).await;
        assert_eq!(on_b.kind(), "started");
        assert_eq!(on_b.conversation.as_ref(), Some(&conv.id));
        let on_a = recv(&mut rx_a).await;
        assert_eq!(on_a, on_b);
        // B's own commit comes back to A after it, in commit order, exactly once each.
        let msg = service::post_message(
            b.as_ref(),
            &tenant,
            &conv.id,
            text(MessageRole::Customer, "hi", None),
            &Actor::Customer,
            at(5),
            None,
        )
        .await
        .unwrap();
        assert_eq!(recv(&mut rx_a).await.as_ref(), &msg.events[0]);
        assert_eq!(recv(&mut rx_b).await.as_ref(), &msg.events[0]);
        assert!(rx_a.try_recv().is_err() && rx_b.try_recv().is_err());
    })
    .await;
}

/// Timers: set, replace, clear, claim with a lease; the router's read of open conversations.
async fn timers_and_open_conversations(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let t1 = new_tenant(store, "timers-one").await.tenant.id;
    let t2 = new_tenant(store, "timers-two").await.tenant.id;
    assert_eq!(store.next_timer_due().await.unwrap(), None);
    let mut tx = store.begin().await.unwrap();
    tx.set_timer(&t1, "routing", Some(at(5_000))).await.unwrap();
    tx.set_timer(&t2, "routing", Some(at(9_000))).await.unwrap();
    tx.set_timer(&t1, "routing", Some(at(3_000))).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), Some(at(3_000)));
    assert!(store.due_timers(at(2_999), 10).await.unwrap().is_empty());
    let due = store.due_timers(at(4_000), 10).await.unwrap();
    assert_eq!(due, vec![(t1.clone(), "routing".to_string())]);
    // Claimed: leased, so not due again until the lease ends.
    assert!(store.due_timers(at(4_000), 10).await.unwrap().is_empty());
    assert_eq!(store.next_timer_due().await.unwrap(), Some(at(9_000)));
    assert_eq!(
        store
            .due_timers(at(4_000 + TIMER_LEASE_MS), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let mut tx = store.begin().await.unwrap();
    tx.set_timer(&t1, "routing", None).await.unwrap();
    tx.set_timer(&t2, "routing", None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), None);

    // Open conversations: queued, assigned and deferred; not bot or closed.
    let queue = QueueId::with_suffix("billing");
    let bot = start(store, &t1, None).await;
    let queued = start(store, &t1, None).await;
    service::run_command(
        store,
        &t1,
        &queued.id,
        &handoff(&queue),
        &Actor::Customer,
        at(20),
    )
    .await
    .unwrap();
    let other = start(store, &t2, None).await;
    service::run_command(
        store,
        &t2,
        &other.id,
        &handoff(&queue),
        &Actor::Customer,
        at(20),
    )
    .await
    .unwrap();
    let open: Vec<ConversationId> = store
        .open_conversations(&t1, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(open, vec![queued.id.clone()]);

    // Pages: by id across the states, each page after the last one's final id.
    let mut expected = vec![queued.id.clone()];
    for n in 0..4 {
        let c = start(store, &t1, None).await;
        let mut commands = vec![handoff(&queue)];
        if n % 2 == 1 {
            commands.push(Command::Defer {
                reason: "no_agent_available".into(),
                back_at: None,
            });
        }
        for command in &commands {
            service::run_command(store, &t1, &c.id, command, &Actor::Customer, at(30))
                .await
                .unwrap();
        }
        expected.push(c.id);
    }
    expected.sort();
    let (mut paged, mut after, mut sizes) = (Vec::new(), None, Vec::new());
    loop {
        let page = store
            .open_conversations(&t1, after.as_ref(), 2)
            .await
            .unwrap();
        sizes.push(page.len());
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        paged.extend(page.into_iter().map(|c| (c.id, c.state)));
    }
    assert_eq!(sizes, vec![2, 2, 1, 0]);
    assert_eq!(
        paged.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        expected
    );
    let deferred = paged
        .iter()
        .filter(|(_, state)| *state == ConversationState::Deferred)
        .count();
    assert_eq!(deferred, 2);

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.tenant_agents(&t1).await.unwrap().len(), 1);
    assert!(tx.tenant_queues(&t1).await.unwrap().is_empty());
    drop(tx);

    let _ = (bot, other);
}

/// Eight messages of one new channel customer arriving at once open one conversation (on
/// PostgreSQL the calls run side by side on the pool's connections).
async fn channel_conversations_open_once(store: Arc<dyn Store>) {
    let tenant = new_tenant(store.as_ref(), "channel-once").await.tenant.id;
    let calls = (0..8).map(|_| {
        let store = store.clone();
        let tenant = tenant.clone();
        async move {
            let customer = service::CustomerInput {
                external_id: Some("15550001".into()),
                ..Default::default()
            };
            service::open_channel_conversation(
                store.as_ref(),
                &tenant,
                customer,
                "whatsapp",
                serde_json::Map::new(),
                at(0),
            )
            .await
            .unwrap()
        }
    });
    let opened = futures::future::join_all(calls).await;
    assert_eq!(
        opened.iter().filter(|(_, new)| *new).count(),
        1,
        "{opened:?}"
    );
    assert!(
        opened.iter().all(|(id, _)| *id == opened[0].0),
        "{opened:?}"
    );
    let missing = service::open_channel_conversation(
        store.as_ref(),
        &tenant,
        service::CustomerInput::default(),
        "whatsapp",
        serde_json::Map::new(),
        at(0),
    )
    .await;
    assert!(
        matches!(missing, Err(StoreError::InvalidInput(_))),
        "{missing:?}"
    );
}

/// Routing leases: one holder at a time, renewed by its holder, taken over (new epoch) only
/// once expired; the fence sees the epoch. An agent's load counts what they own and what is
/// offered to them.
async fn routing_leases_and_agent_load(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let t1 = new_tenant(store, "lease-one").await.tenant.id;
    assert!(store.tenant_ids().await.unwrap().contains(&t1));
    assert_eq!(
        store
            .acquire_routing_lease(&t1, "a", at(0), 3_000)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .acquire_routing_lease(&t1, "b", at(1_000), 3_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .acquire_routing_lease(&t1, "a", at(2_000), 3_000)
            .await
            .unwrap(),
        Some(1),
        "the holder renews at the same epoch"
    );
    assert_eq!(
        store
            .acquire_routing_lease(&t1, "b", at(4_999), 3_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .acquire_routing_lease(&t1, "b", at(5_001), 3_000)
            .await
            .unwrap(),
        Some(2),
        "taken over once expired"
    );
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.routing_lease_held(&t1, "a", 1).await.unwrap());
    assert!(tx.routing_lease_held(&t1, "b", 2).await.unwrap());
    drop(tx);
    assert_eq!(
        store
            .acquire_routing_lease(&t1, "a", at(6_000), 3_000)
            .await
            .unwrap(),
        None
    );

    let agent = new_agent(store, &t1, &format!("load-{}@lease.example", unique())).await;
    let queue = QueueId::with_suffix("billing");
    let offered = start(store, &t1, None).await;
    let owned = start(store, &t1, None).await;
    for id in [&offered.id, &owned.id] {
        service::run_command(store, &t1, id, &handoff(&queue), &Actor::Customer, at(10))
            .await
            .unwrap();
        let offer = Command::Offer {
            agent: agent.clone(),
            expires_at: at(60_000),
            explanation: None,
        };
        service::run_command(store, &t1, id, &offer, &Actor::System, at(20))
            .await
            .unwrap();
    }
    service::run_command(
        store,
        &t1,
        &owned.id,
        &Command::Accept,
        &Actor::Agent { id: agent.clone() },
        at(30),
    )
    .await
    .unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.agent_load(&t1, &agent).await.unwrap(), 2);
    drop(tx);
    service::run_command(
        store,
        &t1,
        &owned.id,
        &Command::Close {
            resolution: Some("resolved".into()),
            override_owner: false,
        },
        &Actor::Agent { id: agent.clone() },
        at(40),
    )
    .await
    .unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.agent_load(&t1, &agent).await.unwrap(), 1);
    drop(tx);
    assert!(store.last_event_seq().await.unwrap() > 0);
}

// ---------------------------------------------------------------- visibility

async fn person(
    store: &dyn Store,
    tenant: &TenantId,
    name: &str,
    role: Role,
    queues: &[&QueueId],
) -> AgentId {
    let new = NewAgent {
        email: format!("{name}-{}@vis.example", unique()),
        name: name.into(),
        role,
        skills: vec![],
        languages: vec!["en".into()],
        queues: queues.iter().map(|q| (*q).clone()).collect(),
        capacity: 5,
    };
    service::create_agent(store, tenant, new, "argon2-hash", &Actor::System, at(1))
        .await
        .expect("agent")
        .id
}

async fn simple_queue(store: &dyn Store, tenant: &TenantId, id: &str) -> QueueId {
    let queue = Queue {
        id: QueueId::with_suffix(id),
        tenant: tenant.clone(),
        name: id.into(),
        skills: vec![],
        languages: vec![],
        strategy: "longest_idle".into(),
        offer_timeout_secs: 30,
        settings: serde_json::json!({}),
        created_at: at(2),
    };
    service::save_queue(store, &queue, &Actor::System, at(2))
        .await
        .unwrap();
    queue.id
}

async fn run(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    cmd: Command,
    actor: Actor,
) {
    service::run_command(store, tenant, id, &cmd, &actor, at(100))
        .await
        .unwrap_or_else(|e| panic!("{cmd:?} by {actor:?}: {e}"));
}

fn agent_actor(id: &AgentId) -> Actor {
    Actor::Agent { id: id.clone() }
}

fn close() -> Command {
    Command::Close {
        resolution: None,
        override_owner: true,
    }
}

/// A conversation handed off to `queue` (`None`: the default queue).
async fn waiting(store: &dyn Store, tenant: &TenantId, queue: Option<&QueueId>) -> ConversationId {
    let id = start(store, tenant, None).await.id;
    let cmd = Command::RequestHandoff {
        reason: "customer_request".into(),
        source: HandoffSource::Customer,
        queue: queue.cloned(),
        priority: None,
        note: None,
    };
    run(store, tenant, &id, cmd, Actor::Customer).await;
    id
}

/// The ids `scope` lists (every page), sorted.
async fn listed(
    store: &dyn Store,
    tenant: &TenantId,
    scope: Option<&AgentScope>,
) -> Vec<ConversationId> {
    let filter = ConversationFilter {
        visible_to: scope.cloned(),
        ..Default::default()
    };
    let mut page = PageRequest {
        limit: 2,
        cursor: None,
    };
    let mut out = Vec::new();
    loop {
        let p = store.conversations(tenant, &filter, &page).await.unwrap();
        out.extend(p.items.into_iter().map(|c| c.id));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    out.sort();
    out
}

/// The live streams' rule ([`AgentScope::sees`] on the conversation's sight) decides as the
/// store's visibility filter does.
async fn assert_sight_agrees(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    scope: &AgentScope,
) {
    let filtered = store
        .visible_conversation(tenant, id, scope)
        .await
        .unwrap()
        .is_some();
    let sight = store
        .conversation_sight(tenant, id)
        .await
        .unwrap()
        .expect("the tenant's conversation has a sight");
    assert_eq!(
        scope.sees(&sight),
        filtered,
        "{id} for {:?}: {sight:?}",
        scope.agent
    );
}

/// Agents see what is theirs and their teams'; supervisors see everything; the list and the
/// single read agree.
async fn visibility(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tenant = new_tenant(store, "vis").await.tenant.id;
    let billing = simple_queue(store, &tenant, "billing").await;
    let sales = simple_queue(store, &tenant, "sales").await;
    let ana = person(store, &tenant, "ana", Role::Agent, &[&billing]).await;
    let ben = person(store, &tenant, "ben", Role::Agent, &[&sales]).await;
    // No queue of their own: they work the default queue (the first by id: billing).
    let cid = person(store, &tenant, "cid", Role::Agent, &[]).await;
    let sue = person(store, &tenant, "sue", Role::Supervisor, &[]).await;
    let scope = |id: &AgentId| {
        let (id, tenant) = (id.clone(), tenant.clone());
        async move { service::agent_scope(store, &tenant, &id).await.unwrap() }
    };
    assert_eq!(scope(&sue).await, None, "supervisors see everything");
    let (ana_s, ben_s, cid_s) = (
        scope(&ana).await.unwrap(),
        scope(&ben).await.unwrap(),
        scope(&cid).await.unwrap(),
    );
    assert_eq!(cid_s.queues, vec![billing.clone()]);
    assert!(ana_s.default_queue && cid_s.default_queue && !ben_s.default_queue);

    let in_sales = waiting(store, &tenant, Some(&sales)).await;
    let in_billing = waiting(store, &tenant, Some(&billing)).await;
    let no_queue = waiting(store, &tenant, None).await;
    let with_bot = start(store, &tenant, None).await.id;
    // Offered to ana although it waits in sales.
    let offered = waiting(store, &tenant, Some(&sales)).await;
    let offer = Command::Offer {
        agent: ana.clone(),
        expires_at: at(60_000),
        explanation: None,
    };
    run(store, &tenant, &offered, offer, Actor::System).await;
    // Ben handled it in sales, then closed it.
    let ben_closed = waiting(store, &tenant, Some(&sales)).await;
    run(
        store,
        &tenant,
        &ben_closed,
        Command::Claim,
        agent_actor(&ben),
    )
    .await;
    run(store, &tenant, &ben_closed, close(), agent_actor(&ben)).await;
    // Ben took it in sales and handed it to ana, who closed it.
    let handed = waiting(store, &tenant, Some(&sales)).await;
    run(store, &tenant, &handed, Command::Claim, agent_actor(&ben)).await;
    let transfer = Command::Transfer {
        to_agent: Some(ana.clone()),
        to_queue: None,
        note: "yours".into(),
        expires_at: at(60_000),
        override_owner: false,
    };
    run(store, &tenant, &handed, transfer, agent_actor(&ben)).await;
    run(store, &tenant, &handed, Command::Accept, agent_actor(&ana)).await;
    let before_close = listed(store, &tenant, Some(&ben_s)).await;
    assert!(
        before_close.contains(&handed),
        "assigned in ben's team: he sees it"
    );
    run(store, &tenant, &handed, close(), agent_actor(&ana)).await;

    let expect = |mut ids: Vec<&ConversationId>| {
        ids.sort();
        ids.into_iter().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        listed(store, &tenant, Some(&ana_s)).await,
        expect(vec![&in_billing, &no_queue, &offered, &handed])
    );
    assert_eq!(
        listed(store, &tenant, Some(&ben_s)).await,
        expect(vec![&in_sales, &offered, &ben_closed])
    );
    assert_eq!(
        listed(store, &tenant, Some(&cid_s)).await,
        expect(vec![&in_billing, &no_queue])
    );
    assert_eq!(
        listed(store, &tenant, None).await,
        expect(vec![
            &in_sales,
            &in_billing,
            &no_queue,
            &with_bot,
            &offered,
            &ben_closed,
            &handed
        ])
    );
    // The single read agrees with the list, for every conversation and agent.
    for s in [&ana_s, &ben_s, &cid_s] {
        let seen = listed(store, &tenant, Some(s)).await;
        for id in [
            &in_sales,
            &in_billing,
            &no_queue,
            &with_bot,
            &offered,
            &ben_closed,
            &handed,
        ] {
            let one = store.visible_conversation(&tenant, id, s).await.unwrap();
            assert_eq!(one.is_some(), seen.contains(id), "{id} for {:?}", s.agent);
            assert_sight_agrees(store, &tenant, id, s).await;
        }
    }
    // Filters combine with visibility.
    let filter = ConversationFilter {
        state: Some(ConversationState::Closed),
        visible_to: Some(ana_s.clone()),
        ..Default::default()
    };
    let closed: Vec<_> = store
        .conversations(&tenant, &filter, &PageRequest::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(closed, vec![handed.clone()]);

    // The customer writes again after the close: back to the bot, still ana's to see.
    service::post_message(
        store,
        &tenant,
        &handed,
        text(MessageRole::Customer, "one more thing", None),
        &Actor::Customer,
        at(200),
        None,
    )
    .await
    .unwrap();
    assert!(
        store
            .visible_conversation(&tenant, &handed, &ana_s)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .visible_conversation(&tenant, &handed, &ben_s)
            .await
            .unwrap()
            .is_none()
    );

    // A deleted queue's conversations wait in the default queue.
    service::delete_queue(store, &tenant, &sales, &Actor::System, at(300))
        .await
        .unwrap();
    let cid_now = scope(&cid).await.unwrap();
    assert!(
        store
            .visible_conversation(&tenant, &in_sales, &cid_now)
            .await
            .unwrap()
            .is_some()
    );
    let ben_now = scope(&ben).await.unwrap();
    assert_eq!(
        ben_now.queues,
        vec![billing.clone()],
        "ben's only queue is gone"
    );
    // The live streams' rule agrees with the store's after the queue is gone too.
    let in_sales_sight = store
        .conversation_sight(&tenant, &in_sales)
        .await
        .unwrap()
        .unwrap();
    assert!(!in_sales_sight.queue_exists);
    for s in [&cid_now, &ben_now, &ana_s] {
        for id in [&in_sales, &in_billing, &no_queue, &offered, &handed] {
            assert_sight_agrees(store, &tenant, id, s).await;
        }
    }

    // Another tenant's agent sees nothing here, even with a look-alike scope.
    let other = new_tenant(store, "vis-other").await.tenant.id;
    assert_eq!(
        store.conversation_sight(&other, &in_billing).await.unwrap(),
        None
    );
    assert!(
        store
            .visible_conversation(&other, &in_billing, &ana_s)
            .await
            .unwrap()
            .is_none()
    );
}

/// The widget's conversation and its customer token commit together: when storing the token
/// fails, no conversation, customer or event is left behind.
async fn widget_start_is_atomic(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tenant = new_tenant(store, "atomic").await.tenant.id;
    let customer = || CustomerInput {
        external_id: Some("w-ext".into()),
        name: Some("Wendy".into()),
        ..Default::default()
    };
    let expires = at(1_000_000);
    let ok = service::start_widget_conversation(
        store,
        &tenant,
        customer(),
        serde_json::Map::new(),
        "token-hash-1",
        expires,
        at(10),
    )
    .await
    .unwrap();
    assert_eq!(
        store.customer_token("token-hash-1", at(20)).await.unwrap(),
        Some((tenant.clone(), ok.outcome.conversation.id.clone()))
    );
    let count = || {
        let tenant = tenant.clone();
        async move { listed(store, &tenant, None).await.len() }
    };
    assert_eq!(count().await, 1);
    let mut live = store.subscribe();

    // The same token hash again: the insert fails, so the whole start rolls back.
    let fresh = CustomerInput {
        external_id: Some("w-new".into()),
        ..Default::default()
    };
    let failed = service::start_widget_conversation(
        store,
        &tenant,
        fresh,
        serde_json::Map::new(),
        "token-hash-1",
        expires,
        at(30),
    )
    .await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(count().await, 1, "no conversation without its token");
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.customer_by_external_id(&tenant, "w-new")
            .await
            .unwrap()
            .is_none(),
        "no customer without the conversation"
    );
    drop(tx);
    // A later start that commits is the marker: events reach subscribers in commit order (on
    // PostgreSQL through LISTEN/NOTIFY, possibly late), so everything before the marker's
    // events is all there is to see, and none of it may be the rolled-back start.
    let marker = service::start_widget_conversation(
        store,
        &tenant,
        CustomerInput {
            external_id: Some("w-marker".into()),
            ..Default::default()
        },
        serde_json::Map::new(),
        "token-hash-2",
        expires,
        at(40),
    )
    .await
    .unwrap();
    let marker = marker.outcome.conversation.id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let e = tokio::time::timeout_at(deadline, live.recv())
            .await
            .expect("the marker start is announced within 10 s")
            .expect("no lag");
        if e.conversation.as_ref() == Some(&marker) {
            break;
        }
        assert_eq!(
            e.conversation.as_ref(),
            Some(&ok.outcome.conversation.id),
            "a rolled-back start is never announced: {e:?}"
        );
    }
}

/// The customer's email lands on their profile and in the conversation's log, together.
async fn customer_email(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tenant = new_tenant(store, "email").await.tenant.id;
    let conv = start(store, &tenant, Some("cus-mail")).await;
    let email = baton_core::EmailAddress::parse("ada@example.com").unwrap();
    let (outcome, customer) =
        service::set_customer_email(store, &tenant, &conv.id, &email, &Actor::Customer, at(40))
            .await
            .unwrap();
    assert_eq!(customer.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        customer.name.as_deref(),
        Some("Ada"),
        "the rest of the profile is kept"
    );
    assert_eq!(
        store
            .customer(&tenant, &conv.customer)
            .await
            .unwrap()
            .unwrap()
            .email
            .as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].kind(), "customer_email_set");
    assert_eq!(outcome.events[0].body.to_json()["email"], "ada@example.com");
    assert_eq!(outcome.events[0].actor, Actor::Customer);
    let events = all_events(store, &tenant, &conv.id).await;
    assert_eq!(events.last().unwrap().kind(), "customer_email_set");
    // Unknown conversation: nothing written.
    let missing = ConversationId::with_suffix(&unique());
    assert!(matches!(
        service::set_customer_email(store, &tenant, &missing, &email, &Actor::Customer, at(50))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// A database URL, for looking under the store.
enum RawDb {
    Sqlite(String),
    Postgres(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_backfill_sqlite() {
    let dir = SqliteDir(std::env::temp_dir().join(format!("baton-store-test-{}", unique())));
    let url = format!("sqlite://{}", dir.0.join("baton.db").display());
    let store = connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate");
    visibility_backfill(RawDb::Sqlite(url), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_backfill_postgres() {
    with_postgres_db("visibility_backfill", |url| async move {
        let store = pg_store(&url).await;
        visibility_backfill(RawDb::Postgres(url), store).await;
    })
    .await;
}

/// Migration 0009 fills `offer_agent` and `last_agent` from what was stored before it, the same
/// as the store keeps them: rebuilt from scratch here, the columns come back unchanged.
async fn visibility_backfill(db: RawDb, store: Arc<dyn Store>) {
    let s = store.as_ref();
    let tenant = new_tenant(s, "backfill").await.tenant.id;
    let sales = simple_queue(s, &tenant, "sales").await;
    let ana = person(s, &tenant, "ana", Role::Agent, &[&sales]).await;
    let ben = person(s, &tenant, "ben", Role::Agent, &[&sales]).await;
    let offered = waiting(s, &tenant, Some(&sales)).await;
    let offer = Command::Offer {
        agent: ana.clone(),
        expires_at: at(60_000),
        explanation: None,
    };
    run(s, &tenant, &offered, offer, Actor::System).await;
    let assigned = waiting(s, &tenant, Some(&sales)).await;
    run(s, &tenant, &assigned, Command::Claim, agent_actor(&ben)).await;
    let handed = waiting(s, &tenant, Some(&sales)).await;
    run(s, &tenant, &handed, Command::Claim, agent_actor(&ben)).await;
    let transfer = Command::Transfer {
        to_agent: Some(ana.clone()),
        to_queue: None,
        note: "yours".into(),
        expires_at: at(60_000),
        override_owner: false,
    };
    run(s, &tenant, &handed, transfer, agent_actor(&ben)).await;
    run(s, &tenant, &handed, Command::Accept, agent_actor(&ana)).await;
    run(s, &tenant, &handed, close(), agent_actor(&ana)).await;
    let with_bot = start(s, &tenant, None).await.id;

    let columns = columns_of(&db).await;
    let row = |id: &ConversationId| {
        columns
            .iter()
            .find(|r| r.0 == id.as_str())
            .cloned()
            .unwrap()
    };
    assert_eq!(
        row(&offered),
        (offered.to_string(), Some(ana.to_string()), None)
    );
    assert_eq!(
        row(&assigned),
        (assigned.to_string(), None, Some(ben.to_string()))
    );
    assert_eq!(
        row(&handed),
        (handed.to_string(), None, Some(ana.to_string()))
    );
    assert_eq!(row(&with_bot), (with_bot.to_string(), None, None));

    // Undo 0009 and run it again over the same data.
    let backend = match s.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let migration = std::fs::read_to_string(format!(
        "{}/../baton-store/migrations/{backend}/0009_visibility.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let undo = "DROP INDEX conversations_tenant_offer_agent; \
                DROP INDEX conversations_tenant_last_agent; \
                ALTER TABLE conversations DROP COLUMN offer_agent; \
                ALTER TABLE conversations DROP COLUMN last_agent;";
    raw_sql(&db, undo).await;
    raw_sql(&db, &migration).await;
    assert_eq!(columns_of(&db).await, columns);
}

/// (id, offer_agent, last_agent) of every conversation, by id.
async fn columns_of(db: &RawDb) -> Vec<(String, Option<String>, Option<String>)> {
    let sql = "SELECT id, offer_agent, last_agent FROM conversations ORDER BY id";
    match db {
        RawDb::Sqlite(url) => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
        }
        RawDb::Postgres(url) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut c).await.unwrap()
        }
    }
}

async fn raw_sql(db: &RawDb, sql: &str) {
    match db {
        RawDb::Sqlite(url) => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
        RawDb::Postgres(url) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

/// The queue gauges of `/metrics`: per tenant and queue, how many wait and since when the one
/// waiting longest entered the queue; offers pending across tenants. They follow every write
/// of a conversation (its columns, not its document, are aggregated).
async fn queue_gauges(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tenant = new_tenant(store, "gauges").await.tenant.id;
    let agent = new_agent(store, &tenant, &format!("g-{}@gauges.example", unique())).await;
    let queue = QueueId::with_suffix("billing");
    let mut waiting = Vec::new();
    for (i, when) in [100, 200, 300].into_iter().enumerate() {
        let conv = start(store, &tenant, Some(&format!("g-{i}"))).await;
        service::run_command(
            store,
            &tenant,
            &conv.id,
            &handoff(&queue),
            &Actor::Customer,
            at(when),
        )
        .await
        .unwrap();
        waiting.push(conv.id);
    }
    let unqueued = start(store, &tenant, Some("g-none")).await;
    service::run_command(
        store,
        &tenant,
        &unqueued.id,
        &Command::RequestHandoff {
            reason: "customer_request".into(),
            source: HandoffSource::Customer,
            queue: None,
            priority: None,
            note: None,
        },
        &Actor::Customer,
        at(400),
    )
    .await
    .unwrap();
    let offer = Command::Offer {
        agent: agent.clone(),
        expires_at: at(60_000),
        explanation: None,
    };
    service::run_command(store, &tenant, &waiting[2], &offer, &Actor::System, at(500))
        .await
        .unwrap();
    let gauge = |queue: &str, depth: i64, oldest: i64| baton_store::reports::QueueGauge {
        tenant: tenant.to_string(),
        queue: queue.to_string(),
        depth,
        oldest: Some(at(oldest)),
    };
    let gauges = store.gauges().await.unwrap();
    assert_eq!(
        gauges.queues,
        vec![gauge("", 1, 400), gauge(queue.as_str(), 3, 100)]
    );
    assert_eq!(gauges.offers_pending, 1);

    // The longest-waiting one is taken: the next one is the oldest; the offer is accepted.
    service::run_command(
        store,
        &tenant,
        &waiting[0],
        &Command::Claim,
        &Actor::Agent { id: agent.clone() },
        at(600),
    )
    .await
    .unwrap();
    service::run_command(
        store,
        &tenant,
        &waiting[2],
        &Command::Accept,
        &Actor::Agent { id: agent.clone() },
        at(700),
    )
    .await
    .unwrap();
    let gauges = store.gauges().await.unwrap();
    assert_eq!(
        gauges.queues,
        vec![gauge("", 1, 400), gauge(queue.as_str(), 1, 200)]
    );
    assert_eq!(gauges.offers_pending, 0);
}

/// The read a message starts from: the conversation and its customer, equal to the separate
/// reads, and the message that already carries an external id.
async fn conversation_read(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tenant = new_tenant(store, "joined").await.tenant.id;
    let conv = start(store, &tenant, Some("joined-1")).await;
    let read = store
        .conversation_read(&tenant, &conv.id, Some("ext-1"), 0)
        .await
        .unwrap()
        .expect("the conversation");
    assert_eq!(
        read.conversation,
        store
            .conversation(&tenant, &conv.id)
            .await
            .unwrap()
            .unwrap()
    );
    assert_eq!(read.existing, None);
    let customer = read.customer.expect("its customer");
    assert_eq!(customer.external_id.as_deref(), Some("joined-1"));
    assert_eq!(
        Some(customer),
        store.customer(&tenant, &conv.customer).await.unwrap()
    );
    let first = say(store, &tenant, &conv.id, "hello", Some("ext-1"), 1).await;
    say(store, &tenant, &conv.id, "again", None, 2).await;
    say(store, &tenant, &conv.id, "and again", None, 3).await;
    // With the transcript's end, as `recent_messages` reads it.
    for history in [0, 2, 30] {
        let read = store
            .conversation_read(&tenant, &conv.id, Some("ext-1"), history)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.existing.map(|m| m.id), Some(first.message.id.clone()));
        let recent = match history {
            0 => Vec::new(),
            n => store.recent_messages(&tenant, &conv.id, n).await.unwrap(),
        };
        assert_eq!(read.recent, recent, "{history}");
        assert_eq!(read.recent.len(), (history as usize).min(3), "{history}");
    }
    // Another tenant's conversation is not found.
    let other = new_tenant(store, "joined-other").await.tenant.id;
    assert!(
        store
            .conversation_read(&other, &conv.id, None, 0)
            .await
            .unwrap()
            .is_none()
    );
}

/// Many messages at once, several to each conversation: on SQLite they are sent whole
/// together, and those whose read went stale (another message of the same conversation went
/// first) fail alone, roll back to their savepoints and go again through the locked read.
/// Every message is stored once, every answer is its own, and the hash chains hold.
async fn messages_sent_together(store: Arc<dyn Store>) {
    let tenant = new_tenant(store.as_ref(), "together").await.tenant.id;
    let mut conversations = Vec::new();
    for _ in 0..3 {
        conversations.push(start(store.as_ref(), &tenant, None).await.id);
    }
    let mut posts = Vec::new();
    for n in 0..30i64 {
        let store = store.clone();
        let tenant = tenant.clone();
        let id = conversations[(n % 3) as usize].clone();
        posts.push(tokio::spawn(async move {
            let text = format!("message {n}");
            let outcome = say(
                store.as_ref(),
                &tenant,
                &id,
                &text,
                Some(&format!("ext-{n}")),
                10 + n,
            )
            .await;
            (id, text, outcome)
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for post in posts {
        let (id, text, outcome) = post.await.unwrap();
        assert!(!outcome.duplicate);
        assert_eq!(
            (&outcome.message.conversation, &outcome.message.text),
            (&id, &text)
        );
        assert!(ids.insert(outcome.message.id.clone()));
    }
    let s = store.as_ref();
    let mut stored = 0;
    for id in &conversations {
        let transcript = s.recent_messages(&tenant, id, 100).await.unwrap();
        assert_eq!(transcript.len(), 10);
        assert!(transcript.iter().all(|m| ids.contains(&m.id)));
        // The projection counted every message once.
        let conv = s.conversation(&tenant, id).await.unwrap().unwrap();
        assert_eq!(all_events(s, &tenant, id).await.len() as u32, conv.version);
        stored += transcript.len();
    }
    assert_eq!(stored, 30);
    let report = s.verify_log().await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");
}

/// A customer message through the engine, at `at(offset)`.
async fn say(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    text: &str,
    external_id: Option<&str>,
    offset: i64,
) -> service::MessageOutcome {
    service::post_message(
        store,
        tenant,
        id,
        NewMessage {
            role: MessageRole::Customer,
            text: text.into(),
            external_id: external_id.map(str::to_string),
            bot: None,
        },
        &Actor::Customer,
        at(offset),
        None,
    )
    .await
    .expect("message")
}

/// A transaction that takes a read made outside it ([`Tx::adopt`]) commits only if nothing of
/// what was read changed meanwhile; else it fails as stale, having written nothing. Through the
/// engine, a message whose read went stale goes again through the locked read.
async fn adopted_reads(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let tenant = new_tenant(s, "adopted").await.tenant.id;
    let conv = start(s, &tenant, None).await;
    // A change to the conversation, appended and saved in `tx` as read.
    async fn write(
        tx: &mut dyn Tx,
        read: &ConversationRead,
        text: &str,
        offset: i64,
    ) -> StoreResult<()> {
        let mut c = read.conversation.clone();
        let events = conversation::execute(
            &mut c,
            &Command::AddMessage(conversation::MessageRecord {
                id: baton_core::MessageId::with_suffix(&unique()),
                role: MessageRole::Customer,
                text: text.into(),
                agent: None,
                external_id: None,
                bot: None,
                attachment: None,
            }),
            &Actor::Customer,
            at(offset),
        )
        .unwrap();
        let events: Vec<_> = events
            .iter()
            .map(|e| NewEvent::conversation(&c.tenant, &c.id, e, &Actor::Customer, at(offset)))
            .collect();
        tx.append_events(&events).await?;
        tx.save_conversation(&c).await
    }
    let read = || async {
        s.conversation_read(&tenant, &conv.id, None, 0)
            .await
            .unwrap()
            .unwrap()
    };

    // Unchanged: the adopted read commits.
    let first = read().await;
    let mut tx = s.begin().await.unwrap();
    assert!(tx.adopt(&first).await.unwrap());
    write(tx.as_mut(), &first, "one", 1).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        s.conversation(&tenant, &conv.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        first.conversation.version + 1
    );

    // Each thing the guard watches, changed after the read: the commit fails as stale and
    // nothing of the transaction stays.
    for change in ["conversation", "tier", "subscription"] {
        let seen = read().await;
        let mut tx = s.begin().await.unwrap();
        match change {
            "conversation" => write(tx.as_mut(), &seen, "moved on", 2).await.unwrap(),
            "tier" => {
                let mut customer = seen.customer.clone().unwrap();
                customer.tier = Some(format!("gold-{}", unique()));
                tx.upsert_customer(&customer).await.unwrap();
            }
            _ => tx
                .put_subscription(&Subscription {
                    id: format!("sub-{}", unique()),
                    tenant: tenant.clone(),
                    kind: SubscriptionKind::Webhook,
                    events: vec!["started".into()],
                    channel: None,
                    config: serde_json::json!({}),
                    enabled: true,
                    created_at: at(0),
                })
                .await
                .unwrap(),
        }
        tx.commit().await.unwrap();
        let before = (
            s.conversation(&tenant, &conv.id).await.unwrap(),
            all_events(s, &tenant, &conv.id).await.len(),
        );
        let mut tx = s.begin().await.unwrap();
        assert!(tx.adopt(&seen).await.unwrap());
        // The guard goes with the transaction's first statement: whichever step sends it fails.
        let written = async {
            tx.put_setting(&tenant, "stale", &serde_json::json!(1), at(3))
                .await?;
            write(tx.as_mut(), &seen, "late", 3).await
        }
        .await;
        let committed = match written {
            Ok(()) => tx.commit().await,
            Err(e) => Err(e),
        };
        assert!(
            matches!(committed, Err(StoreError::Stale("conversation"))),
            "{change}: {committed:?}"
        );
        assert_eq!(s.setting(&tenant, "stale").await.unwrap(), None, "{change}");
        let after = (
            s.conversation(&tenant, &conv.id).await.unwrap(),
            all_events(s, &tenant, &conv.id).await.len(),
        );
        assert_eq!(after, before, "{change}");
    }

    // Adopted but not written back: the check still runs before the commit.
    let seen = read().await;
    let mut tx = s.begin().await.unwrap();
    write(tx.as_mut(), &seen, "moved on again", 4)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.begin().await.unwrap();
    assert!(tx.adopt(&seen).await.unwrap());
    let committed = match tx
        .put_setting(&tenant, "unsaved", &serde_json::json!(1), at(4))
        .await
    {
        Ok(()) => tx.commit().await,
        Err(e) => {
            drop(tx); // it holds SQLite's writer until it ends
            Err(e)
        }
    };
    assert!(
        matches!(committed, Err(StoreError::Stale("conversation"))),
        "{committed:?}"
    );
    assert_eq!(s.setting(&tenant, "unsaved").await.unwrap(), None);
    let seen = read().await;
    let mut tx = s.begin().await.unwrap();
    assert!(tx.adopt(&seen).await.unwrap());
    tx.put_setting(&tenant, "unsaved", &serde_json::json!(2), at(4))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        s.setting(&tenant, "unsaved").await.unwrap(),
        Some(serde_json::json!(2))
    );

    // Through the engine: two messages read together, each written once.
    let (a, b) = tokio::join!(
        say(s, &tenant, &conv.id, "first of two", None, 5),
        say(s, &tenant, &conv.id, "second of two", None, 5),
    );
    let stored = s.recent_messages(&tenant, &conv.id, 100).await.unwrap();
    for outcome in [a, b] {
        assert_eq!(
            stored.iter().filter(|m| m.id == outcome.message.id).count(),
            1
        );
    }
}
