//! The suggested first message for the agent, restating the issue so the customer knows they
//! were heard, in the customer's language ([`crate::language`]); none in a language Baton does
//! not write (the agent writes that one).

use super::summary::{Context, humanize};
use super::{BriefTopic, Frustration, topics::Topic};
use std::fmt::Write;

/// The greeting's phrases in one language. `{name}`, `{agent}`, `{issue}`, `{order}` and
/// `{amount}` are replaced.
struct Phrases {
    hello_name: &'static str,
    hello: &'static str,
    this_is: &'static str,
    thanks_waiting: &'static str,
    legal: &'static str,
    asking_about: &'static str,
    read_so_far: &'static str,
    sorry: &'static str,
    no_repeat: &'static str,
    refund_order: &'static str,
    refund: &'static str,
    cancel_order: &'static str,
    cancel: &'static str,
    login: &'static str,
    delivery_order: &'static str,
    delivery: &'static str,
    billing_amount: &'static str,
    billing: &'static str,
    fraud: &'static str,
    outage: &'static str,
    order: &'static str,
    /// Whether a tenant's own topic names (English identifiers) may be restated.
    custom_topics: bool,
}

const EN: Phrases = Phrases {
    hello_name: "Hi {name}",
    hello: "Hi there",
    this_is: ", this is {agent}.",
    thanks_waiting: ", thanks for waiting.",
    legal: " I see you raised a formal concern, and I want to make sure it is handled properly.",
    asking_about: " I see you were asking about {issue}.",
    read_so_far: " I've read your conversation so far.",
    sorry: " I'm sorry for the trouble and the wait; you won't need to repeat anything, I'll take it from here.",
    no_repeat: " You won't need to repeat anything; let me take it from here.",
    refund_order: "a refund for order {order}",
    refund: "a refund",
    cancel_order: "cancelling order {order}",
    cancel: "cancelling",
    login: "trouble signing in to your account",
    delivery_order: "the delivery of order {order}",
    delivery: "your delivery",
    billing_amount: "a charge of {amount}",
    billing: "a charge on your account",
    fraud: "activity on your account that you did not make",
    outage: "the service not working for you",
    order: "order {order}",
    custom_topics: true,
};

const ES: Phrases = Phrases {
    hello_name: "Hola, {name}",
    hello: "Hola",
    this_is: ", soy {agent}.",
    thanks_waiting: ", gracias por esperar.",
    legal: " Veo que has presentado una reclamación formal y quiero asegurarme de que se gestione como corresponde.",
    asking_about: " Veo que nos escribes por {issue}.",
    read_so_far: " He leído la conversación hasta ahora.",
    sorry: " Siento las molestias y la espera; no tendrás que repetir nada, yo me encargo a partir de aquí.",
    no_repeat: " No tendrás que repetir nada; yo me encargo a partir de aquí.",
    refund_order: "un reembolso del pedido {order}",
    refund: "un reembolso",
    cancel_order: "la cancelación del pedido {order}",
    cancel: "una cancelación",
    login: "problemas para iniciar sesión en tu cuenta",
    delivery_order: "la entrega del pedido {order}",
    delivery: "tu entrega",
    billing_amount: "un cargo de {amount}",
    billing: "un cargo en tu cuenta",
    fraud: "movimientos en tu cuenta que no reconoces",
    outage: "un problema con el servicio",
    order: "el pedido {order}",
    custom_topics: false,
};

