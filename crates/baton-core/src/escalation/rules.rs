//! Tenant rules as data: conditions over signals and attributes, and the actions they take.
//!
//! Rules are JSON (`{"rules": [...]}`); [`RuleSet::from_json`] validates everything, compiles
//! regular expressions once, and reports the first problem with a JSON-pointer path such as
//! `/rules/3/when/any/1/signal`. A rule set is accepted whole or not at all.

use crate::values::Priority;
use regex::Regex;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use std::fmt;

/// Why a rule set was rejected: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RuleError {
    /// JSON pointer to the offending value, e.g. `/rules/3/when/any/1/signal`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, RuleError> {
    Err(RuleError {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        message: message.into(),
    })
}

/// A number or flag measured by the detector, usable in `{"signal": ...}` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalName {
    /// The customer asked for a person (bool).
    HumanRequest,
    /// Confidence of that request, 0..1.
    HumanRequestConfidence,
    /// A "talk to a person" button was pressed (bool).
    Button,
    /// VADER compound sentiment, -1..1.
    Sentiment,
    /// Frustration level, 0..1.
    Frustration,
    /// Frustration at or above the configured threshold (bool).
    Frustrated,
    /// Profanity in the turn (bool).
    Profanity,
    /// Consecutive recent bot turns below the confidence threshold.
    LowConfidenceStreak,
    /// Bot fallback turns in the conversation.
    FallbackCount,
    /// The bot gave the same answer twice in a row (bool).
    BotLoop,
    /// The customer repeated an earlier message (bool).
    CustomerLoop,
    /// Bot turns so far.
    BotTurns,
    /// Customer turns so far.
    CustomerTurns,
    /// Minutes since the conversation started.
    MinutesInBot,
    /// The customer's tier is a VIP tier (bool).
    Vip,
    /// Any sensitive topic matched (bool).
    SensitiveTopic,
}

impl SignalName {
    const ALL: &'static [(SignalName, &'static str)] = &[
        (SignalName::HumanRequest, "human_request"),
        (
            SignalName::HumanRequestConfidence,
            "human_request_confidence",
        ),
        (SignalName::Button, "button"),
        (SignalName::Sentiment, "sentiment"),
        (SignalName::Frustration, "frustration"),
        (SignalName::Frustrated, "frustrated"),
        (SignalName::Profanity, "profanity"),
        (SignalName::LowConfidenceStreak, "low_confidence_streak"),
        (SignalName::FallbackCount, "fallback_count"),
        (SignalName::BotLoop, "bot_loop"),
        (SignalName::CustomerLoop, "customer_loop"),
        (SignalName::BotTurns, "bot_turns"),
        (SignalName::CustomerTurns, "customer_turns"),
        (SignalName::MinutesInBot, "minutes_in_bot"),
        (SignalName::Vip, "vip"),
        (SignalName::SensitiveTopic, "sensitive_topic"),
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("", |(_, n)| n)
    }

    fn parse(s: &str) -> Option<SignalName> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(s, _)| *s)
    }

    fn names() -> String {
        Self::ALL
            .iter()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal (`eq`, `==`).
    Eq,
    /// Not equal (`ne`, `!=`).
    Ne,
    /// Greater (`gt`, `>`).
    Gt,
    /// Greater or equal (`gte`, `>=`).
    Gte,
    /// Less (`lt`, `<`).
    Lt,
    /// Less or equal (`lte`, `<=`).
    Lte,
    /// String contains, or array contains (`contains`).
    Contains,
    /// Value is one of a list (`in`).
    In,
    /// The attribute is present and not null (`exists`).
    Exists,
    /// String starts with (`starts_with`).
    StartsWith,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" | "==" | "=" => Op::Eq,
            "ne" | "!=" => Op::Ne,
            "gt" | ">" => Op::Gt,
            "gte" | ">=" => Op::Gte,
            "lt" | "<" => Op::Lt,
            "lte" | "<=" => Op::Lte,
            "contains" => Op::Contains,
            "in" => Op::In,
            "exists" => Op::Exists,
            "starts_with" => Op::StartsWith,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Contains => "contains",
            Op::In => "in",
            Op::Exists => "exists",
            Op::StartsWith => "starts_with",
        }
    }

    /// Compares two numbers.
    pub fn num(self, a: f64, b: f64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Gt => a > b,
            Op::Gte => a >= b,
            Op::Lt => a < b,
            Op::Lte => a <= b,
            _ => false,
        }
    }

    /// Compares an attribute with a rule value.
    pub fn json(self, attr: Option<&Value>, value: &Value) -> bool {
        let Some(attr) = attr.filter(|v| !v.is_null()) else {
            return matches!(self, Op::Ne);
        };
        let eq = |a: &Value, b: &Value| match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => a == b,
            },
        };
        match self {
            Op::Exists => true,
            Op::Eq => eq(attr, value),
            Op::Ne => !eq(attr, value),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => match (attr.as_f64(), value.as_f64()) {
                (Some(a), Some(b)) => self.num(a, b),
                _ => false,
            },
            Op::Contains => match (attr, value.as_str()) {
                (Value::String(s), Some(v)) => s.to_lowercase().contains(&v.to_lowercase()),
                (Value::Array(a), _) => a.iter().any(|x| eq(x, value)),
                _ => false,
            },
            Op::In => value
                .as_array()
                .is_some_and(|a| a.iter().any(|x| eq(attr, x))),
            Op::StartsWith => match (attr.as_str(), value.as_str()) {
                (Some(s), Some(v)) => s.starts_with(v),
                _ => false,
            },
        }
    }
}

