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
}
