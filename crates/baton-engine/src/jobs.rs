//! The follow-up job worker: runs the work a command enqueued in its own transaction (as a
//! timer row) once that transaction committed, outside any request:
//! - the handoff brief ([`baton_store::BRIEF_JOB`], with the LLM-written summary when the
//!   tenant configured an LLM), which no handoff request waits for;
//! - the bot's turn on a customer message ([`baton_store::BOT_JOB`]), which the instance that
//!   took the message runs at once itself ([`crate::bots::runner::start`]); the worker runs it
//!   only when that instance died before it was done.
//!
//! Jobs survive a restart (they are rows) and are claimed with a lease (`Store::due_timers`:
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), so with several instances each runs on one; a job
//! whose worker died runs again after the lease. The brief job's last step takes its row in
//! the transaction that records the result, so a result is recorded once; the bot job's reply
//! names the message it answers in its `external_id`, so it is stored once.

use crate::Engine;
use crate::service;
use baton_core::conversation::EventKind;
use baton_core::{ConversationId, TenantId};
use baton_store::{BOT_JOB, BRIEF_JOB, StoreResult};
use std::time::Duration;
use tokio::sync::watch;

/// Most jobs claimed at once.
const BATCH: u32 = 16;
/// The longest the worker sleeps without looking (jobs of other instances, leases run out).
const POLL: Duration = Duration::from_secs(1);

/// Runs jobs until `stopped` turns true. Wakes at once on a handoff committed by this
/// instance, else on the next due job, at least every [`POLL`].
pub async fn run_worker(engine: Engine, mut stopped: watch::Receiver<bool>) {
    let mut events = engine.store.subscribe();
    loop {
        if *stopped.borrow() {
            return;
        }
        let wait = match round(&engine).await {
            Ok(Some(wait)) => wait,
            // A full batch: there may be more right away.
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "follow-up jobs: round failed");
                POLL
            }
        };
        let handoff = async {
            loop {
                match events.recv().await {
                    Ok(e) if matches!(e.event(), Some(EventKind::HandoffRequested { .. })) => {
                        return;
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await
                    }
                }
            }
        };
        tokio::select! {
            _ = stopped.changed() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = handoff => {}
        }
    }
}

/// Runs the jobs due now. Returns how long to sleep before the next one, or `None` when the
/// batch was full (look again at once).
async fn round(engine: &Engine) -> StoreResult<Option<Duration>> {
    let store = engine.store.as_ref();
    let now = crate::now();
    let Some(next) = store.next_timer_due().await? else {
        return Ok(Some(POLL));
    };
    if next > now {
        let ms = next.millis_since(now).clamp(1, POLL.as_millis() as i64);
        return Ok(Some(Duration::from_millis(ms as u64)));
    }
    let due = store.due_timers(now, BATCH).await?;
    let full = due.len() >= BATCH as usize;
    // Side by side: a bot's turn may wait seconds for its webhook or LLM.
    let mut running = tokio::task::JoinSet::new();
    for (tenant, kind) in due {
        let engine = engine.clone();
        running.spawn(async move {
            if let Err(e) = run(&engine, &tenant, &kind).await {
                // The lease brings it back later.
                tracing::warn!(%tenant, job = %kind, error = %e, "follow-up job failed; retried later");
            }
        });
    }
    while running.join_next().await.is_some() {}
    Ok((!full).then_some(Duration::ZERO))
}

/// Runs one claimed job; the error says what failed.
async fn run(engine: &Engine, tenant: &TenantId, kind: &str) -> Result<(), String> {
    if kind.starts_with(BOT_JOB) {
        return crate::bots::runner::run_job(engine, tenant, kind)
            .await
            .map_err(|e| e.to_string());
    }
    let conversation = kind
        .strip_prefix(BRIEF_JOB)
        .and_then(|id| ConversationId::parse(id).ok());
    match conversation {
        Some(id) => brief(engine, tenant, &id).await,
        None => {
            tracing::info!(%tenant, job = %kind, "dropping a job of an unknown kind");
            service::drop_job(engine.store.as_ref(), tenant, kind)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// The brief job: builds the handoff brief (with the LLM's summary when configured) and
/// records it as a `brief_built` event, so subscribers (webhooks, ticketing, the console) get
/// the full context with the handoff.
async fn brief(engine: &Engine, tenant: &TenantId, id: &ConversationId) -> Result<(), String> {
    let store = engine.store.as_ref();
    let job = format!("{BRIEF_JOB}{id}");
    let conv = store
        .conversation(tenant, id)
        .await
        .map_err(|e| e.to_string())?;
    let brief = match &conv {
        Some(conv) => crate::brief::build_for_handoff(engine, conv)
            .await
            .map_err(|e| format!("building the brief: {e}"))?,
        None => None,
    };
    match brief {
        Some(brief) => service::record_brief(
            store,
            tenant,
            id,
            crate::brief::to_json(&brief),
            crate::now(),
        )
        .await
        .map(|_| ()),
        None => service::drop_job(store, tenant, &job).await,
    }
    .map_err(|e| e.to_string())
}
