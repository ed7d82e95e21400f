//! SQL implementation of the store, for SQLite and PostgreSQL.
//!
//! Every query is written once, with `$n` placeholders (sqlx-sqlite binds `$NNN` by number, like
//! PostgreSQL), inside the `sql_backend!` macro, which is instantiated for `SqlStore<Sqlite>` and
//! `SqlStore<Postgres>`. What really differs between the two databases (how a write transaction
//! starts, row locks, the tenant lock, live fan-out) lives in the small [`Dialect`] trait.

#[macro_use]
mod rows;
#[macro_use]
mod log;
mod attachments;
mod maintenance;
#[macro_use]
mod outbox;
#[macro_use]
mod reports;
mod statement;
mod writer;

use self::log::{HashedRow, TxFacts, replay};
use self::outbox::{DeliveryRow, SubscriptionRow};
use self::rows::*;
use self::statement::{Stmt, Value, renumber};
use crate::live::LiveHub;
use crate::model::*;
use crate::outbox::*;
use crate::reports::*;
use crate::{Store, StoreError, StoreResult, Tx};
use async_trait::async_trait;
use baton_core::analytics::{Facts, FactsRow};
use baton_core::{
    AgentId, ApiKeyId, Conversation, ConversationId, ConversationState, CustomerId, MessageId,
    QueueId, TenantId, Timestamp,
};
use futures::TryStreamExt as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{
    PgArguments, PgConnectOptions, PgConnection, PgListener, PgPoolOptions, PgRow,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{
    Arguments as _, AssertSqlSafe, ConnectOptions as _, Connection as _, Database, Executor as _,
    FromRow as _, Pool, Postgres, Row as _, Sqlite, Transaction,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL channel that carries committed events between instances: a notification is
/// either the events themselves (a JSON array) or, for events too big for a payload, their
/// seqs (`12,13`), which the listeners fetch.
const EVENTS_CHANNEL: &str = "baton_events";
/// Longest NOTIFY payload we send (PostgreSQL's limit is just under 8000 bytes).
const NOTIFY_BYTES: usize = 7_800;
/// Seqs per `IN (...)` list when fetching events by seq.
const SEQS_PER_QUERY: usize = 500;
/// Notified seqs fetched together at most, when notifications queue up.
const FAN_OUT_BATCH: usize = 2_000;
/// Events older than this when published are reported (debug) as late.
const LATE_PUBLICATION_MS: i64 = 50;
/// An unfinished idempotent request older than this is presumed dead and may be taken over.
const IDEMPOTENCY_TAKEOVER_MS: i64 = 60_000;
/// Largest page a caller may ask for.
const MAX_PAGE: u32 = 500;

/// Connection settings beyond the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Size of the connection pool.
    pub max_connections: u32,
    /// SQLite: create the database file (and its folder) when missing.
    pub create_if_missing: bool,
    /// PostgreSQL: open the whole pool at once and keep it open, so the first burst of load
    /// does not wait for new connections (and their backends' first reads of the catalog).
    /// A server wants this; a short-lived command or a test does not.
    pub open_whole_pool: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 8,
            create_if_missing: true,
            open_whole_pool: false,
        }
    }
}

/// Opens a store with default options: `sqlite://PATH` or `postgres://...`.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, ConnectOptions::default()).await
}

/// Opens a store: `sqlite://PATH` (file created when missing) or
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (also `postgresql://`).
/// Does not migrate; call [`Store::migrate`].
pub async fn connect_with(url: &str, opts: ConnectOptions) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(connect_sqlite(url, &opts).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(connect_postgres(url, &opts).await?))
    } else {
        // Only the scheme is echoed: the rest may hold a password.
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("(none)");
        Err(StoreError::Config(format!(
            "unsupported database URL scheme '{scheme}': use sqlite://PATH (e.g. \
             sqlite://data/baton.db) or postgres://USER:PASSWORD@HOST:PORT/DATABASE \
             (postgresql:// works too)"
        )))
    }
}

async fn connect_sqlite(url: &str, opts: &ConnectOptions) -> StoreResult<SqlStore<Sqlite>> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Config(
            "in-memory SQLite is not supported: use sqlite://PATH with a file path".into(),
        ));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
        .create_if_missing(opts.create_if_missing)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: an acknowledged commit survives kill -9 and power loss, also in WAL mode.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // Readers keep 1 MiB of pages each (SQLite's default is 2 MB): they read what the
        // operating system's cache holds anyway, and the pool's eight full caches add up on a
        // large database (BENCHMARKS.md, session 18). The writer keeps the default
        // (`writer::SETUP`).
        .pragma("cache_size", "-1024");
    let path = options.get_filename().to_path_buf();
    if opts.create_if_missing
        && let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            StoreError::Config(format!(
                "cannot create folder {} for SQLite: {e}",
                parent.display()
            ))
        })?;
    }
    // Switching a new file to WAL takes a lock that SQLite's busy handler does not wait for:
    // processes opening a new file at once (first runs, `baton migrate` beside a starting
    // server) can see "database is locked" here, so try again a few times.
    let mut attempt = 0;
    let pool = loop {
        let opened = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await;
        match opened {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("5") && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            other => break other,
        }
    }
    .map_err(|e| {
        StoreError::Config(format!(
            "cannot open SQLite database {}: {e}",
            path.display()
        ))
    })?;
    let shared = Arc::new(Shared::default());
    let committer = tokio::spawn(shared.writer.clone().run_committer(shared.hub.clone()));
    Ok(SqlStore {
        pool,
        shared,
        _task: Some(AbortOnDrop(committer)),
    })
}

async fn connect_postgres(url: &str, opts: &ConnectOptions) -> StoreResult<SqlStore<Postgres>> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
    let unreachable = |e: sqlx::Error| {
        StoreError::Config(format!(
            "cannot connect to PostgreSQL at {}:{} (database '{}'): {e}; check that PostgreSQL \
             is running and reachable there, and that the database and user exist",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default)"),
        ))
    };
    // One direct attempt first: the pool would retry a refused connection until its acquire
    // timeout and then report only the timeout.
    let probe = tokio::time::timeout(Duration::from_secs(10), options.connect())
        .await
        .map_err(|_| {
            unreachable(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer within 10 s",
            )))
        })?
        .map_err(unreachable)?;
    probe.close().await.ok();
    let size = opts.max_connections.max(1);
    let pool = PgPoolOptions::new()
        .max_connections(size)
        .min_connections(if opts.open_whole_pool { size } else { 0 })
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone())
        .await
        .map_err(unreachable)?;
    let shared = Arc::new(Shared::default());
    // The listener gets its own one-connection pool so it never starves the main one. It is
    // listening before `connect` returns, so no event committed afterwards is missed.
    let listen_pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options.clone());
    let listener = pg_listener(&listen_pool).await.map_err(unreachable)?;
    // Notified events are fetched on a connection of their own too: behind a busy main pool,
    // every live push (and every routing wake-up) would wait for a free connection.
    let fetch_pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with(options.clone());
    let task = tokio::spawn(pg_fan_out(
        fetch_pool,
        listen_pool,
        listener,
        shared.hub.clone(),
    ));
    Ok(SqlStore {
        pool,
        shared,
        _task: Some(AbortOnDrop(task)),
    })
}

async fn pg_listener(pool: &Pool<Postgres>) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(EVENTS_CHANNEL).await?;
    Ok(listener)
}

/// The notifications that carry `events`, in order: runs of events that fit in a payload as
/// JSON arrays, the others by seq.
fn notify_payloads(events: &[StoredEvent]) -> StoreResult<Vec<String>> {
    let mut payloads = Vec::new();
    let mut run = String::new();
    let mut seqs = String::new();
    let flush = |buf: &mut String, payloads: &mut Vec<String>, close: &str| {
        if !buf.is_empty() {
            buf.push_str(close);
            payloads.push(std::mem::take(buf));
        }
    };
    for event in events {
        let json = serde_json::to_string(event)?;
        if json.len() + 2 > NOTIFY_BYTES {
            flush(&mut run, &mut payloads, "]");
            if seqs.len() + 21 > NOTIFY_BYTES {
                flush(&mut seqs, &mut payloads, "");
            }
            if !seqs.is_empty() {
                seqs.push(',');
            }
            seqs.push_str(&event.seq.to_string());
            continue;
        }
        flush(&mut seqs, &mut payloads, "");
        if run.len() + json.len() + 2 > NOTIFY_BYTES {
            flush(&mut run, &mut payloads, "]");
        }
        run.push(if run.is_empty() { '[' } else { ',' });
        run.push_str(&json);
    }
    flush(&mut run, &mut payloads, "]");
    flush(&mut seqs, &mut payloads, "");
    Ok(payloads)
}

/// What one notification carried: events, or seqs to fetch.
enum Notified {
    Events(Vec<StoredEvent>),
    Seqs(Vec<i64>),
}

impl Notified {
    fn parse(payload: &str) -> Notified {
        if payload.starts_with('[') {
            match serde_json::from_str(payload) {
                Ok(events) => return Notified::Events(events),
                Err(e) => tracing::error!(error = %e, "unreadable event notification; skipped"),
            }
            return Notified::Events(Vec::new());
        }
        Notified::Seqs(
            payload
                .split(',')
                .filter_map(|s| s.parse::<i64>().ok())
                .collect(),
        )
    }
}

/// Turns `baton_events` notifications (committed events, in commit order) into hub
/// publications. This is also how an instance sees its own events, so each arrives exactly once.
async fn pg_fan_out(
    pool: Pool<Postgres>,
    listen_pool: Pool<Postgres>,
    mut listener: PgListener,
    hub: LiveHub,
) {
    const MIN_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(5);
    let mut backoff = MIN_BACKOFF;
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                backoff = MIN_BACKOFF;
                // Everything already notified is handled together, and what must be fetched is
                // fetched in one round trip: one query per commit would fall behind a busy
                // database, and live pushes (and the routers fed by them) with it.
                let mut notified = Vec::new();
                let mut count = 0;
                let mut next = Some(notification);
                while let Some(notification) = next {
                    let item = Notified::parse(notification.payload());
                    count += match &item {
                        Notified::Events(e) => e.len(),
                        Notified::Seqs(s) => s.len(),
                    };
                    notified.push(item);
                    next = if count < FAN_OUT_BATCH {
                        listener.next_buffered()
                    } else {
                        None
                    };
                }
                let seqs: Vec<i64> = notified
                    .iter()
                    .filter_map(|n| match n {
                        Notified::Seqs(s) => Some(s.iter().copied()),
                        Notified::Events(_) => None,
                    })
                    .flatten()
                    .collect();
                let mut fetched: HashMap<i64, StoredEvent> = HashMap::new();
                if !seqs.is_empty() {
                    match fetch_events_by_seq_pg(&pool, &seqs).await {
                        Ok(events) => fetched = events.into_iter().map(|e| (e.seq, e)).collect(),
                        Err(e) => tracing::error!(
                            error = %e,
                            count = seqs.len(),
                            "could not load notified events; they are not pushed live"
                        ),
                    }
                }
                // Published in commit order, which is the notification order.
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let now = Timestamp::from_millis(now);
                let mut oldest = 0;
                for item in notified {
                    let events: Vec<StoredEvent> = match item {
                        Notified::Events(events) => events,
                        Notified::Seqs(seqs) => {
                            seqs.iter().filter_map(|s| fetched.remove(s)).collect()
                        }
                    };
                    if let Some(first) = events.first() {
                        oldest = oldest.max(now.millis_since(first.at));
                    }
                    hub.publish(events);
                }
                // How far behind the live stream runs: an event's age when it is published
                // (from its command's clock, so a long transaction counts too).
                if oldest >= LATE_PUBLICATION_MS {
                    tracing::debug!(
                        events = count,
                        oldest_ms = oldest,
                        fetched = seqs.len(),
                        "late live events"
                    );
                }
            }
            Ok(None) => tracing::warn!(
                "live event listener lost its PostgreSQL connection; reconnecting (events \
                 committed meanwhile are not pushed live)"
            ),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "live event listener failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                match pg_listener(&listen_pool).await {
                    Ok(fresh) => {
                        tracing::info!("live event listener reconnected");
                        listener = fresh;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "live event listener cannot reconnect yet")
                    }
                }
            }
        }
    }
}

/// Aborts the background task when the store goes away.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a store shares with its transactions.
#[derive(Debug, Default)]
struct Shared {
    hub: LiveHub,
    /// SQLite's one writer (group commit); unused on PostgreSQL, whose writers run side by side.
    writer: Arc<writer::Writer>,
}

impl<DB: Dialect> SqlStore<DB> {
    /// A write transaction, once it is this writer's turn, whose connection is used directly
    /// (it defers nothing).
    async fn begin_turn(&self) -> StoreResult<DB::Handle> {
        DB::begin_write(&self.pool, &self.shared, true).await
    }

