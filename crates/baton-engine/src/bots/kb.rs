//! The built-in knowledge-base bot.
//!
//! It searches the tenant's articles with the customer's message and turns the hits into a
//! calibrated confidence ([`baton_kb::confidence`]). From the tenant's threshold (default 0.35)
//! it answers with the top article's best passage ("Here's what I found in “Refund policy”:
//! ..."), its confidence, and the article id as intent. Below it, it says it is unsure and asks
//! a clarifying question (naming the closest article when there is one) as a fallback turn with
//! the low confidence, which the escalation detector counts; after two unsure answers in a row
//! it offers a person. While the conversation waits for a person it answers only when sure, and
//! otherwise asks once for details the agent will need ("While you wait, could you give me your
//! order number?").
//!
//! Texts are fixed templates in English, Spanish, Portuguese, German, French and Italian, picked
//! by the customer's language (English when unknown).

use super::runner::{TurnContext, WHILE_WAITING};
use super::{BotOutcome, BotReply, KbSettings};
use crate::Engine;
use baton_core::MessageRole;
use baton_kb::{Hit, SearchOptions};
use baton_store::StoreResult;

/// The bot's phrases in one language. `{title}` and `{snippet}` are replaced.
#[derive(Debug)]
pub struct Phrases {
    /// Quote marks around article titles.
    pub quotes: (&'static str, &'static str),
    /// A confident answer.
    pub found: &'static str,
    /// Other articles worth reading; `{titles}` is a list.
    pub see_also: &'static str,
    /// Unsure, with the closest article as a guess.
    pub unsure_suggest: &'static str,
    /// Unsure, nothing close.
    pub unsure: &'static str,
    /// Unsure again: offer a person.
    pub offer_person: &'static str,
    /// A confident answer while the customer waits for a person.
    pub waiting_found: &'static str,
    /// Collect details while the customer waits.
    pub waiting_ask: &'static str,
    /// The bot failed; a person takes over (a system message).
    pub connecting: &'static str,
    /// An agent's drafted reply from an article (`{hello}`, `{snippet}`, `{title}`).
    pub draft: &'static str,
    /// `{hello}` with the customer's first name (`{name}`), and without one.
    pub hello: (&'static str, &'static str),
}

const EN: Phrases = Phrases {
    quotes: ("“", "”"),
    found: "Here's what I found in “{title}”: {snippet}",
    see_also: "See also: {titles}.",
    unsure_suggest: "I'm not sure I have the right answer. Is your question about “{title}”? If not, could you tell me a bit more?",
    unsure: "I'm not sure I understood. Could you rephrase your question with a few more details?",
    offer_person: "I'm still not sure I can help with this. Would you like me to connect you with a person?",
    waiting_found: "While you wait, here's what I found in “{title}”: {snippet}",
    waiting_ask: "While you wait, could you give me your order number or any other details that will help our team?",
    connecting: "Let me connect you with a member of our team.",
    draft: "{hello} {snippet} You can find the details in our article “{title}”.",
    hello: ("Hi {name},", "Hi there,"),
};

const ES: Phrases = Phrases {
    quotes: ("“", "”"),
    found: "Esto es lo que encontré en “{title}”: {snippet}",
    see_also: "Ver también: {titles}.",
    unsure_suggest: "No estoy seguro de tener la respuesta correcta. ¿Tu pregunta es sobre “{title}”? Si no, ¿podrías darme más detalles?",
    unsure: "No estoy seguro de haber entendido. ¿Podrías reformular tu pregunta con más detalles?",
    offer_person: "Sigo sin estar seguro de poder ayudarte con esto. ¿Quieres que te ponga en contacto con una persona?",
    waiting_found: "Mientras esperas, esto es lo que encontré en “{title}”: {snippet}",
    waiting_ask: "Mientras esperas, ¿podrías darme tu número de pedido o cualquier otro dato que ayude a nuestro equipo?",
    connecting: "Te pongo en contacto con un miembro de nuestro equipo.",
    draft: "{hello} {snippet} Encontrarás todos los detalles en nuestro artículo “{title}”.",
    hello: ("Hola, {name}:", "Hola:"),
};

const PT: Phrases = Phrases {
    quotes: ("“", "”"),
    found: "Veja o que encontrei em “{title}”: {snippet}",
    see_also: "Veja também: {titles}.",
    unsure_suggest: "Não tenho certeza de ter a resposta certa. Sua pergunta é sobre “{title}”? Se não, pode me dar mais detalhes?",
    unsure: "Não tenho certeza se entendi. Pode reformular sua pergunta com mais detalhes?",
    offer_person: "Ainda não tenho certeza de que posso ajudar com isso. Quer que eu chame uma pessoa da nossa equipe?",
    waiting_found: "Enquanto espera, veja o que encontrei em “{title}”: {snippet}",
    waiting_ask: "Enquanto espera, pode me informar o número do seu pedido ou outros detalhes que ajudem a nossa equipe?",
    connecting: "Vou transferir você para um membro da nossa equipe.",
    draft: "{hello} {snippet} Você encontra todos os detalhes no nosso artigo “{title}”.",
    hello: ("Olá, {name}!", "Olá!"),
};

