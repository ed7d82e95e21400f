//! Escalation detection: on every turn, measure every signal that says a person is needed,
//! run the tenant's rules over them, and say what to do and why.
//!
//! ```text
//! RuleSet::from_json / default_rules ─┐
//! DetectorConfig (thresholds, topics) ┴─▶ Detector::new (compile once)
//!                                          │
//! TurnInput (turn, history, customer,      ▼
//!   conversation, now, hours) ──────▶ Detector::evaluate ─▶ Evaluation { signals, fired, decision }
//! ```
//!
//! Everything is pure and explainable: [`Signals`] holds every measured value (and the words
//! that matched), [`Evaluation::fired`] lists every rule that fired, and the [`Decision`]
//! carries a machine-readable reason (`human_request`, `sensitive_topic:refund`,
//! `low_confidence`, `frustration`, `explicit:bot`...). The server stores the evaluation as an
//! event and returns it with the message.
//!
//! Default rules ([`RuleSet::default_rules`], JSON in [`rules::DEFAULT_RULES`]): VIP customers
//! get priority 80; a request for a person escalates at once (or defers with email capture when
//! the queue is closed); safety, fraud, legal, refund and cancellation topics escalate to their
//! team's queue; two low-confidence bot turns in a row or three fallbacks escalate; loops and
//! frustration offer a person. Explicit requests (bot, LLM tool call, agent, API) bypass the
//! rules and always escalate.

pub mod embeddings;
pub mod eval;
pub mod frustration;
pub mod grievance;
pub mod human_request;
pub mod lexicon;
pub mod model;
pub mod plan;
pub mod request_model;
pub mod rules;
pub mod sentiment;
pub mod text;
pub mod topics;
pub mod training;

pub use frustration::{Frustration, FrustrationWeights};
pub use human_request::HumanRequest;
pub use rules::{Action, Condition, Op, Rule, RuleError, RuleSet, SignalName};
pub use topics::{TopicMatch, TopicSet};

use crate::conversation::HandoffSource;
use crate::time::Timestamp;
use crate::values::Priority;
use regex::Regex;
use rules::HoursCondition;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use text::Tokens;
use topics::TopicMatcher;

/// Who wrote a turn the detector looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnRole {
    /// The customer.
    Customer,
    /// The bot.
    Bot,
}

/// One turn: the new one, or one from the history.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    /// Who wrote it.
    pub role: TurnRole,
    /// The text.
    pub text: &'a str,
    /// Bot confidence in [0, 1], for bot turns that report one.
    pub confidence: Option<f64>,
    /// Whether a bot turn was a fallback ("I didn't understand").
    pub fallback: bool,
    /// When it was written.
    pub at: Timestamp,
}

impl<'a> Turn<'a> {
    /// A customer turn.
    pub fn customer(text: &'a str, at: Timestamp) -> Self {
        Turn {
            role: TurnRole::Customer,
            text,
            confidence: None,
            fallback: false,
            at,
        }
    }

    /// A bot turn.
    pub fn bot(text: &'a str, confidence: Option<f64>, fallback: bool, at: Timestamp) -> Self {
        Turn {
            role: TurnRole::Bot,
            text,
            confidence,
            fallback,
            at,
        }
    }
}

/// What the detector knows about the customer.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerInfo<'a> {
    /// Tier, e.g. `vip`.
    pub tier: Option<&'a str>,
    /// Preferred language.
    pub language: Option<&'a str>,
    /// Free attributes.
    pub attributes: Option<&'a Map<String, Value>>,
}

/// What the detector knows about the conversation.
#[derive(Debug, Clone, Copy)]
pub struct ConversationInfo<'a> {
    /// Channel (`web`, `whatsapp`, `api`...).
    pub channel: &'a str,
    /// Conversation attributes (page URL, order context...).
    pub attributes: Option<&'a Map<String, Value>>,
    /// When it started.
    pub started_at: Timestamp,
    /// Bot turns so far, if the caller counts them (the history may be truncated).
    pub bot_turns: u32,
    /// Customer turns so far, if the caller counts them.
    pub customer_turns: u32,
}

impl Default for ConversationInfo<'_> {
    fn default() -> Self {
        ConversationInfo {
            channel: "api",
            attributes: None,
            started_at: Timestamp::EPOCH,
            bot_turns: 0,
            customer_turns: 0,
        }
    }
}

