//! Detects a customer asking for a person, in English, Spanish, French, German, Italian and
//! Portuguese.
//!
//! The detector works on normalised words (lowercase, accents folded) and classes of words
//! rather than on whole phrases: a *person* word (agent, human, alguien, Mitarbeiter...) reached
//! from a *trigger* (a verb of talking, or of wanting/getting) through only small words
//! ("to a real", "con un", "mit einem"). That generalises across phrasings and languages, and
//! lets the exceptions be stated once:
//! - compounds where the person is not ours: "insurance agent", "travel agent", "in person";
//! - questions about the bot's nature: "are you a real person?", "am I talking to a bot?";
//! - negation scoped to the request: "I don't need an agent" (but not "I don't know how to
//!   reach an agent", which is a request);
//! - small typos on the key words: "humna", "agnet", "persn", and chat spellings ("sum1",
//!   "qqn", "kiero", "thru").
//!
//! Other ways of asking, each with its own narrow frame:
//! - to be called: "call me back", "I'd like a callback", "être rappelé", "¿me pueden llamar?",
//!   "rufen Sie mich an" (not "call me crazy", "the agent said they'd call me");
//! - whether anyone is there: "is anyone there?", "¿hay alguien?", "c'è qualcuno?";
//! - who to talk to: "who can I talk to?", "mit wem kann ich sprechen";
//! - a person as the subject of a question: "can a real person look at my case";
//! - handing over with nobody named: "transfer me please", "escalate this";
//! - a person alone in the first or last clause: "this is pointless. real person pls".
//!
//! Indirect requests ("you aren't helping", "I don't want to talk to a machine") are detected
//! with a lower confidence.

use super::text::{FastMap, Tokens, osa_within};
use serde::Serialize;
use std::sync::LazyLock;

/// What the human-request signal measured for one turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HumanRequest {
    /// Whether the turn asks for a person.
    pub detected: bool,
    /// How sure, 0..1 (1 for a button press).
    pub confidence: f64,
    /// How it was recognised: `button`, `direct`, `short`, `department`, `indirect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The words that matched, as written by the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phrase: Option<String>,
    /// Language of the matched words (`en`, `es`, `fr`, `de`, `it`, `pt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<&'static str>,
    /// A request was found but negated ("I don't need an agent").
    pub negated: bool,
}

// Word classes, as bit flags: a word may belong to several.
const PERSON: u32 = 1; // agent, human, person...
const SOMEONE: u32 = 1 << 1; // someone, anybody...
const DEPT: u32 = 1 << 2; // manager, reception, customer service...
const QUAL: u32 = 1 << 3; // real, live, actual...
const COMM: u32 = 1 << 4; // talk, speak, contact...
const WANT: u32 = 1 << 5; // want, need, would like...
const GIVE: u32 = 1 << 6; // give, get, bring...
const NEG: u32 = 1 << 7; // not, don't, no...
const FILL: u32 = 1 << 8; // to, with, a, the, me, please...
const BOT: u32 = 1 << 9; // bot, machine, robot...
const BREAK: u32 = 1 << 10; // know, understand, how: ends a negation's scope
const BADMOD: u32 = 1 << 11; // insurance, travel, estate: "X agent" is not one of ours
const SERVICE: u32 = 1 << 12; // service, support, care: a department after "customer"
const CLIENT: u32 = 1 << 13; // customer, client, cliente
const GREET: u32 = 1 << 14; // hi, hello, ok: ignorable in a short message
const CALL: u32 = 1 << 15; // call, ring: a request when followed by "me"
const DEPTOBJ: u32 = 1 << 16; // talk/speak/chat/transfer: may target a named department
const TEAM: u32 = 1 << 17; // billing, sales: a team, but only as the object of a talking verb
const CALLBACK: u32 = 1 << 18; // callback, Rückruf: a call from a person, as a thing one asks for
const PASSIVE: u32 = 1 << 19; // called, rappelé, richiamato: "to be called (back)" after an auxiliary
const ME: u32 = 1 << 20; // me, mich, moi, mi: the first person as the object of a calling verb
const WHO: u32 = 1 << 21; // who, quién, qui, wem, chi, quem: "who can I talk to"
const THERE: u32 = 1 << 22; // there, around, ahí, là, da, lì, aí: "anyone there?"

type Lang = &'static str;

