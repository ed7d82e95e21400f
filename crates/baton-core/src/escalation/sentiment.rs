//! VADER sentiment (Hutto & Gilbert 2014), ported from the reference Python implementation
//! (`vaderSentiment` 3.3.2, MIT; lexicon and emoji table in `crates/baton-core/data/`).
//!
//! The port follows the reference line by line, including its quirks (the "but" rule looks
//! sentiments up by value, the "so"/"this" amplification applies without "never"), so golden
//! values computed with the Python package match to four decimals. See the tests.

use super::text::{FastMap, FastSet};
use std::sync::LazyLock;

const B_INCR: f64 = 0.293;
const B_DECR: f64 = -0.293;
const C_INCR: f64 = 0.733;
const N_SCALAR: f64 = -0.74;

const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

const BOOSTERS_UP: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

const BOOSTERS_DOWN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "just enough",
    "kind of",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sort of",
    "sorta",
    "sortof",
    "sort-of",
];

const SPECIAL_CASES: &[(&str, f64)] = &[
    ("the shit", 3.0),
    ("the bomb", 3.0),
    ("bad ass", 1.5),
    ("badass", 1.5),
    ("bus stop", 0.0),
    ("yeah right", -2.0),
    ("kiss of death", -1.5),
    ("to die for", 3.0),
    ("beating heart", 3.5),
];

struct Tables {
    lexicon: FastMap<&'static str, f64>,
    emoji: FastMap<char, &'static str>,
    boosters: FastMap<&'static str, f64>,
    negate: FastSet<&'static str>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let lexicon = include_str!("../../data/vader_lexicon.tsv")
        .lines()
        .filter_map(|l| {
            let (w, v) = l.split_once('\t')?;
            Some((w, v.trim().parse::<f64>().ok()?))
        })
        .collect();
    let emoji = include_str!("../../data/vader_emoji.tsv")
        .lines()
        .filter_map(|l| {
            let (e, d) = l.split_once('\t')?;
            let mut cs = e.chars();
            // The reference looks emojis up one code point at a time, so only single-code-point
            // entries can ever match.
            match (cs.next(), cs.next()) {
                (Some(c), None) => Some((c, d.trim())),
                _ => None,
            }
        })
        .collect();
    let boosters = BOOSTERS_UP
        .iter()
        .map(|w| (*w, B_INCR))
        .chain(BOOSTERS_DOWN.iter().map(|w| (*w, B_DECR)))
        .collect();
    let negate = NEGATE.iter().copied().collect();
    Tables {
        lexicon,
        emoji,
        boosters,
        negate,
    }
});

/// VADER's four scores for one text.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Polarity {
    /// Share of negative valence, 0..1.
    pub neg: f64,
    /// Share of neutral words, 0..1.
    pub neu: f64,
    /// Share of positive valence, 0..1.
    pub pos: f64,
    /// Normalised sum of valences, -1..1 (the usual single sentiment score).
    pub compound: f64,
}

/// Forces the lexicon to be parsed now rather than on the first message.
pub fn warm_up() {
    LazyLock::force(&TABLES);
}

fn booster(word_lower: &str) -> Option<f64> {
    TABLES.boosters.get(word_lower).copied()
}

fn special_case(s: &str) -> Option<f64> {
    SPECIAL_CASES.iter().find(|(k, _)| *k == s).map(|(_, v)| *v)
}

/// Python's `str.isupper()`: at least one cased character and no lowercase one.
fn is_upper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

fn negated(word_lower: &str) -> bool {
    TABLES.negate.contains(word_lower) || word_lower.contains("n't")
}

fn strip_punc_if_word(tok: &str) -> &str {
    let stripped = tok.trim_matches(|c: char| c.is_ascii_punctuation());
    if stripped.chars().count() <= 2 {
        tok
    } else {
        stripped
    }
}

