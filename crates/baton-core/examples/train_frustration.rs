//! Trains the linear frustration model on the dev file, reports 5-fold cross-validation, and
//! writes the weights. Deterministic: fixed seed, fixed epoch count, no threads.
//!
//! `cargo run --release -p baton-core --example train_frustration -- DEV.tsv OUT.tsv`
//! (see `scripts/train-frustration.sh`). Train on the dev file only.

use baton_core::escalation::frustration::{self, FrustrationWeights};
use baton_core::escalation::model::{BUCKETS, DENSE, Features, LinearModel, features};
use baton_core::escalation::text::Tokens;
use baton_core::escalation::{eval, sentiment};

const SEED: u64 = 20_240_601;
const EPOCHS: usize = 15;
const LR: f64 = 0.05;
const L2: f64 = 1e-4;
const FOLDS: usize = 5;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

struct Row {
    f: Features,
    rule_level: f64,
    y: bool,
}

/// AdaGrad logistic regression with L2, class-balanced.
fn train(rows: &[&Row], seed: u64) -> LinearModel {
    let mut m = LinearModel::zeros();
    let mut g_sparse = vec![1e-8f64; BUCKETS];
    let mut g_dense = [1e-8f64; DENSE];
    let mut g_bias = 1e-8f64;
    let pos = rows.iter().filter(|r| r.y).count().max(1) as f64;
    let neg = (rows.len() as f64 - pos).max(1.0);
    let (w_pos, w_neg) = (
        rows.len() as f64 / (2.0 * pos),
        rows.len() as f64 / (2.0 * neg),
    );
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = Lcg(seed);
    for _ in 0..EPOCHS {
        rng.shuffle(&mut order);
        for &i in &order {
            let r = rows[i];
            let p = m.probability(&r.f);
            let y = if r.y { 1.0 } else { 0.0 };
            let g = (p - y) * if r.y { w_pos } else { w_neg };
            g_bias += g * g;
            m.bias -= LR * g / g_bias.sqrt();
            for ((w, gd), x) in m
                .dense
                .iter_mut()
                .zip(g_dense.iter_mut())
                .zip(r.f.dense.iter())
            {
                let gk = g * x + L2 * *w;
                *gd += gk * gk;
                *w -= LR * gk / gd.sqrt();
            }
            for &b in &r.f.sparse {
                let b = b as usize;
                let gk = g + L2 * m.sparse[b] as f64;
                g_sparse[b] += gk * gk;
                m.sparse[b] -= (LR * gk / g_sparse[b].sqrt()) as f32;
            }
        }
    }
    m
}

fn f1(scores: &[(f64, bool)], t: f64) -> (f64, f64, f64) {
    let tp = scores.iter().filter(|(s, y)| *s >= t && *y).count() as f64;
    let fp = scores.iter().filter(|(s, y)| *s >= t && !*y).count() as f64;
    let fn_ = scores.iter().filter(|(s, y)| *s < t && *y).count() as f64;
    let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
    (
        p,
        r,
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        },
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        return Err("usage: train_frustration DEV.tsv OUT.tsv".into());
    };
    let examples = eval::parse_tsv(&std::fs::read_to_string(input)?)?;
    let rules_only = FrustrationWeights {
        model_weight: 0.0,
        ..FrustrationWeights::default()
    };
    let rows: Vec<Row> = examples
        .iter()
        .map(|e| {
            let t = Tokens::new(&e.text);
            let fr = frustration::measure(&e.text, &t, false, &rules_only);
            let p = sentiment::polarity_scores(&e.text);
            Row {
                f: features(&e.text, &t, &p, &fr.cues),
                rule_level: fr.rule_level,
                y: e.label,
            }
        })
        .collect();

    // Out-of-fold predictions: every row is scored by a model that never saw it.
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    Lcg(SEED).shuffle(&mut idx);
    let mut oof = vec![0.0; rows.len()];
    for k in 0..FOLDS {
        let train_rows: Vec<&Row> = idx
            .iter()
            .enumerate()
            .filter(|(i, _)| i % FOLDS != k)
            .map(|(_, &r)| &rows[r])
            .collect();
        let m = train(&train_rows, SEED + k as u64);
        for (i, &r) in idx.iter().enumerate() {
            if i % FOLDS == k {
                oof[r] = m.probability(&rows[r].f);
            }
        }
    }
    let mut report = String::new();
    report.push_str(&format!("trained on {} ({} rows), {FOLDS}-fold CV, seed {SEED}, {EPOCHS} epochs, lr {LR}, l2 {L2}\n", input.rsplit('/').next().unwrap_or(input), rows.len()));
    let mut best = (0.0, 0.0, 0.0);
    for wm in [0.0, 0.25, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0] {
        // Same gate as frustration::measure: no negative evidence, no frustration.
        let scores: Vec<(f64, bool)> = rows
            .iter()
            .zip(&oof)
            .map(|(r, p)| {
                let level = wm * p + (1.0 - wm) * r.rule_level;
                (
                    if frustration::has_negative_evidence(&r.f) {
                        level
                    } else {
                        level.min(frustration::UNGATED_CAP)
                    },
                    r.y,
                )
            })
            .collect();
        let (mut bt, mut bf) = (0.5, (0.0, 0.0, 0.0));
        for t in (5..95)
            .map(|t| t as f64 / 100.0)
            .filter(|t| *t > frustration::UNGATED_CAP)
        {
            let x = f1(&scores, t);
            if x.2 > bf.2 {
                bf = x;
                bt = t;
            }
        }
        let at_half = f1(&scores, 0.5);
        report.push_str(&format!(
            "model_weight {wm:.2}: CV F1 at 0.50 = {:.4} (P {:.4} R {:.4}); best threshold {bt:.2}: F1 {:.4} (P {:.4} R {:.4})\n",
            at_half.2, at_half.0, at_half.1, bf.2, bf.0, bf.1
        ));
        if bf.2 > best.0 {
            best = (bf.2, wm, bt);
        }
    }
    report.push_str(&format!(
        "chosen: model_weight {:.2}, threshold {:.2} (CV F1 {:.4})\n",
        best.1, best.2, best.0
    ));
    eprint!("{report}");

    let all: Vec<&Row> = rows.iter().collect();
    let m = train(&all, SEED);
    std::fs::write(output, m.to_tsv(&format!("Linear frustration model for baton-core (see escalation/model.rs).\nGenerated by scripts/train-frustration.sh; do not edit.\n{report}")))?;
    Ok(())
}