const WORDS: &[(u32, Lang, &str)] = &[
    (
        PERSON,
        "en",
        "agent agents human humans person people representative representatives rep reps operator operators advisor adviser advisors consultant employee employees staff worker workers associate specialist assistant humanbeing colleague colleagues",
    ),
    (
        PERSON,
        "es",
        "agente agentes humano humana persona personas representante operador operadora asesor asesora ejecutivo ejecutiva empleado trabajador",
    ),
    (
        PERSON,
        "fr",
        "humain humaine personne conseiller conseillere operateur operatrice interlocuteur employe representant collegue",
    ),
    (
        PERSON,
        "de",
        "mensch menschen mitarbeiter mitarbeiterin berater beraterin kundenberater sachbearbeiter agenten kollege kollegen kollegin",
    ),
    (
        PERSON,
        "it",
        "operatore operatrice umano consulente addetto rappresentante impiegato collega",
    ),
    (
        PERSON,
        "pt",
        "atendente pessoa consultor funcionario colega",
    ),
    (
        SOMEONE,
        "en",
        "someone somebody anyone anybody sum1 some1 any1 ne1",
    ),
    (SOMEONE, "es", "alguien"),
    (SOMEONE, "fr", "quelqu quelquun qqn qqun qq1"),
    (SOMEONE, "de", "jemand jemanden jemandem"),
    (SOMEONE, "it", "qualcuno"),
    (SOMEONE, "pt", "alguem"),
    (
        DEPT,
        "en",
        "manager supervisor boss reception receptionist concierge helpdesk",
    ),
    (DEPT, "es", "gerente encargado recepcion soporte"),
    (DEPT, "fr", "responsable superieur accueil"),
    (
        DEPT,
        "de",
        "vorgesetzten chef kundenservice kundendienst hotline rezeption",
    ),
    (DEPT, "it", "responsabile assistenza"),
    (DEPT, "pt", "atendimento suporte"),
    (
        TEAM,
        "en",
        "billing sales accounts accounting finance claims complaints retention collections tech technical",
    ),
    (
        SERVICE,
        "en",
        "service services support care team department dept",
    ),
    (SERVICE, "es", "servicio atencion"),
    (SERVICE, "it", "servizio"),
    (SERVICE, "pt", "servico"),
    (CLIENT, "en", "customer customers client"),
    (CLIENT, "es", "cliente clientes"),
    (CLIENT, "it", "clienti"),
    (
        QUAL,
        "en",
        "real live actual human proper physical genuine flesh",
    ),
    (QUAL, "es", "real humano vivo"),
    (QUAL, "fr", "vrai vraie reel reelle humain"),
    (
        QUAL,
        "de",
        "echten echter echte echtem menschlichen lebendigen",
    ),
    (QUAL, "it", "vero vera reale umano"),
    (QUAL, "pt", "verdadeiro verdadeira humano"),
    (
        COMM | DEPTOBJ,
        "en",
        "talk talking speak speaking chat chatting transfer",
    ),
    (
        COMM,
        "en",
        "contact contacting reach converse communicate escalate escalating touch through thru connect connecting put pass switch complain",
    ),
    (
        COMM | DEPTOBJ,
        "es",
        "hablar habla hablo ablar charlar pasame pasarme paseme pasa pasas pase pasen transfiereme transferirme transfiere conectarme",
    ),
    (
        COMM,
        "es",
        "comunicar comunicarme comunica comunican comuniquen comunicame comuniqueme contactar contactarme contacto pasar transferir conectar atienda atiendan atender",
    ),
    (COMM | DEPTOBJ, "fr", "parler parle"),
    (
        COMM,
        "fr",
        "contacter joindre passer passez transferer relation discuter echanger",
    ),
    (COMM | DEPTOBJ, "de", "sprechen reden verbinden verbunden"),
    (
        COMM,
        "de",
        "kontaktieren chatten weiterleiten erreichen verbinde verbindet",
    ),
    (
        COMM | DEPTOBJ,
        "it",
        "parlare parlo passami passarmi passi passatemi",
    ),
    (
        COMM,
        "it",
        "contattare passare trasferire collegare collegarmi contatto",
    ),
    (COMM | DEPTOBJ, "pt", "falar fale conversar"),
    (
        COMM,
        "pt",
        "contatar contactar passar passa passe transfere transfira transferir",
    ),
    (CALL, "en", "call ring phone"),
    (
        CALL,
        "es",
        "llamar llamame llamenme llameme llamen contacte contacten contactenme",
    ),
    (CALL, "fr", "appeler rappeler appelez rappelez recontacter"),
    (CALL, "de", "anrufen zuruckrufen kontaktieren"),
    (
        CALL,
        "it",
        "chiamare richiamare chiamami richiamami chiamatemi richiamatemi chiamarmi richiamarmi contattarmi ricontattarmi",
    ),
    (CALL, "pt", "ligar liguem ligue"),
    (CALLBACK, "en", "callback callbacks"),
    (CALLBACK, "de", "ruckruf"),
    (CALLBACK, "it", "richiamata"),
    (PASSIVE, "en", "called contacted rung phoned"),
    (PASSIVE, "es", "llamado llamada contactado contactada"),
    (
        PASSIVE,
        "fr",
        "rappele rappelee appele appelee contacte contactee recontacte recontactee",
    ),
    (PASSIVE, "de", "zuruckgerufen angerufen kontaktiert"),
    (
        PASSIVE,
        "it",
        "richiamato chiamato chiamata contattato contattata ricontattato ricontattata",
    ),
    (PASSIVE, "pt", "contatado contatada contactado contactada"),
    (ME, "en", "me us"),
    (ME, "fr", "moi nous"),
    (ME, "de", "mich uns"),
    (ME, "it", "mi ci"),
    (WHO, "en", "who whom"),
    (WHO, "es", "quien quienes"),
    (WHO, "de", "wem wen"),
    (WHO, "it", "chi"),
    (WHO, "pt", "quem"),
    (THERE, "en", "there around available online awake here"),
    (THERE, "es", "ahi alli aqui disponible"),
    (THERE, "fr", "la disponible"),
    (THERE, "de", "da hier"),
    (THERE, "it", "li disponibile"),
    (THERE, "pt", "ai disponivel"),
    (
        WANT,
        "en",
        "want wanna need needs like require request demand prefer",
    ),
    (
        WANT,
        "es",
        "quiero quisiera necesito deseo kiero kero qiero",
    ),
    (
        WANT,
        "fr",
        "veux voudrais souhaite souhaiterais besoin aimerais jveux voudrai aimerai souhaiterai",
    ),
    (WANT, "de", "mochte moechte will brauche wunsche gerne gern"),
    (WANT, "it", "voglio vorrei bisogno desidero"),
    (WANT, "pt", "quero queria gostaria preciso necessito qro"),
    (GIVE, "en", "give get gimme bring find"),
    (GIVE, "es", "dame deme consigueme"),
    (GIVE, "fr", "donnez donne trouvez avoir"),
    (GIVE, "de", "geben gib"),
    (GIVE, "it", "dammi datemi avere"),
    (GIVE, "pt", "traga"),
    (NEG, "en", "not no dont doesnt didnt never without nor wont"),
    (NEG, "es", "nunca sin"),
    (NEG, "fr", "ne n pas jamais sans"),
    (NEG, "de", "nicht kein keine keinen keinem ohne nie"),
    (NEG, "it", "non mai senza"),
    (NEG, "pt", "nao sem"),
    (
        BREAK,
        "en",
        "know understand understood sure how what why where when remember get see find think mind",
    ),
    (BREAK, "es", "se sabe entiendo comprendo como"),
    (BREAK, "fr", "sais sait comprends comment"),
    (BREAK, "de", "weiss verstehe wie"),
    (BREAK, "it", "so capisco come"),
    (BREAK, "pt", "sei entendo"),
    (
        FILL,
        "en",
        "to with a an the some your one of me us please pls plz directly actually just from at for now right away immediately asap quickly over on line phone there any this it help assistance 2 only w goddamn bloody fucking fuckin freaking effing frigging damn damned",
    ),
    (
        FILL,
        "es",
        "con un una al el la los las alguno algun por favor mi ahora ya",
    ),
    (
        FILL,
        "fr",
        "avec une le la l au aux des vos votre en de d moi maintenant svp",
    ),
    (
        FILL,
        "de",
        "mit einem einer einen ein zu zum mir mich sie uns dem den der bitte doch jetzt sofort",
    ),
    (FILL, "it", "con uno col per favore mi ad ora subito"),
    (FILL, "pt", "com um uma ao o os por favor agora para pra"),
    (
        BOT,
        "en",
        "bot bots robot machine computer ai chatbot automated program virtual",
    ),
    (BOT, "es", "maquina"),
    (BOT, "de", "maschine roboter"),
    (BOT, "it", "macchina"),
    (BOT, "pt", "robo"),
    (
        BADMOD,
        "en",
        "insurance travel estate realty secret double free fbi cia undercover talent sports literary booking cleaning chemical user shipping border customs ticket change leasing delivery personal dog cat morning night disabled per third first in sales_person",
    ),
    (BADMOD, "es", "seguros viajes inmobiliario"),
    (BADMOD, "fr", "assurance voyage immobilier"),
    (BADMOD, "de", "versicherungs reise immobilien"),
    (BADMOD, "it", "assicurativo viaggio immobiliare"),
    (BADMOD, "pt", "seguros viagens imobiliario"),
    (
        GREET,
        "en",
        "hi hello hey ok okay yes yeah thanks thank you ya yo stop ugh omg seriously",
    ),
    (GREET, "es", "hola si"),
    (GREET, "fr", "bonjour salut oui"),
    (GREET, "de", "hallo ja"),
    (GREET, "it", "ciao"),
    (GREET, "pt", "ola sim"),
];

/// Key words worth typo tolerance (one edit, two for long words). Short or common-looking
/// words are left out on purpose: "staff"/"stuff", "talk"/"take".
const FUZZY: &[&str] = &[
    "agent",
    "human",
    "person",
    "someone",
    "somebody",
    "representative",
    "operator",
    "assistant",
    "contact",
    "transfer",
    "connect",
    "manager",
    "customer",
    "speaking",
    "understand",
    "speak",
    "talk",
    "talking",
    "chatting",
    "contacting",
];

