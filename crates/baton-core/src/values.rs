//! Small validated value types: a value of these types is always in range.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

/// Conversation priority: 0 (lowest) to 100 (highest). Default 50.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Priority(u8);

impl Priority {
    /// The priority of a conversation nobody ranked.
    pub const DEFAULT: Priority = Priority(50);
    /// The highest priority.
    pub const MAX: Priority = Priority(100);

    /// Parses a priority, rejecting values outside 0..=100.
    pub fn new(v: i64) -> Result<Self, ValueError> {
        if (0..=100).contains(&v) {
            Ok(Priority(v as u8))
        } else {
            Err(ValueError(format!(
                "priority must be between 0 and 100, got {v}"
            )))
        }
    }

    /// The numeric value.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::DEFAULT
    }
}

impl TryFrom<i64> for Priority {
    type Error = ValueError;
    fn try_from(v: i64) -> Result<Self, ValueError> {
        Priority::new(v)
    }
}

impl From<Priority> for i64 {
    fn from(p: Priority) -> i64 {
        p.0 as i64
    }
}

/// A customer satisfaction score, 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct CsatScore(u8);

impl CsatScore {
    /// Parses a score, rejecting values outside 1..=5.
    pub fn new(v: i64) -> Result<Self, ValueError> {
        if (1..=5).contains(&v) {
            Ok(CsatScore(v as u8))
        } else {
            Err(ValueError(format!(
                "score must be between 1 and 5, got {v}"
            )))
        }
    }

    /// The numeric value.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for CsatScore {
    type Error = ValueError;
    fn try_from(v: i64) -> Result<Self, ValueError> {
        CsatScore::new(v)
    }
}

impl From<CsatScore> for i64 {
    fn from(s: CsatScore) -> i64 {
        s.0 as i64
    }
}

/// An email address as a customer types it into a form: `local@domain.tld`, trimmed, at most
/// 254 characters. The local part is a dot-atom (letters, digits and ``!#$%&'*+/=?^_`{|}~-``,
/// dots only between them); the domain has at least two dot-separated labels of letters,
/// digits and inner hyphens. Quoted local parts and IP-literal domains are refused: nobody types
/// them into a support widget, and refusing them keeps typos out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses an address, saying what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim();
        let bad = |why: &str| Err(ValueError(format!("'{s}' is not an email address: {why}")));
        if s.is_empty() {
            return Err(ValueError("the email address is empty".into()));
        }
        if s.chars().count() > 254 {
            return bad("it is longer than 254 characters");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return bad("it has no @");
        };
        if local.is_empty() || local.chars().count() > 64 {
            return bad("the part before @ must have 1 to 64 characters");
        }
        let atom = |c: char| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        if local
            .split('.')
            .any(|part| part.is_empty() || !part.chars().all(atom))
        {
            return bad("the part before @ has a character or a dot that is not allowed");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return bad("the domain needs a dot, as in example.com");
        }
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.chars().count() <= 63
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !labels.iter().all(label_ok) {
            return bad("the domain is not a valid host name");
        }
        Ok(EmailAddress(s.to_string()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = ValueError;
    fn try_from(v: String) -> Result<Self, ValueError> {
        EmailAddress::parse(&v)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and storage name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err(ValueError(format!(
                        concat!("unknown ", stringify!($name), " '{}', expected one of: {}"),
                        other,
                        [$($s),+].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What a person may do in the console and the API.
    Role {
        /// Handles conversations.
        Agent => "agent",
        /// Agent plus team views and reporting.
        Supervisor => "supervisor",
        /// Supervisor plus configuration.
        Admin => "admin",
    }
);

impl Role {
    /// Whether this role includes everything `other` may do.
    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    fn rank(self) -> u8 {
        match self {
            Role::Agent => 0,
            Role::Supervisor => 1,
            Role::Admin => 2,
        }
    }
}

string_enum!(
    /// An agent's availability.
    AgentStatus {
        /// Ready for new conversations.
        Available => "available",
        /// Working, takes no new offers.
        Busy => "busy",
        /// Briefly away.
        Away => "away",
        /// Not working.
        Offline => "offline",
    }
);

string_enum!(
    /// Who wrote a transcript entry.
    MessageRole {
        /// The customer.
        Customer => "customer",
        /// The bot.
        Bot => "bot",
        /// A human agent.
        Agent => "agent",
        /// Baton itself ("Connecting you with a member of our team").
        System => "system",
        /// An internal note, never shown to the customer.
        Note => "note",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_and_csat_ranges() {
        assert!(Priority::new(0).is_ok());
        assert!(Priority::new(100).is_ok());
        assert!(Priority::new(101).is_err());
        assert!(Priority::new(-1).is_err());
        assert!(CsatScore::new(0).is_err());
        assert!(CsatScore::new(6).is_err());
        assert_eq!(CsatScore::new(5).unwrap().get(), 5);
    }

    #[test]
    fn enums_round_trip_and_explain_errors() {
        for s in AgentStatus::ALL {
            assert_eq!(s.as_str().parse::<AgentStatus>().unwrap(), *s);
        }
        let err = "sleeping".parse::<AgentStatus>().unwrap_err();
        assert!(err.0.contains("available"), "{err}");
        assert!(Role::Admin.at_least(Role::Supervisor));
        assert!(!Role::Agent.at_least(Role::Supervisor));
    }

    #[test]
    fn email_addresses_as_typed_in_a_form() {
        for ok in [
            "ann@example.com",
            "  bob.smith+tag@mail.example.org ",
            "o'neil@example.ie",
            "josé@correo.example.es",
        ] {
            let e = EmailAddress::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(e.as_str(), ok.trim());
        }
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "ann smith@example.com",
            "ann@exa mple.com",
            ".ann@example.com",
            "ann..b@example.com",
            "ann@-example.com",
            "ann@example..com",
            "ann@example.com.",
            "<ann@example.com>",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(EmailAddress::parse(&long).is_err());
        let err = EmailAddress::parse("ann@example").unwrap_err();
        assert!(err.0.contains("dot"), "{err}");
        // Stored events round-trip through serde and re-validate.
        let e: EmailAddress = serde_json::from_str("\"ann@example.com\"").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"ann@example.com\"");
        assert!(serde_json::from_str::<EmailAddress>("\"nope\"").is_err());
    }
}
