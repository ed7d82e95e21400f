//! Sensitive topics: named sets of terms matched on whole words with light inflection.
//!
//! A term is one or more words. A word matches a message word that equals it or adds a common
//! inflection (`refund` matches `refunds`, `refunded`, `refunding`); a word ending in `*` is a
//! prefix (`reembols*`). Matching whole words is what keeps "personal" from matching "person".

use super::text::{FastMap, Tokens};
use serde::{Deserialize, Serialize};

/// A named set of terms, e.g. `refund`: `["refund", "money back", "chargeback"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSet {
    /// The name rules refer to (`{"topic": "refund"}`) and reasons carry (`sensitive_topic:refund`).
    pub name: String,
    /// Terms in any language, lowercase; accents are folded before matching.
    pub terms: Vec<String>,
}

/// A topic matched in a message, with the words that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicMatch {
    /// The topic name.
    pub topic: String,
    /// The matched words, as written.
    pub matched: Vec<String>,
}

const SUFFIXES: &[&str] = &[
    "s", "es", "ed", "d", "ing", "ings", "ment", "ments", "ion", "ions",
];

#[derive(Debug, Clone)]
struct Word {
    text: String,
    prefix: bool,
}

impl Word {
    fn matches(&self, w: &str) -> bool {
        match w.strip_prefix(self.text.as_str()) {
            None => false,
            Some("") => true,
            Some(rest) => self.prefix || SUFFIXES.contains(&rest),
        }
    }
}

/// Topic sets compiled for matching: terms are folded and split once.
#[derive(Debug, Clone, Default)]
pub struct TopicMatcher {
    topics: Vec<(String, Vec<Vec<Word>>)>,
    /// (topic, term) indices by the first three bytes of the term's first word, so a message
    /// word only meets the terms it could start.
    index: FastMap<String, Vec<(usize, usize)>>,
}

fn key(w: &str) -> &str {
    let mut end = w.len().min(3);
    while !w.is_char_boundary(end) {
        end -= 1;
    }
    &w[..end]
}

impl TopicMatcher {
    /// Compiles topic sets. Empty terms are ignored.
    pub fn new(sets: &[TopicSet]) -> TopicMatcher {
        let topics = sets
            .iter()
            .map(|s| {
                let terms = s
                    .terms
                    .iter()
                    .filter_map(|term| {
                        let (term, prefix_last) = match term.trim().strip_suffix('*') {
                            Some(t) => (t, true),
                            None => (term.trim(), false),
                        };
                        let toks = Tokens::new(term);
                        let n = toks.len();
                        let words: Vec<Word> = (0..n)
                            .map(|i| Word {
                                text: toks.word(i).to_string(),
                                prefix: prefix_last && i + 1 == n,
                            })
                            .collect();
                        (!words.is_empty()).then_some(words)
                    })
                    .collect();
                (s.name.clone(), terms)
            })
            .collect::<Vec<(String, Vec<Vec<Word>>)>>();
        let mut index: FastMap<String, Vec<(usize, usize)>> = FastMap::default();
        for (ti, (_, terms)) in topics.iter().enumerate() {
            for (wi, term) in terms.iter().enumerate() {
                index
                    .entry(key(&term[0].text).to_string())
                    .or_default()
                    .push((ti, wi));
            }
        }
        TopicMatcher { topics, index }
    }

    /// Whether a topic of this name is configured.
    pub fn contains(&self, name: &str) -> bool {
        self.topics.iter().any(|(n, _)| n == name)
    }

    /// The topics found in a message, in configuration order.
    pub fn find(&self, text: &str, t: &Tokens) -> Vec<TopicMatch> {
        // (topic, word position, matched text)
        let mut hits: Vec<(usize, usize, &str)> = Vec::new();
        for i in 0..t.len() {
            let Some(cands) = self.index.get(key(t.word(i))) else {
                continue;
            };
            for &(ti, wi) in cands {
                let term = &self.topics[ti].1[wi];
                let n = term.len();
                if i + n <= t.len()
                    && (0..n).all(|k| term[k].matches(t.word(i + k)))
                    && t.same_clause(i, i + n - 1)
                {
                    let m = t.original(text, i, i + n - 1);
                    if !hits.iter().any(|h| h.0 == ti && h.2 == m) {
                        hits.push((ti, i, m));
                    }
                }
            }
        }
        if hits.is_empty() {
            return Vec::new();
        }
        hits.sort_by_key(|h| (h.0, h.1));
        let mut out: Vec<TopicMatch> = Vec::new();
        for (ti, _, m) in hits {
            match out.last_mut() {
                Some(last) if last.topic == self.topics[ti].0 => last.matched.push(m.to_string()),
                _ => out.push(TopicMatch {
                    topic: self.topics[ti].0.clone(),
                    matched: vec![m.to_string()],
                }),
            }
        }
        out
    }
}

