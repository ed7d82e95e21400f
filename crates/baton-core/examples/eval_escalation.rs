//! Runs the escalation evaluation without the full CLI (same code path as `baton eval escalation`).
//!
//! `cargo run -p baton-core --example eval_escalation -- human_request FILE.tsv [--json] [--errors N] [--sources FILE.sources.tsv]`
//!
//! With `--sources` (the `*.sources.tsv` sidecar of a dev file), one report per source follows
//! the overall one, then the worst source. For the shipped detector these per-source figures are
//! in-sample wherever a learned part was trained on that source; the leave-one-source-out
//! figures of the learned parts come from the training examples (`train_human_request`,
//! `train_frustration`).

use baton_core::escalation::{Detector, eval};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(task), Some(path)) = (args.first(), args.get(1)) else {
        return Err(
            "usage: eval_escalation human_request|frustration FILE.tsv [--json] [--errors N] [--sources FILE]"
                .into(),
        );
    };
    let task: eval::Task = task.parse()?;
    let json = args.iter().any(|a| a == "--json");
    let errors = args
        .iter()
        .position(|a| a == "--errors")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(10), |n| n.parse())?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let examples = eval::parse_tsv(&text).map_err(|e| format!("{path}: {e}"))?;
    let detector = Detector::with_defaults();
    if args.iter().any(|a| a == "--scores") {
        // score<TAB>label per example, for threshold sweeps.
        for e in &examples {
            let (_, score) = eval::predict(&detector, task, &e.text);
            println!("{score}\t{}", u8::from(e.label));
        }
        return Ok(());
    }
    let report = eval::evaluate(&detector, task, &examples, errors);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if let Some(sp) = args
        .iter()
        .position(|a| a == "--sources")
        .and_then(|i| args.get(i + 1))
    {
        let src = std::fs::read_to_string(sp).map_err(|e| format!("{sp}: {e}"))?;
        let sources = eval::attach_sources(&examples, &src).map_err(|e| format!("{sp}: {e}"))?;
        let per = eval::evaluate_by_source(&detector, task, &examples, &sources, 0);
        println!("\nper source:");
        for (name, r) in &per {
            let fa = if r.fp + r.tn == 0 {
                0.0
            } else {
                r.fp as f64 / (r.fp + r.tn) as f64
            };
            println!(
                "  {name:<22} n {:>5}  P {:.4} R {:.4} F1 {:.4}  tp {} fp {} fn {} tn {}  false alarms {:.4}",
                r.n, r.precision, r.recall, r.f1, r.tp, r.fp, r.fn_, r.tn, fa
            );
        }
        if let Some((name, r)) = per
            .iter()
            .filter(|(_, r)| r.tp + r.fn_ > 0)
            .min_by(|a, b| a.1.f1.total_cmp(&b.1.f1))
        {
            println!(
                "  worst source (lowest F1 among sources with positives): {name} F1 {:.4}",
                r.f1
            );
        }
    }
    Ok(())
}
