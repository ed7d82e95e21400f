//! A small linear frustration model over hashed word 1-2-grams (words in the scope of a negation
//! marked as such) and word-internal character n-grams, each kind in a weight table of its own,
//! plus the VADER scores, the AFINN-165 and emoji-emotion lexicon scores ([`super::lexicon`]),
//! the frustration cues and a few surface features (question marks, elongated words,
//! emoticons, length) as dense features. The weights are the average of a few
//! logistic regressions (see `training::Recipe::members`), which is itself one linear model.
//!
//! Trained on the dev files only by `scripts/train-frustration.sh` (which runs the
//! `train_frustration` example with fixed seeds); the weights ship in
//! `crates/baton-core/data/frustration_model.tsv`. Features are computed by this module for
//! both training and inference, so they cannot drift apart.

use super::sentiment::Polarity;
use super::text::{Tokens, fnv1a};
use std::sync::LazyLock;

/// Number of hash buckets for the sparse features.
pub const BUCKETS: usize = 1 << 16;

/// Number of dense features.
pub const DENSE: usize = 24;

/// The dense features that are rule cues (capitals, `!!`, profanity, phrase, complaint,
/// negative emoji): a message with one of them has negative evidence
/// ([`super::frustration::has_negative_evidence`]).
pub const CUES: std::ops::Range<usize> = 3..9;

/// Dense feature names, in order (also the order in the weights file). The first one and
/// [`CUES`] are the ones [`super::frustration::has_negative_evidence`] reads.
pub const DENSE_NAMES: [&str; DENSE] = [
    "compound",
    "neg",
    "pos",
    "all_caps",
    "repeated_punctuation",
    "profanity",
    "phrase",
    "complaint",
    "negative_emoji",
    "exclamations",
    "negative_compound",
    "positive_compound",
    "questions",
    "ends_with_question",
    "elongated",
    "negative_emoticon",
    "positive_emoji",
    "length",
    "negations",
    "afinn_negative",
    "afinn_positive",
    "afinn_worst",
    "emoji_negative",
    "emoji_positive",
];

/// Which sparse features are extracted (the shipped model uses [`SHIPPED_FEATURES`]; the
/// training example can try others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureConfig {
    /// Word bigrams besides unigrams.
    pub bigrams: bool,
    /// Words after a negation (to the end of the clause, at most 3 words) get their own
    /// unigram (`not … happy` is not `happy`).
    pub negation: bool,
    /// Character n-grams of each word with boundary marks (`<word>`), lengths `char_min..=char_max`
    /// (`char_max` 0: none).
    pub char_min: usize,
    /// See `char_min`.
    pub char_max: usize,
    /// Scale the word features by 1/sqrt(their count) and the character n-grams by 1/sqrt(theirs),
    /// so long texts do not pile up evidence and neither kind drowns the other.
    pub normalize: bool,
}

/// The sparse features of the shipped model.
pub const SHIPPED_FEATURES: FeatureConfig = FeatureConfig {
    bigrams: true,
    negation: true,
    char_min: 3,
    char_max: 5,
    normalize: true,
};

/// Features of one message: hashed sparse indices (with repeats; word features first, then
/// character n-grams), the value of each kind, and dense values.
#[derive(Debug, Clone)]
pub struct Features {
    /// Bucket indices of the sparse features.
    pub sparse: Vec<u32>,
    /// Value of each word feature (1, or 1/sqrt(count) when normalised).
    pub scale: f64,
    /// Index in `sparse` where the character n-grams start.
    pub split: usize,
    /// Value of each character n-gram feature (likewise).
    pub char_scale: f64,
    /// Number of words in the message.
    pub words: usize,
    /// Dense values, see [`DENSE_NAMES`].
    pub dense: [f64; DENSE],
    /// Experimental dense values (empty for the shipped features; the training example fills
    /// them for experiments, e.g. from word embeddings, see [`super::embeddings`]).
    pub extra: Vec<f32>,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            sparse: Vec::new(),
            scale: 1.0,
            split: usize::MAX,
            char_scale: 1.0,
            words: 0,
            dense: [0.0; DENSE],
            extra: Vec::new(),
        }
    }
}

