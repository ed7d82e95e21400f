//! Languages with their own analysis chain (stop words + Snowball stemmer), and the fallback.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};

/// A language the index analyses; every other language shares [`Lang::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    Es,
    De,
    Fr,
    Pt,
    It,
    Other,
}

impl Lang {
    pub(crate) const ALL: [Lang; 7] = [
        Lang::En,
        Lang::Es,
        Lang::De,
        Lang::Fr,
        Lang::Pt,
        Lang::It,
        Lang::Other,
    ];

    /// Picks the analysis for a language tag by its primary subtag (`pt-BR` → Portuguese).
    pub(crate) fn from_code(code: &str) -> Lang {
        match primary_subtag(code).as_str() {
            "en" | "eng" => Lang::En,
            "es" | "spa" => Lang::Es,
            "de" | "deu" | "ger" => Lang::De,
            "fr" | "fra" | "fre" => Lang::Fr,
            "pt" | "por" => Lang::Pt,
            "it" | "ita" => Lang::It,
            _ => Lang::Other,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Prefix of this language's indexed terms (`en` in `en:refund`).
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Pt => "pt",
            Lang::It => "it",
            Lang::Other => "other",
        }
    }

    fn tantivy(self) -> Option<Language> {
        match self {
            Lang::En => Some(Language::English),
            Lang::Es => Some(Language::Spanish),
            Lang::De => Some(Language::German),
            Lang::Fr => Some(Language::French),
            Lang::Pt => Some(Language::Portuguese),
            Lang::It => Some(Language::Italian),
            Lang::Other => None,
        }
    }

    /// The analysis chain used both to index and to query this language's fields.
    ///
    /// Stop words are removed before stemming (the lists hold unstemmed, accented words), and
    /// accents are folded after stemming (the Snowball stemmers expect them), so a customer who
    /// types "olvide mi contrasena" still matches "olvidé mi contraseña".
    pub(crate) fn analyzer(self) -> TextAnalyzer {
        let base = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .dynamic();
        match self.tantivy() {
            Some(language) => {
                let stop = match self {
                    Lang::En => Some(StopWordFilter::remove(
                        ENGLISH_STOP_WORDS.iter().map(|w| w.to_string()),
                    )),
                    _ => StopWordFilter::new(language),
                };
                let base = match stop {
                    Some(stop) => base.filter_dynamic(stop),
                    None => base,
                };
                base.filter_dynamic(Stemmer::new(language))
                    .filter_dynamic(AsciiFoldingFilter)
                    .build()
            }
            None => base.filter_dynamic(AsciiFoldingFilter).build(),
        }
    }
}

/// English stop words: tantivy's English list is Lucene's 33 words, which keeps "my", "where",
/// "how", "i" and lets them match most of a support base. This is the Snowball English list,
/// plus contraction fragments left by the tokenizer ("don't" → "don", "t") and chat filler,
/// minus words that carry meaning in support questions ("website down", "log out", "sign up",
/// "turn off", "charged again").
const ENGLISH_STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "would",
    "should",
    "could",
    "ought",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "to",
    "from",
    "in",
    "on",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "can",
    "cannot",
    "will",
    "just",
    "now",
    "also",
    "s",
    "t",
    "d",
    "ll",
    "m",
    "re",
    "ve",
    "don",
    "doesn",
    "didn",
    "isn",
    "aren",
    "wasn",
    "weren",
    "won",
    "hi",
    "hello",
    "hey",
    "please",
    "thanks",
    "thank",
    "get",
    "got",
];

/// The lower-cased primary subtag of a language tag (`"pt-BR"` → `"pt"`), the value the
/// language filter compares.
pub(crate) fn primary_subtag(code: &str) -> String {
    code.trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::TokenStream;

    fn tokens(lang: Lang, text: &str) -> Vec<String> {
        let mut analyzer = lang.analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn codes_map_by_primary_subtag() {
        assert_eq!(Lang::from_code("pt-BR"), Lang::Pt);
        assert_eq!(Lang::from_code(" ES "), Lang::Es);
        assert_eq!(Lang::from_code("nl"), Lang::Other);
        assert_eq!(Lang::from_code(""), Lang::Other);
        assert_eq!(primary_subtag("es_MX"), "es");
    }

    #[test]
    fn english_stems_and_drops_stop_words() {
        assert_eq!(
            tokens(Lang::En, "Where were my refunds? I was refunded"),
            ["refund", "refund"]
        );
    }

    #[test]
    fn spanish_stems_and_folds_accents() {
        assert_eq!(
            tokens(Lang::Es, "reembolsos"),
            tokens(Lang::Es, "reembolso")
        );
        assert_eq!(
            tokens(Lang::Es, "olvidé mi contraseña"),
            tokens(Lang::Es, "olvide mi contrasena")
        );
    }

    #[test]
    fn other_languages_fold_without_stemming() {
        assert_eq!(
            tokens(Lang::Other, "Bestellingen Ünïcode"),
            ["bestellingen", "unicode"]
        );
    }
}
