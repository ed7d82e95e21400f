//! `baton simulate`: a discrete-event simulation of one queue with the real core router.

use anyhow::{Context, bail};
use baton_core::routing::sim::{SimConfig, SimStats, simulate};
use baton_core::routing::{Strategy, erlang_c};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Flags of `baton simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Number of agents, all available for the whole run.
    #[arg(long, default_value_t = 10)]
    pub agents: u32,
    /// Mean conversations arriving per hour (Poisson).
    #[arg(long, default_value_t = 100.0)]
    pub arrivals_per_hour: f64,
    /// Mean handle time in minutes (exponential).
    #[arg(long, default_value_t = 5.0)]
    pub mean_handle_minutes: f64,
    /// Simulated hours of arrivals.
    #[arg(long, default_value_t = 8.0)]
    pub hours: f64,
    /// Hours at the start left out of the statistics (the queue starts empty).
    #[arg(long, default_value_t = 0.0)]
    pub warmup_hours: f64,
    /// Seed of the random number generator: equal seeds give equal results.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Mean customer patience in minutes (exponential); without it customers never abandon.
    #[arg(long)]
    pub patience_minutes: Option<f64>,
    /// Routing strategy: round_robin, longest_idle, least_busy or best_match.
    #[arg(long, default_value = "longest_idle", value_parser = parse_strategy)]
    pub strategy: Strategy,
    /// Concurrent conversations per agent.
    #[arg(long, default_value_t = 1)]
    pub capacity: u32,
    /// Service level threshold in seconds (share answered within it).
    #[arg(long, default_value_t = 20.0)]
    pub service_level_seconds: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    Strategy::parse(s).ok_or_else(|| {
        format!("unknown strategy '{s}', expected one of: round_robin, longest_idle, least_busy, best_match")
    })
}

impl SimulateArgs {
    fn config(&self) -> anyhow::Result<SimConfig> {
        if self.agents == 0 {
            bail!("--agents must be at least 1");
        }
        if self.capacity == 0 {
            bail!("--capacity must be at least 1");
        }
        if !(self.mean_handle_minutes.is_finite() && self.mean_handle_minutes > 0.0) {
            bail!("--mean-handle-minutes must be a positive number");
        }
        if let Some(p) = self.patience_minutes
            && !(p.is_finite() && p > 0.0)
        {
            bail!("--patience-minutes must be a positive number");
        }
        Ok(SimConfig {
            agents: self.agents,
            arrivals_per_hour: self.arrivals_per_hour,
            mean_handle_secs: self.mean_handle_minutes * 60.0,
            hours: self.hours,
            warmup_hours: self.warmup_hours,
            seed: self.seed,
            patience_secs: self.patience_minutes.map(|m| m * 60.0),
            strategy: self.strategy,
            capacity: self.capacity,
            service_level_secs: self.service_level_seconds,
            ..SimConfig::default()
        })
    }
}

/// Runs the simulation and prints the results (a table, or JSON with `--json`).
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let load = config.load();
    if load >= 1.0 && config.patience_secs.is_none() {
        eprintln!(
            "warning: offered load is {:.0}% of capacity: without abandonment the queue grows \
             without bound and waits depend on the run length",
            load * 100.0
        );
    }
    // Expected router events: a few per arrival. Draw a bar only for long runs on a terminal.
    let expected = config.arrivals_per_hour * config.hours;
    let show = !args.json && std::io::stderr().is_terminal() && expected > 200_000.0;
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
    if show {
        bar.set_style(
            ProgressStyle::with_template("simulating {bar:40} {percent:>3}% eta {eta}")
                .context("progress bar template")?,
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let stats = simulate(&config, &mut |done| {
        bar.set_position((done * 1000.0) as u64)
    })?;
    bar.finish_and_clear();

    let erlang =
        (config.capacity == 1 && config.patience_secs.is_none() && load < 1.0).then(|| {
            let mu = 1.0 / config.mean_handle_secs;
            erlang_c(config.agents, config.arrivals_per_hour / 3600.0, mu)
        });
    if args.json {
        let mut value = serde_json::to_value(&stats)?;
        if let (Some((p, w)), Some(obj)) = (erlang, value.as_object_mut()) {
            obj.insert(
                "erlang_c".into(),
                serde_json::json!({ "probability_of_waiting": p, "mean_wait_seconds": w }),
            );
        }
        obj_insert_load(&mut value, load);
        println!("{}", serde_json::to_string(&value)?);
    } else {
        print_table(&config, &stats, load, erlang);
    }
    Ok(())
}

fn obj_insert_load(value: &mut serde_json::Value, load: f64) {
    if let Some(obj) = value.as_object_mut() {
        obj.insert("offered_load".into(), serde_json::json!(load));
    }
}

fn print_table(config: &SimConfig, s: &SimStats, load: f64, erlang: Option<(f64, f64)>) {
    println!(
        "{} agents x {} capacity, {:.1} arrivals/h, mean handle {:.1} min, {}, {:.0} h (seed {})",
        config.agents,
        config.capacity,
        config.arrivals_per_hour,
        config.mean_handle_secs / 60.0,
        config.strategy,
        config.hours,
        config.seed
    );
    println!("offered load            {:>10.1}%", load * 100.0);
    println!("conversations           {:>10}", s.offered);
    println!("answered                {:>10}", s.answered);
    println!(
        "abandoned               {:>10}  ({:.2}%)",
        s.abandoned,
        s.abandonment_rate * 100.0
    );
    println!("mean wait               {:>10.1} s", s.mean_wait_seconds);
    println!("p90 wait                {:>10.1} s", s.p90_wait_seconds);
    println!("max wait                {:>10.1} s", s.max_wait_seconds);
    println!(
        "probability of waiting  {:>10.2}%",
        s.probability_of_waiting * 100.0
    );
    println!("utilization             {:>10.2}%", s.utilization * 100.0);
    println!(
        "service level           {:>10.2}%  (answered within {:.0} s)",
        s.service_level * 100.0,
        s.service_level_seconds
    );
    println!("longest queue           {:>10}", s.max_queue_length);
    if let Some((p, w)) = erlang {
        println!(
            "Erlang C (M/M/c)        P(wait) {:.2}%, mean wait {:.1} s",
            p * 100.0,
            w
        );
    }
}
