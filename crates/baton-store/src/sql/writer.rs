//! SQLite's one writer, with group commit.
//!
//! SQLite lets one connection write at a time. All of this process's writes go through one
//! connection kept for them, one transaction after another, first come first served (a fair
//! queue, not SQLite's busy handler polling with sleeps). A write transaction is a savepoint
//! inside a *batch* transaction: when it commits, its savepoint is released, and the batch
//! commits (one fsync) as soon as no other writer is waiting for its turn; while writers are
//! queued, the ones that finish hand the open batch on and a committer task takes its place in
//! the queue, so transactions that arrive together share one commit. Each transaction is
//! acknowledged only once the commit that holds it is durable, and its events are published
//! after that commit, in commit order. A transaction that ends without committing is rolled back
//! to its savepoint; one that fails the batch (a failed `RELEASE` or `COMMIT`) fails every
//! transaction in it, none of which was acknowledged.

use crate::live::LiveHub;
use crate::model::{StoredEvent, WriterStats};
use crate::{StoreError, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::{Pool, Sqlite, SqliteConnection};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot};

/// The writer shared by a store and its transactions.
#[derive(Debug, Default)]
pub(super) struct Writer {
    state: Arc<Mutex<State>>,
    /// Writers waiting for their turn (the committer included).
    waiting: AtomicUsize,
    /// Wakes the committer: a batch was handed on, or a transaction ended without committing.
    wake: Notify,
    /// What it has done so far.
    stats: Counters,
}

/// [`WriterStats`] as they are counted.
#[derive(Debug, Default)]
struct Counters {
    transactions: AtomicU64,
    commits: AtomicU64,
    held_nanos: AtomicU64,
    commit_nanos: AtomicU64,
}

impl Counters {
    fn add_time(counter: &AtomicU64, since: Instant) {
        let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        counter.fetch_add(nanos, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
struct State {
    /// The connection kept for writes (taken from the pool on first use).
    conn: Option<PoolConnection<Sqlite>>,
    /// A batch transaction is open (`BEGIN IMMEDIATE` ran, `COMMIT` has not).
    open: bool,
    /// A transaction's savepoint is open: it is running, or it ended without committing.
    savepoint: bool,
    /// Transactions released into the open batch, waiting for its commit.
    members: Vec<Member>,
}

#[derive(Debug)]
struct Member {
    events: Vec<StoredEvent>,
    done: oneshot::Sender<Result<(), String>>,
}

/// One write transaction's turn: the writer's connection, inside the open batch.
pub(super) struct Turn {
    guard: Option<OwnedMutexGuard<State>>,
    writer: Arc<Writer>,
    /// When it got the writer.
    started: Instant,
}

impl std::ops::Deref for Turn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        let state = self
            .guard
            .as_ref()
            .expect("a turn holds the writer until it ends");
        state
            .conn
            .as_ref()
            .expect("a turn's connection is taken before it starts")
    }
}

impl std::ops::DerefMut for Turn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        let state = self
            .guard
            .as_mut()
            .expect("a turn holds the writer until it ends");
        state
            .conn
            .as_mut()
            .expect("a turn's connection is taken before it starts")
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.guard.take().is_some() {
            Counters::add_time(&self.writer.stats.held_nanos, self.started);
            // Ended without committing: its savepoint is still open. The next writer, or the
            // committer, rolls it back (and commits the batch's other transactions).
            self.writer.wake.notify_one();
        }
    }
}

