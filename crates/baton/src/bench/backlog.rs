//! `--mode backlog`: a long queue. `--waiting` conversations are handed off while the one
//! agent takes no offers; then `--backlog-handoffs` more handoffs are timed at `--handoffs` per
//! second; then the agent becomes available and works the queue one conversation at a time
//! (capacity 1): accept, close, wait for the next offer, `--backlog-cycles` times.

use super::agents::{self, Live};
use super::driver::{self, OpFigures};
use super::env::Env;
use super::load::{self, Tenant};
use super::report::{Report, SetupFigures};
use super::stats::{Failures, Latency, Samples};
use super::{BacklogStatus, LoadArgs};
use futures::StreamExt;
use reqwest::Method;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// `--mode backlog` figures.
#[derive(Debug, Clone, Serialize)]
pub struct BacklogFigures {
    /// The agent's status while the backlog was built (`busy` or `away`).
    pub status_while_filling: &'static str,
    /// Building the backlog.
    pub fill: Fill,
    /// The timed handoffs on top of the backlog (open loop at `--handoffs` per second).
    pub handoffs: OpFigures,
    /// Customer messages to the waiting conversations, on top of the backlog (open loop at
    /// `--rate` per second).
    pub messages: OpFigures,
    /// The server's resident memory in MiB: started, after the fill, at the end.
    pub rss_mib: Rss,
    /// From `PUT /v1/agents/me/status available` to the first offer on the WebSocket, in ms.
    pub available_to_first_offer_ms: Option<f64>,
    /// From sending the close of the previous conversation to the next offer.
    pub close_to_next_offer: Latency,
    /// `POST .../close` answer times in the cycles.
    pub close_latency: Latency,
    /// `POST .../accept` answer times in the cycles.
    pub accept_latency: Latency,
    /// Cycles completed (accept, close, next offer).
    pub cycles: u64,
    /// Offers that arrived before the close they should follow (left out of the latency).
    pub early_offers: u64,
    /// Accepts answered 409.
    pub accept_conflicts: u64,
    /// Why the cycles stopped early, if they did.
    pub stopped: Option<String>,
    /// `lagged` notices on the agent's socket.
    pub lagged_notices: u64,
    /// Conversations by state when the agent became available (the queue it worked).
    pub states_before_cycles: Option<BTreeMap<String, i64>>,
}

/// Server 0's resident memory (MiB) at three points of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rss {
    /// Before the backlog was built.
    pub started: Option<f64>,
    /// Once the backlog was built and the server settled.
    pub after_fill: Option<f64>,
    /// After the cycles.
    pub end: Option<f64>,
}

/// Building the backlog: start a conversation and hand it off, `--fill-concurrency` at a time.
#[derive(Debug, Clone, Serialize)]
pub struct Fill {
    /// Handoffs asked for.
    pub target: usize,
    /// Starts and handoffs in flight.
    pub concurrency: usize,
    /// Handoffs answered with a state other than `bot`.
    pub handed_off: u64,
    /// Their states as answered (`queued`, `deferred`...).
    pub states: BTreeMap<String, u64>,
    /// Failed starts and handoffs by kind.
    pub failures: Failures,
    /// Seconds it took (or until `--setup-timeout`).
    pub seconds: f64,
    /// Handoffs per second.
    pub per_sec: f64,
    /// Handoff answer times of the first tenth of the fill.
    pub first_tenth: Latency,
    /// Handoff answer times of the last tenth of the fill.
    pub last_tenth: Latency,
    /// Whether `--setup-timeout` cut the fill short.
    pub timed_out: bool,
    /// Conversations by state once the server stopped changing them after the fill (its
    /// `/metrics`): the real backlog, which includes handoffs whose answer timed out.
    pub states_after: Option<BTreeMap<String, i64>>,
    /// Seconds the server took to settle after the fill (at most 120).
    pub settle_seconds: f64,
}

/// How often the fill says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Longest wait for the server to finish the handoffs it still works on after the fill.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// The built-in queue's offer window: an offer nobody answers is made again after it.
const OFFER_WINDOW: Duration = Duration::from_secs(30);

/// Offers to the agent as they arrive: (conversation, when).
type Offers = mpsc::UnboundedReceiver<(String, Instant)>;

