//! Tickets: their typed values, the ITIL priority matrix, the status lifecycle and
//! custom-field validation.
//!
//! Every value that can be invalid has a type that is parsed once at the edge (`FromStr`,
//! serde) and trusted afterwards. Enumerations travel as lowercase `snake_case` strings
//! (priorities as `P1`..`P5`); parsing is case-insensitive so that `Open`, `OPEN` and
//! `open` all mean the same thing, while output is always canonical.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::string_enum;

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
    }
}

impl TicketType {
    /// The prefix of ticket numbers of this type, e.g. `INC` in `INC-1042`.
    pub const fn prefix(self) -> &'static str {
        match self {
            TicketType::Incident => "INC",
            TicketType::ServiceRequest => "REQ",
            TicketType::Problem => "PRB",
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
        "`{0}` is not a ticket number; expected a prefix (INC, REQ or PRB), `-` and a number, e.g. INC-1042"
    )]
    Malformed(String),
    /// The prefix is not one of INC, REQ, PRB.
    #[error("unknown ticket number prefix `{0}`; expected one of: INC, REQ, PRB")]
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
    /// How much of the business an issue affects (ITIL impact).
    pub enum Impact as "impact" {
        /// Many users, a whole site or a critical service.
        High => "high",
        /// A team or a department.
        Medium => "medium",
        /// One user.
        Low => "low",
    }
}

string_enum! {
    /// How soon the business needs the issue handled (ITIL urgency).
    pub enum Urgency as "urgency" {
        /// Work is stopped now.
        High => "high",
        /// Work is hampered.
        Medium => "medium",
        /// Work can continue.
        Low => "low",
    }
}

string_enum! {
    /// Ticket priority; `P1` is the most urgent. `Ord` sorts `P1` first.
    pub enum Priority as "priority" {
        /// Critical.
        P1 => "P1",
        /// High.
        P2 => "P2",
        /// Medium.
        P3 => "P3",
        /// Low.
        P4 => "P4",
        /// Planning.
        P5 => "P5",
    }
}

impl Priority {
    /// The number in the name: 1 for `P1` up to 5 for `P5`.
    pub const fn rank(self) -> u8 {
        match self {
            Priority::P1 => 1,
            Priority::P2 => 2,
            Priority::P3 => 3,
            Priority::P4 => 4,
            Priority::P5 => 5,
        }
    }
}

const fn impact_index(impact: Impact) -> usize {
    match impact {
        Impact::High => 0,
        Impact::Medium => 1,
        Impact::Low => 2,
    }
}

const fn urgency_index(urgency: Urgency) -> usize {
    match urgency {
        Urgency::High => 0,
        Urgency::Medium => 1,
        Urgency::Low => 2,
    }
}

/// Why a priority matrix was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriorityMatrixError {
    /// A key is not `impact/urgency`.
    #[error("unknown cell `{0}`; cells are named impact/urgency, e.g. `high/medium`")]
    UnknownCell(String),
    /// A cell's value is not a priority.
    #[error("cell `{cell}`: {source}")]
    InvalidPriority {
        /// The cell, as written.
        cell: String,
        /// The parse failure.
        source: ParseValueError,
    },
    /// Two keys name the same cell (they differ only in case).
    #[error("cell `{0}` is given more than once")]
    DuplicateCell(String),
    /// Some of the nine cells are absent; a partial table would leave priorities undefined.
    #[error("missing cells: {}", .0.join(", "))]
    MissingCells(Vec<String>),
    /// Raising impact or urgency lowered the priority, which would rank a worse outage
    /// below a lesser one.
    #[error(
        "`{more_severe}` is {more_severe_priority} but the less severe `{less_severe}` is \
         {less_severe_priority}; raising impact or urgency must never lower the priority"
    )]
    NotMonotonic {
        /// The cell with the higher impact or urgency.
        more_severe: String,
        /// Its priority.
        more_severe_priority: Priority,
        /// The neighbouring cell with lower impact or urgency.
        less_severe: String,
        /// Its priority, which is more urgent than it should be.
        less_severe_priority: Priority,
    },
}

