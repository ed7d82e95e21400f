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
//!
//! A transaction's statements are round trips to the connection's thread, and those cost more
//! than SQLite's own work; so the savepoint that opens a transaction and the writes it defers
//! ([`Turn::defer`]) travel in front of its next statement, and its last deferred writes with
//! its `RELEASE`. A transaction waits for its turn only when it first sends something; one that
//! sends nothing before its commit is handed over whole ([`Writer::run_and_commit`]), and
//! whoever holds the writer next sends all transactions queued so in one round trip, behind the
//! batch's `BEGIN` if none is open and, when the writer is not busy (no other writer waits for
//! its turn, and the last commit held one transaction), followed by its `COMMIT`: a message that
//! reaches an idle writer is begun, written and committed in one round trip. (That task is
//! spawned and runs to its end: a commit sent by a caller that may give up waiting would leave
//! the batch's state unknown.)

use super::statement::{Stmt, Value, renumber};
use crate::live::LiveHub;
use crate::model::{StoredEvent, WriterStats};
use crate::{StoreError, StoreResult};
use futures::TryStreamExt as _;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments as _, AssertSqlSafe, Either, Executor as _, Pool, Sqlite, SqliteConnection};
use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot};

/// How the writer's connection is set up when the writer takes it.
///
/// `temp_store = MEMORY`: each transaction is a savepoint, and SQLite copies a page's original
/// content to the savepoint's sub-journal when the transaction first changes it; past 64 KiB the
/// sub-journal spills to a temporary file, created, written and deleted for each transaction. A
/// customer message changes more than that (message, its full-text index, events, the
/// conversation, its facts), so under load those file writes were 22 % of the writer thread's
/// time (`perf`, BENCHMARKS.md). In memory, a sub-journal costs what the transaction changed,
/// and is freed at its release. Only the writer's connection: readers' sorts keep spilling to
/// disk.
///
/// `cache_size = -2000`: SQLite's default page cache (2 MB), which the pool's readers get
/// less of.
///
/// The guards' table: its check fails a guard.
const SETUP: &str = "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -2000; \
     CREATE TEMP TABLE IF NOT EXISTS baton_changed \
     (id INTEGER PRIMARY KEY, n INTEGER NOT NULL CHECK (n > 0))";

/// Fails (a CHECK constraint) when the statement before it changed no row.
const GUARD: &str = "INSERT OR REPLACE INTO temp.baton_changed (id, n) VALUES (1, changes())";

/// Changes a row (in the guards' table) only if a conversation is as a transaction read it
/// outside itself: its row, the hash of its last event, its facts, its customer's tier and
/// whether its tenant has subscriptions (`$1`..`$7`, see `Dialect::READ_GUARD`).
pub(super) const READ_GUARD: &str = "INSERT OR REPLACE INTO temp.baton_changed (id, n) \
     SELECT 2, 1 FROM conversations c WHERE c.tenant = $1 AND c.id = $2 AND c.data = $3 \
     AND (SELECT e.hash FROM events e WHERE e.tenant = c.tenant AND e.conversation = c.id \
     ORDER BY e.seq DESC LIMIT 1) IS $4 \
     AND (SELECT f.data FROM conversation_facts f WHERE f.conversation = c.id) IS $5 \
     AND (SELECT cu.tier FROM customers cu WHERE cu.id = c.customer_id) IS $6 \
     AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.tenant = c.tenant AND s.enabled = 1) \
     = $7";

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
    /// Transactions handed over whole ([`Writer::run_and_commit`] of a transaction that never
    /// took its turn): whoever holds the writer next sends all of them in one round trip.
    jobs: std::sync::Mutex<Vec<Job>>,
}

/// What a whole transaction's rows make: the events to publish once durable, and the answer.
type Publish = Box<
    dyn FnOnce(Vec<Vec<SqliteRow>>) -> StoreResult<(Vec<StoredEvent>, Box<dyn Any + Send>)> + Send,
>;