/// `--mode backlog`.
pub async fn run(
    env: &mut Env,
    args: &LoadArgs,
    tenant: &Tenant,
    report: &mut Report,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let api = tenant.api.clone();
    let agent = load::create_agents(tenant, 1, Some(1), args.setup_timeout())
        .await?
        .remove(0);
    let socket = agents::connect(
        api.addr(agent.instance),
        &agent.token,
        args.request_timeout(),
    )
    .await?;
    let filling_status = match args.backlog_status {
        BacklogStatus::Busy => "busy",
        BacklogStatus::Away => "away",
    };
    api.set_status(agent.instance, &agent.token, filling_status)
        .await?;
    // Read the socket all along (a socket nobody reads would slow the server's stream down),
    // passing offers on.
    let (offers_tx, mut offers) = mpsc::unbounded_channel();
    let lagged = Arc::new(AtomicU64::new(0));
    let reader = {
        let (me, lagged) = (agent.id.clone(), lagged.clone());
        tokio::spawn(async move {
            let (_sink, mut stream) = socket.split();
            while let Some(Ok(frame)) = stream.next().await {
                if let Message::Text(text) = frame {
                    match agents::parse(&text, &me) {
                        Live::OfferToMe(c) => {
                            let _ = offers_tx.send((c, Instant::now()));
                        }
                        Live::Lagged(_) => {
                            lagged.fetch_add(1, Ordering::Relaxed);
                        }
                        Live::Other => {}
                    }
                }
            }
        })
    };

    eprintln!(
        "bench: building a backlog of {} handoffs (agent {filling_status})",
        args.waiting
    );
    let mut rss = Rss {
        started: env.rss_mib(0),
        ..Rss::default()
    };
    let mut fill = fill(tenant, args).await;
    eprintln!("bench: waiting for the server to settle (at most {SETTLE_LIMIT:?})");
    let settling = Instant::now();
    fill.states_after = settle(&api).await;
    fill.settle_seconds = settling.elapsed().as_secs_f64();
    rss.after_fill = env.rss_mib(0);
    let timed = load::create_conversations(
        tenant,
        args.waiting,
        args.backlog_handoffs,
        args.concurrency,
        args.setup_timeout(),
    )
    .await?;
    report.setup = Some(SetupFigures {
        agents: 1,
        conversations: fill.handed_off as usize + timed.len(),
        seconds: started.elapsed().as_secs_f64(),
    });
    env.ensure_alive()?;

    eprintln!(
        "bench: {} handoffs at {}/s on top of the backlog",
        args.backlog_handoffs, args.handoffs
    );
    let timed = Arc::new(timed);
    let handoffs = {
        let (api, key, via) = (api.clone(), tenant.key.clone(), args.handoff_via);
        let timed = timed.clone();
        driver::open_loop(
            Instant::now(),
            args.handoffs,
            args.backlog_handoffs as u64,
            Arc::new(Semaphore::new(args.max_in_flight)),
            move |i| {
                let fut = load::handoff_op(
                    api.clone(),
                    i as usize,
                    key.clone(),
                    timed[i as usize].clone(),
                    via,
                );
                async move { fut.await.map(drop) }
            },
        )
        .await
    };
    env.ensure_alive()?;

    eprintln!(
        "bench: {} customer messages at {}/s to waiting conversations",
        args.backlog_messages, args.rate
    );
    let messages = {
        let (api, key) = (api.clone(), tenant.key.clone());
        let timed = timed.clone();
        driver::open_loop(
            Instant::now(),
            args.rate,
            args.backlog_messages as u64,
            Arc::new(Semaphore::new(args.max_in_flight)),
            move |i| {
                let conversation = timed[i as usize % timed.len().max(1)].clone();
                load::waiting_message_op(api.clone(), i as usize, key.clone(), conversation)
            },
        )
        .await
    };
    env.ensure_alive()?;

    eprintln!(
        "bench: the agent becomes available; {} accept → close → next offer cycles",
        args.backlog_cycles
    );
    let states_before_cycles = api.states(0).await;
    // Offers before this point (there should be none) are not the ones measured.
    while offers.try_recv().is_ok() {}
    let mut figures = BacklogFigures {
        status_while_filling: filling_status,
        fill,
        handoffs,
        messages,
        rss_mib: rss,
        available_to_first_offer_ms: None,
        close_to_next_offer: Samples::default().summary(),
        close_latency: Samples::default().summary(),
        accept_latency: Samples::default().summary(),
        cycles: 0,
        early_offers: 0,
        accept_conflicts: 0,
        stopped: None,
        lagged_notices: 0,
        states_before_cycles,
    };
    let outcome = cycles(tenant, &agent, &mut offers, args, &mut figures).await;
    figures.stopped = outcome.err().map(|e| format!("{e:#}"));
    figures.lagged_notices = lagged.load(Ordering::Relaxed);
    figures.rss_mib.end = env.rss_mib(0);
    reader.abort();
    report.backlog = Some(figures);
    Ok(())
}

/// Reads the conversation counts every 2 s until two readings agree (the server finished the
/// work it had queued), for at most [`SETTLE_LIMIT`]; the last reading.
async fn settle(api: &super::api::Api) -> Option<BTreeMap<String, i64>> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut last = api.states(0).await;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = api.states(0).await;
        if now.is_some() && now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Hands off `--waiting` new conversations, `--fill-concurrency` at a time, within