/// A request for a person that bypasses the rules (bot, LLM tool call, agent takeover, API).
#[derive(Debug, Clone, Copy)]
pub struct ExplicitRequest<'a> {
    /// Who asked.
    pub source: HandoffSource,
    /// Their reason, if they gave one; the decision reason is `explicit:<source>` otherwise.
    pub reason: Option<&'a str>,
    /// Target queue, if they chose one.
    pub queue: Option<&'a str>,
}

/// Everything the detector needs for one turn. Borrows; build it per turn for free.
#[derive(Debug, Clone, Copy)]
pub struct TurnInput<'a> {
    /// The new turn.
    pub turn: Turn<'a>,
    /// A button or quick-reply payload sent with the turn: a string (`"talk_to_human"`) or an
    /// object with an `action` (`{"action": "talk_to_human"}`).
    pub payload: Option<&'a Value>,
    /// Earlier turns, oldest first (the last few dozen are plenty).
    pub history: &'a [Turn<'a>],
    /// The customer.
    pub customer: CustomerInfo<'a>,
    /// The conversation.
    pub conversation: ConversationInfo<'a>,
    /// Now.
    pub now: Timestamp,
    /// Whether the target queue is open now (from [`crate::hours::Calendar::is_open`]);
    /// `None` when it has no calendar.
    pub business_open: Option<bool>,
    /// An explicit request made with this turn.
    pub explicit: Option<ExplicitRequest<'a>>,
}

impl<'a> TurnInput<'a> {
    /// A lone customer message with no context (evaluation, tests).
    pub fn customer_text(text: &'a str) -> Self {
        TurnInput {
            turn: Turn::customer(text, Timestamp::EPOCH),
            payload: None,
            history: &[],
            customer: CustomerInfo::default(),
            conversation: ConversationInfo::default(),
            now: Timestamp::EPOCH,
            business_open: None,
            explicit: None,
        }
    }
}

/// Thresholds and topic sets. Serde with defaults, so a tenant may override any field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectorConfig {
    /// A bot turn below this confidence counts toward the low-confidence streak.
    pub low_confidence_threshold: f64,
    /// Minimum human-request confidence of a rule hit to count as detected.
    pub human_request_threshold: f64,
    /// Probability of the learned human-request model at or above which a message the rules
    /// leave open is a request (see [`request_model`]; above 1: rules only).
    pub human_request_model_threshold: f64,
    /// Payload values that mean "talk to a person".
    pub human_payloads: Vec<String>,
    /// Customer tiers that count as VIP.
    pub vip_tiers: Vec<String>,
    /// Word-bag similarity at which a message repeats an earlier one.
    pub loop_similarity: f64,
    /// How many earlier turns of each role to compare for loops.
    pub loop_window: usize,
    /// Frustration cue weights and threshold.
    pub frustration: FrustrationWeights,
    /// Sensitive topics.
    pub topics: Vec<TopicSet>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            low_confidence_threshold: 0.5,
            human_request_threshold: 0.5,
            human_request_model_threshold: request_model::THRESHOLD,
            human_payloads: [
                "talk_to_human",
                "talk_to_agent",
                "human",
                "agent",
                "live_agent",
                "handoff",
            ]
            .map(String::from)
            .to_vec(),
            vip_tiers: vec!["vip".into()],
            loop_similarity: 0.8,
            loop_window: 3,
            frustration: FrustrationWeights::default(),
            topics: topics::default_topics(),
        }
    }
}

/// Every value the detector measured for one turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Signals {
    /// Role of the turn.
    pub role: Option<TurnRole>,
    /// Request for a person (customer turns).
    pub human_request: HumanRequest,
    /// A "talk to a person" button was pressed.
    pub button: bool,
    /// Sentiment and frustration (customer turns).
    pub frustration: Frustration,
    /// Sensitive topics matched (customer turns).
    pub topics: Vec<TopicMatch>,
    /// Consecutive most recent bot turns below the confidence threshold.
    pub low_confidence_streak: u32,
    /// Bot fallback turns seen.
    pub fallback_count: u32,
    /// The bot repeated its previous answer.
    pub bot_loop: bool,
    /// The customer repeated an earlier message.
    pub customer_loop: bool,
    /// Bot turns so far.
    pub bot_turns: u32,
    /// Customer turns so far.
    pub customer_turns: u32,
    /// Minutes since the conversation started.
    pub minutes_in_bot: f64,
    /// The customer is in a VIP tier.
    pub vip: bool,
    /// Channel.
    pub channel: String,
    /// Whether the target queue is open (`None`: no calendar).
    pub open_hours: Option<bool>,
}

