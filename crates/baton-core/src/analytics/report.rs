//! The figures, computed from [`Facts`]. Each figure has exactly one definition, here; the
//! README quotes them. A report covers the conversations that *started* in its date range.

use super::facts::{Facts, OfferEnd, SegmentEnd, WaitEnd};
use crate::hours::Calendar;
use crate::ids::{AgentId, ConversationId, QueueId};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// One conversation as the reports see it.
#[derive(Debug, Clone, PartialEq)]
pub struct FactsRow {
    /// The conversation.
    pub conversation: ConversationId,
    /// The customer's tier, if any.
    pub tier: Option<String>,
    /// Its facts.
    pub facts: Facts,
}

/// Which conversations a report looks at (all given ones must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// It waited in this queue.
    pub queue: Option<QueueId>,
    /// This agent owned it at some point.
    pub agent: Option<AgentId>,
    /// It came in on this channel.
    pub channel: Option<String>,
    /// Its first handoff had this reason (`sensitive_topic` also matches `sensitive_topic:refund`).
    pub reason: Option<String>,
    /// The customer has this tier.
    pub tier: Option<String>,
}

impl Filter {
    /// Whether a conversation passes.
    pub fn matches(&self, row: &FactsRow) -> bool {
        let f = &row.facts;
        self.queue.as_ref().is_none_or(|q| f.queues.contains(q))
            && self
                .agent
                .as_ref()
                .is_none_or(|a| f.segments.iter().any(|s| &s.agent == a))
            && self.channel.as_ref().is_none_or(|c| &f.channel == c)
            && self
                .tier
                .as_ref()
                .is_none_or(|t| row.tier.as_ref() == Some(t))
            && self.reason.as_ref().is_none_or(|r| {
                f.handoffs.first().is_some_and(|h| {
                    h.reason == *r
                        || h.reason
                            .strip_prefix(r.as_str())
                            .is_some_and(|rest| rest.starts_with(':'))
                })
            })
    }
}

/// A distribution of durations, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Durations {
    /// How many values.
    pub count: usize,
    /// Median (nearest rank), when there are values.
    pub median_seconds: Option<f64>,
    /// 90th percentile (nearest rank).
    pub p90_seconds: Option<f64>,
    /// Mean.
    pub mean_seconds: Option<f64>,
}

impl Durations {
    /// From durations in milliseconds (any order).
    pub fn from_millis(mut values: Vec<i64>) -> Durations {
        if values.is_empty() {
            return Durations::default();
        }
        values.sort_unstable();
        let n = values.len();
        let rank =
            |p: f64| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1000.0;
        Durations {
            count: n,
            median_seconds: Some(rank(0.5)),
            p90_seconds: Some(rank(0.9)),
            mean_seconds: Some(values.iter().sum::<i64>() as f64 / n as f64 / 1000.0),
        }
    }
}

/// A count with its share of a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    /// What.
    pub key: String,
    /// How many.
    pub count: usize,
    /// `count` over the whole it is a part of (0 when the whole is empty).
    pub share: f64,
}

/// Offers made and how they ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OfferCounts {
    /// Offers made.
    pub made: usize,
    /// Accepted.
    pub accepted: usize,
    /// Declined.
    pub declined: usize,
    /// Lapsed.
    pub expired: usize,
    /// Overtaken by a claim, a deferral or a close.
    pub withdrawn: usize,
}

/// Deferred conversations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeferredFigures {
    /// Conversations deferred at least once.
    pub conversations: usize,
    /// Deferrals that got a human follow-up.
    pub followed_up: usize,
    /// Deferrals still waiting for one.
    pub waiting: usize,
    /// Deferral to follow-up.
    pub follow_up: Durations,
}

/// Copilot drafts by what the agent did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CopilotFigures {
    /// Sent as drafted.
    pub sent_as_is: u64,
    /// Edited, then sent.
    pub edited: u64,
    /// Not used.
    pub ignored: u64,
}

