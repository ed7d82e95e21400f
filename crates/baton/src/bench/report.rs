//! The report: a table on stdout and, with `--json`, every figure as JSON.

use super::backlog::BacklogFigures;
use super::baseline::Baseline;
use super::driver::OpFigures;
use super::env::{Env, LogSummary};
use super::load::{IngestFigures, LoadFigures, via_name};
use super::stats::fmt_ms;
use super::{Backend, LoadArgs, Mode};
use anyhow::Context;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// The set-up before the measurements.
#[derive(Debug, Clone, Serialize)]
pub struct SetupFigures {
    /// Agents created and logged in.
    pub agents: usize,
    /// Conversations created.
    pub conversations: usize,
    /// Seconds the set-up took.
    pub seconds: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command line, as typed.
    pub command: String,
    /// `load`, `ingest` or `backlog`.
    pub mode: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Servers.
    pub instances: usize,
    /// The bench's database (password hidden).
    pub database: String,
    /// Every option's value.
    pub settings: serde_json::Value,
    /// `completed`, or what stopped the run.
    pub outcome: String,
    /// Whether a server exited during the run.
    pub server_died: bool,
    /// The raw database baseline.
    pub baseline: Option<Baseline>,
    /// The set-up.
    pub setup: Option<SetupFigures>,
    /// `--mode load`.
    pub load: Option<LoadFigures>,
    /// `--mode ingest`.
    pub ingest: Option<IngestFigures>,
    /// `--mode backlog`.
    pub backlog: Option<BacklogFigures>,
    /// The servers' logs.
    pub servers: Vec<LogSummary>,
}

