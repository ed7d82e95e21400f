//! `baton bench`: benchmarks of Baton as users run it.
//!
//! `baton bench load` starts real `baton serve` children on a fresh database, seeds a tenant
//! through the CLI, and drives the servers over HTTP and the live WebSocket from this process:
//! an open loop of customer messages and handoffs with agents accepting and closing offers
//! (`--mode load`), a closed loop of customer messages (`--mode ingest`), or a long queue
//! (`--mode backlog`). Each run also measures the raw database baseline on the same disk or
//! database server, so figures are read as ratios to what the hardware does.

mod agents;
mod api;
mod backlog;
mod baseline;
mod driver;
mod env;
mod load;
mod report;
mod stats;

use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;

/// `baton bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// End-to-end load: real servers driven over HTTP and WebSocket from this process, with
    /// the raw database baseline measured in the same run.
    Load(LoadArgs),
}

/// What `baton bench load` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Open loop of customer messages and handoffs; agents accept and close every offer.
    Load,
    /// Closed loop of customer messages only, as fast as the server takes them.
    Ingest,
    /// A queue of `--waiting` handoffs, then handoff latency and close → next offer.
    Backlog,
}

/// The database the servers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// A fresh SQLite file in a scratch folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `--postgres-url`, dropped at the end.
    Postgres,
}

/// How a handoff is triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HandoffVia {
    /// The customer writes "I want to talk to a human" and the detector escalates.
    Message,
    /// `POST /v1/conversations/{id}/handoff`.
    Api,
}

/// The agent's status while the backlog builds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BacklogStatus {
    /// Online but taking no offers: handoffs wait `queued`.
    Busy,
    /// Nobody online: the router defers handoffs (`no_agent_available`) and requeues them
    /// when the agent comes online.
    Away,
}

