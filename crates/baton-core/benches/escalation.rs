//! The whole escalation detector on one 30-word customer message, with the default rules plus
//! 20 custom rules (text regexes, attribute comparisons, signals, topics, hours).
//!
//! `cargo bench -p baton-core --bench escalation`

use baton_core::Timestamp;
use baton_core::escalation::{
    ConversationInfo, CustomerInfo, Detector, DetectorConfig, RuleSet, Turn, TurnInput,
};
use serde_json::{Value, json};

fn main() {
    divan::main();
}

const MESSAGE: &str = "Hi, I ordered a blue jacket two weeks ago and it still has not arrived. \
    The tracking page says delivered but nothing is here. Can I please talk to a real person?";

fn rules() -> RuleSet {
    let mut v: Value = serde_json::from_str(baton_core::escalation::rules::DEFAULT_RULES).unwrap();
    let rules = v["rules"].as_array_mut().unwrap();
    for i in 0..20 {
        let when = match i % 5 {
            0 => {
                json!({"text_matches": format!(r"\b(order|parcel|package)\s+#?\d{{{}}}\b", 4 + i % 3)})
            }
            1 => {
                json!({"all": [{"conversation": "attributes.page_url", "op": "contains", "value": format!("/checkout/{i}")},
                                {"signal": "frustration", "op": ">=", "value": 0.4}]})
            }
            2 => {
                json!({"any": [{"customer": "attributes.plan", "op": "in", "value": ["enterprise", format!("plan{i}")]},
                                {"signal": "minutes_in_bot", "op": ">", "value": 30 + i}]})
            }
            3 => {
                json!({"all": [{"topic": "refund"}, {"not": {"business_hours": "closed"}}, {"conversation": "channel", "op": "eq", "value": "whatsapp"}]})
            }
            _ => {
                json!({"all": [{"signal": "bot_turns", "op": ">=", "value": 5 + i}, {"text_matches": format!("(?i)delivery (issue|problem) {i}")}]})
            }
        };
        rules.push(json!({"id": format!("custom-{i}"), "order": 200 + i, "when": when,
                          "actions": [{"type": "tag", "tag": format!("t{i}")}, {"type": "priority", "value": 60}]}));
    }
    RuleSet::from_value(&v).unwrap()
}

#[divan::bench]
fn evaluate_30_words_default_plus_20_rules(bencher: divan::Bencher) {
    let detector = Detector::new(DetectorConfig::default(), rules()).unwrap();
    assert_eq!(MESSAGE.split_whitespace().count(), 32);
    let conv_attrs = json!({"page_url": "https://shop.example/orders/123"});
    let cust_attrs = json!({"plan": "pro"});
    let history = [
        Turn::customer("where is my jacket", Timestamp::from_millis(0)),
        Turn::bot(
            "You can track your order on the orders page.",
            Some(0.42),
            false,
            Timestamp::from_millis(5_000),
        ),
        Turn::customer(
            "the tracking says delivered",
            Timestamp::from_millis(20_000),
        ),
        Turn::bot(
            "Sorry, I didn't understand.",
            Some(0.9),
            true,
            Timestamp::from_millis(25_000),
        ),
    ];
    let input = TurnInput {
        turn: Turn::customer(MESSAGE, Timestamp::from_millis(60_000)),
        payload: None,
        history: &history,
        customer: CustomerInfo {
            tier: Some("standard"),
            language: Some("en"),
            attributes: cust_attrs.as_object(),
        },
        conversation: ConversationInfo {
            channel: "web",
            attributes: conv_attrs.as_object(),
            started_at: Timestamp::from_millis(0),
            bot_turns: 2,
            customer_turns: 3,
        },
        now: Timestamp::from_millis(60_000),
        business_open: Some(true),
        explicit: None,
    };
    let e = detector.evaluate(&input);
    assert!(e.signals.human_request.detected);
    bencher.bench_local(|| detector.evaluate(divan::black_box(&input)));
}

#[divan::bench]
fn signals_only_30_words(bencher: divan::Bencher) {
    let detector = Detector::with_defaults();
    let input = TurnInput::customer_text(MESSAGE);
    bencher.bench_local(|| detector.signals(divan::black_box(&input)));
}

/// A message the rules find no request in, so the learned human-request model runs too (the
/// slowest path for a customer turn).
const NO_REQUEST: &str = "Hi, I ordered a blue jacket two weeks ago and it still has not arrived. \
    The tracking page says delivered but nothing is here. What should I do about it now?";

#[divan::bench]
fn signals_only_30_words_model_path(bencher: divan::Bencher) {
    let detector = Detector::with_defaults();
    let input = TurnInput::customer_text(NO_REQUEST);
    let s = detector.signals(&input);
    assert!(s.human_request.kind != Some("direct") && s.human_request.kind != Some("short"));
    bencher.bench_local(|| detector.signals(divan::black_box(&input)));
}
