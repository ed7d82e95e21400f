//! Behaviour of the index: stemming, tenants, writes, ranking, snippets, odd queries.

use baton_kb::{Article, Hit, KbError, KnowledgeBase, SearchOptions};

fn article(tenant: &str, id: &str, title: &str, body: &str, tags: &[&str], lang: &str) -> Article {
    Article {
        id: id.into(),
        tenant: tenant.into(),
        title: title.into(),
        body: body.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        language: lang.into(),
        updated_at_ms: 1_700_000_000_000,
    }
}

fn search(kb: &KnowledgeBase, tenant: &str, q: &str) -> Vec<Hit> {
    kb.search(tenant, q, &SearchOptions::default()).unwrap()
}

fn ids(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

/// A small multi-language base for tenant `acme`.
fn sample() -> KnowledgeBase {
    let kb = KnowledgeBase::new();
    kb.upsert_many([
        article(
            "acme",
            "refund",
            "Refund policy",
            "We **refund** unused items within 30 days of delivery.",
            &["billing"],
            "en",
        ),
        article(
            "acme",
            "shipping",
            "Shipping times",
            "Standard delivery takes 2-4 business days.",
            &["shipping"],
            "en",
        ),
        article(
            "acme",
            "reembolso",
            "Política de reembolso",
            "Hacemos el reembolso en 30 días. Los reembolsos llegan a tu tarjeta.",
            &["facturación"],
            "es",
        ),
        article(
            "acme",
            "erstattung",
            "Erstattung",
            "Die Erstattung erfolgt innerhalb von zwei Werktagen nach Prüfung der Rücksendung.",
            &[],
            "de",
        ),
        article(
            "acme",
            "remboursement",
            "Remboursements",
            "Le remboursement est effectué sous deux jours ouvrés.",
            &[],
            "fr",
        ),
        article(
            "acme",
            "reembolso-pt",
            "Reembolsos da assinatura",
            "Pedidos de reembolso são analisados em dois dias úteis.",
            &[],
            "pt-BR",
        ),
        article(
            "acme",
            "rimborso",
            "Rimborsi",
            "Il rimborso viene approvato entro due giorni lavorativi.",
            &[],
            "it",
        ),
        article(
            "acme",
            "nl",
            "Terugbetaling",
            "Wij betalen binnen dertig dagen terug.",
            &[],
            "nl",
        ),
    ])
    .unwrap();
    kb
}

#[test]
fn english_stemming_matches_inflections() {
    let kb = sample();
    for q in ["refund", "refunds", "refunded", "refunding", "REFUNDS?"] {
        assert_eq!(ids(&search(&kb, "acme", q)).first(), Some(&"refund"), "{q}");
    }
}

#[test]
fn per_language_stemming() {
    let kb = sample();
    let cases = [
        ("reembolsos", Some("es"), "reembolso"),
        ("reembolso", Some("es"), "reembolso"),
        ("Erstattungen", Some("de"), "erstattung"),
        ("remboursé", Some("fr"), "remboursement"),
        ("reembolsos", Some("pt"), "reembolso-pt"),
        ("rimborsato", Some("it"), "rimborso"),
        ("terugbetaling", Some("nl"), "nl"),
    ];
    for (q, lang, expected) in cases {
        let opts = SearchOptions {
            language: lang.map(str::to_string),
            ..SearchOptions::default()
        };
        let hits = kb.search("acme", q, &opts).unwrap();
        assert_eq!(ids(&hits), [expected], "{q} in {lang:?}");
    }
    // Without a language filter, each language's articles are matched by their own stemmer.
    let hits = search(&kb, "acme", "reembolsos");
    let all = ids(&hits);
    assert!(
        all.contains(&"reembolso") && all.contains(&"reembolso-pt"),
        "{all:?}"
    );
    // Accents are optional for the customer.
    assert_eq!(
        ids(&search(&kb, "acme", "politica de reembolso"))[0],
        "reembolso"
    );
}

#[test]
fn language_filter_uses_primary_subtag() {
    let kb = sample();
    let opts = |l: &str| SearchOptions {
        language: Some(l.into()),
        ..SearchOptions::default()
    };
    assert_eq!(
        ids(&kb.search("acme", "reembolsos", &opts("pt")).unwrap()),
        ["reembolso-pt"]
    );
    assert_eq!(
        ids(&kb.search("acme", "reembolsos", &opts("PT-pt")).unwrap()),
        ["reembolso-pt"]
    );
    assert!(kb.search("acme", "refund", &opts("es")).unwrap().is_empty());
    assert_eq!(search(&kb, "acme", "reembolsos")[0].language, "es");
}

#[test]
fn tag_filter_requires_every_tag() {
    let kb = KnowledgeBase::new();
    kb.upsert_many([
        article(
            "t",
            "a",
            "Card payments",
            "Pay by card.",
            &["Billing", "cards"],
            "en",
        ),
        article("t", "b", "Card games", "Play cards.", &["fun"], "en"),
    ])
    .unwrap();
    let opts = |tags: &[&str]| SearchOptions {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..SearchOptions::default()
    };
    assert_eq!(
        ids(&kb.search("t", "card", &opts(&["billing"])).unwrap()),
        ["a"]
    );
    assert_eq!(
        ids(&kb
            .search("t", "card", &opts(&["BILLING", "cards"]))
            .unwrap()),
        ["a"]
    );
    assert!(
        kb.search("t", "card", &opts(&["billing", "fun"]))
            .unwrap()
            .is_empty()
    );
    // Tags are returned lower-cased, and searchable as words.
    assert_eq!(search(&kb, "t", "card")[0].tags.len(), 2);
    assert_eq!(ids(&search(&kb, "t", "fun")), ["b"]);
}

#[test]
fn tenants_never_leak() {
    let kb = KnowledgeBase::new();
    kb.upsert(article(
        "acme",
        "same-id",
        "Refund policy",
        "Refunds in 30 days.",
        &[],
        "en",
    ))
    .unwrap();
    kb.upsert(article(
        "acme2",
        "same-id",
        "Gift cards",
        "Gift cards never expire.",
        &[],
        "en",
    ))
    .unwrap();
    kb.upsert(article(
        "acm",
        "other",
        "Refund secrets",
        "Refund refund refund.",
        &[],
        "en",
    ))
    .unwrap();

    assert_eq!(ids(&search(&kb, "acme", "refund")), ["same-id"]);
    assert_eq!(search(&kb, "acme", "refund")[0].title, "Refund policy");
    assert!(search(&kb, "acme", "gift cards").is_empty());
    assert!(search(&kb, "acme2", "refund").is_empty());
    assert!(search(&kb, "nobody", "refund").is_empty());
    assert!(search(&kb, "", "refund").is_empty());
    // A tenant id that looks like a key or contains the separator matches nothing else.
    assert!(search(&kb, "acme\u{1f}same-id", "refund").is_empty());
    assert!(search(&kb, "acme*", "refund").is_empty());

    // Writes to one tenant don't touch another's article with the same id.
    kb.remove("acme2", "same-id").unwrap();
    assert_eq!(ids(&search(&kb, "acme", "refund")), ["same-id"]);
    kb.replace_tenant("acm", []).unwrap();
    assert_eq!(kb.article_count("acm").unwrap(), 0);
    assert_eq!(kb.article_count("acme").unwrap(), 1);
}

#[test]
fn upsert_replaces_and_remove_deletes() {
    let kb = KnowledgeBase::new();
    kb.upsert(article(
        "t",
        "a",
        "Old title about parrots",
        "Parrots.",
        &[],
        "en",
    ))
    .unwrap();
    assert_eq!(ids(&search(&kb, "t", "parrots")), ["a"]);

    kb.upsert(article(
        "t",
        "a",
        "New title about otters",
        "Otters.",
        &[],
        "es",
    ))
    .unwrap();
    assert!(search(&kb, "t", "parrots").is_empty());
    let hits = search(&kb, "t", "otters");
    assert_eq!(ids(&hits), ["a"]);
    assert_eq!(hits[0].title, "New title about otters");
    assert_eq!(hits[0].language, "es");
    assert_eq!(kb.article_count("t").unwrap(), 1);

    kb.remove("t", "a").unwrap();
    assert!(search(&kb, "t", "otters").is_empty());
    assert_eq!(kb.article_count("t").unwrap(), 0);
    kb.remove("t", "never-existed").unwrap();
}

#[test]
fn replace_tenant_swaps_the_whole_set() {
    let kb = KnowledgeBase::new();
    kb.replace_tenant(
        "t",
        [
            article("t", "a", "Alpha", "first", &[], "en"),
            article("t", "b", "Beta", "second", &[], "en"),
        ],
    )
    .unwrap();
    assert_eq!(kb.article_count("t").unwrap(), 2);
    kb.replace_tenant(
        "t",
        [
            article("t", "c", "Gamma", "third", &[], "en"),
            article("t", "c", "Gamma v2", "third again", &[], "en"),
        ],
    )
    .unwrap();
    assert_eq!(kb.article_count("t").unwrap(), 1);
    assert!(search(&kb, "t", "alpha beta").is_empty());
    assert_eq!(search(&kb, "t", "gamma")[0].title, "Gamma v2");

    let err = kb
        .replace_tenant("t", [article("other", "x", "X", "", &[], "en")])
        .unwrap_err();
    assert!(matches!(err, KbError::InvalidArticle(_)), "{err}");
    assert_eq!(
        kb.article_count("t").unwrap(),
        1,
        "a rejected batch changes nothing"
    );
}

#[test]
fn invalid_articles_are_rejected() {
    let kb = KnowledgeBase::new();
    assert!(matches!(
        kb.upsert(article("t", " ", "T", "", &[], "en")),
        Err(KbError::InvalidArticle(_))
    ));
    assert!(matches!(
        kb.upsert(article("", "a", "T", "", &[], "en")),
        Err(KbError::InvalidArticle(_))
    ));
    assert!(matches!(
        kb.upsert(article("t", "a\u{1f}b", "T", "", &[], "en")),
        Err(KbError::InvalidArticle(_))
    ));
}

#[test]
fn title_outranks_body() {
    let kb = KnowledgeBase::new();
    let filler = "This article explains our general terms for customers in detail.";
    kb.upsert_many([
        article(
            "t",
            "body",
            "General terms",
            &format!("{filler} Warranty applies."),
            &[],
            "en",
        ),
        article(
            "t",
            "title",
            "Warranty",
            &format!("{filler} Applies."),
            &[],
            "en",
        ),
    ])
    .unwrap();
    let hits = search(&kb, "t", "warranty");
    assert_eq!(ids(&hits), ["title", "body"]);
    assert!(hits[0].score > hits[1].score * 1.5, "{hits:?}");
}

#[test]
fn snippet_shows_the_matching_passage_as_plain_text() {
    let kb = KnowledgeBase::new();
    let intro = "Welcome to the **help centre**. ".repeat(20);
    let body = format!(
        "# Heading\n\n{intro}\n\n## Vouchers\n\nA [voucher](https://x.example/v) expires after \
         `three years`.\n\n```\ncode block\n```\n\n{intro}"
    );
    kb.upsert(article("t", "a", "Help", &body, &[], "en"))
        .unwrap();
    let hit = &search(&kb, "t", "when do vouchers expire")[0];
    let s = &hit.snippet;
    assert!(s.contains("voucher") && s.contains("expires"), "{s}");
    assert!(!s.contains(['*', '#', '[', ']', '(', '`', '\n']), "{s}");
    assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
    assert!(s.chars().count() <= 210, "{} chars: {s}", s.chars().count());

    // Title-only match: the snippet is the start of the body.
    kb.upsert(article("t", "b", "Parrots", "Short body text.", &[], "en"))
        .unwrap();
    assert_eq!(search(&kb, "t", "parrots")[0].snippet, "Short body text.");
}

#[test]
fn free_text_queries_never_fail() {
    let kb = KnowledgeBase::new();
    kb.upsert(article(
        "t",
        "a",
        "Refund policy",
        "Refunds take five days.",
        &["billing"],
        "en",
    ))
    .unwrap();
    let huge = "refund ".repeat(15_000); // ~100 KB
    let huge_noise = "\"(:[{*~^!\\".repeat(10_000);
    let emoji = "🙂🔥💸".repeat(5_000);
    let matching = [
        "refund",
        "\"refund",
        "refund\"",
        "title:refund",
        "body:refund AND",
        "(refund",
        "refund)))",
        "+refund -policy",
        "refund~2",
        "refund^10",
        "[refund TO zebra]",
        "refund*",
        "💸 refund 💸",
        "REFUND!!!",
        "refund\0policy",
        "refund\u{1f}policy",
        "refund\\",
        "'refund' OR 'policy'",
        &huge,
    ];
    for q in matching {
        let hits = kb.search("t", q, &SearchOptions::default());
        let shown: String = q.chars().take(40).collect();
        assert_eq!(ids(&hits.unwrap()), ["a"], "{shown:?}");
    }
    let nothing = [
        "",
        "   \t\n",
        "\"",
        "\"\"",
        ":",
        "(((",
        ")",
        "*",
        "AND",
        "OR NOT",
        "the and of it",
        "¿?¡!",
        "🙂",
        "\0",
        "-",
        &huge_noise,
        &emoji,
    ];
    for q in nothing {
        let hits = kb.search("t", q, &SearchOptions::default()).unwrap();
        let shown: String = q.chars().take(40).collect();
        assert!(hits.is_empty(), "{shown:?} → {hits:?}");
    }
}

#[test]
fn limits() {
    let kb = KnowledgeBase::new();
    kb.upsert_many((0..150).map(|i| {
        article(
            "t",
            &format!("a{i}"),
            "Parcel",
            &format!("parcel {i}"),
            &[],
            "en",
        )
    }))
    .unwrap();
    let with = |limit| SearchOptions {
        limit,
        ..SearchOptions::default()
    };
    assert_eq!(
        kb.search("t", "parcel", &SearchOptions::default())
            .unwrap()
            .len(),
        10
    );
    assert_eq!(kb.search("t", "parcel", &with(3)).unwrap().len(), 3);
    assert!(kb.search("t", "parcel", &with(0)).unwrap().is_empty());
    assert_eq!(
        kb.search("t", "parcel", &with(10_000)).unwrap().len(),
        SearchOptions::MAX_LIMIT
    );
}

#[test]
fn concurrent_searches_during_writes() {
    let kb = sample();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let kb = kb.clone();
            s.spawn(move || {
                for _ in 0..200 {
                    let hits = kb
                        .search("acme", "refund", &SearchOptions::default())
                        .unwrap();
                    assert_eq!(hits[0].id, "refund");
                }
            });
        }
        let kb = kb.clone();
        s.spawn(move || {
            for i in 0..30 {
                kb.upsert(article(
                    "acme",
                    &format!("new{i}"),
                    "Otters",
                    "otter",
                    &[],
                    "en",
                ))
                .unwrap();
                // Visible to the very next search, with no waiting.
                let all = SearchOptions {
                    limit: 100,
                    ..SearchOptions::default()
                };
                assert_eq!(kb.search("acme", "otters", &all).unwrap().len(), i + 1);
            }
        });
    });
    assert_eq!(kb.article_count("acme").unwrap(), 38);
}

#[test]
fn article_round_trips_through_json() {
    let a = article("t", "a", "T", "B", &["x"], "en");
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(serde_json::from_str::<Article>(&json).unwrap(), a);
    let opts: SearchOptions = serde_json::from_str(r#"{"tags":["x"]}"#).unwrap();
    assert_eq!(opts.limit, 10);
}
