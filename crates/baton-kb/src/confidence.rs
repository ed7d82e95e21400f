//! How sure the built-in KB bot may be that the top hit answers the question.

use crate::Hit;

/// Top-hit score at which the strength part reaches 1 − 1/e ≈ 0.63. Calibrated on the demo
/// knowledge base: a question that is an article's title scores about 20-30, one rare word in
/// a title about 10, one common body word about 2-4 (see `tests/demo.rs`).
const SCORE_SCALE: f64 = 10.0;
/// Share of the confidence that depends on the gap between the first and second hits.
const GAP_WEIGHT: f64 = 0.25;

/// A confidence in `[0, 1]` that the first hit answers the query, for the built-in KB bot.
///
/// BM25 scores are unbounded and grow with the number of matching query terms, so the
/// heuristic combines two saturating parts:
///
/// - **strength** `1 − exp(−top / 10)`: how strongly the best article matches. A weak single
///   body-word match (score ≈ 3) gives ≈ 0.26; an exact title match (≈ 25) gives ≈ 0.92.
/// - **separation** `(top − second) / top` (1 with a single hit): whether the best article
///   stands out or ties with another, in which case the bot should offer choices or hand
///   over rather than answer.
///
/// `confidence = strength × (0.75 + 0.25 × separation)`. It is 0 without hits, never
/// decreases when the top score rises (others fixed), and never decreases when the second
/// score falls. Hits must come from one search, best first; non-finite or negative scores
/// count as 0.
///
/// On the demo base, a question that names an article scores above 0.8, two articles tied on a
/// shared word around 0.5, a single common word about 0.2. A reasonable KB-bot policy is to
/// answer with the article from about 0.6, offer the top two or three as links between about
/// 0.35 and 0.6, and count anything lower as a low-confidence turn for escalation.
pub fn confidence(hits: &[Hit]) -> f64 {
    let score = |h: &Hit| {
        let s = f64::from(h.score);
        if s.is_finite() { s.max(0.0) } else { 0.0 }
    };
    let Some(top) = hits.first().map(score) else {
        return 0.0;
    };
    if top <= 0.0 {
        return 0.0;
    }
    let second = hits.get(1).map(score).unwrap_or(0.0).min(top);
    let strength = 1.0 - (-top / SCORE_SCALE).exp();
    let separation = (top - second) / top;
    (strength * ((1.0 - GAP_WEIGHT) + GAP_WEIGHT * separation)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(scores: &[f32]) -> Vec<Hit> {
        scores
            .iter()
            .map(|&score| Hit {
                id: String::new(),
                title: String::new(),
                score,
                snippet: String::new(),
                tags: Vec::new(),
                language: "en".into(),
            })
            .collect()
    }

    #[test]
    fn no_hits_or_zero_score_is_zero() {
        assert_eq!(confidence(&[]), 0.0);
        assert_eq!(confidence(&hits(&[0.0])), 0.0);
        assert_eq!(confidence(&hits(&[f32::NAN])), 0.0);
    }

    #[test]
    fn monotone_in_top_score_and_gap() {
        let mut previous = 0.0;
        for top in [0.5, 1.0, 3.0, 8.0, 15.0, 30.0, 80.0] {
            let c = confidence(&hits(&[top, 0.5]));
            assert!(c > previous, "{top}: {c} <= {previous}");
            assert!((0.0..=1.0).contains(&c));
            previous = c;
        }
        let mut previous = 0.0;
        for second in [20.0, 15.0, 10.0, 5.0, 0.0] {
            let c = confidence(&hits(&[20.0, second]));
            assert!(c > previous, "{second}: {c} <= {previous}");
            previous = c;
        }
        assert!(confidence(&hits(&[20.0])) >= confidence(&hits(&[20.0, 1.0])));
    }
}
