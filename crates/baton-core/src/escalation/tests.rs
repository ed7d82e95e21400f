use super::*;
use proptest::prelude::*;
use serde_json::json;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn customer(text: &str) -> TurnInput<'_> {
    TurnInput::customer_text(text)
}

#[test]
fn explicit_customer_request_escalates() {
    let d = Detector::with_defaults();
    let e = d.evaluate(&customer("I want to talk to a human"));
    let dec = e.decision.expect("decision");
    assert_eq!(dec.action, DecisionAction::Escalate);
    assert_eq!(dec.reason, "human_request");
    assert_eq!(dec.source, HandoffSource::Customer);
    assert!(e.fired.iter().any(|f| f.id == "human_request"));
    assert!(e.signals.human_request.detected);
}

#[test]
fn button_payload_is_a_certain_request() {
    let d = Detector::with_defaults();
    let payload = json!({"action": "talk_to_human"});
    let mut input = customer("Talk to a person");
    input.payload = Some(&payload);
    let e = d.evaluate(&input);
    assert!(e.signals.button);
    assert_eq!(e.signals.human_request.confidence, 1.0);
    assert_eq!(e.signals.human_request.kind, Some("button"));
    assert_eq!(e.decision.unwrap().reason, "human_request");
    // An unrelated payload is not a request.
    let other = json!("show_menu");
    let mut input = customer("menu");
    input.payload = Some(&other);
    let e = d.evaluate(&input);
    assert!(
        !e.signals.button && !e.signals.human_request.detected,
        "{e:?}"
    );
}

/// The widget's "Talk to a person" button sends its label as the text: that is not the
/// customer's words, so it must never read as frustration (it used to, on the model score of
/// the label), however the label is worded.
#[test]
fn a_button_press_is_never_frustration() {
    let d = Detector::with_defaults();
    let payload = json!({"action": "talk_to_human"});
    for label in [
        "Talk to a person",
        "TALK TO A HUMAN NOW!!!",
        "This bot is useless, get me an agent",
    ] {
        let mut input = customer(label);
        input.payload = Some(&payload);
        let e = d.evaluate(&input);
        assert!(e.signals.button && e.signals.human_request.detected);
        assert!(!e.signals.frustration.frustrated, "{label}: {e:?}");
        assert_eq!(e.signals.frustration.level, 0.0, "{label}");
        assert!(e.signals.frustration.cues.is_empty(), "{label}");
        assert_eq!(e.decision.unwrap().reason, "human_request");
    }
    // Typed, the same shouting is measured as usual.
    let e = d.evaluate(&customer("TALK TO A HUMAN NOW!!!"));
    assert!(!e.signals.frustration.cues.is_empty());
}

#[test]
fn after_hours_request_defers_with_email_capture() {
    let d = Detector::with_defaults();
    let mut input = customer("agent please");
    input.business_open = Some(false);
    let dec = d.evaluate(&input).decision.unwrap();
    assert_eq!(dec.action, DecisionAction::Defer);
    assert!(dec.capture_email);
    assert_eq!(dec.reason, "human_request_after_hours");
    input.business_open = Some(true);
    assert_eq!(
        d.evaluate(&input).decision.unwrap().action,
        DecisionAction::Escalate
    );
}

#[test]
fn sensitive_topics_route_to_their_team() {
    let d = Detector::with_defaults();
    let e = d.evaluate(&customer("I was charged twice and I want a refund"));
    let dec = e.decision.unwrap();
    assert_eq!(dec.reason, "sensitive_topic:refund");
    assert_eq!(dec.queue.as_deref(), Some("billing"));
    assert_eq!(e.signals.topics[0].matched, ["charged twice", "refund"]);
    let dec = d
        .evaluate(&customer("My account is locked, I think it was hacked"))
        .decision
        .unwrap();
    assert_eq!(dec.reason, "sensitive_topic:fraud");
    assert_eq!(dec.queue.as_deref(), Some("fraud"));
    // Stems, not substrings.
    assert!(
        d.evaluate(&customer("Please update my personal details"))
            .decision
            .is_none()
    );
}

#[test]
fn insurance_agent_is_not_a_request() {
    let d = Detector::with_defaults();
    let e = d.evaluate(&customer(
        "my insurance agent told me to ask about coverage",
    ));
    assert!(!e.signals.human_request.detected);
    assert!(e.decision.is_none());
}