/// Real words one edit away from a fuzzy key word; never treated as typos.
const NOT_TYPOS: &[&str] = &[
    "arent",
    "aren",
    "agenda",
    "urgent",
    "agency",
    "contract",
    "contracts",
    "contacts",
    "humane",
    "humor",
    "parson",
    "prison",
    "persons",
    "manger",
    "mangers",
    "customs",
    "operate",
    "operated",
    "transfers",
    "connects",
    "assistants",
    "managers",
    "humans",
    "agents",
    "walk",
    "tall",
    "task",
    "take",
    "tale",
    "tail",
    "talc",
    "tank",
    "folk",
    "talks",
    "walking",
    "taking",
    "tasking",
    "tanking",
    "sneak",
    "speck",
    "spear",
    "steak",
    "spea",
    "peak",
    "speaks",
    "chatting",
    "hatting",
    "catting",
    "someones",
    "spank",
];

struct Lex {
    words: FastMap<&'static str, (u32, Lang)>,
    /// Key word, its letter set, class, language.
    fuzzy: Vec<(&'static str, u32, u32, Lang)>,
}

/// The set of ASCII letters in a word, as bits: one edit changes at most two bits, so most
/// candidates are ruled out without computing a distance.
fn letters(w: &str) -> u32 {
    w.bytes()
        .filter(u8::is_ascii_lowercase)
        .fold(0, |m, b| m | 1 << (b - b'a'))
}

static LEX: LazyLock<Lex> = LazyLock::new(|| {
    let mut words: FastMap<&'static str, (u32, Lang)> = FastMap::default();
    for &(class, lang, list) in WORDS {
        for w in list.split_whitespace() {
            let e = words.entry(w).or_insert((0, lang));
            e.0 |= class;
        }
    }
    let fuzzy = FUZZY
        .iter()
        .map(|w| {
            let (c, l) = words[w];
            (*w, letters(w), c, l)
        })
        .collect();
    Lex { words, fuzzy }
});

/// Forces the word tables to be built now rather than on the first message.
pub fn warm_up() {
    LazyLock::force(&LEX);
}

/// Two known words run together: "totalk", "talkwith", "isanyone". The content class wins.
fn split_pair(w: &str, lex: &Lex) -> Option<(u32, Lang)> {
    const GLUE: &[&str] = &["to", "is", "a", "an", "the", "with", "me", "there"];
    for cut in 2..w.len() - 1 {
        let (l, r) = w.split_at(cut);
        if !GLUE.contains(&l) && !GLUE.contains(&r) {
            continue;
        }
        if let (Some(&(cl, ll)), Some(&(cr, lr))) = (lex.words.get(l), lex.words.get(r)) {
            let content = |c: u32| {
                c & !(FILL | GREET) != 0 && c & (PERSON | SOMEONE | DEPT | COMM | WANT) != 0
            };
            return match (content(cl), content(cr)) {
                (true, false) => Some((cl, ll)),
                (false, true) => Some((cr, lr)),
                (false, false) if cl & FILL != 0 && cr & FILL != 0 => Some((FILL, ll)),
                _ => None,
            };
        }
    }
    None
}

/// Misspelt small words met between a trigger and a person: "wih", "wth", "ot".
fn filler_typo(w: &str) -> bool {
    w.len() <= 5
        && w.is_ascii()
        && (osa_within(w, "with", 1) || osa_within(w, "to", 1))
        && !matches!(w, "it" | "i" | "wish" | "wind" | "tho")
}

/// Per-message word classes, computed once per turn.
struct Classified<'a> {
    t: &'a Tokens,
    class: Vec<u32>,
    lang: Vec<Lang>,
}

impl Classified<'_> {
    fn c(&self, i: usize) -> u32 {
        self.class[i]
    }
    fn has(&self, i: usize, k: u32) -> bool {
        self.class[i] & k != 0
    }
    fn w(&self, i: usize) -> &str {
        self.t.word(i)
    }
}

fn classify(t: &Tokens) -> Classified<'_> {
    let lex = &*LEX;
    let mut class = Vec::with_capacity(t.len());
    let mut lang = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        let w = t.word(i);
        if let Some(&(c, l)) = lex.words.get(w) {
            class.push(c);
            lang.push(l);
            continue;
        }
        let mut found = (0, "");
        if w.len() >= 4 && w.is_ascii() && !NOT_TYPOS.contains(&w) {
            let m = letters(w);
            for &(key, km, c, l) in &lex.fuzzy {
                let max = if key.len() >= 10 { 2 } else { 1 };
                if (m ^ km).count_ones() as usize <= 2 * max && osa_within(w, key, max) {
                    found = (c, l);
                    break;
                }
            }
        }
        if found.0 == 0 && w.is_ascii() && w.len() >= 5 {
            found = split_pair(w, lex).unwrap_or(found);
        }
        class.push(found.0);
        lang.push(found.1);
    }
    let n = t.len();
    // "customer service", "servicio al cliente": the pair names a department.
    for i in 0..n {
        if class[i] & SERVICE != 0 {
            let before = i > 0 && class[i - 1] & CLIENT != 0 && t.same_clause(i - 1, i);
            let after =
                (1..=2).any(|d| i + d < n && class[i + d] & CLIENT != 0 && t.same_clause(i, i + d));
            // "contact support", "talk to customer care", "connect me to support",
            // "technical support": a talking verb or a team, through small words.
            let after_verb = (1..=3)
                .find(|&d| i < d || class[i - d] & FILL == 0 || !t.same_clause(i - d, i))
                .is_some_and(|d| i >= d && class[i - d] & (COMM | TEAM) != 0);
            if before || after || after_verb {
                class[i] |= DEPT;
            }
        }
    }
    // Words whose role depends on their neighbour.
    for i in 0..n {
        let w = t.word(i);
        let prev = if i > 0 && t.same_clause(i - 1, i) {
            t.word(i - 1)
        } else {
            ""
        };
        let next = if i + 1 < n && t.same_clause(i, i + 1) {
            t.word(i + 1)
        } else {
            ""
        };
        match w {
            // "live chat", "live support": the channel to a person.
            "chat" | "support" if prev == "live" => class[i] |= DEPT,
            // "a call back", "a phone call", "give me a call": a call as something asked for.
            "call" if next == "back" || matches!(prev, "a" | "phone") => class[i] |= CALLBACK,
            // "a member of staff", "member of your team": the person is the later noun.
            "member" if next == "of" => class[i] |= FILL,
            // "can I have a real agent", "could we have a call": asking to be given.
            "have"
                if matches!(prev, "i" | "we")
                    && matches!(t.get(i as isize - 2), "can" | "could" | "may") =>
            {
                class[i] |= GIVE
            }
            // "have a word with": a way of saying "talk".
            "word" if prev == "a" && next == "with" => class[i] |= COMM,
            // "ser atendido por una persona": being served by someone.
            "atendido" | "atendida" if prev == "ser" => class[i] |= COMM,
            // "get hold of", "get ahold of": a way of saying "reach".
            "hold" | "ahold" if matches!(prev, "get" | "getting" | "got") => class[i] |= COMM,
            // "be transferred", "get this escalated": a passive transfer is a talking verb.
            "transferred" | "escalated" | "connected" | "transfered" | "put"
                if matches!(prev, "be" | "get" | "this" | "it" | "being" | "gets") =>
            {
                class[i] |= COMM;
                class[i - 1] |= FILL;
            }
            _ => {}
        }
        // "être rappelé", "to be called back", "essere richiamato", "zurückgerufen werden":
        // a participle of calling is a request only with its auxiliary, which is then small.
        if class[i] & PASSIVE != 0 {
            if matches!(prev, "be" | "being" | "etre" | "essere" | "ser" | "get") {
                class[i - 1] |= FILL;
            } else if next != "werden" {
                class[i] &= !PASSIVE;
            }
        }
    }
    Classified { t, class, lang }
}