    /// Commits a write that publishes no event.
    async fn finish(&self, tx: DB::Handle) -> StoreResult<()> {
        DB::commit(tx, Vec::new(), &self.shared).await
    }
}

/// A store on one database pool.
#[derive(Debug)]
struct SqlStore<DB: Database> {
    pool: Pool<DB>,
    shared: Arc<Shared>,
    /// The background task: PostgreSQL's NOTIFY listener, or SQLite's committer.
    _task: Option<AbortOnDrop>,
}

/// One write transaction and the events it appended (published once committed).
struct SqlTx<DB: Dialect> {
    tx: DB::Handle,
    events: Vec<StoredEvent>,
    shared: Arc<Shared>,
    /// The hash of the last event of each chain (tenant, conversation) touched so far (`None`:
    /// the chain has no event yet).
    heads: HashMap<(String, Option<String>), Option<String>>,
    /// The enabled subscriptions of each tenant written to so far: (id, events, channel).
    subscriptions: HashMap<String, Vec<(String, String, Option<String>)>>,
    /// Analytics facts of the conversations touched so far, by conversation id.
    facts: HashMap<String, TxFacts>,
    /// A conversation adopted on PostgreSQL ([`Adopt::InUpdate`]) whose check has not run
    /// yet: its tenant, its id and the check's values ([`ADOPTED`]).
    adopted: Option<(String, String, Vec<Value>)>,
}

impl<DB: Dialect> SqlTx<DB> {
    fn new(tx: DB::Handle, shared: Arc<Shared>) -> Self {
        SqlTx {
            tx,
            events: Vec::new(),
            shared,
            heads: HashMap::new(),
            subscriptions: HashMap::new(),
            facts: HashMap::new(),
            adopted: None,
        }
    }
}

/// How a transaction makes a read made outside it its own ([`Tx::adopt`]).
#[derive(Debug, Clone, Copy)]
enum Adopt {
    /// A deferred statement that changes a row only if the conversation is still as read (its
    /// values: tenant, id, the row's data, the chain's head, the facts, the customer's tier,
    /// whether the tenant has subscriptions); it goes first with the transaction's writes, and
    /// fails the transaction before its release.
    Guard(&'static str),
    /// The conversation's update checks [`ADOPTED`] (and takes the row's lock), so the check
    /// costs no statement of its own; a transaction that commits without updating the
    /// conversation checks it, locking the row, before its commit.
    InUpdate,
}

/// A conversation is as a transaction read it outside itself (PostgreSQL's form, in a
/// statement on `conversations`): its row (`$1`, the whole JSON), its customer's tier (`$2`)
/// and whether its tenant has subscriptions (`$3`, 0 or 1).
///
/// The row's JSON holds the conversation's version, which moves with every event of its chain
/// (`conversation::apply`) and with an erasure; so an unchanged row means an unchanged chain
/// head and unchanged facts, which are not compared: the transaction may have appended to them
/// itself before this runs (a statement sees its own transaction's writes). Under read
/// committed, an update that waited for the row's lock checks the row as the transaction it
/// waited for committed it, so a concurrent append cannot go unseen.
const ADOPTED: &str = "conversations.data = $1 \
     AND (SELECT cu.tier FROM customers cu WHERE cu.id = conversations.customer_id) \
     IS NOT DISTINCT FROM $2 \
     AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.tenant = conversations.tenant \
     AND s.enabled = 1) = ($3 <> 0)";

/// A conversation's projection written back (`$1` tenant, `$2` id, `$3`..`$11` the columns).
const UPDATE_CONVERSATION: &str = "UPDATE conversations SET state = $3, queue = $4, \
     assignee = $5, priority = $6, version = $7, updated_at = $8, data = $9, offer_agent = $10, \
     last_agent = COALESCE($5, last_agent), waiting_since = $11 \
     WHERE tenant = $1 AND id = $2";

/// What differs between the two databases.
trait Dialect: Database {
    /// A write transaction's connection.
    type Handle: std::ops::DerefMut<Target = Self::Connection> + Send;
    /// Starts a write transaction (on SQLite, once it is this writer's turn). Unless `eager`,
    /// SQLite sends its savepoint with its first statement: then the connection is reached
    /// through [`Dialect::conn`].
    async fn begin_write(
        pool: &Pool<Self>,
        shared: &Shared,
        eager: bool,
    ) -> StoreResult<Self::Handle>;
    /// A write transaction's connection, once the writes it deferred are sent.
    async fn conn(tx: &mut Self::Handle) -> StoreResult<&mut Self::Connection>;
    /// A write whose outcome the transaction needs only by its commit: SQLite sends it with
    /// the transaction's next statement (see [`statement`]); PostgreSQL runs it now.
    async fn defer(tx: &mut Self::Handle, stmt: Stmt) -> StoreResult<()>;
    /// Runs `stmts` in order after the deferred writes; the rows each returned.
    async fn run(tx: &mut Self::Handle, stmts: Vec<Stmt>) -> StoreResult<Vec<Vec<Self::Row>>>;
    /// Runs `last` after the deferred writes and commits, on SQLite in one round trip with the
    /// release; `publish` makes the events to publish, once durable, from the rows each of
    /// `last` returned (and what to answer with).
    async fn run_and_commit<T: Send + 'static>(
        tx: Self::Handle,
        last: Vec<Stmt>,
        shared: &Shared,
        publish: impl FnOnce(Vec<Vec<Self::Row>>) -> StoreResult<(Vec<StoredEvent>, T)> + Send + 'static,
    ) -> StoreResult<T>;
    /// Serializes routing decisions of one tenant until commit.
    async fn lock_tenant(tx: &mut Self::Handle, tenant: &TenantId) -> StoreResult<()>;
    /// Serializes transactions that take the same key until commit.
    async fn lock_key(tx: &mut Self::Handle, key: &str) -> StoreResult<()>;
    /// Commits and arranges for `events` to reach live subscribers; returns once durable.
    async fn commit(tx: Self::Handle, events: Vec<StoredEvent>, shared: &Shared)
    -> StoreResult<()>;
    /// The migrations for this database.
    fn migrator() -> &'static Migrator;
    /// Whether concurrent migrators are serialized by the database (an advisory lock).
    const MIGRATIONS_LOCKED: bool;
    /// How a transaction checks a conversation it adopted ([`Tx::adopt`]) without a round
    /// trip of its own.
    const ADOPT: Adopt;
}

impl Dialect for Sqlite {
    type Handle = writer::Turn;

    async fn begin_write(
        pool: &Pool<Self>,
        shared: &Shared,
        eager: bool,
    ) -> StoreResult<writer::Turn> {
        shared.writer.begin(pool, eager).await
    }

    async fn conn(tx: &mut writer::Turn) -> StoreResult<&mut SqliteConnection> {
        tx.conn().await
    }

    async fn defer(tx: &mut writer::Turn, stmt: Stmt) -> StoreResult<()> {
        tx.defer(stmt);
        Ok(())
    }

    async fn run(tx: &mut writer::Turn, stmts: Vec<Stmt>) -> StoreResult<Vec<Vec<SqliteRow>>> {
        tx.run(stmts).await
    }

    async fn run_and_commit<T: Send + 'static>(
        tx: writer::Turn,
        last: Vec<Stmt>,
        shared: &Shared,
        publish: impl FnOnce(Vec<Vec<SqliteRow>>) -> StoreResult<(Vec<StoredEvent>, T)> + Send + 'static,
    ) -> StoreResult<T> {
        shared
            .writer
            .run_and_commit(tx, last, &shared.hub, publish)
            .await
    }

    async fn lock_tenant(_: &mut writer::Turn, _: &TenantId) -> StoreResult<()> {
        // Write transactions are already serialized by the one writer.
        Ok(())
    }

    async fn lock_key(_: &mut writer::Turn, _: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn commit(
        tx: writer::Turn,
        events: Vec<StoredEvent>,
        shared: &Shared,
    ) -> StoreResult<()> {
        shared.writer.commit(tx, events, &shared.hub).await
    }

    fn migrator() -> &'static Migrator {
        &SQLITE_MIGRATOR
    }

    const MIGRATIONS_LOCKED: bool = false;
    const ADOPT: Adopt = Adopt::Guard(writer::READ_GUARD);
}

impl Dialect for Postgres {
    type Handle = Transaction<'static, Postgres>;

    async fn begin_write(pool: &Pool<Self>, _: &Shared, _: bool) -> StoreResult<Self::Handle> {
        Ok(pool.begin().await?)
    }

    async fn conn(tx: &mut Self::Handle) -> StoreResult<&mut PgConnection> {
        Ok(&mut **tx)
    }

    async fn defer(tx: &mut Self::Handle, stmt: Stmt) -> StoreResult<()> {
        Self::run(tx, vec![stmt]).await.map(drop)
    }

    async fn run(tx: &mut Self::Handle, stmts: Vec<Stmt>) -> StoreResult<Vec<Vec<PgRow>>> {
        let mut out = Vec::with_capacity(stmts.len());
        for mut stmt in stmts {
            let mut args = PgArguments::default();
            for value in std::mem::take(&mut stmt.values) {
                let added = match value {
                    Value::Text(v) => args.add(v),
                    Value::Int(v) => args.add(v),
                };
                added.map_err(sqlx::Error::Encode)?;
            }
            let mut changed = 0;
            let mut rows = Vec::new();
            let mut results =
                (&mut **tx).fetch_many(sqlx::query_with(AssertSqlSafe(stmt.sql.clone()), args));
            while let Some(result) = results.try_next().await.map_err(|e| stmt.error(e))? {
                match result {
                    sqlx::Either::Left(done) => changed += done.rows_affected(),
                    sqlx::Either::Right(row) => rows.push(row),
                }
            }
            drop(results);
            stmt.check(changed)?;
            out.push(rows);
        }
        Ok(out)
    }

    async fn run_and_commit<T: Send + 'static>(
        mut tx: Self::Handle,
        last: Vec<Stmt>,
        shared: &Shared,
        publish: impl FnOnce(Vec<Vec<PgRow>>) -> StoreResult<(Vec<StoredEvent>, T)> + Send + 'static,
    ) -> StoreResult<T> {
        let rows = Self::run(&mut tx, last).await?;
        let (events, answer) = publish(rows)?;
        Self::commit(tx, events, shared).await?;
        Ok(answer)
    }

    async fn lock_tenant(tx: &mut Self::Handle, tenant: &TenantId) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(tenant.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn lock_key(tx: &mut Self::Handle, key: &str) -> StoreResult<()> {
        // Two keys of 32 bits: a class of its own, so no key meets a tenant's lock.
        sqlx::query("SELECT pg_advisory_xact_lock(7, hashtext($1))")
            .bind(key)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn commit(mut tx: Self::Handle, events: Vec<StoredEvent>, _: &Shared) -> StoreResult<()> {
        // NOTIFY inside the transaction is delivered only if it commits, in commit order. The
        // listener task (of every instance, this one included) publishes the events.
        for payload in notify_payloads(&events)? {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(payload)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx.commit().await?)
    }

    fn migrator() -> &'static Migrator {
        &POSTGRES_MIGRATOR
    }

    const MIGRATIONS_LOCKED: bool = true;
    // A guard would cost PostgreSQL a round trip of its own, as the locked read does: the
    // conversation's update checks it.
    const ADOPT: Adopt = Adopt::InUpdate;
}

/// The stored form of appended `events`, numbered `seqs`.
fn stored_events(events: &[NewEvent], seqs: &[i64]) -> Vec<StoredEvent> {
    events
        .iter()
        .zip(seqs)
        .map(|(event, seq)| StoredEvent {
            seq: *seq,
            tenant: event.tenant.clone(),
            conversation: event.conversation.clone(),
            actor: event.actor.clone(),
            body: event.body.clone(),
            at: event.at,
        })
        .collect()
}

/// Maps a unique violation to a named conflict; other errors pass through.
/// The `waiting_since` column: when a waiting conversation entered its current queue (the
/// queue gauges' oldest wait); null unless it waits.
fn waiting_since(c: &Conversation) -> Option<i64> {
    (c.state == baton_core::ConversationState::Queued)
        .then(|| c.entered_queue_at.or(c.queued_at).map(Timestamp::millis))
        .flatten()
}

fn conflict(code: &'static str, message: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
            code,
            message: message.to_string(),
        },
        _ => StoreError::Database(e),
    }
}

fn page_limit(page: &PageRequest) -> u32 {
    page.limit.clamp(1, MAX_PAGE)
}