/// Business-hours state in a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoursCondition {
    /// The target queue is open.
    Open,
    /// The target queue is closed.
    Closed,
}

/// A condition over one turn.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Every sub-condition holds (empty: true).
    All(Vec<Condition>),
    /// At least one holds (empty: false).
    Any(Vec<Condition>),
    /// The sub-condition does not hold.
    Not(Box<Condition>),
    /// A measured signal compared with a number or flag.
    Signal {
        /// Which signal.
        signal: SignalName,
        /// How to compare.
        op: Op,
        /// Number to compare with (flags: 1 for true, 0 for false).
        value: f64,
    },
    /// The turn text matches a regular expression (compiled once).
    TextMatches(Regex),
    /// A customer field (`tier`, `language`, or an attribute) compared with a value.
    Customer {
        /// Dotted path, e.g. `tier` or `attributes.plan`.
        path: String,
        /// How to compare.
        op: Op,
        /// What to compare with.
        value: Value,
    },
    /// A conversation field (`channel`, or an attribute) compared with a value.
    Conversation {
        /// Dotted path, e.g. `channel` or `attributes.page_url`.
        path: String,
        /// How to compare.
        op: Op,
        /// What to compare with.
        value: Value,
    },
    /// The target queue's business hours.
    BusinessHours(HoursCondition),
    /// A sensitive topic matched.
    Topic(String),
    /// The turn was written by this role (`customer` or `bot`).
    Role(String),
}

/// What a fired rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Hand over to a person now.
    Escalate,
    /// Ask the customer whether they want a person.
    OfferHuman,
    /// Nobody now: keep the bot, optionally capture an email, follow up later.
    Defer {
        /// Ask the customer for an email address.
        capture_email: bool,
    },
    /// Send to this queue.
    Route {
        /// Queue name.
        queue: String,
    },
    /// Set the priority (the highest set by any fired rule wins).
    Priority {
        /// 0..100.
        value: Priority,
    },
    /// Tag the conversation.
    Tag {
        /// The tag.
        tag: String,
    },
    /// Notify a team.
    Notify {
        /// Team name.
        team: String,
    },
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id, unique in the set (`[a-z0-9_-]`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Disabled rules are kept but never evaluated.
    pub enabled: bool,
    /// Evaluation order, ascending; the first deciding rule wins.
    pub order: i64,
    /// Machine-readable reason recorded when this rule decides (defaults to the id).
    pub reason: String,
    /// When it fires.
    pub when: Condition,
    /// What it does.
    pub actions: Vec<Action>,
}