#[test]
fn negated_request_is_recorded_but_does_not_escalate() {
    let d = Detector::with_defaults();
    let e = d.evaluate(&customer("I don't need an agent, just my balance"));
    assert!(e.signals.human_request.negated);
    assert!(e.decision.is_none());
}

#[test]
fn two_low_confidence_bot_turns_escalate() {
    let d = Detector::with_defaults();
    let history = [
        Turn::customer("where is my parcel", t(0)),
        Turn::bot("Here is our returns policy", Some(0.3), false, t(1000)),
        Turn::customer("no, my parcel", t(2000)),
    ];
    let mut input = customer("");
    input.turn = Turn::bot("Maybe you mean opening hours?", Some(0.4), false, t(3000));
    input.history = &history;
    input.now = t(3000);
    let e = d.evaluate(&input);
    assert_eq!(e.signals.low_confidence_streak, 2);
    assert_eq!(e.decision.unwrap().reason, "low_confidence");
    // A confident turn in between breaks the streak.
    let history = [
        Turn::bot("low", Some(0.3), false, t(0)),
        Turn::bot("sure", Some(0.9), false, t(1000)),
    ];
    input.history = &history;
    assert_eq!(d.signals(&input).low_confidence_streak, 1);
}

#[test]
fn fallbacks_loops_and_time_in_bot() {
    let d = Detector::with_defaults();
    let history = [
        Turn::customer("I need to change my delivery address", t(0)),
        Turn::bot("Sorry, I didn't understand.", Some(0.9), true, t(1000)),
        Turn::customer("change my delivery address please", t(2000)),
        Turn::bot("Sorry, I didn't understand.", Some(0.9), true, t(3000)),
    ];
    let mut input = customer("I need to change my delivery address");
    input.turn.at = t(600_000);
    input.history = &history;
    input.now = t(600_000);
    input.conversation.started_at = t(0);
    let s = d.signals(&input);
    assert_eq!(s.fallback_count, 2);
    assert!(s.customer_loop);
    assert!(s.frustration.cues.contains(&"repeated_demand"));
    assert_eq!(s.bot_turns, 2);
    assert_eq!(s.customer_turns, 3);
    assert!((s.minutes_in_bot - 10.0).abs() < 1e-9);
    let e = d.evaluate(&input);
    assert_eq!(e.decision.unwrap().action, DecisionAction::OfferHuman);

    let mut bot = input;
    bot.turn = Turn::bot("Sorry, I didn't understand.", Some(0.9), true, t(600_000));
    let e = d.evaluate(&bot);
    assert!(e.signals.bot_loop);
    assert_eq!(e.signals.fallback_count, 3);
    assert_eq!(e.decision.unwrap().reason, "bot_fallbacks");
}

#[test]
fn frustration_offers_a_person() {
    let d = Detector::with_defaults();
    let e = d.evaluate(&customer(
        "This is ridiculous. WHY IS IT STILL NOT FIXED???",
    ));
    let f = &e.signals.frustration;
    assert!(f.frustrated, "{f:?}");
    assert!(
        f.cues.contains(&"all_caps")
            && f.cues.contains(&"repeated_punctuation")
            && f.cues.contains(&"phrase")
    );
    assert_eq!(e.decision.unwrap().action, DecisionAction::OfferHuman);
    let calm = d.signals(&customer("Thanks, that was really helpful!"));
    assert!(!calm.frustration.frustrated);
    assert!(calm.frustration.sentiment > 0.5);
    assert!(
        d.signals(&customer(
            "you're not understanding me, this is so frustrating"
        ))
        .frustration
        .frustrated
    );
}

