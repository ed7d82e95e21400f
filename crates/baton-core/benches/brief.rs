//! Building a handoff brief for a 50-turn conversation (25 customer turns, 25 bot turns, about
//! 4.3 KB of text with order ids, amounts, dates, emails, phones and tracking numbers), with the
//! built-in extractors plus 3 tenant extractors. No LLM.
//!
//! `cargo bench -p baton-core --bench brief`

use baton_core::brief::{
    ArticleRef, BriefInput, CustomerProfile, Extractors, HandoffRequest, PastConversation, Reason,
    Turn, build_brief,
};
use baton_core::{HandoffSource, Timestamp};
use std::hint::black_box;

fn main() {
    divan::main();
}

const CUSTOMER: [&str; 5] = [
    "Hi, my order #{n} arrived yesterday with a cracked screen and I paid $349.99 for it. I want a refund.",
    "I already sent photos to support@example.com on 2026-03-14, you can call me on +44 7700 900123.",
    "The UPS tracking 1Z999AA10123456784 says delivered to the front door but the box was crushed.",
    "This is the third time I explain it. Account number 448812903, invoice INV-2026-0311. Please help.",
    "ok, and what about the 49,99 € accessory (SKU JKT-4410-M) I returned on 14/02/2026?",
];

const BOT: [&str; 5] = [
    "I'm sorry to hear that! Refunds are available within 30 days of delivery for items in their original condition.",
    "Could you send us a photo of the damage and of the shipping box?",
    "Your order shipped with FedEx, tracking 123456789012, and should arrive on 2026-03-16.",
    "Refunds are processed within 5-10 business days after we receive the return.",
    "Sorry, I didn't quite get that. Could you rephrase?",
];

#[divan::bench]
fn build_brief_50_turns(bencher: divan::Bencher) {
    let extractors = Extractors::with_custom(&[
        ("ticket", r"\bTKT-\d{5}\b"),
        ("booking_ref", r"\bBK-\d{5}\b"),
        (
            "workspace_id",
            r"(?i)workspace\s*(?:id)?\s*(?:is|:)?\s*(\d{4,8})",
        ),
    ])
    .unwrap();
    let texts: Vec<String> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                CUSTOMER[(i / 2) % 5].replace("{n}", &(1000 + i).to_string())
            } else {
                BOT[(i / 2) % 5].to_owned()
            }
        })
        .collect();
    let ids: Vec<String> = (0..50).map(|i| format!("msg_{i:04}")).collect();
    let start = Timestamp::from_millis(1_773_480_000_000);
    let turns: Vec<Turn<'_>> = texts
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, (text, id))| {
            let at = start.plus_millis(i as i64 * 20_000);
            if i % 2 == 0 {
                Turn::customer(id, text, at, Some(-0.1 - (i as f64) / 80.0))
            } else {
                let mut t = Turn::bot(id, text, at, Some(0.3 + (i % 7) as f64 / 10.0));
                t.bot_intent = Some(["refund_policy", "request_photos", "order_status"][i % 3]);
                t.bot_article = (i % 4 == 1).then_some("Refund and return policy");
                t.fallback = i % 10 == 9;
                t
            }
        })
        .collect();
    assert_eq!(turns.len(), 50);
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    assert!(bytes > 4_000, "{bytes} bytes");
    let past = [
        PastConversation {
            id: "conv_1",
            closed_at: start.plus_millis(-86_400_000),
            resolution: Some("told_to_wait"),
            csat: Some(2),
        },
        PastConversation {
            id: "conv_0",
            closed_at: start.plus_millis(-40 * 86_400_000),
            resolution: Some("resolved"),
            csat: Some(5),
        },
    ];
    let reasons = [
        Reason {
            rule: "human_request".into(),
            detail: "customer wrote 'let me talk to a real person'".into(),
        },
        Reason {
            rule: "frustration".into(),
            detail: "score 0.81".into(),
        },
    ];
    let articles: Vec<ArticleRef> = (0..8)
        .map(|i| ArticleRef {
            id: format!("kb-{i}"),
            title: format!("Article {i}"),
            score: 1.0 / (1.0 + i as f64),
        })
        .collect();
    let topics = ["refund", "delivery"];
    let input = BriefInput {
        turns: &turns,
        customer: CustomerProfile {
            name: Some("John Miller"),
            tier: Some("gold"),
            language: Some("en"),
            email: Some("john@example.com"),
        },
        past: &past,
        handoff: Some(HandoffRequest {
            reason: "customer_request",
            source: HandoffSource::Customer,
            note: None,
            at: start.plus_millis(1_000_000),
        }),
        reasons: &reasons,
        articles: &articles,
        topics: &topics,
        agent_name: Some("Sara"),
        extractors: &extractors,
        now: start.plus_millis(1_020_000),
    };
    // Sanity: the brief found the fields it should.
    let b = build_brief(&input);
    assert!(b.fields.len() >= 15, "{} fields", b.fields.len());
    bencher.bench(|| build_brief(black_box(&input)));
}

/// The extraction part alone (every turn through the built-in and tenant extractors).
#[divan::bench]
fn extract_fields_50_turns(bencher: divan::Bencher) {
    let extractors = Extractors::with_custom(&[("ticket", r"\bTKT-\d{5}\b")]).unwrap();
    let texts: Vec<String> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                CUSTOMER[(i / 2) % 5].replace("{n}", &(1000 + i).to_string())
            } else {
                BOT[(i / 2) % 5].to_owned()
            }
        })
        .collect();
    bencher.bench(|| {
        let mut n = 0;
        for (i, t) in texts.iter().enumerate() {
            n += extractors.extract_text(black_box(t), i % 2 == 0).len();
        }
        n
    });
}

/// A 10-turn conversation where the customer pasted a 100 KB log (scan capped at 64 KB).
#[divan::bench]
fn build_brief_with_100kb_message(bencher: divan::Bencher) {
    let extractors = Extractors::builtin();
    let huge = format!(
        "order #4411 failed, here is the log: {}",
        "2026-03-14 ERROR payment gateway timeout after 30000 ms (attempt 3) ".repeat(1_500)
    );
    assert!(huge.len() > 100_000);
    let start = Timestamp::from_millis(1_773_480_000_000);
    let mut turns: Vec<Turn<'_>> = (0..9)
        .map(|i| {
            let at = start.plus_millis(i * 20_000);
            if i % 2 == 0 {
                Turn::customer("c", CUSTOMER[i as usize % 5], at, Some(-0.3))
            } else {
                Turn::bot("b", BOT[i as usize % 5], at, Some(0.5))
            }
        })
        .collect();
    turns.push(Turn::customer(
        "big",
        &huge,
        start.plus_millis(200_000),
        Some(-0.5),
    ));
    let input = BriefInput::new(&turns, &extractors, start.plus_millis(220_000));
    bencher.bench(|| build_brief(black_box(&input)));
}
