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

/// `baton eval escalation --task human_request|frustration --input FILE.tsv [--json] [--errors N]`
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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