/// Scores `text` exactly like `SentimentIntensityAnalyzer().polarity_scores(text)` (unrounded).
pub fn polarity_scores(text: &str) -> Polarity {
    let t = &*TABLES;
    let replaced;
    let text = if text.chars().any(|c| t.emoji.contains_key(&c)) {
        let mut out = String::with_capacity(text.len() + 32);
        let mut prev_space = true;
        for c in text.chars() {
            if let Some(d) = t.emoji.get(&c) {
                if !prev_space {
                    out.push(' ');
                }
                out.push_str(d);
                prev_space = false;
            } else {
                out.push(c);
                prev_space = c == ' ';
            }
        }
        replaced = out;
        replaced.trim()
    } else {
        text.trim()
    };

    let words: Vec<&str> = text.split_whitespace().map(strip_punc_if_word).collect();
    let lowers: Vec<std::borrow::Cow<'_, str>> = words
        .iter()
        .map(|w| {
            if w.chars().any(char::is_uppercase) {
                std::borrow::Cow::Owned(w.to_lowercase())
            } else {
                std::borrow::Cow::Borrowed(*w)
            }
        })
        .collect();
    let n = words.len();
    let allcaps = words.iter().filter(|w| is_upper(w)).count();
    let is_cap_diff = n > allcaps && allcaps > 0;
    let lex = |w: &str| t.lexicon.get(w).copied();
    let l = |i: usize| -> &str { &lowers[i] };

    let mut sentiments: Vec<f64> = Vec::with_capacity(n);
    for i in 0..n {
        let item_l = l(i);
        if booster(item_l).is_some() || (i + 1 < n && item_l == "kind" && l(i + 1) == "of") {
            sentiments.push(0.0);
            continue;
        }
        let mut valence = 0.0;
        if let Some(v) = lex(item_l) {
            valence = v;
            if item_l == "no" && i != n - 1 && lex(l(i + 1)).is_some() {
                valence = 0.0;
            }
            if (i > 0 && l(i - 1) == "no")
                || (i > 1 && l(i - 2) == "no")
                || (i > 2 && l(i - 3) == "no" && matches!(l(i - 1), "or" | "nor"))
            {
                valence = v * N_SCALAR;
            }
            if is_upper(words[i]) && is_cap_diff {
                if valence > 0.0 {
                    valence += C_INCR;
                } else {
                    valence -= C_INCR;
                }
            }
            for start_i in 0..3 {
                if i > start_i && lex(l(i - (start_i + 1))).is_none() {
                    let prev = words[i - (start_i + 1)];
                    let mut s = scalar_inc_dec(prev, l(i - (start_i + 1)), valence, is_cap_diff);
                    if start_i == 1 && s != 0.0 {
                        s *= 0.95;
                    }
                    if start_i == 2 && s != 0.0 {
                        s *= 0.9;
                    }
                    valence += s;
                    valence = negation_check(valence, &l, start_i, i);
                    if start_i == 2 {
                        valence = special_idioms_check(valence, &l, n, i);
                    }
                }
            }
            // "least" check.
            if i > 1 && lex(l(i - 1)).is_none() && l(i - 1) == "least" {
                if l(i - 2) != "at" && l(i - 2) != "very" {
                    valence *= N_SCALAR;
                }
            } else if i > 0 && lex(l(i - 1)).is_none() && l(i - 1) == "least" {
                valence *= N_SCALAR;
            }
        }
        sentiments.push(valence);
    }

    // The "but" rule. The reference finds each value's position with `list.index`, i.e. the
    // first equal value; reproduced for fidelity.
    if let Some(bi) = lowers.iter().position(|w| w == "but") {
        for k in 0..sentiments.len() {
            let x = sentiments[k];
            let si = sentiments.iter().position(|v| *v == x).unwrap_or(k);
            if si < bi {
                sentiments[si] = x * 0.5;
            } else if si > bi {
                sentiments[si] = x * 1.5;
            }
        }
    }

    score_valence(&sentiments, text)
}