const PT: Phrases = Phrases {
    hello_name: "Olá, {name}",
    hello: "Olá",
    this_is: ", aqui é {agent}.",
    thanks_waiting: ", obrigado por aguardar.",
    legal: " Vejo que você fez uma reclamação formal e quero garantir que ela seja tratada como deve.",
    asking_about: " Vejo que você entrou em contato sobre {issue}.",
    read_so_far: " Já li a conversa até aqui.",
    sorry: " Sinto muito pelo transtorno e pela espera; você não vai precisar repetir nada, eu cuido disso a partir de agora.",
    no_repeat: " Você não vai precisar repetir nada; eu cuido disso a partir de agora.",
    refund_order: "um reembolso do pedido {order}",
    refund: "um reembolso",
    cancel_order: "o cancelamento do pedido {order}",
    cancel: "um cancelamento",
    login: "problemas para entrar na sua conta",
    delivery_order: "a entrega do pedido {order}",
    delivery: "a sua entrega",
    billing_amount: "uma cobrança de {amount}",
    billing: "uma cobrança na sua conta",
    fraud: "movimentações na sua conta que você não reconhece",
    outage: "um problema no serviço",
    order: "o pedido {order}",
    custom_topics: false,
};

const FR: Phrases = Phrases {
    hello_name: "Bonjour {name}",
    hello: "Bonjour",
    this_is: ", je suis {agent}.",
    thanks_waiting: ", merci de votre patience.",
    legal: " Je vois que vous avez formulé une réclamation formelle, et je veux m'assurer qu'elle soit traitée comme il se doit.",
    asking_about: " Je vois que vous nous contactez pour {issue}.",
    read_so_far: " J'ai lu votre conversation jusqu'ici.",
    sorry: " Je suis désolé pour ce désagrément et pour l'attente ; vous n'aurez rien à répéter, je prends le relais.",
    no_repeat: " Vous n'aurez rien à répéter ; je prends le relais.",
    refund_order: "un remboursement de la commande {order}",
    refund: "un remboursement",
    cancel_order: "l'annulation de la commande {order}",
    cancel: "une annulation",
    login: "des difficultés à vous connecter à votre compte",
    delivery_order: "la livraison de la commande {order}",
    delivery: "votre livraison",
    billing_amount: "un prélèvement de {amount}",
    billing: "un prélèvement sur votre compte",
    fraud: "des opérations sur votre compte que vous n'avez pas faites",
    outage: "un problème avec le service",
    order: "la commande {order}",
    custom_topics: false,
};

const DE: Phrases = Phrases {
    hello_name: "Hallo {name}",
    hello: "Hallo",
    this_is: ", hier ist {agent}.",
    thanks_waiting: ", danke für Ihre Geduld.",
    legal: " Ich sehe, dass Sie eine formelle Beschwerde eingereicht haben, und möchte sicherstellen, dass sie ordnungsgemäß bearbeitet wird.",
    asking_about: " Ich sehe, es geht um {issue}.",
    read_so_far: " Ich habe Ihren bisherigen Verlauf gelesen.",
    sorry: " Entschuldigen Sie die Umstände und die Wartezeit; Sie müssen nichts wiederholen, ich übernehme ab hier.",
    no_repeat: " Sie müssen nichts wiederholen; ich übernehme ab hier.",
    refund_order: "eine Erstattung für Bestellung {order}",
    refund: "eine Erstattung",
    cancel_order: "die Stornierung von Bestellung {order}",
    cancel: "eine Stornierung",
    login: "Probleme bei der Anmeldung in Ihrem Konto",
    delivery_order: "die Lieferung von Bestellung {order}",
    delivery: "Ihre Lieferung",
    billing_amount: "eine Abbuchung über {amount}",
    billing: "eine Abbuchung von Ihrem Konto",
    fraud: "Vorgänge in Ihrem Konto, die nicht von Ihnen stammen",
    outage: "eine Störung des Dienstes",
    order: "Bestellung {order}",
    custom_topics: false,
};