/// Maps impact and urgency to a priority: a validated 3x3 table.
///
/// `Default` is the ITIL table (high/high = P1 … low/low = P5). Deployments may override
/// it; every table must define all nine cells and must never give a more severe cell a
/// less urgent priority. In JSON it is an object keyed `"impact/urgency"`, e.g.
/// `{"high/medium": "P2", …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, Priority>"
)]
pub struct PriorityMatrix {
    /// Indexed `[impact][urgency]`, high first.
    cells: [[Priority; 3]; 3],
}

impl PriorityMatrix {
    /// The ITIL default table.
    pub const ITIL: PriorityMatrix = PriorityMatrix {
        cells: [
            [Priority::P1, Priority::P2, Priority::P3],
            [Priority::P2, Priority::P3, Priority::P4],
            [Priority::P3, Priority::P4, Priority::P5],
        ],
    };

    /// Builds a table from `cells[impact][urgency]` (index 0 = high, 2 = low).
    pub fn new(cells: [[Priority; 3]; 3]) -> Result<Self, PriorityMatrixError> {
        let matrix = PriorityMatrix { cells };
        matrix.check_monotonic()?;
        Ok(matrix)
    }

    /// The priority for this impact and urgency.
    pub const fn priority(&self, impact: Impact, urgency: Urgency) -> Priority {
        self.cells[impact_index(impact)][urgency_index(urgency)]
    }

    fn cell_name(impact: Impact, urgency: Urgency) -> String {
        format!("{impact}/{urgency}")
    }

