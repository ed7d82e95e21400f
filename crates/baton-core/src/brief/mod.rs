//! The handoff brief: what an agent reads before saying hello, so the customer never repeats
//! themselves.
//!
//! [`build_brief`] is a pure function of a [`BriefInput`] (transcript, customer profile, past
//! conversations, handoff request, escalation reasons, knowledge-base articles, topic hints and
//! `now`). It computes nothing the caller already knows: per-turn sentiment, escalation reasons,
//! topics and article search come in from the escalation module and the knowledge base. It is
//! cheap enough (well under a millisecond for 50 turns) to rebuild on every new message while the
//! conversation waits.
//!
//! The summary is template-based and extractive, so it works offline and is deterministic. A
//! server with an LLM configured swaps its own text in with [`Brief::with_summary`].

mod extract;
mod greeting;
mod summary;
mod topics;

pub use extract::{
    Extracted, ExtractorError, Extractors, Field, MAX_CUSTOM_EXTRACTORS, MAX_PATTERN_LEN,
    MAX_SCAN_BYTES,
};
pub use topics::Topic;

use crate::conversation::HandoffSource;
use crate::time::Timestamp;
use crate::values::MessageRole;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Bot answers below this confidence count as low-confidence.
pub const LOW_CONFIDENCE: f64 = 0.5;
/// At most this many fields in a brief (a pasted spreadsheet must not flood it).
pub const MAX_FIELDS: usize = 60;
/// At most this many bot attempts listed (the most recent); the counts cover all of them.
pub const MAX_BOT_ATTEMPTS: usize = 20;
/// Bot attempt texts are cut to this many characters.
pub const ATTEMPT_TEXT_CHARS: usize = 160;
/// At most this many related articles.
pub const MAX_ARTICLES: usize = 5;
/// At most this many next steps.
pub const MAX_NEXT_STEPS: usize = 8;
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

/// One transcript entry, borrowed from the caller's rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn<'a> {
    /// The message id (fields and sentiment points refer to it).
    pub message_id: &'a str,
    /// Who wrote it.
    pub role: MessageRole,
    /// The text.
    pub text: &'a str,
    /// When.
    pub at: Timestamp,
    /// Bot turns: the bot's confidence in [0, 1].
    pub bot_confidence: Option<f64>,
    /// Bot turns: the intent it answered.
    pub bot_intent: Option<&'a str>,
    /// Bot turns: "I didn't understand".
    pub fallback: bool,
    /// Bot turns: the title of the knowledge-base article the answer came from.
    pub bot_article: Option<&'a str>,
    /// Customer turns: compound sentiment in [-1, 1], computed by the caller.
    pub sentiment: Option<f64>,
}

impl<'a> Turn<'a> {
    /// A customer turn.
    pub fn customer(
        message_id: &'a str,
        text: &'a str,
        at: Timestamp,
        sentiment: Option<f64>,
    ) -> Self {
        Turn {
            message_id,
            role: MessageRole::Customer,
            text,
            at,
            bot_confidence: None,
            bot_intent: None,
            fallback: false,
            bot_article: None,
            sentiment,
        }
    }

    /// A bot turn.
    pub fn bot(message_id: &'a str, text: &'a str, at: Timestamp, confidence: Option<f64>) -> Self {
        Turn {
            role: MessageRole::Bot,
            bot_confidence: confidence,
            sentiment: None,
            ..Turn::customer(message_id, text, at, None)
        }
    }

    /// A turn of any other role (agent, system, note).
    pub fn other(message_id: &'a str, role: MessageRole, text: &'a str, at: Timestamp) -> Self {
        Turn {
            role,
            ..Turn::customer(message_id, text, at, None)
        }
    }
}

/// What Baton knows about the customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CustomerProfile<'a> {
    /// Display name, if known.
    pub name: Option<&'a str>,
    /// Tier or plan (`gold`, `enterprise`...).
    pub tier: Option<&'a str>,
    /// Preferred language (BCP 47).
    pub language: Option<&'a str>,
    /// Email on file.
    pub email: Option<&'a str>,
}

