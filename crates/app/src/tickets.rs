//! The service desk: tickets, their conversation and history, and the search over them.
//!
//! Every change to a ticket writes, in one transaction: the ticket row, its timeline entry
//! (public or staff-only), its audit entry, its search-index update and its webhook jobs.

mod attachments;
mod reference;
mod views;

use std::collections::BTreeMap;
use std::str::FromStr;

use opsdesk_domain::account::{Email, Role};
use opsdesk_domain::query::{self, Query};
use opsdesk_domain::ticket::{
    Impact, Lifecycle, LinkType, PendingReason, Priority, ResolutionCode, ResolutionNote, Source,
    StatusChange, Tag, TicketNumber, TicketStatus, TicketType, Title, Urgency, on_customer_reply,
    transition,
};
use opsdesk_store::sla::TicketSlaRow;
use opsdesk_store::tickets::search::{self, Asker, Cursor, Visibility};
use opsdesk_store::tickets::{self as store, TicketFields, TicketRow};
use opsdesk_store::{Backend, Batch, Conn, accounts};
use serde::{Deserialize, Serialize};

use crate::Precondition;
use crate::audit::{Change, record_with, snapshot};
use crate::catalog::Catalog;
use crate::{App, AppError, FieldError, Principal, now_ms, timestamp};

pub use attachments::{Attachment, AttachmentSource, served_content_type};
pub(crate) use attachments::{MailFile, MailFiles, keep_mail_files};
pub use reference::{
    Category, Group, GroupMember, Macro, Membership, NewCategory, NewCustomField, NewGroup,
    NewMacro,
};
pub use views::{NewView, Queue, SavedView};

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