/// A validated, ordered set of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Builds a set from rules, checking ids are unique, and sorts it by `order`.
    pub fn new(mut rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        for (i, r) in rules.iter().enumerate() {
            if rules[..i].iter().any(|o| o.id == r.id) {
                return err(
                    &format!("/rules/{i}/id"),
                    format!("duplicate rule id '{}'", r.id),
                );
            }
        }
        rules.sort_by_key(|r| r.order);
        Ok(RuleSet { rules })
    }

    /// Parses and validates a rule set: `{"rules": [...]}` or a bare array of rules.
    pub fn from_json(s: &str) -> Result<RuleSet, RuleError> {
        let v: Value = serde_json::from_str(s).map_err(|e| RuleError {
            path: "/".into(),
            message: format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        })?;
        Self::from_value(&v)
    }

    /// Like [`RuleSet::from_json`] for an already parsed value.
    pub fn from_value(v: &Value) -> Result<RuleSet, RuleError> {
        let (arr, base) = match v {
            Value::Array(a) => (a, ""),
            Value::Object(o) => {
                check_keys(o, "", &["rules"])?;
                match o.get("rules") {
                    Some(Value::Array(a)) => (a, "/rules"),
                    Some(_) => return err("/rules", "must be an array of rules"),
                    None => return err("/rules", "missing: expected {\"rules\": [...]}"),
                }
            }
            _ => return err("", "expected an object {\"rules\": [...]}"),
        };
        let mut rules = Vec::with_capacity(arr.len());
        for (i, r) in arr.iter().enumerate() {
            rules.push(parse_rule(r, &format!("{base}/{i}"), i)?);
        }
        RuleSet::new(rules).map_err(|mut e| {
            e.path = e.path.replacen("/rules", base, 1);
            e
        })
    }

    /// The rules as JSON, in the same shape [`RuleSet::from_json`] reads.
    pub fn to_json(&self) -> Value {
        json!({ "rules": self.rules.iter().map(rule_json).collect::<Vec<_>>() })
    }

    /// Topic names referred to by `{"topic": ...}` conditions, with their paths.
    pub fn topic_refs(&self) -> Vec<(String, String)> {
        fn walk(c: &Condition, path: String, out: &mut Vec<(String, String)>) {
            match c {
                Condition::All(v) | Condition::Any(v) => {
                    let k = if matches!(c, Condition::All(_)) {
                        "all"
                    } else {
                        "any"
                    };
                    for (i, c) in v.iter().enumerate() {
                        walk(c, format!("{path}/{k}/{i}"), out);
                    }
                }
                Condition::Not(c) => walk(c, format!("{path}/not"), out),
                Condition::Topic(t) => out.push((format!("{path}/topic"), t.clone())),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            walk(&r.when, format!("/rules/{i}/when"), &mut out);
        }
        out
    }

    /// The defaults a careful support lead would set up (see the module docs of
    /// [`crate::escalation`]).
    pub fn default_rules() -> RuleSet {
        // The JSON below is part of the crate and covered by tests, so it always parses.
        RuleSet::from_json(DEFAULT_RULES).unwrap_or_default()
    }
}

impl Serialize for RuleSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// The default rules, as JSON (also a reference for the format).
pub const DEFAULT_RULES: &str = r#"{"rules": [
  {"id": "vip_priority", "name": "VIP customers get higher priority", "order": 0,
   "when": {"signal": "vip"},
   "actions": [{"type": "priority", "value": 80}, {"type": "tag", "tag": "vip"}]},
  {"id": "human_request_after_hours", "name": "Asked for a person while closed: capture an email", "order": 10,
   "reason": "human_request_after_hours",
   "when": {"all": [{"signal": "human_request"}, {"business_hours": "closed"}]},
   "actions": [{"type": "defer", "capture_email": true}]},
  {"id": "human_request", "name": "The customer asked for a person", "order": 20,
   "reason": "human_request",
   "when": {"signal": "human_request"},
   "actions": [{"type": "escalate"}]},
  {"id": "safety", "name": "Safety or medical emergency", "order": 30,
   "reason": "sensitive_topic:safety",
   "when": {"topic": "safety"},
   "actions": [{"type": "escalate"}, {"type": "priority", "value": 95}, {"type": "route", "queue": "safety"}, {"type": "notify", "team": "safety"}]},
  {"id": "fraud", "name": "Fraud or locked account", "order": 40,
   "reason": "sensitive_topic:fraud",
   "when": {"topic": "fraud"},
   "actions": [{"type": "escalate"}, {"type": "priority", "value": 70}, {"type": "route", "queue": "fraud"}]},
  {"id": "legal", "name": "Legal threat", "order": 50,
   "reason": "sensitive_topic:legal",
   "when": {"topic": "legal"},
   "actions": [{"type": "escalate"}, {"type": "route", "queue": "legal"}, {"type": "notify", "team": "legal"}]},
  {"id": "refund", "name": "Refund or billing", "order": 60,
   "reason": "sensitive_topic:refund",
   "when": {"topic": "refund"},
   "actions": [{"type": "escalate"}, {"type": "route", "queue": "billing"}]},
  {"id": "cancellation", "name": "Cancellation", "order": 70,
   "reason": "sensitive_topic:cancellation",
   "when": {"topic": "cancellation"},
   "actions": [{"type": "escalate"}, {"type": "route", "queue": "retention"}]},
  {"id": "outage", "name": "Possible outage", "order": 80,
   "when": {"topic": "outage"},
   "actions": [{"type": "tag", "tag": "outage"}]},
  {"id": "low_confidence", "name": "Two low-confidence bot turns in a row", "order": 90,
   "reason": "low_confidence",
   "when": {"signal": "low_confidence_streak", "op": ">=", "value": 2},
   "actions": [{"type": "escalate"}]},
  {"id": "bot_fallbacks", "name": "The bot failed three times", "order": 100,
   "reason": "bot_fallbacks",
   "when": {"signal": "fallback_count", "op": ">=", "value": 3},
   "actions": [{"type": "escalate"}]},
  {"id": "loop", "name": "Going round in circles", "order": 110,
   "reason": "loop",
   "when": {"any": [{"signal": "bot_loop"}, {"signal": "customer_loop"}]},
   "actions": [{"type": "offer_human"}]},
  {"id": "frustration", "name": "Frustrated customer: offer a person", "order": 120,
   "reason": "frustration",
   "when": {"all": [{"role": "customer"}, {"signal": "frustrated"}]},
   "actions": [{"type": "offer_human"}, {"type": "tag", "tag": "frustrated"}]}
]}"#;

