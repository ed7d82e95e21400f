//! The brief's texts for the agent: summary and next steps. Deterministic templates over what
//! the brief already computed, in English (they are read by agents). The greeting, written to
//! the customer, is in [`super::greeting`].

use super::topics::Topic;
use super::{
    ArticleRef, AttemptKind, BotStats, BriefInput, BriefTopic, CustomerView, Field, Frustration,
    MAX_NEXT_STEPS, SentimentSummary, TopicCounts, Trend, Turn, attempt_kind,
};
use crate::conversation::HandoffSource;
use crate::values::MessageRole;
use std::fmt::Write;

/// The summary is cut to this many characters (it is 2-3 sentences, not a transcript).
pub(crate) const SUMMARY_MAX_CHARS: usize = 420;
const QUOTE_CHARS: usize = 100;
const QUESTION_CHARS: usize = 70;
const TITLE_CHARS: usize = 50;

/// What the texts are built from.
pub(crate) struct Context<'c, 'a> {
    pub input: &'c BriefInput<'a>,
    pub fields: &'c [Field],
    pub sentiment: &'c SentimentSummary,
    pub bot: &'c BotStats,
    pub topics: &'c [BriefTopic],
    pub customer: &'c CustomerView,
    /// Topic keyword counts per customer turn (index into the transcript, counts).
    pub turn_topics: &'c [(usize, TopicCounts)],
    /// The customer turn that states the request ([`key_turn`]), set once.
    pub key: Option<&'a Turn<'a>>,
}

/// The key values the templates mention.
pub(crate) struct Keys<'c> {
    pub order: Option<String>,
    pub amount: Option<&'c Field>,
    tracking: Option<&'c str>,
    email: Option<&'c str>,
    invoice: Option<&'c str>,
}

impl<'c> Context<'c, '_> {
    fn first(&self, name: &str) -> Option<&'c Field> {
        // Prefer what the customer wrote; the bot may have quoted other values.
        let fields = self.fields;
        fields
            .iter()
            .find(|f| f.name == name && f.source == MessageRole::Customer)
            .or_else(|| fields.iter().find(|f| f.name == name))
    }

    /// The first field with this name from the key turn, else [`Self::first`].
    fn key_first(&self, name: &str, key_id: Option<&str>) -> Option<&'c Field> {
        let fields = self.fields;
        key_id
            .and_then(|id| fields.iter().find(|f| f.name == name && f.message_id == id))
            .or_else(|| self.first(name))
    }

    pub(crate) fn keys(&self) -> Keys<'c> {
        let key_id = self.key.map(|t| t.message_id);
        let amount = if self.primary() == Some(&BriefTopic::Known(Topic::Fraud)) {
            // Fraud: the biggest amount is the one that matters.
            self.fields
                .iter()
                .filter(|f| f.name == "amount")
                .max_by(|a, b| amount_value(a).total_cmp(&amount_value(b)))
        } else {
            self.key_first("amount", key_id)
        };
        Keys {
            order: self
                .key_first("order_id", key_id)
                .map(|f| order_ref(&f.value)),
            amount,
            invoice: self.first("invoice_number").map(|f| f.value.as_str()),
            tracking: self.first("tracking_number").map(|f| f.value.as_str()),
            email: self
                .first("email")
                .map(|f| f.value.as_str())
                .or(self.customer.email.as_deref()),
        }
    }

    pub(crate) fn primary(&self) -> Option<&'c BriefTopic> {
        self.topics.first()
    }
}

fn amount_value(f: &Field) -> f64 {
    f.value
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0)
}

/// "#1234" for a plain number, the id itself otherwise ("A-1234").
fn order_ref(v: &str) -> String {
    if v.bytes().all(|b| b.is_ascii_digit()) {
        format!("#{v}")
    } else {
        v.to_owned()
    }
}

/// `s` with whitespace collapsed, cut to `max` characters on a word boundary, with "…" if cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut chars = 0;
    let mut truncated = false;
    for word in s.split_whitespace() {
        let n = word.chars().count();
        let sep = usize::from(!out.is_empty());
        if chars + sep + n > max {
            truncated = true;
            if out.is_empty() {
                // One giant word: cut inside it.
                out.extend(word.chars().take(max.saturating_sub(1)));
            }
            break;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(word);
        chars += sep + n;
    }
    if truncated {
        let trimmed = out.trim_end_matches([',', ';', ':', '.', ' ', '-']).len();
        out.truncate(trimmed);
        out.push('…');
    }
    out
}

