//! The brief's own small topic lexicon and per-topic playbooks.
//!
//! The escalation module classifies topics for routing; the caller passes those as hints and they
//! win. This lexicon only serves the brief when hints are absent and to score which customer
//! turn states the request, so it is deliberately small and biased to precision.

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// A topic the brief has a summary template and a playbook for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// Money back.
    Refund,
    /// Cancel an order, a subscription or an account.
    Cancellation,
    /// Cannot sign in, password, 2FA.
    Login,
    /// Where is my parcel, late, lost, damaged in transit.
    Delivery,
    /// Wrong or double charge, invoice dispute.
    Billing,
    /// Unauthorized activity, account takeover.
    Fraud,
    /// Lawyers, lawsuits, data-protection requests.
    Legal,
    /// The service is down.
    Outage,
}

impl Topic {
    /// Every topic, in tie-break order.
    pub const ALL: [Topic; 8] = [
        Topic::Fraud,
        Topic::Legal,
        Topic::Billing,
        Topic::Refund,
        Topic::Cancellation,
        Topic::Delivery,
        Topic::Login,
        Topic::Outage,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Refund => "refund",
            Topic::Cancellation => "cancellation",
            Topic::Login => "login",
            Topic::Delivery => "delivery",
            Topic::Billing => "billing",
            Topic::Fraud => "fraud",
            Topic::Legal => "legal",
            Topic::Outage => "outage",
        }
    }

    /// Maps a topic name from the escalation module, a rule or a tenant (`double_charge`,
    /// `password`, `shipping`...) to a brief topic.
    pub fn from_hint(hint: &str) -> Option<Topic> {
        let h = hint.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Some(match h.as_str() {
            "refund" | "refunds" | "return" | "returns" | "money_back" => Topic::Refund,
            "cancel"
            | "cancellation"
            | "cancellations"
            | "cancel_order"
            | "cancel_subscription"
            | "subscription_cancel"
            | "churn"
            | "unsubscribe" => Topic::Cancellation,
            "login" | "log_in" | "sign_in" | "signin" | "password" | "password_reset" | "2fa"
            | "mfa" | "account_access" | "locked_out" | "access" => Topic::Login,
            "delivery" | "deliveries" | "shipping" | "shipment" | "tracking" | "order_status"
            | "late_delivery" | "lost_package" => Topic::Delivery,
            "billing" | "billing_dispute" | "double_charge" | "charge" | "charges" | "payment"
            | "payments" | "invoice" | "overcharge" | "chargeback" => Topic::Billing,
            "fraud" | "security" | "unauthorized" | "account_takeover" | "hacked" => Topic::Fraud,
            "legal" | "lawsuit" | "gdpr" | "privacy" | "complaint_legal" => Topic::Legal,
            "outage" | "incident" | "downtime" | "service_down" => Topic::Outage,
            _ => return None,
        })
    }

    /// The topic named in a handoff reason such as `sensitive_topic:refund`.
    pub fn from_reason(reason: &str) -> Option<Topic> {
        let (_, topic) = reason.split_once(':')?;
        Topic::from_hint(topic)
    }
}

/// Keyword patterns per topic (lower-case text, ASCII word boundary at the start only so that
/// "refund" also matches "refunded"), plus a set over all of them: one pass tells which topics
/// occur at all, and only those are counted.
static LEXICON: LazyLock<(RegexSet, Vec<(Topic, Regex)>)> = LazyLock::new(|| {
    let table: [(Topic, &str); 8] = [
        (
            Topic::Refund,
            r"refund|money back|reimburs|reembols|rembours|rückerstatt|erstattung|devoluci[oó]n|devolu[cç][aã]o|give me back",
        ),
        (
            Topic::Cancellation,
            r"cancel|unsubscribe|terminate my|close my account|stop (?:my|the) subscription|anular|cancelar|annuler|résilier|kündig|k[uü]ndigen",
        ),
        (
            Topic::Login,
            r"log ?in\b|sign ?in\b|password|passcode|locked out|2fa|two.factor|verification code|reset link|can'?t access my account|contraseña|senha|mot de passe|passwort|anmelden",
        ),
        (
            Topic::Delivery,
            r"deliver|package|parcel|shipping|shipment|shipped|tracking|courier|arriv|customs|zoll|aduana|douane|alfândega|entrega|env[ií]o|llegado|lleg[oó]|livraison|colis|lieferung|paket|encomenda|chegou",
        ),
        (
            Topic::Billing,
            r"charged|double charg|overcharg|charge (?:on|of|for|twice)|charges\b|billed|billing|invoice|bank statement|card statement|cobr|factura|fatura|facture|abgebucht|rechnung",
        ),
        (
            Topic::Fraud,
            r"fraud|unauthori[sz]ed|hacked|stolen|scam|phishing|didn'?t make (?:this|that|these)|do not recognize|don'?t recognize|did not authori|someone (?:else )?(?:logged|used|accessed)|fraude|betrug",
        ),
        (
            Topic::Legal,
            r"lawyer|attorney|\bsue\b|lawsuit|legal action|small claims|court\b|gdpr|data protection|ombudsman|abogado|advogado|avocat|anwalt",
        ),
        (
            Topic::Outage,
            r"outage|is down\b|are you down|not loading|won'?t load|service unavailable|status page|error 50[0-9]|everything is broken|site (?:is )?down|app (?:is )?down",
        ),
    ];
    let patterns: Vec<String> = table
        .iter()
        .map(|(_, p)| format!(r"(?i)\b(?:{p})").replace(r"\b", r"(?-u:\b)"))
        .collect();
    let set = match RegexSet::new(&patterns) {
        Ok(set) => set,
        Err(e) => panic!("brief topic pattern does not compile: {e}"),
    };
    let each = table
        .iter()
        .zip(&patterns)
        .map(|((t, _), p)| match Regex::new(p) {
            Ok(re) => (*t, re),
            Err(e) => panic!("brief topic pattern does not compile: {e}"),
        })
        .collect();
    (set, each)
});

/// Adds the keyword hits per topic in `text` to `counts` (lexicon table order).
pub(crate) fn topic_hits(text: &str, counts: &mut [(Topic, u32); 8]) {
    let (set, each) = &*LEXICON;
    for (i, (topic, _)) in each.iter().enumerate() {
        counts[i].0 = *topic;
    }
    for i in set.matches(text).iter() {
        counts[i].1 += each[i].1.find_iter(text).count() as u32;
    }
}

/// A zeroed counter for [`topic_hits`].
pub(crate) fn empty_counts() -> [(Topic, u32); 8] {
    [(Topic::Refund, 0); 8]
}
