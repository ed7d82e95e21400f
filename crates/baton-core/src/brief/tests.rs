use super::*;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_773_480_000_000 + ms)
}

fn build(turns: &[Turn<'_>]) -> Brief {
    let ex = Extractors::builtin();
    build_brief(&BriefInput::new(turns, &ex, t(600_000)))
}

#[test]
fn empty_transcript() {
    let b = build(&[]);
    assert_eq!(b.summary, "No customer messages yet.");
    assert!(b.fields.is_empty());
    assert_eq!(b.sentiment.trend, Trend::Steady);
    assert_eq!(b.sentiment.frustration, Frustration::None);
    assert_eq!(
        b.greeting.as_deref().unwrap(),
        "Hi there, thanks for waiting. I've read your conversation so far. You won't need to repeat anything; let me take it from here."
    );
    assert_eq!(b.transcript.messages, 0);
}

#[test]
fn empty_transcript_with_handoff() {
    let ex = Extractors::builtin();
    let mut input = BriefInput::new(&[], &ex, t(0));
    input.handoff = Some(HandoffRequest {
        reason: "customer_request",
        source: HandoffSource::Customer,
        note: None,
        at: t(0),
    });
    let b = build_brief(&input);
    assert_eq!(
        b.summary,
        "No customer messages yet. Customer asked for a person."
    );
    assert_eq!(b.requested_by, Some(HandoffSource::Customer));
}

#[test]
fn the_request_turn_wins_over_hello() {
    let turns = [
        Turn::customer("m1", "hi", t(0), Some(0.0)),
        Turn::bot("m2", "Hello! How can I help you today?", t(1), Some(0.9)),
        Turn::customer(
            "m3",
            "I want a refund for order #1234, it arrived damaged",
            t(2),
            Some(-0.4),
        ),
    ];
    let b = build(&turns);
    assert!(
        b.summary
            .starts_with("Customer wants a refund for order #1234: “I want a refund"),
        "{}",
        b.summary
    );
    assert_eq!(b.field("order_id").unwrap().message_id, "m3");
}

#[test]
fn customer_fields_come_first_and_dedupe() {
    let turns = [
        Turn::bot(
            "b1",
            "Your tracking number is 1Z999AA10123456784 for order #5555.",
            t(0),
            Some(0.9),
        ),
        Turn::customer("c1", "order #5555 never came", t(1), None),
    ];
    let b = build(&turns);
    let got: Vec<_> = b
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.value.as_str(), f.source))
        .collect();
    assert_eq!(
        got,
        [
            ("order_id", "5555", MessageRole::Customer),
            ("tracking_number", "1Z999AA10123456784", MessageRole::Bot),
        ]
    );
}

#[test]
fn huge_unicode_messages_are_fine() {
    let huge = format!(
        "Mi pedido #98765 🙂 {} ¿dónde está?",
        "ñandú 日本語 ".repeat(10_000)
    );
    assert!(huge.len() > 100_000);
    let bot = "x".repeat(100_000);
    let turns = [
        Turn::customer("m1", &huge, t(0), Some(-0.2)),
        Turn::bot("m2", &bot, t(1), Some(0.3)),
    ];
    let b = build(&turns);
    assert!(
        b.summary.chars().count() <= summary::SUMMARY_MAX_CHARS + 1,
        "{}",
        b.summary
    );
    assert_eq!(b.field("order_id").unwrap().value, "98765");
    assert!(b.bot_attempts[0].text.chars().count() <= ATTEMPT_TEXT_CHARS);
}

#[test]
fn missing_and_odd_names() {
    let turns = [Turn::customer("m1", "cancel my subscription", t(0), None)];
    let ex = Extractors::builtin();
    let mut input = BriefInput::new(&turns, &ex, t(10));
    input.customer.name = Some("  ");
    assert!(
        build_brief(&input)
            .greeting
            .unwrap()
            .starts_with("Hi there, thanks for waiting.")
    );
    input.customer.name = Some("user+123@example.com");
    assert!(
        build_brief(&input)
            .greeting
            .unwrap()
            .starts_with("Hi there,")
    );
    input.customer.name = Some("Zoë Müller");
    input.agent_name = Some("Sara");
    let g = build_brief(&input).greeting.unwrap();
    assert!(
        g.starts_with("Hi Zoë, this is Sara. I see you were asking about cancelling."),
        "{g}"
    );
}