fn scalar_inc_dec(word: &str, word_lower: &str, valence: f64, is_cap_diff: bool) -> f64 {
    let Some(mut scalar) = booster(word_lower) else {
        return 0.0;
    };
    if valence < 0.0 {
        scalar *= -1.0;
    }
    if is_upper(word) && is_cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

fn negation_check<'a>(
    valence: f64,
    l: &impl Fn(usize) -> &'a str,
    start_i: usize,
    i: usize,
) -> f64 {
    let so_this = |w: &str| w == "so" || w == "this";
    match start_i {
        0 if negated(l(i - 1)) => valence * N_SCALAR,
        1 => {
            if l(i - 2) == "never" && so_this(l(i - 1)) {
                valence * 1.25
            } else if l(i - 2) == "without" && l(i - 1) == "doubt" {
                valence
            } else if negated(l(i - 2)) {
                valence * N_SCALAR
            } else {
                valence
            }
        }
        2 => {
            if (l(i - 3) == "never" && so_this(l(i - 2))) || so_this(l(i - 1)) {
                valence * 1.25
            } else if l(i - 3) == "without" && (l(i - 2) == "doubt" || l(i - 1) == "doubt") {
                valence
            } else if negated(l(i - 3)) {
                valence * N_SCALAR
            } else {
                valence
            }
        }
        _ => valence,
    }
}

fn special_idioms_check<'a>(
    mut valence: f64,
    l: &impl Fn(usize) -> &'a str,
    n: usize,
    i: usize,
) -> f64 {
    let onezero = format!("{} {}", l(i - 1), l(i));
    let twoonezero = format!("{} {} {}", l(i - 2), l(i - 1), l(i));
    let twoone = format!("{} {}", l(i - 2), l(i - 1));
    let threetwoone = format!("{} {} {}", l(i - 3), l(i - 2), l(i - 1));
    let threetwo = format!("{} {}", l(i - 3), l(i - 2));
    for seq in [&onezero, &twoonezero, &twoone, &threetwoone, &threetwo] {
        if let Some(v) = special_case(seq) {
            valence = v;
            break;
        }
    }
    if n - 1 > i
        && let Some(v) = special_case(&format!("{} {}", l(i), l(i + 1)))
    {
        valence = v;
    }
    if n - 1 > i + 1
        && let Some(v) = special_case(&format!("{} {} {}", l(i), l(i + 1), l(i + 2)))
    {
        valence = v;
    }
    for ngram in [&threetwoone, &threetwo, &twoone] {
        if let Some(b) = booster(ngram) {
            valence += b;
        }
    }
    valence
}

fn score_valence(sentiments: &[f64], text: &str) -> Polarity {
    if sentiments.is_empty() {
        return Polarity::default();
    }
    let mut sum_s: f64 = sentiments.iter().sum();
    let ep = text.matches('!').count().min(4) as f64 * 0.292;
    let qm_count = text.matches('?').count();
    let qm = if qm_count > 1 {
        if qm_count <= 3 {
            qm_count as f64 * 0.18
        } else {
            0.96
        }
    } else {
        0.0
    };
    let punct = ep + qm;
    if sum_s > 0.0 {
        sum_s += punct;
    } else if sum_s < 0.0 {
        sum_s -= punct;
    }
    let compound = (sum_s / (sum_s * sum_s + 15.0).sqrt()).clamp(-1.0, 1.0);
    let (mut pos_sum, mut neg_sum, mut neu) = (0.0, 0.0, 0.0);
    for &s in sentiments {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu += 1.0;
        }
    }
    if pos_sum > neg_sum.abs() {
        pos_sum += punct;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= punct;
    }
    let total = pos_sum + neg_sum.abs() + neu;
    Polarity {
        neg: (neg_sum / total).abs(),
        neu: (neu / total).abs(),
        pos: (pos_sum / total).abs(),
        compound,
    }
}

#[cfg(test)]
mod tests;