const DE: Phrases = Phrases {
    quotes: ("„", "“"),
    found: "Das habe ich in „{title}“ gefunden: {snippet}",
    see_also: "Siehe auch: {titles}.",
    unsure_suggest: "Ich bin nicht sicher, ob ich die richtige Antwort habe. Geht es um „{title}“? Falls nicht, können Sie mir mehr dazu sagen?",
    unsure: "Ich bin nicht sicher, ob ich Sie richtig verstanden habe. Können Sie Ihre Frage mit ein paar Details umformulieren?",
    offer_person: "Ich bin immer noch nicht sicher, ob ich Ihnen helfen kann. Soll ich Sie mit einem Menschen aus unserem Team verbinden?",
    waiting_found: "Während Sie warten: Das habe ich in „{title}“ gefunden: {snippet}",
    waiting_ask: "Während Sie warten: Können Sie mir Ihre Bestellnummer oder andere Details nennen, die unserem Team helfen?",
    connecting: "Ich verbinde Sie mit jemandem aus unserem Team.",
    draft: "{hello} {snippet} Alle Details finden Sie in unserem Artikel „{title}“.",
    hello: ("Hallo {name},", "Hallo,"),
};

const FR: Phrases = Phrases {
    quotes: ("« ", " »"),
    found: "Voici ce que j'ai trouvé dans « {title} » : {snippet}",
    see_also: "Voir aussi : {titles}.",
    unsure_suggest: "Je ne suis pas sûr d'avoir la bonne réponse. Votre question porte-t-elle sur « {title} » ? Sinon, pourriez-vous m'en dire un peu plus ?",
    unsure: "Je ne suis pas sûr d'avoir compris. Pourriez-vous reformuler votre question avec quelques détails ?",
    offer_person: "Je ne suis toujours pas sûr de pouvoir vous aider. Voulez-vous que je vous mette en relation avec une personne de notre équipe ?",
    waiting_found: "En attendant, voici ce que j'ai trouvé dans « {title} » : {snippet}",
    waiting_ask: "En attendant, pourriez-vous me donner votre numéro de commande ou tout autre détail utile à notre équipe ?",
    connecting: "Je vous mets en relation avec un membre de notre équipe.",
    draft: "{hello} {snippet} Vous trouverez tous les détails dans notre article « {title} ».",
    hello: ("Bonjour {name},", "Bonjour,"),
};

const IT: Phrases = Phrases {
    quotes: ("“", "”"),
    found: "Ecco cosa ho trovato in “{title}”: {snippet}",
    see_also: "Vedi anche: {titles}.",
    unsure_suggest: "Non sono sicuro di avere la risposta giusta. La tua domanda riguarda “{title}”? Altrimenti, puoi darmi qualche dettaglio in più?",
    unsure: "Non sono sicuro di aver capito. Puoi riformulare la domanda con qualche dettaglio in più?",
    offer_person: "Non sono ancora sicuro di poterti aiutare. Vuoi che ti metta in contatto con una persona del nostro team?",
    waiting_found: "Mentre attendi, ecco cosa ho trovato in “{title}”: {snippet}",
    waiting_ask: "Mentre attendi, puoi darmi il numero d'ordine o altri dettagli utili al nostro team?",
    connecting: "Ti metto in contatto con un membro del nostro team.",
    draft: "{hello} {snippet} Trovi tutti i dettagli nel nostro articolo “{title}”.",
    hello: ("Ciao {name},", "Ciao,"),
};

/// The phrases for a language code (primary subtag); English for unknown ones.
pub fn phrases(language: Option<&str>) -> &'static Phrases {
    written(language.unwrap_or("en")).unwrap_or(&EN)
}

/// The phrases for a language Baton writes (primary subtag, see
/// [`baton_core::language::WRITTEN`]); `None` for another.
pub fn written(language: &str) -> Option<&'static Phrases> {
    Some(match language {
        "en" => &EN,
        "es" => &ES,
        "pt" => &PT,
        "de" => &DE,
        "fr" => &FR,
        "it" => &IT,
        _ => return None,
    })
}

/// Unsure answers in a row before the bot offers a person.
const OFFER_PERSON_AFTER: usize = 2;
/// A reply this short (in words) to a clarifying question is read together with the previous
/// customer turn when it does not match well on its own ("the app one").
const FOLLOW_UP_WORDS: usize = 6;