/// Drops a leading greeting ("Hi there,", "Hello!", "Hola,") from a quote.
fn strip_greeting(s: &str) -> &str {
    const GREETINGS: [&str; 20] = [
        "good morning",
        "good afternoon",
        "good evening",
        "hello",
        "hallo",
        "hey",
        "hiya",
        "hi",
        "hola",
        "bonjour",
        "olá",
        "ola",
        "buenas tardes",
        "buenos días",
        "buenas",
        "guten tag",
        "ciao",
        "salut",
        "bom dia",
        "boa tarde",
    ];
    let t = s.trim_start();
    let lower = t.to_lowercase();
    for g in GREETINGS {
        if lower.starts_with(g) && lower.len() >= g.len() {
            let rest = &t[g.len()..];
            if rest.starts_with(|c: char| c.is_alphanumeric()) {
                continue;
            }
            let rest = rest.trim_start_matches([',', '!', '.', ' ']);
            let rest = rest
                .strip_prefix("there")
                .or_else(|| rest.strip_prefix("all"))
                .unwrap_or(rest)
                .trim_start_matches([',', '!', '.', ' ']);
            return if rest.is_empty() { t } else { rest };
        }
    }
    t
}

/// The customer turn that states the request best: most topic keywords and extracted values,
/// earliest on ties, so "hi" or "???" never wins over "my order #1234 arrived broken".
pub(crate) fn key_turn<'a>(ctx: &Context<'_, 'a>) -> Option<&'a Turn<'a>> {
    let turns = ctx.input.turns;
    let mut best: Option<(u32, &'a Turn<'a>)> = None;
    let mut opening = true;
    let primary = ctx.primary();
    for (i, counts) in ctx.turn_topics {
        let t = &turns[*i];
        let text = super::extract::clip(t.text, 4096);
        let topic_score: u32 = counts.iter().map(|(_, n)| n).sum::<u32>().min(3) * 2;
        // A turn about the conversation's main topic beats one about a side issue.
        let primary_score = match primary {
            Some(BriefTopic::Known(p)) => {
                2 * u32::from(counts.iter().any(|(t, n)| t == p && *n > 0))
            }
            _ => 0,
        };
        let field_score = ctx
            .fields
            .iter()
            .filter(|f| f.message_id == t.message_id && f.name != "date")
            .count()
            .min(3) as u32;
        let words = text.split_whitespace().count();
        let mut score = topic_score + primary_score + field_score + u32::from(words >= 5);
        // The first customer turn with any signal usually states the request; later turns
        // add details and anger.
        if opening && score > 1 {
            score += 2;
            opening = false;
        }
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, t));
        }
    }
    best.map(|(_, t)| t)
}

fn topic_want(topic: Option<&BriefTopic>, k: &Keys<'_>) -> String {
    let order = k.order.as_deref();
    let amount = k.amount.map(|f| f.value.as_str());
    let mut s = String::from("Customer ");
    let _ = match topic {
        Some(BriefTopic::Known(Topic::Refund)) => {
            s.push_str("wants a refund");
            if let Some(a) = amount {
                let _ = write!(s, " of {a}");
            }
            if let Some(o) = order {
                let _ = write!(s, " for order {o}");
            }
            Ok(())
        }
        Some(BriefTopic::Known(Topic::Cancellation)) => match order {
            Some(o) => write!(s, "wants to cancel order {o}"),
            None => write!(s, "wants to cancel"),
        },
        Some(BriefTopic::Known(Topic::Login)) => {
            s.push_str("cannot sign in to their account");
            match k.email {
                Some(e) => write!(s, " ({e})"),
                None => Ok(()),
            }
        }
        Some(BriefTopic::Known(Topic::Delivery)) => {
            s.push_str("is asking about a delivery");
            if let Some(o) = order {
                let _ = write!(s, " for order {o}");
            }
            match k.tracking {
                Some(t) => write!(s, " (tracking {t})"),
                None => Ok(()),
            }
        }
        Some(BriefTopic::Known(Topic::Billing)) => {
            s.push_str("disputes a charge");
            if let Some(a) = amount {
                let _ = write!(s, " of {a}");
            }
            if let Some(o) = order {
                let _ = write!(s, " on order {o}");
            }
            match k.invoice {
                Some(i) => write!(s, " (invoice {i})"),
                None => Ok(()),
            }
        }
        Some(BriefTopic::Known(Topic::Fraud)) => {
            s.push_str("reports activity they did not authorize");
            match amount {
                Some(a) => write!(s, " ({a})"),
                None => Ok(()),
            }
        }
        Some(BriefTopic::Known(Topic::Legal)) => {
            s.push_str("raises a legal matter");
            match order {
                Some(o) => write!(s, " about order {o}"),
                None => Ok(()),
            }
        }
        Some(BriefTopic::Known(Topic::Outage)) => {
            write!(s, "reports that the service is not working")
        }
        Some(BriefTopic::Other(hint)) => {
            let _ = write!(s, "needs help with {}", humanize(hint));
            match order {
                Some(o) => write!(s, " (order {o})"),
                None => Ok(()),
            }
        }
        None => match order {
            Some(o) => write!(s, "needs help with order {o}"),
            None => write!(s, "needs help"),
        },
    };
    s
}