#[test]
fn sentiment_trend_and_frustration() {
    let scores = [0.2, -0.1, -0.5, -0.8];
    let ids = ["a", "b", "c", "d"];
    let turns: Vec<Turn<'_>> = ids
        .iter()
        .zip(scores)
        .map(|(id, s)| Turn::customer(id, "meh", t(0), Some(s)))
        .collect();
    let b = build(&turns);
    assert_eq!(b.sentiment.trend, Trend::Worsening);
    assert_eq!(b.sentiment.frustration, Frustration::High);
    assert_eq!(b.sentiment.current, -0.8);
    assert_eq!(b.sentiment.lowest, -0.8);
    assert_eq!(b.sentiment.trajectory.len(), 4);

    let turns = [
        Turn::customer("a", "ugh", t(0), Some(-0.7)),
        Turn::customer("b", "ok thanks that works", t(1), Some(0.6)),
    ];
    let b = build(&turns);
    assert_eq!(b.sentiment.trend, Trend::Improving);
    assert_eq!(b.sentiment.frustration, Frustration::None);

    // NaN from a broken scorer is ignored, not propagated.
    let turns = [Turn::customer("a", "x", t(0), Some(f64::NAN))];
    assert!(build(&turns).sentiment.trajectory.is_empty());
}

#[test]
fn frustration_rule_raises_the_level() {
    let turns = [Turn::customer(
        "a",
        "this is the third time I ask",
        t(0),
        Some(-0.05),
    )];
    let ex = Extractors::builtin();
    let reasons = [Reason {
        rule: "frustration".into(),
        detail: "repeated complaint".into(),
    }];
    let mut input = BriefInput::new(&turns, &ex, t(1));
    input.reasons = &reasons;
    assert_eq!(
        build_brief(&input).sentiment.frustration,
        Frustration::Medium
    );
}

#[test]
fn bot_attempts_are_classified_and_capped() {
    let texts: Vec<String> = (0..30).map(|i| format!("answer {i}")).collect();
    let mut turns: Vec<Turn<'_>> = texts
        .iter()
        .enumerate()
        .map(|(i, s)| Turn::bot("b", s, t(i as i64), Some(0.4)))
        .collect();
    turns.push(Turn::bot("q", "Could you send a photo?", t(40), Some(0.8)));
    let mut fb = Turn::bot("f", "Sorry, I didn't get that.", t(41), None);
    fb.fallback = true;
    turns.push(fb);
    let b = build(&turns);
    assert_eq!(b.bot.turns, 32);
    assert_eq!(b.bot.answers, 30);
    assert_eq!(b.bot.questions, 1);
    assert_eq!(b.bot.fallbacks, 1);
    assert_eq!(b.bot.low_confidence, 31);
    assert_eq!(b.bot_attempts.len(), MAX_BOT_ATTEMPTS);
    assert_eq!(b.bot_attempts.last().unwrap().kind, AttemptKind::Fallback);
}

#[test]
fn with_summary_swaps_the_text() {
    let b = build(&[Turn::customer("a", "refund please", t(0), None)]);
    assert_eq!(b.summary_source, SummarySource::Template);
    let llm = b.clone().with_summary("  An LLM wrote this.  ");
    assert_eq!(llm.summary, "An LLM wrote this.");
    assert_eq!(llm.summary_source, SummarySource::Llm);
    let same = b.clone().with_summary("   ");
    assert_eq!(same, b);
}