const IT: Phrases = Phrases {
    hello_name: "Ciao {name}",
    hello: "Ciao",
    this_is: ", sono {agent}.",
    thanks_waiting: ", grazie per l'attesa.",
    legal: " Vedo che hai presentato un reclamo formale e voglio assicurarmi che venga gestito come si deve.",
    asking_about: " Vedo che ci scrivi per {issue}.",
    read_so_far: " Ho letto la conversazione fin qui.",
    sorry: " Mi dispiace per il disagio e per l'attesa; non dovrai ripetere nulla, da qui me ne occupo io.",
    no_repeat: " Non dovrai ripetere nulla; da qui me ne occupo io.",
    refund_order: "un rimborso dell'ordine {order}",
    refund: "un rimborso",
    cancel_order: "l'annullamento dell'ordine {order}",
    cancel: "un annullamento",
    login: "problemi di accesso al tuo account",
    delivery_order: "la consegna dell'ordine {order}",
    delivery: "la tua consegna",
    billing_amount: "un addebito di {amount}",
    billing: "un addebito sul tuo conto",
    fraud: "movimenti sul tuo account che non hai fatto",
    outage: "un problema con il servizio",
    order: "l'ordine {order}",
    custom_topics: false,
};

fn phrases(language: &str) -> Option<&'static Phrases> {
    Some(match language {
        "en" => &EN,
        "es" => &ES,
        "pt" => &PT,
        "fr" => &FR,
        "de" => &DE,
        "it" => &IT,
        _ => return None,
    })
}

/// The customer's first name, if the profile has a usable one.
fn first_name<'a>(ctx: &Context<'_, 'a>) -> Option<&'a str> {
    let name = ctx.input.customer.name?.split_whitespace().next()?;
    let usable = !name.contains(['@', '+']) && !name.chars().any(|c| c.is_ascii_digit());
    usable.then_some(name)
}

/// The greeting in `language` (English when it is unknown); `None` in a language Baton does
/// not write.
pub(crate) fn greeting(ctx: &Context<'_, '_>, language: Option<&str>) -> Option<String> {
    let p = phrases(language.unwrap_or("en"))?;
    let keys = ctx.keys();
    let mut s = match first_name(ctx) {
        Some(name) => p.hello_name.replace("{name}", name),
        None => p.hello.to_owned(),
    };
    match ctx
        .input
        .agent_name
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(agent) => s.push_str(&p.this_is.replace("{agent}", agent)),
        None => s.push_str(p.thanks_waiting),
    }
    let order = keys.order.as_deref();
    let amount = keys.amount.map(|f| f.raw.trim());
    let with = |template: &str| {
        template
            .replace("{order}", order.unwrap_or_default())
            .replace("{amount}", amount.unwrap_or_default())
    };
    let issue: Option<String> = match ctx.primary() {
        Some(BriefTopic::Known(Topic::Legal)) => {
            s.push_str(p.legal);
            None
        }
        Some(BriefTopic::Known(t)) => Some(with(match (t, order, amount) {
            (Topic::Refund, Some(_), _) => p.refund_order,
            (Topic::Refund, None, _) => p.refund,
            (Topic::Cancellation, Some(_), _) => p.cancel_order,
            (Topic::Cancellation, None, _) => p.cancel,
            (Topic::Login, ..) => p.login,
            (Topic::Delivery, Some(_), _) => p.delivery_order,
            (Topic::Delivery, None, _) => p.delivery,
            (Topic::Billing, _, Some(_)) => p.billing_amount,
            (Topic::Billing, _, None) => p.billing,
            (Topic::Fraud, ..) => p.fraud,
            (Topic::Outage, ..) => p.outage,
            (Topic::Legal, ..) => unreachable!("handled above"),
        })),
        Some(BriefTopic::Other(h)) if p.custom_topics => Some(humanize(h)),
        Some(BriefTopic::Other(_)) => None,
        None => order.map(|_| with(p.order)),
    };
    match issue {
        Some(i) => {
            let _ = write!(s, "{}", p.asking_about.replace("{issue}", &i));
        }
        None if ctx.primary() == Some(&BriefTopic::Known(Topic::Legal)) => {}
        None => s.push_str(p.read_so_far),
    }
    if ctx.sentiment.frustration >= Frustration::Medium {
        s.push_str(p.sorry);
    } else {
        s.push_str(p.no_repeat);
    }
    Some(s)
}
