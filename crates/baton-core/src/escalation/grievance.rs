//! Service grievances: the ways a customer tells support that it has already failed them, which
//! frustrate whatever the wording's sentiment ("I have been waiting for three weeks", "this is
//! the third time I'm asking", "nobody answers my emails", "you promised a call back").
//!
//! General-domain sentiment (VADER, and a model trained on tweets and reviews) misses these:
//! the words are neutral. So they are matched as shapes over the tokens, in the six languages
//! of the human-request signal:
//! - **a long wait**: a waiting word and a duration in one clause ("waiting for 3 weeks", "on
//!   hold for an hour", "llevo dos semanas esperando", "j'attends depuis 10 jours", "ich warte
//!   seit Tagen"); not a question about waiting ("do I have to wait 5 days?": the bare verb is
//!   not a waiting word);
//! - **repeated attempts**: a contact verb with a count ("I've called 4 times", "ho chiamato
//!   tre volte", "mehrmals angerufen", "asked again and again") or an ordinal time ("this is
//!   the third time I'm writing", "por tercera vez");
//! - **no response**: "nobody answers", "no one got back to me", "nadie contesta", "personne ne
//!   répond", "no reply", "sin respuesta", "never heard back";
//! - **a broken promise**: "you promised", "I was promised", "on m'a promis";
//! - **a failure that keeps happening**: "it keeps crashing", "keeps declining my card";
//! - **wanting the money back**: "I want my money back".

use super::text::{FastMap, Tokens};
use std::sync::LazyLock;

const WAITING: u32 = 1; // waiting, waited, esperando, attends, warte, aspetto
const UNIT: u32 = 1 << 1; // days, weeks, horas, jours, Tagen, giorni
const NUM: u32 = 1 << 2; // 3, three, a, several, dos, trois, drei
const SINCE: u32 = 1 << 3; // for, over, since, desde, depuis, seit, da, há
const ATTEMPT: u32 = 1 << 4; // called, asked, tried, llamado, appelé, angerufen
const TIMES: u32 = 1 << 5; // times, veces, fois, Mal, volte, vezes
const REPEATED: u32 = 1 << 6; // repeatedly, mehrmals, dreimal
const ORDINAL: u32 = 1 << 7; // third, 3rd, tercera, troisième, dritten
const TIME: u32 = 1 << 8; // time, vez, fois, Mal, volta
const NOBODY: u32 = 1 << 9; // nobody, nadie, niemand, nessuno, ninguém
const RESPOND: u32 = 1 << 10; // answers, replied, contesta, répond, antwortet
const NONE: u32 = 1 << 11; // no, sin, aucune, keine, nessuna, sem
const RESPONSE: u32 = 1 << 12; // response, reply, respuesta, réponse, Antwort
const NEVER: u32 = 1 << 13; // never, haven't, still
const PROMISED: u32 = 1 << 14; // promised, prometieron, promis, versprochen
const PROMISEE: u32 = 1 << 15; // you, they, was, me, m', mir: who promised or was promised
const KEEP: u32 = 1 << 16; // keeps, kept, sigue, continua
const FAILING: u32 = 1 << 17; // crashing, failing, declining, fallando
const LONG: u32 = 1 << 18; // ages, forever: a duration by itself

