//! Knowledge base search over 10,000 generated articles.
//!
//! Articles are deterministic: a 3-7 word title and a 150-350 word Markdown body drawn with a
//! Zipf-like distribution from ~2,300 words (a few hundred real support words, then made-up
//! ones), 2-3 tags out of 40, 85% English and 5% each Spanish, German, Portuguese. Queries are
//! 3-8 words from the same distribution plus question words ("how do I ...").
//!
//! - `search_10k`: one free-text query, all languages (the agent search and the KB bot).
//! - `search_10k_top3`: the same with 3 hits (the KB bot: an answer plus the confidence gap).
//! - `search_10k_language_filter`: the same with `language: en`.
//! - `search_10k_among_100k_other_tenants`: the tenant's 10,000 among 100,000 of other tenants.
//! - `upsert_one_into_10k`: replace one article and make it visible (commit + reload).
//! - `build_10k`: index 10,000 articles from scratch (`replace_tenant`).
//!
//! `cargo bench -p baton-kb --bench search`

use baton_kb::{Article, KnowledgeBase, SearchOptions};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

const ARTICLES: usize = 10_000;

fn main() {
    divan::main();
}

/// Words a support base is made of, most frequent first.
const SUPPORT_WORDS: &str = "order account payment refund delivery shipping return card \
    subscription password app email invoice customer item package address tracking charge \
    price discount code gift warranty product store support chat phone login security data \
    privacy cancel change update reset verify confirm contact agent hours status error problem \
    issue help delay late damaged broken missing wrong label box courier carrier customs tax vat \
    business company billing plan member premium trial upgrade downgrade renewal pause resume \
    balance credit debit bank transfer paypal wallet voucher promo loyalty points rewards level \
    student school identity document photo receipt proof purchase date time day week month year \
    notification push message newsletter unsubscribe settings profile device browser network \
    website page outage maintenance accessibility screen reader keyboard font contrast size \
    color model version install download export delete remove close open lock unlock two factor \
    authentication backup recovery fraud dispute chargeback phishing suspicious secure safe \
    international country region pickup point locker counter collect courier driver signature \
    neighbour building mailbox replacement repair exchange collection furniture electronics \
    clothing shoes battery charger cable screen laptop tablet headphones speaker camera watch";

const QUESTION_WORDS: &[&str] = &[
    "how", "do", "i", "my", "can", "where", "is", "why", "was", "the", "a", "to", "what", "when",
];

/// SplitMix64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

struct Vocabulary {
    words: Vec<String>,
    /// Cumulative Zipf weights (s = 1) over `words`.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn new() -> Self {
        let mut words: Vec<String> = SUPPORT_WORDS
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let syllables = [
            "ka", "lo", "mi", "ten", "ra", "vus", "ber", "sho", "dal", "ni", "qua", "zel",
        ];
        for i in 0..2_000 {
            let a = syllables[i % syllables.len()];
            let b = syllables[(i / syllables.len()) % syllables.len()];
            let c = syllables[(i / 144) % syllables.len()];
            words.push(format!("{a}{b}{c}"));
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let total = *self.cumulative.last().unwrap();
        let x = (rng.next() as f64 / u64::MAX as f64) * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        &self.words[i.min(self.words.len() - 1)]
    }

    fn words(&self, rng: &mut Rng, n: usize) -> Vec<&str> {
        (0..n).map(|_| self.word(rng)).collect()
    }
}

static VOCABULARY: LazyLock<Vocabulary> = LazyLock::new(Vocabulary::new);