/// The main report. Rates are fractions (0.25 = 25 %), `null` when their denominator is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Conversations started in the range (and matching the filter).
    pub conversations: usize,
    /// Of those, handed to a person at least once.
    pub handed_off: usize,
    /// `handed_off / conversations`.
    pub handoff_rate: Option<f64>,
    /// Closed and never handed off: resolved by the bot alone.
    pub contained: usize,
    /// `contained / conversations`.
    pub containment_rate: Option<f64>,
    /// First handoff reason of each handed-off conversation, most frequent first.
    pub reasons: Vec<Share>,
    /// Who asked for the first handoff: customer, bot, llm, agent, api, rule.
    pub requested_by: Vec<Share>,
    /// Rules that fired for rule-decided handoffs (every handoff, every rule).
    pub rules: Vec<Share>,
    /// First handoff to the first agent message after it.
    pub first_response: Durations,
    /// The same, counting only the tenant's business hours.
    pub first_response_business_hours: Durations,
    /// `first_response.median_seconds`, flat for dashboards.
    pub median_first_response_seconds: Option<f64>,
    /// Time in a queue until an agent took it (takeovers excluded).
    pub queue_wait: Durations,
    /// Offer made to offer accepted.
    pub offer_acceptance: Durations,
    /// Offers by outcome.
    pub offers: OfferCounts,
    /// Handed-off conversations the customer left while waiting.
    pub abandoned: usize,
    /// `abandoned / handed_off`.
    pub abandonment_rate: Option<f64>,
    /// How long they had waited when they left.
    pub abandoned_after: Durations,
    /// Handed-off conversations closed by the agent who owned them.
    pub resolved_after_handoff: usize,
    /// `resolved_after_handoff / handed_off`.
    pub resolution_rate: Option<f64>,
    /// First contact to (final) close, for those resolved after handoff.
    pub time_to_resolution: Durations,
    /// Mean CSAT of handed-off conversations that were rated.
    pub csat_after_handoff: Option<f64>,
    /// How many of them were rated.
    pub csat_after_handoff_responses: usize,
    /// Mean CSAT of bot-only conversations that were rated.
    pub csat_bot_only: Option<f64>,
    /// How many of them were rated.
    pub csat_bot_only_responses: usize,
    /// Deferred conversations and their follow-up.
    pub deferred: DeferredFigures,
    /// Copilot drafts.
    pub copilot: CopilotFigures,
}

/// Per-agent figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentFigures {
    /// The agent.
    pub agent: AgentId,
    /// Conversations they owned at some point.
    pub conversations: usize,
    /// Ownership start to end (ended stretches).
    pub handle_time: Durations,
    /// Ownership start to their first message.
    pub first_response: Durations,
    /// Mean CSAT of rated conversations they closed.
    pub csat: Option<f64>,
    /// Rated conversations they closed.
    pub csat_responses: usize,
    /// Conversations they transferred away.
    pub transfers_out: usize,
    /// Conversations transferred to them.
    pub transfers_in: usize,
    /// Conversations they closed.
    pub closed: usize,
}

/// One bucket of the time series.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Point {
    /// The local day (`YYYY-MM-DD` in the tenant's time zone).
    pub day: String,
    /// Conversations started that day.
    pub conversations: usize,
    /// Of those, handed off.
    pub handed_off: usize,
    /// `handed_off / conversations`.
    pub handoff_rate: Option<f64>,
    /// Median queue wait of those conversations, seconds.
    pub median_wait_seconds: Option<f64>,
}

fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn mean(values: &[u8]) -> Option<f64> {
    (!values.is_empty())
        .then(|| values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64)
}