/// `--setup-timeout`.
async fn fill(tenant: &Tenant, args: &LoadArgs) -> Fill {
    let started = Instant::now();
    let deadline = started + args.setup_timeout();
    let target = args.waiting;
    let work = futures::stream::iter(0..target)
        .map(|n| {
            let t = tenant.clone();
            let via = args.handoff_via;
            async move {
                let conversation = load::start_op(&t.api, &t.key, n).await?;
                let sent = Instant::now();
                let state =
                    load::handoff_op(t.api.clone(), n, t.key.clone(), conversation, via).await?;
                Ok::<_, String>((n, state, sent.elapsed()))
            }
        })
        .buffer_unordered(args.fill_concurrency.max(1));
    let mut work = std::pin::pin!(work);
    let mut out = Fill {
        target,
        concurrency: args.fill_concurrency,
        handed_off: 0,
        states: BTreeMap::new(),
        failures: Failures::default(),
        seconds: 0.0,
        per_sec: 0.0,
        first_tenth: Samples::default().summary(),
        last_tenth: Samples::default().summary(),
        timed_out: false,
        states_after: None,
        settle_seconds: 0.0,
    };
    let (mut first, mut last) = (Samples::default(), Samples::default());
    let tenth = target.div_ceil(10);
    let mut last_word = Instant::now();
    loop {
        match tokio::time::timeout_at(deadline, work.next()).await {
            Err(_) => {
                out.timed_out = true;
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(kind))) => out.failures.add(&kind),
            Ok(Some(Ok((n, state, took)))) => {
                out.handed_off += 1;
                *out.states.entry(state).or_default() += 1;
                if n < tenth {
                    first.push(took);
                } else if n >= target - tenth {
                    last.push(took);
                }
            }
        }
        if last_word.elapsed() >= PROGRESS_EVERY {
            last_word = Instant::now();
            eprintln!(
                "bench: {:.0} s: {} handed off, {} failed ({})",
                started.elapsed().as_secs_f64(),
                out.handed_off,
                out.failures.total(),
                out.failures.short()
            );
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    out.per_sec = if out.seconds > 0.0 {
        (out.handed_off as f64 / out.seconds * 10.0).round() / 10.0
    } else {
        0.0
    };
    out.first_tenth = first.summary();
    out.last_tenth = last.summary();
    out
}

/// The agent turns available and works the queue: accept the offer, close the conversation,
/// wait for the next offer.
async fn cycles(
    tenant: &Tenant,
    agent: &agents::Agent,
    offers: &mut Offers,
    args: &LoadArgs,
    figures: &mut BacklogFigures,
) -> anyhow::Result<()> {
    let api = &tenant.api;
    // Generous: a stalled router is what this mode looks for, and the wait is the figure. An
    // offer whose event never reached the socket is made again when it lapses (30 s by
    // default), so the wait covers that too.
    let wait = args.request_timeout() * 3 + OFFER_WINDOW;
    let available_at = Instant::now();
    api.set_status(agent.instance, &agent.token, "available")
        .await?;
    let (mut conversation, at) = next_offer(offers, wait).await?;
    figures.available_to_first_offer_ms =
        Some(at.saturating_duration_since(available_at).as_secs_f64() * 1000.0);
    let (mut close_to_offer, mut close_latency, mut accept_latency) =
        (Samples::default(), Samples::default(), Samples::default());
    let result = async {
        let mut last_word = Instant::now();
        for _ in 0..args.backlog_cycles {
            if last_word.elapsed() >= PROGRESS_EVERY {
                last_word = Instant::now();
                eprintln!("bench: {} cycles done", figures.cycles);
            }
            let sent = Instant::now();
            let accepted = api
                .call(
                    agent.instance,
                    Method::POST,
                    &format!("/v1/conversations/{conversation}/accept"),
                    &agent.token,
                    None,
                )
                .await
                .map_err(|e| anyhow::anyhow!("accept: {}", e.kind()))?;
            accept_latency.push(sent.elapsed());
            let close_sent = if accepted.status.as_u16() == 409 {
                // Expired or taken meanwhile: nothing to close, wait for the next offer.
                figures.accept_conflicts += 1;
                Instant::now()
            } else if accepted.status.is_success() {
                let sent = Instant::now();
                let closed = api
                    .call(
                        agent.instance,
                        Method::POST,
                        &format!("/v1/conversations/{conversation}/close"),
                        &agent.token,
                        Some(json!({"resolution": "resolved"})),
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("close: {}", e.kind()))?;
                anyhow::ensure!(
                    closed.status.is_success(),
                    "close answered {}: {}",
                    closed.status,
                    closed.body
                );
                close_latency.push(sent.elapsed());
                sent
            } else {
                anyhow::bail!("accept answered {}: {}", accepted.status, accepted.body);
            };
            let (next, at) = next_offer(offers, wait).await?;
            if at < close_sent {
                figures.early_offers += 1;
            } else {
                close_to_offer.push(at - close_sent);
            }
            figures.cycles += 1;
            conversation = next;
        }
        Ok(())
    }
    .await;
    figures.close_to_next_offer = close_to_offer.summary();
    figures.close_latency = close_latency.summary();
    figures.accept_latency = accept_latency.summary();
    result
}

async fn next_offer(offers: &mut Offers, wait: Duration) -> anyhow::Result<(String, Instant)> {
    match tokio::time::timeout(wait, offers.recv()).await {
        Ok(Some(offer)) => Ok(offer),
        Ok(None) => anyhow::bail!("the agent's live WebSocket closed"),
        Err(_) => anyhow::bail!("no offer within {wait:?}"),
    }
}
