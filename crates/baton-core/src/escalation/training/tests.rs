use super::*;
use crate::escalation::model;
use crate::escalation::{Detector, eval};

fn toy_row(y: bool, words: usize, compound: f64) -> Row {
    // `has_negative_evidence` counts word 1-2-grams: 2·words − 1 of them.
    let mut f = Features {
        sparse: vec![0; (2 * words).saturating_sub(1)],
        ..Features::default()
    };
    f.dense[0] = compound;
    Row {
        f,
        rule_level: 0.0,
        y,
    }
}

#[test]
fn counts_and_f1() {
    let scores = [(0.9, true), (0.8, false), (0.4, true), (0.1, false)];
    let c = Counts::at(&scores, 0.5);
    assert_eq!((c.tp, c.fp, c.fn_, c.tn), (1, 1, 1, 1));
    assert_eq!(c.f1(), 0.5);
    assert_eq!(Counts::at(&scores, 0.95).f1(), 0.0);
}

#[test]
fn folds_partition_the_rows_evenly_and_deterministically() {
    let f = folds(103, 5, SEED);
    assert_eq!(f, folds(103, 5, SEED));
    assert_ne!(f, folds(103, 5, SEED + 1));
    for k in 0..5 {
        let n = f.iter().filter(|x| **x == k).count();
        assert!((20..=21).contains(&n), "fold {k} has {n}");
    }
}

#[test]
fn choose_finds_the_separating_threshold_and_respects_the_gate() {
    let rows: Vec<Row> = (0..20).map(|i| toy_row(i >= 10, 5, 0.0)).collect();
    let refs: Vec<&Row> = rows.iter().collect();
    let probs: Vec<f64> = (0..20).map(|i| if i >= 10 { 0.7 } else { 0.3 }).collect();
    let s = choose(&refs, &probs, &[1.0]);
    assert_eq!(s.counts.f1(), 1.0);
    assert!(s.threshold > 0.3 && s.threshold <= 0.7, "{s:?}");
    // A short message without negative evidence stays below any threshold the search picks.
    assert!(level(&toy_row(true, 2, 0.0), 1.0, 1.0) <= frustration::UNGATED_CAP);
    assert!(level(&toy_row(true, 2, -0.5), 1.0, 1.0) > 0.9);
}

#[test]
fn nested_cv_never_tunes_on_the_reported_fold() {
    // Labels are pure noise: a threshold tuned on the reported scores could still find some
    // F1; settings chosen inside the training folds and scored on unseen rows cannot beat
    // predicting everyone frustrated by much.
    let mut rng = Lcg(7);
    let rows: Vec<Row> = (0..400)
        .map(|_| {
            let mut r = toy_row(rng.next_u64().is_multiple_of(4), 5, 0.0);
            r.f.sparse = (0..9).map(|_| (rng.next_u64() % 64) as u32).collect();
            r
        })
        .collect();
    let cv = nested_cv(&rows, 5, 3, &[1.0], SEED);
    let all_positive = Counts {
        tp: rows.iter().filter(|r| r.y).count(),
        fp: rows.iter().filter(|r| !r.y).count(),
        ..Counts::default()
    };
    assert_eq!(cv.per_fold.len(), 5);
    assert_eq!(
        cv.pooled.tp + cv.pooled.fp + cv.pooled.fn_ + cv.pooled.tn,
        400
    );
    assert!(
        cv.pooled.f1() <= all_positive.f1() + 0.05,
        "{:?} vs {:?}",
        cv.pooled,
        all_positive
    );
}

/// The dev file, if it is beside the repository (`../shared/eval/`). Missing is a failure
/// under CI (`CI` set), a skip elsewhere.
fn dev_examples() -> Option<Vec<eval::Example>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/eval/frustration-dev.tsv");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(eval::parse_tsv(&s).expect("dev file parses")),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {} not readable ({e})", path.display());
            None
        }
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The honest figure of the shipped recipe: nested 5-fold cross-validation on the dev file
/// (blend weight and threshold chosen inside each training fold), exactly as
/// `scripts/train-frustration.sh` reports it first. The floor is the figure recorded in
/// BENCHMARKS.md minus 0.005, so a change that makes the model worse fails here; the weights
/// file must record the same figure (it comes from this code), and the detector with the
/// shipped weights must reproduce its in-sample F1 on the file it was trained on.
#[test]
fn frustration_nested_cv_on_dev() {
    let Some(examples) = dev_examples() else {
        return;
    };
    let rows = rows(&examples);
    let cv = nested_cv(&rows, 5, 5, &MODEL_WEIGHTS, SEED);
    let c = cv.pooled;
    eprintln!(
        "nested CV: P {:.4} R {:.4} F1 {:.4}",
        c.precision(),
        c.recall(),
        c.f1()
    );
    assert!(
        c.f1() >= NESTED_CV_FLOOR,
        "nested 5-fold CV F1 {:.4}",
        c.f1()
    );
    let recorded = format!(
        "# pooled P {:.4} R {:.4} F1 {:.4}",
        c.precision(),
        c.recall(),
        c.f1()
    );
    let file = include_str!("../../../data/frustration_model.tsv");
    assert!(
        file.lines().any(|l| l.starts_with(&recorded)),
        "the weights file does not record {recorded:?}: retrain with scripts/train-frustration.sh"
    );
    assert!(model::shipped().is_some());
    let w = FrustrationWeights::default();
    let chosen = format!(
        "# chosen: model_weight {:.2}, threshold {:.2} ",
        w.model_weight, w.threshold
    );
    assert!(
        file.lines().any(|l| l.starts_with(&chosen)),
        "FrustrationWeights::default() does not match the settings the training chose"
    );

    let d = Detector::with_defaults();
    let r = eval::evaluate(&d, eval::Task::Frustration, &examples, 0);
    assert!(r.f1 >= 0.94, "in-sample F1 {:.4}", r.f1);
}

/// See [`frustration_nested_cv_on_dev`].
const NESTED_CV_FLOOR: f64 = 0.770;
