//! A queue's routing settings: the JSON object stored with the queue, validated on the way in.
//!
//! `Queue::settings` is a JSON object; every field is optional:
//!
//! ```json
//! {
//!   "auto_accept": false,
//!   "aging_per_minute": 1.0,
//!   "sticky_window_secs": 0,
//!   "decline_cooldown_secs": 300,
//!   "first_reply_secs": 120,
//!   "missed_offer": "set_away",
//!   "weights": {"skill": 1, "language": 1, "previous_agent": 2, "handle_time": 0.5, "csat": 0.5},
//!   "overflow": [
//!     {"after_secs": 60,  "action": {"type": "raise_priority", "by": 10}},
//!     {"after_secs": 120, "action": {"type": "widen", "lower_skills": [{"skill": "billing", "min_level": 1}], "add_languages": ["en"]}},
//!     {"after_secs": 240, "action": {"type": "widen", "lower_skills": [{"skill": "billing", "min_level": 0}], "any_language": true}},
//!     {"after_secs": 300, "action": {"type": "move_to_queue", "queue": "general"}}
//!   ],
//!   "hours": {"tz": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}, "holidays": []},
//!   "transfer": {"sip_uri": "sip:support@pbx.example.com", "phone": "+15550100"}
//! }
//! ```
//!
//! - `auto_accept`: offers are accepted on the agent's behalf at once.
//! - `aging_per_minute`: priority points a waiting conversation gains per minute (0-1000).
//! - `sticky_window_secs`: a returning customer waits this long for their previous agent.
//! - `decline_cooldown_secs` (default 300, at most 86400): an agent who declines a conversation
//!   is kept out of it this long; after that it may come back to her if it still waits.
//! - `missed_offer`: what an offer that lapses unanswered does to the agent: `set_away`
//!   (default: she is set `away`, with an `agent_status_changed` event carrying
//!   `reason: "missed_offer"`, and the conversation goes to the next eligible agent at once;
//!   back `available`, she may be offered it again) or `keep_available` (she stays available;
//!   it goes to the next eligible agent, or back to her when nobody else may take it). A lapse
//!   is never a decline.
//! - `first_reply_secs` (off by default; 5-86400): an assigned conversation whose agent has
//!   not written to the customer this long after taking it is flagged (`first_reply_overdue`,
//!   on the live stream: her console alerts her). If she still has not written
//!   `first_reply_grace_secs` later (default 60, 0-86400; 0 = at once), it is offered to the
//!   queue's other agents (supervisors who are members included) as a queue transfer by the
//!   system: she keeps it (and may still answer, or withdraw the transfer) until one of them
//!   accepts.
//! - `weights`: the `best_match` score weights (each 0-100).
//! - `overflow`: steps by time spent in the queue; when no eligible agent is staffed at all
//!   they run at once. `move_to_queue` must name another existing queue. `widen` is skill
//!   relaxation over time, step by step: it lowers skills' required levels (0 drops the
//!   skill), adds accepted languages, or drops the language requirement (`any_language`); the
//!   offer's explanation names the step in force (`relaxation`).
//! - `hours`: the queue's business hours (as `/v1/business-hours`); while closed, its waiting
//!   conversations are deferred (`after_hours`) and requeued when it opens. Without `hours` a
//!   queue follows the tenant's business hours (`PUT /v1/business-hours`); without either it
//!   is always open.
//! - `transfer`: where a contact center transfers this queue's calls (`sip_uri`, `phone`, or
//!   both). Routing ignores it; the handoff webhook carries it in `data.transfer`.
//!
//! [`parse_queue_settings`] validates the object (unknown fields are refused); the queues API
//! answers 422 with its message.

use baton_core::QueueId;
use baton_core::hours::Calendar;
use baton_core::hours::CalendarSpec;
use baton_core::routing::{MatchWeights, MissedOffer, OverflowAction, OverflowStep};
use serde::{Deserialize, Serialize};

/// The queue of a tenant that has no queues configured.
pub const BUILTIN_QUEUE: &str = "default";

/// The tenant setting that holds its business hours (a [`CalendarSpec`]).
pub const BUSINESS_HOURS: &str = "business_hours";