/// A rule that fired, with what it does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiredRule {
    /// Rule id.
    pub id: String,
    /// Rule name.
    pub name: String,
    /// Its actions.
    pub actions: Vec<Action>,
}

/// What to do with the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionAction {
    /// Hand over now.
    Escalate,
    /// Ask the customer whether they want a person.
    OfferHuman,
    /// Keep the bot, capture contact details, follow up.
    Defer,
}

/// The detector's conclusion for a turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// What to do.
    pub action: DecisionAction,
    /// Machine-readable reason, e.g. `human_request`, `sensitive_topic:refund`.
    pub reason: String,
    /// Who asked: a rule, or the explicit requester.
    pub source: HandoffSource,
    /// The deciding rule, when a rule decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Target queue (the deciding rule's route, else the first route among fired rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The highest priority set by any fired rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Tags from every fired rule.
    pub tags: Vec<String>,
    /// Teams to notify, from every fired rule.
    pub notify: Vec<String>,
    /// For `defer`: ask for an email address.
    pub capture_email: bool,
}

/// The result of evaluating one turn: stored as an event, returned with the message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Every measured value.
    pub signals: Signals,
    /// Every rule that fired, in order.
    pub fired: Vec<FiredRule>,
    /// What to do, if anything.
    pub decision: Option<Decision>,
}

/// Rules and matchers compiled once (per rule or configuration change), then shared by all
/// turns. `Send + Sync`; wrap in an `Arc` and swap it when the rules change.
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    rules: RuleSet,
    topics: TopicMatcher,
}

impl Detector {
    /// Compiles a detector. Fails when a rule names a topic the configuration lacks.
    pub fn new(config: DetectorConfig, rules: RuleSet) -> Result<Detector, RuleError> {
        let topics = TopicMatcher::new(&config.topics);
        for (path, name) in rules.topic_refs() {
            if !topics.contains(&name) {
                let known: Vec<&str> = config.topics.iter().map(|t| t.name.as_str()).collect();
                return Err(RuleError {
                    path,
                    message: format!(
                        "unknown topic '{name}', configured topics: {}",
                        known.join(", ")
                    ),
                });
            }
        }
        human_request::warm_up();
        frustration::warm_up();
        request_model::warm_up();
        Ok(Detector {
            config,
            rules,
            topics,
        })
    }

    /// The default configuration and rules.
    pub fn with_defaults() -> Detector {
        let config = DetectorConfig::default();
        let topics = TopicMatcher::new(&config.topics);
        human_request::warm_up();
        frustration::warm_up();
        request_model::warm_up();
        Detector {
            config,
            rules: RuleSet::default_rules(),
            topics,
        }
    }

