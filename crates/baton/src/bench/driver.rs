//! Load generators. The open loop sends operation `i` at its scheduled time `start + i / rate`
//! whatever the server does, and measures each latency from that scheduled time, so a stalled
//! server shows up as latency instead of as fewer requests (no coordinated omission). The
//! closed loop keeps `concurrency` requests going, each after the previous one's answer.

use super::stats::{Failures, Latency, Samples};
use serde::Serialize;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// A send that starts more than this after its scheduled time counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// How one operation ended: `Ok(())`, or the kind of failure (`"409"`, `"timeout"`, ...).
pub type OpResult = Result<(), String>;

#[derive(Debug, Default)]
struct Tally {
    latency: Samples,
    start_lag: Samples,
    ok: u64,
    failures: Failures,
}

/// What a stream of operations did.
#[derive(Debug, Clone, Serialize)]
pub struct OpFigures {
    /// Operations due in the run (open loop) or started (closed loop).
    pub scheduled: u64,
    /// Operations that were sent.
    pub sent: u64,
    /// Answered as expected.
    pub ok: u64,
    /// All the others (`failures` by kind).
    pub errors: u64,
    /// Failures by kind: HTTP status, `timeout`, `transport`, or a failed check of the answer.
    pub failures: Failures,
    /// Sends that started more than 10 ms after their scheduled time because the bound on
    /// requests in flight was reached or the driver fell behind (open loop only; they are
    /// still sent and measured from their scheduled time).
    pub late: u64,
    /// How far behind schedule sends started (open loop only).
    pub start_lag: Latency,
    /// From the scheduled time (open loop) or the send (closed loop) to the answer, for
    /// operations answered as expected.
    pub latency: Latency,
    /// From the first scheduled send to the last answer, in seconds.
    pub seconds: f64,
    /// `ok / seconds`.
    pub ok_per_sec: f64,
}

/// Runs `count` operations at `rate` per second from `start`, at most `in_flight` at once
/// (shared with other loops through the semaphore). `op(i)` makes operation `i`.
pub async fn open_loop<F, Fut>(
    start: Instant,
    rate: f64,
    count: u64,
    in_flight: Arc<Semaphore>,
    op: F,
) -> OpFigures
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = OpResult> + Send + 'static,
{
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut late = 0;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled).await;
        let permit = match in_flight.clone().try_acquire_owned() {
            Ok(p) => p,
            // Full: wait for a slot. The send is late, and its latency still counts from
            // `scheduled`.
            Err(_) => match in_flight.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let lag = Instant::now().saturating_duration_since(scheduled);
        if lag > LATE_AFTER {
            late += 1;
        }
        let fut = op(i);
        let tally = tally.clone();
        tasks.spawn(async move {
            let result = fut.await;
            let done = Instant::now();
            drop(permit);
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            t.start_lag.push(lag);
            match result {
                Ok(()) => {
                    t.ok += 1;
                    t.latency.push(done.saturating_duration_since(scheduled));
                }
                Err(kind) => t.failures.add(&kind),
            }
        });
        // Keep the set small: forget the tasks that ended.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let seconds = start.elapsed().as_secs_f64();
    let t = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    figures(t, count, late, seconds, true)
}

/// Runs `concurrency` workers for `duration`, each sending `op(i)` (with `i` counting all
/// workers' operations) as soon as its previous one was answered.
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, op: F) -> OpFigures
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = OpResult> + Send + 'static,
{
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        workers.spawn(async move {
            let mut t = Tally::default();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let sent = Instant::now();
                match op(i).await {
                    Ok(()) => {
                        t.ok += 1;
                        t.latency.push(sent.elapsed());
                    }
                    Err(kind) => t.failures.add(&kind),
                }
            }
            t
        });
    }
    let mut all = Tally::default();
    while let Some(done) = workers.join_next().await {
        if let Ok(t) = done {
            all.ok += t.ok;
            all.latency.extend(t.latency);
            all.failures.merge(&t.failures);
        }
    }
    let sent = next.load(std::sync::atomic::Ordering::Relaxed);
    figures(all, sent, 0, start.elapsed().as_secs_f64(), false)
}

fn figures(t: Tally, scheduled: u64, late: u64, seconds: f64, open: bool) -> OpFigures {
    let errors = t.failures.total();
    OpFigures {
        scheduled,
        sent: t.ok + errors,
        ok: t.ok,
        errors,
        failures: t.failures,
        late,
        start_lag: if open {
            t.start_lag.summary()
        } else {
            Samples::default().summary()
        },
        latency: t.latency.summary(),
        seconds: (seconds * 1000.0).round() / 1000.0,
        ok_per_sec: if seconds > 0.0 {
            (t.ok as f64 / seconds * 10.0).round() / 10.0
        } else {
            0.0
        },
    }
}

/// Runs `op(i)` for `i` in `0..count`, `concurrency` at a time, within `limit`; the results in
/// order. For the set-up, where each item must succeed.
pub async fn each<T, F, Fut>(
    count: usize,
    concurrency: usize,
    limit: Duration,
    op: F,
) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    use futures::StreamExt;
    let work = futures::stream::iter((0..count).map(&op))
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>();
    let results = tokio::time::timeout(limit, work)
        .await
        .map_err(|_| anyhow::anyhow!("the set-up of {count} items took over {limit:?}"))?;
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_loop_measures_from_the_schedule_and_counts_late_sends() {
        // One slot, each operation takes 100 ms, scheduled every 10 ms: the queue builds up
        // and the latency grows with it, although each request alone takes 100 ms.
        let start = Instant::now();
        let figures = open_loop(start, 100.0, 5, Arc::new(Semaphore::new(1)), |_| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(())
        })
        .await;
        assert_eq!(figures.ok, 5);
        assert_eq!(figures.sent, 5);
        assert_eq!(figures.late, 4);
        // The fifth was due at 40 ms and answered at 500 ms or a little later.
        let max = figures.latency.max_ms.unwrap();
        assert!((460.0..900.0).contains(&max), "{max}");
        let min = figures.latency.p50_ms.unwrap();
        assert!(min >= 280.0, "{min}");
    }

    #[tokio::test]
    async fn failures_are_counted_by_kind() {
        let figures = open_loop(
            Instant::now(),
            1000.0,
            4,
            Arc::new(Semaphore::new(8)),
            |i| async move {
                if i % 2 == 0 {
                    Ok(())
                } else {
                    Err("409".to_string())
                }
            },
        )
        .await;
        assert_eq!((figures.ok, figures.errors, figures.sent), (2, 2, 4));
        assert_eq!(figures.failures.short(), "409: 2");
    }
}
