//! The learned half of the human-request signal: a linear model over the same hashed word
//! 1-2-grams, character 3-5-grams and dense features as the frustration model
//! ([`super::model`]; the features of a message are computed once and shared), trained to tell
//! a request for a person from anything else. It catches what no rule lists: paraphrases
//! ("hand me over to a human", "do you have human support"), misspellings beyond one edit.
//!
//! The rules keep the last word where they are sure (see [`combine`]): a rule hit is a request;
//! a request the rules found negated ("I don't need an agent") or a question about the bot's
//! nature ("are you a real person?") stays a negative whatever the model says; otherwise the
//! model's probability at or above the threshold is a request (kind `model`).
//!
//! Trained on the dev files only by `scripts/train-human-request.sh` (the
//! `train_human_request` example, fixed seeds); the threshold is chosen on leave-one-source-out
//! scores (`training::request_loso`). The weights ship in
//! `crates/baton-core/data/human_request_model.tsv`.

use super::human_request::HumanRequest;
use super::model::{Features, LinearModel};
use std::sync::LazyLock;

/// The shipped threshold on the model probability, chosen on pooled leave-one-source-out
/// scores of the dev file by `scripts/train-human-request.sh` (a test checks it matches the
/// weights file).
pub const THRESHOLD: f64 = 0.60;

const WEIGHTS: &str = include_str!("../../data/human_request_model.tsv");

static MODEL: LazyLock<Option<LinearModel>> = LazyLock::new(|| {
    // An empty or placeholder file is no model (a zero model would say 0.5 to everything).
    if !WEIGHTS.lines().any(|l| l.starts_with("bias\t")) {
        return None;
    }
    LinearModel::parse(WEIGHTS)
});

/// The shipped model, if the weights file holds one.
pub fn shipped() -> Option<&'static LinearModel> {
    MODEL.as_ref()
}

/// Forces the weights to be parsed now rather than on the first message.
pub fn warm_up() {
    LazyLock::force(&MODEL);
}

/// Fewest words a message needs for the model to speak: shorter requests ("agent", "humen")
/// are the rules' (with their typo tolerance), and an empty or one-word message gives the
/// model nothing but its bias.
pub const MIN_WORDS: usize = 2;

/// Whether the rules leave the message to the model: it has at least [`MIN_WORDS`] words, and
/// the rules did not detect a request, did not find one negated, and found no question about
/// the bot.
pub fn open_to_model(rules: &HumanRequest, about_bot: bool, words: usize) -> bool {
    words >= MIN_WORDS && !rules.detected && !rules.negated && !about_bot
}

/// Combines the rules' verdict with the model's probability `p`: rules first, then the model
/// at or above `threshold`. `p` is `None` when the model did not run (see [`open_to_model`]).
pub fn combine(
    rules: HumanRequest,
    about_bot: bool,
    p: Option<f64>,
    threshold: f64,
) -> HumanRequest {
    match p {
        Some(p) if !rules.detected && !rules.negated && !about_bot && p >= threshold => {
            HumanRequest {
                detected: true,
                confidence: p,
                kind: Some("model"),
                phrase: None,
                language: None,
                negated: false,
            }
        }
        _ => rules,
    }
}

/// The model probability for a message's features, if a model is shipped.
pub fn probability(f: &Features) -> Option<f64> {
    shipped().map(|m| m.probability(f))
}