/// `baton bench load` options.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Mode::Load)]
    pub mode: Mode,
    /// Database of the servers under test.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    /// PostgreSQL server for `--backend postgres`: a database `baton_bench_<random>` is
    /// created there and dropped at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Servers on the same database (PostgreSQL only); requests and agents are spread over
    /// them round-robin.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// Agents who log in, open the live WebSocket and set themselves available.
    #[arg(long, default_value_t = 20)]
    pub agents: usize,
    /// How long an agent keeps an accepted conversation before closing it, in ms.
    #[arg(long, default_value_t = 2000)]
    pub handle_ms: u64,
    /// Customer messages per second (open loop).
    #[arg(long, default_value_t = 300.0)]
    pub rate: f64,
    /// Handoffs per second (open loop; also the pace of the backlog mode's measured handoffs).
    #[arg(long, default_value_t = 10.0)]
    pub handoffs: f64,
    /// Length of the measured load (or ingest) in seconds.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Conversations in state `bot` created before the clock starts, that the messages go to.
    #[arg(long, default_value_t = 500)]
    pub conversations: usize,
    /// How a handoff is triggered.
    #[arg(long, value_enum, default_value_t = HandoffVia::Message)]
    pub handoff_via: HandoffVia,
    /// Seconds after the load to wait for the last handoffs to be offered.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
    /// Most requests in flight; a send that finds no room starts late and counts as late.
    #[arg(long, default_value_t = 512)]
    pub max_in_flight: usize,
    /// Timeout of every request in seconds; a timeout counts as an error.
    #[arg(long, default_value_t = 10)]
    pub request_timeout: u64,
    /// Requests in flight for `--mode ingest` and for the set-up.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// `--mode backlog`: conversations waiting before the measurements.
    #[arg(long, default_value_t = 10_000)]
    pub waiting: usize,
    /// `--mode backlog`: starts and handoffs in flight while the backlog builds up (each
    /// after the previous one's answer).
    #[arg(long, default_value_t = 4)]
    pub fill_concurrency: usize,
    /// `--mode backlog`: handoffs measured on top of the backlog (at `--handoffs` per second).
    #[arg(long, default_value_t = 200)]
    pub backlog_handoffs: usize,
    /// `--mode backlog`: customer messages to waiting conversations measured on top of the
    /// backlog (open loop at `--rate` per second).
    #[arg(long, default_value_t = 600)]
    pub backlog_messages: usize,
    /// `--mode backlog`: accept → close → next offer cycles measured.
    #[arg(long, default_value_t = 50)]
    pub backlog_cycles: usize,
    /// `--mode backlog`: the agent's status while the backlog builds up.
    #[arg(long, value_enum, default_value_t = BacklogStatus::Busy)]
    pub backlog_status: BacklogStatus,
    /// Longest the set-up (conversations, agents, the backlog) may take, in seconds.
    #[arg(long, default_value_t = 900)]
    pub setup_timeout: u64,
    /// Seconds of the raw database baseline.
    #[arg(long, default_value_t = 3)]
    pub baseline_secs: u64,
    /// Keep the database at the end (the SQLite files, or the PostgreSQL database) to look
    /// into it; its location is printed.
    #[arg(long)]
    pub keep_data: bool,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl LoadArgs {
    /// Refuses options that would make the run unbounded or meaningless.
    fn check(&self) -> anyhow::Result<()> {
        let within = |name: &str, v: f64, lo: f64, hi: f64| {
            anyhow::ensure!(
                v.is_finite() && (lo..=hi).contains(&v),
                "--{name} must be between {lo} and {hi} (got {v})"
            );
            Ok(())
        };
        within("rate", self.rate, 0.1, 50_000.0)?;
        within("handoffs", self.handoffs, 0.1, 5_000.0)?;
        within("duration", self.duration as f64, 1.0, 3_600.0)?;
        within("drain", self.drain as f64, 0.0, 600.0)?;
        within("agents", self.agents as f64, 1.0, 2_000.0)?;
        within("handle-ms", self.handle_ms as f64, 0.0, 600_000.0)?;
        within("conversations", self.conversations as f64, 1.0, 200_000.0)?;
        within("max-in-flight", self.max_in_flight as f64, 1.0, 10_000.0)?;
        within("request-timeout", self.request_timeout as f64, 1.0, 300.0)?;
        within("concurrency", self.concurrency as f64, 1.0, 1_000.0)?;
        within("waiting", self.waiting as f64, 0.0, 1_000_000.0)?;
        within(
            "fill-concurrency",
            self.fill_concurrency as f64,
            1.0,
            1_000.0,
        )?;
        within(
            "backlog-handoffs",
            self.backlog_handoffs as f64,
            1.0,
            100_000.0,
        )?;
        within("backlog-cycles", self.backlog_cycles as f64, 1.0, 10_000.0)?;
        within("setup-timeout", self.setup_timeout as f64, 1.0, 86_400.0)?;
        within("baseline-secs", self.baseline_secs as f64, 1.0, 600.0)?;
        within("instances", self.instances as f64, 1.0, 64.0)?;
        anyhow::ensure!(
            self.instances == 1 || self.backend == Backend::Postgres,
            "--instances above 1 needs --backend postgres: SQLite is one process's database"
        );
        let ops = self.rate * self.duration as f64 + self.handoffs * self.duration as f64;
        anyhow::ensure!(
            ops <= 5_000_000.0,
            "--rate, --handoffs and --duration ask for {ops:.0} requests; at most 5,000,000 per run"
        );
        Ok(())
    }

    fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.request_timeout)
    }

    fn setup_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.setup_timeout)
    }
}

/// Runs a `baton bench` command.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Load(args) => run_load(args).await,
    }
}

async fn run_load(args: LoadArgs) -> anyhow::Result<()> {
    args.check()?;
    let mut env = env::Env::create(args.backend, &args.postgres_url).await?;
    eprintln!(
        "bench: scratch folder {}, database {}",
        env.dir.display(),
        env.database_shown
    );
    let mut report = report::Report::new(&args, &env);
    let outcome = tokio::select! {
        r = scenario(&mut env, &args, &mut report) => r,
        why = interrupted() => Err(anyhow::anyhow!("interrupted ({why})")),
    };
    report.finish(&env, &outcome);
    env.cleanup(args.keep_data).await;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("bench: figures written to {}", path.display());
    }
    outcome?;
    if report.server_died {
        anyhow::bail!("a server died during the run; see its log above");
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, so either still stops the servers and prints what was
/// measured.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

async fn scenario(
    env: &mut env::Env,
    args: &LoadArgs,
    report: &mut report::Report,
) -> anyhow::Result<()> {
    // The baseline first, while nothing else uses the disk or the database server.
    eprintln!("bench: raw baseline ({} s)", args.baseline_secs);
    let baseline = baseline::measure(
        args.backend,
        &env.dir,
        &env.database_url,
        std::time::Duration::from_secs(args.baseline_secs),
    )
    .await?;
    report.baseline = Some(baseline);
    let tenant = load::seed(env, args).await?;
    match args.mode {
        Mode::Load => load::run_load(env, args, &tenant, report).await,
        Mode::Ingest => load::run_ingest(env, args, &tenant, report).await,
        Mode::Backlog => backlog::run(env, args, &tenant, report).await,
    }
}