/// One earlier conversation of the same customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastConversation<'a> {
    /// Its id.
    pub id: &'a str,
    /// When it closed.
    pub closed_at: Timestamp,
    /// The resolution recorded at close.
    pub resolution: Option<&'a str>,
    /// Its CSAT score, 1 to 5.
    pub csat: Option<u8>,
}

/// The handoff request the brief is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffRequest<'a> {
    /// Machine-readable reason (`customer_request`, `sentiment`, `sensitive_topic:refund`...).
    pub reason: &'a str,
    /// Who asked.
    pub source: HandoffSource,
    /// Free-text note for the agent.
    pub note: Option<&'a str>,
    /// When.
    pub at: Timestamp,
}

/// A rule or signal that fired, as recorded by the escalation detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The rule id or signal name (`human_request`, `frustration`, `low_confidence_streak`).
    pub rule: String,
    /// What it saw, for people ("customer wrote 'let me talk to a human'").
    pub detail: String,
}

/// A knowledge-base article related to the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleRef {
    /// Article id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Search relevance, higher is better.
    pub score: f64,
}

/// Everything [`build_brief`] reads.
#[derive(Debug, Clone, Copy)]
pub struct BriefInput<'a> {
    /// The transcript in order (customer, bot, agent, system turns and notes).
    pub turns: &'a [Turn<'a>],
    /// The customer.
    pub customer: CustomerProfile<'a>,
    /// The customer's earlier conversations, any order.
    pub past: &'a [PastConversation<'a>],
    /// The handoff request, once there is one.
    pub handoff: Option<HandoffRequest<'a>>,
    /// The rules and signals that fired.
    pub reasons: &'a [Reason],
    /// Knowledge-base articles found for the conversation.
    pub articles: &'a [ArticleRef],
    /// Topics from the escalation module, most relevant first (`refund`, `double_charge`...).
    pub topics: &'a [&'a str],
    /// The first name of the agent who will greet the customer.
    pub agent_name: Option<&'a str>,
    /// Built-in and tenant extractors.
    pub extractors: &'a Extractors,
    /// The time of the build.
    pub now: Timestamp,
}

impl<'a> BriefInput<'a> {
    /// An input with only a transcript; set the other fields as known.
    pub fn new(turns: &'a [Turn<'a>], extractors: &'a Extractors, now: Timestamp) -> Self {
        BriefInput {
            turns,
            customer: CustomerProfile::default(),
            past: &[],
            handoff: None,
            reasons: &[],
            articles: &[],
            topics: &[],
            agent_name: None,
            extractors,
            now,
        }
    }
}

/// Where the summary text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummarySource {
    /// Built-in templates over the transcript.
    Template,
    /// A language model (set with [`Brief::with_summary`]).
    Llm,
}

/// Direction of the customer's sentiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Getting more positive.
    Improving,
    /// About the same (or too few points to tell).
    Steady,
    /// Getting more negative.
    Worsening,
}

/// How frustrated the customer is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frustration {
    /// Not frustrated.
    None,
    /// Somewhat annoyed.
    Low,
    /// Frustrated.
    Medium,
    /// Very frustrated: acknowledge it first.
    High,
}

/// One point of the sentiment trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentPoint {
    /// The customer message.
    pub message_id: String,
    /// Compound sentiment in [-1, 1], rounded to 2 decimals.
    pub score: f64,
}

/// The customer's sentiment over the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentSummary {
    /// One point per scored customer turn, in order.
    pub trajectory: Vec<SentimentPoint>,
    /// The latest score (0 without any).
    pub current: f64,
    /// The lowest score.
    pub lowest: f64,
    /// Direction.
    pub trend: Trend,
    /// Current frustration level.
    pub frustration: Frustration,
}