/// The primary subtag of a language tag, lowercase (`pt-BR` → `pt`); `None` when empty.
pub fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
    (!primary.is_empty() && primary.len() <= 8 && primary.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

/// The routing fields of [`Queue::settings`](baton_store::Queue::settings). See the module docs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// Offers are accepted on the agent's behalf at once.
    #[serde(default)]
    pub auto_accept: bool,
    /// Priority points gained per minute of waiting.
    #[serde(default)]
    pub aging_per_minute: Option<f64>,
    /// A returning customer waits this long for their previous agent (0: off).
    #[serde(default)]
    pub sticky_window_secs: u64,
    /// `best_match` weights.
    #[serde(default)]
    pub weights: Option<MatchWeights>,
    /// How long a decliner is kept out of the conversation (default 300 s).
    #[serde(default)]
    pub decline_cooldown_secs: Option<u64>,
    /// What a lapsed offer does to the agent.
    #[serde(default)]
    pub missed_offer: MissedOffer,
    /// Seconds an owner has to write to the customer before the conversation is offered to
    /// someone else (off when absent).
    #[serde(default)]
    pub first_reply_secs: Option<u64>,
    /// Seconds between the first-reply alert and the offer to the team (default 60).
    #[serde(default)]
    pub first_reply_grace_secs: Option<u64>,
    /// Overflow steps.
    #[serde(default)]
    pub overflow: Vec<OverflowStep>,
    /// Business hours of the queue.
    #[serde(default)]
    pub hours: Option<CalendarSpec>,
    /// Where a contact center transfers this queue's calls. The router ignores it; the handoff
    /// webhook carries it (`data.transfer`) for voice integrations.
    #[serde(default)]
    pub transfer: Option<TransferTarget>,
}

/// A voice transfer target of a queue: a SIP URI, a phone number, or both.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferTarget {
    /// `sip:` or `sips:` URI, e.g. `sip:support@pbx.example.com`.
    #[serde(default)]
    pub sip_uri: Option<String>,
    /// E.164 phone number, e.g. `+15550100`.
    #[serde(default)]
    pub phone: Option<String>,
}

/// Parses and validates a queue's settings. `queue` is the queue's own id and `queues` every
/// queue of the tenant (targets of `move_to_queue`). The error says what to fix.
pub fn parse_queue_settings(
    value: &serde_json::Value,
    queue: &QueueId,
    queues: &[QueueId],
) -> Result<QueueSettings, String> {
    let settings: QueueSettings =
        serde_json::from_value(value.clone()).map_err(|e| format!("settings: {e}"))?;
    if let Some(a) = settings.aging_per_minute
        && !(a.is_finite() && (0.0..=1000.0).contains(&a))
    {
        return Err("settings.aging_per_minute must be between 0 and 1000".into());
    }
    if settings.sticky_window_secs > 86_400 {
        return Err("settings.sticky_window_secs must be at most 86400".into());
    }
    if settings.decline_cooldown_secs.is_some_and(|s| s > 86_400) {
        return Err("settings.decline_cooldown_secs must be at most 86400".into());
    }
    if settings
        .first_reply_secs
        .is_some_and(|s| !(5..=86_400).contains(&s))
    {
        return Err("settings.first_reply_secs must be between 5 and 86400".into());
    }
    if settings.first_reply_grace_secs.is_some_and(|s| s > 86_400) {
        return Err("settings.first_reply_grace_secs must be at most 86400".into());
    }
    if let Some(w) = &settings.weights {
        for (name, v) in [
            ("skill", w.skill),
            ("language", w.language),
            ("previous_agent", w.previous_agent),
            ("handle_time", w.handle_time),
            ("csat", w.csat),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(format!("settings.weights.{name} must be between 0 and 100"));
            }
        }
    }
    if settings.overflow.len() > 20 {
        return Err("settings.overflow has at most 20 steps".into());
    }
    for (i, step) in settings.overflow.iter().enumerate() {
        if step.after_secs > 7 * 86_400 {
            return Err(format!(
                "settings.overflow[{i}].after_secs must be at most 604800"
            ));
        }
        match &step.action {
            OverflowAction::MoveToQueue { queue: target } if target == queue => {
                return Err(format!(
                    "settings.overflow[{i}]: a queue cannot overflow to itself"
                ));
            }
            OverflowAction::MoveToQueue { queue: target } if !queues.contains(target) => {
                return Err(format!("settings.overflow[{i}]: unknown queue '{target}'"));
            }
            OverflowAction::RaisePriority { by: 0 } => {
                return Err(format!(
                    "settings.overflow[{i}]: raise_priority needs by >= 1"
                ));
            }
            _ => {}
        }
    }
    if let Some(hours) = &settings.hours {
        Calendar::new(hours.clone()).map_err(|e| format!("settings.hours.{e}"))?;
    }
    if let Some(t) = &settings.transfer {
        if t.sip_uri.is_none() && t.phone.is_none() {
            return Err("settings.transfer needs sip_uri or phone".into());
        }
        if let Some(uri) = &t.sip_uri
            && (!(uri.starts_with("sip:") || uri.starts_with("sips:"))
                || uri.len() > 256
                || uri.chars().any(char::is_whitespace))
        {
            return Err("settings.transfer.sip_uri must be a sip: or sips: URI".into());
        }
        if let Some(phone) = &t.phone {
            let digits = phone.strip_prefix('+').unwrap_or_default();
            if !(4..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(
                    "settings.transfer.phone must be an E.164 number such as +15550100".into(),
                );
            }
        }
    }
    Ok(settings)
}