/// A candidate match.
#[derive(Clone, Copy)]
struct Hit {
    start: usize,
    end: usize,
    confidence: f64,
    kind: &'static str,
    lang: Lang,
    negated: bool,
}

/// Clause-level phrase patterns. Each slot lists alternatives; a trailing `?` makes it optional.
const IDENTITY: &[&str] = &[
    "are|r|arent|aren you|u really|actually|even? a|an? real|live|actual|human|virtual? person|human|humans|bot|robot|machine|computer|ai|being|agent|people|employee",
    "are|r you|u real|human|automated|alive|there",
    "am i talking|speaking|chatting|texting to|with a|an? real|live|actual|human? person|human|bot|robot|machine|computer|agent|ai",
    "you|u are|r a|an? real|live|actual? person|human|bot|robot|machine|computer|ai",
    "is this|it|that a|an? real|live|actual? person|human|bot|robot|machine|computer|automated|ai|agent",
    "eres|es|sos un|una? humano|humana|persona|robot|bot|maquina|real",
    "estoy hablando con un|una persona|humano|robot|bot|maquina",
    "hablo con un|una persona|humano|robot|bot|maquina",
    "etes|es vous|tu un|une? humain|humaine|robot|bot|personne|vrai|vraie",
    "je parle a|avec un|une humain|robot|bot|personne",
    "bist|sind du|sie ein|eine? mensch|roboter|bot|maschine|echter",
    "spreche|rede|chatte|schreibe|bin ich gerade? mit einem|einer echten|echtem? mensch|menschen|roboter|bot|maschine|mitarbeiter|mitarbeiterin",
    "sei|e un|una? umano|robot|bot|persona|macchina",
    "sto parlando con un|una umano|robot|bot|persona|macchina",
    "voce|vc e um|uma? humano|robo|bot|pessoa",
    "estou falando com um|uma humano|robo|bot|pessoa",
];

const INDIRECT: &[(&str, f64)] = &[
    (
        "you|u|youre|ur|bot|chatbot|conversation|chat are|r|re|is? not|arent|isnt|never helping|helpful|useful|understanding|listening|working",
        0.7,
    ),
    (
        "you|u dont|do|doesnt|arent|cannot|cant not? understand|understanding me|anything?",
        0.65,
    ),
    ("i dont|cant|cannot|do|can not? understand you|u", 0.65),
    (
        "dont|not|never want|wanna|like to? talk|speak|chat|share to|with you|u|bots|robots|machines",
        0.8,
    ),
    (
        "this|stupid|useless|dumb bot|chatbot|robot is? stupid|useless|dumb",
        0.7,
    ),
    ("no|stop more? bot|bots|robot|robots|machine", 0.75),
    (
        "tired|sick of talking|speaking|chatting to|with a|the bot|robot|machine",
        0.8,
    ),
    ("no me estas|esta? ayudando|entiendes|entiende", 0.7),
    ("ne m aidez|aides|comprenez|comprends pas", 0.7),
    (
        "du|sie hilfst|helfen|verstehst|verstehen mir|mich nicht",
        0.7,
    ),
    ("non mi stai? aiutando|aiuti|capisci", 0.7),
    ("nao me esta? ajudando|ajuda|entende", 0.7),
];

struct Pattern {
    slots: Vec<(Vec<&'static str>, bool)>,
    confidence: f64,
}

fn compile(p: &'static str, confidence: f64) -> Pattern {
    let slots = p
        .split(' ')
        .map(|s| {
            let (s, opt) = match s.strip_suffix('?') {
                Some(s) => (s, true),
                None => (s, false),
            };
            (s.split('|').collect(), opt)
        })
        .collect();
    Pattern { slots, confidence }
}

struct Patterns {
    identity: Vec<Pattern>,
    indirect: Vec<Pattern>,
    /// Pattern indices by first word: (is_identity, index). First slots are never optional.
    by_first: FastMap<&'static str, Vec<(bool, usize)>>,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let identity: Vec<Pattern> = IDENTITY.iter().map(|p| compile(p, 0.0)).collect();
    let indirect: Vec<Pattern> = INDIRECT.iter().map(|&(p, c)| compile(p, c)).collect();
    let mut by_first: FastMap<&'static str, Vec<(bool, usize)>> = FastMap::default();
    for (is_id, list) in [(true, &identity), (false, &indirect)] {
        for (i, p) in list.iter().enumerate() {
            debug_assert!(!p.slots[0].1, "first slot must be required");
            for w in &p.slots[0].0 {
                by_first.entry(w).or_default().push((is_id, i));
            }
        }
    }
    Patterns {
        identity,
        indirect,
        by_first,
    }
});

/// Matches `p` at word `i`; returns the index one past the last matched word.
fn match_at(t: &Tokens, p: &Pattern, i: usize, slot: usize) -> Option<usize> {
    if slot == p.slots.len() {
        return Some(i);
    }
    let (alts, optional) = &p.slots[slot];
    if i < t.len()
        && alts.contains(&t.word(i))
        && (slot == 0 || t.same_clause(i - 1, i))
        && let Some(e) = match_at(t, p, i + 1, slot + 1)
    {
        return Some(e);
    }
    if *optional {
        match_at(t, p, i, slot + 1)
    } else {
        None
    }
}

/// Detects a request for a person in one customer message, by the rules alone.
pub fn detect(text: &str, tokens: &Tokens) -> HumanRequest {
    detect_rules(text, tokens).0
}