/// Searches the knowledge base for the customer's message: in the customer's language first
/// (all languages when that finds nothing), and for a short reply to the bot's clarifying
/// question also together with the previous customer turn. Returns the hits and their
/// confidence; nothing for a "Talk to a person" button press.
pub async fn retrieve(
    engine: &Engine,
    settings: &KbSettings,
    ctx: &TurnContext,
) -> StoreResult<(Vec<Hit>, f64)> {
    if ctx.button {
        // The button's label is no question: nothing to search for.
        return Ok((Vec::new(), 0.0));
    }
    let text = ctx.message.text.as_str();
    let language = ctx.language();
    let mut best = search(
        engine,
        ctx,
        text,
        language.as_deref(),
        settings.max_articles,
    )
    .await?;
    // A short answer to the bot's clarifying question is read with the question it clarifies.
    let last_bot = ctx
        .history()
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::Bot);
    let clarifying = last_bot
        .and_then(|m| m.bot.as_ref())
        .is_some_and(|b| b.fallback);
    if best.1 < settings.threshold
        && clarifying
        && text.split_whitespace().count() <= FOLLOW_UP_WORDS
    {
        let previous = ctx
            .history()
            .iter()
            .rev()
            .find(|m| m.role == MessageRole::Customer);
        if let Some(previous) = previous {
            let combined = format!("{} {text}", previous.text);
            let found = search(
                engine,
                ctx,
                &combined,
                language.as_deref(),
                settings.max_articles,
            )
            .await?;
            if found.1 > best.1 {
                best = found;
            }
        }
    }
    Ok(best)
}

async fn search(
    engine: &Engine,
    ctx: &TurnContext,
    query: &str,
    language: Option<&str>,
    limit: usize,
) -> StoreResult<(Vec<Hit>, f64)> {
    let mut opts = SearchOptions {
        limit,
        language: language.map(str::to_string),
        tags: vec![],
    };
    let mut hits = engine
        .knowledge
        .search(engine.store.as_ref(), &ctx.tenant, query, &opts)
        .await?;
    if hits.is_empty() && opts.language.is_some() {
        opts.language = None;
        hits = engine
            .knowledge
            .search(engine.store.as_ref(), &ctx.tenant, query, &opts)
            .await?;
    }
    let confidence = baton_kb::confidence(&hits);
    Ok((hits, confidence))
}

/// The KB bot's turn.
pub async fn answer(engine: &Engine, settings: &KbSettings, ctx: &TurnContext) -> BotOutcome {
    if ctx.button {
        // The text is the button's label ("Talk to a person"): searching it finds whatever
        // article mentions a person. While waiting, ask for details as for any message the
        // bot cannot answer; otherwise stay quiet (the detector handles the request).
        return if ctx.waiting() {
            compose(settings, ctx, &[], 0.0)
        } else {
            BotOutcome::Silent
        };
    }
    match retrieve(engine, settings, ctx).await {
        Ok((hits, confidence)) => compose(settings, ctx, &hits, confidence),
        Err(e) => BotOutcome::Failed(format!("knowledge base search failed: {e}")),
    }
}

fn fill(template: &str, title: &str, snippet: &str) -> String {
    template
        .replace("{title}", title)
        .replace("{snippet}", snippet.trim())
}

/// Turns search results into the reply; pure, so the templates are unit-tested.
pub fn compose(
    settings: &KbSettings,
    ctx: &TurnContext,
    hits: &[Hit],
    confidence: f64,
) -> BotOutcome {
    let p = phrases(ctx.language().as_deref());
    let confidence = (confidence * 1000.0).round() / 1000.0;
    let sure = !hits.is_empty() && confidence >= settings.threshold;
    if sure {
        let top = &hits[0];
        let mut text = fill(
            if ctx.waiting() {
                p.waiting_found
            } else {
                p.found
            },
            &top.title,
            &top.snippet,
        );
        // Suggest only articles in the language of the answer.
        let others: Vec<String> = hits
            .iter()
            .skip(1)
            .filter(|h| h.language == top.language)
            .map(|h| format!("{}{}{}", p.quotes.0, h.title, p.quotes.1))
            .collect();
        if !others.is_empty() {
            text.push(' ');
            text.push_str(&p.see_also.replace("{titles}", &others.join(", ")));
        }
        return BotOutcome::Reply(BotReply {
            text: Some(text),
            confidence: Some(confidence),
            intent: Some(top.id.clone()),
            fallback: false,
            handoff: None,
        });
    }
    if ctx.waiting() {
        // Ask once for details; after that, stay quiet unless sure.
        let asked = ctx.history().iter().any(|m| {
            m.role == MessageRole::Bot
                && m.bot.as_ref().is_some_and(|b| {
                    b.intent.as_deref() == Some(WHILE_WAITING) && b.confidence.is_none()
                })
        });
        if asked {
            return BotOutcome::Silent;
        }
        return BotOutcome::Reply(BotReply {
            text: Some(p.waiting_ask.to_string()),
            confidence: None,
            intent: Some(WHILE_WAITING.into()),
            fallback: false,
            handoff: None,
        });
    }
    let unsure_before = ctx
        .history()
        .iter()
        .rev()
        .filter(|m| m.role == MessageRole::Bot)
        .take_while(|m| m.bot.as_ref().is_some_and(|b| b.fallback))
        .count();
    let text = if unsure_before + 1 >= OFFER_PERSON_AFTER {
        p.offer_person.to_string()
    } else if let Some(top) = hits.first() {
        fill(p.unsure_suggest, &top.title, "")
    } else {
        p.unsure.to_string()
    };
    BotOutcome::Reply(BotReply {
        text: Some(text),
        confidence: Some(confidence),
        intent: Some("unsure".into()),
        fallback: true,
        handoff: None,
    })
}
