//! The typed query: filters and their conditions, text, sort, and the field names.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::ticket::{
    Impact, Priority, Source, Tag, TicketNumber, TicketStatus, TicketType, Urgency,
};

/// A parsed search: filters (all must hold), full-text words and phrases, and a sort.
///
/// [`parse`](super::parse) never produces an empty value list; the `Display` text parses back to an
/// equal `Query`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Conditions that must all hold (AND).
    pub filters: Vec<Filter>,
    /// Words and phrases for full-text search; a phrase is one entry containing spaces.
    pub text: Vec<String>,
    /// The requested order; `None` leaves it to the caller's default.
    pub sort: Option<Sort>,
}

impl Query {
    /// Whether the query has no filters, no text and no sort.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty() && self.text.is_empty() && self.sort.is_none()
    }
}

/// One filter term: a condition, possibly negated (`-status:closed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Whether the term matches tickets the condition does *not* hold for.
    pub negated: bool,
    /// The field and its alternatives.
    pub condition: Condition,
}

/// A field with its alternatives (OR), typed per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `status:`
    Status(Vec<TicketStatus>),
    /// `type:`
    Type(Vec<TicketType>),
    /// `priority:`
    Priority(Vec<Priority>),
    /// `impact:`
    Impact(Vec<Impact>),
    /// `urgency:`
    Urgency(Vec<Urgency>),
    /// `group:` by group name.
    Group(Vec<String>),
    /// `assignee:` an email, `me` or `none`.
    Assignee(Vec<PersonMatch>),
    /// `requester:` an email or `me`.
    Requester(Vec<PersonMatch>),
    /// `organization:` by organization name.
    Organization(Vec<String>),
    /// `category:` by category name.
    Category(Vec<String>),
    /// `tag:`
    Tag(Vec<Tag>),
    /// `source:`
    Source(Vec<Source>),
    /// `number:` ticket numbers such as `INC-1042`.
    Number(Vec<TicketNumber>),
    /// `created:` comparisons with the creation time.
    Created(Vec<TimeBound>),
    /// `updated:` comparisons with the last update time.
    Updated(Vec<TimeBound>),
    /// `is:` shorthand states.
    Is(Vec<IsCondition>),
    /// `sla:` where a ticket stands against its service levels.
    Sla(Vec<SlaCondition>),
}

/// A value of `sla:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlaCondition {
    /// `sla:breached`: a response or resolution target was missed.
    Breached,
    /// `sla:due<2h`: a running target falls due within this many seconds (or is overdue).
    DueWithin(i64),
}

impl fmt::Display for SlaCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlaCondition::Breached => f.write_str("breached"),
            SlaCondition::DueWithin(seconds) if seconds % 86_400 == 0 => {
                write!(f, "due<{}d", seconds / 86_400)
            }
            SlaCondition::DueWithin(seconds) if seconds % 3600 == 0 => {
                write!(f, "due<{}h", seconds / 3600)
            }
            SlaCondition::DueWithin(seconds) if seconds % 60 == 0 => {
                write!(f, "due<{}m", seconds / 60)
            }
            SlaCondition::DueWithin(seconds) => write!(f, "due<{seconds}s"),
        }
    }
}

impl Condition {
    /// The field this condition filters on.
    pub const fn field(&self) -> Field {
        match self {
            Condition::Status(_) => Field::Status,
            Condition::Type(_) => Field::Type,
            Condition::Priority(_) => Field::Priority,
            Condition::Impact(_) => Field::Impact,
            Condition::Urgency(_) => Field::Urgency,
            Condition::Group(_) => Field::Group,
            Condition::Assignee(_) => Field::Assignee,
            Condition::Requester(_) => Field::Requester,
            Condition::Organization(_) => Field::Organization,
            Condition::Category(_) => Field::Category,
            Condition::Tag(_) => Field::Tag,
            Condition::Source(_) => Field::Source,
            Condition::Number(_) => Field::Number,
            Condition::Created(_) => Field::Created,
            Condition::Updated(_) => Field::Updated,
            Condition::Is(_) => Field::Is,
            Condition::Sla(_) => Field::Sla,
        }
    }
}

/// Who a person field should match. `me` is resolved by the caller, which knows who asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PersonMatch {
    /// The person running the query (`me`).
    Me,
    /// Nobody: the field is empty (`none`, assignee only).
    Nobody,
    /// A person by email address, lowercased.
    Email(String),
}

impl fmt::Display for PersonMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersonMatch::Me => f.write_str("me"),
            PersonMatch::Nobody => f.write_str("none"),
            PersonMatch::Email(email) => f.write_str(email),
        }
    }
}

/// A comparison with a ticket time. Bare dates in queries mean UTC midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeBound {
    /// `<t`
    Before(Timestamp),
    /// `<=t`
    AtOrBefore(Timestamp),
    /// `>t`
    After(Timestamp),
    /// `>=t`
    AtOrAfter(Timestamp),
    /// A bare date without an operator: the whole UTC day.
    OnDay(Date),
}

