//! Training and honest evaluation of the linear frustration model ([`super::model`]).
//!
//! Used by the `train_frustration` example (`scripts/train-frustration.sh`) and by the test
//! that keeps the cross-validated F1 above its floor. Deterministic: fixed-seed shuffles, a
//! fixed number of epochs, no threads.
//!
//! [`nested_cv`] is the honest figure: the decision settings (the model's weight in the blend
//! with the rule level, and the threshold) are chosen from out-of-fold scores **inside each
//! training fold**, so the fold whose F1 is reported never influences the settings it is
//! scored with. (Choosing them on the pooled out-of-fold scores of the whole file, as the
//! shipped settings are, tunes on the very scores that are then reported.)

use super::eval::Example;
use super::frustration::{self, FrustrationWeights};
use super::model::{BUCKETS, DENSE, Features, LinearModel, features};
use super::sentiment;
use super::text::Tokens;

/// Seed of the shuffles.
pub const SEED: u64 = 20_240_601;
/// Passes over the data.
pub const EPOCHS: usize = 15;
/// AdaGrad base learning rate.
pub const LR: f64 = 0.05;
/// L2 penalty per update.
pub const L2: f64 = 1e-4;

/// Candidate model weights in the blend `w·model + (1 − w)·rules`.
pub const MODEL_WEIGHTS: [f64; 9] = [0.0, 0.25, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0];

/// One labelled message with its precomputed features.
#[derive(Debug, Clone)]
pub struct Row {
    /// Model features.
    pub f: Features,
    /// Rule level (VADER and cues, default cue weights).
    pub rule_level: f64,
    /// Gold label.
    pub y: bool,
}

/// A small deterministic generator (64-bit LCG, high bits) for shuffles.
#[derive(Debug, Clone)]
pub struct Lcg(pub u64);

impl Lcg {
    /// Next 31-bit value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Computes the features of every example (a message is scored as a lone customer turn).
pub fn rows(examples: &[Example]) -> Vec<Row> {
    let rules_only = FrustrationWeights {
        model_weight: 0.0,
        ..FrustrationWeights::default()
    };
    examples
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
        .collect()
}

/// AdaGrad logistic regression with L2, class-balanced.
pub fn train(rows: &[&Row], seed: u64) -> LinearModel {
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

/// The level [`frustration::measure`] gives a message whose model probability is `p`, blended
/// with weight `wm` (same gate: without negative evidence it stays at
/// [`frustration::UNGATED_CAP`]).
pub fn level(row: &Row, p: f64, wm: f64) -> f64 {
    let l = wm * p + (1.0 - wm) * row.rule_level;
    if frustration::has_negative_evidence(&row.f) {
        l
    } else {
        l.min(frustration::UNGATED_CAP)
    }
}

/// Confusion counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// False negatives.
    pub fn_: usize,
    /// True negatives.
    pub tn: usize,
}

impl Counts {
    /// Counts the predictions `score >= t`.
    pub fn at(scores: &[(f64, bool)], t: f64) -> Counts {
        let mut c = Counts::default();
        for &(s, y) in scores {
            match (s >= t, y) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, true) => c.fn_ += 1,
                (false, false) => c.tn += 1,
            }
        }
        c
    }

    /// Adds another set of counts.
    pub fn add(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }

    /// tp / (tp + fp).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn).
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// A seeded shuffle of `0..n`: row `order[i]` belongs to fold `i % k`.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    Lcg(seed).shuffle(&mut idx);
    idx
}

/// Splits `0..n` into `k` folds after a seeded shuffle: `fold[i]` is the fold of row `i`.
pub fn folds(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut fold = vec![0; n];
    for (pos, &r) in shuffled(n, seed).iter().enumerate() {
        fold[r] = pos % k;
    }
    fold
}

