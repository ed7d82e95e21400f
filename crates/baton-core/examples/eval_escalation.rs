//! Runs the escalation evaluation without the full CLI (same code path as `baton eval escalation`).
//!
//! `cargo run --release -p baton-core --example eval_escalation -- human_request FILE.tsv [--json] [--errors N]`

use baton_core::escalation::{Detector, eval};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(task), Some(path)) = (args.first(), args.get(1)) else {
        return Err(
            "usage: eval_escalation human_request|frustration FILE.tsv [--json] [--errors N]"
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
    Ok(())
}
