//! Tickets: their typed values, the ITIL priority matrix, the status lifecycle and
//! custom-field validation.
//!
//! Every value that can be invalid has a type that is parsed once at the edge (`FromStr`,
//! serde) and trusted afterwards. Enumerations travel as lowercase `snake_case` strings
//! (priorities as `P1`..`P5`); parsing is case-insensitive so that `Open`, `OPEN` and
//! `open` all mean the same thing, while output is always canonical.

//!
//! The numbers, titles and tags live here; `priority` holds impact, urgency and the
//! [`PriorityMatrix`], `lifecycle` the statuses and the one [`transition`] function,
//! `custom_fields` the [`CustomFieldDefinition`]s. Everything is re-exported from here.

mod custom_fields;
mod lifecycle;
mod priority;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::string_enum;

pub use custom_fields::{
    CustomFieldDefinition, CustomFieldKind, FieldDefinitionError, FieldKey, FieldValueError,
};
pub use lifecycle::{
    Lifecycle, PendingReason, ResolutionCode, ResolutionNote, ResolutionNoteError, StatusChange,
    TicketStatus, TransitionError, auto_close_due, on_customer_reply, transition,
};
pub use priority::{Impact, Priority, PriorityMatrix, PriorityMatrixError, Urgency};

/// A value that is not one of the names an enumeration accepts.
///
/// Shared by every string enumeration in this module so that the edges map one error
/// type, and so that every message lists the valid values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`; expected one of: {}", .expected.join(", "))]
pub struct ParseValueError {
    /// What was being parsed, e.g. `ticket status`.
    pub what: &'static str,
    /// The rejected input.
    pub value: String,
    /// The canonical names that would have been accepted.
    pub expected: &'static [&'static str],
}

string_enum! {
    /// What kind of work a ticket tracks; decides its number prefix.
    pub enum TicketType as "ticket type" {
        /// Something is broken or degraded (`INC`).
        Incident => "incident",
        /// Someone asks for something standard: access, hardware, information (`REQ`).
        ServiceRequest => "service_request",
        /// The unknown root cause of one or more incidents (`PRB`).
        Problem => "problem",
        /// An attack or breach, seen only by its restricted group and admins (`SEC`).
        SecurityIncident => "security_incident",
    }
}

impl TicketType {
    /// The prefix of ticket numbers of this type, e.g. `INC` in `INC-1042`.
    pub const fn prefix(self) -> &'static str {
        match self {
            TicketType::Incident => "INC",
            TicketType::ServiceRequest => "REQ",
            TicketType::Problem => "PRB",
            TicketType::SecurityIncident => "SEC",
        }
    }

    /// The type whose number prefix is `prefix`, ignoring ASCII case.
    pub fn from_prefix(prefix: &str) -> Option<TicketType> {
        TicketType::ALL
            .iter()
            .copied()
            .find(|t| t.prefix().eq_ignore_ascii_case(prefix))
    }
}

/// Why a ticket number could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketNumberError {
    /// The text does not have the `PREFIX-123` shape.
    #[error(
        "`{0}` is not a ticket number; expected a prefix (INC, REQ, PRB or SEC), `-` and a number, e.g. INC-1042"
    )]
    Malformed(String),
    /// The prefix is not one of INC, REQ, PRB, SEC.
    #[error("unknown ticket number prefix `{0}`; expected one of: INC, REQ, PRB, SEC")]
    UnknownPrefix(String),
    /// Sequences start at 1 so that `0` can never be mistaken for "no ticket".
    #[error("ticket number sequence must be at least 1")]
    ZeroSequence,
}

/// A human-facing ticket number such as `INC-1042`: a type and a sequence number.
///
/// Parsing ignores the case of the prefix and leading zeros (`inc-0042` is `INC-42`);
/// display is always canonical. Serialized as the display string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketNumber {
    ticket_type: TicketType,
    sequence: u64,
}

impl TicketNumber {
    /// Builds a number from its parts; the sequence must be at least 1.
    pub fn new(ticket_type: TicketType, sequence: u64) -> Result<Self, TicketNumberError> {
        if sequence == 0 {
            return Err(TicketNumberError::ZeroSequence);
        }
        Ok(TicketNumber {
            ticket_type,
            sequence,
        })
    }

    /// The ticket type the prefix stands for.
    pub const fn ticket_type(self) -> TicketType {
        self.ticket_type
    }

    /// The sequence number after the prefix.
    pub const fn sequence(self) -> u64 {
        self.sequence
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ticket_type.prefix(), self.sequence)
    }
}

impl FromStr for TicketNumber {
    type Err = TicketNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || TicketNumberError::Malformed(s.to_owned());
        let (prefix, digits) = s.split_once('-').ok_or_else(malformed)?;
        // `u64::from_str` accepts a leading `+`, which is not part of the format.
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let ticket_type = TicketType::from_prefix(prefix)
            .ok_or_else(|| TicketNumberError::UnknownPrefix(prefix.to_owned()))?;
        let sequence = digits.parse::<u64>().map_err(|_| malformed())?;
        TicketNumber::new(ticket_type, sequence)
    }
}

impl Serialize for TicketNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TicketNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

