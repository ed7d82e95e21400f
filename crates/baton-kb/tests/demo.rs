//! The demo tenant's knowledge base (`demo/kb/`): it imports cleanly and answers realistic
//! customer questions with the right article first.

use baton_kb::{ArticleDraft, KbError, KnowledgeBase, SearchOptions, confidence, import_dir};
use std::collections::HashSet;
use std::path::PathBuf;

fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../demo/kb")
}

fn demo_drafts() -> Vec<ArticleDraft> {
    import_dir(demo_dir()).expect("demo/kb imports")
}

fn demo_kb() -> KnowledgeBase {
    let kb = KnowledgeBase::new();
    kb.replace_tenant(
        "demo",
        demo_drafts().into_iter().map(|d| d.into_article("demo", 0)),
    )
    .unwrap();
    kb
}

#[test]
fn demo_folder_imports_completely() {
    let drafts = demo_drafts();
    assert!(drafts.len() >= 32, "{} articles", drafts.len());
    let slugs: HashSet<_> = drafts.iter().map(|d| d.slug.as_str()).collect();
    assert_eq!(slugs.len(), drafts.len(), "slugs are unique");
    for d in &drafts {
        let words = baton_kb::markdown_to_text(&d.body)
            .split_whitespace()
            .count();
        assert!((120..=400).contains(&words), "{}: {words} words", d.slug);
        assert!(!d.tags.is_empty(), "{} has tags", d.slug);
        assert!(
            !d.body.starts_with("# "),
            "{}: the title heading is stripped",
            d.slug
        );
    }
    let languages: HashSet<_> = drafts.iter().map(|d| d.language.as_str()).collect();
    for lang in ["en", "es", "de", "pt", "pt-BR", "fr", "it"] {
        assert!(languages.contains(lang), "missing {lang}");
    }
}

#[test]
fn customer_questions_find_the_right_article() {
    let kb = demo_kb();
    let cases = [
        ("I was charged twice", "charged-twice"),
        (
            "there are two payments on my card for one order",
            "charged-twice",
        ),
        ("where is my package", "track-your-order"),
        ("tracking number", "track-your-order"),
        ("my order is late", "delayed-delivery"),
        ("how long does a refund take", "refund-policy"),
        ("I need a return label", "return-shipping-label"),
        ("the item arrived broken", "damaged-or-defective-item"),
        ("I forgot my password", "reset-password"),
        (
            "lost my phone with the authenticator app",
            "two-factor-lost-phone",
        ),
        ("my account is locked", "account-locked"),
        ("delete my account", "delete-account-gdpr"),
        ("download a copy of my data", "data-export"),
        ("I don't recognise this charge", "unrecognized-charge"),
        ("cancel my subscription", "cancel-subscription"),
        ("pause membership for a month", "pause-subscription"),
        ("cancel my order", "cancel-an-order"),
        ("change delivery address", "change-shipping-address"),
        ("invoice with VAT number for my company", "invoices-and-vat"),
        ("my card was declined", "payment-declined"),
        ("update my credit card", "update-payment-card"),
        ("gift card balance", "gift-cards"),
        ("promo code not working", "promo-codes"),
        ("warranty repair", "warranty"),
        (
            "customs fees on international orders",
            "international-shipping-customs",
        ),
        ("deliver to a parcel locker", "pickup-points"),
        ("how many points do I have rewards", "loyalty-program"),
        ("student discount", "student-discount"),
        ("can't log in to the app", "app-login-problems"),
        ("stop push notifications", "notifications"),
        ("is the website down", "service-status"),
        ("talk to a human, opening hours", "contact-hours-escalation"),
        ("screen reader support", "accessibility"),
        ("olvidé mi contraseña", "es-olvide-mi-contrasena"),
        ("olvide mi contrasena", "es-olvide-mi-contrasena"),
        ("¿dónde está mi paquete?", "es-seguimiento-de-pedido"),
        ("quiero un reembolso", "es-politica-de-reembolsos"),
        ("Passwort vergessen", "de-passwort-zuruecksetzen"),
        (
            "Wann bekomme ich meine Erstattung?",
            "de-ruecksendung-und-erstattung",
        ),
        ("rastrear meu pedido", "pt-rastrear-pedido"),
        ("cancelar assinatura", "pt-cancelar-assinatura"),
        ("je veux un remboursement", "fr-remboursement"),
        ("vorrei un rimborso", "it-resi-e-rimborsi"),
    ];
    let mut failures = Vec::new();
    for (question, expected) in cases {
        let hits = kb
            .search("demo", question, &SearchOptions::default())
            .unwrap();
        let got: Vec<_> = hits.iter().take(3).map(|h| h.id.as_str()).collect();
        if got.first() != Some(&expected) {
            failures.push(format!("{question:?}: expected {expected}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn confidence_separates_strong_from_weak_matches() {
    let kb = demo_kb();
    let conf = |q: &str| {
        let hits = kb.search("demo", q, &SearchOptions::default()).unwrap();
        (
            confidence(&hits),
            hits.first().map(|h| h.score).unwrap_or(0.0),
        )
    };
    let (strong, strong_score) = conf("charged twice: two payments for one order");
    let (exact_short, short_score) = conf("gift cards");
    let (ambiguous, _) = conf("my card was declined");
    let (weak, weak_score) = conf("box");
    let (none, _) = conf("quantum chromodynamics");
    assert!(strong > 0.8, "exact title: {strong} (score {strong_score})");
    assert!(
        exact_short > 0.75,
        "short exact title: {exact_short} (score {short_score})"
    );
    assert!(
        (0.35..0.7).contains(&ambiguous),
        "two close articles: {ambiguous}"
    );
    assert!(
        weak < 0.3,
        "single common word: {weak} (score {weak_score})"
    );
    assert!(strong.min(exact_short) > ambiguous && ambiguous > weak && weak > none);
    assert_eq!(none, 0.0);
}

#[test]
fn bad_front_matter_names_file_and_line() {
    let dir = std::env::temp_dir().join(format!("baton-kb-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("good.md"), "# Good\n\nBody").unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    std::fs::write(
        dir.join("broken.md"),
        "---\ntitle: Broken\ntags: [a, b\nlanguage: en\n---\nBody",
    )
    .unwrap();
    let err = import_dir(&dir).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, KbError::FrontMatter { line: 3, .. }),
        "{err:?}"
    );
    assert!(
        message.contains("broken.md:3:") && message.contains("tags"),
        "{message}"
    );

    std::fs::remove_file(dir.join("broken.md")).unwrap();
    let drafts = import_dir(&dir).unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(
        (drafts[0].slug.as_str(), drafts[0].title.as_str()),
        ("good", "Good")
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let err = import_dir(dir.join("missing")).unwrap_err();
    assert!(
        matches!(err, KbError::Io { .. }) && err.to_string().contains("missing"),
        "{err}"
    );
}