/// The rules' verdict, and whether the message asks about the bot's nature ("are you a real
/// person?"): such a message, like a negated request, is left a negative by the learned model
/// (see [`super::request_model`]).
pub fn detect_rules(text: &str, tokens: &Tokens) -> (HumanRequest, bool) {
    if tokens.is_empty() {
        return (HumanRequest::default(), false);
    }
    let k = classify(tokens);
    let pats = &*PATTERNS;
    let n = tokens.len();

    // Words inside a question about the bot's nature cannot be the requested person.
    // Indirect matches are collected on the same pass and considered below.
    let mut suppressed = vec![false; n];
    let mut indirect_hits: Vec<(usize, usize, f64)> = Vec::new();
    let mut i = 0;
    while i < n {
        let mut skip_to = i + 1;
        if let Some(cands) = pats.by_first.get(tokens.word(i)) {
            for &(is_id, pi) in cands {
                let p = if is_id {
                    &pats.identity[pi]
                } else {
                    &pats.indirect[pi]
                };
                if let Some(e) = match_at(tokens, p, i, 0).filter(|&e| e > i) {
                    if is_id {
                        suppressed[i..e].iter_mut().for_each(|s| *s = true);
                        skip_to = skip_to.max(e);
                    } else if p.confidence > 0.0 {
                        indirect_hits.push((i, e - 1, p.confidence));
                    }
                }
            }
        }
        i = skip_to;
    }
    let mut best: Option<Hit> = None;
    let mut consider = |h: Hit| {
        let better = match &best {
            None => true,
            Some(b) => {
                (!h.negated && b.negated) || (h.negated == b.negated && h.confidence > b.confidence)
            }
        };
        if better {
            best = Some(h);
        }
    };

    for (p, &hidden) in suppressed.iter().enumerate() {
        if hidden {
            continue;
        }
        let c = k.c(p);
        if c & (PERSON | SOMEONE | DEPT | TEAM | CALLBACK | PASSIVE) == 0 {
            continue;
        }
        if let Some(h) = person_hit(&k, p, n) {
            consider(h);
        }
        if c & (PERSON | SOMEONE) != 0 {
            if let Some(h) = presence_hit(&k, p, n) {
                consider(h);
            }
            if let Some(h) = modal_subject_hit(&k, p, n) {
                consider(h);
            }
        }
    }

    // Direct object department: "speak to the reception", "transfer me to the front desk".
    for v in 0..n {
        if k.has(v, DEPTOBJ)
            && let Some(h) = department_hit(&k, v, n)
        {
            consider(h);
        }
        if let Some(h) = call_me_hit(&k, v, n, &suppressed) {
            consider(h);
        }
        if k.has(v, WHO)
            && let Some(h) = who_hit(&k, v, n)
        {
            consider(h);
        }
        if let Some(h) = handover_hit(&k, v, n) {
            consider(h);
        }
    }

    // A short message made only of a person and small words: "agent", "human pls"; or such a
    // message as its own first or last clause: "this is pointless. real person pls".
    if let Some(h) = short_hit(&k, 0, n, &suppressed, 6) {
        consider(h);
    } else {
        let first_end = (1..n).find(|&i| !tokens.same_clause(0, i)).unwrap_or(n);
        let last_start = (0..n - 1)
            .rev()
            .find(|&i| !tokens.same_clause(i, n - 1))
            .map_or(0, |i| i + 1);
        for (a, b) in [(0, first_end), (last_start, n)] {
            if (a, b) != (0, n)
                && let Some(h) = short_hit(&k, a, b, &suppressed, 3)
            {
                consider(Hit {
                    confidence: 0.85,
                    ..h
                });
            }
        }
    }

    for (s, e, confidence) in indirect_hits {
        if !suppressed[s..=e].iter().any(|x| *x) {
            consider(Hit {
                start: s,
                end: e,
                confidence,
                kind: "indirect",
                lang: k.lang[e],
                negated: false,
            });
        }
    }
    // "I don't want to share my details with a machine": refusing the bot is asking for a person.
    for (b, &hidden) in suppressed.iter().enumerate() {
        if k.has(b, BOT) && !hidden {
            let clause_start = (0..=b)
                .rev()
                .take_while(|&j| tokens.same_clause(j, b))
                .last()
                .unwrap_or(b);
            let refusal = (clause_start..b).any(|j| k.has(j, NEG))
                && (clause_start..b).any(|j| {
                    k.has(j, WANT | COMM)
                        || matches!(
                            k.w(j),
                            "share" | "sharing" | "comfortable" | "trust" | "give"
                        )
                });
            if refusal {
                consider(Hit {
                    start: clause_start,
                    end: b,
                    confidence: 0.75,
                    kind: "indirect",
                    lang: k.lang[b],
                    negated: false,
                });
            }
        }
    }

    let about_bot = suppressed.iter().any(|x| *x);
    let h = match best {
        None => HumanRequest::default(),
        Some(h) => HumanRequest {
            detected: !h.negated && h.confidence >= 0.5,
            confidence: if h.negated { 0.0 } else { h.confidence },
            kind: Some(h.kind),
            phrase: Some(tokens.original(text, h.start, h.end).to_string()),
            language: Some(if h.lang.is_empty() { "en" } else { h.lang }),
            negated: h.negated,
        },
    };
    (h, about_bot)
}

/// Words `a..b` are only a person and small words ("agent", "human pls", "live chat"), at
/// most `max` of them, with nothing counted ("2 people", "one person").
fn short_hit(
    k: &Classified<'_>,
    a: usize,
    b: usize,
    suppressed: &[bool],
    max: usize,
) -> Option<Hit> {
    if b <= a || b - a > max {
        return None;
    }
    let strong =
        (a..b).any(|i| k.has(i, PERSON | DEPT | CALLBACK) && !suppressed[i] && !k.has(i, BADMOD));
    let all_small = (a..b).all(|i| {
        k.has(
            i,
            PERSON | DEPT | QUAL | FILL | GREET | WANT | GIVE | COMM | SERVICE | CLIENT | CALLBACK,
        ) && !suppressed[i]
            && !k.has(i, NEG)
    });
    let counted = (a..b).any(|i| {
        let w = k.w(i);
        matches!(w, "one" | "two" | "three" | "four" | "for")
            || (w == "per" && k.t.get(i as isize + 1) != "favore")
            || w.bytes().all(|b| b.is_ascii_digit())
    });
    // A clause of its own must not be a subject: "The agent, he was rude".
    let subject = a > 0 || b < k.t.len();
    let determiner = matches!(
        k.w(a),
        "the" | "that" | "this" | "el" | "la" | "le" | "der" | "die" | "das" | "il" | "lo" | "o"
    );
    if !strong || !all_small || counted || (subject && determiner) {
        return None;
    }
    let lang = (a..b)
        .find(|&i| k.has(i, PERSON | DEPT | CALLBACK))
        .map_or("en", |i| k.lang[i]);
    Some(Hit {
        start: a,
        end: b - 1,
        confidence: 0.95,
        kind: "short",
        lang,
        negated: false,
    })
}

/// Whether the word before `i` (in its clause) is a possessive that makes the person someone
/// else's: "my manager", "my agent".
fn possessed(k: &Classified<'_>, i: usize) -> bool {
    i > 0
        && k.t.same_clause(i - 1, i)
        && matches!(
            k.w(i - 1),
            "my" | "his"
                | "her"
                | "their"
                | "our"
                | "mi"
                | "mon"
                | "ma"
                | "mein"
                | "meine"
                | "meinen"
                | "mio"
                | "meu"
                | "minha"
        )
}