/// The answer to a whole transaction once released into the batch: what `publish` answered,
/// and the batch's commit.
type Released = StoreResult<(Box<dyn Any + Send>, oneshot::Receiver<Result<(), String>>)>;

/// A transaction handed over whole.
struct Job {
    /// Its statements: its savepoint, its writes, its release.
    stmts: Vec<Stmt>,
    /// Those whose rows `publish` takes.
    rows: std::ops::Range<usize>,
    publish: Publish,
    released: oneshot::Sender<Released>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("stmts", &self.stmts.len())
            .finish_non_exhaustive()
    }
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
    /// How many transactions the last commit held.
    last_batch: usize,
}

#[derive(Debug)]
struct Member {
    events: Vec<StoredEvent>,
    done: oneshot::Sender<Result<(), String>>,
}

/// One write transaction: its turn at the writer's connection, inside the open batch.
///
/// Unless begun `eager`, a transaction waits for its turn only when it first needs the
/// connection (its first statement that returns rows, or its commit): what it computes before
/// that, and the writes it defers, do not hold the writer.
pub(super) struct Turn {
    /// The writer, once this transaction's turn came.
    guard: Option<OwnedMutexGuard<State>>,
    writer: Arc<Writer>,
    pool: Pool<Sqlite>,
    /// When it got the writer.
    started: Instant,
    /// Statements not sent yet (its savepoint, its deferred writes): they go in front of its
    /// next statement.
    deferred: Vec<Stmt>,
}

/// The connection itself, for transactions that defer nothing (begun with `eager`): a
/// statement sent past deferred ones would overtake them.
impl std::ops::Deref for Turn {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        debug_assert!(self.deferred.is_empty(), "deferred statements not sent");
        self.guard
            .as_ref()
            .expect("an eager transaction holds the writer until it ends")
            .conn
            .as_ref()
            .expect("a turn's connection is taken before it starts")
    }
}

impl std::ops::DerefMut for Turn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        debug_assert!(self.deferred.is_empty(), "deferred statements not sent");
        self.guard
            .as_mut()
            .expect("an eager transaction holds the writer until it ends")
            .conn
            .as_mut()
            .expect("a turn's connection is taken before it starts")
    }
}

impl Turn {
    /// The writer's state, once it is this transaction's turn (waits for it the first time).
    async fn state(&mut self) -> StoreResult<&mut State> {
        if self.guard.is_none() {
            let state = self.writer.turn(&self.pool).await?;
            self.started = Instant::now();
            self.guard = Some(state);
        }
        Ok(self
            .guard
            .as_mut()
            .expect("a turn holds the writer until it ends"))
    }

    /// Defers a write: it is sent in front of the transaction's next statement, or with its
    /// commit, and its outcome checked then.
    pub(super) fn defer(&mut self, stmt: Stmt) {
        self.deferred.push(stmt);
    }

    /// The connection, once the deferred statements are sent.
    pub(super) async fn conn(&mut self) -> StoreResult<&mut SqliteConnection> {
        self.run(Vec::new()).await?;
        self.state().await?.conn()
    }