impl Writer {
    /// Waits for the writer, counted among the waiting while it waits.
    async fn lock(&self) -> OwnedMutexGuard<State> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        self.state.clone().lock_owned().await
    }

    /// What it has done since the store opened.
    pub(super) fn stats(&self) -> WriterStats {
        let seconds = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64 / 1e9;
        WriterStats {
            transactions: self.stats.transactions.load(Ordering::Relaxed),
            commits: self.stats.commits.load(Ordering::Relaxed),
            held_seconds: seconds(&self.stats.held_nanos),
            commit_seconds: seconds(&self.stats.commit_nanos),
        }
    }

    /// Starts a write transaction once it is this writer's turn.
    pub(super) async fn begin(self: &Arc<Self>, pool: &Pool<Sqlite>) -> StoreResult<Turn> {
        let mut state = self.lock().await;
        let started = Instant::now();
        if state.conn.is_none() {
            state.conn = Some(pool.acquire().await?);
        }
        state.settle().await?;
        if !state.open {
            state.execute("BEGIN IMMEDIATE").await?;
            state.open = true;
        }
        if let Err(e) = state.execute("SAVEPOINT baton_tx").await {
            Counters::add_time(&self.stats.held_nanos, started);
            // The committer closes the batch (and commits any transactions waiting in it).
            self.wake.notify_one();
            return Err(e);
        }
        state.savepoint = true;
        Ok(Turn {
            guard: Some(state),
            writer: self.clone(),
            started,
        })
    }

    /// Commits `turn`'s transaction with its batch and publishes `events` once durable.
    pub(super) async fn commit(
        &self,
        mut turn: Turn,
        events: Vec<StoredEvent>,
        hub: &LiveHub,
    ) -> StoreResult<()> {
        // Released through the turn: if this future is dropped meanwhile, the turn's drop still
        // wakes the committer.
        let released = sqlx::raw_sql("RELEASE baton_tx").execute(&mut *turn).await;
        let mut state = turn
            .guard
            .take()
            .expect("a turn holds the writer until it ends");
        Counters::add_time(&self.stats.held_nanos, turn.started);
        if let Err(e) = released {
            let e = StoreError::from(e);
            state.fail(&e).await;
            return Err(e);
        }
        state.savepoint = false;
        let (done, outcome) = oneshot::channel();
        state.members.push(Member { events, done });
        if self.waiting.load(Ordering::SeqCst) == 0 {
            // In a task of its own: a caller that gives up waiting must not cut a commit short.
            let hub = hub.clone();
            let writer = turn.writer.clone();
            tokio::spawn(async move {
                let mut state = state;
                state.commit(&hub, &writer.stats).await;
            });
        } else {
            // Others are queued: they join this batch; the committer queues behind them.
            self.wake.notify_one();
            drop(state);
        }
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Database(sqlx::Error::Protocol(message))),
            Err(_) => Err(StoreError::Database(sqlx::Error::Protocol(
                "the SQLite writer stopped before committing".into(),
            ))),
        }
    }

    /// The committer: whenever woken, takes its turn like any writer, rolls back what was
    /// left unfinished and commits the open batch.
    pub(super) async fn run_committer(self: Arc<Self>, hub: LiveHub) {
        loop {
            self.wake.notified().await;
            let mut state = self.lock().await;
            if state.settle().await.is_ok() && state.open {
                state.commit(&hub, &self.stats).await;
            }
        }
    }
}

impl State {
    fn conn(&mut self) -> StoreResult<&mut SqliteConnection> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Corrupt("the SQLite writer has no connection".into()))
    }

    async fn execute(&mut self, sql: &'static str) -> StoreResult<()> {
        sqlx::raw_sql(sql).execute(self.conn()?).await?;
        Ok(())
    }

    /// Rolls back a savepoint left open by a transaction that ended without committing.
    async fn settle(&mut self) -> StoreResult<()> {
        if !self.savepoint {
            return Ok(());
        }
        let undone = match self.execute("ROLLBACK TO baton_tx").await {
            Ok(()) => self.execute("RELEASE baton_tx").await,
            // Its commit was abandoned after the savepoint was released: what it wrote is part
            // of the batch, like a commit whose answer was lost.
            Err(e) if e.to_string().contains("no such savepoint") => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = undone {
            self.fail(&e).await;
            return Err(e);
        }
        self.savepoint = false;
        Ok(())
    }

    /// Commits the open batch; on success publishes its events in order and acknowledges
    /// its transactions, else fails them all.
    async fn commit(&mut self, hub: &LiveHub, stats: &Counters) {
        if !self.open {
            return;
        }
        let started = Instant::now();
        let committed = self.execute("COMMIT").await;
        Counters::add_time(&stats.commit_nanos, started);
        match committed {
            Ok(()) => {
                self.open = false;
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats
                    .transactions
                    .fetch_add(self.members.len() as u64, Ordering::Relaxed);
                for member in self.members.drain(..) {
                    hub.publish(member.events);
                    let _ = member.done.send(Ok(()));
                }
            }
            Err(e) => self.fail(&e).await,
        }
    }

    /// Abandons the open batch: rolls it back and fails every transaction in it.
    async fn fail(&mut self, error: &StoreError) {
        tracing::error!(%error, "SQLite write batch failed; its transactions are rolled back");
        if self.open {
            let _ = self.execute("ROLLBACK").await;
        }
        self.open = false;
        self.savepoint = false;
        let message = format!("the write batch failed: {error}");
        for member in self.members.drain(..) {
            let _ = member.done.send(Err(message.clone()));
        }
    }
}