fn set(name: &str, terms: &[&str]) -> TopicSet {
    TopicSet {
        name: name.to_string(),
        terms: terms.iter().map(|s| s.to_string()).collect(),
    }
}

/// The default topics: billing/refund, cancellation, legal, fraud/account locked,
/// safety/medical, outage; English plus the main words in es/fr/de/it/pt.
pub fn default_topics() -> Vec<TopicSet> {
    vec![
        set(
            "refund",
            &[
                "refund",
                "money back",
                "chargeback",
                "charged twice",
                "double charged",
                "overcharged",
                "overcharge",
                "billing",
                "invoice",
                "reembols*",
                "rembours*",
                "erstattung",
                "ruckerstattung",
                "rimbors*",
                "estorno",
                "cobranca",
                "factura",
                "facture",
                "rechnung",
                "fattura",
                "fatura",
            ],
        ),
        set(
            "cancellation",
            &[
                "cancel my subscription",
                "cancel my account",
                "cancel my contract",
                "cancel my plan",
                "cancel my membership",
                "close my account",
                "terminate my contract",
                "unsubscribe",
                "cancellation",
                "darme de baja",
                "dar de baja",
                "resilier",
                "resiliation",
                "kundigen",
                "kundigung",
                "disdetta",
                "disdire",
                "cancelar minha assinatura",
                "cancelar mi suscripcion",
            ],
        ),
        set(
            "legal",
            &[
                "lawyer",
                "attorney",
                "lawsuit",
                "sue",
                "legal action",
                "court",
                "gdpr",
                "small claims",
                "ombudsman",
                "abogado",
                "demanda",
                "avocat",
                "plainte",
                "anwalt",
                "klage",
                "avvocato",
                "denuncia",
                "advogado",
                "processo judicial",
            ],
        ),
        set(
            "fraud",
            &[
                "fraud",
                "fraudulent",
                "scam",
                "scammed",
                "stolen card",
                "card was stolen",
                "identity theft",
                "hacked",
                "account locked",
                "locked out",
                "unauthorized",
                "unauthorised",
                "phishing",
                "fraude",
                "estafa",
                "arnaque",
                "betrug",
                "gehackt",
                "truffa",
                "golpe",
                "hackeado",
                "piratage",
            ],
        ),
        set(
            "safety",
            &[
                "emergency",
                "injured",
                "injury",
                "unsafe",
                "dangerous",
                "on fire",
                "fire alarm",
                "smoke",
                "gas leak",
                "suicide",
                "kill myself",
                "self harm",
                "overdose",
                "allergic reaction",
                "chest pain",
                "ambulance",
                "urgencia",
                "emergencia",
                "herido",
                "urgence",
                "blesse",
                "notfall",
                "verletzt",
                "emergenza",
                "ferito",
                "emergencia",
                "ferido",
            ],
        ),
        set(
            "outage",
            &[
                "outage",
                "is down",
                "site down",
                "service down",
                "not loading",
                "not working",
                "server error",
                "cannot log in",
                "cant log in",
                "cant login",
                "error 500",
                "caida",
                "no funciona",
                "panne",
                "ne fonctionne pas",
                "storung",
                "funktioniert nicht",
                "non funziona",
                "fora do ar",
                "nao funciona",
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(text: &str) -> Vec<String> {
        let m = TopicMatcher::new(&default_topics());
        m.find(text, &Tokens::new(text))
            .into_iter()
            .map(|t| t.topic)
            .collect()
    }

    #[test]
    fn stems_not_substrings() {
        assert_eq!(topics("I want a refund"), ["refund"]);
        assert_eq!(topics("was it refunded?"), ["refund"]);
        assert_eq!(topics("Quiero un reembolso"), ["refund"]);
        assert_eq!(topics("je veux être remboursé"), ["refund"]);
        assert!(topics("refundable ticket?").is_empty());
        assert!(
            topics("the courtyard view").is_empty(),
            "court must not match courtyard"
        );
        assert!(topics("issue with my firewall").is_empty());
        assert_eq!(topics("I'll sue you"), ["legal"]);
        assert!(topics("suede shoes").is_empty());
    }

    #[test]
    fn multi_word_terms_stay_in_one_clause() {
        assert_eq!(topics("my account locked again"), ["fraud"]);
        assert!(topics("my account. Locked doors").is_empty());
        assert_eq!(topics("please cancel my subscription"), ["cancellation"]);
    }

    #[test]
    fn reports_matched_words() {
        let m = TopicMatcher::new(&default_topics());
        let text = "I was CHARGED TWICE, I want my money back";
        let found = m.find(text, &Tokens::new(text));
        assert_eq!(found[0].matched, ["CHARGED TWICE", "money back"]);
    }
}