    /// Sends the deferred statements and then `stmts`, in one round trip; returns the rows of
    /// each of `stmts`.
    pub(super) async fn run(&mut self, stmts: Vec<Stmt>) -> StoreResult<Vec<Vec<SqliteRow>>> {
        if self.deferred.is_empty() && stmts.is_empty() {
            return Ok(Vec::new());
        }
        let mut all = std::mem::take(&mut self.deferred);
        let sent = all.len();
        all.extend(stmts);
        let outcomes = self
            .state()
            .await?
            .send(&mut all)
            .await
            .map_err(|(_, e)| e)?;
        let mut rows = Vec::with_capacity(all.len() - sent);
        for (i, (stmt, (changed, returned))) in all.iter().zip(outcomes).enumerate() {
            stmt.check(changed)?;
            if i >= sent {
                rows.push(returned);
            }
        }
        Ok(rows)
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

    /// Starts a write transaction. If `eager`, once it is this writer's turn, its savepoint
    /// open; else at once, its savepoint deferred: it waits for its turn at its first
    /// statement, and its savepoint goes with that statement.
    pub(super) async fn begin(
        self: &Arc<Self>,
        pool: &Pool<Sqlite>,
        eager: bool,
    ) -> StoreResult<Turn> {
        let mut turn = Turn {
            guard: None,
            writer: self.clone(),
            pool: pool.clone(),
            started: Instant::now(),
            deferred: Vec::new(),
        };
        if eager {
            let state = turn.state().await?;
            // On failure, dropping the turn wakes the committer, which closes the batch (and
            // commits any transactions waiting in it).
            state.execute("SAVEPOINT baton_tx").await?;
        } else {
            turn.deferred.push(Stmt::new("SAVEPOINT baton_tx"));
        }
        Ok(turn)
    }

    /// Waits for this writer's turn, in the open batch (begun if none is); its transaction's
    /// savepoint counts as open from now on (sent at once or deferred).
    async fn turn(&self, pool: &Pool<Sqlite>) -> StoreResult<OwnedMutexGuard<State>> {
        let mut state = self.lock().await;
        state.prepare(pool).await?;
        state.savepoint = true;
        Ok(state)
    }

    /// Commits `turn`'s transaction with its batch and publishes `events` once durable.
    pub(super) async fn commit(
        &self,
        turn: Turn,
        events: Vec<StoredEvent>,
        hub: &LiveHub,
    ) -> StoreResult<()> {
        self.run_and_commit(turn, Vec::new(), hub, |_| Ok((events, ())))
            .await
    }

    /// Runs `last` after the deferred writes, then commits `turn`'s transaction with its batch,
    /// all of it sent with the release in one round trip; `publish` makes the events to
    /// publish once durable from the rows each of `last` returned (and what to answer with).
    pub(super) async fn run_and_commit<T: Send + 'static>(
        &self,
        mut turn: Turn,
        last: Vec<Stmt>,
        hub: &LiveHub,
        publish: impl FnOnce(Vec<Vec<SqliteRow>>) -> StoreResult<(Vec<StoredEvent>, T)> + Send + 'static,
    ) -> StoreResult<T> {
        if turn.guard.is_none() && last.is_empty() && turn.deferred.len() <= 1 {
            // It wrote nothing (its deferred savepoint aside): nothing to commit.
            let (events, answer) = publish(Vec::new())?;
            if !events.is_empty() {
                hub.publish(events);
            }
            return Ok(answer);
        }
        if turn.guard.is_none() {
            // It never needed the writer before: it goes whole, with the others queued.
            let mut stmts = std::mem::take(&mut turn.deferred);
            let first = stmts.len();
            stmts.extend(last);
            let rows = first..stmts.len();
            stmts.push(Stmt::new("RELEASE baton_tx"));
            let (writer, pool) = (turn.writer.clone(), turn.pool.clone());
            drop(turn);
            let (released, answer) = oneshot::channel();
            let job = Job {
                stmts,
                rows,
                publish: Box::new(move |rows| {
                    publish(rows).map(|(events, t)| (events, Box::new(t) as Box<dyn Any + Send>))
                }),
                released,
            };
            // In a task of its own: a caller that gives up waiting must not leave the queue
            // unsent or a batch half sent.
            let hub = hub.clone();
            tokio::spawn(async move { writer.submit(job, &pool, &hub).await });
            let (answer, durable) = answer.await.map_err(|_| stopped())??;
            durable_outcome(durable.await)?;
            return Ok(*answer
                .downcast::<T>()
                .expect("a job answers what its publish made"));
        }
        // Sent through the turn: if this future is dropped meanwhile, the turn's drop still
        // wakes the committer.
        let mut stmts = std::mem::take(&mut turn.deferred);
        let first = stmts.len();
        stmts.extend(last);
        let release = stmts.len();
        stmts.push(Stmt::new("RELEASE baton_tx"));
        // Its commit is not sent with it: this future may be dropped while the query runs,
        // and a commit cut short would leave the batch's state unknown.
        let released = match turn.state().await?.send(&mut stmts).await {
            // A write failed before the release (a guard included): the transaction ends
            // without committing, its savepoint still open (rolled back by the next writer, or
            // the committer).
            Err((failed, e)) if failed < release => return Err(e),
            Err((_, e)) => Err(e),
            Ok(mut outcomes) => {
                outcomes.truncate(release);
                publish(outcomes.drain(first..).map(|(_, rows)| rows).collect())
            }
        };
        let mut state = turn
            .guard
            .take()
            .expect("a turn holds the writer until it ends");
        Counters::add_time(&self.stats.held_nanos, turn.started);
        let (events, answer) = match released {
            Ok(made) => made,
            // Released (or failed releasing), so it cannot be undone alone.
            Err(e) => {
                state.fail(&e).await;
                return Err(e);
            }
        };
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
        durable_outcome(outcome.await)?;
        Ok(answer)
    }