/// A seq cursor (messages, events): the last seq of the previous page.
fn seq_cursor(page: &PageRequest) -> StoreResult<i64> {
    match &page.cursor {
        None => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| StoreError::InvalidInput(format!("invalid cursor '{c}'"))),
    }
}

/// A seq cursor of a newest-first list: items before this seq (all when absent).
fn seq_cursor_desc(page: &PageRequest) -> StoreResult<i64> {
    match &page.cursor {
        None => Ok(i64::MAX),
        Some(_) => seq_cursor(page),
    }
}

/// Splits `limit + 1` fetched rows into a page and the cursor of the next one.
fn into_page<T>(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(cursor) } else { None };
    Page { items, next_cursor }
}

/// A value bound to a dynamically built query.
enum Arg {
    Text(String),
    Int(i64),
}

/// A query under construction: SQL text and the values bound to its `$n` placeholders.
struct QueryBuilder {
    sql: String,
    args: Vec<Arg>,
}

impl QueryBuilder {
    fn new(sql: &str, first: Arg) -> Self {
        QueryBuilder {
            sql: sql.to_string(),
            args: vec![first],
        }
    }

    /// Binds `arg` and returns its placeholder.
    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// `AND {condition} $n` with `arg` bound to `$n`.
    fn and(&mut self, condition: &str, arg: Arg) {
        let p = self.bind(arg);
        self.sql.push_str(&format!(" AND {condition} {p}"));
    }

    /// `AND (...)`: what an agent may see (see [`AgentScope`]), on the `conversations` row of
    /// the tenant bound to `$1`. One predicate for lists and single reads, so they never
    /// disagree.
    fn and_visible_to(&mut self, scope: &AgentScope) {
        let me = self.bind(Arg::Text(scope.agent.to_string()));
        let mut clause = format!(
            " AND (conversations.assignee = {me} OR conversations.offer_agent = {me} \
             OR (conversations.last_agent = {me} AND conversations.state IN ('closed', 'bot'))"
        );
        let mut team = Vec::new();
        if !scope.queues.is_empty() {
            let list = scope
                .queues
                .iter()
                .map(|q| self.bind(Arg::Text(q.to_string())))
                .collect::<Vec<_>>()
                .join(", ");
            team.push(format!("conversations.queue IN ({list})"));
        }
        if scope.default_queue {
            team.push(
                "conversations.queue IS NULL OR NOT EXISTS (SELECT 1 FROM queues q \
                 WHERE q.tenant = conversations.tenant AND q.id = conversations.queue)"
                    .to_string(),
            );
        }
        if !team.is_empty() {
            clause.push_str(&format!(
                " OR (conversations.state IN ('queued', 'deferred', 'assigned') AND ({}))",
                team.join(" OR ")
            ));
        }
        clause.push(')');
        self.sql.push_str(&clause);
    }

    /// `AND (...)`: the conversation matches `search` (see [`SearchText`]), on the
    /// `conversations` row of the tenant bound to `$1`.
    fn and_matching(&mut self, backend: Backend, search: &SearchText) {
        let like = self.bind(Arg::Text(search.like_pattern()));
        let exact = self.bind(Arg::Text(search.text().to_string()));
        let mut any = vec![
            format!("conversations.id = {exact}"),
            format!(
                "conversations.customer_id IN (SELECT c.id FROM customers c WHERE c.tenant = $1 \
                 AND (LOWER(c.name) LIKE {like} ESCAPE '\\' OR LOWER(c.email) LIKE {like} ESCAPE '\\' \
                 OR LOWER(c.external_id) LIKE {like} ESCAPE '\\'))"
            ),
        ];
        // The console shows a conversation's last characters.
        if search.text().len() >= 4 && search.text().bytes().all(|b| b.is_ascii_alphanumeric()) {
            let suffix = self.bind(Arg::Text(format!("%{}", search.text())));
            any.push(format!("conversations.id LIKE {suffix}"));
        }
        match backend {
            Backend::Sqlite => {
                if let Some(fts) = search.fts5_query() {
                    let fts = self.bind(Arg::Text(fts));
                    any.push(format!(
                        "conversations.id IN (SELECT m.conversation FROM messages_fts \
                         JOIN messages m ON m.seq = messages_fts.rowid \
                         WHERE messages_fts MATCH {fts} AND m.tenant = $1)"
                    ));
                }
            }
            Backend::Postgres => {
                if let Some(ts) = search.tsquery() {
                    let ts = self.bind(Arg::Text(ts));
                    any.push(format!(
                        "conversations.id IN (SELECT m.conversation FROM messages m \
                         WHERE m.tenant = $1 AND m.search @@ to_tsquery('simple', {ts}))"
                    ));
                }
            }
        }
        self.sql.push_str(&format!(" AND ({})", any.join(" OR ")));
    }
}

/// `SELECT data FROM conversations` with only the filters given, newest first.
fn conversations_query(
    backend: Backend,
    tenant: &TenantId,
    filter: &ConversationFilter,
    page: &PageRequest,
) -> StoreResult<(String, Vec<Arg>)> {
    let mut q = QueryBuilder::new(
        "SELECT data FROM conversations WHERE tenant = $1",
        Arg::Text(tenant.to_string()),
    );
    if let Some(state) = filter.state {
        q.and("state =", Arg::Text(state.as_str().to_string()));
    }
    if let Some(queue) = &filter.queue {
        let p = q.bind(Arg::Text(queue.to_string()));
        if filter.queue_is_default {
            q.sql.push_str(&format!(
                " AND (queue = {p} OR (state <> 'bot' AND (queue IS NULL OR NOT EXISTS \
                 (SELECT 1 FROM queues q WHERE q.tenant = conversations.tenant \
                 AND q.id = conversations.queue))))"
            ));
        } else {
            q.sql.push_str(&format!(" AND queue = {p}"));
        }
    }
    if let Some(assignee) = &filter.assignee {
        q.and("assignee =", Arg::Text(assignee.to_string()));
    }
    if let Some(customer) = &filter.customer {
        q.and("customer_id =", Arg::Text(customer.to_string()));
    }
    if let Some(since) = filter.since {
        q.and("created_at >=", Arg::Int(since.millis()));
    }
    if let Some(until) = filter.until {
        q.and("created_at <", Arg::Int(until.millis()));
    }
    if let Some(scope) = &filter.visible_to {
        q.and_visible_to(scope);
    }
    if let Some(search) = &filter.search {
        q.and_matching(backend, search);
    }
    if let Some(cursor) = &page.cursor {
        let id = ConversationId::parse(cursor.as_str())
            .map_err(|_| StoreError::InvalidInput(format!("invalid cursor '{cursor}'")))?;
        q.and("id <", Arg::Text(id.to_string()));
    }
    let limit = q.bind(Arg::Int(i64::from(page_limit(page)) + 1));
    q.sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    Ok((q.sql, q.args))
}

/// One conversation, only if `scope`'s agent may see it.
fn visible_conversation_query(
    tenant: &TenantId,
    id: &ConversationId,
    scope: &AgentScope,
) -> (String, Vec<Arg>) {
    let mut q = QueryBuilder::new(
        "SELECT data FROM conversations WHERE tenant = $1",
        Arg::Text(tenant.to_string()),
    );
    q.and("id =", Arg::Text(id.to_string()));
    q.and_visible_to(scope);
    (q.sql, q.args)
}

/// The last `$3` transcript entries of a conversation, newest first.
const RECENT_MESSAGES: &str = concat!(
    "SELECT ",
    message_cols!(),
    " FROM messages WHERE tenant = $1 AND conversation = $2 ORDER BY seq DESC LIMIT $3"
);

/// A conversation, what appending to it needs, the customer and whether a message carries an
/// external id (`$1` tenant, `$2` conversation, `$3` external id): `Store::conversation_read`.
const CONVERSATION_READ: &str = "SELECT c.data AS conversation_data, c.customer_id AS customer_ref, \
     (SELECT e.hash FROM events e WHERE e.tenant = c.tenant \
     AND e.conversation = c.id ORDER BY e.seq DESC LIMIT 1) AS head, \
     f.data AS facts, EXISTS (SELECT 1 FROM subscriptions s \
     WHERE s.tenant = c.tenant AND s.enabled = 1) AS subscribed, \
     (SELECT m.id FROM messages m WHERE m.tenant = c.tenant \
     AND m.external_id = $3) AS existing, \
     cu.id, cu.tenant, cu.external_id, cu.name, cu.email, cu.phone, \
     cu.language, cu.tier, cu.attributes, cu.created_at \
     FROM conversations c LEFT JOIN customers cu \
     ON cu.tenant = c.tenant AND cu.id = c.customer_id \
     LEFT JOIN conversation_facts f ON f.conversation = c.id \
     WHERE c.tenant = $1 AND c.id = $2";

/// Newest-first rows as messages, oldest first.
fn oldest_first(rows: Vec<MessageRow>) -> StoreResult<Vec<Message>> {
    let mut items = rows
        .into_iter()
        .map(MessageRow::into_model)
        .collect::<StoreResult<Vec<_>>>()?;
    items.reverse();
    Ok(items)
}

/// The conversations a router tracks (served by the `(tenant, state, id)` index).
/// A page of open conversations (`$1` tenant, after id `$2`, `$3` of them): each state's
/// branch is a range of the `(tenant, state, id)` index, where one `state IN (..)` would be
/// planned as a walk over all of the tenant's conversations, closed ones included.
const OPEN_CONVERSATIONS: &str = "SELECT data FROM (\
     SELECT id, data FROM (SELECT id, data FROM conversations WHERE tenant = $1 \
     AND state = 'queued' AND id > $2 ORDER BY id LIMIT $3) q \
     UNION ALL SELECT id, data FROM (SELECT id, data FROM conversations WHERE tenant = $1 \
     AND state = 'assigned' AND id > $2 ORDER BY id LIMIT $3) a \
     UNION ALL SELECT id, data FROM (SELECT id, data FROM conversations WHERE tenant = $1 \
     AND state = 'deferred' AND id > $2 ORDER BY id LIMIT $3) d\
     ) page ORDER BY id LIMIT $3";

/// `... WHERE seq IN ($1, ..., $n)` for one chunk of seqs.
fn events_by_seq_query(count: usize) -> String {
    let list = (1..=count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        concat!(
            "SELECT ",
            event_cols!(),
            " FROM events WHERE seq IN ({}) ORDER BY seq"
        ),
        list
    )
}

async fn fetch_events_by_seq_pg(
    pool: &Pool<Postgres>,
    seqs: &[i64],
) -> StoreResult<Vec<StoredEvent>> {
    SqlStore::<Postgres>::fetch_events_by_seq(pool, seqs).await
}