/// "call me back", "can someone DM me", "¿me pueden llamar?", "rufen Sie mich an",
/// "pouvez-vous me rappeler ?": a request to be called or contacted. The verb is at `v`.
fn call_me_hit(k: &Classified<'_>, v: usize, n: usize, suppressed: &[bool]) -> Option<Hit> {
    let t = k.t;
    let w = k.w(v);
    let call = k.has(v, CALL);
    let reach = matches!(
        w,
        "contact" | "dm" | "message" | "text" | "email" | "pm" | "msg" | "inbox" | "contactarme"
    );
    // "rufen Sie mich an": the German verb with its particle later in the clause.
    let rufen = matches!(w, "rufen" | "ruf" | "ruft")
        && (v + 1..(v + 5).min(n))
            .any(|j| t.same_clause(v, j) && matches!(k.w(j), "an" | "zuruck"));
    if !call && !reach && !rufen {
        return None;
    }
    let english = k.lang[v] == "en" || k.lang[v].is_empty();
    let at = |j: usize| j < n && t.same_clause(v, j);
    // The first person after the verb: "call me", "rappelez-moi", "rufen Sie mich an".
    let obj_after = if at(v + 1) && k.has(v + 1, ME) && !matches!(k.w(v + 1), "mi" | "ci") {
        Some(v + 1)
    } else if at(v + 2)
        && matches!(k.w(v + 1), "sie" | "du")
        && matches!(k.w(v + 2), "mich" | "uns")
    {
        Some(v + 2)
    } else {
        None
    };
    // Before the verb, in the Romance and German order: "me llamen", "mi può chiamare",
    // "mich zurückrufen"; or attached to it: "llámame", "richiamatemi".
    let obj_before = !english
        && (1..=2).any(|d| {
            v >= d
                && t.same_clause(v - d, v)
                && (k.has(v - d, ME) || matches!(k.w(v - d), "me" | "nos"))
        });
    let attached = !english && call && (w.ends_with("me") || w.ends_with("mi"));
    if obj_after.is_none() && !obj_before && !attached {
        return None;
    }
    let end = obj_after.unwrap_or(v);
    // What follows the object: nothing, or words of when and how ("back", "asap", "on 0770...").
    let next = if at(end + 1) { k.w(end + 1) } else { "" };
    let open_end = next.is_empty()
        || next.bytes().all(|b| b.is_ascii_digit())
        || matches!(
            next,
            "back"
                | "asap"
                | "now"
                | "please"
                | "pls"
                | "plz"
                | "today"
                | "tomorrow"
                | "later"
                | "on"
                | "at"
                | "urgently"
                | "right"
                | "svp"
                | "stp"
                | "merci"
                | "au"
                | "sur"
                | "demain"
                | "bitte"
                | "zuruck"
                | "an"
                | "per"
                | "por"
                | "favor"
        );
    // A person as the subject, with only small words between: "can an agent call me",
    // "have a manager contact me", "can someone from your team ring me"; not "the agent said
    // they would call me".
    let mut s = v;
    while s > 0
        && v - s < 4
        && t.same_clause(s - 1, v)
        && k.has(s - 1, FILL | TEAM | SERVICE | CLIENT)
        && !k.has(s - 1, PERSON | SOMEONE | DEPT)
    {
        s -= 1;
    }
    let person_before = s > 0
        && t.same_clause(s - 1, v)
        && k.has(s - 1, PERSON | SOMEONE | DEPT)
        && !suppressed[s - 1]
        && !possessed(k, s - 1);
    let ok = if english {
        // "did you call me?", "they call me Dave": a subject that is not asked.
        let prev = if v > 0 && t.same_clause(v - 1, v) {
            k.w(v - 1)
        } else {
            ""
        };
        let asked = v >= 2
            && matches!(
                k.w(v - 2),
                "can" | "could" | "would" | "will" | "pls" | "please"
            );
        let told = matches!(
            prev,
            "you"
                | "u"
                | "they"
                | "he"
                | "she"
                | "i"
                | "we"
                | "it"
                | "who"
                | "will"
                | "would"
                | "ll"
                | "gonna"
                | "shall"
        ) && !asked;
        if reach {
            open_end && person_before
        } else {
            (open_end && !told) || person_before
        }
    } else if matches!(w, "rappeler" | "appeler") && obj_after.is_none() {
        // "me rappeler" is also "to remember": only without an object.
        open_end
    } else {
        true
    };
    if !ok {
        return None;
    }
    let start = (1..=2)
        .filter(|&d| v >= d && t.same_clause(v - d, v) && k.has(v - d, ME))
        .max()
        .map_or(v, |d| v - d);
    Some(Hit {
        start,
        end,
        confidence: 0.75,
        kind: "direct",
        lang: if english { "en" } else { k.lang[v] },
        negated: negated_before(k, start),
    })
}

/// "transfer me please", "can you connect me?", "escalate this", "pásame": handing the
/// conversation over with nobody named, at the end of the clause.
fn handover_hit(k: &Classified<'_>, v: usize, n: usize) -> Option<Hit> {
    let t = k.t;
    let w = k.w(v);
    let at = |j: usize| j < n && t.same_clause(v, j);
    let obj = match w {
        "transfer" | "connect" => usize::from(at(v + 1) && k.w(v + 1) == "me"),
        "escalate" => usize::from(at(v + 1) && matches!(k.w(v + 1), "this" | "it" | "me")),
        "verbinden" | "verbinde" => {
            if at(v + 2) && k.w(v + 1) == "sie" && k.w(v + 2) == "mich" {
                2
            } else {
                usize::from(at(v + 1) && k.w(v + 1) == "mich")
            }
        }
        "transfiereme" | "pasame" | "paseme" | "passami" | "passatemi" | "transfereme" => 0,
        _ => return None,
    };
    if obj == 0 && !matches!(w, "escalate") && !w.ends_with("me") && !w.ends_with("mi") {
        return None;
    }
    let e = v + obj;
    let closed = !at(e + 1)
        || matches!(
            k.w(e + 1),
            "please"
                | "pls"
                | "plz"
                | "now"
                | "asap"
                | "thanks"
                | "thx"
                | "bitte"
                | "por"
                | "svp"
                | "per"
        );
    if !closed {
        return None;
    }
    Some(Hit {
        start: v,
        end: e,
        confidence: 0.8,
        kind: "direct",
        lang: if k.lang[v].is_empty() {
            "en"
        } else {
            k.lang[v]
        },
        negated: negated_before(k, v),
    })
}

/// "who can I talk to?", "con quién puedo hablar", "à qui dois-je m'adresser",
/// "mit wem kann ich sprechen", "a chi posso rivolgermi": asking which person to talk to.
fn who_hit(k: &Classified<'_>, w: usize, n: usize) -> Option<Hit> {
    let t = k.t;
    let lead = w == 0
        || !t.same_clause(w - 1, w)
        || matches!(
            k.w(w - 1),
            "to" | "with"
                | "a"
                | "avec"
                | "con"
                | "mit"
                | "an"
                | "com"
                | "de"
                | "know"
                | "sure"
                | "idea"
                | "tell"
        );
    if !lead {
        return None;
    }
    for j in w + 1..(w + 6).min(n) {
        if !t.same_clause(w, j) {
            return None;
        }
        // A verb of talking, not of moving money: "who can I transfer money to?".
        if k.has(j, COMM | CALL)
            && !matches!(
                k.w(j),
                "transfer"
                    | "pass"
                    | "put"
                    | "switch"
                    | "through"
                    | "transferir"
                    | "pasar"
                    | "passer"
                    | "passare"
                    | "passar"
                    | "trasferire"
            )
        {
            return Some(Hit {
                start: w,
                end: j,
                confidence: 0.75,
                kind: "direct",
                lang: k.lang[j],
                negated: negated_before(k, w),
            });
        }
        let small = matches!(
            k.w(j),
            "can"
                | "could"
                | "should"
                | "do"
                | "may"
                | "might"
                | "need"
                | "have"
                | "to"
                | "i"
                | "we"
                | "you"
                | "u"
                | "puedo"
                | "puede"
                | "podria"
                | "debo"
                | "deberia"
                | "tengo"
                | "que"
                | "peux"
                | "puis"
                | "dois"
                | "devrais"
                | "je"
                | "m"
                | "me"
                | "kann"
                | "konnte"
                | "soll"
                | "sollte"
                | "muss"
                | "darf"
                | "ich"
                | "mich"
                | "posso"
                | "devo"
                | "dovrei"
                | "potrei"
                | "mi"
                | "pode"
                | "eu"
                | "io"
                | "yo"
        );
        if !small {
            return None;
        }
    }
    None
}

