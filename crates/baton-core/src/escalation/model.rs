//! A small linear frustration model: logistic regression over hashed word 1-2-grams plus the
//! VADER scores and the frustration cues as dense features.
//!
//! Trained on the dev file only by `scripts/train-frustration.sh` (which runs the
//! `train_frustration` example with a fixed seed); the weights ship in
//! `crates/baton-core/data/frustration_model.tsv`. Features are computed by this module for
//! both training and inference, so they cannot drift apart.

use super::sentiment::Polarity;
use super::text::{Tokens, fnv1a};
use std::sync::LazyLock;

/// Number of hash buckets for the sparse features.
pub const BUCKETS: usize = 1 << 15;

/// Number of dense features.
pub const DENSE: usize = 9;

/// Dense feature names, in order (also the order in the weights file).
pub const DENSE_NAMES: [&str; DENSE] = [
    "compound",
    "neg",
    "pos",
    "all_caps",
    "repeated_punctuation",
    "profanity",
    "phrase",
    "exclamations",
    "negative_compound",
];

/// Features of one message: hashed sparse indices (with repeats) and dense values.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Bucket indices of word unigrams and bigrams.
    pub sparse: Vec<u32>,
    /// Dense values, see [`DENSE_NAMES`].
    pub dense: [f64; DENSE],
}

fn mix(h: u64, bytes: &[u8]) -> u64 {
    let mut h = h;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Computes the features of a message.
pub fn features(text: &str, t: &Tokens, p: &Polarity, cues: &[&str]) -> Features {
    let mut sparse = Vec::with_capacity(t.len() * 2);
    let uni = fnv1a(b"u:");
    let bi = fnv1a(b"b:");
    for i in 0..t.len() {
        let w = t.word(i).as_bytes();
        sparse.push((mix(uni, w) % BUCKETS as u64) as u32);
        if i + 1 < t.len() {
            let h = mix(mix(mix(bi, w), b" "), t.word(i + 1).as_bytes());
            sparse.push((h % BUCKETS as u64) as u32);
        }
    }
    let cue = |c: &str| f64::from(u8::from(cues.contains(&c)));
    let excl = text.matches('!').count().min(5) as f64 / 5.0;
    Features {
        sparse,
        dense: [
            p.compound,
            p.neg,
            p.pos,
            cue("all_caps"),
            cue("repeated_punctuation"),
            cue("profanity"),
            cue("phrase"),
            excl,
            (-p.compound).max(0.0),
        ],
    }
}

/// Logistic-regression weights.
#[derive(Debug, Clone)]
pub struct LinearModel {
    /// Intercept.
    pub bias: f64,
    /// Dense weights.
    pub dense: [f64; DENSE],
    /// Sparse weights, one per bucket.
    pub sparse: Vec<f32>,
}

impl LinearModel {
    /// A zero model.
    pub fn zeros() -> Self {
        LinearModel {
            bias: 0.0,
            dense: [0.0; DENSE],
            sparse: vec![0.0; BUCKETS],
        }
    }

    /// The raw score (log-odds).
    pub fn margin(&self, f: &Features) -> f64 {
        let mut z = self.bias;
        for (w, x) in self.dense.iter().zip(f.dense.iter()) {
            z += w * x;
        }
        for &i in &f.sparse {
            z += self.sparse[i as usize] as f64;
        }
        z
    }

    /// Probability of frustration, 0..1.
    pub fn probability(&self, f: &Features) -> f64 {
        1.0 / (1.0 + (-self.margin(f)).exp())
    }

    /// Reads the weights file: `bias\tW`, `dense:NAME\tW`, then `INDEX\tW` for non-zero buckets.
    pub fn parse(s: &str) -> Option<LinearModel> {
        let mut m = LinearModel::zeros();
        for line in s.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (k, v) = line.split_once('\t')?;
            let v: f64 = v.trim().parse().ok()?;
            if k == "bias" {
                m.bias = v;
            } else if let Some(name) = k.strip_prefix("dense:") {
                let i = DENSE_NAMES.iter().position(|n| *n == name)?;
                m.dense[i] = v;
            } else {
                let i: usize = k.parse().ok()?;
                *m.sparse.get_mut(i)? = v as f32;
            }
        }
        Some(m)
    }

    /// Writes the weights file read by [`LinearModel::parse`].
    pub fn to_tsv(&self, header: &str) -> String {
        let mut out = String::new();
        for l in header.lines() {
            out.push_str("# ");
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(&format!("bias\t{:.6}\n", self.bias));
        for (n, w) in DENSE_NAMES.iter().zip(self.dense.iter()) {
            out.push_str(&format!("dense:{n}\t{w:.6}\n"));
        }
        for (i, w) in self.sparse.iter().enumerate() {
            if w.abs() >= 0.0005 {
                out.push_str(&format!("{i}\t{w:.4}\n"));
            }
        }
        out
    }
}

static MODEL: LazyLock<Option<LinearModel>> =
    LazyLock::new(|| LinearModel::parse(include_str!("../../data/frustration_model.tsv")));

/// The shipped model (`None` only if the data file is empty or broken; tests make sure it is not).
pub fn shipped() -> Option<&'static LinearModel> {
    MODEL.as_ref()
}