pub(crate) fn humanize(s: &str) -> String {
    s.replace(['_', '.'], " ").replace(':', ": ")
}

fn times(n: u32) -> String {
    match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What the bot tried, as one sentence.
fn tried(ctx: &Context<'_, '_>) -> String {
    let b = ctx.bot;
    if b.turns == 0 {
        return "The bot had not answered yet.".to_owned();
    }
    let mut s = format!("The bot replied {}", times(b.turns));
    // The intent it kept coming back to, if any ("explained the refund policy twice").
    let mut intents: Vec<(&str, u32)> = Vec::new();
    for t in ctx
        .input
        .turns
        .iter()
        .filter(|t| t.role == MessageRole::Bot)
    {
        if let Some(i) = t.bot_intent.map(str::trim).filter(|i| !i.is_empty()) {
            match intents.iter_mut().find(|(x, _)| *x == i) {
                Some((_, n)) => *n += 1,
                None => intents.push((i, 1)),
            }
        }
    }
    let mut details: Vec<String> = Vec::new();
    if let Some((intent, n)) = intents
        .iter()
        .copied()
        .filter(|(_, n)| *n >= 2)
        .max_by_key(|(_, n)| *n)
    {
        details.push(format!("{} {}", humanize(intent), times(n)));
    }
    let low = b.low_confidence.saturating_sub(b.fallbacks);
    let answered = b.turns - b.fallbacks;
    if low > 0 {
        details.push(if b.turns == 1 {
            "with low confidence".to_owned()
        } else if low == answered && answered > 1 && b.fallbacks == 0 {
            "all with low confidence".to_owned()
        } else {
            format!("{low} with low confidence")
        });
    }
    if b.fallbacks > 0 {
        details.push(if b.turns == 1 {
            "not understood".to_owned()
        } else {
            format!("{} not understood", b.fallbacks)
        });
    }
    if !details.is_empty() {
        let _ = write!(s, " ({})", details.join("; "));
    }
    let cited = !b.articles_used.is_empty();
    if let Some(first) = b.articles_used.first() {
        let _ = write!(s, ", citing “{}”", cut(first, TITLE_CHARS));
        if b.articles_used.len() > 1 {
            let _ = write!(s, " and {} more", b.articles_used.len() - 1);
        }
    }
    let question = ctx
        .input
        .turns
        .iter()
        .rev()
        .find(|t| t.role == MessageRole::Bot && attempt_kind(t) == AttemptKind::Question);
    if let Some(q) = question {
        // The question itself: its last sentence.
        let text = q.text.trim();
        let start = text[..text.len().saturating_sub(1)]
            .rfind(['.', '!', '?', '\n'])
            .map_or(0, |i| i + 1);
        let _ = write!(
            s,
            "{} asked “{}”",
            if cited { ", and" } else { " and" },
            cut(text[start..].trim(), QUESTION_CHARS)
        );
    }
    s.push('.');
    s
}

/// "customer asked for a person", "sensitive topic: refund", ...
pub(crate) fn reason_label(reason: &str) -> String {
    let r = reason.trim().to_ascii_lowercase();
    let (head, tail) = match r.split_once(':') {
        Some((h, t)) => (h.to_owned(), Some(t.trim().to_owned())),
        None => (r.clone(), None),
    };
    let fixed = match head.as_str() {
        "customer_request" | "human_request" | "explicit_request" | "customer"
        | "requested_human" => "customer asked for a person",
        "sentiment" | "frustration" | "negative_sentiment" | "anger" => "frustration detected",
        "low_confidence" | "low_confidence_streak" | "repeated_low_confidence" => {
            "repeated low bot confidence"
        }
        "fallback" | "fallbacks" | "repeated_fallback" | "bot_failure" => {
            "the bot failed to understand"
        }
        "loop" | "repetition" | "repeat" => "the conversation was going in circles",
        "bot_request" | "bot_handoff" | "handoff_tool" | "tool_call" => "the bot asked for a human",
        "max_turns" | "long_conversation" | "time_in_bot" | "too_long" => "too long with the bot",
        "vip" | "customer_attribute" | "tier" => "priority customer",
        "agent_takeover" | "takeover" => "an agent took over",
        "sensitive_topic" => {
            return match tail {
                Some(t) => format!("sensitive topic: {}", humanize(&t)),
                None => "sensitive topic".to_owned(),
            };
        }
        _ => return humanize(&r),
    };
    fixed.to_owned()
}

/// Where it stands, as one sentence.
fn stands(ctx: &Context<'_, '_>) -> String {
    let sent = ctx.sentiment;
    let mood = match sent.frustration {
        Frustration::High => "very frustrated",
        Frustration::Medium if sent.trend == Trend::Worsening => "increasingly frustrated",
        Frustration::Medium => "frustrated",
        Frustration::Low => "somewhat annoyed",
        Frustration::None if sent.trajectory.is_empty() => "",
        Frustration::None
            if sent.trajectory.iter().map(|p| p.score).sum::<f64>()
                >= 0.4 * sent.trajectory.len() as f64 =>
        {
            "positive"
        }
        Frustration::None => "calm",
    };
    let mut s = String::new();
    if !mood.is_empty() {
        let _ = write!(s, "Customer is {mood}");
    }
    let joiner = |s: &mut String, clause: &str, and: bool| {
        if s.is_empty() {
            let mut c = clause.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push_str(if and { " and " } else { "; " });
            s.push_str(clause);
        }
    };
    match ctx.input.handoff {
        Some(h) => {
            let label = reason_label(h.reason);
            let clause = match h.source {
                HandoffSource::Customer if label == "customer asked for a person" => {
                    if s.is_empty() {
                        "customer asked for a person".to_owned()
                    } else {
                        "asked for a person".to_owned()
                    }
                }
                HandoffSource::Customer => format!(
                    "{} ({label})",
                    if s.is_empty() {
                        "customer asked for a person"
                    } else {
                        "asked for a person"
                    }
                ),
                HandoffSource::Bot => format!("the bot handed off ({label})"),
                HandoffSource::Llm => format!("the AI assistant handed off ({label})"),
                HandoffSource::Rule => format!("escalation rules handed off ({label})"),
                HandoffSource::Agent => "an agent took over".to_owned(),
                HandoffSource::Api => format!("a handoff was requested through the API ({label})"),
            };
            let and = h.source == HandoffSource::Customer;
            joiner(&mut s, &clause, and);
        }
        None => joiner(&mut s, "no handoff requested yet", false),
    }
    let recent = ctx.customer.contacts_last_7_days;
    if recent > 0 {
        let clause = format!("{} contact in 7 days", ordinal(recent + 1));
        joiner(&mut s, &clause, false);
    }
    s.push('.');
    s
}

/// The 2-3 sentence summary.
pub(crate) fn summary(ctx: &Context<'_, '_>) -> String {
    let keys = ctx.keys();
    let Some(key) = ctx.key.map(|t| t.text) else {
        let mut s = String::from("No customer messages yet.");
        if ctx.input.handoff.is_some() {
            s.push(' ');
            s.push_str(&stands(ctx));
        }
        return s;
    };
    let mut s = topic_want(ctx.primary(), &keys);
    let quote = cut(strip_greeting(key), QUOTE_CHARS);
    let quote = quote.trim_end_matches(['.', ',', ';', ':', ' ']);
    if !quote.is_empty() {
        let _ = write!(s, ": “{quote}”");
    }
    s.push_str(". ");
    s.push_str(&tried(ctx));
    s.push(' ');
    s.push_str(&stands(ctx));
    if s.chars().count() > SUMMARY_MAX_CHARS {
        s = cut(&s, SUMMARY_MAX_CHARS);
    }
    s
}

fn playbook(topic: Topic, k: &Keys<'_>) -> Vec<String> {
    let order = k
        .order
        .as_deref()
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let the_order = k
        .order
        .as_deref()
        .map_or("the order".to_owned(), |o| format!("order {o}"));
    let bought = k
        .order
        .as_deref()
        .map(|o| format!(" (order {o})"))
        .unwrap_or_default();
    let amount = k
        .amount
        .map(|f| format!(" of {}", f.value))
        .unwrap_or_default();
    let email_paren = k.email.map(|e| format!(" ({e})")).unwrap_or_default();
    let email_to = k.email.map(|e| format!(" to {e}")).unwrap_or_default();
    let tracking = k.tracking.map(|t| format!(" ({t})")).unwrap_or_default();
    match topic {
        Topic::Refund => vec![
            format!("Look up what was bought{bought}: payment, delivery, and any refund already issued"),
            "Check the refund policy (return window, item condition); ask for photos only if the customer has not already described the damage".to_owned(),
            format!("Issue the refund{amount} or explain the decision, and confirm the timeline in writing"),
        ],
        Topic::Cancellation => vec![
            format!("Confirm exactly what to cancel (order{order}, subscription or account) and from when"),
            "Check fees, renewals and any retention offer the policy allows; do not push an offer the customer already refused".to_owned(),
            format!("Cancel, then send the written confirmation{email_to}"),
        ],
        Topic::Login => vec![
            format!("Verify the customer's identity before changing anything on the account{email_paren}"),
            "Check the account state: locked, disabled, unverified email, lost 2FA device".to_owned(),
            "Send a password reset or unlock the account, and stay until the customer has signed in".to_owned(),
        ],
        Topic::Delivery => vec![
            format!("Check the carrier status{tracking} and the delivery address on {the_order}"),
            "Compare with the promised date; open a carrier investigation if it shows delivered but never arrived".to_owned(),
            "If lost, late past the promise or damaged: offer a reshipment or a refund per policy".to_owned(),
        ],
        Topic::Billing => vec![
            format!("Compare the disputed charge{amount} with the invoices and payments on the account"),
            "If it is a duplicate or an error: refund it and give the timeline (card refunds take 5-10 business days)".to_owned(),
            "If the charge is correct: explain it line by line and send the invoice".to_owned(),
        ],
        Topic::Fraud => vec![
            "Verify identity through a trusted channel; share no account details before that".to_owned(),
            "Secure the account: revoke sessions, reset credentials, block the card or payment method".to_owned(),
            format!("Escalate to the fraud team with the disputed transactions{amount}"),
        ],
        Topic::Legal => vec![
            "Stay factual; do not admit liability or promise compensation".to_owned(),
            "Forward to the legal or compliance team per policy and tell the customer who will reply and when".to_owned(),
        ],
        Topic::Outage => vec![
            "Check the status page and the incident channel for an ongoing incident".to_owned(),
            "Share the current status and when the next update comes; collect the error message and account id if it is not a known incident".to_owned(),
        ],
    }
}

/// Suggested next steps: acknowledge first when frustrated, check the previous contact if it was
/// recent, the primary topic's playbook, the first step of the other topics, then articles.
pub(crate) fn next_steps(ctx: &Context<'_, '_>, articles: &[ArticleRef]) -> Vec<String> {
    let keys = ctx.keys();
    let mut out: Vec<String> = Vec::new();
    if ctx.sentiment.frustration == Frustration::High {
        out.push("Acknowledge the frustration and the wait first; do not ask again for anything listed in the fields".to_owned());
    }
    if ctx.customer.contacts_last_7_days > 0
        && let Some(last) = &ctx.customer.last_outcome
    {
        let mut s = format!("Read the previous conversation {}", last.id);
        if let Some(r) = last
            .resolution
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            let _ = write!(s, " (closed as “{}”)", cut(r, 60));
        }
        s.push_str(": this is a repeat contact");
        out.push(s);
    }
    let mut first = true;
    for topic in ctx.topics {
        let BriefTopic::Known(t) = topic else {
            continue;
        };
        let steps = playbook(*t, &keys);
        if first {
            out.extend(steps);
            first = false;
        } else if let Some(s) = steps.into_iter().next() {
            out.push(s);
        }
    }
    for a in articles.iter().take(2) {
        out.push(format!("Review article: {}", a.title.trim()));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert(s.clone()));
    out.truncate(MAX_NEXT_STEPS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_on_words() {
        assert_eq!(cut("hello   world", 20), "hello world");
        assert_eq!(cut("hello big world", 10), "hello big…");
        assert_eq!(cut("hello, world", 8), "hello…");
        assert_eq!(cut(&"x".repeat(50), 10).chars().count(), 10);
        assert_eq!(cut("", 10), "");
    }

    #[test]
    fn greetings_are_stripped() {
        assert_eq!(
            strip_greeting("Hi there, my order is late"),
            "my order is late"
        );
        assert_eq!(strip_greeting("Hello! refund please"), "refund please");
        assert_eq!(strip_greeting("hiking boots broke"), "hiking boots broke");
        assert_eq!(strip_greeting("Hi"), "Hi");
    }

    #[test]
    fn reason_labels() {
        assert_eq!(
            reason_label("customer_request"),
            "customer asked for a person"
        );
        assert_eq!(
            reason_label("sensitive_topic:double_charge"),
            "sensitive topic: double charge"
        );
        assert_eq!(reason_label("custom_rule_7"), "custom rule 7");
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(21), "21st");
    }
}