fn articles(tenant: &str, n: usize, seed: u64) -> Vec<Article> {
    let vocab = &*VOCABULARY;
    let mut rng = Rng(seed);
    let tags: Vec<String> = (0..40).map(|i| format!("tag{i}")).collect();
    (0..n)
        .map(|i| {
            let title_len = rng.range(3, 7);
            let mut title = vocab.words(&mut rng, title_len).join(" ");
            title[..1].make_ascii_uppercase();
            let mut body = String::new();
            let body_len = rng.range(150, 350);
            let mut written = 0;
            while written < body_len {
                if written % 60 == 0 {
                    body.push_str("\n\n## ");
                    body.push_str(&vocab.words(&mut rng, 3).join(" "));
                    body.push_str("\n\n");
                }
                let sentence = rng.range(6, 16);
                let mut words = vocab.words(&mut rng, sentence);
                if rng.below(5) == 0 {
                    words[0] = "**important**";
                }
                body.push_str(&words.join(" "));
                body.push_str(". ");
                written += sentence;
            }
            let language = match rng.below(20) {
                0 => "es",
                1 => "de",
                2 => "pt",
                _ => "en",
            };
            let article_tags = (0..rng.range(2, 3))
                .map(|_| tags[rng.below(tags.len())].clone())
                .collect();
            Article {
                id: format!("article-{i}"),
                tenant: tenant.to_string(),
                title,
                body,
                tags: article_tags,
                language: language.to_string(),
                updated_at_ms: 1_700_000_000_000 + i as i64,
            }
        })
        .collect()
}

fn queries() -> Vec<String> {
    let vocab = &*VOCABULARY;
    let mut rng = Rng(42);
    (0..256)
        .map(|_| {
            let n = rng.range(3, 8);
            let mut words: Vec<&str> = Vec::with_capacity(n);
            let question = rng.range(0, 3);
            for _ in 0..question.min(n - 1) {
                words.push(QUESTION_WORDS[rng.below(QUESTION_WORDS.len())]);
            }
            while words.len() < n {
                words.push(vocab.word(&mut rng));
            }
            words.join(" ")
        })
        .collect()
}

static KB_10K: LazyLock<KnowledgeBase> = LazyLock::new(|| {
    let kb = KnowledgeBase::new();
    kb.replace_tenant("bench", articles("bench", ARTICLES, 7))
        .unwrap();
    kb
});

static KB_10K_AMONG_100K: LazyLock<KnowledgeBase> = LazyLock::new(|| {
    let kb = KnowledgeBase::new();
    kb.replace_tenant("bench", articles("bench", ARTICLES, 7))
        .unwrap();
    for t in 0..10 {
        let tenant = format!("other{t}");
        kb.replace_tenant(&tenant, articles(&tenant, ARTICLES, 100 + t))
            .unwrap();
    }
    kb
});

fn bench_search(bencher: divan::Bencher, kb: &KnowledgeBase, opts: SearchOptions) {
    let queries = queries();
    let next = AtomicUsize::new(0);
    bencher
        .with_inputs(|| {
            let i = next.fetch_add(1, Ordering::Relaxed);
            queries[i % queries.len()].as_str()
        })
        .bench_refs(|q| {
            let hits = kb.search("bench", q, &opts).unwrap();
            divan::black_box(hits)
        });
}

#[divan::bench]
fn search_10k(bencher: divan::Bencher) {
    bench_search(bencher, &KB_10K, SearchOptions::default());
}

#[divan::bench]
fn search_10k_top3(bencher: divan::Bencher) {
    let opts = SearchOptions {
        limit: 3,
        ..SearchOptions::default()
    };
    bench_search(bencher, &KB_10K, opts);
}

#[divan::bench]
fn search_10k_language_filter(bencher: divan::Bencher) {
    let opts = SearchOptions {
        language: Some("en".into()),
        ..SearchOptions::default()
    };
    bench_search(bencher, &KB_10K, opts);
}

#[divan::bench]
fn search_10k_among_100k_other_tenants(bencher: divan::Bencher) {
    bench_search(bencher, &KB_10K_AMONG_100K, SearchOptions::default());
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn upsert_one_into_10k(bencher: divan::Bencher) {
    let kb = &*KB_10K;
    let mut replacements = articles("bench", 1, 99);
    let mut article = replacements.pop().unwrap();
    article.id = "article-0".into();
    bencher.bench(|| kb.upsert(article.clone()).unwrap());
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn build_10k(bencher: divan::Bencher) {
    let data = articles("bench", ARTICLES, 7);
    bencher
        .with_inputs(|| (KnowledgeBase::new(), data.clone()))
        .bench_values(|(kb, data)| {
            kb.replace_tenant("bench", data).unwrap();
            kb
        });
}