fn default_true() -> bool {
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

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

fn priority_from_rank(rank: i64) -> Priority {
    Priority::ALL
        .iter()
        .find(|p| i64::from(p.rank()) == rank)
        .copied()
        .unwrap_or(Priority::P3)
}

fn parse_field<T: FromStr>(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse::<T>()
        .map_err(|e| errors.push(FieldError::new(field, e)))
        .ok()
}

fn lifecycle_of(row: &TicketRow) -> Result<Lifecycle, AppError> {
    let corrupt = |what: &str| AppError::broken(format!("ticket {} has an invalid {what}", row.id));
    let resolution = || -> Result<(ResolutionCode, Option<ResolutionNote>), AppError> {
        let code = ResolutionCode::parse(row.resolution_code.as_deref().unwrap_or(""))
            .map_err(|_| corrupt("resolution"))?;
        let note = match row.resolution_note.as_deref() {
            Some(note) => {
                Some(ResolutionNote::parse(note).map_err(|_| corrupt("resolution note"))?)
            }
            None => None,
        };
        Ok((code, note))
    };
    let status: TicketStatus = row.status.parse().map_err(|_| corrupt("status"))?;
    Ok(match status {
        TicketStatus::New => Lifecycle::New,
        TicketStatus::Open => Lifecycle::Open,
        TicketStatus::Pending => Lifecycle::Pending {
            reason: row
                .pending_reason
                .as_deref()
                .unwrap_or("")
                .parse()
                .map_err(|_| corrupt("pending reason"))?,
        },
        TicketStatus::Resolved => {
            let (resolution, note) = resolution()?;
            Lifecycle::Resolved { resolution, note }
        }
        TicketStatus::Closed => {
            let (resolution, note) = resolution()?;
            Lifecycle::Closed { resolution, note }
        }
        TicketStatus::Cancelled => Lifecycle::Cancelled,
    })
}

/// Writes a lifecycle into the stored status columns.
fn apply_lifecycle(fields: &mut TicketFields, lifecycle: &Lifecycle, now: i64) {
    fields.status = lifecycle.status().as_str().to_owned();
    fields.pending_reason = lifecycle.pending_reason().map(|r| r.as_str().to_owned());
    let (code, note) = match lifecycle {
        Lifecycle::Resolved { resolution, note } | Lifecycle::Closed { resolution, note } => (
            Some(resolution.as_str().to_owned()),
            note.as_ref().map(|n| n.as_str().to_owned()),
        ),
        _ => (None, None),
    };
    fields.resolution_code = code;
    fields.resolution_note = note;
    match lifecycle.status() {
        TicketStatus::Resolved => fields.resolved_at = Some(fields.resolved_at.unwrap_or(now)),
        TicketStatus::Closed => fields.closed_at = Some(now),
        TicketStatus::Cancelled => fields.closed_at = Some(now),
        _ => {
            fields.resolved_at = None;
            fields.closed_at = None;
        }
    }
}

fn fields_of(row: &TicketRow) -> TicketFields {
    TicketFields {
        ticket_type: row.ticket_type.clone(),
        title: row.title.clone(),
        description: row.description.clone(),
        status: row.status.clone(),
        pending_reason: row.pending_reason.clone(),
        resolution_code: row.resolution_code.clone(),
        resolution_note: row.resolution_note.clone(),
        impact: row.impact.clone(),
        urgency: row.urgency.clone(),
        priority: row.priority,
        category_id: row.category_id,
        requester_id: row.requester_id,
        organization_id: row.organization_id,
        group_id: row.group_id,
        assignee_id: row.assignee_id,
        custom: row.custom.clone(),
        source: row.source.clone(),
        merged_into_id: row.merged_into_id,
        parent_id: row.parent_id,
        resolved_at: row.resolved_at,
        closed_at: row.closed_at,
    }
}

/// What the SLA rules look at in a stored ticket.
fn facts_of(row: &TicketRow) -> Result<crate::sla::SlaFacts, AppError> {
    let corrupt = |what: &str| AppError::broken(format!("ticket {} has an invalid {what}", row.id));
    Ok(crate::sla::SlaFacts {
        ticket_id: row.id,
        organization: row.organization_id,
        ticket_type: row.ticket_type.parse().map_err(|_| corrupt("type"))?,
        priority: priority_from_rank(row.priority),
        category: row.category_id,
        status: row.status.parse().map_err(|_| corrupt("status"))?,
        pending_reason: row.pending_reason.clone(),
    })
}

pub(crate) fn number_of(ticket_type: &str, number: i64) -> String {
    let prefix = TicketType::from_str(ticket_type).map_or("TKT", |t| t.prefix());
    format!("{prefix}-{number}")
}

/// Whether `principal` may see ticket `row` at all.
pub(crate) async fn can_see(
    conn: &mut Conn,
    principal: &Principal,
    row: &TicketRow,
) -> Result<bool, AppError> {
    if principal.role == Role::Customer {
        let me = principal.user_id.unwrap_or(-1);
        if row.requester_id == me {
            return Ok(true);
        }
        if let Some(organization) = row
            .organization_id
            .filter(|org| Some(*org) == principal.organization_id)
            && accounts::get_organization(conn, organization)
                .await?
                .is_some_and(|org| org.customers_see_all != 0)
        {
            return Ok(true);
        }
        return Ok(store::watchers(conn, row.id)
            .await?
            .iter()
            .any(|(id, _)| *id == me));
    }
    Ok(principal.can_see_organization(row.organization_id)
        || principal.organization_filter().is_none())
}

/// Finds a ticket by id or number (`42`, `INC-42`), visible to `principal`.
pub(crate) async fn find_visible(
    conn: &mut Conn,
    principal: &Principal,
    reference: &str,
) -> Result<TicketRow, AppError> {
    let id = resolve_reference(conn, reference).await?;
    let row = store::get(conn, id)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    if !can_see(conn, principal, &row).await? {
        return Err(AppError::NotFound("ticket"));
    }
    Ok(row)
}

pub(crate) async fn resolve_reference(conn: &mut Conn, reference: &str) -> Result<i64, AppError> {
    if let Ok(id) = reference.parse::<i64>() {
        return Ok(id);
    }
    let number: TicketNumber = reference
        .parse()
        .map_err(|_| AppError::NotFound("ticket"))?;
    let sequence = i64::try_from(number.sequence()).map_err(|_| AppError::NotFound("ticket"))?;
    store::find_by_number(conn, number.ticket_type().as_str(), sequence)
        .await?
        .ok_or(AppError::NotFound("ticket"))
}

async fn view(conn: &mut Conn, row: TicketRow) -> Result<Ticket, AppError> {
    let mut views = views(conn, vec![row]).await?;
    views
        .pop()
        .ok_or_else(|| AppError::broken("a ticket view went missing"))
}

/// The views of `rows`, in their order, reading what hangs off them for all rows at once.
async fn views(conn: &mut Conn, rows: Vec<TicketRow>) -> Result<Vec<Ticket>, AppError> {
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut related = store::related_many(conn, &ids).await?;
    let referenced: Vec<i64> = rows
        .iter()
        .flat_map(|row| [row.parent_id, row.merged_into_id])
        .flatten()
        .collect();
    let numbers = store::numbers_many(conn, &referenced).await?;
    let number_at = |id: Option<i64>| {
        id.and_then(|id| numbers.get(&id))
            .map(|(kind, number)| number_of(kind, *number))
    };
    let mut statuses = Vec::with_capacity(rows.len());
    for row in &rows {
        let status: TicketStatus = row
            .status
            .parse()
            .map_err(|_| AppError::broken(format!("ticket {} has an invalid status", row.id)))?;
        statuses.push(status);
    }
    let activity: Vec<(i64, bool)> = ids
        .iter()
        .zip(&statuses)
        .map(|(id, status)| (*id, status.is_active()))
        .collect();
    let mut slas = crate::sla::ticket_sla_views(conn, &activity).await?;
    let mut views = Vec::with_capacity(rows.len());
    for (row, status) in rows.into_iter().zip(statuses) {
        let related = related.remove(&row.id).unwrap_or_default();
        let parts = TicketParts {
            tags: related.tags,
            watchers: related.watchers,
            links: related
                .links
                .into_iter()
                .map(|(link_type, kind, number, outgoing)| Link {
                    link_type,
                    target: number_of(&kind, number),
                    direction: if outgoing { "outgoing" } else { "incoming" }.to_owned(),
                })
                .collect(),
            children: related
                .children
                .into_iter()
                .map(|(kind, number)| number_of(&kind, number))
                .collect(),
            parent: number_at(row.parent_id),
            merged_into: number_at(row.merged_into_id),
            sla: slas.remove(&row.id),
        };
        views.push(ticket_view(row, status, parts)?);
    }
    Ok(views)
}

/// What a ticket's view adds to its row.
struct TicketParts {
    tags: Vec<String>,
    watchers: Vec<String>,
    links: Vec<Link>,
    children: Vec<String>,
    parent: Option<String>,
    merged_into: Option<String>,
    sla: Option<crate::sla::TicketSla>,
}

fn ticket_view(
    row: TicketRow,
    status: TicketStatus,
    parts: TicketParts,
) -> Result<Ticket, AppError> {
    let corrupt = |what: &str| AppError::broken(format!("ticket {} has an invalid {what}", row.id));
    Ok(Ticket {
        id: row.id,
        number: number_of(&row.ticket_type, row.number),
        ticket_type: row.ticket_type.parse().map_err(|_| corrupt("type"))?,
        status,
        pending_reason: row.pending_reason.as_deref().and_then(|r| r.parse().ok()),
        resolution_code: row.resolution_code.clone(),
        resolution_note: row.resolution_note.clone(),
        impact: row.impact.parse().map_err(|_| corrupt("impact"))?,
        urgency: row.urgency.parse().map_err(|_| corrupt("urgency"))?,
        priority: priority_from_rank(row.priority),
        category: row
            .category_id
            .zip(row.category_name.clone())
            .map(|(id, name)| Named { id, name }),
        requester: Person {
            id: row.requester_id,
            email: row.requester_email.clone(),
            name: row.requester_name.clone(),
        },
        organization: row
            .organization_id
            .zip(row.organization_name.clone())
            .map(|(id, name)| Named { id, name }),
        group: match (row.group_id, row.group_name.clone(), row.group_tier) {
            (Some(id), Some(name), Some(tier)) => Some(GroupRef { id, name, tier }),
            _ => None,
        },
        assignee: match (
            row.assignee_id,
            row.assignee_email.clone(),
            row.assignee_name.clone(),
        ) {
            (Some(id), Some(email), Some(name)) => Some(Person { id, email, name }),
            _ => None,
        },
        watchers: parts.watchers,
        tags: parts.tags,
        custom: serde_json::from_str(&row.custom).unwrap_or_else(|_| serde_json::json!({})),
        source: row.source.parse().map_err(|_| corrupt("source"))?,
        merged_into: parts.merged_into,
        parent: parts.parent,
        children: parts.children,
        links: parts.links,
        time_spent_minutes: row.time_spent_minutes,
        sla: parts.sla,
        first_response_at: row.first_response_at.map(timestamp),
        resolved_at: row.resolved_at.map(timestamp),
        closed_at: row.closed_at.map(timestamp),
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
        title: row.title,
        description: row.description,
        version: row.version,
    })
}

async fn user_by_email(
    conn: &mut Conn,
    field: &str,
    email: &str,
) -> Result<accounts::UserRow, AppError> {
    let email = Email::parse(email).map_err(|e| AppError::invalid(field, e))?;
    accounts::find_user_by_email(conn, email.as_str())
        .await?
        .ok_or_else(|| AppError::invalid(field, format!("no user has the address {email}")))
}

fn group_by_name(catalog: &Catalog, name: &str) -> Result<store::GroupRow, AppError> {
    catalog
        .group(name)
        .cloned()
        .ok_or_else(|| AppError::invalid("group", format!("no group is called `{name}`")))
}

pub(crate) fn category_by_path(catalog: &Catalog, path: &str) -> Result<i64, AppError> {
    let mut parent: Option<i64> = None;
    for part in path.split('/').map(str::trim) {
        let found = catalog
            .categories()
            .iter()
            .find(|c| c.parent_id == parent && c.name.eq_ignore_ascii_case(part))
            .ok_or_else(|| AppError::invalid("category", format!("no category `{path}`")))?;
        parent = Some(found.id);
    }
    parent.ok_or_else(|| AppError::invalid("category", "must not be empty"))
}

/// Resolves a parent reference: a visible, active ticket that is not itself a child (major
/// incidents are one level deep) and not the ticket itself.
async fn check_parent(
    conn: &mut Conn,
    principal: &Principal,
    reference: &str,
    child: Option<i64>,
) -> Result<i64, AppError> {
    let parent = find_visible(conn, principal, reference)
        .await
        .map_err(|_| AppError::invalid("parent", "no such ticket"))?;
    if Some(parent.id) == child {
        return Err(AppError::invalid(
            "parent",
            "a ticket cannot be its own parent",
        ));
    }
    if parent.parent_id.is_some() {
        return Err(AppError::invalid(
            "parent",
            "that ticket is itself part of a major incident; link to its parent",
        ));
    }
    if let Some(child) = child
        && !store::children(conn, child).await?.is_empty()
    {
        return Err(AppError::invalid(
            "parent",
            "this ticket has children of its own; it cannot become a child",
        ));
    }
    Ok(parent.id)
}

/// Checks an assignee: staff, and a member of the ticket's group when it has one.
async fn check_assignee(conn: &mut Conn, email: &str, group: Option<i64>) -> Result<i64, AppError> {
    let user = user_by_email(conn, "assignee", email).await?;
    if !matches!(user.role.as_str(), "agent" | "admin") || user.active == 0 {
        return Err(AppError::invalid(
            "assignee",
            "tickets are assigned to active agents",
        ));
    }
    if let Some(group) = group
        && !store::user_groups(conn, user.id).await?.contains(&group)
    {
        return Err(AppError::invalid(
            "assignee",
            "the assignee must be a member of the ticket's group",
        ));
    }
    Ok(user.id)
}

pub(crate) fn parse_tags(tags: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut parsed: Vec<String> = tags
        .iter()
        .enumerate()
        .filter_map(|(index, tag)| parse_field::<Tag>(&format!("tags[{index}]"), tag, errors))
        .map(|tag| tag.as_str().to_owned())
        .collect();
    parsed.sort();
    parsed.dedup();
    parsed
}

async fn watcher_ids(conn: &mut Conn, emails: &[String]) -> Result<Vec<i64>, AppError> {
    let mut ids = Vec::new();
    for (index, email) in emails.iter().enumerate() {
        ids.push(
            user_by_email(conn, &format!("watchers[{index}]"), email)
                .await?
                .id,
        );
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Validates custom values against the admin's definitions; `required` is checked on create.
fn check_custom(
    catalog: &Catalog,
    values: &BTreeMap<String, serde_json::Value>,
    base: serde_json::Map<String, serde_json::Value>,
    creating: bool,
) -> Result<String, AppError> {
    let definitions = catalog.custom_fields();
    let mut errors = Vec::new();
    let mut result = base;
    for (key, value) in values {
        match definitions.iter().find(|d| d.key().as_str() == key) {
            None => errors.push(FieldError::new(
                format!("custom.{key}"),
                "no custom field has this key",
            )),
            Some(definition) => match definition.validate(value) {
                Ok(serde_json::Value::Null) => {
                    result.remove(key);
                }
                Ok(normalized) => {
                    result.insert(key.clone(), normalized);
                }
                Err(e) => errors.push(FieldError::new(format!("custom.{key}"), e)),
            },
        }
    }
    if creating {
        for definition in definitions.iter().filter(|d| d.required()) {
            if !result.contains_key(definition.key().as_str()) {
                errors.push(FieldError::new(
                    format!("custom.{}", definition.key().as_str()),
                    "is required",
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(serde_json::Value::Object(result).to_string())
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Adds a timeline entry to `batch`.
pub(crate) fn timeline(
    batch: &mut Batch,
    ticket_id: i64,
    now: i64,
    actor: &str,
    kind: &str,
    public: bool,
    data: serde_json::Value,
) {
    store::add_timeline(
        batch,
        ticket_id,
        now,
        actor,
        kind,
        public,
        &data.to_string(),
    );
}

fn visibility_of(principal: &Principal) -> Visibility {
    Visibility {
        organizations: match principal.role {
            Role::Customer => None,
            _ => principal.organization_filter(),
        },
        customer: (principal.role == Role::Customer).then(|| principal.user_id.unwrap_or(-1)),
        customer_organization: principal.organization_id,
    }
}

fn encode_cursor(ranked: bool, offset: i64, hit: &search::Hit) -> String {
    if ranked {
        format!("@{offset}")
    } else {
        format!("{}:{}", hit.sort_value, hit.id)
    }
}

fn decode_cursor(cursor: Option<&str>) -> Result<Cursor, AppError> {
    let Some(cursor) = cursor else {
        return Ok(Cursor::Start);
    };
    let invalid = || AppError::invalid("cursor", "not a cursor this API handed out");
    if let Some(offset) = cursor.strip_prefix('@') {
        return offset.parse().map(Cursor::Offset).map_err(|_| invalid());
    }
    let (value, id) = cursor.split_once(':').ok_or_else(invalid)?;
    Ok(Cursor::After {
        value: value.parse().map_err(|_| invalid())?,
        id: id.parse().map_err(|_| invalid())?,
    })
}

/// A new ticket whose fields passed validation, ready to be written.
pub(crate) struct ValidTicket {
    input: NewTicket,
    ticket_type: TicketType,
    title: Title,
    impact: Impact,
    urgency: Urgency,
    source: Source,
    tags: Vec<String>,
}

/// Checks a new ticket's fields before any transaction starts.
pub(crate) fn validate_ticket(
    principal: &Principal,
    input: NewTicket,
) -> Result<ValidTicket, AppError> {
    let mut errors = Vec::new();
    let ticket_type = parse_field::<TicketType>("type", &input.ticket_type, &mut errors);
    let title = parse_field::<Title>("title", &input.title, &mut errors);
    let impact = parse_field::<Impact>("impact", &input.impact, &mut errors);
    let urgency = parse_field::<Urgency>("urgency", &input.urgency, &mut errors);
    let source = parse_field::<Source>(
        "source",
        input.source.as_deref().unwrap_or("api"),
        &mut errors,
    );
    let tags = parse_tags(&input.tags, &mut errors);
    if input.description.len() > 100_000 {
        errors.push(FieldError::new(
            "description",
            "must be at most 100,000 characters",
        ));
    }
    let customer = principal.role == Role::Customer;
    if customer {
        for (field, present) in [
            ("requester", input.requester.is_some()),
            ("group", input.group.is_some()),
            ("assignee", input.assignee.is_some()),
            ("parent", input.parent.is_some()),
        ] {
            if present {
                errors.push(FieldError::new(field, "customers cannot set this"));
            }
        }
    }
    let (Some(ticket_type), Some(title), Some(impact), Some(urgency), Some(source)) =
        (ticket_type, title, impact, urgency, source)
    else {
        return Err(AppError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(ValidTicket {
        input,
        ticket_type,
        title,
        impact,
        urgency,
        source,
        tags,
    })
}

/// A validated ticket with everything it refers to looked up and checked: what remains is
/// writing it.
pub(crate) struct ResolvedTicket {
    fields: TicketFields,
    tags: Vec<String>,
    watchers: Vec<i64>,
    clocks: Option<TicketSlaRow>,
    /// The names the audit entry records, as the API would show them.
    snapshot: serde_json::Value,
}

/// Looks up and checks what a new ticket refers to (requester, group, assignee, category,
/// custom fields, parent) and plans its SLA clocks. Reads only, so the API runs it on a
/// reader before taking its turn at the single writer.
pub(crate) async fn resolve_ticket(
    conn: &mut Conn,
    principal: &Principal,
    ticket: ValidTicket,
    now: i64,
) -> Result<ResolvedTicket, AppError> {
    let ValidTicket {
        input,
        ticket_type,
        title,
        impact,
        urgency,
        source,
        tags,
    } = ticket;
    let customer = principal.role == Role::Customer;
    let requester = match &input.requester {
        Some(email) => user_by_email(conn, "requester", email).await?,
        None => accounts::get_user(conn, principal.user_id.unwrap_or(-1))
            .await?
            .ok_or_else(|| AppError::invalid("requester", "name the requester's e-mail address"))?,
    };
    if !principal.can_see_organization(requester.organization_id) && !customer {
        return Err(AppError::invalid(
            "requester",
            "the requester belongs to an organization you do not serve",
        ));
    }
    let catalog = crate::catalog::current(conn).await?;
    let group = match &input.group {
        Some(name) => Some(group_by_name(&catalog, name)?),
        None => None,
    };
    let group_id = group.as_ref().map(|g| g.id);
    let assignee_id = match &input.assignee {
        Some(email) => Some(check_assignee(conn, email, group_id).await?),
        None => None,
    };
    let category_id = match &input.category {
        Some(path) => Some(category_by_path(&catalog, path)?),
        None => None,
    };
    let custom = check_custom(&catalog, &input.custom, serde_json::Map::new(), true)?;
    let watchers = watcher_ids(conn, &input.watchers).await?;
    let priority = catalog
        .matrix(requester.organization_id)
        .priority(impact, urgency);
    let parent_id = match &input.parent {
        Some(parent) => Some(check_parent(conn, principal, parent, None).await?),
        None => None,
    };
    let fields = TicketFields {
        ticket_type: ticket_type.as_str().to_owned(),
        title: title.as_str().to_owned(),
        description: input.description.trim().to_owned(),
        status: TicketStatus::New.as_str().to_owned(),
        pending_reason: None,
        resolution_code: None,
        resolution_note: None,
        impact: impact.as_str().to_owned(),
        urgency: urgency.as_str().to_owned(),
        priority: i64::from(priority.rank()),
        category_id,
        requester_id: requester.id,
        organization_id: requester.organization_id,
        group_id,
        assignee_id,
        custom,
        source: source.as_str().to_owned(),
        merged_into_id: None,
        parent_id,
        resolved_at: None,
        closed_at: None,
    };
    let facts = crate::sla::SlaFacts {
        ticket_id: 0, // not known before the insert; the clocks get it when they are saved
        organization: fields.organization_id,
        ticket_type,
        priority,
        category: category_id,
        status: TicketStatus::New,
        pending_reason: None,
    };
    let clocks = crate::sla::new_clocks(&catalog, &facts, now)?;
    let snapshot = serde_json::json!({
        "type": fields.ticket_type, "title": fields.title, "description": fields.description,
        "status": fields.status, "impact": fields.impact, "urgency": fields.urgency,
        "priority": priority, "category": input.category, "requester": requester.email,
        "organization_id": fields.organization_id, "group": input.group,
        "assignee": input.assignee, "tags": tags, "watchers": input.watchers,
        "custom": fields.custom, "source": fields.source, "parent": input.parent,
        "sla_policy": clocks.as_ref().map(|c| c.policy_name.clone()),
    });
    Ok(ResolvedTicket {
        fields,
        tags,
        watchers,
        clocks,
        snapshot,
    })
}

/// Writes a resolved ticket with its SLA clocks, timeline, audit entry and (when `notify`) the
/// acknowledgement to its requester, in the caller's transaction; returns its id.
pub(crate) async fn write_ticket(
    conn: &mut Conn,
    backend: Backend,
    principal: &Principal,
    ticket: ResolvedTicket,
    notify: bool,
    now: i64,
) -> Result<i64, AppError> {
    let ResolvedTicket {
        fields,
        tags,
        watchers,
        clocks,
        mut snapshot,
    } = ticket;
    let actor = principal.audit_label();
    let (id, number) = store::insert(conn, backend, &fields, now).await?;
    // Everything else this ticket adds goes to the database in one round trip with its audit
    // entry.
    let mut batch = Batch::for_backend(backend);
    store::add_tags(&mut batch, id, &tags);
    store::add_watchers(&mut batch, id, &watchers);
    store::index_ticket(&mut batch, id, &fields.title, &fields.description);
    if let Some(mut clocks) = clocks {
        clocks.ticket_id = id;
        opsdesk_store::sla::insert_ticket_sla(&mut batch, &clocks);
    }
    let number = number_of(&fields.ticket_type, number);
    timeline(
        &mut batch,
        id,
        now,
        &actor,
        "created",
        true,
        serde_json::json!({
            "number": number, "priority": snapshot["priority"], "source": fields.source,
        }),
    );
    if notify {
        crate::mail::queue_notice(
            &mut batch,
            crate::mail::Notice::Acknowledgement,
            id,
            None,
            now,
        );
    }
    snapshot["id"] = id.into();
    snapshot["number"] = number.into();
    let change = Change {
        actor: &actor,
        entity: "ticket",
        entity_id: id,
        action: "created",
        before: None,
        after: Some(snapshot),
    };
    record_with(conn, batch, &change, now).await?;
    Ok(id)
}

/// Resolves and writes a validated ticket in the caller's transaction; returns its id.
pub(crate) async fn insert_ticket(
    conn: &mut Conn,
    backend: Backend,
    principal: &Principal,
    ticket: ValidTicket,
    notify: bool,
    now: i64,
) -> Result<i64, AppError> {
    let resolved = resolve_ticket(conn, principal, ticket, now).await?;
    write_ticket(conn, backend, principal, resolved, notify, now).await
}

/// A comment whose fields passed validation.
pub(crate) struct ValidComment {
    body: String,
    public: bool,
    minutes: i64,
}

/// Checks a comment before any transaction starts.
pub(crate) fn validate_comment(
    principal: &Principal,
    input: NewComment,
) -> Result<ValidComment, AppError> {
    let body = input.body.trim().to_owned();
    if body.is_empty() {
        return Err(AppError::invalid("body", "must not be empty"));
    }
    if body.len() > 100_000 {
        return Err(AppError::invalid(
            "body",
            "must be at most 100,000 characters",
        ));
    }
    let minutes = input.time_spent_minutes.unwrap_or(0);
    if !(0..=10_000).contains(&minutes) {
        return Err(AppError::invalid(
            "time_spent_minutes",
            "must be between 0 and 10000",
        ));
    }
    let customer = principal.role == Role::Customer;
    if customer && !input.public {
        return Err(AppError::invalid(
            "public",
            "customers cannot write internal notes",
        ));
    }
    Ok(ValidComment {
        body,
        public: input.public,
        minutes,
    })
}

/// Writes a validated comment on ticket `row` in the caller's transaction: the comment, its
/// timeline and audit entries, the first response it may be, the reopening a requester's
/// reply causes, and (when `notify`) the notification an agent's public reply sends.
pub(crate) async fn insert_comment(
    conn: &mut Conn,
    backend: Backend,
    principal: &Principal,
    row: TicketRow,
    comment: ValidComment,
    notify: bool,
    now: i64,
) -> Result<Comment, AppError> {
    let ValidComment {
        body,
        public,
        minutes,
    } = comment;
    let customer = principal.role == Role::Customer;
    let actor = principal.audit_label();
    if row.merged_into_id.is_some() {
        return Err(AppError::Conflict {
            field: None,
            message: "this ticket was merged; comment on the ticket it was merged into".into(),
        });
    }
    let id =
        store::insert_comment(conn, row.id, principal.user_id, &body, public, minutes, now).await?;
    let first_response = (public && !customer).then_some(now);
    store::touch(conn, row.id, now, first_response, minutes).await?;
    if first_response.is_some() {
        crate::sla::on_first_response(conn, row.id, now).await?;
    }
    let mut batch = Batch::for_backend(backend);
    store::index_comment(&mut batch, row.id, &body, public);
    let kind = if public { "comment" } else { "note" };
    timeline(
        &mut batch,
        row.id,
        now,
        &actor,
        kind,
        public,
        serde_json::json!({
            "comment_id": id, "body": body, "author": principal.email, "time_spent_minutes": minutes,
        }),
    );
    if customer && let Some(reopened) = on_customer_reply(&lifecycle_of(&row)?) {
        let current = store::get(conn, row.id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        let mut fields = fields_of(&current);
        apply_lifecycle(&mut fields, &reopened, now);
        store::update(conn, row.id, current.version, &fields, now).await?;
        let reopened_row = store::get(conn, row.id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        let catalog = crate::catalog::current(conn).await?;
        crate::sla::on_ticket_changed(
            conn,
            &catalog,
            &facts_of(&current)?,
            &facts_of(&reopened_row)?,
            now,
        )
        .await?;
        timeline(
            &mut batch,
            row.id,
            now,
            &actor,
            "reopened",
            true,
            serde_json::json!({
                "from": row.status, "to": fields.status, "because": "the requester replied",
            }),
        );
    }
    let comment = Comment {
        id,
        ticket: number_of(&row.ticket_type, row.number),
        author: Some(principal.email.clone()).filter(|e| !e.is_empty()),
        body,
        public,
        time_spent_minutes: minutes,
        created_at: timestamp(now),
    };
    let change = Change {
        actor: &actor,
        entity: "comment",
        entity_id: id,
        action: "created",
        before: None,
        after: snapshot(&comment),
    };
    if notify && public && !customer {
        crate::mail::queue_notice(
            &mut batch,
            crate::mail::Notice::Reply,
            row.id,
            Some(id),
            now,
        );
    }
    record_with(conn, batch, &change, now).await?;
    Ok(comment)
}

/// The outcome of one ticket in a bulk update.
#[derive(Debug)]
pub struct BulkOutcome {
    /// The ticket as the request named it.
    pub ticket: String,
    pub result: Result<(), AppError>,
}

impl App {
    /// Opens a ticket. Customers open tickets for themselves in their organization.
    pub async fn create_ticket(
        &self,
        principal: &Principal,
        input: NewTicket,
    ) -> Result<Ticket, AppError> {
        let valid = validate_ticket(principal, input)?;
        let now = now_ms();
        // The lookups run on a reader and the read-back after the commit, so the single
        // writer (on SQLite) spends its turn only on the rows this ticket adds.
        let resolved = {
            let mut conn = self.db().reader().await?;
            resolve_ticket(&mut conn, principal, valid, now).await?
        };
        let writer = principal.clone();
        let backend = self.db().backend();
        let notify = self.notifications_enabled();
        let id = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    write_ticket(conn, backend, &writer, resolved, notify, now).await
                })
            })
            .await?;
        self.wake_jobs();
        let ticket = {
            let mut conn = self.db().reader().await?;
            let row = store::get(&mut conn, id)
                .await?
                .ok_or(AppError::NotFound("ticket"))?;
            view(&mut conn, row).await?
        };
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Created,
            principal,
        );
        Ok(ticket)
    }

    /// A ticket by id or number.
    pub async fn ticket(&self, principal: &Principal, reference: &str) -> Result<Ticket, AppError> {
        let mut conn = self.db().reader().await?;
        let row = find_visible(&mut conn, principal, reference).await?;
        view(&mut conn, row).await
    }

    /// Changes a ticket (staff). `expected_version` comes from `If-Match`.
    pub async fn update_ticket(
        &self,
        principal: &Principal,
        reference: &str,
        expected_version: impl Into<Precondition>,
        patch: TicketPatch,
    ) -> Result<Ticket, AppError> {
        let expected_version: Precondition = expected_version.into();
        principal.require_staff()?;
        let publisher = principal.clone();
        let principal = principal.clone();
        let reference = reference.to_owned();
        let backend = self.db().backend();
        let notify = self.notifications_enabled();
        let now = now_ms();
        let ticket = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let row = find_visible(conn, &principal, &reference).await?;
                    let change = TicketChange {
                        backend,
                        principal: &principal,
                        notify,
                        now,
                    };
                    patch_ticket(conn, &change, row, expected_version, patch).await
                })
            })
            .await?;
        self.wake_jobs();
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Updated,
            &publisher,
        );
        Ok(ticket)
    }

    /// Applies one patch to many tickets; each succeeds or fails on its own.
    pub async fn bulk_update(
        &self,
        principal: &Principal,
        references: Vec<String>,
        patch: TicketPatch,
    ) -> Result<Vec<BulkOutcome>, AppError> {
        principal.require_staff()?;
        if references.len() > 500 {
            return Err(AppError::invalid(
                "tickets",
                "at most 500 tickets at a time",
            ));
        }
        let mut outcomes = Vec::with_capacity(references.len());
        for reference in references {
            let result = self
                .update_ticket(principal, &reference, None, patch.clone())
                .await
                .map(|_| ());
            outcomes.push(BulkOutcome {
                ticket: reference,
                result,
            });
        }
        Ok(outcomes)
    }

    /// Adds a reply or internal note. A requester's reply reopens a resolved ticket; an
    /// agent's first public reply is the ticket's first response.
    pub async fn add_comment(
        &self,
        principal: &Principal,
        reference: &str,
        input: NewComment,
    ) -> Result<Comment, AppError> {
        let valid = validate_comment(principal, input)?;
        let publisher = principal.clone();
        let principal = principal.clone();
        let reference = reference.to_owned();
        let backend = self.db().backend();
        let notify = self.notifications_enabled();
        let now = now_ms();
        let (comment, ticket_id) = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let row = find_visible(conn, &principal, &reference).await?;
                    let ticket_id = row.id;
                    let comment =
                        insert_comment(conn, backend, &principal, row, valid, notify, now).await?;
                    Ok::<_, AppError>((comment, ticket_id))
                })
            })
            .await?;
        self.wake_jobs();
        self.publish(
            ticket_id,
            &comment.ticket,
            crate::TicketEventKind::Comment,
            &publisher,
        );
        Ok(comment)
    }

    /// A ticket's history; requesters see public entries only.
    pub async fn ticket_timeline(
        &self,
        principal: &Principal,
        reference: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<TimelineEntry>, AppError> {
        let mut conn = self.db().reader().await?;
        let row = find_visible(&mut conn, principal, reference).await?;
        let public_only = principal.role == Role::Customer;
        let rows = store::timeline(&mut conn, row.id, public_only, after, limit).await?;
        let number = number_of(&row.ticket_type, row.number);
        let files: Vec<Attachment> =
            opsdesk_store::attachments::of_ticket(&mut conn, row.id, public_only)
                .await?
                .into_iter()
                .map(|file| attachments::view(file, &number))
                .collect();
        let opening_mail = if files.iter().any(|file| file.mail_id.is_some()) {
            opsdesk_store::mail::opening_message(&mut conn, row.id).await?
        } else {
            None
        };
        Ok(rows
            .into_iter()
            .map(|entry| {
                let data = serde_json::from_str(&entry.data).unwrap_or(serde_json::Value::Null);
                TimelineEntry {
                    id: entry.id,
                    at: timestamp(entry.at),
                    actor: entry.actor,
                    attachments: attachments::files_of_entry(
                        &entry.kind,
                        &data,
                        opening_mail,
                        &files,
                    ),
                    kind: entry.kind,
                    public: entry.public != 0,
                    data,
                }
            })
            .collect())
    }

    /// Relates two tickets (staff).
    pub async fn link_tickets(
        &self,
        principal: &Principal,
        reference: &str,
        link_type: &str,
        target: &str,
    ) -> Result<Ticket, AppError> {
        principal.require_staff()?;
        let link_type: LinkType = link_type
            .parse()
            .map_err(|e| AppError::invalid("type", e))?;
        let actor = principal.audit_label();
        let publisher = principal.clone();
        let principal = principal.clone();
        let (reference, target) = (reference.to_owned(), target.to_owned());
        let now = now_ms();
        let ticket = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let row = find_visible(conn, &principal, &reference).await?;
                    let other = find_visible(conn, &principal, &target)
                        .await
                        .map_err(|_| AppError::invalid("target", "no such ticket"))?;
                    if other.id == row.id {
                        return Err(AppError::invalid("target", "a ticket cannot be linked to itself"));
                    }
                    store::add_link(conn, row.id, other.id, link_type.as_str(), now).await?;
                    store::touch(conn, row.id, now, None, 0).await?;
                    let target_number = number_of(&other.ticket_type, other.number);
                    let mut batch = Batch::new(conn);
                    timeline(&mut batch, row.id, now, &actor, "linked", false, serde_json::json!({
                        "type": link_type.as_str(), "target": target_number,
                    }));
                    let linked = store::get(conn, row.id).await?.ok_or(AppError::NotFound("ticket"))?;
                    let after = view(conn, linked).await?;
                    record_with(conn, batch, &Change {
                        actor: &actor,
                        entity: "ticket",
                        entity_id: row.id,
                        action: "linked",
                        before: None,
                        after: Some(serde_json::json!({"type": link_type.as_str(), "target": target_number})),
                    }, now)
                    .await?;
                    Ok::<_, AppError>(after)
                })
            })
            .await?;
        self.wake_jobs();
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Linked,
            &publisher,
        );
        Ok(ticket)
    }

    /// Merges a ticket into another (staff): its conversation moves, it is closed as
    /// `merged`, and it points to the target from then on.
    pub async fn merge_ticket(
        &self,
        principal: &Principal,
        reference: &str,
        into: &str,
    ) -> Result<Ticket, AppError> {
        principal.require_staff()?;
        let actor = principal.audit_label();
        let publisher = principal.clone();
        let principal = principal.clone();
        let (reference, into) = (reference.to_owned(), into.to_owned());
        let backend = self.db().backend();
        let now = now_ms();
        let ticket = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let source = find_visible(conn, &principal, &reference).await?;
                    let target = find_visible(conn, &principal, &into)
                        .await
                        .map_err(|_| AppError::invalid("into", "no such ticket"))?;
                    if source.id == target.id {
                        return Err(AppError::invalid(
                            "into",
                            "a ticket cannot be merged into itself",
                        ));
                    }
                    if target.merged_into_id.is_some() {
                        return Err(AppError::invalid(
                            "into",
                            "that ticket was itself merged; merge into the ticket it points to",
                        ));
                    }
                    if lifecycle_of(&source)?.status().is_final() {
                        return Err(AppError::Conflict {
                            field: None,
                            message: format!(
                                "{} is already {}; only active tickets can be merged",
                                number_of(&source.ticket_type, source.number),
                                source.status
                            ),
                        });
                    }
                    let moved = store::comments(conn, source.id, false).await?;
                    store::move_comments(conn, source.id, target.id).await?;
                    let mut batch = Batch::for_backend(backend);
                    for comment in &moved {
                        store::index_comment(
                            &mut batch,
                            target.id,
                            &comment.body,
                            comment.public != 0,
                        );
                    }
                    let before = view(conn, source.clone()).await?;
                    let mut fields = fields_of(&source);
                    fields.merged_into_id = Some(target.id);
                    let closed = Lifecycle::Closed {
                        resolution: ResolutionCode::parse("merged")
                            .map_err(|e| AppError::internal("the `merged` resolution", e))?,
                        note: None,
                    };
                    apply_lifecycle(&mut fields, &closed, now);
                    store::update(conn, source.id, source.version, &fields, now).await?;
                    let closed_row = store::get(conn, source.id)
                        .await?
                        .ok_or(AppError::NotFound("ticket"))?;
                    let catalog = crate::catalog::current(conn).await?;
                    crate::sla::on_ticket_changed(
                        conn,
                        &catalog,
                        &facts_of(&source)?,
                        &facts_of(&closed_row)?,
                        now,
                    )
                    .await?;
                    store::add_link(
                        conn,
                        source.id,
                        target.id,
                        LinkType::DuplicateOf.as_str(),
                        now,
                    )
                    .await
                    .or_else(|e| match e {
                        opsdesk_store::StoreError::Duplicate(_) => Ok(()),
                        other => Err(other),
                    })?;
                    store::touch(conn, target.id, now, None, 0).await?;
                    let (source_number, target_number) = (
                        number_of(&source.ticket_type, source.number),
                        number_of(&target.ticket_type, target.number),
                    );
                    timeline(
                        &mut batch,
                        source.id,
                        now,
                        &actor,
                        "merged",
                        true,
                        serde_json::json!({"into": target_number}),
                    );
                    timeline(
                        &mut batch,
                        target.id,
                        now,
                        &actor,
                        "merged",
                        true,
                        serde_json::json!({
                            "from": source_number, "comments_moved": moved.len(),
                        }),
                    );
                    let merged = store::get(conn, target.id)
                        .await?
                        .ok_or(AppError::NotFound("ticket"))?;
                    let closed_source = store::get(conn, source.id)
                        .await?
                        .ok_or(AppError::NotFound("ticket"))?;
                    let after = view(conn, closed_source).await?;
                    record_with(
                        conn,
                        batch,
                        &Change {
                            actor: &actor,
                            entity: "ticket",
                            entity_id: source.id,
                            action: "merged",
                            before: snapshot(&before),
                            after: snapshot(&after),
                        },
                        now,
                    )
                    .await?;
                    Ok((view(conn, merged).await?, after))
                })
            })
            .await?;
        self.wake_jobs();
        let (ticket, source) = ticket;
        self.publish(
            source.id,
            &source.number,
            crate::TicketEventKind::Merged,
            &publisher,
        );
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Merged,
            &publisher,
        );
        Ok(ticket)
    }

    /// Searches tickets with the query language, visible ones only.
    pub async fn search_tickets(
        &self,
        principal: &Principal,
        query_text: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<SearchPage, AppError> {
        let query = query::parse(query_text).map_err(|e| AppError::QueryError {
            position: e.position(),
            message: e.to_string(),
        })?;
        let cursor = decode_cursor(cursor)?;
        let visibility = visibility_of(principal);
        let mut conn = self.db().reader().await?;
        let hits = search::search(
            &mut conn,
            self.db().backend(),
            &query,
            &visibility,
            Asker {
                me: principal.user_id,
                now: now_ms(),
            },
            cursor,
            limit + 1,
        )
        .await?;
        let ranked = !query.text.is_empty() && query.sort.is_none();
        let more = hits.len() as i64 > limit;
        let hits: Vec<search::Hit> = hits
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        let start = match cursor {
            Cursor::Offset(offset) => offset,
            _ => 0,
        };
        let next_cursor = if more {
            hits.last()
                .map(|hit| encode_cursor(ranked, start + hits.len() as i64, hit))
        } else {
            None
        };
        let ids: Vec<i64> = hits.iter().map(|hit| hit.id).collect();
        let rows = store::get_many(&mut conn, &ids).await?;
        let tickets = views(&mut conn, rows).await?;
        let items = tickets
            .into_iter()
            .zip(hits)
            .map(|(ticket, hit)| TicketHit {
                ticket,
                snippet: hit.snippet,
            })
            .collect();
        Ok(SearchPage { items, next_cursor })
    }

    /// How many visible tickets match a query, counting no further than `limit`.
    pub async fn count_tickets(
        &self,
        principal: &Principal,
        query: &Query,
        limit: i64,
    ) -> Result<i64, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(search::count(
            &mut conn,
            self.db().backend(),
            query,
            &visibility_of(principal),
            Asker {
                me: principal.user_id,
                now: now_ms(),
            },
            limit,
        )
        .await?)
    }

    /// Closes tickets resolved more than `after_days` ago. Returns how many were closed.
    pub async fn close_resolved_tickets(&self, after_days: u32) -> Result<usize, AppError> {
        let now = now_ms();
        let cutoff = now - i64::from(after_days) * 86_400_000;
        let backend = self.db().backend();
        let closed = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let ids = store::resolved_before(conn, cutoff, 200).await?;
                    let mut closed = 0;
                    for id in ids {
                        let Some(row) = store::get(conn, id).await? else {
                            continue;
                        };
                        let patch = TicketPatch {
                            status: Some("closed".into()),
                            ..TicketPatch::default()
                        };
                        apply_patch(
                            conn,
                            backend,
                            &Principal::system(&format!("auto-close after {after_days} days")),
                            row,
                            Precondition::Any,
                            patch,
                            now,
                        )
                        .await?;
                        closed += 1;
                    }
                    Ok::<_, AppError>(closed)
                })
            })
            .await?;
        if closed > 0 {
            self.wake_jobs();
        }
        Ok(closed)
    }
}