/// "is anyone there?", "any humans around?", "¿hay alguien ahí?", "y a-t-il quelqu'un ?",
/// "ist da jemand?", "c'è qualcuno?", "tem alguém aí?": asking whether a person is present.
fn presence_hit(k: &Classified<'_>, p: usize, n: usize) -> Option<Hit> {
    let t = k.t;
    if possessed(k, p) {
        return None;
    }
    // After the person: the end of the clause, a place ("there", "ahí"), or "who can help".
    let mut e = p + 1;
    if k.w(p) == "quelqu" && e < n && k.w(e) == "un" {
        e += 1;
    }
    let at = |j: usize| j < n && t.same_clause(p, j);
    let there_after = at(e) && k.has(e, THERE);
    if there_after {
        e += 1;
    }
    // After "who"/"que"/"che", only a person who can: "someone who can help", "alguien que me
    // pueda ayudar"; not "c'è qualcuno che ha usato la mia carta".
    let can = |j: usize| {
        at(j)
            && matches!(
                k.w(j),
                "can"
                    | "could"
                    | "would"
                    | "will"
                    | "pueda"
                    | "puede"
                    | "possa"
                    | "puo"
                    | "peut"
                    | "puisse"
                    | "pourrait"
                    | "kann"
                    | "konnte"
                    | "pode"
            )
    };
    let end_ok = !at(e)
        || matches!(k.w(e), "to" | "i" | "we")
        || (matches!(
            k.w(e),
            "who" | "that" | "que" | "qui" | "der" | "die" | "che"
        ) && (can(e + 1) || can(e + 2)));
    if !end_ok {
        return None;
    }
    // Before the person: "is there", "any", "hay", "y a", "gibt es", "ist da", "c'è", "tem".
    let mut j = p;
    let mut exists = false;
    let mut steps = 0;
    while j > 0 && steps < 5 && t.same_clause(j - 1, p) {
        j -= 1;
        steps += 1;
        let w = k.w(j);
        if matches!(w, "hay" | "tem" | "gibt" | "existe" | "any" | "is" | "are")
            || (w == "y" && k.t.get(j as isize + 1) == "a")
            || (w == "c" && k.t.get(j as isize + 1) == "e")
            || (w == "ist" && k.has(j + 1, THERE))
        {
            exists = true;
            break;
        }
        if !(k.has(j, FILL | QUAL | THERE) || matches!(w, "es" | "t" | "il" | "a" | "e")) {
            break;
        }
    }
    // Without "is there": the person (nearly) opens the clause and a place follows
    // ("anyone there??", "any humans around?").
    let before = (0..p).rev().take_while(|&i| t.same_clause(i, p)).count();
    if !exists && (!there_after || before > 2) {
        return None;
    }
    Some(Hit {
        start: j.min(p),
        end: (e - 1).max(p),
        confidence: 0.75,
        kind: "direct",
        lang: k.lang[p],
        negated: negated_before(k, j.min(p)),
    })
}

/// "can a real person look at my case", "could somebody else take a look": a question whose
/// subject is a person set against the bot.
fn modal_subject_hit(k: &Classified<'_>, p: usize, n: usize) -> Option<Hit> {
    let t = k.t;
    let mut j = p;
    let mut qual = false;
    while j > 0 && t.same_clause(j - 1, p) && p - j < 4 {
        j -= 1;
        if k.has(j, QUAL) {
            qual = true;
        } else if !matches!(k.w(j), "a" | "an" | "some" | "one" | "of" | "your" | "you") {
            break;
        }
    }
    if !matches!(k.w(j), "can" | "could" | "would" | "will" | "may") || j == p {
        return None;
    }
    // The modal opens the clause (after greetings): a question, not "you can ask someone".
    if j > 0 && t.same_clause(j - 1, j) && !k.has(j - 1, GREET | FILL) {
        return None;
    }
    let word = |i: usize| {
        if i < n && t.same_clause(p, i) {
            k.w(i)
        } else {
            ""
        }
    };
    // Verbs of dealing with the customer's case; not "top up my account", "pay for me".
    let action = |w: &str| {
        matches!(
            w,
            "help"
                | "look"
                | "check"
                | "assist"
                | "review"
                | "sort"
                | "fix"
                | "handle"
                | "deal"
                | "explain"
                | "call"
                | "contact"
                | "take"
                | "get"
                | "respond"
                | "answer"
                | "reply"
                | "talk"
                | "speak"
                | "chat"
                | "step"
                | "come"
                | "please"
                | "pls"
                | ""
        )
    };
    let ok = if k.has(p, SOMEONE) {
        // "somebody else take a look", "someone from your team help", "someone real".
        match word(p + 1) {
            "else" | "real" => action(word(p + 2)),
            "from" => {
                matches!(word(p + 2), "your" | "the" | "customer" | "support")
                    || k.has((p + 2).min(n - 1), TEAM | SERVICE | DEPT)
            }
            _ => false,
        }
    } else {
        let generic = matches!(k.w(p), "person" | "people" | "persons");
        (qual || !generic) && action(word(p + 1))
    };
    if !ok {
        return None;
    }
    Some(Hit {
        start: j,
        end: p,
        confidence: 0.75,
        kind: "direct",
        lang: k.lang[p],
        negated: false,
    })
}