macro_rules! sql_backend {
    ($db:ty, backend = $backend:expr, for_update = $for_update:literal,
     for_share = $for_share:literal, skip_locked = $skip_locked:literal) => {
        impl SqlStore<$db> {
            async fn fetch_events_by_seq(
                pool: &Pool<$db>,
                seqs: &[i64],
            ) -> StoreResult<Vec<StoredEvent>> {
                let mut out = Vec::with_capacity(seqs.len());
                for chunk in seqs.chunks(SEQS_PER_QUERY) {
                    let sql = events_by_seq_query(chunk.len());
                    let mut query = sqlx::query_as::<_, EventRow>(AssertSqlSafe(sql));
                    for seq in chunk {
                        query = query.bind(*seq);
                    }
                    for row in query.fetch_all(pool).await? {
                        out.push(row.into_model()?);
                    }
                }
                Ok(out)
            }
        }

        #[async_trait]
        impl Store for SqlStore<$db> {
            fn backend(&self) -> Backend {
                $backend
            }

            fn writer_stats(&self) -> Option<WriterStats> {
                (self.backend() == Backend::Sqlite).then(|| self.shared.writer.stats())
            }

            async fn migrate(&self) -> StoreResult<()> {
                // SQLite has no migration lock: processes opening a new file at once all try to
                // apply migration 1 and the losers fail ("table already exists"). Each migration
                // commits together with its record, so a loser only has to run again to find it
                // applied.
                let mut attempt = 0u64;
                loop {
                    match <$db as Dialect>::migrator().run(&self.pool).await {
                        Ok(()) => {
                            // Databases that predate the hash chain and the analytics facts.
                            self.backfill_hashes().await?;
                            self.replay_facts(true, None).await?;
                            return Ok(());
                        }
                        Err(e) if <$db as Dialect>::MIGRATIONS_LOCKED || attempt >= 10 => return Err(e.into()),
                        Err(_) => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                        }
                    }
                }
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn login_locked_until(
                &self,
                keys: &[&str],
                now: Timestamp,
            ) -> StoreResult<Option<Timestamp>> {
                let mut latest: Option<i64> = None;
                for key in keys {
                    let until = sqlx::query_scalar::<_, i64>(
                        "SELECT locked_until FROM login_failures \
                         WHERE key = $1 AND locked_until > $2",
                    )
                    .bind(*key)
                    .bind(now.millis())
                    .fetch_optional(&self.pool)
                    .await?;
                    latest = latest.max(until);
                }
                Ok(latest.map(Timestamp::from_millis))
            }

            async fn login_failed(
                &self,
                key: &str,
                limit: u32,
                window_ms: i64,
                now: Timestamp,
            ) -> StoreResult<()> {
                // Within the window: one more failure; after it: a new window with one.
                let mut w = self.begin_turn().await?;
                sqlx::query(
                    "INSERT INTO login_failures (key, failures, window_start, locked_until) \
                     VALUES ($1, 1, $2, CASE WHEN $4 <= 1 THEN $2 + $3 ELSE 0 END) \
                     ON CONFLICT (key) DO UPDATE SET \
                     failures = CASE WHEN login_failures.window_start + $3 <= $2 THEN 1 \
                       ELSE login_failures.failures + 1 END, \
                     window_start = CASE WHEN login_failures.window_start + $3 <= $2 THEN $2 \
                       ELSE login_failures.window_start END, \
                     locked_until = CASE \
                       WHEN login_failures.window_start + $3 <= $2 \
                         THEN CASE WHEN $4 <= 1 THEN $2 + $3 ELSE 0 END \
                       WHEN login_failures.failures + 1 >= $4 \
                         THEN login_failures.window_start + $3 \
                       ELSE 0 END",
                )
                .bind(key)
                .bind(now.millis())
                .bind(window_ms)
                .bind(i64::from(limit))
                .execute(&mut *w)
                .await?;
                self.finish(w).await
            }

            async fn login_succeeded(&self, key: &str) -> StoreResult<()> {
                let mut w = self.begin_turn().await?;
                sqlx::query("DELETE FROM login_failures WHERE key = $1")
                    .bind(key)
                    .execute(&mut *w)
                    .await?;
                self.finish(w).await
            }

            async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
                let tx = <$db as Dialect>::begin_write(&self.pool, &self.shared, false).await?;
                Ok(Box::new(SqlTx::<$db>::new(tx, self.shared.clone())))
            }

            fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
                self.shared.hub.subscribe()
            }

            async fn tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>> {
                sqlx::query_as::<_, TenantRow>(
                    "SELECT id, name, created_at FROM tenants WHERE id = $1",
                )
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(TenantRow::into_model)
                .transpose()
            }

            async fn tenant_ids(&self) -> StoreResult<Vec<TenantId>> {
                sqlx::query_scalar::<_, String>("SELECT id FROM tenants ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|id| {
                        TenantId::parse(id).map_err(|e| StoreError::Corrupt(format!("tenant id: {e}")))
                    })
                    .collect()
            }

            async fn acquire_routing_lease(
                &self,
                tenant: &TenantId,
                holder: &str,
                now: Timestamp,
                ttl_ms: i64,
            ) -> StoreResult<Option<i64>> {
                // A live lease of another instance is seen by a plain read first. The upsert
                // below locks the lease's row even where its condition then leaves the row be,
                // and the holder's fenced commits read that row `FOR SHARE`: every instance
                // that does not route the tenant would otherwise queue the holder's commits
                // behind its attempt, every second.
                let current = sqlx::query_as::<_, (String, i64)>(
                    "SELECT holder, expires_at FROM routing_leases WHERE tenant = $1",
                )
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await?;
                if let Some((other, expires_at)) = current
                    && other != holder
                    && expires_at >= now.millis()
                {
                    return Ok(None);
                }
                let mut w = self.begin_turn().await?;
                let done = sqlx::query_scalar::<_, i64>(
                    "INSERT INTO routing_leases (tenant, holder, epoch, expires_at) \
                     VALUES ($1, $2, 1, $4) \
                     ON CONFLICT (tenant) DO UPDATE SET \
                     epoch = CASE WHEN routing_leases.holder = excluded.holder \
                     THEN routing_leases.epoch ELSE routing_leases.epoch + 1 END, \
                     holder = excluded.holder, expires_at = excluded.expires_at \
                     WHERE routing_leases.holder = excluded.holder \
                     OR routing_leases.expires_at < $3 \
                     RETURNING epoch",
                )
                .bind(tenant.as_str())
                .bind(holder)
                .bind(now.millis())
                .bind(now.millis() + ttl_ms)
                .fetch_optional(&mut *w)
                .await?;
                self.finish(w).await?;
                Ok(done)
            }

            async fn routing_memory(
                &self,
                tenant: &TenantId,
            ) -> StoreResult<Option<serde_json::Value>> {
                let data = sqlx::query_scalar::<_, String>(
                    "SELECT data FROM routing_memory WHERE tenant = $1",
                )
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await?;
                Ok(data.map(|d| serde_json::from_str(&d)).transpose()?)
            }

            async fn previous_agent(
                &self,
                tenant: &TenantId,
                customer: &CustomerId,
                except: &ConversationId,
            ) -> StoreResult<Option<AgentId>> {
                // The latest few earlier conversations; most had an agent if any did.
                let rows = sqlx::query_scalar::<_, String>(
                    "SELECT data FROM conversation_facts \
                     WHERE tenant = $1 AND customer = $2 AND conversation <> $3 \
                     ORDER BY started_at DESC LIMIT 5",
                )
                .bind(tenant.as_str())
                .bind(customer.as_str())
                .bind(except.as_str())
                .fetch_all(&self.pool)
                .await?;
                for data in rows {
                    let facts = serde_json::from_str::<baton_core::analytics::Facts>(&data)?;
                    if let Some(segment) = facts.segments.last() {
                        return Ok(Some(segment.agent.clone()));
                    }
                }
                Ok(None)
            }

            async fn last_event_seq(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM events")
                    .fetch_one(&self.pool)
                    .await?
                    .unwrap_or(0))
            }

            async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
                sqlx::query_as::<_, ApiKeyRow>(concat!(
                    "SELECT ",
                    api_key_cols!(),
                    " FROM api_keys WHERE hash = $1 AND revoked_at IS NULL"
                ))
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?
                .map(ApiKeyRow::into_model)
                .transpose()
            }

            async fn api_keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKey>> {
                sqlx::query_as::<_, ApiKeyRow>(concat!(
                    "SELECT ",
                    api_key_cols!(),
                    " FROM api_keys WHERE tenant = $1 ORDER BY created_at DESC, id DESC"
                ))
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ApiKeyRow::into_model)
                .collect()
            }

            async fn agent(&self, tenant: &TenantId, id: &AgentId) -> StoreResult<Option<Agent>> {
                sqlx::query_as::<_, AgentRow>(concat!(
                    "SELECT ",
                    agent_cols!(),
                    " FROM agents WHERE tenant = $1 AND id = $2"
                ))
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(AgentRow::into_model)
                .transpose()
            }

            async fn agents_for_login(&self, email: &str) -> StoreResult<Vec<(Agent, String)>> {
                sqlx::query_as::<_, LoginRow>(concat!(
                    "SELECT ",
                    agent_cols!(),
                    ", password_hash FROM agents WHERE email = $1 AND deactivated_at IS NULL \
                     ORDER BY id"
                ))
                .bind(email.trim().to_ascii_lowercase())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|row| Ok((row.agent.into_model()?, row.password_hash)))
                .collect()
            }

            async fn agents(&self, tenant: &TenantId) -> StoreResult<Vec<Agent>> {
                sqlx::query_as::<_, AgentRow>(concat!(
                    "SELECT ",
                    agent_cols!(),
                    " FROM agents WHERE tenant = $1 ORDER BY name, id"
                ))
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(AgentRow::into_model)
                .collect()
            }

            async fn session(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<Session>> {
                sqlx::query_as::<_, SessionRow>(
                    "SELECT tenant, agent, expires_at FROM sessions \
                     WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now.millis())
                .fetch_optional(&self.pool)
                .await?
                .map(SessionRow::into_model)
                .transpose()
            }

            async fn widget_key_tenant(&self, key_hash: &str) -> StoreResult<Option<TenantId>> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT tenant FROM widget_keys WHERE key_hash = $1")
                        .bind(key_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(|(t,)| TenantId::parse(t).map_err(|e| StoreError::Corrupt(e.to_string())))
                    .transpose()
            }

            async fn customer_token(
                &self,
                token_hash: &str,
                now: Timestamp,
            ) -> StoreResult<Option<(TenantId, ConversationId)>> {
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT tenant, conversation FROM customer_tokens \
                     WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now.millis())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(t, c)| {
                    Ok((
                        TenantId::parse(t).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        ConversationId::parse(c).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    ))
                })
                .transpose()
            }

            async fn queue(&self, tenant: &TenantId, id: &QueueId) -> StoreResult<Option<Queue>> {
                sqlx::query_as::<_, QueueRow>(concat!(
                    "SELECT ",
                    queue_cols!(),
                    " FROM queues WHERE tenant = $1 AND id = $2"
                ))
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(QueueRow::into_model)
                .transpose()
            }

            async fn queues(&self, tenant: &TenantId) -> StoreResult<Vec<Queue>> {
                sqlx::query_as::<_, QueueRow>(concat!(
                    "SELECT ",
                    queue_cols!(),
                    " FROM queues WHERE tenant = $1 ORDER BY name, id"
                ))
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(QueueRow::into_model)
                .collect()
            }

            async fn customer(
                &self,
                tenant: &TenantId,
                id: &CustomerId,
            ) -> StoreResult<Option<Customer>> {
                sqlx::query_as::<_, CustomerRow>(concat!(
                    "SELECT ",
                    customer_cols!(),
                    " FROM customers WHERE tenant = $1 AND id = $2"
                ))
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(CustomerRow::into_model)
                .transpose()
            }

            async fn conversation(
                &self,
                tenant: &TenantId,
                id: &ConversationId,
            ) -> StoreResult<Option<Conversation>> {
                sqlx::query_scalar::<_, String>(
                    "SELECT data FROM conversations WHERE tenant = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(|data| conversation_from_json(&data))
                .transpose()
            }

            async fn conversation_read(
                &self,
                tenant: &TenantId,
                id: &ConversationId,
                external_id: Option<&str>,
                history: u32,
            ) -> StoreResult<Option<ConversationRead>> {
                // What `load_for_update` reads in a transaction, and the customer; on SQLite
                // with the transcript's end in the same query (one round trip to a reader's
                // thread; PostgreSQL takes no parameters in a query of several statements).
                let (row, recent) = if $backend == Backend::Sqlite && history > 0 {
                    let sql = format!(
                        "{CONVERSATION_READ};\n{}",
                        statement::renumber(RECENT_MESSAGES, 3)
                    );
                    let mut args = <$db as Database>::Arguments::default();
                    for value in [Some(tenant.as_str()), Some(id.as_str()), external_id] {
                        args.add(value).map_err(sqlx::Error::Encode)?;
                    }
                    args.add(tenant.as_str()).map_err(sqlx::Error::Encode)?;
                    args.add(id.as_str()).map_err(sqlx::Error::Encode)?;
                    args.add(i64::from(history)).map_err(sqlx::Error::Encode)?;
                    let mut conn = self.pool.acquire().await?;
                    let mut results = (&mut *conn).fetch_many(sqlx::query_with(AssertSqlSafe(sql), args));
                    let (mut row, mut recent, mut done) = (None, Vec::new(), 0);
                    while let Some(result) = results.try_next().await? {
                        match result {
                            sqlx::Either::Left(_) => done += 1,
                            sqlx::Either::Right(r) if done == 0 => row = Some(r),
                            sqlx::Either::Right(r) => recent.push(MessageRow::from_row(&r)?),
                        }
                    }
                    (row, recent)
                } else {
                    let row = sqlx::query(CONVERSATION_READ)
                        .bind(tenant.as_str())
                        .bind(id.as_str())
                        .bind(external_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    let recent = match (&row, history) {
                        (Some(_), 1..) => sqlx::query_as::<_, MessageRow>(RECENT_MESSAGES)
                            .bind(tenant.as_str())
                            .bind(id.as_str())
                            .bind(i64::from(history))
                            .fetch_all(&self.pool)
                            .await?,
                        _ => Vec::new(),
                    };
                    (row, recent)
                };
                let Some(row) = row else {
                    return Ok(None);
                };
                let recent = oldest_first(recent)?;
                let data: String = row.try_get("conversation_data")?;
                let customer = match row.try_get::<Option<String>, _>("id")? {
                    Some(_) => Some(CustomerRow::from_row(&row)?.into_model()?),
                    None => None,
                };
                // Seldom there: read whole only then.
                let existing = match (row.try_get::<Option<String>, _>("existing")?, external_id) {
                    (Some(_), Some(ext)) => self.message_with_external_id(tenant, ext).await?,
                    _ => None,
                };
                Ok(Some(ConversationRead {
                    conversation: conversation_from_json(&data)?,
                    existing,
                    recent,
                    seen: Seen {
                        customer: row.try_get("customer_ref")?,
                        tier: customer.as_ref().and_then(|c| c.tier.clone()),
                        head: row.try_get("head")?,
                        facts: row.try_get("facts")?,
                        subscribed: row.try_get("subscribed")?,
                        data,
                    },
                    customer,
                }))
            }

            async fn conversations(
                &self,
                tenant: &TenantId,
                filter: &ConversationFilter,
                page: &PageRequest,
            ) -> StoreResult<Page<Conversation>> {
                let (sql, args) = conversations_query($backend, tenant, filter, page)?;
                let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
                for arg in args {
                    query = match arg {
                        Arg::Text(s) => query.bind(s),
                        Arg::Int(n) => query.bind(n),
                    };
                }
                let items = query
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|data| conversation_from_json(data))
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(into_page(items, page_limit(page), |c| c.id.to_string()))
            }

            async fn conversation_sight(
                &self,
                tenant: &TenantId,
                id: &ConversationId,
            ) -> StoreResult<Option<Sight>> {
                let row = sqlx::query_as::<
                    _,
                    (String, Option<String>, bool, Option<String>, Option<String>, Option<String>),
                >(
                    "SELECT c.state, c.queue, EXISTS (SELECT 1 FROM queues q \
                     WHERE q.tenant = c.tenant AND q.id = c.queue), c.assignee, c.offer_agent, \
                     c.last_agent FROM conversations c WHERE c.tenant = $1 AND c.id = $2",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
                let Some((state, queue, queue_exists, assignee, offer_agent, last_agent)) = row
                else {
                    return Ok(None);
                };
                Ok(Some(Sight {
                    state: ConversationState::parse(&state).ok_or_else(|| {
                        StoreError::Corrupt(format!("conversation {id} has state '{state}'"))
                    })?,
                    queue: opt_id(queue)?,
                    queue_exists,
                    assignee: opt_id(assignee)?,
                    offer_agent: opt_id(offer_agent)?,
                    last_agent: opt_id(last_agent)?,
                }))
            }

            async fn visible_conversation(
                &self,
                tenant: &TenantId,
                id: &ConversationId,
                scope: &AgentScope,
            ) -> StoreResult<Option<Conversation>> {
                let (sql, args) = visible_conversation_query(tenant, id, scope);
                let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
                for arg in args {
                    query = match arg {
                        Arg::Text(s) => query.bind(s),
                        Arg::Int(n) => query.bind(n),
                    };
                }
                query
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|data| conversation_from_json(&data))
                    .transpose()
            }

            async fn messages(
                &self,
                tenant: &TenantId,
                conversation: &ConversationId,
                page: &PageRequest,
            ) -> StoreResult<Page<Message>> {
                let after = seq_cursor(page)?;
                let limit = page_limit(page);
                let items = sqlx::query_as::<_, MessageRow>(concat!(
                    "SELECT ",
                    message_cols!(),
                    " FROM messages WHERE tenant = $1 AND conversation = $2 AND seq > $3 \
                     ORDER BY seq LIMIT $4"
                ))
                .bind(tenant.as_str())
                .bind(conversation.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(MessageRow::into_model)
                .collect::<StoreResult<Vec<_>>>()?;
                Ok(into_page(items, limit, |m| m.seq.to_string()))
            }

            async fn recent_messages(
                &self,
                tenant: &TenantId,
                conversation: &ConversationId,
                limit: u32,
            ) -> StoreResult<Vec<Message>> {
                oldest_first(
                    sqlx::query_as::<_, MessageRow>(RECENT_MESSAGES)
                        .bind(tenant.as_str())
                        .bind(conversation.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?,
                )
            }

            async fn message_with_external_id(
                &self,
                tenant: &TenantId,
                external_id: &str,
            ) -> StoreResult<Option<Message>> {
                sqlx::query_as::<_, MessageRow>(concat!(
                    "SELECT ",
                    message_cols!(),
                    " FROM messages WHERE tenant = $1 AND external_id = $2"
                ))
                .bind(tenant.as_str())
                .bind(external_id)
                .fetch_optional(&self.pool)
                .await?
                .map(MessageRow::into_model)
                .transpose()
            }

            async fn message(
                &self,
                tenant: &TenantId,
                conversation: &ConversationId,
                id: &MessageId,
            ) -> StoreResult<Option<Message>> {
                sqlx::query_as::<_, MessageRow>(concat!(
                    "SELECT ",
                    message_cols!(),
                    " FROM messages WHERE tenant = $1 AND conversation = $2 AND id = $3"
                ))
                .bind(tenant.as_str())
                .bind(conversation.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(MessageRow::into_model)
                .transpose()
            }

            async fn events(
                &self,
                tenant: &TenantId,
                conversation: &ConversationId,
                page: &PageRequest,
            ) -> StoreResult<Page<StoredEvent>> {
                let after = seq_cursor(page)?;
                let limit = page_limit(page);
                let items = sqlx::query_as::<_, EventRow>(concat!(
                    "SELECT ",
                    event_cols!(),
                    " FROM events WHERE tenant = $1 AND conversation = $2 AND seq > $3 \
                     ORDER BY seq LIMIT $4"
                ))
                .bind(tenant.as_str())
                .bind(conversation.as_str())
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(EventRow::into_model)
                .collect::<StoreResult<Vec<_>>>()?;
                Ok(into_page(items, limit, |e| e.seq.to_string()))
            }

            async fn events_by_seq(&self, seqs: &[i64]) -> StoreResult<Vec<StoredEvent>> {
                Self::fetch_events_by_seq(&self.pool, seqs).await
            }

            async fn setting(
                &self,
                tenant: &TenantId,
                key: &str,
            ) -> StoreResult<Option<serde_json::Value>> {
                sqlx::query_scalar::<_, String>(
                    "SELECT value FROM settings WHERE tenant = $1 AND key = $2",
                )
                .bind(tenant.as_str())
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .map(|v| serde_json::from_str(&v).map_err(StoreError::from))
                .transpose()
                // A setting removed is stored as null (its audit event keeps the before).
                .map(|v| v.filter(|v: &serde_json::Value| !v.is_null()))
            }

            async fn kb_article(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<KbArticle>> {
                sqlx::query_scalar::<_, String>(
                    "SELECT data FROM kb_articles WHERE tenant = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(|d| serde_json::from_str(&d).map_err(StoreError::from))
                .transpose()
            }

            async fn kb_articles(&self, tenant: &TenantId) -> StoreResult<Vec<KbArticle>> {
                sqlx::query_scalar::<_, String>(
                    "SELECT data FROM kb_articles WHERE tenant = $1 ORDER BY id",
                )
                .bind(tenant.as_str())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|d| serde_json::from_str(d).map_err(StoreError::from))
                .collect()
            }

            async fn open_conversations(
                &self,
                tenant: &TenantId,
                after: Option<&ConversationId>,
                limit: u32,
            ) -> StoreResult<Vec<Conversation>> {
                sqlx::query_scalar::<_, String>(OPEN_CONVERSATIONS)
                    .bind(tenant.as_str())
                    .bind(after.map_or("", ConversationId::as_str))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|data| conversation_from_json(data))
                    .collect()
            }

            async fn next_timer_due(&self) -> StoreResult<Option<Timestamp>> {
                let due = sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(due_at) FROM timers")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(due.map(Timestamp::from_millis))
            }

            async fn due_timers(
                &self,
                now: Timestamp,
                limit: u32,
            ) -> StoreResult<Vec<(TenantId, String)>> {
                let mut tx = self.begin_turn().await?;
                let rows = sqlx::query_as::<_, (String, String)>(concat!(
                    "SELECT tenant, kind FROM timers WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
                    $skip_locked
                ))
                .bind(now.millis())
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for (tenant, kind) in rows {
                    sqlx::query("UPDATE timers SET due_at = $3 WHERE tenant = $1 AND kind = $2")
                        .bind(&tenant)
                        .bind(&kind)
                        .bind(now.millis() + crate::TIMER_LEASE_MS)
                        .execute(&mut *tx)
                        .await?;
                    let tenant = TenantId::parse(tenant)
                        .map_err(|e| StoreError::Corrupt(format!("timer tenant: {e}")))?;
                    out.push((tenant, kind));
                }
                self.finish(tx).await?;
                Ok(out)
            }

            async fn conversation_counts(&self) -> StoreResult<Vec<(String, i64)>> {
                Ok(sqlx::query_as::<_, (String, i64)>(
                    "SELECT state, COUNT(*) FROM conversations GROUP BY state ORDER BY state",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn idempotency_claim(
                &self,
                scope: &str,
                key: &str,
                fingerprint: &str,
                now: Timestamp,
            ) -> StoreResult<IdempotencyClaim> {
                let mut w = self.begin_turn().await?;
                let inserted = sqlx::query(
                    "INSERT INTO idempotency (scope, idem_key, fingerprint, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (scope, idem_key) DO NOTHING",
                )
                .bind(scope)
                .bind(key)
                .bind(fingerprint)
                .bind(now.millis())
                .execute(&mut *w)
                .await?
                .rows_affected();
                self.finish(w).await?;
                if inserted == 1 {
                    return Ok(IdempotencyClaim::Claimed);
                }
                let row = sqlx::query_as::<_, IdempotencyRow>(
                    "SELECT fingerprint, status, body, created_at FROM idempotency \
                     WHERE scope = $1 AND idem_key = $2",
                )
                .bind(scope)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                // Released between our insert and our read: a retry will claim it.
                let Some(row) = row else { return Ok(IdempotencyClaim::InProgress) };
                if row.fingerprint != fingerprint {
                    return Ok(IdempotencyClaim::Mismatch);
                }
                if row.status == Some(crate::idempotency::COMMITTED) {
                    // Committed, answer not yet recorded: still running, or lost in a crash.
                    return Ok(if now.millis().saturating_sub(row.created_at) < IDEMPOTENCY_TAKEOVER_MS {
                        IdempotencyClaim::InProgress
                    } else {
                        IdempotencyClaim::Committed
                    });
                }
                if let Some(status) = row.status {
                    let status = u16::try_from(status).map_err(|_| {
                        StoreError::Corrupt(format!("idempotency status {status}"))
                    })?;
                    return Ok(IdempotencyClaim::Replay { status, body: row.body.unwrap_or_default() });
                }
                if now.millis().saturating_sub(row.created_at) < IDEMPOTENCY_TAKEOVER_MS {
                    return Ok(IdempotencyClaim::InProgress);
                }
                // The first request died: take over, unless another retry just did.
                let mut w = self.begin_turn().await?;
                let taken = sqlx::query(
                    "UPDATE idempotency SET created_at = $3 WHERE scope = $1 AND idem_key = $2 \
                     AND created_at = $4 AND status IS NULL",
                )
                .bind(scope)
                .bind(key)
                .bind(now.millis())
                .bind(row.created_at)
                .execute(&mut *w)
                .await?
                .rows_affected();
                self.finish(w).await?;
                Ok(if taken == 1 { IdempotencyClaim::Claimed } else { IdempotencyClaim::InProgress })
            }

            async fn idempotency_complete(
                &self,
                scope: &str,
                key: &str,
                status: u16,
                body: &str,
            ) -> StoreResult<()> {
                let mut w = self.begin_turn().await?;
                sqlx::query(
                    "UPDATE idempotency SET status = $3, body = $4 \
                     WHERE scope = $1 AND idem_key = $2",
                )
                .bind(scope)
                .bind(key)
                .bind(i64::from(status))
                .bind(body)
                .execute(&mut *w)
                .await?;
                self.finish(w).await?;
                Ok(())
            }

            async fn idempotency_release(&self, scope: &str, key: &str) -> StoreResult<()> {
                let mut w = self.begin_turn().await?;
                sqlx::query(
                    "DELETE FROM idempotency WHERE scope = $1 AND idem_key = $2 \
                     AND status IS NULL",
                )
                .bind(scope)
                .bind(key)
                .execute(&mut *w)
                .await?;
                self.finish(w).await?;
                Ok(())
            }
        }

        impl SqlTx<$db> {
            /// What appending `messages` and `events` sends: each event's hash chained to its
            /// predecessor and folded into its conversation's facts; the statements, and the
            /// events' hashes.
            async fn append_stmts(
                &mut self,
                messages: &[Message],
                events: &[NewEvent],
            ) -> StoreResult<(Vec<Stmt>, Vec<String>)> {
                // Each event's hash chains to the one before it in its chain (in this list or
                // stored); the messages go in with one statement each, the events with one, all
                // in one round trip on SQLite.
                let mut rows = Vec::with_capacity(events.len());
                for event in events {
                    let actor = serde_json::to_string(&event.actor)?;
                    let data = event.body.to_text()?;
                    let conversation = event.conversation.as_ref();
                    let prev = self.chain_head(&event.tenant, conversation).await?;
                    let hash = crate::reports::event_hash(
                        prev.as_deref(),
                        event.tenant.as_str(),
                        conversation.map(ConversationId::as_str),
                        event.kind(),
                        &actor,
                        &data,
                        event.at.millis(),
                    );
                    if let Some(c) = conversation {
                        self.load_facts(&event.tenant, c).await?;
                        if let Some(f) = self.facts.get_mut(c.as_str())
                            && let EventBody::Conversation(kind) = &event.body
                        {
                            f.facts.apply(kind, &event.actor, event.at);
                            f.dirty = true;
                        }
                    }
                    self.heads.insert(
                        (event.tenant.to_string(), conversation.map(ToString::to_string)),
                        Some(hash.clone()),
                    );
                    rows.push((actor, data, hash));
                }
                let mut stmts = Vec::with_capacity(messages.len() + 1);
                for m in messages {
                    let bot = m.bot.as_ref().map(serde_json::to_string).transpose()?;
                    let attachment = m.attachment.as_ref().map(serde_json::to_string).transpose()?;
                    stmts.push(
                        Stmt::new(
                            "INSERT INTO messages (id, tenant, conversation, role, text, agent, \
                             external_id, bot, attachment, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
                        )
                        .bind(m.id.as_str())
                        .bind(m.tenant.as_str())
                        .bind(m.conversation.as_str())
                        .bind(m.role.as_str())
                        .bind(m.text.as_str())
                        .bind(m.agent.as_ref().map(AgentId::as_str))
                        .bind(m.external_id.as_deref())
                        .bind(bot)
                        .bind(attachment)
                        .bind(m.created_at.millis())
                        .unique_as(
                            "external_id_reused",
                            "a message with this external_id already exists",
                        ),
                    );
                }
                if !events.is_empty() {
                    let mut sql = String::from(
                        "INSERT INTO events (tenant, conversation, kind, actor, data, at, hash) VALUES ",
                    );
                    for i in 0..events.len() {
                        let b = i * 7;
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!(
                            "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                            b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7
                        ));
                    }
                    sql.push_str(" RETURNING seq, hash");
                    let mut stmt = Stmt::new(sql);
                    for (event, (actor, data, hash)) in events.iter().zip(&rows) {
                        stmt = stmt
                            .bind(event.tenant.as_str())
                            .bind(event.conversation.as_ref().map(ConversationId::as_str))
                            .bind(event.kind())
                            .bind(actor.as_str())
                            .bind(data.as_str())
                            .bind(event.at.millis())
                            .bind(hash.as_str());
                    }
                    stmts.push(stmt);
                }
                Ok((stmts, rows.into_iter().map(|(_, _, hash)| hash).collect()))
            }

            /// The seqs an append's statements returned: the `messages` messages', then the
            /// events' in the order of their `hashes`.
            fn appended_seqs(
                messages: usize,
                hashes: &[String],
                rows: Vec<Vec<<$db as Database>::Row>>,
            ) -> StoreResult<(Vec<i64>, Vec<i64>)> {
                let mut returned = rows.into_iter();
                let mut message_seqs = Vec::with_capacity(messages);
                for _ in 0..messages {
                    let seq = returned
                        .next()
                        .and_then(|rows| rows.into_iter().next())
                        .map(|row| row.try_get::<i64, _>(0))
                        .transpose()?
                        .ok_or_else(|| StoreError::Corrupt("an inserted message's seq did not come back".into()))?;
                    message_seqs.push(seq);
                }
                // RETURNING gives no order: the hashes (unique, each chained to the one before)
                // say which seq is whose; the seqs must rise in the list's order, or the chain
                // would not verify in log order.
                let by_hash: HashMap<String, i64> = returned
                    .next()
                    .unwrap_or_default()
                    .iter()
                    .map(|row| Ok((row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?)))
                    .collect::<Result<_, sqlx::Error>>()?;
                let mut seqs = Vec::with_capacity(hashes.len());
                for hash in hashes {
                    let seq = *by_hash.get(hash).ok_or_else(|| {
                        StoreError::Corrupt("an appended event's row did not come back".into())
                    })?;
                    if seqs.last().is_some_and(|last| *last >= seq) {
                        return Err(StoreError::Corrupt(
                            "appended events were numbered out of order".into(),
                        ));
                    }
                    seqs.push(seq);
                }
                Ok((message_seqs, seqs))
            }

            /// Marks the request's Idempotency-Key committed with its command.
            async fn defer_idempotency(&mut self) -> StoreResult<()> {
                if let Some((scope, key)) = crate::idempotency::current() {
                    let stmt = Stmt::new(
                        "UPDATE idempotency SET status = $3 \
                         WHERE scope = $1 AND idem_key = $2 AND status IS NULL",
                    )
                    .bind(scope)
                    .bind(key)
                    .bind(crate::idempotency::COMMITTED);
                    <$db as Dialect>::defer(&mut self.tx, stmt).await?;
                }
                Ok(())
            }

            /// [`Tx::conversation_for_update`], and `also` run after it in the same round trip
            /// (on SQLite): the rows each of them returned.
            async fn load_for_update(
                &mut self,
                tenant: &TenantId,
                id: &ConversationId,
                also: Vec<Stmt>,
            ) -> StoreResult<Option<(Conversation, Vec<Vec<<$db as Database>::Row>>)>> {
                if !$for_update.is_empty() {
                    // Lock first, then read: a read in the locking statement could see the
                    // chain head and facts of before the transaction it waited for.
                    let locked = sqlx::query(concat!(
                        "SELECT 1 FROM conversations WHERE tenant = $1 AND id = $2",
                        $for_update
                    ))
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                    if locked.is_none() {
                        return Ok(None);
                    }
                }
                // The row, the head of its event chain, its analytics facts, the customer's
                // tier and whether the tenant has any subscription (what appending its events
                // needs next) in one round trip.
                // On SQLite the transaction's savepoint and deferred writes go with it.
                let stmt = Stmt::new(
                    "SELECT c.data, (SELECT e.hash FROM events e WHERE e.tenant = c.tenant \
                     AND e.conversation = c.id ORDER BY e.seq DESC LIMIT 1), f.data, \
                     c.customer_id, cu.tier, EXISTS (SELECT 1 FROM subscriptions s \
                     WHERE s.tenant = c.tenant AND s.enabled = 1) FROM conversations c \
                     LEFT JOIN conversation_facts f ON f.conversation = c.id \
                     LEFT JOIN customers cu ON cu.id = c.customer_id \
                     WHERE c.tenant = $1 AND c.id = $2",
                )
                .bind(tenant.as_str())
                .bind(id.as_str());
                let mut stmts = vec![stmt];
                stmts.extend(also);
                let mut rows = <$db as Dialect>::run(&mut self.tx, stmts).await?.into_iter();
                let loaded = rows.next().unwrap_or_default();
                let row = loaded
                    .first()
                    .map(<(String, Option<String>, Option<String>, Option<String>, Option<String>, bool)>::from_row)
                    .transpose()?;
                let Some((data, head, facts, customer, tier, subscribed)) = row else {
                    return Ok(None);
                };
                let conversation = conversation_from_json(&data)?;
                self.learn(tenant, id, &Seen { data, customer, tier, head, facts, subscribed })?;
                Ok(Some((conversation, rows.collect())))
            }

            /// Checks, locking its row, a conversation adopted whose update did not check it.
            async fn check_adopted(&mut self) -> StoreResult<()> {
                let Some((tenant, id, values)) = self.adopted.take() else {
                    return Ok(());
                };
                let mut stmt = Stmt::new(format!(
                    "SELECT 1 FROM conversations WHERE tenant = $1 AND id = $2 AND {} FOR UPDATE",
                    renumber(ADOPTED, 2)
                ))
                .bind(tenant)
                .bind(id);
                stmt.values.extend(values);
                <$db as Dialect>::defer(&mut self.tx, stmt.or_stale("conversation")).await
            }

            /// Keeps what appending to a conversation needs, as read (locked, or adopted).
            fn learn(&mut self, tenant: &TenantId, id: &ConversationId, seen: &Seen) -> StoreResult<()> {
                self.heads
                    .entry((tenant.to_string(), Some(id.to_string())))
                    .or_insert_with(|| seen.head.clone());
                if !seen.subscribed {
                    // No deliveries to enqueue: spares reading the (no) subscriptions.
                    self.subscriptions.entry(tenant.to_string()).or_default();
                }
                if let Some(facts) = &seen.facts
                    && !self.facts.contains_key(id.as_str())
                {
                    self.facts.insert(
                        id.to_string(),
                        TxFacts {
                            tenant: tenant.to_string(),
                            customer: seen.customer.clone(),
                            tier: seen.tier.clone(),
                            facts: serde_json::from_str(facts)?,
                            dirty: false,
                        },
                    );
                }
                Ok(())
            }

        }

        #[async_trait]
        impl Tx for SqlTx<$db> {
            async fn lock_tenant(&mut self, tenant: &TenantId) -> StoreResult<()> {
                <$db as Dialect>::lock_tenant(&mut self.tx, tenant).await
            }

            async fn routing_lease_held(
                &mut self,
                tenant: &TenantId,
                holder: &str,
                epoch: i64,
            ) -> StoreResult<bool> {
                let found = sqlx::query_scalar::<_, i64>(concat!(
                    "SELECT epoch FROM routing_leases \
                     WHERE tenant = $1 AND holder = $2 AND epoch = $3",
                    $for_share
                ))
                .bind(tenant.as_str())
                .bind(holder)
                .bind(epoch)
                .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(found.is_some())
            }

            async fn lock_key(&mut self, key: &str) -> StoreResult<()> {
                <$db as Dialect>::lock_key(&mut self.tx, key).await
            }

            async fn open_conversation_on(
                &mut self,
                tenant: &TenantId,
                customer: &CustomerId,
                channel: &str,
            ) -> StoreResult<Option<ConversationId>> {
                let id = sqlx::query_scalar::<_, String>(
                    "SELECT id FROM conversations WHERE tenant = $1 AND customer_id = $2 \
                     AND channel = $3 AND state <> 'closed' ORDER BY id DESC LIMIT 1",
                )
                .bind(tenant.as_str())
                .bind(customer.as_str())
                .bind(channel)
                .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                id.map(|id| {
                    ConversationId::parse(id)
                        .map_err(|e| StoreError::Corrupt(format!("conversation id: {e}")))
                })
                .transpose()
            }

            async fn agent_load(&mut self, tenant: &TenantId, agent: &AgentId) -> StoreResult<u32> {
                let n = sqlx::query_scalar::<_, i64>(
                    "SELECT (SELECT COUNT(*) FROM conversations \
                     WHERE tenant = $1 AND assignee = $2 AND state = 'assigned') \
                     + (SELECT COUNT(*) FROM conversations \
                     WHERE tenant = $1 AND offer_agent = $2)",
                )
                .bind(tenant.as_str())
                .bind(agent.as_str())
                .fetch_one(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }

            async fn insert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()> {
                sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(tenant.id.as_str())
                    .bind(&tenant.name)
                    .bind(tenant.created_at.millis())
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await
                    .map_err(conflict("tenant_exists", "a tenant with this id already exists"))?;
                Ok(())
            }

            async fn insert_api_key(&mut self, key: &ApiKey, hash: &str) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO api_keys (id, tenant, name, prefix, hash, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(key.id.as_str())
                .bind(key.tenant.as_str())
                .bind(&key.name)
                .bind(&key.prefix)
                .bind(hash)
                .bind(key.created_at.millis())
                .bind(key.revoked_at.map(Timestamp::millis))
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await
                .map_err(conflict("api_key_exists", "this API key already exists"))?;
                Ok(())
            }

            async fn revoke_api_key(
                &mut self,
                tenant: &TenantId,
                id: &ApiKeyId,
                now: Timestamp,
            ) -> StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 \
                     WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(now.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .rows_affected();
                Ok(n > 0)
            }

            async fn insert_agent(&mut self, agent: &Agent, password_hash: &str) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO agents (id, tenant, email, name, role, status, \
                     status_changed_at, skills, languages, queues, capacity, password_hash, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(agent.id.as_str())
                .bind(agent.tenant.as_str())
                .bind(agent.email.trim().to_ascii_lowercase())
                .bind(&agent.name)
                .bind(agent.role.as_str())
                .bind(agent.status.as_str())
                .bind(agent.status_changed_at.millis())
                .bind(serde_json::to_string(&agent.skills)?)
                .bind(serde_json::to_string(&agent.languages)?)
                .bind(serde_json::to_string(&agent.queues)?)
                .bind(i64::from(agent.capacity))
                .bind(password_hash)
                .bind(agent.created_at.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await
                .map_err(conflict("email_taken", "an account with this email already exists"))?;
                Ok(())
            }

            async fn agent_for_update(
                &mut self,
                tenant: &TenantId,
                id: &AgentId,
            ) -> StoreResult<Option<Agent>> {
                sqlx::query_as::<_, AgentRow>(concat!(
                    "SELECT ",
                    agent_cols!(),
                    " FROM agents WHERE tenant = $1 AND id = $2",
                    $for_update
                ))
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .map(AgentRow::into_model)
                .transpose()
            }

            async fn update_agent(&mut self, agent: &Agent) -> StoreResult<()> {
                let n = sqlx::query(
                    "UPDATE agents SET name = $3, role = $4, status = $5, status_changed_at = $6, \
                     skills = $7, languages = $8, queues = $9, capacity = $10, \
                     deactivated_at = $11 WHERE tenant = $1 AND id = $2",
                )
                .bind(agent.tenant.as_str())
                .bind(agent.id.as_str())
                .bind(&agent.name)
                .bind(agent.role.as_str())
                .bind(agent.status.as_str())
                .bind(agent.status_changed_at.millis())
                .bind(serde_json::to_string(&agent.skills)?)
                .bind(serde_json::to_string(&agent.languages)?)
                .bind(serde_json::to_string(&agent.queues)?)
                .bind(i64::from(agent.capacity))
                .bind(agent.deactivated_at.map(|t| t.millis()))
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(StoreError::NotFound("agent"));
                }
                Ok(())
            }

            async fn set_agent_password(
                &mut self,
                tenant: &TenantId,
                id: &AgentId,
                password_hash: &str,
            ) -> StoreResult<()> {
                let n = sqlx::query(
                    "UPDATE agents SET password_hash = $3 WHERE tenant = $1 AND id = $2",
                )
                .bind(tenant.as_str())
                .bind(id.as_str())
                .bind(password_hash)
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(StoreError::NotFound("agent"));
                }
                Ok(())
            }

            async fn insert_session(&mut self, token_hash: &str, session: &Session) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO sessions (token_hash, tenant, agent, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(session.tenant.as_str())
                .bind(session.agent.as_str())
                .bind(session.expires_at.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await
                .map_err(conflict("session_exists", "this session token already exists"))?;
                Ok(())
            }

            async fn replace_widget_key(&mut self, tenant: &TenantId, key_hash: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM widget_keys WHERE tenant = $1")
                    .bind(tenant.as_str())
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                sqlx::query("INSERT INTO widget_keys (key_hash, tenant) VALUES ($1, $2)")
                    .bind(key_hash)
                    .bind(tenant.as_str())
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                Ok(())
            }

            async fn insert_customer_token(
                &mut self,
                token_hash: &str,
                tenant: &TenantId,
                conversation: &ConversationId,
                expires_at: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO customer_tokens (token_hash, tenant, conversation, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(tenant.as_str())
                .bind(conversation.as_str())
                .bind(expires_at.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(())
            }

            async fn delete_session(&mut self, token_hash: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                Ok(())
            }

            async fn delete_agent_sessions(
                &mut self,
                tenant: &TenantId,
                agent: &AgentId,
            ) -> StoreResult<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE tenant = $1 AND agent = $2")
                    .bind(tenant.as_str())
                    .bind(agent.as_str())
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn upsert_queue(&mut self, queue: &Queue) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO queues (tenant, id, name, skills, languages, strategy, \
                     offer_timeout_secs, settings, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (tenant, id) DO UPDATE SET name = excluded.name, \
                     skills = excluded.skills, languages = excluded.languages, \
                     strategy = excluded.strategy, \
                     offer_timeout_secs = excluded.offer_timeout_secs, \
                     settings = excluded.settings",
                )
                .bind(queue.tenant.as_str())
                .bind(queue.id.as_str())
                .bind(&queue.name)
                .bind(serde_json::to_string(&queue.skills)?)
                .bind(serde_json::to_string(&queue.languages)?)
                .bind(&queue.strategy)
                .bind(i64::from(queue.offer_timeout_secs))
                .bind(serde_json::to_string(&queue.settings)?)
                .bind(queue.created_at.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(())
            }

            async fn delete_queue(&mut self, tenant: &TenantId, id: &QueueId) -> StoreResult<bool> {
                let n = sqlx::query("DELETE FROM queues WHERE tenant = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn customer_by_external_id(
                &mut self,
                tenant: &TenantId,
                external_id: &str,
            ) -> StoreResult<Option<Customer>> {
                sqlx::query_as::<_, CustomerRow>(concat!(
                    "SELECT ",
                    customer_cols!(),
                    " FROM customers WHERE tenant = $1 AND external_id = $2"
                ))
                .bind(tenant.as_str())
                .bind(external_id)
                .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .map(CustomerRow::into_model)
                .transpose()
            }

            async fn customer_for_update(
                &mut self,
                tenant: &TenantId,
                id: &CustomerId,
            ) -> StoreResult<Option<Customer>> {
                sqlx::query_as::<_, CustomerRow>(concat!(
                    "SELECT ",
                    customer_cols!(),
                    " FROM customers WHERE tenant = $1 AND id = $2",
                    $for_update
                ))
                .bind(tenant.as_str())
                .bind(id.as_str())
                .fetch_optional(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .map(CustomerRow::into_model)
                .transpose()
            }

            async fn upsert_customer(&mut self, customer: &Customer) -> StoreResult<()> {
                let n = sqlx::query(
                    "INSERT INTO customers (id, tenant, external_id, name, email, phone, \
                     language, tier, attributes, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (id) DO UPDATE SET external_id = excluded.external_id, \
                     name = excluded.name, email = excluded.email, phone = excluded.phone, \
                     language = excluded.language, tier = excluded.tier, \
                     attributes = excluded.attributes \
                     WHERE customers.tenant = excluded.tenant",
                )
                .bind(customer.id.as_str())
                .bind(customer.tenant.as_str())
                .bind(customer.external_id.as_deref())
                .bind(customer.name.as_deref())
                .bind(customer.email.as_deref())
                .bind(customer.phone.as_deref())
                .bind(customer.language.as_deref())
                .bind(customer.tier.as_deref())
                .bind(serde_json::to_string(&customer.attributes)?)
                .bind(customer.created_at.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await
                .map_err(conflict(
                    "customer_external_id_taken",
                    "another customer of this tenant has this external_id",
                ))?
                .rows_affected();
                if n == 0 {
                    // The id exists in another tenant.
                    return Err(StoreError::NotFound("customer"));
                }
                Ok(())
            }

            async fn insert_conversation(&mut self, conversation: &Conversation) -> StoreResult<()> {
                let c = conversation;
                sqlx::query(
                    "INSERT INTO conversations (tenant, id, customer_id, channel, state, queue, \
                     assignee, priority, version, created_at, updated_at, data, offer_agent, \
                     last_agent, waiting_since) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $7, $14)",
                )
                .bind(c.tenant.as_str())
                .bind(c.id.as_str())
                .bind(c.customer.as_str())
                .bind(&c.channel)
                .bind(c.state.as_str())
                .bind(c.queue.as_ref().map(QueueId::as_str))
                .bind(c.assignee.as_ref().map(AgentId::as_str))
                .bind(i64::from(c.priority))
                .bind(i64::from(c.version))
                .bind(c.created_at.millis())
                .bind(c.updated_at.millis())
                .bind(serde_json::to_string(c)?)
                .bind(c.offer.as_ref().map(|o| o.agent.as_str()))
                .bind(waiting_since(c))
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await
                .map_err(conflict("conversation_exists", "a conversation with this id exists"))?;
                Ok(())
            }

            async fn conversation_for_update(
                &mut self,
                tenant: &TenantId,
                id: &ConversationId,
            ) -> StoreResult<Option<Conversation>> {
                Ok(self.load_for_update(tenant, id, Vec::new()).await?.map(|(c, _)| c))
            }

            async fn adopt(&mut self, read: &ConversationRead) -> StoreResult<bool> {
                let c = &read.conversation;
                let key = (c.tenant.to_string(), Some(c.id.to_string()));
                if self.heads.contains_key(&key) || self.adopted.is_some() {
                    return Ok(false);
                }
                let seen = &read.seen;
                match <$db as Dialect>::ADOPT {
                    Adopt::Guard(guard) => {
                        let stmt = Stmt::new(guard)
                            .bind(c.tenant.as_str())
                            .bind(c.id.as_str())
                            .bind(seen.data.as_str())
                            .bind(seen.head.as_deref())
                            .bind(seen.facts.as_deref())
                            .bind(seen.tier.as_deref())
                            .bind(i64::from(seen.subscribed))
                            .or_stale("conversation");
                        <$db as Dialect>::defer(&mut self.tx, stmt).await?;
                    }
                    Adopt::InUpdate => {
                        let values = vec![
                            Value::from(seen.data.as_str()),
                            Value::from(seen.tier.as_deref()),
                            Value::from(i64::from(seen.subscribed)),
                        ];
                        self.adopted = Some((c.tenant.to_string(), c.id.to_string(), values));
                    }
                }
                self.learn(&c.tenant, &c.id, seen)?;
                Ok(true)
            }

            async fn conversation_for_message(
                &mut self,
                tenant: &TenantId,
                id: &ConversationId,
                external_id: Option<&str>,
            ) -> StoreResult<Option<(Conversation, Option<Message>)>> {
                let also = external_id
                    .map(|ext| {
                        Stmt::new(concat!(
                            "SELECT ",
                            message_cols!(),
                            " FROM messages WHERE tenant = $1 AND external_id = $2"
                        ))
                        .bind(tenant.as_str())
                        .bind(ext)
                    })
                    .into_iter()
                    .collect();
                let Some((conversation, rows)) = self.load_for_update(tenant, id, also).await? else {
                    return Ok(None);
                };
                let message = rows
                    .into_iter()
                    .next()
                    .and_then(|rows| rows.into_iter().next())
                    .map(|row| MessageRow::from_row(&row))
                    .transpose()?
                    .map(MessageRow::into_model)
                    .transpose()?;
                Ok(Some((conversation, message)))
            }

            async fn save_conversation(&mut self, conversation: &Conversation) -> StoreResult<()> {
                let c = conversation;
                let adopted = self
                    .adopted
                    .take_if(|(tenant, id, _)| tenant == c.tenant.as_str() && id == c.id.as_str());
                let sql: Cow<'static, str> = match adopted {
                    None => UPDATE_CONVERSATION.into(),
                    Some(_) => format!("{UPDATE_CONVERSATION} AND {}", renumber(ADOPTED, 11)).into(),
                };
                let mut stmt = Stmt::new(sql)
                    .bind(c.tenant.as_str())
                    .bind(c.id.as_str())
                    .bind(c.state.as_str())
                    .bind(c.queue.as_ref().map(QueueId::as_str))
                    .bind(c.assignee.as_ref().map(AgentId::as_str))
                    .bind(i64::from(c.priority))
                    .bind(i64::from(c.version))
                    .bind(c.updated_at.millis())
                    .bind(serde_json::to_string(c)?)
                    .bind(c.offer.as_ref().map(|o| o.agent.as_str()))
                    .bind(waiting_since(c));
                let stmt = match adopted {
                    None => stmt.or_not_found("conversation"),
                    Some((_, _, values)) => {
                        stmt.values.extend(values);
                        stmt.or_stale("conversation")
                    }
                };
                <$db as Dialect>::defer(&mut self.tx, stmt).await
            }

            async fn recent_messages(
                &mut self,
                tenant: &TenantId,
                conversation: &ConversationId,
                limit: u32,
            ) -> StoreResult<Vec<Message>> {
                oldest_first(
                    sqlx::query_as::<_, MessageRow>(RECENT_MESSAGES)
                        .bind(tenant.as_str())
                        .bind(conversation.as_str())
                        .bind(i64::from(limit))
                        .fetch_all(<$db as Dialect>::conn(&mut self.tx).await?)
                        .await?,
                )
            }

            async fn put_setting(
                &mut self,
                tenant: &TenantId,
                key: &str,
                value: &serde_json::Value,
                now: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO settings (tenant, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant, key) DO UPDATE SET value = excluded.value, \
                     updated_at = excluded.updated_at",
                )
                .bind(tenant.as_str())
                .bind(key)
                .bind(serde_json::to_string(value)?)
                .bind(now.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(())
            }

            async fn put_kb_article(&mut self, article: &KbArticle) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO kb_articles (tenant, id, data, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant, id) DO UPDATE SET data = excluded.data, \
                     updated_at = excluded.updated_at",
                )
                .bind(article.tenant.as_str())
                .bind(&article.id)
                .bind(serde_json::to_string(article)?)
                .bind(article.updated_at.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(())
            }

            async fn insert_kb_article(&mut self, article: &KbArticle) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO kb_articles (tenant, id, data, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant, id) DO NOTHING",
                )
                .bind(article.tenant.as_str())
                .bind(&article.id)
                .bind(serde_json::to_string(article)?)
                .bind(article.updated_at.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_kb_article(&mut self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM kb_articles WHERE tenant = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id)
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn put_subscription(&mut self, sub: &Subscription) -> StoreResult<()> {
                self.subscriptions.remove(sub.tenant.as_str());
                sqlx::query(
                    "INSERT INTO subscriptions (id, tenant, kind, events, channel, config, enabled, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE \
                     SET kind = excluded.kind, events = excluded.events, channel = excluded.channel, \
                     config = excluded.config, enabled = excluded.enabled \
                     WHERE subscriptions.tenant = excluded.tenant",
                )
                .bind(&sub.id)
                .bind(sub.tenant.as_str())
                .bind(sub.kind.as_str())
                .bind(crate::outbox::events_column(&sub.events))
                .bind(sub.channel.as_deref())
                .bind(serde_json::to_string(&sub.config)?)
                .bind(i64::from(sub.enabled))
                .bind(sub.created_at.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(())
            }

            async fn delete_subscription(&mut self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
                self.subscriptions.remove(tenant.as_str());
                sqlx::query(
                    "DELETE FROM deliveries WHERE tenant = $1 AND subscription = $2 \
                     AND state = 'pending'",
                )
                .bind(tenant.as_str())
                .bind(id)
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                let n = sqlx::query("DELETE FROM subscriptions WHERE tenant = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id)
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn attachment_usage(
                &mut self,
                tenant: &TenantId,
                conversation: &ConversationId,
            ) -> StoreResult<(u64, u64)> {
                let (count, bytes) = sqlx::query_as::<_, (i64, i64)>(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM attachments \
                     WHERE tenant = $1 AND conversation = $2",
                )
                .bind(tenant.as_str())
                .bind(conversation.as_str())
                .fetch_one(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok((count.max(0) as u64, bytes.max(0) as u64))
            }

            async fn insert_attachment(
                &mut self,
                a: &crate::Attachment,
                bytes: &[u8],
            ) -> StoreResult<()> {
                sqlx::query(attachments::INSERT_ATTACHMENT)
                    .bind(a.id.as_str())
                    .bind(a.tenant.as_str())
                    .bind(a.conversation.as_str())
                    .bind(a.message.as_str())
                    .bind(serde_json::to_string(&a.uploader)?)
                    .bind(&a.filename)
                    .bind(&a.content_type)
                    .bind(i64::try_from(a.size).map_err(|_| {
                        StoreError::InvalidInput(format!("attachment of {} bytes", a.size))
                    })?)
                    .bind(&a.sha256)
                    .bind(bytes)
                    .bind(a.created_at.millis())
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                Ok(())
            }

            async fn tenant_agents(&mut self, tenant: &TenantId) -> StoreResult<Vec<Agent>> {
                sqlx::query_as::<_, AgentRow>(concat!(
                    "SELECT ",
                    agent_cols!(),
                    " FROM agents WHERE tenant = $1 ORDER BY id"
                ))
                .bind(tenant.as_str())
                .fetch_all(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .into_iter()
                .map(AgentRow::into_model)
                .collect()
            }

            async fn tenant_queues(&mut self, tenant: &TenantId) -> StoreResult<Vec<Queue>> {
                sqlx::query_as::<_, QueueRow>(concat!(
                    "SELECT ",
                    queue_cols!(),
                    " FROM queues WHERE tenant = $1 ORDER BY id"
                ))
                .bind(tenant.as_str())
                .fetch_all(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?
                .into_iter()
                .map(QueueRow::into_model)
                .collect()
            }

            async fn put_routing_memory(
                &mut self,
                tenant: &TenantId,
                memory_json: &str,
                now: Timestamp,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO routing_memory (tenant, data, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (tenant) DO UPDATE SET data = excluded.data, \
                     updated_at = excluded.updated_at",
                )
                .bind(tenant.as_str())
                .bind(memory_json)
                .bind(now.millis())
                .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                .await?;
                Ok(())
            }

            async fn take_timer(&mut self, tenant: &TenantId, kind: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM timers WHERE tenant = $1 AND kind = $2")
                    .bind(tenant.as_str())
                    .bind(kind)
                    .execute(<$db as Dialect>::conn(&mut self.tx).await?)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_timer(
                &mut self,
                tenant: &TenantId,
                kind: &str,
                due: Option<Timestamp>,
            ) -> StoreResult<()> {
                let stmt = match due {
                    Some(due) => Stmt::new(
                        "INSERT INTO timers (tenant, kind, due_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, kind) DO UPDATE SET due_at = excluded.due_at",
                    )
                    .bind(tenant.as_str())
                    .bind(kind)
                    .bind(due.millis()),
                    None => Stmt::new("DELETE FROM timers WHERE tenant = $1 AND kind = $2")
                        .bind(tenant.as_str())
                        .bind(kind),
                };
                <$db as Dialect>::defer(&mut self.tx, stmt).await
            }

            async fn append_event(&mut self, event: &NewEvent) -> StoreResult<StoredEvent> {
                let mut stored = self.append_events(std::slice::from_ref(event)).await?;
                Ok(stored.pop().expect("one event in, one out"))
            }

            async fn append(
                &mut self,
                messages: &mut [Message],
                events: &[NewEvent],
            ) -> StoreResult<Vec<StoredEvent>> {
                if events.is_empty() && messages.is_empty() {
                    return Ok(Vec::new());
                }
                let (stmts, hashes) = self.append_stmts(messages, events).await?;
                let rows = <$db as Dialect>::run(&mut self.tx, stmts).await?;
                let (message_seqs, seqs) = Self::appended_seqs(messages.len(), &hashes, rows)?;
                for (m, seq) in messages.iter_mut().zip(message_seqs) {
                    m.seq = seq;
                }
                let stored = stored_events(events, &seqs);
                for (event, seq) in events.iter().zip(seqs) {
                    if let Some(c) = event.conversation.as_ref() {
                        let channel = self
                            .facts
                            .get(c.as_str())
                            .map(|f| f.facts.channel.clone())
                            .unwrap_or_default();
                        self.enqueue_deliveries(seq, event, &channel).await?;
                    }
                }
                self.events.extend(stored.iter().cloned());
                Ok(stored)
            }

            async fn append_and_commit(
                mut self: Box<Self>,
                messages: &mut [Message],
                events: &[NewEvent],
            ) -> StoreResult<Vec<StoredEvent>> {
                // Deliveries need the events' seqs before they are written: with a subscription
                // that may want them (or none known), the append goes first.
                let quiet = events.iter().all(|e| {
                    e.conversation.is_none()
                        || self.subscriptions.get(e.tenant.as_str()).is_some_and(Vec::is_empty)
                });
                if !quiet {
                    let stored = self.append(messages, events).await?;
                    self.commit().await?;
                    return Ok(stored);
                }
                let (stmts, hashes) = self.append_stmts(messages, events).await?;
                self.check_adopted().await?;
                self.flush_facts().await?;
                self.defer_idempotency().await?;
                let count = messages.len();
                let SqlTx { tx, events: before, shared, .. } = *self;
                // Owned: on SQLite the transaction may be sent whole by another task.
                let events = events.to_vec();
                let (message_seqs, stored) = <$db as Dialect>::run_and_commit(tx, stmts, &shared, move |rows| {
                    let (message_seqs, seqs) = Self::appended_seqs(count, &hashes, rows)?;
                    let stored = stored_events(&events, &seqs);
                    let mut all = before;
                    all.extend(stored.iter().cloned());
                    Ok((all, (message_seqs, stored)))
                })
                .await?;
                for (m, seq) in messages.iter_mut().zip(message_seqs) {
                    m.seq = seq;
                }
                Ok(stored)
            }

            async fn commit(mut self: Box<Self>) -> StoreResult<()> {
                self.check_adopted().await?;
                self.flush_facts().await?;
                // The request's Idempotency-Key commits with its command.
                self.defer_idempotency().await?;
                let SqlTx { tx, events, shared, .. } = *self;
                <$db as Dialect>::commit(tx, events, &shared).await
            }
        }
    };
}

log_backend!(Sqlite, for_update = "");
log_backend!(Postgres, for_update = " FOR UPDATE");
outbox_backend!(Sqlite, skip_locked = "");
outbox_backend!(Postgres, skip_locked = " FOR UPDATE SKIP LOCKED");
reports_backend!(Sqlite);
reports_backend!(Postgres);

sql_backend!(
    Sqlite,
    backend = Backend::Sqlite,
    for_update = "",
    for_share = "",
    skip_locked = ""
);
sql_backend!(
    Postgres,
    backend = Backend::Postgres,
    for_update = " FOR UPDATE",
    for_share = " FOR SHARE",
    skip_locked = " FOR UPDATE SKIP LOCKED"
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled SQLite is built with the options `.cargo/config.toml` gives it: the query
    /// planner stability guarantee (without it, every run of a statement with a bound `LIMIT`
    /// is prepared again), no allocation counting under a process-wide mutex, and a page cache
    /// per connection (not one under a process-wide mutex).
    #[tokio::test]
    async fn sqlite_is_built_with_our_options() {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "ENABLE_QPSG"),
            "SQLite was built without SQLITE_ENABLE_QPSG: {options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "SQLite counts allocations: {options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "SQLite's connections share one page cache: {options:?}"
        );
    }

    fn event(seq: i64, text_len: usize) -> StoredEvent {
        StoredEvent {
            seq,
            tenant: TenantId::with_suffix("t"),
            conversation: None,
            actor: baton_core::Actor::System,
            body: EventBody::record("note", serde_json::json!({ "text": "x".repeat(text_len) })),
            at: Timestamp::from_millis(seq),
        }
    }

    /// A conversation event crosses NOTIFY typed, as it went in; a tenant-wide record as its
    /// JSON; a conversation event this version cannot read as a record, not an error.
    #[test]
    fn notified_events_keep_their_type() {
        let conversation = Some(ConversationId::with_suffix("c"));
        let closed = StoredEvent {
            conversation: conversation.clone(),
            body: EventBody::Conversation(baton_core::conversation::EventKind::Closed {
                resolution: Some("solved".into()),
            }),
            ..event(1, 3)
        };
        let unknown = StoredEvent {
            conversation,
            body: EventBody::record("from_a_later_version", serde_json::json!({"x": 1})),
            ..event(2, 3)
        };
        let events = vec![closed, event(3, 3), unknown];
        let payloads = notify_payloads(&events).unwrap();
        let [payload] = payloads.as_slice() else {
            panic!("one payload: {payloads:?}")
        };
        let Notified::Events(got) = Notified::parse(payload) else {
            panic!("carried whole: {payload}")
        };
        assert_eq!(got, events);
        assert!(matches!(
            got[0].event(),
            Some(baton_core::conversation::EventKind::Closed { .. })
        ));
        assert_eq!(got[2].kind(), "from_a_later_version");
        assert_eq!(got[2].event(), None);
    }

    /// Every payload fits PostgreSQL's limit, and reading them back in order gives every event
    /// in order: small ones carried whole, big ones by seq.
    #[test]
    fn notify_payloads_fit_and_keep_order() {
        let sizes = [10, 20, 9_000, 3_000, 3_000, 3_000, 12_000, 15_000, 5];
        let events: Vec<StoredEvent> = sizes
            .iter()
            .enumerate()
            .map(|(i, n)| event(i as i64 + 1, *n))
            .collect();
        let payloads = notify_payloads(&events).unwrap();
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let mut seen = Vec::new();
        for p in &payloads {
            match Notified::parse(p) {
                Notified::Events(es) => seen.extend(es.into_iter().map(|e| (e.seq, true))),
                Notified::Seqs(ss) => seen.extend(ss.into_iter().map(|s| (s, false))),
            }
        }
        let expected: Vec<(i64, bool)> = sizes
            .iter()
            .enumerate()
            .map(|(i, n)| (i as i64 + 1, *n < 7_000))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(payloads.len(), 6, "[1,2] 3 [4,5] [6] 7,8 [9]: {payloads:?}");
        assert!(notify_payloads(&[]).unwrap().is_empty());
    }
}
