//! Trains the linear frustration model on the dev file, reports cross-validation, and writes
//! the weights. Deterministic: fixed seeds, fixed epoch count, no threads.
//!
//! `cargo run --release -p baton-core --example train_frustration -- DEV.tsv OUT.tsv`
//! (see `scripts/train-frustration.sh`). Train on the dev file only.
//!
//! The report has two parts:
//! - the honest figure, nested 5-fold cross-validation ([`training::nested_cv`]): in each
//!   outer fold the blend weight and the threshold are chosen by an inner 5-fold CV of the
//!   training part only (repeated over 5 split seeds to show the spread);
//! - the shipped settings' table: F1 of the pooled 5-fold out-of-fold scores of the whole file
//!   per blend weight, at 0.50 and at the best threshold. The "best threshold" column is tuned
//!   on the scores it is measured on, so it is optimistic; it is how the defaults in
//!   `FrustrationWeights::default()` (threshold, model_weight) were picked.

use baton_core::escalation::eval;
use baton_core::escalation::training::{
    self, Counts, CvReport, MODEL_WEIGHTS, Row, SEED, choose, level, nested_cv,
};

const FOLDS: usize = 5;
/// Outer splits reported (seeds SEED, SEED + 1, ...); the first is the headline figure.
const SPLITS: u64 = 5;

fn prf(c: &Counts) -> String {
    format!(
        "P {:.4} R {:.4} F1 {:.4}",
        c.precision(),
        c.recall(),
        c.f1()
    )
}

fn describe(r: &CvReport) -> String {
    let c = &r.pooled;
    let mut s = format!(
        "pooled {} (tp {} fp {} fn {} tn {})\n",
        prf(c),
        c.tp,
        c.fp,
        c.fn_,
        c.tn
    );
    for (i, (set, c)) in r.per_fold.iter().enumerate() {
        s.push_str(&format!(
            "  fold {i}: chosen inside its training part: model_weight {:.2}, threshold {:.2} (inner F1 {:.4}); test {}\n",
            set.model_weight,
            set.threshold,
            set.counts.f1(),
            prf(c)
        ));
    }
    s
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        return Err("usage: train_frustration DEV.tsv OUT.tsv".into());
    };
    let examples = eval::parse_tsv(&std::fs::read_to_string(input)?)?;
    let rows: Vec<Row> = training::rows(&examples);
    let name = input.rsplit('/').next().unwrap_or(input);
    let mut report = format!(
        "trained on {name} ({} rows), seed {SEED}, {} epochs, lr {}, l2 {}\n",
        rows.len(),
        training::EPOCHS,
        training::LR,
        training::L2
    );

    // 1. The honest figure.
    let cv = nested_cv(&rows, FOLDS, FOLDS, &MODEL_WEIGHTS, SEED);
    report.push_str(&format!(
        "nested {FOLDS}-fold CV (blend weight and threshold chosen by an inner {FOLDS}-fold CV of each training part; the reported fold never tunes anything), split seed {SEED}:\n{}",
        describe(&cv)
    ));
    let mut f1s = vec![cv.pooled.f1()];
    for k in 1..SPLITS {
        let other = nested_cv(&rows, FOLDS, FOLDS, &MODEL_WEIGHTS, SEED + k);
        report.push_str(&format!(
            "nested {FOLDS}-fold CV, split seed {}: pooled {}\n",
            SEED + k,
            prf(&other.pooled)
        ));
        f1s.push(other.pooled.f1());
    }
    report.push_str(&format!(
        "nested CV pooled F1 over {SPLITS} splits: mean {:.4}, min {:.4}, max {:.4}\n",
        f1s.iter().sum::<f64>() / f1s.len() as f64,
        f1s.iter().copied().fold(f64::INFINITY, f64::min),
        f1s.iter().copied().fold(0.0, f64::max),
    ));
    let rules_only = nested_cv(&rows, FOLDS, FOLDS, &[0.0], SEED);
    report.push_str(&format!(
        "rules only (VADER + cues), nested the same way: pooled {}\n",
        prf(&rules_only.pooled)
    ));

    // 2. The shipped settings: pooled out-of-fold scores of the whole file (optimistic).
    let all: Vec<&Row> = rows.iter().collect();
    let oof = training::out_of_fold(&all, FOLDS, SEED);
    report.push_str(&format!(
        "pooled {FOLDS}-fold out-of-fold scores of the whole file (the best-threshold column is tuned on the scores it reports: optimistic):\n"
    ));
    for wm in MODEL_WEIGHTS {
        let scores: Vec<(f64, bool)> = all
            .iter()
            .zip(&oof)
            .map(|(r, p)| (level(r, *p, wm), r.y))
            .collect();
        let best = choose(&all, &oof, &[wm]);
        report.push_str(&format!(
            "model_weight {wm:.2}: CV F1 at 0.50 = {:.4} (P {:.4} R {:.4}); best threshold {:.2}: F1 {:.4} (P {:.4} R {:.4})\n",
            Counts::at(&scores, 0.5).f1(),
            Counts::at(&scores, 0.5).precision(),
            Counts::at(&scores, 0.5).recall(),
            best.threshold,
            best.counts.f1(),
            best.counts.precision(),
            best.counts.recall()
        ));
    }
    let chosen = choose(&all, &oof, &MODEL_WEIGHTS);
    report.push_str(&format!(
        "chosen: model_weight {:.2}, threshold {:.2} (pooled out-of-fold F1 {:.4}, optimistic; FrustrationWeights::default() must match)\n",
        chosen.model_weight,
        chosen.threshold,
        chosen.counts.f1()
    ));
    eprint!("{report}");

    let m = training::train(&all, SEED);
    std::fs::write(
        output,
        m.to_tsv(&format!(
            "Linear frustration model for baton-core (see escalation/model.rs, escalation/training.rs).\nGenerated by scripts/train-frustration.sh; do not edit.\n{report}"
        )),
    )?;
    Ok(())
}