/// A person word at `p`: look back for a trigger through small words.
fn person_hit(k: &Classified<'_>, p: usize, n: usize) -> Option<Hit> {
    let t = k.t;
    let c = k.c(p);
    let prev = if p > 0 && t.same_clause(p - 1, p) {
        k.c(p - 1)
    } else {
        0
    };
    // "insurance agent", "in person", "1 person", "my agent".
    if p > 0 && t.same_clause(p - 1, p) {
        let pw = k.w(p - 1);
        if prev & BADMOD != 0
            || (pw.bytes().all(|b| b.is_ascii_digit())
                && !(pw == "2" && p >= 2 && k.has(p - 2, COMM)))
            || (pw == "my" && k.w(p) == "agent")
        {
            return None;
        }
    }
    // "person to person", "personal": "person" followed by "to person".
    if k.w(p) == "person" && k.t.get(p as isize + 2) == "person" {
        return None;
    }
    let someone_only = c & (PERSON | DEPT | TEAM | CALLBACK | PASSIVE) == 0;
    let mut unknown_used = false;
    let mut j = p;
    let lo = p.saturating_sub(8);
    while j > lo {
        j -= 1;
        if !t.same_clause(j, p) {
            break;
        }
        let cj = k.c(j);
        if cj & (COMM | WANT | GIVE) != 0 && cj & FILL == 0 {
            if k.w(j) == "like" && !matches!(t.get(j as isize - 1), "id" | "would" | "d" | "wd") {
                break; // "sounds like a human", not "I'd like a human"
            }
            if matches!(k.w(j), "put" | "pass" | "switch")
                && t.get(j as isize + 1) != "me"
                && !matches!(t.get(j as isize - 1), "be" | "get")
            {
                break; // "put me through", not "put a person on my account"
            }
            if matches!(k.w(j), "transfer" | "contact" | "chat" | "talk")
                && matches!(
                    t.get(j as isize - 1),
                    "a" | "the" | "my" | "this" | "that" | "your" | "our"
                )
            {
                break; // a noun: "made a transfer to someone", "my contact person"
            }
            let comm = cj & COMM != 0;
            if !comm && someone_only && !someone_follows_ok(k, p, n) {
                return None;
            }
            // A team name is a person only as what you talk to, at the end of the phrase:
            // "speak with billing", not "I want billing details".
            if c & (PERSON | SOMEONE | DEPT | CALLBACK | PASSIVE) == 0
                && (!comm
                    || (p + 1 < n && t.same_clause(p, p + 1) && k.c(p + 1) & (FILL | SERVICE) == 0))
            {
                return None;
            }
            let confidence = match (comm, c & PERSON != 0, someone_only) {
                (true, true, _) => 0.95,
                (true, false, true) => 0.85,
                (true, false, false) => 0.85,
                (false, true, _) => 0.9,
                (false, false, true) => 0.7,
                (false, false, false) => 0.75,
            };
            return Some(Hit {
                start: j,
                end: p,
                confidence,
                kind: "direct",
                lang: if k.lang[j].is_empty() {
                    k.lang[p]
                } else {
                    k.lang[j]
                },
                negated: negated_before(k, j),
            });
        }
        if cj & (FILL | QUAL | SOMEONE | PERSON | CLIENT | SERVICE | TEAM) != 0 && cj & NEG == 0 {
            continue;
        }
        if cj == 0 && filler_typo(k.w(j)) {
            continue;
        }
        // "can I be called back": the question itself asks for the call.
        if c & PASSIVE != 0
            && matches!(k.w(j), "i" | "we")
            && matches!(t.get(j as isize - 1), "can" | "could" | "may")
        {
            return Some(Hit {
                start: j - 1,
                end: p,
                confidence: 0.75,
                kind: "direct",
                lang: k.lang[p],
                negated: false,
            });
        }
        // One unknown modifier right before the person: "a bank worker", "your support team".
        if j + 1 == p && !unknown_used && cj == 0 {
            unknown_used = true;
            continue;
        }
        break;
    }
    // Verb after the person (German/Dutch order): "mit einem Menschen sprechen".
    // Also the German accusative: "kann ich bitte einen Menschen sprechen".
    let with_before = matches!(k.w(p), "jemanden" | "jemandem")
        || (1..=3).any(|d| {
            p >= d
                && t.same_clause(p - d, p)
                && matches!(k.w(p - d), "mit" | "con" | "avec" | "com" | "einen")
        });
    if with_before {
        for d in 1..=3 {
            let j = p + d;
            if j < n && t.same_clause(p, j) && k.has(j, COMM) {
                return Some(Hit {
                    start: p.saturating_sub(2),
                    end: j,
                    confidence: 0.9,
                    kind: "direct",
                    lang: k.lang[p],
                    negated: negated_before(k, p.saturating_sub(3))
                        || (p + d + 1 < n && k.has(p + d + 1, NEG)),
                });
            }
        }
    }
    // "someone I can talk to", "a person who can speak Spanish"? The first only: a talking verb
    // right after a pronoun.
    if c & (PERSON | SOMEONE) != 0
        && matches!(k.t.get(p as isize + 1), "i" | "we")
        && (p + 2..(p + 5).min(n)).any(|j| t.same_clause(p, j) && k.has(j, COMM | CALL))
    {
        return Some(Hit {
            start: p,
            end: (p + 4).min(n - 1),
            confidence: 0.8,
            kind: "direct",
            lang: k.lang[p],
            negated: false,
        });
    }
    // "is there a human available", "any agents available?".
    if k.t.get(p as isize + 1) == "available"
        && (0..p)
            .rev()
            .take(4)
            .any(|j| matches!(k.w(j), "there" | "their" | "any" | "is"))
    {
        return Some(Hit {
            start: p,
            end: p + 1,
            confidence: 0.8,
            kind: "direct",
            lang: k.lang[p],
            negated: false,
        });
    }
    None
}

/// After wanting "someone", only a person-ish continuation counts:
/// "I need someone who can help" yes, "I need someone to paint my house" no.
fn someone_follows_ok(k: &Classified<'_>, p: usize, n: usize) -> bool {
    if p + 1 >= n || !k.t.same_clause(p, p + 1) {
        return true;
    }
    match k.w(p + 1) {
        "who" | "that" | "real" | "here" | "from" | "que" | "qui" | "der" | "die" | "che"
        | "else" => true,
        "to" => p + 2 < n && (k.has(p + 2, COMM) || matches!(k.w(p + 2), "help" | "assist")),
        // "get someone on the phone", "someone on the line".
        "on" => matches!(k.t.get(p as isize + 3), "phone" | "line"),
        _ => k.has(p + 1, QUAL | FILL) && !matches!(k.w(p + 1), "to" | "for" | "at" | "on"),
    }
}

/// "speak to the reception", "transfer me to the front desk": a talking verb with a named place.
fn department_hit(k: &Classified<'_>, v: usize, n: usize) -> Option<Hit> {
    let t = k.t;
    let mut j = v + 1;
    if j < n && k.w(j) == "me" {
        j += 1;
    }
    if k.w(v) == "transfer" && (j == v + 1) {
        return None; // "transfer money to ...": only "transfer me".
    }
    if j >= n
        || !matches!(k.w(j), "to" | "with" | "con" | "avec" | "a" | "mit" | "com")
        || !t.same_clause(v, j)
    {
        return None;
    }
    j += 1;
    // Named places come with an article: "the reception", "your spa team".
    if j < n
        && matches!(
            k.w(j),
            "the" | "your" | "la" | "el" | "le" | "der" | "die" | "dem" | "il" | "o"
        )
    {
        j += 1;
    } else {
        return None;
    }
    // One or two nouns, then the end of the clause (or "please").
    let start_noun = j;
    let mut end = j;
    while end < n
        && end < start_noun + 2
        && t.same_clause(v, end)
        && k.c(end) & !(SERVICE | DEPT) == 0
        && !k.w(end).bytes().all(|b| b.is_ascii_digit())
    {
        end += 1;
    }
    if end == start_noun {
        return None;
    }
    let closed = end >= n
        || !t.same_clause(v, end)
        || matches!(k.w(end), "please" | "pls" | "directly" | "now");
    if !closed {
        return None;
    }
    Some(Hit {
        start: v,
        end: end - 1,
        confidence: 0.6,
        kind: "department",
        lang: k.lang[v],
        negated: negated_before(k, v),
    })
}

/// Whether a negator governs the trigger at `j`: a negation word within three words before it,
/// in the same clause, with no scope-breaking word ("know", "understand", "how") in between.
/// A word of necessity ("no es necesario que", "pas besoin de", "nicht nötig") widens the
/// window by two words, so the negation before it is reached.
fn negated_before(k: &Classified<'_>, j: usize) -> bool {
    let t = k.t;
    let mut lo = j.saturating_sub(3);
    let mut i = j;
    while i > lo {
        i -= 1;
        if !t.same_clause(i, j) {
            return false;
        }
        if k.has(i, BREAK) {
            return false;
        }
        if matches!(
            k.w(i),
            "necessary"
                | "needed"
                | "necesario"
                | "necessaire"
                | "notig"
                | "notwendig"
                | "necessario"
                | "bisogno"
                | "precisa"
                | "preciso"
                | "falta"
                | "besoin"
        ) {
            lo = lo.saturating_sub(2);
        }
        if k.has(i, NEG) {
            // "no I want a human": an interjection, not a negation.
            return !(k.w(i) == "no"
                && matches!(t.get(i as isize + 1), "i" | "just" | "please" | "pls"));
        }
    }
    false
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod challenge;
