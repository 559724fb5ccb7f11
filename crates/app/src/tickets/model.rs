//! What the API shows of tickets and what it accepts to change them.

use super::*;

/// Someone a ticket refers to.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Person {
    pub id: i64,
    pub email: String,
    pub name: String,
}

/// A named record a ticket refers to (organization, category).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// The support group a ticket sits with.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupRef {
    pub id: i64,
    pub name: String,
    pub tier: i64,
}

/// A relation to another ticket.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Link {
    /// `relates_to`, `duplicate_of` or `caused_by`.
    #[serde(rename = "type")]
    pub link_type: String,
    /// The other ticket's number.
    pub target: String,
    /// `outgoing` when this ticket is the subject (this ticket `caused_by` target).
    pub direction: String,
}

/// A ticket as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: i64,
    /// The readable number, e.g. `INC-1042`; usable wherever an id is.
    pub number: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub ticket_type: TicketType,
    pub title: String,
    pub description: String,
    #[schema(value_type = String)]
    pub status: TicketStatus,
    #[schema(value_type = Option<String>)]
    pub pending_reason: Option<PendingReason>,
    pub resolution_code: Option<String>,
    pub resolution_note: Option<String>,
    #[schema(value_type = String)]
    pub impact: Impact,
    #[schema(value_type = String)]
    pub urgency: Urgency,
    #[schema(value_type = String, example = "P3")]
    pub priority: Priority,
    pub category: Option<Named>,
    pub requester: Person,
    pub organization: Option<Named>,
    pub group: Option<GroupRef>,
    pub assignee: Option<Person>,
    pub watchers: Vec<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom: serde_json::Value,
    #[schema(value_type = String)]
    pub source: Source,
    /// The ticket this one was merged into.
    pub merged_into: Option<String>,
    /// The major incident this ticket is part of.
    pub parent: Option<String>,
    /// For a major incident: the tickets that are part of it.
    pub children: Vec<String>,
    pub links: Vec<Link>,
    pub time_spent_minutes: i64,
    /// Service-level targets and where the ticket stands against them.
    pub sla: Option<crate::sla::TicketSla>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_response_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<jiff::Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
    #[serde(skip)]
    pub version: i64,
}

/// A search result: the ticket and, for full-text queries, a matching fragment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketHit {
    #[serde(flatten)]
    pub ticket: Ticket,
    /// Matching text with `«…»` around the matches.
    pub snippet: Option<String>,
}

/// A page of search results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    pub items: Vec<TicketHit>,
    pub next_cursor: Option<String>,
}

/// A new ticket.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// `incident`, `service_request` or `problem`.
    #[serde(rename = "type")]
    pub ticket_type: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `high`, `medium` or `low`.
    pub impact: String,
    /// `high`, `medium` or `low`.
    pub urgency: String,
    /// The requester's e-mail address; yourself when absent.
    #[serde(default)]
    pub requester: Option<String>,
    /// Support group by name.
    #[serde(default)]
    pub group: Option<String>,
    /// Assignee's e-mail address (an agent of the group).
    #[serde(default)]
    pub assignee: Option<String>,
    /// Category by name, or `Parent/Child` for a subcategory.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// E-mail addresses of people to keep informed.
    #[serde(default)]
    pub watchers: Vec<String>,
    /// Values for admin-defined custom fields, by key.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: BTreeMap<String, serde_json::Value>,
    /// `web`, `email`, `api` (default), `monitor` or `phone`.
    #[serde(default)]
    pub source: Option<String>,
    /// The major incident this ticket is part of (id or number): resolving the parent
    /// resolves it too.
    #[serde(default)]
    pub parent: Option<String>,
}

/// Changes to a ticket; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub ticket_type: Option<String>,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    /// `open`, `pending` (with `pending_reason`), `resolved` (with `resolution_code`),
    /// `closed` or `cancelled`.
    pub status: Option<String>,
    pub pending_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_note: Option<String>,
    /// Support group by name; `null` removes it. Moving a ticket records an escalation.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub group: Option<Option<String>>,
    /// Why the ticket moves to another group (kept with the escalation).
    pub escalation_reason: Option<String>,
    /// Assignee's e-mail address; `null` unassigns.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub watchers: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub custom: Option<BTreeMap<String, serde_json::Value>>,
    /// The major incident this ticket is part of; `null` detaches it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub parent: Option<Option<String>>,
}

/// A reply or an internal note.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub body: String,
    /// `true`: a reply the requester sees; `false`: an internal note for staff only.
    #[serde(default = "default_true")]
    pub public: bool,
    #[serde(default)]
    pub time_spent_minutes: Option<i64>,
}

pub(super) fn default_true() -> bool {
    true
}

/// A comment as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Comment {
    pub id: i64,
    pub ticket: String,
    pub author: Option<String>,
    pub body: String,
    pub public: bool,
    pub time_spent_minutes: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    pub actor: String,
    /// `created`, `status_changed`, `updated`, `comment`, `note`, `attachment`,
    /// `attachment_skipped`, `escalated`, `assigned`, `linked`, `merged`, `reopened`.
    pub kind: String,
    /// Whether the requester sees this entry.
    pub public: bool,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The files of the message this entry shows, as the requester may see them: a reply's
    /// or note's mailed files, an upload, the files of the mail that opened the ticket.
    pub attachments: Vec<Attachment>,
}

pub(super) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