/// Who changes a ticket inside the caller's transaction, and how.
pub(crate) struct TicketChange<'a> {
    pub backend: Backend,
    pub principal: &'a Principal,
    /// Whether the change may queue notifications.
    pub notify: bool,
    pub now: i64,
}

/// Applies `patch` to ticket `row` in the caller's transaction and queues the resolution
/// notice when it resolves the ticket.
pub(crate) async fn patch_ticket(
    conn: &mut Conn,
    change: &TicketChange<'_>,
    row: TicketRow,
    expected_version: Precondition,
    patch: TicketPatch,
) -> Result<Ticket, AppError> {
    let was_resolved = row.status == TicketStatus::Resolved.as_str();
    let (backend, now) = (change.backend, change.now);
    let ticket = apply_patch(
        conn,
        backend,
        change.principal,
        row,
        expected_version,
        patch,
        now,
    )
    .await?;
    if change.notify && !was_resolved && ticket.status == TicketStatus::Resolved {
        let mut batch = Batch::for_backend(backend);
        let notice = crate::mail::Notice::Resolution;
        crate::mail::queue_notice(&mut batch, notice, ticket.id, None, now);
        batch.run(conn).await?;
    }
    Ok(ticket)
}

/// Applies a patch inside a write transaction and records what changed.
async fn apply_patch(
    conn: &mut Conn,
    backend: Backend,
    principal: &Principal,
    row: TicketRow,
    expected_version: Precondition,
    patch: TicketPatch,
    now: i64,
) -> Result<Ticket, AppError> {
    let actor_label = principal.audit_label();
    let actor = actor_label.as_str();
    expected_version.check(row.version)?;
    let before = view(conn, row.clone()).await?;
    let catalog = crate::catalog::current(conn).await?;
    let mut fields = fields_of(&row);
    let mut errors = Vec::new();
    let mut changed: Vec<&'static str> = Vec::new();
    // The timeline entries go to the database with the audit entry, in one round trip.
    let mut batch = Batch::for_backend(backend);

    if let Some(kind) = &patch.ticket_type
        && kind != &row.ticket_type
    {
        errors.push(FieldError::new(
            "type",
            "a ticket keeps its type (its number depends on it); open a new ticket and link it",
        ));
    }
    if let Some(title) = &patch.title
        && let Some(title) = parse_field::<Title>("title", title, &mut errors)
    {
        fields.title = title.as_str().to_owned();
        changed.push("title");
    }
    if let Some(description) = &patch.description {
        fields.description = description.trim().to_owned();
        changed.push("description");
    }
    if let Some(impact) = &patch.impact
        && let Some(impact) = parse_field::<Impact>("impact", impact, &mut errors)
    {
        fields.impact = impact.as_str().to_owned();
        changed.push("impact");
    }
    if let Some(urgency) = &patch.urgency
        && let Some(urgency) = parse_field::<Urgency>("urgency", urgency, &mut errors)
    {
        fields.urgency = urgency.as_str().to_owned();
        changed.push("urgency");
    }
    let tags = patch
        .tags
        .as_ref()
        .map(|tags| parse_tags(tags, &mut errors));
    let status_change = match &patch.status {
        None => {
            if patch.pending_reason.is_some() || patch.resolution_code.is_some() {
                errors.push(FieldError::new(
                    "status",
                    "send the status the reason or resolution belongs to",
                ));
            }
            None
        }
        Some(status) => parse_status_change(status, &patch, &mut errors),
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    if let (Ok(impact), Ok(urgency)) = (
        fields.impact.parse::<Impact>(),
        fields.urgency.parse::<Urgency>(),
    ) {
        let matrix = catalog.matrix(fields.organization_id);
        fields.priority = i64::from(matrix.priority(impact, urgency).rank());
    }
    if let Some(change) = status_change {
        let current = lifecycle_of(&row)?;
        let next = transition(&current, change).map_err(|e| AppError::Conflict {
            field: Some("status".into()),
            message: e.to_string(),
        })?;
        apply_lifecycle(&mut fields, &next, now);
        timeline(
            &mut batch,
            row.id,
            now,
            actor,
            "status_changed",
            true,
            serde_json::json!({
                "from": row.status, "to": fields.status, "pending_reason": fields.pending_reason,
                "resolution_code": fields.resolution_code, "resolution_note": fields.resolution_note,
            }),
        );
    }
    if let Some(group) = &patch.group {
        let new_group = match group {
            Some(name) => Some(group_by_name(&catalog, name)?),
            None => None,
        };
        let new_id = new_group.as_ref().map(|g| g.id);
        if new_id != row.group_id {
            let reason = patch.escalation_reason.clone().unwrap_or_default();
            store::add_escalation(conn, row.id, row.group_id, new_id, actor, &reason, now).await?;
            timeline(
                &mut batch,
                row.id,
                now,
                actor,
                "escalated",
                false,
                serde_json::json!({
                    "from": row.group_name, "to": new_group.as_ref().map(|g| g.name.clone()), "reason": reason,
                }),
            );
            fields.group_id = new_id;
            // The assignee stays only if they also work in the new group.
            if let (Some(assignee), Some(group)) = (fields.assignee_id, new_id)
                && !store::user_groups(conn, assignee).await?.contains(&group)
            {
                fields.assignee_id = None;
            }
        }
    }
    if let Some(assignee) = &patch.assignee {
        let new_assignee = match assignee {
            Some(email) => Some(check_assignee(conn, email, fields.group_id).await?),
            None => None,
        };
        if new_assignee != row.assignee_id {
            fields.assignee_id = new_assignee;
            timeline(
                &mut batch,
                row.id,
                now,
                actor,
                "assigned",
                false,
                serde_json::json!({
                    "from": row.assignee_email, "to": assignee,
                }),
            );
        }
    }
    if let Some(parent) = &patch.parent {
        fields.parent_id = match parent {
            Some(reference) => Some(check_parent(conn, principal, reference, Some(row.id)).await?),
            None => None,
        };
        changed.push("parent");
    }
    if let Some(category) = &patch.category {
        fields.category_id = match category {
            Some(path) => Some(category_by_path(&catalog, path)?),
            None => None,
        };
        changed.push("category");
    }
    if let Some(custom) = &patch.custom {
        let base = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&row.custom)
            .unwrap_or_default();
        fields.custom = check_custom(&catalog, custom, base, false)?;
        changed.push("custom");
    }
    // Read back by the view below, so written now.
    let mut lists = Batch::for_backend(backend);
    if let Some(tags) = &tags {
        store::set_tags(&mut lists, row.id, tags);
        changed.push("tags");
    }
    if let Some(watchers) = &patch.watchers {
        let ids = watcher_ids(conn, watchers).await?;
        store::set_watchers(&mut lists, row.id, &ids);
        changed.push("watchers");
    }
    lists.run(conn).await?;
    if !store::update(conn, row.id, row.version, &fields, now).await? {
        return Err(AppError::Stale);
    }
    if patch.title.is_some() || patch.description.is_some() {
        store::reindex_text(&mut batch, row.id, &fields.title, &fields.description);
    }
    if !changed.is_empty() {
        timeline(
            &mut batch,
            row.id,
            now,
            actor,
            "updated",
            true,
            serde_json::json!({"fields": changed}),
        );
    }
    let updated = store::get(conn, row.id)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    crate::sla::on_ticket_changed(conn, &catalog, &facts_of(&row)?, &facts_of(&updated)?, now)
        .await?;
    if updated.status == TicketStatus::Resolved.as_str() && row.status != updated.status {
        resolve_children(conn, backend, principal, &updated, now).await?;
    }
    let after = view(conn, updated).await?;
    record_with(
        conn,
        batch,
        &Change {
            actor,
            entity: "ticket",
            entity_id: row.id,
            action: "updated",
            before: snapshot(&before),
            after: snapshot(&after),
        },
        now,
    )
    .await?;
    Ok(after)
}