impl TimeBound {
    /// Whether `t` satisfies this bound.
    pub fn matches(&self, t: Timestamp) -> bool {
        match *self {
            TimeBound::Before(b) => t < b,
            TimeBound::AtOrBefore(b) => t <= b,
            TimeBound::After(b) => t > b,
            TimeBound::AtOrAfter(b) => t >= b,
            TimeBound::OnDay(day) => t.to_zoned_datetime(TimeZone::UTC).date() == day,
        }
    }

    /// The half-open UTC range `[start, end)` of `day`, for stores that compare instants.
    ///
    /// `None` only for days at the very edge of the representable range, which [`parse`](super::parse)
    /// rejects.
    pub fn day_range(day: Date) -> Option<(Timestamp, Timestamp)> {
        let start = day.to_zoned_datetime(TimeZone::UTC).ok()?.timestamp();
        let end = day
            .tomorrow()
            .ok()?
            .to_zoned_datetime(TimeZone::UTC)
            .ok()?
            .timestamp();
        Some((start, end))
    }
}

impl fmt::Display for TimeBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (op, t) = match *self {
            TimeBound::Before(t) => ("<", t),
            TimeBound::AtOrBefore(t) => ("<=", t),
            TimeBound::After(t) => (">", t),
            TimeBound::AtOrAfter(t) => (">=", t),
            TimeBound::OnDay(day) => return write!(f, "{day}"),
        };
        f.write_str(op)?;
        // Print UTC midnight as the bare date it most likely was typed as.
        let zoned = t.to_zoned_datetime(TimeZone::UTC);
        let date = zoned.date();
        let is_midnight = t.as_nanosecond().rem_euclid(86_400 * 1_000_000_000) == 0;
        if is_midnight && (0..=9999).contains(&date.year()) {
            write!(f, "{date}")
        } else {
            write!(f, "{t}")
        }
    }
}

/// `is:` shorthands for common states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsCondition {
    /// `is:open`: still being worked: new, open or pending (not resolved, closed or
    /// cancelled). See [`TicketStatus::is_active`].
    Open,
    /// `is:unassigned`: no assignee.
    Unassigned,
}

impl IsCondition {
    pub(super) const ALL: &'static [IsCondition] = &[IsCondition::Open, IsCondition::Unassigned];

    /// The name used after `is:`.
    pub const fn as_str(self) -> &'static str {
        match self {
            IsCondition::Open => "open",
            IsCondition::Unassigned => "unassigned",
        }
    }
}

/// What results can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// Creation time; ascending is oldest first.
    Created,
    /// Last update time; ascending is least recently updated first.
    Updated,
    /// Priority; ascending is P1 (most urgent) first.
    Priority,
}

impl SortKey {
    pub(super) const ALL: &'static [SortKey] =
        &[SortKey::Created, SortKey::Updated, SortKey::Priority];

    /// The name used after `sort:`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SortKey::Created => "created",
            SortKey::Updated => "updated",
            SortKey::Priority => "priority",
        }
    }
}

/// The requested order: `sort:created` or `sort:-created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    /// What to order by.
    pub key: SortKey,
    /// Whether the order is reversed (written with a leading `-`).
    pub descending: bool,
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.descending { "-" } else { "" };
        write!(f, "sort:{sign}{}", self.key.as_str())
    }
}

/// The field names of the language, including `is` and `sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `status:`
    Status,
    /// `type:`
    Type,
    /// `priority:`
    Priority,
    /// `impact:`
    Impact,
    /// `urgency:`
    Urgency,
    /// `group:`
    Group,
    /// `assignee:`
    Assignee,
    /// `requester:`
    Requester,
    /// `organization:`
    Organization,
    /// `category:`
    Category,
    /// `tag:`
    Tag,
    /// `source:`
    Source,
    /// `number:`
    Number,
    /// `created:`
    Created,
    /// `updated:`
    Updated,
    /// `is:`
    Is,
    /// `sla:`
    Sla,
    /// `sort:`
    Sort,
}

impl Field {
    /// Every field, in the order help texts list them.
    pub const ALL: &'static [Field] = &[
        Field::Status,
        Field::Type,
        Field::Priority,
        Field::Impact,
        Field::Urgency,
        Field::Group,
        Field::Assignee,
        Field::Requester,
        Field::Organization,
        Field::Category,
        Field::Tag,
        Field::Source,
        Field::Number,
        Field::Created,
        Field::Updated,
        Field::Is,
        Field::Sla,
        Field::Sort,
    ];

    /// The name written before the colon.
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Type => "type",
            Field::Priority => "priority",
            Field::Impact => "impact",
            Field::Urgency => "urgency",
            Field::Group => "group",
            Field::Assignee => "assignee",
            Field::Requester => "requester",
            Field::Organization => "organization",
            Field::Category => "category",
            Field::Tag => "tag",
            Field::Source => "source",
            Field::Number => "number",
            Field::Created => "created",
            Field::Updated => "updated",
            Field::Is => "is",
            Field::Sla => "sla",
            Field::Sort => "sort",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.as_str() == name)
    }

    /// What a value looks like, for "expected … after" messages.
    pub(super) const fn expected_value(self) -> &'static str {
        match self {
            Field::Created | Field::Updated => "a date",
            Field::Assignee => "an email, `me` or `none`",
            Field::Requester => "an email or `me`",
            Field::Number => "a ticket number",
            _ => "a value",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