    /// Queues a whole transaction and sends the queue, once it is this writer's turn (unless
    /// the writer's holder took the job first): all queued transactions in one round trip,
    /// each in its savepoint. Each job is answered once released into the batch.
    async fn submit(self: &Arc<Self>, job: Job, pool: &Pool<Sqlite>, hub: &LiveHub) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job);
        let mut state = self.lock().await;
        let started = Instant::now();
        let mut sent = false;
        loop {
            let jobs: VecDeque<Job> =
                std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|e| e.into_inner())).into();
            if jobs.is_empty() {
                break;
            }
            sent = true;
            state.run_jobs(jobs, pool, self, hub).await;
        }
        Counters::add_time(&self.stats.held_nanos, started);
        if !sent || state.members.is_empty() || !state.open {
            return;
        }
        if self.waiting.load(Ordering::SeqCst) == 0 {
            let hub = hub.clone();
            let writer = self.clone();
            tokio::spawn(async move {
                let mut state = state;
                state.commit(&hub, &writer.stats).await;
            });
        } else {
            self.wake.notify_one();
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

/// Answers every job with `error`: none of them ran.
fn answer_all(jobs: VecDeque<Job>, error: &StoreError) {
    let message = error.to_string();
    for job in jobs {
        let _ = job
            .released
            .send(Err(StoreError::Database(sqlx::Error::Protocol(
                message.clone(),
            ))));
    }
}

/// What the wait for a batch's commit says.
fn durable_outcome(
    outcome: Result<Result<(), String>, oneshot::error::RecvError>,
) -> StoreResult<()> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(StoreError::Database(sqlx::Error::Protocol(message))),
        Err(_) => Err(stopped()),
    }
}

fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "the SQLite writer stopped before committing".into(),
    ))
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

    /// Runs `stmts` in order as one query (one round trip to the connection's thread); returns
    /// what each changed and the rows it returned, or the index of the one that failed (those
    /// after it did not run). A statement that must change a row is followed by a guard that
    /// fails when it changed none, so that what follows it (a `RELEASE`) does not run. The
    /// statements' values are moved into the query (the statements are kept for what a
    /// failure means).
    async fn send(
        &mut self,
        stmts: &mut [Stmt],
    ) -> Result<Vec<(u64, Vec<SqliteRow>)>, (usize, StoreError)> {
        match self.send_partly(stmts).await {
            (outcomes, None) => Ok(outcomes),
            (_, Some(failed)) => Err(failed),
        }
    }

    /// [`State::send`], with the outcomes of the statements that ran before a failure.
    async fn send_partly(
        &mut self,
        stmts: &mut [Stmt],
    ) -> (Vec<(u64, Vec<SqliteRow>)>, Option<(usize, StoreError)>) {
        let mut sql = String::new();
        let mut args = SqliteArguments::default();
        // For each statement sent: the index of the `Stmt` it is, and whether it is its guard.
        let mut sent = Vec::with_capacity(stmts.len());
        for (i, stmt) in stmts.iter_mut().enumerate() {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(&renumber(&stmt.sql, args.len()));
            sent.push((i, false));
            for value in std::mem::take(&mut stmt.values) {
                let added = match value {
                    Value::Text(v) => args.add(v),
                    Value::Int(v) => args.add(v),
                };
                if let Err(e) = added {
                    return (
                        Vec::new(),
                        Some((i, StoreError::Database(sqlx::Error::Encode(e)))),
                    );
                }
            }
            if stmt.must_change.is_some() {
                sql.push_str(";\n");
                sql.push_str(GUARD);
                sent.push((i, true));
            }
        }
        let conn = match self.conn() {
            Ok(conn) => conn,
            Err(e) => return (Vec::new(), Some((0, e))),
        };
        let mut outcomes = Vec::with_capacity(stmts.len());
        let mut rows = Vec::new();
        let mut answered = 0;
        let mut stream = conn.fetch_many(sqlx::query_with(AssertSqlSafe(sql), args));
        loop {
            match stream.try_next().await {
                Ok(Some(Either::Left(done))) => {
                    if !sent.get(answered).is_some_and(|(_, guard)| *guard) {
                        outcomes.push((done.rows_affected(), std::mem::take(&mut rows)));
                    }
                    answered += 1;
                }
                Ok(Some(Either::Right(row))) => rows.push(row),
                Ok(None) => break,
                Err(e) => {
                    let Some(&(failed, guard)) = sent.get(answered) else {
                        return (outcomes, Some((stmts.len() - 1, StoreError::Database(e))));
                    };
                    let stmt = &stmts[failed];
                    // A guard fails after its statement ran: that outcome is not the caller's.
                    outcomes.truncate(failed);
                    let error = match (guard, stmt.must_change) {
                        (true, Some(unchanged)) => unchanged.error(),
                        _ => stmt.error(e),
                    };
                    return (outcomes, Some((failed, error)));
                }
            }
        }
        if answered != sent.len() {
            let failed = sent.get(answered).map_or(stmts.len() - 1, |(i, _)| *i);
            outcomes.truncate(failed);
            let error = StoreError::Corrupt(format!(
                "{} statements sent, {answered} answered",
                sent.len()
            ));
            return (outcomes, Some((failed, error)));
        }
        (outcomes, None)
    }

    /// Makes the writer ready for a transaction: its connection, nothing left unfinished, a
    /// batch open.
    async fn prepare(&mut self, pool: &Pool<Sqlite>) -> StoreResult<()> {
        self.ready(pool).await?;
        if !self.open {
            self.execute("BEGIN IMMEDIATE").await?;
            self.open = true;
        }
        Ok(())
    }

    /// Whether the batch commits in the same round trip as the jobs being sent: when
    /// no other writer waits for its turn and the last commit held one transaction (the
    /// writer is not busy). Under load, the batch stays open until the writers that queue
    /// meanwhile are in it: more transactions share one commit (a slow disk's fsync is worth
    /// many round trips).
    fn commits_at_once(&self, waiting: &AtomicUsize) -> bool {
        self.last_batch <= 1 && waiting.load(Ordering::SeqCst) == 0
    }

    /// Its connection, and nothing left unfinished (no batch begun).
    async fn ready(&mut self, pool: &Pool<Sqlite>) -> StoreResult<()> {
        self.connect(pool).await?;
        self.settle().await
    }

    /// Takes the writer's connection from the pool, the first time.
    async fn connect(&mut self, pool: &Pool<Sqlite>) -> StoreResult<()> {
        if self.conn.is_none() {
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql(SETUP).execute(&mut *conn).await?;
            self.conn = Some(conn);
        }
        Ok(())
    }

    /// Sends whole transactions, in order, in as few round trips as their outcomes allow:
    /// all at once, behind the batch's `BEGIN` if none is open, and followed by its `COMMIT`
    /// if no other writer waits for its turn (then one round trip begins, runs and commits
    /// them all). When one fails, it is rolled back to its savepoint (or, if its release
    /// failed, the batch is) and answered with its error, and those after it go again.
    async fn run_jobs(
        &mut self,
        mut jobs: VecDeque<Job>,
        pool: &Pool<Sqlite>,
        writer: &Writer,
        hub: &LiveHub,
    ) {
        while !jobs.is_empty() {
            if let Err(e) = self.ready(pool).await {
                answer_all(jobs, &e);
                return;
            }
            // Statements keep no values once sent: a copy for those that may go again.
            let mut all = Vec::new();
            let begin = !self.open;
            if begin {
                all.push(Stmt::new("BEGIN IMMEDIATE"));
            }
            let mut ranges = Vec::with_capacity(jobs.len());
            for job in &jobs {
                let start = all.len();
                all.extend(job.stmts.iter().cloned());
                ranges.push(start..all.len());
            }
            let commit = self.commits_at_once(&writer.waiting);
            if commit {
                all.push(Stmt::new("COMMIT"));
            }
            self.savepoint = true;
            let sending = Instant::now();
            let (outcomes, failed) = self.send_partly(&mut all).await;
            if commit {
                Counters::add_time(&writer.stats.commit_nanos, sending);
            }
            let ran = failed.as_ref().map_or(all.len(), |(i, _)| *i);
            if begin && ran == 0 {
                self.savepoint = false;
                let (_, e) = failed.expect("nothing ran, so something failed");
                answer_all(jobs, &e);
                return;
            }
            self.open = true;
            // Those whose release ran are in the batch.
            let mut done = 0;
            while ranges.get(done).is_some_and(|r| r.end <= ran) {
                done += 1;
            }
            let mut kept = outcomes.into_iter().skip(usize::from(begin));
            let mut publish_failed = None;
            for (job, range) in jobs.drain(..done).zip(&ranges) {
                let rows = kept
                    .by_ref()
                    .take(range.len())
                    .enumerate()
                    .filter(|(i, _)| job.rows.contains(i))
                    .map(|(_, (_, rows))| rows)
                    .collect();
                match (job.publish)(rows) {
                    Ok((events, answer)) => {
                        let (done_tx, durable) = oneshot::channel();
                        self.members.push(Member {
                            events,
                            done: done_tx,
                        });
                        let _ = job.released.send(Ok((answer, durable)));
                    }
                    Err(e) => {
                        // Released, so it cannot be undone alone: the batch fails with it
                        // (unless its commit already ran: then it is like a commit whose
                        // answer was lost).
                        publish_failed = Some(e.to_string());
                        let _ = job.released.send(Err(e));
                    }
                }
            }
            if let Some(message) = publish_failed {
                self.fail(&StoreError::Corrupt(message)).await;
            }
            let Some((at, error)) = failed else {
                self.savepoint = false;
                if commit && self.open {
                    self.committed(hub, &writer.stats);
                }
                continue;
            };
            let Some(job) = jobs.pop_front() else {
                // A failure past every release (the commit's): the commit of what ran is in
                // doubt.
                self.fail(&error).await;
                continue;
            };
            let range = &ranges[done];
            if at + 1 == range.end {
                // Its release failed: the batch cannot be trusted.
                self.fail(&error).await;
            } else if let Err(e) = self.settle().await {
                // Not even rolled back to its savepoint: `settle` failed the batch.
                tracing::error!(%e, "rolling back a failed transaction");
            }
            let _ = job.released.send(Err(error));
        }
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
            Ok(()) => self.committed(hub, stats),
            Err(e) => self.fail(&e).await,
        }
    }

    /// The open batch committed: publishes its events in order and acknowledges its
    /// transactions.
    fn committed(&mut self, hub: &LiveHub, stats: &Counters) {
        self.open = false;
        self.last_batch = self.members.len();
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats
            .transactions
            .fetch_add(self.members.len() as u64, Ordering::Relaxed);
        for member in self.members.drain(..) {
            hub.publish(member.events);
            let _ = member.done.send(Ok(()));
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
