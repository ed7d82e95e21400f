//! The language to answer a customer in: the one their profile names, else the one they write
//! in, when it can be told.
//!
//! Baton writes its own texts (the bot's phrases, drafted replies, the suggested greeting) in
//! the languages of [`WRITTEN`]. Anything it would write in another language, or when the
//! language cannot be told, it leaves to the agent rather than answer in the wrong one.

use whatlang::{Detector, Lang};

/// The languages Baton's own texts are written in (primary subtags).
pub const WRITTEN: [&str; 6] = ["en", "es", "pt", "fr", "de", "it"];

/// The primary subtag of a language tag, lower case (`pt-BR` → `pt`, `es_MX` → `es`);
/// `None` for an empty tag.
pub fn primary(tag: &str) -> Option<String> {
    let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
    (!primary.is_empty()).then_some(primary)
}

/// The language `text` is written in, among [`WRITTEN`], when whatlang's trigram model is
/// sure enough of it (short messages seldom are: "ok thanks" tells nothing).
///
/// The bar, a confidence of [`GUESS_CONFIDENCE`]: among the six languages a sentence of ten
/// words scores 0.55-1.0 for its own language, while short phrases that fool the model
/// ("hello" taken for Italian, "cancel my subscription" for French) score below 0.1.
pub fn guess(text: &str) -> Option<&'static str> {
    let detector = Detector::with_allowlist(vec![
        Lang::Eng,
        Lang::Spa,
        Lang::Por,
        Lang::Fra,
        Lang::Deu,
        Lang::Ita,
    ]);
    let info = detector.detect(text)?;
    if info.confidence() < GUESS_CONFIDENCE {
        return None;
    }
    Some(match info.lang() {
        Lang::Eng => "en",
        Lang::Spa => "es",
        Lang::Por => "pt",
        Lang::Fra => "fr",
        Lang::Deu => "de",
        Lang::Ita => "it",
        _ => return None,
    })
}

/// The customer's language: the profile's primary subtag when it names one (whether or not
/// Baton writes in it), else a guess from what they wrote (`texts`, joined).
pub fn of_customer<'a>(
    profile: Option<&str>,
    texts: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    if let Some(primary) = profile.and_then(primary) {
        return Some(primary);
    }
    // A few sentences tell; the rest of a long transcript only costs time.
    let mut joined = String::new();
    for text in texts {
        if joined.len() >= GUESS_BYTES {
            break;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        let mut end = text.len().min(GUESS_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        joined.push_str(&text[..end]);
    }
    guess(&joined).map(String::from)
}

/// How sure whatlang must be of its guess (see [`guess`]).
const GUESS_CONFIDENCE: f64 = 0.5;

/// How much of what the customer wrote [`of_customer`] reads.
const GUESS_BYTES: usize = 2_000;

/// Whether Baton writes its own texts in `language` (a primary subtag).
pub fn is_written(language: &str) -> bool {
    WRITTEN.contains(&language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_decides_when_it_names_a_language() {
        assert_eq!(
            of_customer(Some("pt-BR"), ["I was charged twice"]).as_deref(),
            Some("pt")
        );
        assert_eq!(of_customer(Some("ja"), ["hello"]).as_deref(), Some("ja"));
        assert_eq!(primary(" es_MX").as_deref(), Some("es"));
        assert_eq!(primary(""), None);
    }

    #[test]
    fn without_a_profile_the_text_tells_when_it_is_clear() {
        let cases = [
            (
                "Me cobraron dos veces el mismo pedido y nadie me responde",
                "es",
            ),
            (
                "I was charged twice for the same order and nobody answers",
                "en",
            ),
            (
                "Fui cobrado duas vezes pelo mesmo pedido e ninguém me responde",
                "pt",
            ),
            (
                "J'ai été débité deux fois pour la même commande et personne ne répond",
                "fr",
            ),
            (
                "Mir wurde die gleiche Bestellung zweimal abgebucht und niemand antwortet",
                "de",
            ),
            (
                "Mi hanno addebitato due volte lo stesso ordine e nessuno risponde",
                "it",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(of_customer(None, [text]).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn a_short_or_foreign_text_tells_nothing() {
        assert_eq!(of_customer(None, ["ok"]), None);
        assert_eq!(of_customer(None, ["hello"]), None);
        assert_eq!(of_customer(None, ["cancel my subscription"]), None);
        assert_eq!(of_customer(None, Vec::<&str>::new()), None);
        assert!(is_written("de"));
        assert!(!is_written("ja"));
    }
}