#[test]
fn deterministic_and_serializable() {
    let turns = [
        Turn::customer(
            "a",
            "I was charged $49.99 twice on 2026-03-01 for order #7788!!",
            t(0),
            Some(-0.6),
        ),
        Turn::bot(
            "b",
            "I can help with billing. Which card did you use?",
            t(1),
            Some(0.45),
        ),
    ];
    let one = build(&turns);
    let two = build(&turns);
    assert_eq!(one, two);
    let json = serde_json::to_string(&one).unwrap();
    let back: Brief = serde_json::from_str(&json).unwrap();
    assert_eq!(back, one);
    assert!(json.starts_with(r#"{"summary":"#));
}

#[test]
fn custom_extractor_fields_appear() {
    let ex = Extractors::with_custom(&[("ticket", r"TKT-\d{5}")]).unwrap();
    let turns = [Turn::customer("a", "see TKT-00042", t(0), None)];
    let b = build_brief(&BriefInput::new(&turns, &ex, t(1)));
    assert_eq!(b.field("ticket").unwrap().value, "TKT-00042");
}

#[test]
fn field_count_is_capped() {
    let text: String = (0..200).map(|i| format!("order #{} ", 1000 + i)).collect();
    let b = build(&[Turn::customer("a", &text, t(0), None)]);
    assert_eq!(b.fields.len(), MAX_FIELDS);
}

#[test]
fn topic_hints_win_and_map() {
    let turns = [Turn::customer("a", "my package never arrived", t(0), None)];
    let ex = Extractors::builtin();
    let mut input = BriefInput::new(&turns, &ex, t(1));
    input.topics = &["double_charge", "warranty_claim"];
    let b = build_brief(&input);
    assert_eq!(b.topics, ["billing", "warranty_claim", "delivery"]);
    assert!(
        b.summary.starts_with("Customer disputes a charge"),
        "{}",
        b.summary
    );
}

#[test]
fn the_greeting_speaks_the_customers_language() {
    let ex = Extractors::builtin();
    // The profile names the language.
    let turns = [Turn::customer(
        "m1",
        "I want a refund for order 12345",
        t(0),
        None,
    )];
    let mut input = BriefInput::new(&turns, &ex, t(10));
    input.customer.name = Some("Lucía Gómez");
    input.customer.language = Some("es-MX");
    input.agent_name = Some("Sara");
    let b = build_brief(&input);
    assert_eq!(b.reply_language.as_deref(), Some("es"));
    let g = b.greeting.unwrap();
    assert!(
        g.starts_with("Hola, Lucía, soy Sara. Veo que nos escribes por un reembolso del pedido"),
        "{g}"
    );
    assert!(g.ends_with("yo me encargo a partir de aquí."), "{g}");
    // Without a profile language, what the customer writes tells.
    let turns = [Turn::customer(
        "m1",
        "Bonjour, j'ai été débité deux fois pour la même commande et personne ne me répond",
        t(0),
        None,
    )];
    let input = BriefInput::new(&turns, &ex, t(10));
    let b = build_brief(&input);
    assert_eq!(b.reply_language.as_deref(), Some("fr"));
    let g = b.greeting.unwrap();
    assert!(g.starts_with("Bonjour, merci de votre patience."), "{g}");
    // A language Baton does not write: no greeting (the agent writes it), but the language is
    // still told.
    let turns = [Turn::customer("m1", "返金をお願いします", t(0), None)];
    let mut input = BriefInput::new(&turns, &ex, t(10));
    input.customer.language = Some("ja");
    let b = build_brief(&input);
    assert_eq!(b.reply_language.as_deref(), Some("ja"));
    assert_eq!(b.greeting, None);
    // Every written language has a greeting for every known topic, with no placeholder left.
    for language in crate::language::WRITTEN {
        for text in [
            "refund for order 12345 please",
            "cancel my subscription",
            "I can't log in",
            "where is my parcel, order 12345",
            "you charged me $40 twice",
            "someone used my card, fraud",
            "the app is down",
            "I will take legal action",
            "hello",
        ] {
            let turns = [Turn::customer("m1", text, t(0), None)];
            let mut input = BriefInput::new(&turns, &ex, t(10));
            input.customer.language = Some(language);
            let g = build_brief(&input).greeting.unwrap();
            assert!(
                !g.contains('{') && !g.contains("  "),
                "{language} {text}: {g}"
            );
            assert!(g.ends_with('.'), "{language} {text}: {g}");
        }
    }
}