string_enum! {
    /// The channel a ticket arrived through.
    pub enum Source as "source" {
        /// The self-service portal.
        Web => "web",
        /// Inbound mail.
        Email => "email",
        /// The HTTP API.
        Api => "api",
        /// A monitor raised it automatically.
        Monitor => "monitor",
        /// An agent logged a call.
        Phone => "phone",
        /// Brought in from another desk by `opsdesk import tickets`.
        Import => "import",
        /// An alert from another monitoring tool, through an integration.
        Alert => "alert",
    }
}

string_enum! {
    /// How one ticket relates to another.
    pub enum LinkType as "link type" {
        /// Loosely related.
        RelatesTo => "relates_to",
        /// The same issue reported again; the other ticket is the original.
        DuplicateOf => "duplicate_of",
        /// The other ticket (usually a problem or change) caused this one.
        CausedBy => "caused_by",
    }
}

/// Why a short identifier-like name (tag, resolution code, field key) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing left after trimming.
    #[error("{what} is empty")]
    Empty {
        /// What was being parsed, e.g. `tag`.
        what: &'static str,
    },
    /// Longer than the limit, in characters.
    #[error("{what} is {len} characters long; the limit is {max}")]
    TooLong {
        /// What was being parsed.
        what: &'static str,
        /// The length given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside the allowed set.
    #[error("{what} contains `{ch}` at position {position}; allowed are {allowed}")]
    InvalidCharacter {
        /// What was being parsed.
        what: &'static str,
        /// The offending character.
        ch: char,
        /// Its character position in the trimmed input.
        position: usize,
        /// The allowed characters, for the message.
        allowed: &'static str,
    },
}

/// Trims, lowercases ASCII and checks length and character set.
fn parse_name(
    raw: &str,
    what: &'static str,
    max: usize,
    allowed: &'static str,
    is_allowed: impl Fn(usize, char) -> bool,
) -> Result<String, NameError> {
    let name = raw.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if let Some((position, ch)) = name.chars().enumerate().find(|&(i, c)| !is_allowed(i, c)) {
        return Err(NameError::InvalidCharacter {
            what,
            ch,
            position,
            allowed,
        });
    }
    // Only ASCII is allowed, so bytes are characters.
    if name.len() > max {
        return Err(NameError::TooLong {
            what,
            len: name.len(),
            max,
        });
    }
    Ok(name)
}

/// Implements `Display`, `FromStr`, `AsRef<str>` and string serde for a validated newtype.
macro_rules! string_newtype {
    ($name:ident, $err:ty) => {
        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
use string_newtype;

/// A ticket tag: lowercase `a-z`, `0-9`, `-`, `_`, `.`, at most 50 characters.
///
/// Parsing trims and lowercases, so `VPN` becomes `vpn`: tags are for grouping, and two
/// spellings of one tag would split the group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The longest tag, in characters.
    pub const MAX_CHARS: usize = 50;

    /// Validates and normalizes a tag.
    pub fn parse(raw: &str) -> Result<Tag, NameError> {
        parse_name(
            raw,
            "tag",
            Self::MAX_CHARS,
            "a-z, 0-9, `-`, `_` and `.`",
            |_, c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'),
        )
        .map(Tag)
    }
}

string_newtype!(Tag, NameError);

/// Why a ticket title was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    /// Nothing left after trimming.
    #[error("title is empty")]
    Empty,
    /// Longer than [`Title::MAX_CHARS`].
    #[error("title is {len} characters long; the limit is {max}")]
    TooLong {
        /// The length after normalizing.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character other than whitespace, which would garble lists and mail subjects.
    #[error("title contains a control character (U+{code:04X}) at position {position}")]
    ControlCharacter {
        /// The character's code point.
        code: u32,
        /// Its character position in the normalized title.
        position: usize,
    },
}

/// A ticket title: 1..=200 characters after trimming, on one line.
///
/// Runs of whitespace, including tabs and newlines from folded mail subjects, become one
/// space, so titles always fit on one line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Title(String);

impl Title {
    /// The longest title, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Validates and normalizes a title.
    pub fn parse(raw: &str) -> Result<Title, TitleError> {
        let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if title.is_empty() {
            return Err(TitleError::Empty);
        }
        if let Some((position, ch)) = title.chars().enumerate().find(|(_, c)| c.is_control()) {
            return Err(TitleError::ControlCharacter {
                code: u32::from(ch),
                position,
            });
        }
        let len = title.chars().count();
        if len > Self::MAX_CHARS {
            return Err(TitleError::TooLong {
                len,
                max: Self::MAX_CHARS,
            });
        }
        Ok(Title(title))
    }
}

string_newtype!(Title, TitleError);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn enum_names_round_trip_and_parse_ignoring_case() {
        for &s in TicketStatus::ALL {
            assert_eq!(s.as_str().parse::<TicketStatus>().unwrap(), s);
            assert_eq!(
                s.as_str().to_uppercase().parse::<TicketStatus>().unwrap(),
                s
            );
        }
        assert_eq!("p2".parse::<Priority>().unwrap(), Priority::P2);
        assert_eq!(Priority::P2.to_string(), "P2");
    }
}