fn check_keys(o: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), RuleError> {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            return err(
                &format!("{path}/{}", escape(k)),
                format!(
                    "unknown field '{k}', expected one of: {}",
                    allowed.join(", ")
                ),
            );
        }
    }
    Ok(())
}

/// JSON-pointer escaping of one path segment.
fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn str_field<'v>(
    o: &'v Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<&'v str>, RuleError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => err(&format!("{path}/{key}"), "must be a string"),
    }
}

fn parse_rule(v: &Value, path: &str, index: usize) -> Result<Rule, RuleError> {
    let Value::Object(o) = v else {
        return err(path, "a rule must be an object");
    };
    check_keys(
        o,
        path,
        &[
            "id", "name", "enabled", "order", "reason", "when", "actions",
        ],
    )?;
    let id = str_field(o, path, "id")?.ok_or_else(|| RuleError {
        path: format!("{path}/id"),
        message: "missing rule id".into(),
    })?;
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return err(
            &format!("{path}/id"),
            "id must be 1-64 characters of a-z, 0-9, '_' or '-'",
        );
    }
    let name = str_field(o, path, "name")?.unwrap_or(id).to_string();
    let enabled = match o.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return err(&format!("{path}/enabled"), "must be true or false"),
    };
    let order = match o.get("order") {
        None | Some(Value::Null) => index as i64 * 10,
        Some(v) => v.as_i64().ok_or_else(|| RuleError {
            path: format!("{path}/order"),
            message: "must be an integer".into(),
        })?,
    };
    let reason = str_field(o, path, "reason")?.unwrap_or(id).to_string();
    let when = match o.get("when") {
        Some(c) => parse_condition(c, &format!("{path}/when"), 0)?,
        None => return err(&format!("{path}/when"), "missing condition"),
    };
    let actions = match o.get("actions") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(i, a)| parse_action(a, &format!("{path}/actions/{i}")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) => {
            return err(
                &format!("{path}/actions"),
                "a rule needs at least one action",
            );
        }
        Some(_) => return err(&format!("{path}/actions"), "must be an array of actions"),
        None => return err(&format!("{path}/actions"), "missing actions"),
    };
    Ok(Rule {
        id: id.to_string(),
        name,
        enabled,
        order,
        reason,
        when,
        actions,
    })
}

const MAX_DEPTH: usize = 32;

fn parse_op(o: &Map<String, Value>, path: &str, default: Op) -> Result<Op, RuleError> {
    match o.get("op") {
        None => Ok(default),
        Some(Value::String(s)) => Op::parse(s).ok_or_else(|| RuleError {
            path: format!("{path}/op"),
            message: format!("unknown operator '{s}', expected one of: eq, ne, gt, gte, lt, lte, contains, in, exists, starts_with (or ==, !=, >, >=, <, <=)"),
        }),
        Some(_) => err(&format!("{path}/op"), "must be a string"),
    }
}