fn shares(counts: BTreeMap<String, usize>, whole: usize) -> Vec<Share> {
    let mut out: Vec<Share> = counts
        .into_iter()
        .map(|(key, count)| Share {
            key,
            count,
            share: rate(count, whole).unwrap_or(0.0),
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out
}

/// Whether the customer left this conversation while it waited for a person.
pub fn abandoned(f: &Facts) -> bool {
    f.waits.iter().any(|w| w.ended == Some(WaitEnd::Abandoned))
}

/// Whether it was handed off and then closed by the agent who owned it (and is closed now).
pub fn resolved_after_handoff(f: &Facts) -> bool {
    f.handed_off() && f.final_close().is_some_and(|c| c.agent.is_some())
}

/// Closed without ever being handed off.
pub fn contained(f: &Facts) -> bool {
    !f.handed_off() && f.final_close().is_some()
}

/// Milliseconds from the first handoff to the first agent message after it.
fn first_response_millis(f: &Facts) -> Option<(Timestamp, Timestamp)> {
    let h = f.handoffs.first()?;
    Some((h.at, h.first_response_at?))
}

fn queue_waits(f: &Facts) -> impl Iterator<Item = i64> + '_ {
    f.waits.iter().filter_map(|w| match (w.ended, w.end) {
        (Some(WaitEnd::Assigned), Some(end)) => Some(end.millis_since(w.start)),
        _ => None,
    })
}

/// The main report over `rows` (already limited to the date range), for those matching `filter`.
/// `calendar` gives the business-hours variants (always open when absent).
pub fn summary(rows: &[FactsRow], filter: &Filter, calendar: &Calendar) -> Summary {
    let mut s = Summary::default();
    let mut reasons = BTreeMap::new();
    let mut requested = BTreeMap::new();
    let mut rules = BTreeMap::new();
    let (mut first, mut first_business, mut waits, mut accept) = (vec![], vec![], vec![], vec![]);
    let (mut left_after, mut resolution, mut follow_up) = (vec![], vec![], vec![]);
    let (mut csat_handoff, mut csat_bot) = (vec![], vec![]);
    for row in rows.iter().filter(|r| filter.matches(r)) {
        let f = &row.facts;
        s.conversations += 1;
        if contained(f) {
            s.contained += 1;
        }
        if let Some(h) = f.handoffs.first() {
            s.handed_off += 1;
            *reasons.entry(h.reason.clone()).or_insert(0) += 1;
            *requested.entry(h.source.as_str().to_string()).or_insert(0) += 1;
        }
        for h in &f.handoffs {
            for rule in &h.rules {
                *rules.entry(rule.clone()).or_insert(0) += 1;
            }
        }
        if let Some((asked, answered)) = first_response_millis(f) {
            first.push(answered.millis_since(asked));
            first_business.push(calendar.open_millis_between(asked, answered));
        }
        waits.extend(queue_waits(f));
        for o in &f.offers {
            s.offers.made += 1;
            match (o.ended, o.answered_at) {
                (Some(OfferEnd::Accepted), Some(at)) => {
                    s.offers.accepted += 1;
                    accept.push(at.millis_since(o.at));
                }
                (Some(OfferEnd::Declined), _) => s.offers.declined += 1,
                (Some(OfferEnd::Expired), _) => s.offers.expired += 1,
                (Some(OfferEnd::Withdrawn), _) => s.offers.withdrawn += 1,
                _ => {}
            }
        }
        if abandoned(f) {
            s.abandoned += 1;
            if let Some(w) = f.waits.iter().find(|w| w.ended == Some(WaitEnd::Abandoned))
                && let Some(end) = w.end
            {
                left_after.push(end.millis_since(w.start));
            }
        }
        if resolved_after_handoff(f)
            && let Some(close) = f.final_close()
        {
            s.resolved_after_handoff += 1;
            resolution.push(close.at.millis_since(f.started_at));
        }
        if let Some(score) = f.csat {
            if f.handed_off() {
                csat_handoff.push(score);
            } else {
                csat_bot.push(score);
            }
        }
        if !f.deferrals.is_empty() {
            s.deferred.conversations += 1;
        }
        for d in &f.deferrals {
            match d.followed_up_at {
                Some(at) => {
                    s.deferred.followed_up += 1;
                    follow_up.push(at.millis_since(d.at));
                }
                None => s.deferred.waiting += 1,
            }
        }
        s.copilot.sent_as_is += u64::from(f.drafts.sent);
        s.copilot.edited += u64::from(f.drafts.edited);
        s.copilot.ignored += u64::from(f.drafts.ignored);
    }
    s.handoff_rate = rate(s.handed_off, s.conversations);
    s.containment_rate = rate(s.contained, s.conversations);
    s.abandonment_rate = rate(s.abandoned, s.handed_off);
    s.resolution_rate = rate(s.resolved_after_handoff, s.handed_off);
    s.reasons = shares(reasons, s.handed_off);
    s.requested_by = shares(requested, s.handed_off);
    s.rules = shares(rules, s.handed_off);
    s.first_response = Durations::from_millis(first);
    s.median_first_response_seconds = s.first_response.median_seconds;
    s.first_response_business_hours = Durations::from_millis(first_business);
    s.queue_wait = Durations::from_millis(waits);
    s.offer_acceptance = Durations::from_millis(accept);
    s.abandoned_after = Durations::from_millis(left_after);
    s.time_to_resolution = Durations::from_millis(resolution);
    s.csat_after_handoff = mean(&csat_handoff);
    s.csat_after_handoff_responses = csat_handoff.len();
    s.csat_bot_only = mean(&csat_bot);
    s.csat_bot_only_responses = csat_bot.len();
    s.deferred.follow_up = Durations::from_millis(follow_up);
    s
}

/// Per-agent figures, by agent id.
pub fn agents(rows: &[FactsRow], filter: &Filter) -> Vec<AgentFigures> {
    #[derive(Default)]
    struct Acc {
        conversations: usize,
        handle: Vec<i64>,
        first: Vec<i64>,
        csat: Vec<u8>,
        out: usize,
        into: usize,
        closed: usize,
    }
    let mut by_agent: BTreeMap<AgentId, Acc> = BTreeMap::new();
    for row in rows.iter().filter(|r| filter.matches(r)) {
        let f = &row.facts;
        let mut seen: Vec<&AgentId> = Vec::new();
        for seg in &f.segments {
            let acc = by_agent.entry(seg.agent.clone()).or_default();
            if !seen.contains(&&seg.agent) {
                seen.push(&seg.agent);
                acc.conversations += 1;
            }
            if let Some(end) = seg.end {
                acc.handle.push(end.millis_since(seg.start));
            }
            if let Some(at) = seg.first_response_at {
                acc.first.push(at.millis_since(seg.start));
            }
            if seg.ended == Some(SegmentEnd::Transferred) {
                acc.out += 1;
            }
            if seg.via == crate::conversation::AssignVia::Transfer {
                acc.into += 1;
            }
        }
        for close in &f.closes {
            if let Some(agent) = &close.agent {
                by_agent.entry(agent.clone()).or_default().closed += 1;
            }
        }
        if let (Some(score), Some(close)) = (f.csat, f.final_close())
            && let Some(agent) = &close.agent
        {
            by_agent.entry(agent.clone()).or_default().csat.push(score);
        }
    }
    by_agent
        .into_iter()
        .map(|(agent, a)| AgentFigures {
            agent,
            conversations: a.conversations,
            handle_time: Durations::from_millis(a.handle),
            first_response: Durations::from_millis(a.first),
            csat: mean(&a.csat),
            csat_responses: a.csat.len(),
            transfers_out: a.out,
            transfers_in: a.into,
            closed: a.closed,
        })
        .collect()
}

/// Daily volume, handoff rate and median queue wait, in the calendar's time zone, one point per
/// day from the day of `from` to the day of `to` (days without conversations included).
pub fn timeseries(
    rows: &[FactsRow],
    filter: &Filter,
    calendar: &Calendar,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Point> {
    let mut days: BTreeMap<String, (Point, Vec<i64>)> = BTreeMap::new();
    for day in calendar.local_days(from, to) {
        days.insert(
            day.clone(),
            (
                Point {
                    day,
                    ..Point::default()
                },
                vec![],
            ),
        );
    }
    for row in rows.iter().filter(|r| filter.matches(r)) {
        let f = &row.facts;
        let day = calendar.local_day(f.started_at);
        let (point, waits) = days.entry(day.clone()).or_insert_with(|| {
            (
                Point {
                    day,
                    ..Point::default()
                },
                vec![],
            )
        });
        point.conversations += 1;
        if f.handed_off() {
            point.handed_off += 1;
        }
        waits.extend(queue_waits(f));
    }
    days.into_values()
        .map(|(mut p, waits)| {
            p.handoff_rate = rate(p.handed_off, p.conversations);
            p.median_wait_seconds = Durations::from_millis(waits).median_seconds;
            p
        })
        .collect()
}

/// The conversations behind a figure (drill-down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drill {
    /// All that match.
    Conversations,
    /// Handed off.
    HandedOff,
    /// Resolved by the bot alone.
    Contained,
    /// Left while waiting.
    Abandoned,
    /// Resolved after handoff.
    Resolved,
    /// Deferred at least once.
    Deferred,
    /// Deferred and still waiting for a follow-up.
    DeferredWaiting,
    /// Rated after a handoff.
    CsatAfterHandoff,
    /// Rated, bot only.
    CsatBotOnly,
    /// First handoff asked by this requester (`customer`, `bot`, `llm`...).
    RequestedBy(String),
    /// A rule fired for one of its handoffs.
    Rule(String),
    /// Had an offer that ended this way.
    Offer(OfferEnd),
    /// Waited in a queue until an agent took it (behind `queue_wait`).
    Waited,
    /// Got a first agent response after its handoff (behind `first_response`).
    Responded,
    /// Had copilot drafts sent, edited or ignored.
    Copilot,
}

impl Drill {
    /// Parses `handed_off`, `abandoned`, `requested_by:llm`, `rule:refund`, `offer:declined`...
    pub fn parse(s: &str) -> Result<Drill, String> {
        let (head, arg) = match s.split_once(':') {
            Some((h, a)) => (h, Some(a)),
            None => (s, None),
        };
        Ok(match (head, arg) {
            ("conversations", None) => Drill::Conversations,
            ("handed_off", None) => Drill::HandedOff,
            ("contained", None) => Drill::Contained,
            ("abandoned", None) => Drill::Abandoned,
            ("resolved", None) => Drill::Resolved,
            ("deferred", None) => Drill::Deferred,
            ("deferred_waiting", None) => Drill::DeferredWaiting,
            ("waited", None) => Drill::Waited,
            ("responded", None) => Drill::Responded,
            ("copilot", None) => Drill::Copilot,
            ("csat_after_handoff", None) => Drill::CsatAfterHandoff,
            ("csat_bot_only", None) => Drill::CsatBotOnly,
            ("requested_by", Some(a)) => Drill::RequestedBy(a.to_string()),
            ("rule", Some(a)) => Drill::Rule(a.to_string()),
            ("offer", Some("accepted")) => Drill::Offer(OfferEnd::Accepted),
            ("offer", Some("declined")) => Drill::Offer(OfferEnd::Declined),
            ("offer", Some("expired")) => Drill::Offer(OfferEnd::Expired),
            ("offer", Some("withdrawn")) => Drill::Offer(OfferEnd::Withdrawn),
            _ => {
                return Err(format!(
                    "unknown figure '{s}': use conversations, handed_off, contained, abandoned, \
                     resolved, deferred, deferred_waiting, waited, responded, copilot, \
                     csat_after_handoff, csat_bot_only, \
                     requested_by:WHO, rule:RULE_ID or offer:accepted|declined|expired|withdrawn \
                     (narrow further with the reason, queue, agent, channel and tier filters)"
                ));
            }
        })
    }

    /// Whether a conversation is behind this figure.
    pub fn matches(&self, f: &Facts) -> bool {
        match self {
            Drill::Conversations => true,
            Drill::HandedOff => f.handed_off(),
            Drill::Contained => contained(f),
            Drill::Abandoned => abandoned(f),
            Drill::Resolved => resolved_after_handoff(f),
            Drill::Deferred => !f.deferrals.is_empty(),
            Drill::DeferredWaiting => f.deferrals.iter().any(|d| d.followed_up_at.is_none()),
            Drill::CsatAfterHandoff => f.csat.is_some() && f.handed_off(),
            Drill::CsatBotOnly => f.csat.is_some() && !f.handed_off(),
            Drill::RequestedBy(who) => f.handoffs.first().is_some_and(|h| h.source.as_str() == who),
            Drill::Rule(rule) => f.handoffs.iter().any(|h| h.rules.contains(rule)),
            Drill::Offer(end) => f.offers.iter().any(|o| o.ended == Some(*end)),
            Drill::Waited => queue_waits(f).next().is_some(),
            Drill::Responded => first_response_millis(f).is_some(),
            Drill::Copilot => f.drafts != super::facts::DraftCounts::default(),
        }
    }
}

/// The conversations behind `drill`, in the order given.
pub fn drill(rows: &[FactsRow], filter: &Filter, drill: &Drill) -> Vec<ConversationId> {
    rows.iter()
        .filter(|r| filter.matches(r) && drill.matches(&r.facts))
        .map(|r| r.conversation.clone())
        .collect()
}