const WORDS: &[(u32, &str)] = &[
    (
        WAITING,
        "waiting waited esperando attends warte aspetto aspettando aguardando",
    ),
    (
        UNIT,
        "minutes mins hour hours hrs day days week weeks wks month months year years minutos hora horas dia dias semana semanas mes meses ano anos heure heures jour jours semaine semaines mois ans minuten stunde stunden tage tagen woche wochen monat monate monaten jahr jahre jahren minuti ore giorno giorni settimana settimane mese mesi anno anni",
    ),
    (
        NUM,
        "a an one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty hundred thousand million dozen several few couple many multiple numerous countless un una dos tres cuatro cinco seis siete ocho nueve diez varios varias muchas muchos une deux trois quatre cinq sept huit neuf dix plusieurs ein eine einem einer zwei drei vier funf sechs sieben acht neun zehn mehreren mehrere vielen due tre quattro cinque sei sette otto nove dieci diversi diverse molte molti um uma duas quatro oito nove dez muitas muitos",
    ),
    (
        SINCE,
        "for over almost nearly since desde hace depuis pendant seit schon da ha",
    ),
    (
        ATTEMPT,
        "called calling asked asking contacted contacting emailed emailing mailed tried trying written wrote writing messaged messaging phoned phoning rang explained explaining requested reported chased complained told telling llamado llame llamando escrito escribi pedido pedi intentado intente contactado reclamado preguntado enviado appele ecrit demande essaye contacte relance reclame envoye explique angerufen geschrieben gefragt versucht kontaktiert gemeldet erklart geschickt chiamato scritto chiesto provato contattato segnalato spiegato mandato liguei ligado escrevi pedi tentei tentado contatei contactei reclamei expliquei enviei",
    ),
    (TIMES, "times veces fois mal volte vezes"),
    (
        REPEATED,
        "repeatedly mehrmals zweimal dreimal viermal oftmals ripetutamente repetidamente",
    ),
    (
        ORDINAL,
        "second third fourth fifth sixth seventh eighth ninth tenth umpteenth nth segunda tercera cuarta quinta deuxieme troisieme quatrieme cinquieme zweiten dritten vierten funften seconda terza quarta quinta terceira",
    ),
    (TIME, "time vez fois mal volta"),
    (NOBODY, "nobody noone nadie niemand nessuno ninguem"),
    (
        RESPOND,
        "answer answers answered answering respond responds responded responding reply replies replied replying calls called gets got helps helped helping cares listens picks responde responden contesta contestan respondio contesto atiende ayuda repond rappelle aide antwortet meldet hilft reagiert risponde richiama aiuta atende retorna",
    ),
    (
        NONE,
        "no sin ninguna aucune aucun sans keine nessuna senza sem nenhuma",
    ),
    (
        RESPONSE,
        "response responses reply replies answer callback feedback respuesta reponse antwort ruckmeldung reaktion risposta resposta retorno",
    ),
    (NEVER, "never havent hasnt didnt not still"),
    (
        PROMISED,
        "promised prometieron prometido prometiste promis versprochen promesso prometeram",
    ),
    (PROMISEE, "you they u was were me nos m mir uns mi ci"),
    (KEEP, "keeps kept keep sigue continua"),
    (
        FAILING,
        "crashing failing freezing breaking declining rejecting disconnecting dropping charging cancelling canceling fallando",
    ),
    (LONG, "ages forever eternity"),
];

static CLASSES: LazyLock<FastMap<&'static str, u32>> = LazyLock::new(|| {
    let mut m: FastMap<&'static str, u32> = FastMap::default();
    for (class, words) in WORDS {
        for w in words.split_whitespace() {
            *m.entry(w).or_default() |= class;
        }
    }
    m
});

/// Forces the table to be built now.
pub fn warm_up() {
    LazyLock::force(&CLASSES);
}

/// The class bits of a word: table words, plus numbers (`3`, `24`) and numeric ordinals (`3rd`,
/// `5th`, `2nd`).
fn class(w: &str) -> u32 {
    let mut c = CLASSES.get(w).copied().unwrap_or(0);
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        match &w[digits..] {
            "" => c |= NUM,
            "nd" | "rd" | "th" if w != "1st" => c |= ORDINAL,
            _ => {}
        }
    }
    c
}