fn parse_status_change(
    status: &str,
    patch: &TicketPatch,
    errors: &mut Vec<FieldError>,
) -> Option<StatusChange> {
    let status = parse_field::<TicketStatus>("status", status, errors)?;
    match status {
        TicketStatus::New => {
            errors.push(FieldError::new("status", "a ticket cannot go back to new"));
            None
        }
        TicketStatus::Open => Some(StatusChange::Open),
        TicketStatus::Pending => match &patch.pending_reason {
            None => {
                errors.push(FieldError::new(
                    "pending_reason",
                    "pending needs a reason: customer, third_party or change",
                ));
                None
            }
            Some(reason) => parse_field::<PendingReason>("pending_reason", reason, errors)
                .map(|reason| StatusChange::Pending { reason }),
        },
        TicketStatus::Resolved => {
            let Some(code) = &patch.resolution_code else {
                errors.push(FieldError::new(
                    "resolution_code",
                    "resolving needs a resolution code, e.g. `fixed`",
                ));
                return None;
            };
            let resolution = parse_field::<ResolutionCode>("resolution_code", code, errors)?;
            let note = match &patch.resolution_note {
                Some(note) => Some(parse_field::<ResolutionNote>(
                    "resolution_note",
                    note,
                    errors,
                )?),
                None => None,
            };
            Some(StatusChange::Resolved { resolution, note })
        }
        TicketStatus::Closed => Some(StatusChange::Closed),
        TicketStatus::Cancelled => Some(StatusChange::Cancelled),
    }
}

/// Resolving a major incident resolves its open children, each with a note saying why.
async fn resolve_children(
    conn: &mut Conn,
    backend: Backend,
    principal: &Principal,
    parent: &TicketRow,
    now: i64,
) -> Result<(), AppError> {
    let parent_number = number_of(&parent.ticket_type, parent.number);
    for child_id in store::active_children(conn, parent.id).await? {
        let Some(child) = store::get(conn, child_id).await? else {
            continue;
        };
        let note = format!("Resolved with its parent {parent_number}.");
        let patch = TicketPatch {
            status: Some("resolved".into()),
            resolution_code: parent.resolution_code.clone(),
            resolution_note: Some(note),
            ..TicketPatch::default()
        };
        Box::pin(apply_patch(
            conn,
            backend,
            principal,
            child,
            Precondition::Any,
            patch,
            now,
        ))
        .await?;
    }
    Ok(())
}
