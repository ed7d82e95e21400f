//! `baton eval escalation`: scores the escalation detector on a labelled `text<TAB>label` file.
//!
//! Wiring (in main.rs): a subcommand `Eval(EvalArgs)` whose `run(&args)` is [`run`].

use anyhow::{Context, Result};
use baton_core::escalation::{Detector, eval};
use std::path::PathBuf;

/// `baton eval ...`
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// What to evaluate.
    #[command(subcommand)]
    pub command: EvalCommand,
}

/// Evaluation targets.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// The escalation detector (human request or frustration) on a labelled TSV file.
    Escalation(EscalationEvalArgs),
}

/// `baton eval escalation --task human_request|frustration --input FILE.tsv [--sources FILE.sources.tsv] [--json] [--errors N]`
#[derive(Debug, clap::Args)]
pub struct EscalationEvalArgs {
    /// Which signal to score: `human_request` or `frustration`.
    #[arg(long, value_parser = parse_task)]
    pub task: eval::Task,
    /// A `text<TAB>label` file with the header `text\tlabel` (no quoting, label 0 or 1).
    #[arg(long)]
    pub input: PathBuf,
    /// Print one JSON object (precision, recall, f1, tp, fp, fn, tn, accuracy, worst errors).
    #[arg(long)]
    pub json: bool,
    /// How many of the worst false positives and false negatives to show.
    #[arg(long, default_value_t = 10)]
    pub errors: usize,
    /// A sidecar file (header `source`, one source name per line, aligned with `--input`):
    /// also report per source and the worst source. These are figures of the shipped detector,
    /// in-sample wherever its learned parts saw the source; leave-one-source-out figures come
    /// from `scripts/train-*.sh`.
    #[arg(long)]
    pub sources: Option<PathBuf>,
}

fn parse_task(s: &str) -> Result<eval::Task, String> {
    s.parse()
}

/// Runs `baton eval ...`.
pub fn run(args: &EvalArgs) -> Result<()> {
    match &args.command {
        EvalCommand::Escalation(a) => run_escalation(a),
    }
}

/// Runs `baton eval escalation ...` with the default detector configuration and rules.
pub fn run_escalation(args: &EscalationEvalArgs) -> Result<()> {
    let path = args.input.display();
    let text =
        std::fs::read_to_string(&args.input).with_context(|| format!("cannot read {path}"))?;
    let examples =
        eval::parse_tsv(&text).with_context(|| format!("{path} is not a text<TAB>label file"))?;
    anyhow::ensure!(!examples.is_empty(), "{path} has a header but no examples");
    let detector = Detector::with_defaults();
    let report = eval::evaluate(&detector, args.task, &examples, args.errors);
    let per_source = match &args.sources {
        Some(sp) => {
            let shown = sp.display();
            let src =
                std::fs::read_to_string(sp).with_context(|| format!("cannot read {shown}"))?;
            let sources = eval::attach_sources(&examples, &src)
                .with_context(|| format!("{shown} is not a sources file aligned with {path}"))?;
            eval::evaluate_by_source(&detector, args.task, &examples, &sources, 0)
        }
        None => Vec::new(),
    };
    let worst = per_source
        .iter()
        .filter(|(_, r)| r.tp + r.fn_ > 0)
        .min_by(|a, b| a.1.f1.total_cmp(&b.1.f1));
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if args.sources.is_some() {
            let per: serde_json::Map<String, serde_json::Value> = per_source
                .iter()
                .map(|(n, r)| Ok((n.clone(), serde_json::to_value(r)?)))
                .collect::<Result<_, serde_json::Error>>()?;
            v["per_source"] = serde_json::Value::Object(per);
            v["worst_source"] = worst.map_or(serde_json::Value::Null, |(n, _)| n.clone().into());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{report}");
        if !per_source.is_empty() {
            println!("\nper source (shipped detector; in-sample where a learned part saw it):");
            for (name, r) in &per_source {
                println!(
                    "  {name:<24} n {:>5}  P {:.4} R {:.4} F1 {:.4}  tp {} fp {} fn {} tn {}",
                    r.n, r.precision, r.recall, r.f1, r.tp, r.fp, r.fn_, r.tn
                );
            }
            if let Some((name, r)) = worst {
                println!(
                    "  worst source (lowest F1 among sources with positives): {name} F1 {:.4}",
                    r.f1
                );
            }
        }
    }
    Ok(())
}
