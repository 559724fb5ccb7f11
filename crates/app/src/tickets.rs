//! The service desk: tickets, their conversation and history, and the search over them.
//!
//! Every change to a ticket writes, in one transaction: the ticket row, its timeline entry
//! (public or staff-only), its audit entry, its search-index update and its webhook jobs.

mod attachments;
mod automation;
mod comments;
mod create;
mod deletion;
mod finding;
mod import;
mod model;
mod reference;
mod relations;
mod update;
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
use opsdesk_store::{Batch, Conn, accounts};
use serde::{Deserialize, Serialize};

use crate::Precondition;
use crate::audit::{Action, Entity, Event, snapshot};
use crate::catalog::Catalog;
use crate::change::{Need, Tx};
use crate::{App, AppError, FieldError, Principal, timestamp};

pub use attachments::{Attachment, AttachmentSource, served_content_type};
pub(crate) use attachments::{MailFile, MailFiles, keep_mail_files};
pub(crate) use attachments::{sanitize_content_type, sanitize_filename};
pub(crate) use comments::add_note;
pub use deletion::{DeletedTicket, read_backup_ticket};
pub use import::{
    ImportComment, ImportFile, ImportLine, ImportPlan, ImportTicket, LineProblem, Missing,
    StoredComment, StoredFile, StoredImport, TicketFile, TicketFileError, is_csv_name,
    read_ticket_file,
};
pub use reference::{
    Category, Group, GroupMember, Macro, Membership, NewCategory, NewCustomField, NewGroup,
    NewMacro,
};
pub use views::{NewView, Queue, SavedView};

pub(crate) use automation::{facts_of as rule_facts_of, run_rules};
pub(crate) use comments::{ValidComment, insert_comment, validate_comment};
pub(crate) use create::{
    ResolvedTicket, ValidTicket, insert_ticket, resolve_ticket, validate_ticket, write_ticket,
};
pub use model::{
    Comment, GroupRef, Link, Named, NewComment, NewTicket, Person, SearchPage, Ticket, TicketHit,
    TicketPatch, TimelineEntry,
};
pub use update::BulkOutcome;
pub(crate) use update::patch_ticket;

pub(crate) fn priority_from_rank(rank: i64) -> Priority {
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
    let reason = || {
        row.pending_reason
            .as_deref()
            .unwrap_or("")
            .parse()
            .map_err(|_| corrupt("pending reason"))
    };
    Lifecycle::of(status, reason, resolution)
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

/// Writes ticket `row`'s new `fields`, moved to `lifecycle` when given (a caller that shows the
/// new status before writing has applied it already), reads the ticket back and lets its SLA
/// clocks follow. `catalog` is the caller's when it has loaded one. Stale if the ticket
/// changed since `row` was read.
async fn save_ticket(
    tx: &mut Tx<'_>,
    row: &TicketRow,
    mut fields: TicketFields,
    lifecycle: Option<&Lifecycle>,
    catalog: Option<&Catalog>,
) -> Result<TicketRow, AppError> {
    if let Some(lifecycle) = lifecycle {
        apply_lifecycle(&mut fields, lifecycle, tx.now);
    }
    if !store::update(tx.conn, row.id, row.version, &fields, tx.now).await? {
        return Err(AppError::Stale);
    }
    let saved = store::get(tx.conn, row.id)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let loaded;
    let catalog = match catalog {
        Some(catalog) => catalog,
        None => {
            loaded = crate::catalog::current(tx.conn).await?;
            &*loaded
        }
    };
    crate::sla::on_ticket_changed(
        tx.conn,
        catalog,
        &facts_of(row)?,
        &facts_of(&saved)?,
        tx.now,
    )
    .await?;
    Ok(saved)
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
        restricted_group_id: row.restricted_group_id,
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
    // A restricted ticket (a security incident) is hidden from everyone outside its group,
    // its requester and watchers included.
    if !principal.can_see_restricted(row.restricted_group_id) {
        return Ok(false);
    }
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

/// The view of `row` as `viewer` sees it, its SLA as it stands at `now`.
async fn view(
    conn: &mut Conn,
    viewer: &Principal,
    row: TicketRow,
    now: i64,
) -> Result<Ticket, AppError> {
    let mut views = views(conn, viewer, vec![row], now).await?;
    views
        .pop()
        .ok_or_else(|| AppError::broken("a ticket view went missing"))
}

/// The views of `rows` as `viewer` sees them, in their order, reading what hangs off them
/// for all rows at once; their SLAs as they stand at `now`. Linked, parent and child tickets
/// `viewer` may not see (security incidents of another group) are left out, as if absent.
async fn views(
    conn: &mut Conn,
    viewer: &Principal,
    rows: Vec<TicketRow>,
    now: i64,
) -> Result<Vec<Ticket>, AppError> {
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut related = store::related_many(conn, &ids).await?;
    let shown = |other: store::TicketRef| {
        viewer
            .can_see_restricted(other.restricted_group_id)
            .then(|| number_of(&other.ticket_type, other.number))
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
    let mut slas = crate::sla::ticket_sla_views(conn, &activity, now).await?;
    let mut views = Vec::with_capacity(rows.len());
    for (row, status) in rows.into_iter().zip(statuses) {
        let related = related.remove(&row.id).unwrap_or_default();
        let parts = TicketParts {
            tags: related.tags,
            watchers: related.watchers,
            links: related
                .links
                .into_iter()
                .filter_map(|(link_type, other, outgoing)| {
                    Some(Link {
                        link_type,
                        target: shown(other)?,
                        direction: if outgoing { "outgoing" } else { "incoming" }.to_owned(),
                    })
                })
                .collect(),
            children: related.children.into_iter().filter_map(shown).collect(),
            parent: related.parent.and_then(shown),
            merged_into: related.merged_into.and_then(shown),
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
        restricted_groups: principal.restricted_filter(),
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

impl App {
    /// A ticket by id or number.
    pub async fn ticket(&self, principal: &Principal, reference: &str) -> Result<Ticket, AppError> {
        let mut conn = self.db().reader().await?;
        let row = find_visible(&mut conn, principal, reference).await?;
        view(&mut conn, principal, row, self.now_ms()).await
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
}