fn mix(h: u64, bytes: &[u8]) -> u64 {
    let mut h = h;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn bucket(h: u64) -> u32 {
    // Fold the high bits in: FNV's low bits alone mix poorly for short keys.
    ((h ^ (h >> 29)) % BUCKETS as u64) as u32
}

/// Words that open a negation scope.
pub(crate) fn is_negation(w: &str) -> bool {
    matches!(
        w,
        "not"
            | "no"
            | "never"
            | "nothing"
            | "nobody"
            | "none"
            | "nor"
            | "neither"
            | "without"
            | "cannot"
            | "cant"
            | "dont"
            | "doesnt"
            | "didnt"
            | "isnt"
            | "wasnt"
            | "arent"
            | "werent"
            | "wont"
            | "wouldnt"
            | "couldnt"
            | "shouldnt"
            | "havent"
            | "hasnt"
            | "hadnt"
            | "aint"
    )
}

/// Whether a word repeats one letter three times or more (`sooo`, `nooo`).
fn elongated(w: &str) -> bool {
    let b = w.as_bytes();
    b.windows(3)
        .any(|x| x[0] == x[1] && x[1] == x[2] && x[0].is_ascii_alphabetic())
}

/// Emoticons read as negative.
pub const NEGATIVE_EMOTICONS: &[&str] = &[":(", ":-(", ":'(", ":/", ":-/", ">:(", "D:", ":@", ":|"];
/// Emoticons read as positive.
pub const POSITIVE_EMOTICONS: &[&str] = &[":)", ":-)", ":D", ":-D", ";)", ";-)", "<3", ":P", "=)"];

fn emoticons(text: &str, set: &[&str]) -> f64 {
    if !text.bytes().any(|b| matches!(b, b':' | b';' | b'<' | b'=')) {
        return 0.0;
    }
    f64::from(u8::from(set.iter().any(|e| text.contains(e))))
}

/// Computes the features of a message with the shipped configuration.
pub fn features(text: &str, t: &Tokens, p: &Polarity, cues: &[&str]) -> Features {
    features_with(&SHIPPED_FEATURES, text, t, p, cues)
}

/// Computes the features of a message.
pub fn features_with(
    cfg: &FeatureConfig,
    text: &str,
    t: &Tokens,
    p: &Polarity,
    cues: &[&str],
) -> Features {
    let n = t.len();
    let mut sparse = Vec::with_capacity(n * if cfg.char_max > 0 { 14 } else { 2 });
    let uni = fnv1a(b"u:");
    let neg_uni = fnv1a(b"n:");
    let bi = fnv1a(b"b:");
    let ch = fnv1a(b"c:");
    let mut scope = 0usize;
    let mut negations = 0usize;
    let mut long_words = 0usize;
    let mut gram = [0u8; 64];
    let mut chars: Vec<u32> = Vec::with_capacity(n * 12);
    for i in 0..n {
        let w = t.word(i).as_bytes();
        if cfg.negation && scope > 0 && i > 0 && t.same_clause(i - 1, i) {
            sparse.push(bucket(mix(neg_uni, w)));
            scope -= 1;
        } else {
            sparse.push(bucket(mix(uni, w)));
            scope = 0;
        }
        if is_negation(t.word(i)) {
            negations += 1;
            scope = 3;
        }
        if elongated(t.word(i)) {
            long_words += 1;
        }
        if cfg.bigrams && i + 1 < n {
            let h = mix(mix(mix(bi, w), b" "), t.word(i + 1).as_bytes());
            sparse.push(bucket(h));
        }
        if cfg.char_max > 0 && w.len() + 2 <= gram.len() {
            let m = w.len() + 2;
            gram[0] = b'<';
            gram[1..=w.len()].copy_from_slice(w);
            gram[m - 1] = b'>';
            // Shorter than the whole marked word: the unigram has that one already. FNV is
            // sequential, so the hash of each longer gram at a start extends the shorter one's.
            let max = cfg.char_max.min(m - 1);
            for s in 0..=m.saturating_sub(cfg.char_min) {
                let mut h = mix(ch, &gram[s..s + cfg.char_min - 1]);
                for len in cfg.char_min..=max.min(m - s) {
                    h = mix(h, &gram[s + len - 1..s + len]);
                    chars.push(bucket(h));
                }
            }
        }
    }
    let cue = |c: &str| f64::from(u8::from(cues.contains(&c)));
    let excl = text.matches('!').count().min(5) as f64 / 5.0;
    let questions = text.matches('?').count().min(3) as f64 / 3.0;
    let ends_q = f64::from(u8::from(
        text.trim_end_matches(|c: char| c.is_whitespace() || c == '.')
            .ends_with('?'),
    ));
    let (scale, char_scale) = if cfg.normalize {
        (
            1.0 / (sparse.len().max(1) as f64).sqrt(),
            1.0 / (chars.len().max(1) as f64).sqrt(),
        )
    } else {
        (1.0, 1.0)
    };
    let split = sparse.len();
    sparse.extend_from_slice(&chars);
    let lex = super::lexicon::score(text, t, is_negation);
    Features {
        sparse,
        scale,
        split,
        char_scale,
        words: n,
        dense: [
            p.compound,
            p.neg,
            p.pos,
            cue("all_caps"),
            cue("repeated_punctuation"),
            cue("profanity"),
            cue("phrase"),
            cue("complaint"),
            cue("negative_emoji"),
            excl,
            (-p.compound).max(0.0),
            p.compound.max(0.0),
            questions,
            ends_q,
            (long_words.min(3) as f64) / 3.0,
            emoticons(text, NEGATIVE_EMOTICONS),
            f64::from(u8::from(super::frustration::has_emoji(text, false))),
            (n.min(60) as f64) / 60.0,
            (negations.min(3) as f64) / 3.0,
            lex.afinn_negative.min(10.0) / 10.0,
            lex.afinn_positive.min(10.0) / 10.0,
            lex.afinn_worst / 5.0,
            lex.emoji_negative.min(6.0) / 6.0,
            lex.emoji_positive.min(6.0) / 6.0,
        ],
        extra: Vec::new(),
    }
}

/// Logistic-regression weights.
#[derive(Debug, Clone)]
pub struct LinearModel {
    /// Intercept.
    pub bias: f64,
    /// Dense weights.
    pub dense: [f64; DENSE],
    /// Weights of the word features, one per bucket.
    pub sparse: Vec<f32>,
    /// Weights of the character n-grams, one per bucket (a table of their own, so that a word
    /// feature and an n-gram never share a weight).
    pub chars: Vec<f32>,
    /// Weights of [`Features::extra`] (empty for the shipped models).
    pub extra: Vec<f64>,
}

impl LinearModel {
    /// A zero model.
    pub fn zeros() -> Self {
        LinearModel {
            bias: 0.0,
            dense: [0.0; DENSE],
            sparse: vec![0.0; BUCKETS],
            chars: vec![0.0; BUCKETS],
            extra: Vec::new(),
        }
    }

    /// The raw score (log-odds).
    pub fn margin(&self, f: &Features) -> f64 {
        let mut z = self.bias;
        for (w, x) in self.dense.iter().zip(f.dense.iter()) {
            z += w * x;
        }
        for (w, x) in self.extra.iter().zip(f.extra.iter()) {
            z += w * f64::from(*x);
        }
        let split = f.split.min(f.sparse.len());
        let mut s = 0.0f64;
        for &i in &f.sparse[..split] {
            s += self.sparse[i as usize] as f64;
        }
        let mut c = 0.0f64;
        for &i in &f.sparse[split..] {
            c += self.chars[i as usize] as f64;
        }
        z + s * f.scale + c * f.char_scale
    }

    /// Probability of frustration, 0..1.
    pub fn probability(&self, f: &Features) -> f64 {
        1.0 / (1.0 + (-self.margin(f)).exp())
    }

    /// Reads the weights file: `bias\tW`, `dense:NAME\tW`, then `INDEX\tW` for the non-zero
    /// word buckets and `c:INDEX\tW` for the non-zero character buckets (and `extra:INDEX\tW`
    /// for experimental features, see [`Features::extra`]).
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
            } else if let Some(i) = k.strip_prefix("extra:") {
                let i: usize = i.parse().ok()?;
                if i >= 4096 {
                    return None;
                }
                if m.extra.len() <= i {
                    m.extra.resize(i + 1, 0.0);
                }
                m.extra[i] = v;
            } else if let Some(i) = k.strip_prefix("c:") {
                let i: usize = i.parse().ok()?;
                *m.chars.get_mut(i)? = v as f32;
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
        for (i, w) in self.extra.iter().enumerate() {
            out.push_str(&format!("extra:{i}\t{w:.6}\n"));
        }
        for (i, w) in self.sparse.iter().enumerate() {
            if w.abs() >= 0.0005 {
                out.push_str(&format!("{i}\t{w:.4}\n"));
            }
        }
        for (i, w) in self.chars.iter().enumerate() {
            if w.abs() >= 0.0005 {
                out.push_str(&format!("c:{i}\t{w:.4}\n"));
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