/// The handoff request as shown to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffView {
    /// Machine-readable reason.
    pub reason: String,
    /// The reason in words ("customer asked for a person").
    pub label: String,
    /// Who asked.
    pub source: HandoffSource,
    /// Note for the agent.
    pub note: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// What kind of bot turn an attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    /// It answered.
    Answer,
    /// It asked the customer something.
    Question,
    /// It did not understand.
    Fallback,
}

/// One bot turn, as the agent needs to see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotAttempt {
    /// The bot message.
    pub message_id: String,
    /// Its text, cut to [`ATTEMPT_TEXT_CHARS`] characters.
    pub text: String,
    /// Its confidence, rounded to 2 decimals.
    pub confidence: Option<f64>,
    /// The intent it answered.
    pub intent: Option<String>,
    /// The article it used.
    pub article: Option<String>,
    /// Answer, question or fallback.
    pub kind: AttemptKind,
}

/// Counts over all bot turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BotStats {
    /// Bot turns.
    pub turns: u32,
    /// Of which answers.
    pub answers: u32,
    /// Of which questions.
    pub questions: u32,
    /// Of which fallbacks.
    pub fallbacks: u32,
    /// Turns with confidence below [`LOW_CONFIDENCE`] (fallbacks included).
    pub low_confidence: u32,
    /// Mean confidence over turns that reported one, rounded to 2 decimals.
    pub average_confidence: Option<f64>,
    /// Articles the bot answered from, in first-use order.
    pub articles_used: Vec<String>,
}

/// An earlier conversation's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastOutcome {
    /// Its id.
    pub id: String,
    /// When it closed.
    pub closed_at: Timestamp,
    /// Its resolution.
    pub resolution: Option<String>,
    /// Its CSAT score.
    pub csat: Option<u8>,
}

/// The customer as shown in the brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    /// Display name.
    pub name: Option<String>,
    /// Tier or plan.
    pub tier: Option<String>,
    /// Preferred language.
    pub language: Option<String>,
    /// Email on file.
    pub email: Option<String>,
    /// Number of earlier conversations.
    pub past_conversations: u32,
    /// Earlier conversations closed in the 7 days before `now`.
    pub contacts_last_7_days: u32,
    /// The most recent earlier conversation.
    pub last_outcome: Option<PastOutcome>,
}

/// Transcript counts (the transcript itself is served next to the brief).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptStats {
    /// All turns.
    pub messages: u32,
    /// Customer turns.
    pub customer_messages: u32,
    /// First turn time.
    pub started_at: Option<Timestamp>,
    /// Last turn time.
    pub last_message_at: Option<Timestamp>,
}

/// The handoff brief. Field order is the JSON order, and stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brief {
    /// 2-3 sentences: what the customer wants, what was tried, where it stands.
    pub summary: String,
    /// Template or LLM.
    pub summary_source: SummarySource,
    /// Topics, most relevant first (brief topic names where known, caller hints otherwise).
    pub topics: Vec<String>,
    /// Extracted values, customer-written first, deduplicated by (name, value).
    pub fields: Vec<Field>,
    /// Sentiment trajectory and frustration.
    pub sentiment: SentimentSummary,
    /// The handoff request.
    pub handoff: Option<HandoffView>,
    /// Who asked for a person.
    pub requested_by: Option<HandoffSource>,
    /// The rules and signals that fired.
    pub reasons: Vec<Reason>,
    /// Counts over bot turns.
    pub bot: BotStats,
    /// The most recent bot turns.
    pub bot_attempts: Vec<BotAttempt>,
    /// Suggested next steps for the agent.
    pub next_steps: Vec<String>,
    /// Related knowledge-base articles, best first.
    pub articles: Vec<ArticleRef>,
    /// A first message for the agent that restates the issue, in [`Brief::reply_language`]
    /// (English when that is unknown); `None` in a language Baton does not write.
    pub greeting: Option<String>,
    /// The language to reply in: the customer profile's, else the one the customer writes in
    /// when it can be told (primary subtag, `es`); `None` when unknown.
    pub reply_language: Option<String>,
    /// The customer.
    pub customer: CustomerView,
    /// Transcript counts.
    pub transcript: TranscriptStats,
    /// When it was built.
    pub generated_at: Timestamp,
}