    fn check_monotonic(&self) -> Result<(), PriorityMatrixError> {
        let levels = [Impact::High, Impact::Medium, Impact::Low];
        let urgencies = [Urgency::High, Urgency::Medium, Urgency::Low];
        for (i, &impact) in levels.iter().enumerate() {
            for (u, &urgency) in urgencies.iter().enumerate() {
                let here = self.cells[i][u];
                // Compare with the next less severe neighbour in each direction.
                let neighbours = [
                    levels.get(i + 1).map(|&lower| (lower, urgency)),
                    urgencies.get(u + 1).map(|&lower| (impact, lower)),
                ];
                for (lower_impact, lower_urgency) in neighbours.into_iter().flatten() {
                    let there = self.priority(lower_impact, lower_urgency);
                    if there < here {
                        return Err(PriorityMatrixError::NotMonotonic {
                            more_severe: Self::cell_name(impact, urgency),
                            more_severe_priority: here,
                            less_severe: Self::cell_name(lower_impact, lower_urgency),
                            less_severe_priority: there,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

impl Default for PriorityMatrix {
    fn default() -> Self {
        PriorityMatrix::ITIL
    }
}

impl TryFrom<BTreeMap<String, String>> for PriorityMatrix {
    type Error = PriorityMatrixError;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        let mut cells: [[Option<Priority>; 3]; 3] = [[None; 3]; 3];
        for (key, value) in &map {
            let (impact, urgency) = key
                .split_once('/')
                .and_then(|(i, u)| Some((i.trim().parse().ok()?, u.trim().parse().ok()?)))
                .ok_or_else(|| PriorityMatrixError::UnknownCell(key.clone()))?;
            let priority: Priority =
                value
                    .parse()
                    .map_err(|source| PriorityMatrixError::InvalidPriority {
                        cell: key.clone(),
                        source,
                    })?;
            let slot = &mut cells[impact_index(impact)][urgency_index(urgency)];
            if slot.is_some() {
                return Err(PriorityMatrixError::DuplicateCell(Self::cell_name(
                    impact, urgency,
                )));
            }
            *slot = Some(priority);
        }
        let mut missing = Vec::new();
        let mut table = [[Priority::P3; 3]; 3];
        for &impact in Impact::ALL {
            for &urgency in Urgency::ALL {
                match cells[impact_index(impact)][urgency_index(urgency)] {
                    Some(p) => table[impact_index(impact)][urgency_index(urgency)] = p,
                    None => missing.push(Self::cell_name(impact, urgency)),
                }
            }
        }
        if !missing.is_empty() {
            return Err(PriorityMatrixError::MissingCells(missing));
        }
        PriorityMatrix::new(table)
    }
}

impl From<PriorityMatrix> for BTreeMap<String, Priority> {
    fn from(matrix: PriorityMatrix) -> Self {
        let mut map = BTreeMap::new();
        for &impact in Impact::ALL {
            for &urgency in Urgency::ALL {
                map.insert(
                    PriorityMatrix::cell_name(impact, urgency),
                    matrix.priority(impact, urgency),
                );
            }
        }
        map
    }
}

string_enum! {
    /// Where a ticket is in its lifecycle. The full state, with the pending reason and
    /// the resolution, is [`Lifecycle`].
    pub enum TicketStatus as "ticket status" {
        /// Logged, nobody has looked at it yet.
        New => "new",
        /// Being worked on.
        Open => "open",
        /// Waiting on someone outside the group; SLA clocks usually pause.
        Pending => "pending",
        /// The agent believes it is fixed; the requester can still reopen it.
        Resolved => "resolved",
        /// Final: resolved and confirmed or aged out.
        Closed => "closed",
        /// Final: withdrawn or raised in error, never resolved.
        Cancelled => "cancelled",
    }
}

impl TicketStatus {
    /// Whether work is still expected: new, open or pending.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            TicketStatus::New | TicketStatus::Open | TicketStatus::Pending
        )
    }

    /// Whether no further transition is possible: closed or cancelled.
    pub const fn is_final(self) -> bool {
        matches!(self, TicketStatus::Closed | TicketStatus::Cancelled)
    }
}

string_enum! {
    /// Whom a pending ticket waits for.
    pub enum PendingReason as "pending reason" {
        /// The requester must answer; their reply reopens the ticket.
        Customer => "customer",
        /// A vendor or other outside party.
        ThirdParty => "third_party",
        /// A scheduled change must be carried out first.
        Change => "change",
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

/// A resolution code such as `fixed`, `workaround` or `duplicate`: lowercase `a-z`,
/// `0-9`, `-`, `_`, at most 50 characters.
///
/// Codes are a validated name rather than a fixed enum because every service desk reports
/// on its own set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResolutionCode(String);

impl ResolutionCode {
    /// The longest code, in characters.
    pub const MAX_CHARS: usize = 50;

    /// Validates and normalizes a resolution code.
    pub fn parse(raw: &str) -> Result<ResolutionCode, NameError> {
        parse_name(
            raw,
            "resolution code",
            Self::MAX_CHARS,
            "a-z, 0-9, `-` and `_`",
            |_, c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'),
        )
        .map(ResolutionCode)
    }
}

string_newtype!(ResolutionCode, NameError);

/// Why a resolution note was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolutionNoteError {
    /// Nothing left after trimming; omit the note instead.
    #[error("resolution note is empty; omit it instead")]
    Empty,
    /// Longer than [`ResolutionNote::MAX_CHARS`].
    #[error("resolution note is {len} characters long; the limit is {max}")]
    TooLong {
        /// The length after trimming.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Free text explaining a resolution, trimmed, 1..=5000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolutionNote(String);

impl ResolutionNote {
    /// The longest note, in characters.
    pub const MAX_CHARS: usize = 5000;

    /// Validates and trims a note.
    pub fn parse(raw: &str) -> Result<ResolutionNote, ResolutionNoteError> {
        let note = raw.trim();
        if note.is_empty() {
            return Err(ResolutionNoteError::Empty);
        }
        let len = note.chars().count();
        if len > Self::MAX_CHARS {
            return Err(ResolutionNoteError::TooLong {
                len,
                max: Self::MAX_CHARS,
            });
        }
        Ok(ResolutionNote(note.to_owned()))
    }
}

string_newtype!(ResolutionNote, ResolutionNoteError);

/// The full lifecycle state of a ticket.
///
/// The data a state needs lives inside its variant, so a pending ticket always has a
/// reason and a resolved or closed ticket always has a resolution code. Change it only
/// through [`transition`]. Serialized as `{"status": "pending", "reason": "customer"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Lifecycle {
    /// Logged, not yet picked up.
    New,
    /// Being worked on.
    Open,
    /// Waiting for someone outside the group.
    Pending {
        /// Whom the ticket waits for.
        reason: PendingReason,
    },
    /// Believed fixed.
    Resolved {
        /// How it was resolved.
        resolution: ResolutionCode,
        /// Optional explanation for the requester and for reporting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<ResolutionNote>,
    },
    /// Final; keeps the resolution it was closed with.
    Closed {
        /// How it was resolved.
        resolution: ResolutionCode,
        /// The resolution note, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<ResolutionNote>,
    },
    /// Final; withdrawn without a resolution.
    Cancelled,
}

impl Lifecycle {
    /// The status this state belongs to.
    pub const fn status(&self) -> TicketStatus {
        match self {
            Lifecycle::New => TicketStatus::New,
            Lifecycle::Open => TicketStatus::Open,
            Lifecycle::Pending { .. } => TicketStatus::Pending,
            Lifecycle::Resolved { .. } => TicketStatus::Resolved,
            Lifecycle::Closed { .. } => TicketStatus::Closed,
            Lifecycle::Cancelled => TicketStatus::Cancelled,
        }
    }

    /// The pending reason, when pending.
    pub const fn pending_reason(&self) -> Option<PendingReason> {
        match self {
            Lifecycle::Pending { reason } => Some(*reason),
            _ => None,
        }
    }

    /// The resolution code, when resolved or closed.
    pub const fn resolution(&self) -> Option<&ResolutionCode> {
        match self {
            Lifecycle::Resolved { resolution, .. } | Lifecycle::Closed { resolution, .. } => {
                Some(resolution)
            }
            _ => None,
        }
    }
}

/// A requested status change, carrying what the target state needs.
///
/// Serialized like [`Lifecycle`]: `{"status": "resolved", "resolution": "fixed"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StatusChange {
    /// Start work, resume after pending, or reopen a resolved ticket.
    Open,
    /// Wait for someone; changing the reason of a pending ticket is allowed.
    Pending {
        /// Whom the ticket will wait for.
        reason: PendingReason,
    },
    /// Mark as fixed.
    Resolved {
        /// How it was resolved.
        resolution: ResolutionCode,
        /// Optional explanation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<ResolutionNote>,
    },
    /// Close a resolved ticket for good.
    Closed,
    /// Withdraw a ticket that was never resolved.
    Cancelled,
}

impl StatusChange {
    /// The status this change leads to.
    pub const fn target(&self) -> TicketStatus {
        match self {
            StatusChange::Open => TicketStatus::Open,
            StatusChange::Pending { .. } => TicketStatus::Pending,
            StatusChange::Resolved { .. } => TicketStatus::Resolved,
            StatusChange::Closed => TicketStatus::Closed,
            StatusChange::Cancelled => TicketStatus::Cancelled,
        }
    }
}

/// The article-prefixed status for messages: "a closed ticket", "an open ticket".
fn a_status(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::New => "a new",
        TicketStatus::Open => "an open",
        TicketStatus::Pending => "a pending",
        TicketStatus::Resolved => "a resolved",
        TicketStatus::Closed => "a closed",
        TicketStatus::Cancelled => "a cancelled",
    }
}

/// Why a status change is not allowed. Maps to HTTP 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Closed and cancelled tickets never change again; open a new ticket instead.
    #[error("cannot move {} ticket to {to}: {from} tickets are final", a_status(*.from))]
    Final {
        /// The current, final status.
        from: TicketStatus,
        /// The requested status.
        to: TicketStatus,
    },
    /// Closing is the confirmation of a resolution, so there must be one.
    #[error("cannot move {} ticket to closed: only resolved tickets can be closed", a_status(*.from))]
    CloseUnresolved {
        /// The current status.
        from: TicketStatus,
    },
    /// A resolved ticket has been worked; withdrawing it would lose that record.
    #[error("cannot move a resolved ticket to cancelled: reopen it or close it instead")]
    CancelResolved,
    /// Resolved tickets go back to work only by reopening.
    #[error("cannot move a resolved ticket to {to}: reopen it first")]
    NotReopened {
        /// The requested status.
        to: TicketStatus,
    },
    /// Moving to the state the ticket is already in is almost always a stale client.
    #[error("the ticket is already {status}")]
    Unchanged {
        /// The current status.
        status: TicketStatus,
    },
}

/// The one place ticket status changes are decided.
///
/// Allowed: new → open, pending, resolved, cancelled; open ↔ pending; open or pending →
/// resolved or cancelled; pending → pending with a different reason; resolved → open
/// (reopen) or closed. Closed and cancelled are final.
pub fn transition(from: &Lifecycle, change: StatusChange) -> Result<Lifecycle, TransitionError> {
    let status = from.status();
    let to = change.target();
    if status.is_final() {
        return Err(TransitionError::Final { from: status, to });
    }
    match (from, change) {
        (Lifecycle::Pending { reason: old }, StatusChange::Pending { reason })
            if *old == reason =>
        {
            Err(TransitionError::Unchanged { status })
        }
        (Lifecycle::Open, StatusChange::Open)
        | (Lifecycle::Resolved { .. }, StatusChange::Resolved { .. }) => {
            Err(TransitionError::Unchanged { status })
        }
        (Lifecycle::Resolved { resolution, note }, StatusChange::Closed) => Ok(Lifecycle::Closed {
            resolution: resolution.clone(),
            note: note.clone(),
        }),
        (_, StatusChange::Closed) => Err(TransitionError::CloseUnresolved { from: status }),
        (Lifecycle::Resolved { .. }, StatusChange::Cancelled) => {
            Err(TransitionError::CancelResolved)
        }
        (Lifecycle::Resolved { .. }, StatusChange::Pending { .. }) => {
            Err(TransitionError::NotReopened { to })
        }
        (_, StatusChange::Open) => Ok(Lifecycle::Open),
        (_, StatusChange::Pending { reason }) => Ok(Lifecycle::Pending { reason }),
        (_, StatusChange::Resolved { resolution, note }) => {
            Ok(Lifecycle::Resolved { resolution, note })
        }
        (_, StatusChange::Cancelled) => Ok(Lifecycle::Cancelled),
    }
}

/// The state a requester's reply moves the ticket to, or `None` when it stays put.
///
/// A reply reopens a resolved ticket (the fix did not work) and resumes a ticket that was
/// pending on the customer (the wait is over). Other states are unchanged; a reply to a
/// closed ticket should start a new ticket, which is the caller's decision.
pub fn on_customer_reply(current: &Lifecycle) -> Option<Lifecycle> {
    match current {
        Lifecycle::Resolved { .. }
        | Lifecycle::Pending {
            reason: PendingReason::Customer,
        } => transition(current, StatusChange::Open).ok(),
        _ => None,
    }
}

/// Whether a ticket resolved at `resolved_at` is due to be closed automatically at `now`,
/// after `after_days` full days (of 24 hours). `after_days = 0` means due at once.
pub fn auto_close_due(resolved_at: Timestamp, now: Timestamp, after_days: u32) -> bool {
    const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;
    // i128 nanoseconds cannot overflow for any pair of jiff timestamps and u32 days.
    now.as_nanosecond() - resolved_at.as_nanosecond() >= i128::from(after_days) * NANOS_PER_DAY
}

/// A custom field's key: lowercase `a-z`, `0-9`, `_`, starting with a letter, at most 50
/// characters, so it is safe as a JSON key and in query text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldKey(String);

impl FieldKey {
    /// The longest key, in characters.
    pub const MAX_CHARS: usize = 50;

    /// Validates and normalizes a key.
    pub fn parse(raw: &str) -> Result<FieldKey, NameError> {
        parse_name(
            raw,
            "field key",
            Self::MAX_CHARS,
            "a-z, 0-9 and `_`, starting with a letter",
            |i, c| c.is_ascii_lowercase() || (i > 0 && (c.is_ascii_digit() || c == '_')),
        )
        .map(FieldKey)
    }
}

string_newtype!(FieldKey, NameError);

/// The kind of a custom field and its kind-specific settings.
///
/// In JSON the kind is the `kind` tag: `{"kind": "select", "options": ["a", "b"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CustomFieldKind {
    /// One line of free text, at most [`CustomFieldDefinition::MAX_TEXT_CHARS`].
    Text,
    /// A JSON number; numeric strings from forms are accepted.
    Number,
    /// One of a fixed list of options, matched ignoring case.
    Select {
        /// The allowed options, in display order.
        options: Vec<String>,
    },
    /// A calendar date, stored as `YYYY-MM-DD`.
    Date,
}

/// Why a custom-field definition was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldDefinitionError {
    /// The key is invalid.
    #[error(transparent)]
    Key(#[from] NameError),
    /// The label is empty or too long.
    #[error("label must be 1 to {max} characters")]
    Label {
        /// The limit.
        max: usize,
    },
    /// A select field without options could never hold a value.
    #[error("a select field needs at least one option")]
    NoOptions,
    /// Too many options for a drop-down to be usable.
    #[error("a select field has {count} options; the limit is {max}")]
    TooManyOptions {
        /// The number given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An option is empty or too long.
    #[error("option `{option}` must be 1 to {max} characters after trimming")]
    BadOption {
        /// The option as given.
        option: String,
        /// The limit.
        max: usize,
    },
    /// Options are matched ignoring case, so these two would be indistinguishable.
    #[error("option `{0}` is listed more than once (ignoring case)")]
    DuplicateOption(String),
}

/// Why a value does not fit a custom field. Maps to HTTP 422 with the field's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldValueError {
    /// The field is required and the value is null or blank.
    #[error("a value is required")]
    Required,
    /// The JSON type does not fit the field kind.
    #[error("expected {expected}, got {found}")]
    WrongType {
        /// What the kind accepts.
        expected: &'static str,
        /// The JSON type given.
        found: &'static str,
    },
    /// Text longer than the limit.
    #[error("text is {len} characters long; the limit is {max}")]
    TooLong {
        /// The length after trimming.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string that is not a finite number.
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// Not one of the select options.
    #[error("`{value}` is not one of the options: {}", .options.join(", "))]
    NotAnOption {
        /// The value given.
        value: String,
        /// The allowed options.
        options: Vec<String>,
    },
    /// Not a calendar date.
    #[error("`{value}` is not a date; expected YYYY-MM-DD")]
    InvalidDate {
        /// The value given.
        value: String,
    },
}

/// The definition of a custom ticket field: key, label, whether it is required, and kind.
///
/// JSON: `{"key": "asset_tag", "label": "Asset tag", "required": false, "kind": "text"}`.
/// Deserializing validates like [`CustomFieldDefinition::new`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawFieldDefinition")]
pub struct CustomFieldDefinition {
    key: FieldKey,
    label: String,
    required: bool,
    #[serde(flatten)]
    kind: CustomFieldKind,
}

/// The unvalidated wire shape of a definition.
#[derive(Deserialize)]
struct RawFieldDefinition {
    key: String,
    label: String,
    #[serde(default)]
    required: bool,
    #[serde(flatten)]
    kind: CustomFieldKind,
}

impl TryFrom<RawFieldDefinition> for CustomFieldDefinition {
    type Error = FieldDefinitionError;

    fn try_from(raw: RawFieldDefinition) -> Result<Self, Self::Error> {
        CustomFieldDefinition::new(&raw.key, &raw.label, raw.required, raw.kind)
    }
}

/// The JSON type name of a value, for messages.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl CustomFieldDefinition {
    /// The longest label, in characters.
    pub const MAX_LABEL_CHARS: usize = 100;
    /// The longest text value, in characters.
    pub const MAX_TEXT_CHARS: usize = 2000;
    /// The most options a select field may have.
    pub const MAX_OPTIONS: usize = 200;
    /// The longest select option, in characters.
    pub const MAX_OPTION_CHARS: usize = 100;

    /// Validates a definition; labels and options are trimmed.
    pub fn new(
        key: &str,
        label: &str,
        required: bool,
        kind: CustomFieldKind,
    ) -> Result<Self, FieldDefinitionError> {
        let key = FieldKey::parse(key)?;
        let label = label.trim();
        let label_len = label.chars().count();
        if label_len == 0 || label_len > Self::MAX_LABEL_CHARS {
            return Err(FieldDefinitionError::Label {
                max: Self::MAX_LABEL_CHARS,
            });
        }
        let kind = match kind {
            CustomFieldKind::Select { options } => CustomFieldKind::Select {
                options: Self::check_options(options)?,
            },
            other => other,
        };
        Ok(CustomFieldDefinition {
            key,
            label: label.to_owned(),
            required,
            kind,
        })
    }

    fn check_options(options: Vec<String>) -> Result<Vec<String>, FieldDefinitionError> {
        if options.is_empty() {
            return Err(FieldDefinitionError::NoOptions);
        }
        if options.len() > Self::MAX_OPTIONS {
            return Err(FieldDefinitionError::TooManyOptions {
                count: options.len(),
                max: Self::MAX_OPTIONS,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut clean = Vec::with_capacity(options.len());
        for option in options {
            let trimmed = option.trim();
            let len = trimmed.chars().count();
            if len == 0 || len > Self::MAX_OPTION_CHARS {
                return Err(FieldDefinitionError::BadOption {
                    option,
                    max: Self::MAX_OPTION_CHARS,
                });
            }
            if !seen.insert(trimmed.to_lowercase()) {
                return Err(FieldDefinitionError::DuplicateOption(trimmed.to_owned()));
            }
            clean.push(trimmed.to_owned());
        }
        Ok(clean)
    }

    /// The field's key.
    pub fn key(&self) -> &FieldKey {
        &self.key
    }

    /// The label shown to people.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether a ticket must have a value.
    pub fn required(&self) -> bool {
        self.required
    }

    /// The kind and its settings.
    pub fn kind(&self) -> &CustomFieldKind {
        &self.kind
    }

    /// Checks `value` against this field and returns it normalized for storage.
    ///
    /// Strings are trimmed; a blank string counts as no value. `null` (or blank) is
    /// `Ok(null)` unless the field is required. Numbers accept numeric strings; select
    /// values are matched ignoring case and returned as the option is spelled; dates are
    /// returned as `YYYY-MM-DD`.
    pub fn validate(
        &self,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, FieldValueError> {
        use serde_json::Value;

        let text = match value {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(s.trim()),
            Value::Number(n) if matches!(self.kind, CustomFieldKind::Number) => {
                return Ok(Value::Number(n.clone()));
            }
            other => {
                return Err(FieldValueError::WrongType {
                    expected: self.expected(),
                    found: json_type(other),
                });
            }
        };
        let Some(text) = text else {
            return if self.required {
                Err(FieldValueError::Required)
            } else {
                Ok(Value::Null)
            };
        };
        match &self.kind {
            CustomFieldKind::Text => {
                let len = text.chars().count();
                if len > Self::MAX_TEXT_CHARS {
                    return Err(FieldValueError::TooLong {
                        len,
                        max: Self::MAX_TEXT_CHARS,
                    });
                }
                Ok(Value::String(text.to_owned()))
            }
            CustomFieldKind::Number => {
                if let Ok(n) = text.parse::<i64>() {
                    return Ok(Value::from(n));
                }
                text.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| FieldValueError::NotANumber(text.to_owned()))
            }
            CustomFieldKind::Select { options } => options
                .iter()
                .find(|o| o.to_lowercase() == text.to_lowercase())
                .map(|o| Value::String(o.clone()))
                .ok_or_else(|| FieldValueError::NotAnOption {
                    value: text.to_owned(),
                    options: options.clone(),
                }),
            CustomFieldKind::Date => text
                .parse::<jiff::civil::Date>()
                .map(|d| Value::String(d.to_string()))
                .map_err(|_| FieldValueError::InvalidDate {
                    value: text.to_owned(),
                }),
        }
    }

    fn expected(&self) -> &'static str {
        match self.kind {
            CustomFieldKind::Text => "text",
            CustomFieldKind::Number => "a number",
            CustomFieldKind::Select { .. } => "one of the options as a string",
            CustomFieldKind::Date => "a date string (YYYY-MM-DD)",
        }
    }
}

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

    #[test]
    fn auto_close_counts_full_days() {
        let resolved: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let almost: Timestamp = "2026-03-04T09:59:59.999Z".parse().unwrap();
        let exactly: Timestamp = "2026-03-04T10:00:00Z".parse().unwrap();
        assert!(!auto_close_due(resolved, almost, 3));
        assert!(auto_close_due(resolved, exactly, 3));
        assert!(auto_close_due(resolved, resolved, 0));
        assert!(!auto_close_due(resolved, Timestamp::MIN, 0));
        // Extremes must neither overflow nor wrap around.
        assert!(auto_close_due(Timestamp::MIN, Timestamp::MAX, 7_000_000));
        assert!(!auto_close_due(Timestamp::MIN, Timestamp::MAX, u32::MAX));
        assert!(!auto_close_due(Timestamp::MAX, Timestamp::MIN, 0));
    }
}