/// Stored settings that no longer validate (an overflow target was deleted): keep what still
/// makes sense.
pub(crate) fn lenient_settings(value: &serde_json::Value, queues: &[QueueId]) -> QueueSettings {
    let mut settings: QueueSettings = serde_json::from_value(value.clone()).unwrap_or_default();
    settings.overflow.retain(|s| match &s.action {
        OverflowAction::MoveToQueue { queue } => queues.contains(queue),
        _ => true,
    });
    if settings
        .hours
        .as_ref()
        .is_some_and(|h| Calendar::new(h.clone()).is_err())
    {
        settings.hours = None;
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> QueueId {
        QueueId::parse(s).unwrap()
    }

    #[test]
    fn settings_are_validated() {
        let ids = [q("billing"), q("general")];
        let ok = json!({
            "auto_accept": true,
            "overflow": [
                {"after_secs": 60, "action": {"type": "raise_priority", "by": 10}},
                {"after_secs": 300, "action": {"type": "move_to_queue", "queue": "general"}}
            ],
            "hours": {"tz": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}}
        });
        let parsed = parse_queue_settings(&ok, &q("billing"), &ids).unwrap();
        assert!(parsed.auto_accept);
        assert_eq!(parsed.missed_offer, MissedOffer::SetAway);
        assert_eq!(parsed.overflow.len(), 2);
        let keep = json!({"missed_offer": "keep_available", "decline_cooldown_secs": 60});
        let parsed = parse_queue_settings(&keep, &q("billing"), &ids).unwrap();
        assert_eq!(
            (parsed.missed_offer, parsed.decline_cooldown_secs),
            (MissedOffer::KeepAvailable, Some(60))
        );
        let voice =
            json!({"transfer": {"sip_uri": "sip:support@pbx.example.com", "phone": "+15550100"}});
        let parsed = parse_queue_settings(&voice, &q("billing"), &ids).unwrap();
        assert_eq!(parsed.transfer.unwrap().phone.as_deref(), Some("+15550100"));
        assert_eq!(
            parse_queue_settings(&json!({}), &q("billing"), &ids).unwrap(),
            QueueSettings::default()
        );
        for bad in [
            json!({"unknown": 1}),
            json!({"auto_accept": "yes"}),
            json!({"aging_per_minute": -1}),
            json!({"overflow": [{"after_secs": 1, "action": {"type": "move_to_queue", "queue": "nope"}}]}),
            json!({"overflow": [{"after_secs": 1, "action": {"type": "move_to_queue", "queue": "billing"}}]}),
            json!({"overflow": [{"after_secs": 1, "action": {"type": "teleport"}}]}),
            json!({"hours": {"tz": "Mars/Olympus"}}),
            json!({"weights": {"skill": 1000}}),
            json!({"transfer": {}}),
            json!({"transfer": {"sip_uri": "http://pbx"}}),
            json!({"transfer": {"phone": "555-0100"}}),
            json!({"transfer": {"fax": "+15550100"}}),
            json!({"decline_cooldown_secs": 100000}),
            json!({"decline_cooldown_secs": -1}),
            json!({"missed_offer": "ignore"}),
            json!({"first_reply_secs": 4}),
        ] {
            assert!(
                parse_queue_settings(&bad, &q("billing"), &ids).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn deleted_overflow_targets_are_dropped() {
        let value = json!({"overflow": [
            {"after_secs": 60, "action": {"type": "raise_priority", "by": 10}},
            {"after_secs": 300, "action": {"type": "move_to_queue", "queue": "gone"}}
        ]});
        let settings = lenient_settings(&value, &[q("billing")]);
        assert_eq!(settings.overflow.len(), 1);
    }
}