impl Brief {
    /// The same brief with another summary (an LLM's), marked as such. Empty text keeps the
    /// template summary.
    pub fn with_summary(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        let text = text.trim();
        if !text.is_empty() {
            self.summary = text.to_owned();
            self.summary_source = SummarySource::Llm;
        }
        self
    }

    /// The first field with this name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Builds the brief. Pure and deterministic: the same input gives the same brief.
pub fn build_brief(input: &BriefInput<'_>) -> Brief {
    let turns = input.turns;
    let fields = extract_fields(input);
    let sentiment = sentiment_summary(input);
    let (bot, bot_attempts) = bot_summary(turns);
    // Topic keyword counts per customer turn, computed once: ranking and the key turn use them.
    let turn_topics: Vec<(usize, TopicCounts)> = turns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.role == MessageRole::Customer)
        .map(|(i, t)| {
            let mut counts = topics::empty_counts();
            topics::topic_hits(extract::clip(t.text, MAX_SCAN_BYTES), &mut counts);
            (i, counts)
        })
        .collect();
    let topics = rank_topics(input, &turn_topics);
    let customer = customer_view(input);
    let handoff = input.handoff.map(|h| HandoffView {
        reason: h.reason.to_owned(),
        label: summary::reason_label(h.reason),
        source: h.source,
        note: h.note.map(str::to_owned),
        at: h.at,
    });
    let mut articles: Vec<ArticleRef> = input.articles.to_vec();
    articles.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    articles.truncate(MAX_ARTICLES);

    let mut ctx = summary::Context {
        input,
        fields: &fields,
        sentiment: &sentiment,
        bot: &bot,
        topics: &topics,
        customer: &customer,
        turn_topics: &turn_topics,
        key: None,
    };
    ctx.key = summary::key_turn(&ctx);
    let summary = summary::summary(&ctx);
    let reply_language = crate::language::of_customer(
        input.customer.language,
        turns
            .iter()
            .filter(|t| t.role == MessageRole::Customer)
            .map(|t| t.text),
    );
    let greeting = greeting::greeting(&ctx, reply_language.as_deref());
    let next_steps = summary::next_steps(&ctx, &articles);

    Brief {
        summary,
        summary_source: SummarySource::Template,
        topics: topics.iter().map(|t| t.name().to_owned()).collect(),
        fields,
        sentiment,
        requested_by: input.handoff.map(|h| h.source),
        handoff,
        reasons: input.reasons.to_vec(),
        bot,
        bot_attempts,
        next_steps,
        articles,
        greeting,
        reply_language,
        customer,
        transcript: TranscriptStats {
            messages: turns.len() as u32,
            customer_messages: turns
                .iter()
                .filter(|t| t.role == MessageRole::Customer)
                .count() as u32,
            started_at: turns.first().map(|t| t.at),
            last_message_at: turns.last().map(|t| t.at),
        },
        generated_at: input.now,
    }
}

/// Keyword hits per topic in one text.
pub(crate) type TopicCounts = [(Topic, u32); 8];

/// A topic of this brief: one with a template and playbook, or a caller hint we only name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BriefTopic {
    Known(Topic),
    Other(String),
}

impl BriefTopic {
    fn name(&self) -> &str {
        match self {
            BriefTopic::Known(t) => t.as_str(),
            BriefTopic::Other(s) => s,
        }
    }
}