impl Report {
    /// An empty report for a run of `args` in `env`.
    pub fn new(args: &LoadArgs, env: &Env) -> Report {
        Report {
            command: command_line(),
            mode: match args.mode {
                Mode::Load => "load",
                Mode::Ingest => "ingest",
                Mode::Backlog => "backlog",
            },
            backend: match args.backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            },
            instances: args.instances,
            database: env.database_shown.clone(),
            settings: json!({
                "agents": args.agents, "handle_ms": args.handle_ms, "rate": args.rate,
                "handoffs": args.handoffs, "duration": args.duration,
                "conversations": args.conversations, "handoff_via": via_name(args.handoff_via),
                "drain": args.drain, "max_in_flight": args.max_in_flight,
                "request_timeout": args.request_timeout, "concurrency": args.concurrency,
                "waiting": args.waiting, "backlog_handoffs": args.backlog_handoffs, "fill_concurrency": args.fill_concurrency,
                "backlog_cycles": args.backlog_cycles, "backlog_messages": args.backlog_messages, "setup_timeout": args.setup_timeout,
                "baseline_secs": args.baseline_secs, "keep_data": args.keep_data,
                "backlog_status": match args.backlog_status {
                    super::BacklogStatus::Busy => "busy",
                    super::BacklogStatus::Away => "away",
                },
            }),
            outcome: "running".into(),
            server_died: false,
            baseline: None,
            setup: None,
            load: None,
            ingest: None,
            backlog: None,
            servers: Vec::new(),
        }
    }

    /// Records how the run ended and what the servers logged (before the servers are
    /// stopped, so the stop is not taken for a death).
    pub fn finish(&mut self, env: &Env, outcome: &anyhow::Result<()>) {
        self.servers = env.log_summaries();
        self.server_died = self.servers.iter().any(|s| s.died.is_some());
        self.outcome = match outcome {
            Ok(()) => "completed".into(),
            Err(e) => format!("{e:#}"),
        };
    }

    /// Writes the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The readable summary.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(t, "  {k:<44} {v}");
        };
        row("command", self.command.clone());
        row(
            "servers",
            format!(
                "{} x baton serve on {} ({})",
                self.instances, self.backend, self.database
            ),
        );
        row("outcome", self.outcome.clone());
        if let Some(b) = &self.baseline {
            row(
                "raw baseline",
                format!(
                    "{:.0} commits/s ({} rows in {:.1} s)",
                    b.rows_per_sec, b.rows, b.seconds
                ),
            );
        }
        if let Some(s) = &self.setup {
            row(
                "set-up",
                format!(
                    "{} agents, {} conversations in {:.1} s",
                    s.agents, s.conversations, s.seconds
                ),
            );
        }
        if let Some(l) = &self.load {
            ops(&mut row, "customer messages", &l.messages);
            ops(
                &mut row,
                &format!("handoffs (via {})", l.handoff_via),
                &l.handoffs,
            );
            let o = &l.trigger_to_offer;
            row(
                "trigger → offer p50/p99/max",
                format!("{} ({} offered)", o.latency.short(), o.offered),
            );
            row(
                "  never offered",
                format!(
                    "{} of {} handed off (drain {:.1} s); {} of {} unanswered handoffs offered",
                    o.never_offered,
                    o.handed_off,
                    o.drain_seconds,
                    o.unanswered_offered,
                    o.unanswered
                ),
            );
            if !o.not_offered_why.is_empty() {
                row(
                    "  not seen offered, because",
                    o.not_offered_why
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            let a = &l.agents;
            row(
                "double assignments, capacity overruns",
                format!(
                    "{}, {} (the most one agent held at once: {})",
                    a.double_assignments, a.capacity_overruns, a.most_held
                ),
            );
            row(
                "agents",
                format!(
                    "{} offers, {} accepted, {} accept 409, {} closed, {} close 409, {} still held",
                    a.offers,
                    a.accepted,
                    a.accept_conflicts,
                    a.closed,
                    a.close_conflicts,
                    a.still_held
                ),
            );
            row(
                "  agent errors, lagged, dropped",
                format!(
                    "{} ({}), {} lagged notices ({} events), {} sockets closed",
                    a.errors,
                    a.failures.short(),
                    a.lagged_notices,
                    a.lagged_events,
                    a.disconnects
                ),
            );
            row(
                "errors (all, 409 on accept/close excluded)",
                l.errors.to_string(),
            );
            row("conversations at the end", states(l.states_at_end.as_ref()));
        }
        if let Some(i) = &self.ingest {
            ops(&mut row, "customer messages (closed loop)", &i.messages);
            row(
                "ingest vs raw baseline",
                i.ratio_to_baseline
                    .map(|r| format!("{r:.3} of the raw commit rate"))
                    .unwrap_or_else(|| "-".into()),
            );
            if let Some(w) = &i.writer {
                row(
                    "SQLite writer (group commit)",
                    format!(
                        "{} transactions in {} commits ({:.1} per commit); held {:.0} % of the \
                         loop ({:.0} µs per transaction), committing {:.0} % ({:.0} µs per commit)",
                        w.transactions,
                        w.commits,
                        w.per_commit,
                        w.held_share * 100.0,
                        w.held_us_per_transaction,
                        w.commit_share * 100.0,
                        w.commit_us
                    ),
                );
            }
        }
        if let Some(b) = &self.backlog {
            let f = &b.fill;
            row(
                "backlog fill",
                format!(
                    "{} of {} handed off in {:.1} s ({:.1}/s, {} in flight){}; agent {}",
                    f.handed_off,
                    f.target,
                    f.seconds,
                    f.per_sec,
                    f.concurrency,
                    if f.timed_out {
                        ", cut short by --setup-timeout"
                    } else {
                        ""
                    },
                    b.status_while_filling
                ),
            );
            row(
                "  states answered",
                f.states
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            row("  failures", f.failures.short());
            row(
                "  conversations after the fill",
                format!(
                    "{} (settled in {:.0} s)",
                    states(f.states_after.as_ref()),
                    f.settle_seconds
                ),
            );
            row(
                "  handoff first/last tenth p50",
                format!(
                    "{} / {} ms",
                    f.first_tenth
                        .p50_ms
                        .map(fmt_ms)
                        .unwrap_or_else(|| "-".into()),
                    f.last_tenth
                        .p50_ms
                        .map(fmt_ms)
                        .unwrap_or_else(|| "-".into())
                ),
            );
            ops(&mut row, "handoffs on the backlog", &b.handoffs);
            ops(&mut row, "messages to waiting conversations", &b.messages);
            let mib = |v: Option<f64>| v.map_or_else(|| "-".into(), |m| format!("{m:.1}"));
            row(
                "server RSS started/after fill/end",
                format!(
                    "{} / {} / {} MiB",
                    mib(b.rss_mib.started),
                    mib(b.rss_mib.after_fill),
                    mib(b.rss_mib.end)
                ),
            );
            row(
                "conversations when available",
                states(b.states_before_cycles.as_ref()),
            );
            row(
                "available → first offer",
                b.available_to_first_offer_ms
                    .map(|ms| format!("{} ms", fmt_ms(ms)))
                    .unwrap_or_else(|| "-".into()),
            );
            row(
                "close → next offer p50/p99/max",
                format!("{} ({} cycles)", b.close_to_next_offer.short(), b.cycles),
            );
            row("  close answer p50/p99/max", b.close_latency.short());
            row(
                "  early offers, accept 409",
                format!("{}, {}", b.early_offers, b.accept_conflicts),
            );
            if let Some(why) = &b.stopped {
                row("  cycles stopped", why.clone());
            }
        }
        for (i, s) in self.servers.iter().enumerate() {
            row(
                &format!("server {i} log"),
                format!(
                    "{} ERROR, {} WARN lines: {}",
                    s.error_lines, s.warn_lines, s.path
                ),
            );
            if let Some(status) = &s.died {
                row("  DIED", status.clone());
            }
            for line in &s.first {
                row("  ", line.clone());
            }
        }
        format!("\nbaton bench load --mode {}\n{t}", self.mode)
    }
}

fn ops(row: &mut impl FnMut(&str, String), name: &str, o: &OpFigures) {
    row(
        name,
        format!(
            "{} sent of {} due, {} ok ({:.1}/s), {} errors",
            o.sent, o.scheduled, o.ok, o.ok_per_sec, o.errors
        ),
    );
    if o.errors > 0 {
        row("  errors by kind", o.failures.short());
    }
    row("  latency p50/p99/max", o.latency.short());
    if o.start_lag.count > 0 {
        row(
            "  late sends (start > 10 ms behind)",
            format!("{} (start lag p99/max {})", o.late, lag(o)),
        );
    }
}

fn states(s: Option<&BTreeMap<String, i64>>) -> String {
    match s {
        Some(s) if !s.is_empty() => s
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        Some(_) => "none".into(),
        None => "unknown (/metrics did not answer)".into(),
    }
}

fn lag(o: &OpFigures) -> String {
    match (o.start_lag.p99_ms, o.start_lag.max_ms) {
        (Some(p), Some(m)) => format!("{} / {} ms", fmt_ms(p), fmt_ms(m)),
        _ => "-".into(),
    }
}

/// The command line, each argument quoted for a POSIX shell when it needs it (and a password
/// in a database URL hidden).
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let a = if a.contains("://") {
                baton_server::config::redact_url(&a)
            } else {
                a
            };
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
