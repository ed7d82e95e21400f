use super::*;

fn hr(text: &str) -> HumanRequest {
    detect(text, &Tokens::new(text))
}

#[track_caller]
fn yes(text: &str) {
    let h = hr(text);
    assert!(h.detected, "expected a request: {text:?} -> {h:?}");
}

#[track_caller]
fn no(text: &str) {
    let h = hr(text);
    assert!(!h.detected, "expected no request: {text:?} -> {h:?}");
}

#[test]
fn direct_requests_in_english() {
    for t in [
        "agent",
        "Agent!",
        "talk to a human",
        "could I speak with someone",
        "representative pls",
        "get me a real person",
        "I want to speak to a live agent please",
        "Could you connect me with customer service?",
        "I need a human",
        "let me talk to your manager",
        "how do I reach an actual person",
        "transfer me to an operator",
        "HUMAN PLEASE",
        "customer service",
        "is there a human available?",
        "can a representative call me back",
        "put me through to someone",
        "I'd like an agent",
    ] {
        yes(t);
    }
}

#[test]
fn typos() {
    for t in [
        "talk to a humna",
        "agnet please",
        "can I talk to an agnet",
        "speak with a persn",
        "i wanna talk to somone",
        "conatct a human",
        "spek to an agent",
    ] {
        yes(t);
    }
}

#[test]
fn indirect_requests() {
    for t in [
        "you are not helping, I need someone who can",
        "you arent helping me at all",
        "This bot is useless",
        "I don't want to talk to a machine",
        "I don't understand you, I want a person",
        "no more bots",
    ] {
        yes(t);
    }
    assert_eq!(hr("you arent helping me at all").kind, Some("indirect"));
}

#[test]
fn negation() {
    for t in [
        "I don't need an agent",
        "I do not want to talk to a human, just tell me my balance",
        "no need for an agent",
        "never transfer me to a person",
        "No necesito un agente",
        "Je ne veux pas parler à un conseiller",
        "Ich brauche keinen Mitarbeiter",
        "Non voglio parlare con un operatore",
        "Não quero falar com um atendente",
    ] {
        let h = hr(t);
        assert!(!h.detected, "{t:?} -> {h:?}");
    }
    assert!(hr("I don't need an agent").negated);
    // Negation of something else does not cancel the request.
    yes("I don't know how to reach an agent");
    yes("I don't understand, let me talk to a human");
    yes("no I want a human");
    yes("I dont want to talk to you, give me a human");
}

#[test]
fn hard_negatives() {
    for t in [
        "my insurance agent said I am covered",
        "I want to talk to my travel agent first",
        "Please update my personal details",
        "personal information",
        "are you a bot?",
        "Are you a real person?",
        "am I talking to a human or a machine",
        "is this a real person",
        "2 people, 1 room for 3 nights",
        "I need to send money to someone in Spain",
        "i need someone to paint my house",
        "Can someone help me top up my card?",
        "I made a transfer to someone yesterday",
        "what is the real cost of this plan",
        "who was the first person to walk on the moon",
        "pay in person at the store",
        "the person I want to pay lives abroad",
        "I can't connect to the wifi",
        "my real estate agent called",
        "sounds like a human wrote this",
        "where is my order",
        "",
    ] {
        no(t);
    }
}

#[test]
fn other_languages() {
    for (t, lang) in [
        ("Quiero hablar con un agente", "es"),
        ("¿Puedo hablar con una persona real?", "es"),
        ("pásame con un humano por favor", "es"),
        ("Je voudrais parler à un conseiller", "fr"),
        ("Puis-je parler à quelqu'un ?", "fr"),
        ("Ich möchte mit einem Mitarbeiter sprechen", "de"),
        ("Bitte verbinden Sie mich mit einem Menschen", "de"),
        ("Vorrei parlare con un operatore", "it"),
        ("posso parlare con qualcuno?", "it"),
        ("Quero falar com um atendente", "pt"),
        ("preciso falar com uma pessoa", "pt"),
    ] {
        let h = hr(t);
        assert!(h.detected, "{t:?} -> {h:?}");
        assert_eq!(h.language, Some(lang), "{t:?} -> {h:?}");
    }
    for t in [
        "¿Eres un humano?",
        "Bist du ein Roboter?",
        "sei un robot?",
        "Êtes-vous un robot ?",
        "você é humano?",
    ] {
        no(t);
    }
}

#[test]
fn callbacks_and_presence() {
    for t in [
        "please call me back",
        "can an agent call me about my bill",
        "I'd like a callback",
        "can I be called back",
        "¿me pueden llamar?",
        "rappelez-moi svp",
        "Können Sie mich zurückrufen?",
        "mi potete richiamare?",
        "pode me ligar?",
        "is anyone there?",
        "¿hay alguien que me pueda ayudar?",
        "who can I talk to about this",
        "transfer me please",
        "this is going nowhere. agent",
    ] {
        yes(t);
    }
    for t in [
        "you can call me Dave",
        "let me call you back",
        "call me crazy",
        "can you email me the invoice",
        "my manager will call me tomorrow",
        "the agent said they would call me back",
        "I was told I would be called back",
        "pouvez-vous me rappeler mon code",
        "no es necesario que me llamen",
        "who can I transfer money to?",
        "is anyone else having this issue?",
        "c'è qualcuno che ha usato la mia carta",
        "there is someone at my door",
        "transfer me 50 dollars",
        "pasame el link",
        "live chat is down",
        "The agent, he was rude",
    ] {
        no(t);
    }
}

#[test]
fn reports_the_matched_phrase() {
    let h = hr("This is taking forever. Can I talk to a REAL person?");
    assert!(h.detected);
    assert_eq!(h.phrase.as_deref(), Some("talk to a REAL person"));
    assert!(h.confidence >= 0.9);
}
