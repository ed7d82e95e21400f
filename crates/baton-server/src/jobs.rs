//! The follow-up job worker: runs the work a command enqueued in its own transaction (as a
//! timer row, see [`baton_store::BRIEF_JOB`]) once that transaction committed, outside any
//! request. Today that is the handoff brief (with the LLM-written summary when the tenant
//! configured an LLM), which no handoff request waits for.
//!
//! Jobs survive a restart (they are rows) and are claimed with a lease (`Store::due_timers`:
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), so with several instances each runs on one; a job
//! whose worker died runs again after the lease. The job's last step takes its row in the
//! transaction that records the result, so a result is recorded once.

use crate::AppState;
use baton_core::{ConversationId, TenantId};
use baton_engine::service;
use baton_store::{BRIEF_JOB, StoreResult};
use std::time::Duration;
use tokio::sync::watch;

/// Most jobs claimed at once.
const BATCH: u32 = 16;
/// The longest the worker sleeps without looking (jobs of other instances, leases run out).
const POLL: Duration = Duration::from_secs(1);

/// Runs jobs until `stopped` turns true. Wakes at once on a handoff committed by this
/// instance, else on the next due job, at least every [`POLL`].
pub async fn run_worker(state: AppState, mut stopped: watch::Receiver<bool>) {
    let mut events = state.store.subscribe();
    loop {
        if *stopped.borrow() {
            return;
        }
        let wait = match round(&state).await {
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
                    Ok(e) if e.kind == "handoff_requested" => return,
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
async fn round(state: &AppState) -> StoreResult<Option<Duration>> {
    let store = state.store.as_ref();
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
    for (tenant, kind) in due {
        if let Err(e) = run(state, &tenant, &kind).await {
            // The lease brings it back later.
            tracing::warn!(%tenant, job = %kind, error = %e, "follow-up job failed; retried later");
        }
    }
    Ok((!full).then_some(Duration::ZERO))
}

/// Runs one claimed job; the error says what failed.
async fn run(state: &AppState, tenant: &TenantId, kind: &str) -> Result<(), String> {
    let conversation = kind
        .strip_prefix(BRIEF_JOB)
        .and_then(|id| ConversationId::parse(id).ok());
    match conversation {
        Some(id) => brief(state, tenant, &id).await,
        None => {
            tracing::info!(%tenant, job = %kind, "dropping a job of an unknown kind");
            service::drop_job(state.store.as_ref(), tenant, kind)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// The brief job: builds the handoff brief (with the LLM's summary when configured) and
/// records it as a `brief_built` event, so subscribers (webhooks, ticketing, the console) get
/// the full context with the handoff.
async fn brief(state: &AppState, tenant: &TenantId, id: &ConversationId) -> Result<(), String> {
    let store = state.store.as_ref();
    let job = format!("{BRIEF_JOB}{id}");
    let conv = store
        .conversation(tenant, id)
        .await
        .map_err(|e| e.to_string())?;
    let brief = match &conv {
        Some(conv) => crate::brief::build_for_handoff(state, conv)
            .await
            .map_err(|e| format!("building the brief: {e}"))?,
        None => None,
    };
    match brief {
        Some(brief) => service::record_brief(store, tenant, id, brief, crate::now())
            .await
            .map(|_| ()),
        None => service::drop_job(store, tenant, &job).await,
    }
    .map_err(|e| e.to_string())
}