/// The first grievance in the message, as the word span `(first, last)`.
pub fn find(t: &Tokens) -> Option<(usize, usize)> {
    let n = t.len();
    if n < 2 {
        return None;
    }
    let c: Vec<u32> = (0..n).map(|i| class(t.word(i))).collect();
    let near = |i: usize, j: usize| t.same_clause(i.min(j), i.max(j));
    let is = |i: usize, bits: u32| c[i] & bits != 0;
    let word = |i: usize| t.word(i);
    // A duration ending at word `j`, and the word it starts at: a unit after a number ("3
    // weeks", "a couple of days", "over a month") or after "for"/"since" ("for days"), or
    // "ages"/"forever".
    let duration = |j: usize| -> Option<usize> {
        if is(j, LONG) {
            return Some(j);
        }
        if !is(j, UNIT) {
            return None;
        }
        (1..=3)
            .rfind(|&d| j >= d && near(j - d, j) && is(j - d, NUM | SINCE))
            .map(|d| j - d)
    };
    let attempt_anywhere = (0..n).any(|i| is(i, ATTEMPT));
    for i in 0..n {
        // A long wait: a waiting word (or "on hold") with a duration in its clause, up to 4 words
        // before it ("dos semanas esperando") or 6 after ("waiting for my parcel for 2 weeks").
        let waiting = is(i, WAITING) || (word(i) == "hold" && i > 0 && word(i - 1) == "on");
        if waiting {
            let lo = i.saturating_sub(4);
            let hi = (i + 7).min(n);
            if let Some((start, j)) = (lo..hi)
                .filter(|&j| j != i && near(i, j))
                .find_map(|j| duration(j).map(|start| (start, j)))
            {
                return Some((i.min(start), i.max(j)));
            }
        }
        // Repeated attempts: a contact verb and, within 6 words in its clause, a count of times
        // ("4 times", "several times", "tres veces") or a repetition word.
        if is(i, ATTEMPT) {
            let lo = i.saturating_sub(6);
            let hi = (i + 7).min(n);
            for j in lo..hi {
                if j == i || !near(i, j) {
                    continue;
                }
                let counted = is(j, TIMES) && j > 0 && is(j - 1, NUM);
                let twice =
                    |w: &str| word(j) == w && j + 2 < n && word(j + 1) == "and" && word(j + 2) == w;
                let (again, over) = (twice("again"), twice("over"));
                if counted || again || over || is(j, REPEATED) {
                    return Some((i.min(j), i.max(j) + usize::from(again || over) * 2));
                }
            }
        }
        // An ordinal time ("the third time", "por tercera vez"), with a contact verb in the
        // message or as "this is the …" ("for the 7th time I reread the book" is no grievance).
        if is(i, ORDINAL) && i + 1 < n && is(i + 1, TIME) {
            let this_is =
                i >= 2 && word(i - 1) == "the" && matches!(word(i - 2), "is" | "its" | "thats");
            if attempt_anywhere || this_is {
                return Some((i, i + 1));
            }
        }
        // Nobody responds: "nobody answers", "no one got back", "personne ne répond".
        let nobody = is(i, NOBODY)
            || (word(i) == "one" && i > 0 && word(i - 1) == "no")
            || (word(i) == "personne" && i + 1 < n && matches!(word(i + 1), "ne" | "n"));
        if nobody && let Some(j) = (i + 1..(i + 5).min(n)).find(|&j| near(i, j) && is(j, RESPOND)) {
            return Some((i - usize::from(word(i) == "one"), j));
        }
        // No response: "no reply", "sin respuesta", "keine Rückmeldung".
        if is(i, NONE)
            && let Some(j) = (i + 1..(i + 3).min(n)).find(|&j| near(i, j) && is(j, RESPONSE))
        {
            return Some((i, j));
        }
        // Never heard back: "never heard back", "still haven't heard back", "didn't get back to me".
        if is(i, NEVER) {
            for j in i + 1..(i + 4).min(n) {
                if !near(i, j) {
                    break;
                }
                let back = matches!(
                    word(j),
                    "heard" | "got" | "gotten" | "get" | "called" | "rang"
                ) && j + 1 < n
                    && word(j + 1) == "back";
                if back || matches!(word(j), "responded" | "replied" | "answered") {
                    return Some((i, j + usize::from(back)));
                }
            }
        }
        // A broken promise: "you promised", "I was promised", "on m'a promis".
        if is(i, PROMISED)
            && let Some(j) = (i.saturating_sub(2)..i).find(|&j| near(i, j) && is(j, PROMISEE))
        {
            return Some((j, i));
        }
        // A failure that keeps happening: "keeps crashing", "kept declining my card".
        if is(i, KEEP)
            && let Some(j) = (i + 1..(i + 3).min(n)).find(|&j| near(i, j) && is(j, FAILING))
        {
            return Some((i, j));
        }
        // "I want my money back".
        if word(i) == "money"
            && i + 1 < n
            && word(i + 1) == "back"
            && (i.saturating_sub(3)..i)
                .any(|j| matches!(word(j), "want" | "wants" | "demand" | "need"))
        {
            return Some((i, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> bool {
        find(&Tokens::new(text)).is_some()
    }

    #[test]
    fn long_waits() {
        for text in [
            "I have been waiting for three weeks for my refund",
            "been on hold for 45 minutes",
            "still waiting for my parcel after 2 weeks",
            "waiting for ages now",
            "I've waited over a month for this",
            "llevo dos semanas esperando una respuesta",
            "j'attends depuis 10 jours",
            "ich warte seit drei Wochen auf mein Paket",
            "aspetto da due settimane",
            "estou esperando há 5 dias",
        ] {
            assert!(found(text), "{text:?}");
        }
        for text in [
            "do I have to wait 5 days for the card?",
            "how many days does delivery take",
            "wait a minute, I found it",
            "my card expires in 3 weeks",
            "I am waiting for your answer",
        ] {
            assert!(!found(text), "{text:?}");
        }
    }

    #[test]
    fn repeated_attempts() {
        for text in [
            "I've called you 4 times about this",
            "I have asked several times already",
            "this is the third time I'm writing to you",
            "This is the 5th time this month",
            "I explained it again and again",
            "he llamado tres veces",
            "j'ai appelé trois fois",
            "ich habe mehrmals angerufen",
            "ho chiamato tre volte",
            "liguei quatro vezes",
            "I tried 5 times and it still fails",
        ] {
            assert!(found(text), "{text:?}");
        }
        for text in [
            "I might reread the books for the 7th time",
            "it's my first time ordering",
            "what time is it",
            "you can pay in 3 instalments",
            "I called yesterday and it was sorted, thanks",
        ] {
            assert!(!found(text), "{text:?}");
        }
    }

    #[test]
    fn no_response_promises_and_failures() {
        for text in [
            "nobody answers my emails",
            "no one has got back to me",
            "I sent 3 emails and got no reply",
            "never heard back from your team",
            "I still haven't heard back",
            "nadie contesta el teléfono",
            "personne ne répond",
            "niemand antwortet",
            "nessuno risponde",
            "you promised a refund last week",
            "I was promised a call back",
            "on m'a promis un remboursement",
            "the app keeps crashing",
            "you keep declining my card",
            "I want my money back",
        ] {
            assert!(found(text), "{text:?}");
        }
        for text in [
            "no worries, thanks",
            "is anyone there?",
            "the person I spoke to was great",
            "personne âgée",
            "keep me posted",
            "how do I get my money back for a cancelled order?",
            "no problem",
            "I promise to pay tomorrow",
        ] {
            assert!(!found(text), "{text:?}");
        }
    }

    #[test]
    fn never_panics_on_short_or_odd_input() {
        for text in [
            "",
            "no",
            "one",
            "times",
            "3rd",
            "1st time",
            "über",
            "🙂 waiting",
        ] {
            let _ = find(&Tokens::new(text));
        }
    }
}
