//! Erasing a customer's personal data: what of each event and of the conversation projection
//! is personal (free text, attributes, contact details, matched words) and what stays
//! (structure, ids, roles, times, reasons and rule ids, which the analytics and the audit
//! trail need).

use super::{Conversation, EventKind};
use crate::EmailAddress;
use serde_json::{Value, json};

/// What erased text reads as.
pub const ERASED: &str = "[erased]";

/// An escalation evaluation without the signals measured on the customer's words (matched
/// words, scores); the rules that fired and the decision are configuration and stay.
fn erased_evaluation(evaluation: &Value) -> Value {
    let mut out = json!({ "signals": { "erased": true } });
    for key in ["fired", "decision"] {
        if let Some(v) = evaluation.get(key) {
            out[key] = v.clone();
        }
    }
    out
}

fn erased_note(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        ERASED.to_string()
    }
}

impl EventKind {
    /// This event with the customer's personal data replaced (see the module doc).
    pub fn erased(&self) -> EventKind {
        let mut e = self.clone();
        match &mut e {
            EventKind::Started { attributes, .. } => attributes.clear(),
            EventKind::MessageAdded { message } => {
                message.text = ERASED.into();
                if let Some(file) = &mut message.attachment {
                    file.filename = ERASED.into();
                }
            }
            EventKind::HandoffRequested { note, .. } => {
                *note = note.as_deref().map(erased_note);
            }
            EventKind::TransferRequested { note, .. } | EventKind::Transferred { note, .. } => {
                *note = erased_note(note);
            }
            EventKind::EscalationEvaluated { evaluation } => {
                *evaluation = erased_evaluation(evaluation);
            }
            EventKind::BotReplyHeld { reply } => reply.text = ERASED.into(),
            EventKind::BriefBuilt { brief } => *brief = json!({ "erased": true }),
            EventKind::CsatRecorded { comment, .. } => {
                *comment = comment.as_deref().map(erased_note);
            }
            EventKind::CustomerEmailSet { email } => {
                *email = EmailAddress::parse("erased@erased.invalid").expect("a valid address");
            }
            _ => {}
        }
        e
    }
}

impl Conversation {
    /// Drops the customer's personal data from the projection: attributes, notes, the latest
    /// evaluation's signals, held replies' text and the LLM summary.
    pub fn erase_personal_data(&mut self) {
        self.attributes.clear();
        if let Some(h) = &mut self.handoff {
            h.note = h.note.as_deref().map(erased_note);
        }
        if let Some(t) = &mut self.transfer {
            t.note = erased_note(&t.note);
        }
        if let Some(e) = &self.escalation {
            self.escalation = Some(erased_evaluation(e));
        }
        for held in &mut self.held {
            held.text = ERASED.into();
        }
        self.llm_summary = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{HandoffSource, MessageRecord};
    use crate::{MessageId, MessageRole, Priority};

    #[test]
    fn erased_events_keep_their_structure_and_lose_the_text() {
        let message = EventKind::MessageAdded {
            message: MessageRecord {
                id: MessageId::with_suffix("m1"),
                role: MessageRole::Customer,
                text: "my card 4111 1111".into(),
                agent: None,
                external_id: Some("wa-1".into()),
                bot: None,
                attachment: None,
            },
        };
        let erased = message.erased();
        let EventKind::MessageAdded { message: m } = &erased else {
            panic!("kind changed: {erased:?}");
        };
        assert_eq!(m.text, ERASED);
        assert_eq!(m.role, MessageRole::Customer);
        assert_eq!(m.id.as_str(), "msg_m1");

        let handoff = EventKind::HandoffRequested {
            reason: "customer_request".into(),
            source: HandoffSource::Customer,
            queue: None,
            priority: Priority::default(),
            note: Some("lives at 1 Main St".into()),
        };
        let text = serde_json::to_string(&handoff.erased()).unwrap();
        assert!(
            text.contains("customer_request") && !text.contains("Main St"),
            "{text}"
        );

        let evaluation = EventKind::EscalationEvaluated {
            evaluation: json!({"signals": {"topics": [{"topic": "refund", "matched": ["refund my 99 EUR"]}]},
                               "fired": [{"id": "r1", "name": "Refunds"}], "decision": {"reason": "x"}}),
        };
        let text = serde_json::to_string(&evaluation.erased()).unwrap();
        assert!(text.contains("r1") && !text.contains("99 EUR"), "{text}");
        // Erased events still read back as events.
        let back: EventKind = serde_json::from_str(&text).unwrap();
        assert_eq!(back.name(), "escalation_evaluated");
    }
}