/// The rows of fold `f` (`test`) or of all other folds, in shuffled order (the order matters
/// to the training run, so it is part of the recipe).
fn part<'a, R: std::ops::Deref<Target = Row>>(
    rows: &'a [R],
    order: &[usize],
    k: usize,
    f: usize,
    test: bool,
) -> Vec<&'a Row> {
    order
        .iter()
        .enumerate()
        .filter(|(i, _)| (i % k == f) == test)
        .map(|(_, &r)| &*rows[r])
        .collect()
}

/// Out-of-fold probabilities for `rows`: each is scored by a model that never saw it (fold
/// `f` is scored by a model trained with seed `seed + f`).
pub fn out_of_fold(rows: &[&Row], k: usize, seed: u64) -> Vec<f64> {
    let order = shuffled(rows.len(), seed);
    let mut oof = vec![0.0; rows.len()];
    for f in 0..k {
        let m = train(&part(rows, &order, k, f, false), seed + f as u64);
        for (i, &r) in order.iter().enumerate() {
            if i % k == f {
                oof[r] = m.probability(&rows[r].f);
            }
        }
    }
    oof
}

/// Decision settings and the counts they reached where they were chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Model weight in the blend.
    pub model_weight: f64,
    /// Threshold on the blended level.
    pub threshold: f64,
    /// Counts at these settings on the scores they were chosen on.
    pub counts: Counts,
}

/// The model weight (from `weights`) and threshold that maximise F1 on the given out-of-fold
/// probabilities. Thresholds 0.05..0.94 above [`frustration::UNGATED_CAP`], in steps of 0.01;
/// ties keep the first (lowest model weight, lowest threshold).
pub fn choose(rows: &[&Row], probs: &[f64], weights: &[f64]) -> Settings {
    let mut best = Settings {
        model_weight: 0.0,
        threshold: 0.5,
        counts: Counts::default(),
    };
    let mut best_f1 = -1.0;
    for &wm in weights {
        let scores: Vec<(f64, bool)> = rows
            .iter()
            .zip(probs)
            .map(|(r, p)| (level(r, *p, wm), r.y))
            .collect();
        for t in (5..95)
            .map(|t| f64::from(t) / 100.0)
            .filter(|t| *t > frustration::UNGATED_CAP)
        {
            let c = Counts::at(&scores, t);
            if c.f1() > best_f1 {
                best_f1 = c.f1();
                best = Settings {
                    model_weight: wm,
                    threshold: t,
                    counts: c,
                };
            }
        }
    }
    best
}

/// Result of [`nested_cv`].
#[derive(Debug, Clone, PartialEq)]
pub struct CvReport {
    /// Counts pooled over the outer test folds.
    pub pooled: Counts,
    /// Per outer fold: the settings chosen inside its training part, and the test counts.
    pub per_fold: Vec<(Settings, Counts)>,
}

/// Honest k-fold cross-validation: for each outer fold, the model weight and threshold are
/// chosen on inner `inner`-fold out-of-fold scores of the training part only, a model is
/// trained on the whole training part, and the held-out fold is scored with those settings.
pub fn nested_cv(rows: &[Row], outer: usize, inner: usize, weights: &[f64], seed: u64) -> CvReport {
    let order = shuffled(rows.len(), seed);
    let boxed: Vec<&Row> = rows.iter().collect();
    let mut pooled = Counts::default();
    let mut per_fold = Vec::new();
    for f in 0..outer {
        let train_rows = part(&boxed, &order, outer, f, false);
        let test_rows = part(&boxed, &order, outer, f, true);
        let inner_seed = seed.wrapping_mul(31).wrapping_add(100 * (f as u64 + 1));
        let oof = out_of_fold(&train_rows, inner, inner_seed);
        let s = choose(&train_rows, &oof, weights);
        let m = train(&train_rows, inner_seed);
        let scores: Vec<(f64, bool)> = test_rows
            .iter()
            .map(|r| (level(r, m.probability(&r.f), s.model_weight), r.y))
            .collect();
        let c = Counts::at(&scores, s.threshold);
        pooled.add(c);
        per_fold.push((s, c));
    }
    CvReport { pooled, per_fold }
}

#[cfg(test)]
mod tests;