/// Neutral words, but the customer says support has already failed them: a grievance raises the
/// level over the threshold and is reported as the cue with the words that matched.
#[test]
fn service_grievances_are_frustration_whatever_the_sentiment() {
    let d = Detector::with_defaults();
    for (text, matched) in [
        (
            "This is the third time I am asking about my order",
            "third time",
        ),
        (
            "I have been waiting for two weeks for my parcel",
            "waiting for two weeks",
        ),
        ("I sent three emails and nobody answered", "nobody answered"),
        (
            "llevo dos semanas esperando mi paquete",
            "dos semanas esperando",
        ),
    ] {
        let e = d.evaluate(&customer(text));
        let f = &e.signals.frustration;
        assert!(
            f.frustrated && f.cues.contains(&"grievance"),
            "{text:?}: {f:?}"
        );
        assert!(
            f.level >= FrustrationWeights::default().grievance,
            "{text:?}: {f:?}"
        );
        assert!(
            f.matched.as_deref().is_some_and(|m| m.contains(matched)),
            "{text:?}: {f:?}"
        );
        assert_eq!(
            e.decision.map(|d| d.action),
            Some(DecisionAction::OfferHuman),
            "{text:?}"
        );
    }
    // A clearly happy customer who waited is not frustrated.
    let happy = d.signals(&customer(
        "I waited for two weeks but it was worth it, I love it, thank you so much!",
    ));
    assert!(happy.frustration.cues.contains(&"grievance"));
    assert!(!happy.frustration.frustrated, "{:?}", happy.frustration);
    // A question about waiting is no grievance.
    let question = d.signals(&customer("Do I have to wait 5 days for the new card?"));
    assert!(!question.frustration.cues.contains(&"grievance"));
}

#[test]
fn vip_priority_applies_to_any_decision() {
    let d = Detector::with_defaults();
    let mut input = customer("I want a refund");
    input.customer.tier = Some("VIP");
    let e = d.evaluate(&input);
    assert!(e.signals.vip);
    let dec = e.decision.unwrap();
    assert_eq!(dec.priority, Some(Priority::new(80).unwrap()));
    assert!(dec.tags.contains(&"vip".to_string()));
    assert_eq!(e.fired[0].id, "vip_priority");
}

#[test]
fn explicit_requests_are_always_honoured() {
    let d = Detector::new(DetectorConfig::default(), RuleSet::default()).unwrap();
    let mut input = customer("ok");
    input.explicit = Some(ExplicitRequest {
        source: HandoffSource::Bot,
        reason: None,
        queue: Some("tier2"),
    });
    let dec = d.evaluate(&input).decision.unwrap();
    assert_eq!(dec.action, DecisionAction::Escalate);
    assert_eq!(dec.reason, "explicit:bot");
    assert_eq!(dec.queue.as_deref(), Some("tier2"));
    input.explicit = Some(ExplicitRequest {
        source: HandoffSource::Api,
        reason: Some("crm_flag"),
        queue: None,
    });
    assert_eq!(d.evaluate(&input).decision.unwrap().reason, "crm_flag");
}

#[test]
fn custom_rules_over_attributes_text_and_hours() {
    let rules = RuleSet::from_json(
        r#"{"rules": [
          {"id": "checkout", "reason": "checkout_help", "when": {"all": [
              {"conversation": "attributes.page_url", "op": "contains", "value": "/checkout"},
              {"text_matches": "\\b(card|payment)\\b"}]},
           "actions": ["escalate", {"type": "route", "queue": "payments"}, {"type": "priority", "value": 70}]},
          {"id": "whatsapp_tag", "when": {"conversation": "channel", "op": "eq", "value": "whatsapp"},
           "actions": [{"type": "tag", "tag": "wa"}, {"type": "priority", "value": 60}]},
          {"id": "closed", "when": {"business_hours": "closed"}, "actions": [{"type": "tag", "tag": "after_hours"}]}
        ]}"#,
    )
    .unwrap();
    let d = Detector::new(DetectorConfig::default(), rules).unwrap();
    let attrs = json!({"page_url": "https://shop.example/checkout/step2"});
    let mut input = customer("my card payment failed");
    input.conversation.attributes = attrs.as_object();
    input.conversation.channel = "whatsapp";
    input.business_open = Some(false);
    let e = d.evaluate(&input);
    let dec = e.decision.unwrap();
    assert_eq!(dec.reason, "checkout_help");
    assert_eq!(dec.queue.as_deref(), Some("payments"));
    assert_eq!(
        dec.priority,
        Some(Priority::new(70).unwrap()),
        "max of 70 and 60"
    );
    assert_eq!(dec.tags, ["wa", "after_hours"]);
    assert_eq!(e.fired.len(), 3);
}

