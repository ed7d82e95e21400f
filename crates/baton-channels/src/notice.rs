//! The provider-neutral team notification that [`crate::slack`] and [`crate::teams`] render.
//!
//! A [`Notice`] is plain data, built by the caller from whatever it knows about the
//! conversation. It serialises with serde so a delivery queue can store it as JSON.
//!
//! Several notices can be sent as one digest message (`render_digest` in each renderer): the
//! digest counts notices by kind and lists the first [`DIGEST_LINES`], then says how many more
//! there are.

use serde::{Deserialize, Serialize};

/// How many notices a digest lists one by one.
pub const DIGEST_LINES: usize = 10;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The bot handed a conversation over and it is waiting for a person.
    Handoff,
    /// An agent was offered a conversation and did not accept it in time.
    OfferUnanswered,
    /// A customer has waited in the queue longer than the target wait.
    WaitOverTarget,
}

impl NoticeKind {
    /// Every kind, in the order digests list their counts.
    pub const ALL: [NoticeKind; 3] = [Self::Handoff, Self::OfferUnanswered, Self::WaitOverTarget];

    /// A short title, e.g. "New handoff".
    pub fn title(self) -> &'static str {
        match self {
            Self::Handoff => "New handoff",
            Self::OfferUnanswered => "Offer unanswered",
            Self::WaitOverTarget => "Wait over target",
        }
    }

    /// "1 handoff", "3 unanswered offers", "2 waits over target".
    pub fn count_label(self, n: usize) -> String {
        let (one, many) = match self {
            Self::Handoff => ("handoff", "handoffs"),
            Self::OfferUnanswered => ("unanswered offer", "unanswered offers"),
            Self::WaitOverTarget => ("wait over target", "waits over target"),
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }
}

/// One event worth telling the support team about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// What happened.
    pub kind: NoticeKind,
    /// The conversation's id, shown small for people who search by it.
    pub conversation_id: String,
    /// The customer's display name (or another identifier when there is no name).
    pub customer: String,
    /// Why this notice exists, e.g. the escalation reason "asked for a human".
    pub reason: String,
    /// A short summary of the conversation so far, if one was written.
    #[serde(default)]
    pub summary: Option<String>,
    /// The queue the conversation waits in.
    #[serde(default)]
    pub queue: Option<String>,
    /// How long the customer has waited, in seconds.
    #[serde(default)]
    pub wait_secs: Option<u64>,
    /// The agent console's page for this conversation.
    pub console_url: String,
}

impl Notice {
    /// "New handoff: John Doe".
    pub fn headline(&self) -> String {
        format!("{}: {}", self.kind.title(), self.customer)
    }

    /// One line with everything but the summary, for plain-text fallbacks:
    /// "New handoff: John Doe — asked for a human · Billing · waiting 4m 05s".
    pub fn one_line(&self) -> String {
        let mut line = format!("{} — {}", self.headline(), self.reason);
        for extra in self.extras() {
            line.push_str(" · ");
            line.push_str(&extra);
        }
        line
    }

    /// The queue and the wait, when known, as short phrases.
    pub(crate) fn extras(&self) -> Vec<String> {
        let mut extras = Vec::new();
        if let Some(queue) = &self.queue {
            extras.push(queue.clone());
        }
        if let Some(wait) = self.wait_secs {
            extras.push(format!("waiting {}", format_wait(wait)));
        }
        extras
    }
}

/// A wait as people read it: "45s", "4m 05s", "1h 02m", "2d 3h".
pub fn format_wait(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Counts by kind in [`NoticeKind::ALL`] order, leaving out kinds with none.
pub fn counts(notices: &[Notice]) -> Vec<(NoticeKind, usize)> {
    NoticeKind::ALL
        .iter()
        .map(|&kind| (kind, notices.iter().filter(|n| n.kind == kind).count()))
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// "3 handoffs, 1 unanswered offer" — the counts sentence of a digest.
pub fn counts_sentence(notices: &[Notice]) -> String {
    let parts: Vec<String> = counts(notices)
        .into_iter()
        .map(|(kind, n)| kind.count_label(n))
        .collect();
    if parts.is_empty() {
        "Nothing to report".to_owned()
    } else {
        parts.join(", ")
    }
}

/// "Baton: 6 notices" — the title of a digest.
pub fn digest_title(notices: &[Notice]) -> String {
    match notices.len() {
        1 => "Baton: 1 notice".to_owned(),
        n => format!("Baton: {n} notices"),
    }
}

/// "and 4 more" when a digest lists fewer notices than it has.
pub fn digest_more(notices: &[Notice]) -> Option<String> {
    (notices.len() > DIGEST_LINES).then(|| format!("and {} more", notices.len() - DIGEST_LINES))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: NoticeKind, customer: &str) -> Notice {
        Notice {
            kind,
            conversation_id: "conv_1".into(),
            customer: customer.into(),
            reason: "asked for a human".into(),
            summary: None,
            queue: Some("Billing".into()),
            wait_secs: Some(245),
            console_url: "https://baton.example/console/c/conv_1".into(),
        }
    }

    #[test]
    fn waits_read_naturally() {
        assert_eq!(format_wait(0), "0s");
        assert_eq!(format_wait(45), "45s");
        assert_eq!(format_wait(245), "4m 05s");
        assert_eq!(format_wait(3_720), "1h 02m");
        assert_eq!(format_wait(183_600), "2d 3h");
    }

    #[test]
    fn one_line_has_reason_queue_and_wait() {
        assert_eq!(
            notice(NoticeKind::Handoff, "John").one_line(),
            "New handoff: John — asked for a human · Billing · waiting 4m 05s"
        );
    }

    #[test]
    fn counts_keep_kind_order_and_plurals() {
        let notices = vec![
            notice(NoticeKind::WaitOverTarget, "a"),
            notice(NoticeKind::Handoff, "b"),
            notice(NoticeKind::Handoff, "c"),
            notice(NoticeKind::WaitOverTarget, "d"),
        ];
        assert_eq!(counts_sentence(&notices), "2 handoffs, 2 waits over target");
        assert_eq!(counts_sentence(&notices[..1]), "1 wait over target");
        assert_eq!(counts_sentence(&[]), "Nothing to report");
        assert_eq!(digest_more(&notices), None);
        let many: Vec<_> = (0..13)
            .map(|i| notice(NoticeKind::OfferUnanswered, &i.to_string()))
            .collect();
        assert_eq!(digest_more(&many).as_deref(), Some("and 3 more"));
        assert_eq!(digest_title(&many), "Baton: 13 notices");
    }

    #[test]
    fn notices_round_trip_as_json() {
        let n = notice(NoticeKind::OfferUnanswered, "Ana");
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["kind"], "offer_unanswered");
        assert_eq!(serde_json::from_value::<Notice>(json).unwrap(), n);
    }
}