fn parse_condition(v: &Value, path: &str, depth: usize) -> Result<Condition, RuleError> {
    if depth > MAX_DEPTH {
        return err(path, "conditions nested too deeply");
    }
    let Value::Object(o) = v else {
        return err(
            path,
            "a condition must be an object such as {\"signal\": \"frustration\", \"op\": \">=\", \"value\": 0.6}",
        );
    };
    let kinds = [
        "all",
        "any",
        "not",
        "signal",
        "text_matches",
        "customer",
        "conversation",
        "business_hours",
        "topic",
        "role",
    ];
    let kind = match o
        .keys()
        .filter(|k| kinds.contains(&k.as_str()))
        .collect::<Vec<_>>()
        .as_slice()
    {
        [k] => k.as_str(),
        [] => {
            return err(
                path,
                format!("a condition needs one of: {}", kinds.join(", ")),
            );
        }
        many => {
            return err(
                path,
                format!(
                    "a condition has exactly one kind, found: {}",
                    many.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    };
    let list = |key: &str| -> Result<Vec<Condition>, RuleError> {
        match &o[key] {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, c)| parse_condition(c, &format!("{path}/{key}/{i}"), depth + 1))
                .collect(),
            _ => err(&format!("{path}/{key}"), "must be an array of conditions"),
        }
    };
    match kind {
        "all" => {
            check_keys(o, path, &["all"])?;
            Ok(Condition::All(list("all")?))
        }
        "any" => {
            check_keys(o, path, &["any"])?;
            Ok(Condition::Any(list("any")?))
        }
        "not" => {
            check_keys(o, path, &["not"])?;
            Ok(Condition::Not(Box::new(parse_condition(
                &o["not"],
                &format!("{path}/not"),
                depth + 1,
            )?)))
        }
        "signal" => {
            check_keys(o, path, &["signal", "op", "value"])?;
            let name = o["signal"].as_str().ok_or_else(|| RuleError {
                path: format!("{path}/signal"),
                message: "must be a string".into(),
            })?;
            let signal = SignalName::parse(name).ok_or_else(|| RuleError {
                path: format!("{path}/signal"),
                message: format!(
                    "unknown signal '{name}', expected one of: {}",
                    SignalName::names()
                ),
            })?;
            let op = parse_op(o, path, Op::Eq)?;
            if !matches!(op, Op::Eq | Op::Ne | Op::Gt | Op::Gte | Op::Lt | Op::Lte) {
                return err(
                    &format!("{path}/op"),
                    "signals compare with eq, ne, gt, gte, lt or lte",
                );
            }
            let value = match o.get("value") {
                None => 1.0,
                Some(Value::Bool(b)) => f64::from(u8::from(*b)),
                Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
                Some(_) => return err(&format!("{path}/value"), "must be a number or true/false"),
            };
            Ok(Condition::Signal { signal, op, value })
        }
        "text_matches" => {
            check_keys(o, path, &["text_matches"])?;
            let p = format!("{path}/text_matches");
            let src = o["text_matches"].as_str().ok_or_else(|| RuleError {
                path: p.clone(),
                message: "must be a string".into(),
            })?;
            let re = regex::RegexBuilder::new(src)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| RuleError {
                    path: p,
                    message: format!("invalid regular expression: {e}"),
                })?;
            Ok(Condition::TextMatches(re))
        }
        "customer" | "conversation" => {
            check_keys(o, path, &[kind, "op", "value"])?;
            let field = o[kind]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| RuleError {
                    path: format!("{path}/{kind}"),
                    message: "must be a field name such as \"tier\" or \"attributes.page_url\""
                        .into(),
                })?;
            let op = parse_op(o, path, Op::Eq)?;
            let value = o.get("value").cloned().unwrap_or(Value::Null);
            if value.is_null() && op != Op::Exists {
                return err(&format!("{path}/value"), "missing value to compare with");
            }
            if op == Op::In && !value.is_array() {
                return err(&format!("{path}/value"), "'in' needs an array");
            }
            let path_s = field.to_string();
            Ok(if kind == "customer" {
                Condition::Customer {
                    path: path_s,
                    op,
                    value,
                }
            } else {
                Condition::Conversation {
                    path: path_s,
                    op,
                    value,
                }
            })
        }
        "business_hours" => {
            check_keys(o, path, &["business_hours"])?;
            match o["business_hours"].as_str() {
                Some("open") => Ok(Condition::BusinessHours(HoursCondition::Open)),
                Some("closed") => Ok(Condition::BusinessHours(HoursCondition::Closed)),
                _ => err(
                    &format!("{path}/business_hours"),
                    "must be \"open\" or \"closed\"",
                ),
            }
        }
        "topic" => {
            check_keys(o, path, &["topic"])?;
            match o["topic"].as_str() {
                Some(t) if !t.is_empty() => Ok(Condition::Topic(t.to_string())),
                _ => err(&format!("{path}/topic"), "must be a topic name"),
            }
        }
        "role" => {
            check_keys(o, path, &["role"])?;
            match o["role"].as_str() {
                Some(r @ ("customer" | "bot")) => Ok(Condition::Role(r.to_string())),
                _ => err(&format!("{path}/role"), "must be \"customer\" or \"bot\""),
            }
        }
        _ => err(path, "unknown condition"),
    }
}