    /// The rules in use.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The configuration in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    fn is_human_payload(&self, p: &Value) -> bool {
        let s = match p {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o
                .get("action")
                .or_else(|| o.get("payload"))
                .and_then(Value::as_str),
            _ => None,
        };
        s.is_some_and(|s| {
            self.config
                .human_payloads
                .iter()
                .any(|h| h.eq_ignore_ascii_case(s))
        })
    }

    /// Measures the signals of one turn, without running the rules.
    pub fn signals(&self, input: &TurnInput<'_>) -> Signals {
        let cfg = &self.config;
        let turn = &input.turn;
        let mut s = Signals {
            role: Some(turn.role),
            channel: input.conversation.channel.to_string(),
            open_hours: input.business_open,
            ..Signals::default()
        };

        // Bot performance over history plus this turn.
        let all = || input.history.iter().chain(std::iter::once(turn));
        let mut streak = 0;
        for t in input
            .history
            .iter()
            .chain(std::iter::once(turn))
            .rev()
            .filter(|t| t.role == TurnRole::Bot)
        {
            match t.confidence {
                Some(c) if c < cfg.low_confidence_threshold => streak += 1,
                _ => break,
            }
        }
        s.low_confidence_streak = streak;
        s.fallback_count = all()
            .filter(|t| t.role == TurnRole::Bot && t.fallback)
            .count() as u32;
        let bots = all().filter(|t| t.role == TurnRole::Bot).count() as u32;
        let customers = all().filter(|t| t.role == TurnRole::Customer).count() as u32;
        s.bot_turns = bots.max(input.conversation.bot_turns);
        s.customer_turns = customers.max(input.conversation.customer_turns);
        s.minutes_in_bot =
            (input.now.millis_since(input.conversation.started_at).max(0) as f64) / 60_000.0;
        s.vip = input
            .customer
            .tier
            .is_some_and(|t| cfg.vip_tiers.iter().any(|v| v.eq_ignore_ascii_case(t)));

        let tokens = Tokens::new(turn.text);
        // Loops: this turn against the last few turns of the same role.
        let repeated = if tokens.len() >= 2 {
            let bag = tokens.bag();
            input
                .history
                .iter()
                .rev()
                .filter(|t| t.role == turn.role)
                .take(cfg.loop_window.max(1))
                .any(|t| text::jaccard(&bag, &Tokens::new(t.text).bag()) >= cfg.loop_similarity)
        } else {
            false
        };
        match turn.role {
            TurnRole::Bot => s.bot_loop = repeated,
            TurnRole::Customer => s.customer_loop = repeated,
        }

        if turn.role == TurnRole::Customer {
            s.button = input.payload.is_some_and(|p| self.is_human_payload(p));
            if s.button {
                // A button press: the text is the widget's label ("Talk to a person"), not the
                // customer's words, so it says nothing about their mood.
                s.human_request = HumanRequest {
                    detected: true,
                    confidence: 1.0,
                    kind: Some("button"),
                    ..HumanRequest::default()
                };
            } else {
                let (fr, features) = frustration::measure_with_features(
                    turn.text,
                    &tokens,
                    repeated,
                    &cfg.frustration,
                );
                s.frustration = fr;
                let (mut h, about_bot) = human_request::detect_rules(turn.text, &tokens);
                h.detected = h.detected && h.confidence >= cfg.human_request_threshold;
                let p = if cfg.human_request_model_threshold <= 1.0
                    && request_model::open_to_model(&h, about_bot, tokens.len())
                {
                    request_model::probability(&features)
                } else {
                    None
                };
                s.human_request =
                    request_model::combine(h, about_bot, p, cfg.human_request_model_threshold);
            }
            s.topics = self.topics.find(turn.text, &tokens);
        }
        s
    }

    /// Evaluates one turn: signals, rules, decision.
    pub fn evaluate(&self, input: &TurnInput<'_>) -> Evaluation {
        let signals = self.signals(input);
        let mut fired = Vec::new();
        let mut deciding: Option<(&Rule, DecisionAction, bool)> = None;
        let mut priority: Option<Priority> = None;
        let mut first_route: Option<&str> = None;
        let mut tags: Vec<String> = Vec::new();
        let mut notify: Vec<String> = Vec::new();
        for rule in self.rules.rules().iter().filter(|r| r.enabled) {
            if !self.holds(&rule.when, input, &signals) {
                continue;
            }
            for a in &rule.actions {
                match a {
                    Action::Escalate | Action::OfferHuman | Action::Defer { .. }
                        if deciding.is_none() =>
                    {
                        deciding = Some(match a {
                            Action::Escalate => (rule, DecisionAction::Escalate, false),
                            Action::OfferHuman => (rule, DecisionAction::OfferHuman, false),
                            Action::Defer { capture_email } => {
                                (rule, DecisionAction::Defer, *capture_email)
                            }
                            _ => unreachable!("matched above"),
                        });
                    }
                    Action::Priority { value } => priority = priority.max(Some(*value)),
                    Action::Route { queue } if first_route.is_none() => first_route = Some(queue),
                    Action::Tag { tag } if !tags.contains(tag) => tags.push(tag.clone()),
                    Action::Notify { team } if !notify.contains(team) => notify.push(team.clone()),
                    _ => {}
                }
            }
            fired.push(FiredRule {
                id: rule.id.clone(),
                name: rule.name.clone(),
                actions: rule.actions.clone(),
            });
        }
        let route_of = |r: &Rule| {
            r.actions.iter().find_map(|a| match a {
                Action::Route { queue } => Some(queue.clone()),
                _ => None,
            })
        };
        let decision = if let Some(x) = input.explicit {
            let source = x.source.as_str();
            Some(Decision {
                action: DecisionAction::Escalate,
                reason: x
                    .reason
                    .map_or_else(|| format!("explicit:{source}"), str::to_string),
                source: x.source,
                rule: None,
                queue: x
                    .queue
                    .map(str::to_string)
                    .or_else(|| deciding.and_then(|(r, ..)| route_of(r)))
                    .or(first_route.map(str::to_string)),
                priority,
                tags,
                notify,
                capture_email: false,
            })
        } else {
            deciding.map(|(rule, action, capture_email)| Decision {
                action,
                reason: rule.reason.clone(),
                source: if signals.human_request.detected {
                    HandoffSource::Customer
                } else {
                    HandoffSource::Rule
                },
                rule: Some(rule.id.clone()),
                queue: route_of(rule).or(first_route.map(str::to_string)),
                priority,
                tags,
                notify,
                capture_email,
            })
        };
        Evaluation {
            signals,
            fired,
            decision,
        }
    }

    fn holds(&self, c: &Condition, input: &TurnInput<'_>, s: &Signals) -> bool {
        match c {
            Condition::All(v) => v.iter().all(|c| self.holds(c, input, s)),
            Condition::Any(v) => v.iter().any(|c| self.holds(c, input, s)),
            Condition::Not(c) => !self.holds(c, input, s),
            Condition::Signal { signal, op, value } => op.num(signal_value(*signal, s), *value),
            Condition::TextMatches(re) => text_matches(re, input.turn.text),
            Condition::Customer { path, op, value } => {
                let c = &input.customer;
                let direct = match path.as_str() {
                    "tier" => Some(c.tier.map(|t| Value::String(t.to_string()))),
                    "language" => Some(c.language.map(|t| Value::String(t.to_string()))),
                    _ => None,
                };
                match direct {
                    Some(v) => op.json(v.as_ref(), value),
                    None => op.json(lookup(c.attributes, path), value),
                }
            }
            Condition::Conversation { path, op, value } => {
                let c = &input.conversation;
                if path == "channel" {
                    op.json(Some(&Value::String(c.channel.to_string())), value)
                } else {
                    op.json(lookup(c.attributes, path), value)
                }
            }
            Condition::BusinessHours(h) => match (h, input.business_open) {
                (HoursCondition::Open, Some(open)) => open,
                (HoursCondition::Closed, Some(open)) => !open,
                // No calendar: always open.
                (HoursCondition::Open, None) => true,
                (HoursCondition::Closed, None) => false,
            },
            Condition::Topic(t) => s.topics.iter().any(|m| &m.topic == t),
            Condition::Role(r) => match input.turn.role {
                TurnRole::Customer => r == "customer",
                TurnRole::Bot => r == "bot",
            },
        }
    }
}

