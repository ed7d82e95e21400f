//! The handoff brief over the hand-written conversations in `tests/fixtures/conversations/`:
//! one insta snapshot of the whole brief per conversation, and the extraction evaluation
//! (precision and recall per field type against the hand-assigned `expected_fields`).
//!
//! `cargo test -p baton-core --test brief_fixtures -- --nocapture brief_extraction` prints the
//! table.

use baton_core::HandoffSource;
use baton_core::Timestamp;
use baton_core::brief::{
    ArticleRef, Brief, BriefInput, CustomerProfile, Extractors, HandoffRequest, PastConversation,
    Reason, Turn, build_brief,
};
use baton_core::values::MessageRole;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Deserialize)]
struct Fixture {
    name: String,
    description: String,
    start: String,
    customer: FxCustomer,
    #[serde(default)]
    past: Vec<FxPast>,
    handoff: Option<FxHandoff>,
    #[serde(default)]
    reasons: Vec<Reason>,
    #[serde(default)]
    articles: Vec<ArticleRef>,
    #[serde(default)]
    topics: Vec<String>,
    agent: Option<String>,
    #[serde(default)]
    custom_extractors: Vec<(String, String)>,
    turns: Vec<FxTurn>,
    expected_fields: Vec<FxField>,
}

#[derive(Debug, Deserialize)]
struct FxCustomer {
    name: Option<String>,
    tier: Option<String>,
    language: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FxPast {
    id: String,
    closed_days_ago: i64,
    resolution: Option<String>,
    csat: Option<u8>,
}

#[derive(Debug, Deserialize)]
struct FxHandoff {
    reason: String,
    source: HandoffSource,
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FxTurn {
    role: MessageRole,
    text: String,
    /// Seconds after the previous turn.
    #[serde(default = "default_after")]
    after: i64,
    sentiment: Option<f64>,
    confidence: Option<f64>,
    intent: Option<String>,
    article: Option<String>,
    #[serde(default)]
    fallback: bool,
}

fn default_after() -> i64 {
    30
}

#[derive(Debug, Deserialize)]
struct FxField {
    name: String,
    value: String,
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conversations");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let f: Fixture =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(
                p.file_stem().unwrap().to_str().unwrap(),
                f.name,
                "fixture name must match its file name"
            );
            f
        })
        .collect()
}

fn brief_of(f: &Fixture) -> Brief {
    let start: jiff::Timestamp = f.start.parse().unwrap();
    let start = Timestamp::from_millis(start.as_millisecond());
    let ids: Vec<String> = (1..=f.turns.len()).map(|i| format!("m{i}")).collect();
    let mut at = start;
    let mut turns = Vec::with_capacity(f.turns.len());
    for (t, id) in f.turns.iter().zip(&ids) {
        at = at.plus_millis(t.after * 1000);
        turns.push(Turn {
            message_id: id,
            role: t.role,
            text: &t.text,
            at,
            bot_confidence: t.confidence,
            bot_intent: t.intent.as_deref(),
            fallback: t.fallback,
            bot_article: t.article.as_deref(),
            sentiment: t.sentiment,
        });
    }
    let now = at.plus_millis(20_000);
    let day = 24 * 3600 * 1000;
    let past: Vec<PastConversation<'_>> = f
        .past
        .iter()
        .map(|p| PastConversation {
            id: &p.id,
            closed_at: start.plus_millis(-p.closed_days_ago * day),
            resolution: p.resolution.as_deref(),
            csat: p.csat,
        })
        .collect();
    let topics: Vec<&str> = f.topics.iter().map(String::as_str).collect();
    let extractors = Extractors::with_custom(&f.custom_extractors).unwrap();
    let input = BriefInput {
        turns: &turns,
        customer: CustomerProfile {
            name: f.customer.name.as_deref(),
            tier: f.customer.tier.as_deref(),
            language: f.customer.language.as_deref(),
            email: f.customer.email.as_deref(),
        },
        past: &past,
        handoff: f.handoff.as_ref().map(|h| HandoffRequest {
            reason: &h.reason,
            source: h.source,
            note: h.note.as_deref(),
            at: now.plus_millis(-10_000),
        }),
        reasons: &f.reasons,
        articles: &f.articles,
        topics: &topics,
        agent_name: f.agent.as_deref(),
        extractors: &extractors,
        now,
    };
    build_brief(&input)
}

#[test]
fn brief_fixture_count() {
    let all = fixtures();
    assert!(all.len() >= 20, "{} fixtures", all.len());
    let names: BTreeSet<_> = all.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), all.len(), "fixture names are unique");
}

#[test]
fn brief_snapshots() {
    for f in fixtures() {
        let brief = brief_of(&f);
        // Three template sentences: wants (with a quote), tried, stands.
        assert!(
            brief.summary.starts_with("Customer "),
            "{}: {}",
            f.name,
            brief.summary
        );
        assert!(
            brief.summary.contains(". The bot "),
            "{}: {}",
            f.name,
            brief.summary
        );
        assert!(
            brief.summary.ends_with('.'),
            "{}: {}",
            f.name,
            brief.summary
        );
        assert!(
            brief.summary.chars().count() <= 421,
            "{}: summary too long",
            f.name
        );
        insta::with_settings!({ description => f.description.as_str(), omit_expression => true }, {
            insta::assert_json_snapshot!(f.name.as_str(), brief);
        });
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    tp: u32,
    fp: u32,
    fn_: u32,
}

impl Counts {
    fn precision(self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            f64::from(self.tp) / f64::from(self.tp + self.fp)
        }
    }
    fn recall(self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            f64::from(self.tp) / f64::from(self.tp + self.fn_)
        }
    }
    fn f1(self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

#[test]
fn brief_extraction_precision_recall() {
    let mut per: BTreeMap<String, Counts> = BTreeMap::new();
    let mut errors = Vec::new();
    let all = fixtures();
    for f in &all {
        let brief = brief_of(f);
        let got: BTreeSet<(String, String)> = brief
            .fields
            .iter()
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect();
        let want: BTreeSet<(String, String)> = f
            .expected_fields
            .iter()
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect();
        for (name, value) in &got {
            let c = per.entry(name.clone()).or_default();
            if want.contains(&(name.clone(), value.clone())) {
                c.tp += 1;
            } else {
                c.fp += 1;
                errors.push(format!("  FP {}: {name} = {value}", f.name));
            }
        }
        for (name, value) in want.difference(&got) {
            per.entry(name.clone()).or_default().fn_ += 1;
            errors.push(format!("  FN {}: {name} = {value}", f.name));
        }
    }
    let mut total = Counts::default();
    println!(
        "\nExtraction over {} fixtures (exact match on name and normalised value)\n",
        all.len()
    );
    println!("| field | precision | recall | F1 | tp | fp | fn |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, c) in &per {
        total.tp += c.tp;
        total.fp += c.fp;
        total.fn_ += c.fn_;
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
            c.precision(),
            c.recall(),
            c.f1(),
            c.tp,
            c.fp,
            c.fn_
        );
    }
    println!(
        "| **overall (micro)** | **{:.3}** | **{:.3}** | **{:.3}** | {} | {} | {} |",
        total.precision(),
        total.recall(),
        total.f1(),
        total.tp,
        total.fp,
        total.fn_
    );
    println!("\nErrors:\n{}", errors.join("\n"));
    assert!(
        total.precision() >= 0.9,
        "overall precision {:.3}",
        total.precision()
    );
    assert!(
        total.recall() >= 0.85,
        "overall recall {:.3}",
        total.recall()
    );
}