fn parse_action(v: &Value, path: &str) -> Result<Action, RuleError> {
    let (ty, o) = match v {
        Value::String(s) => (s.as_str(), None),
        Value::Object(o) => match o.get("type") {
            Some(Value::String(s)) => (s.as_str(), Some(o)),
            _ => return err(&format!("{path}/type"), "missing action type"),
        },
        _ => {
            return err(
                path,
                "an action is an object such as {\"type\": \"escalate\"}",
            );
        }
    };
    let text = |key: &str| -> Result<String, RuleError> {
        match o.and_then(|o| o.get(key)) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            _ => err(
                &format!("{path}/{key}"),
                format!("'{ty}' needs a non-empty string '{key}'"),
            ),
        }
    };
    let keys = |allowed: &[&str]| -> Result<(), RuleError> {
        match o {
            Some(o) => check_keys(o, path, allowed),
            None => Ok(()),
        }
    };
    Ok(match ty {
        "escalate" => {
            keys(&["type"])?;
            Action::Escalate
        }
        "offer_human" => {
            keys(&["type"])?;
            Action::OfferHuman
        }
        "defer" => {
            keys(&["type", "capture_email"])?;
            let capture_email = match o.and_then(|o| o.get("capture_email")) {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return err(&format!("{path}/capture_email"), "must be true or false"),
            };
            Action::Defer { capture_email }
        }
        "route" => {
            keys(&["type", "queue"])?;
            Action::Route {
                queue: text("queue")?,
            }
        }
        "priority" => {
            keys(&["type", "value"])?;
            let p = format!("{path}/value");
            let n = o
                .and_then(|o| o.get("value"))
                .and_then(Value::as_i64)
                .ok_or_else(|| RuleError {
                    path: p.clone(),
                    message: "must be an integer 0..100".into(),
                })?;
            Action::Priority {
                value: Priority::new(n).map_err(|e| RuleError {
                    path: p,
                    message: e.0,
                })?,
            }
        }
        "tag" => {
            keys(&["type", "tag"])?;
            Action::Tag { tag: text("tag")? }
        }
        "notify" => {
            keys(&["type", "team"])?;
            Action::Notify {
                team: text("team")?,
            }
        }
        other => {
            return err(
                &format!("{path}/type"),
                format!(
                    "unknown action '{other}', expected one of: escalate, offer_human, defer, route, priority, tag, notify"
                ),
            );
        }
    })
}

fn condition_json(c: &Condition) -> Value {
    match c {
        Condition::All(v) => json!({ "all": v.iter().map(condition_json).collect::<Vec<_>>() }),
        Condition::Any(v) => json!({ "any": v.iter().map(condition_json).collect::<Vec<_>>() }),
        Condition::Not(c) => json!({ "not": condition_json(c) }),
        Condition::Signal { signal, op, value } => {
            json!({ "signal": signal.as_str(), "op": op.as_str(), "value": value })
        }
        Condition::TextMatches(re) => json!({ "text_matches": re.as_str() }),
        Condition::Customer { path, op, value } => {
            json!({ "customer": path, "op": op.as_str(), "value": value })
        }
        Condition::Conversation { path, op, value } => {
            json!({ "conversation": path, "op": op.as_str(), "value": value })
        }
        Condition::BusinessHours(HoursCondition::Open) => json!({ "business_hours": "open" }),
        Condition::BusinessHours(HoursCondition::Closed) => json!({ "business_hours": "closed" }),
        Condition::Topic(t) => json!({ "topic": t }),
        Condition::Role(r) => json!({ "role": r }),
    }
}

fn rule_json(r: &Rule) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "enabled": r.enabled,
        "order": r.order,
        "reason": r.reason,
        "when": condition_json(&r.when),
        "actions": r.actions,
    })
}

#[cfg(test)]
mod tests;