/// Caller hints first, then the topic named in the handoff reason, then the brief's own lexicon
/// over the customer's words (at least 2 hits when the caller named topics). At most 3.
fn rank_topics(input: &BriefInput<'_>, turn_topics: &[(usize, TopicCounts)]) -> Vec<BriefTopic> {
    fn push(t: BriefTopic, out: &mut Vec<BriefTopic>) {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    let mut out: Vec<BriefTopic> = Vec::new();
    for hint in input.topics {
        let hint = hint.trim();
        if hint.is_empty() {
            continue;
        }
        match Topic::from_hint(hint) {
            Some(t) => push(BriefTopic::Known(t), &mut out),
            None => push(BriefTopic::Other(hint.to_owned()), &mut out),
        }
    }
    if let Some(t) = input.handoff.and_then(|h| Topic::from_reason(h.reason)) {
        push(BriefTopic::Known(t), &mut out);
    }
    let mut counts = topics::empty_counts();
    for (_, c) in turn_topics {
        for (total, (topic, n)) in counts.iter_mut().zip(c) {
            total.0 = *topic;
            total.1 += n;
        }
    }
    let mut ranked: Vec<(Topic, u32)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    // Most hits first; ties by the fixed order of Topic::ALL (fraud before billing...).
    let order = |t: Topic| {
        Topic::ALL
            .iter()
            .position(|x| *x == t)
            .unwrap_or(usize::MAX)
    };
    ranked.sort_by_key(|&(t, n)| (std::cmp::Reverse(n), order(t)));
    // Next to the caller's topics, a keyword seen once ("shipped") is noise, not a topic.
    let min_hits = if out.is_empty() { 1 } else { 2 };
    for (t, n) in ranked {
        if n >= min_hits {
            push(BriefTopic::Known(t), &mut out);
        }
    }
    out.truncate(3);
    out
}

fn extract_fields(input: &BriefInput<'_>) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut buf = Vec::new();
    // Customer turns first: their words are what the agent must not ask for again.
    let customer = input
        .turns
        .iter()
        .filter(|t| t.role == MessageRole::Customer);
    let others = input
        .turns
        .iter()
        .filter(|t| !matches!(t.role, MessageRole::Customer | MessageRole::System));
    for turn in customer.chain(others) {
        buf.clear();
        input
            .extractors
            .extract_into(turn.text, turn.role == MessageRole::Customer, &mut buf);
        for e in buf.drain(..) {
            if fields.len() >= MAX_FIELDS {
                return fields;
            }
            if seen.insert((e.name.to_string(), e.value.clone())) {
                fields.push(extract::field_from(e, turn.message_id, turn.role));
            }
        }
    }
    fields
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn sentiment_summary(input: &BriefInput<'_>) -> SentimentSummary {
    let trajectory: Vec<SentimentPoint> = input
        .turns
        .iter()
        .filter(|t| t.role == MessageRole::Customer)
        .filter_map(|t| {
            let s = t.sentiment.filter(|s| s.is_finite())?.clamp(-1.0, 1.0);
            Some(SentimentPoint {
                message_id: t.message_id.to_owned(),
                score: round2(s),
            })
        })
        .collect();
    let scores: Vec<f64> = trajectory.iter().map(|p| p.score).collect();
    let current = scores.last().copied().unwrap_or(0.0);
    let lowest = scores.iter().copied().fold(0.0_f64, f64::min);
    let trend = if scores.len() < 2 {
        Trend::Steady
    } else {
        let k = if scores.len() >= 4 { 2 } else { 1 };
        let delta = mean(&scores[scores.len() - k..]) - mean(&scores[..k]);
        if delta <= -0.25 {
            Trend::Worsening
        } else if delta >= 0.25 {
            Trend::Improving
        } else {
            Trend::Steady
        }
    };
    // Half the latest turn, half the last three: one calm "ok" after a rant is not calm.
    let recent = &scores[scores.len().saturating_sub(3)..];
    let level = 0.5 * current + 0.5 * mean(recent);
    let mut frustration = if scores.is_empty() {
        Frustration::None
    } else if level <= -0.6 {
        Frustration::High
    } else if level <= -0.35 {
        Frustration::Medium
    } else if level <= -0.1 {
        Frustration::Low
    } else {
        Frustration::None
    };
    // The detector saw frustration (caps, repeated complaints...) even if the score is mild.
    let flagged = input.reasons.iter().any(|r| is_frustration_rule(&r.rule))
        || input.handoff.is_some_and(|h| is_frustration_rule(h.reason));
    if flagged && frustration < Frustration::Medium {
        frustration = Frustration::Medium;
    }
    SentimentSummary {
        trajectory,
        current,
        lowest: round2(lowest),
        trend,
        frustration,
    }
}

fn is_frustration_rule(rule: &str) -> bool {
    let r = rule.to_ascii_lowercase();
    r.contains("frustrat") || r.contains("sentiment") || r.contains("anger")
}

fn bot_summary(turns: &[Turn<'_>]) -> (BotStats, Vec<BotAttempt>) {
    let mut stats = BotStats::default();
    let mut attempts = Vec::new();
    let mut conf_sum = 0.0;
    let mut conf_n = 0u32;
    for t in turns.iter().filter(|t| t.role == MessageRole::Bot) {
        stats.turns += 1;
        let kind = attempt_kind(t);
        match kind {
            AttemptKind::Answer => stats.answers += 1,
            AttemptKind::Question => stats.questions += 1,
            AttemptKind::Fallback => stats.fallbacks += 1,
        }
        let confidence = t
            .bot_confidence
            .filter(|c| c.is_finite())
            .map(|c| c.clamp(0.0, 1.0));
        if let Some(c) = confidence {
            conf_sum += c;
            conf_n += 1;
        }
        if t.fallback || confidence.is_some_and(|c| c < LOW_CONFIDENCE) {
            stats.low_confidence += 1;
        }
        if let Some(a) = t.bot_article.map(str::trim).filter(|a| !a.is_empty())
            && !stats.articles_used.iter().any(|x| x == a)
        {
            stats.articles_used.push(a.to_owned());
        }
        attempts.push(BotAttempt {
            message_id: t.message_id.to_owned(),
            text: summary::cut(t.text, ATTEMPT_TEXT_CHARS),
            confidence: confidence.map(round2),
            intent: t.bot_intent.map(str::to_owned),
            article: t.bot_article.map(str::to_owned),
            kind,
        });
    }
    if conf_n > 0 {
        stats.average_confidence = Some(round2(conf_sum / f64::from(conf_n)));
    }
    if attempts.len() > MAX_BOT_ATTEMPTS {
        attempts.drain(..attempts.len() - MAX_BOT_ATTEMPTS);
    }
    (stats, attempts)
}

/// Fallback if flagged; question if the turn's last sentence asks something; answer otherwise.
pub(crate) fn attempt_kind(t: &Turn<'_>) -> AttemptKind {
    if t.fallback {
        AttemptKind::Fallback
    } else if t.text.trim_end().ends_with('?') {
        AttemptKind::Question
    } else {
        AttemptKind::Answer
    }
}

fn customer_view(input: &BriefInput<'_>) -> CustomerView {
    let c = &input.customer;
    let clean = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let last = input.past.iter().max_by_key(|p| (p.closed_at, p.id));
    let recent = input
        .past
        .iter()
        .filter(|p| p.closed_at <= input.now && input.now.millis_since(p.closed_at) <= WEEK_MS)
        .count();
    CustomerView {
        name: clean(c.name),
        tier: clean(c.tier),
        language: clean(c.language),
        email: clean(c.email),
        past_conversations: input.past.len() as u32,
        contacts_last_7_days: recent as u32,
        last_outcome: last.map(|p| PastOutcome {
            id: p.id.to_owned(),
            closed_at: p.closed_at,
            resolution: p.resolution.map(str::to_owned),
            csat: p.csat,
        }),
    }
}

#[cfg(test)]
mod tests;