#[test]
fn unknown_topic_is_rejected_with_its_path() {
    let rules = RuleSet::from_json(r#"[{"id": "x", "when": {"any": [{"topic": "refund"}, {"topic": "weather"}]}, "actions": ["escalate"]}]"#).unwrap();
    let e = Detector::new(DetectorConfig::default(), rules).unwrap_err();
    assert_eq!(e.path, "/rules/0/when/any/1/topic");
}

#[test]
fn evaluation_serializes_with_signal_values() {
    let d = Detector::with_defaults();
    let v = serde_json::to_value(d.evaluate(&customer("representative pls"))).unwrap();
    assert_eq!(v["signals"]["human_request"]["detected"], true);
    assert_eq!(
        v["signals"]["human_request"]["phrase"],
        "representative pls"
    );
    assert_eq!(v["decision"]["action"], "escalate");
    assert_eq!(v["fired"][0]["actions"][0]["type"], "escalate");
}

#[test]
fn shipped_model_loads() {
    assert!(model::shipped().is_some());
}

#[test]
fn huge_and_empty_messages() {
    let d = Detector::with_defaults();
    let big = "I want to talk to a human agent!!! ".repeat(3000);
    assert!(big.len() > 100_000);
    let e = d.evaluate(&customer(&big));
    assert!(e.signals.human_request.detected);
    let e = d.evaluate(&customer(""));
    assert!(e.decision.is_none());
    let e = d.evaluate(&customer("   \n\t "));
    assert!(e.decision.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn never_panics_on_any_unicode(text in "\\PC{0,300}", hist in "\\PC{0,80}") {
        let d = Detector::with_defaults();
        let history = [Turn::customer(&hist, t(0)), Turn::bot(&hist, Some(0.1), true, t(1))];
        let mut input = customer(&text);
        input.history = &history;
        let e = d.evaluate(&input);
        prop_assert!((-1.0..=1.0).contains(&e.signals.frustration.sentiment));
        prop_assert!((0.0..=1.0).contains(&e.signals.frustration.level));
        prop_assert!((0.0..=1.0).contains(&e.signals.human_request.confidence));
        let _ = serde_json::to_string(&e).unwrap();
    }

    #[test]
    fn never_panics_on_word_soup(words in proptest::collection::vec(
        prop_oneof![Just("agent"), Just("not"), Just("talk"), Just("to"), Just("a"), Just("human"), Just("l'"),
                    Just("no"), Just("!!!"), Just("BUT"), Just("kind of"), Just("are you"), Just("é"), Just("'"),
                    Just("insurance"), Just("mit"), Just("einem"), Just("sprechen"), Just("refund"), Just("never so")],
        0..40)) {
        let text = words.join(" ");
        let d = Detector::with_defaults();
        let _ = d.evaluate(&customer(&text));
    }
}

/// The learned human-request model: it speaks only where the rules are silent, never over a
/// negated request or a question about the bot, and says so (`kind` = `model`, no phrase).
#[test]
fn request_model_combines_with_the_rules() {
    use crate::escalation::request_model::{combine, shipped};
    assert!(shipped().is_some(), "human_request_model.tsv holds a model");
    let rule_hit = HumanRequest {
        detected: true,
        confidence: 0.95,
        kind: Some("direct"),
        phrase: Some("talk to a human".into()),
        ..HumanRequest::default()
    };
    assert_eq!(combine(rule_hit.clone(), false, Some(0.1), 0.5), rule_hit);
    let negated = HumanRequest {
        negated: true,
        kind: Some("direct"),
        ..HumanRequest::default()
    };
    assert!(!combine(negated, false, Some(0.99), 0.5).detected);
    assert!(!combine(HumanRequest::default(), true, Some(0.99), 0.5).detected);
    let m = combine(HumanRequest::default(), false, Some(0.8), 0.5);
    assert!(m.detected && m.kind == Some("model") && m.phrase.is_none());
    assert_eq!(m.confidence, 0.8);

    let d = Detector::with_defaults();
    for text in [
        "I don't need an agent, just my balance",
        "are you a real person?",
        "where is my parcel",
        "how do I reset my password",
    ] {
        let h = d.signals(&customer(text)).human_request;
        assert!(!h.detected, "{text}: {h:?}");
    }
    // Rules only when the model threshold is above 1.
    let rules_only = Detector::new(
        DetectorConfig {
            human_request_model_threshold: 2.0,
            ..DetectorConfig::default()
        },
        RuleSet::default_rules(),
    )
    .unwrap();
    let text = "please hand me over to a human";
    let with = d.signals(&customer(text)).human_request;
    let without = rules_only.signals(&customer(text)).human_request;
    assert!(with.detected && with.kind == Some("model"), "{with:?}");
    assert!(!without.detected, "{without:?}");
}