fn text_matches(re: &Regex, text: &str) -> bool {
    re.is_match(text)
}

/// Looks up `attributes.a.b` (or `a.b`) in an attribute map.
fn lookup<'v>(attrs: Option<&'v Map<String, Value>>, path: &str) -> Option<&'v Value> {
    let path = path.strip_prefix("attributes.").unwrap_or(path);
    let mut parts = path.split('.');
    let mut v = attrs?.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(v)
}

/// A signal as a number (flags are 0 or 1).
pub fn signal_value(name: SignalName, s: &Signals) -> f64 {
    let b = |x: bool| f64::from(u8::from(x));
    match name {
        SignalName::HumanRequest => b(s.human_request.detected),
        SignalName::HumanRequestConfidence => s.human_request.confidence,
        SignalName::Button => b(s.button),
        SignalName::Sentiment => s.frustration.sentiment,
        SignalName::Frustration => s.frustration.level,
        SignalName::Frustrated => b(s.frustration.frustrated),
        SignalName::Profanity => b(s.frustration.cues.contains(&"profanity")),
        SignalName::LowConfidenceStreak => s.low_confidence_streak as f64,
        SignalName::FallbackCount => s.fallback_count as f64,
        SignalName::BotLoop => b(s.bot_loop),
        SignalName::CustomerLoop => b(s.customer_loop),
        SignalName::BotTurns => s.bot_turns as f64,
        SignalName::CustomerTurns => s.customer_turns as f64,
        SignalName::MinutesInBot => s.minutes_in_bot,
        SignalName::Vip => b(s.vip),
        SignalName::SensitiveTopic => b(!s.topics.is_empty()),
    }
}

#[cfg(test)]
mod tests;
