//! Tickets and what hangs off them: tags, watchers, comments, the timeline, links,
//! escalations; plus the reference data they use (groups, categories, custom fields, macros).

pub mod deletion;
mod imports;
mod rank;
mod reference;
pub mod search;

pub use imports::{imported, record_import, tickets_of};
pub use rank::register_on_new_connections as register_ranking;
pub use reference::{
    CategoryRow, GroupMemberRow, GroupRow, MacroRow, add_group_member, categories, custom_fields,
    get_group, get_macro, group_members, groups, insert_category, insert_custom_field,
    insert_group, insert_macro, macros, remove_group_member, set_group_members, user_groups,
};

use std::collections::HashMap;

use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::db::Backend;
use crate::error::StoreError;

/// A ticket row joined with the names the API shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: i64,
    pub ticket_type: String,
    pub number: i64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub pending_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_note: Option<String>,
    pub impact: String,
    pub urgency: String,
    pub priority: i64,
    pub category_id: Option<i64>,
    pub category_name: Option<String>,
    pub requester_id: i64,
    pub requester_email: String,
    pub requester_name: String,
    pub organization_id: Option<i64>,
    pub organization_name: Option<String>,
    pub group_id: Option<i64>,
    pub group_name: Option<String>,
    pub group_tier: Option<i64>,
    pub assignee_id: Option<i64>,
    pub assignee_email: Option<String>,
    pub assignee_name: Option<String>,
    pub custom: String,
    pub source: String,
    pub merged_into_id: Option<i64>,
    pub parent_id: Option<i64>,
    /// A security incident's restricted group: only its members and admins see the ticket.
    pub restricted_group_id: Option<i64>,
    pub first_response_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub time_spent_minutes: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

pub(crate) const TICKET_SELECT: &str = "SELECT t.id, t.ticket_type, t.number, t.title, t.description, \
     t.status, t.pending_reason, t.resolution_code, t.resolution_note, t.impact, t.urgency, t.priority, \
     t.category_id, c.name AS category_name, t.requester_id, r.email AS requester_email, \
     r.name AS requester_name, t.organization_id, o.name AS organization_name, t.group_id, \
     g.name AS group_name, g.tier AS group_tier, t.assignee_id, a.email AS assignee_email, \
     a.name AS assignee_name, t.custom, t.source, t.merged_into_id, t.parent_id, t.restricted_group_id, t.first_response_at, \
     t.resolved_at, t.closed_at, t.time_spent_minutes, t.created_at, t.updated_at, t.version \
     FROM tickets t \
     JOIN users r ON r.id = t.requester_id \
     LEFT JOIN organizations o ON o.id = t.organization_id \
     LEFT JOIN groups g ON g.id = t.group_id \
     LEFT JOIN users a ON a.id = t.assignee_id \
     LEFT JOIN categories c ON c.id = t.category_id";

/// The stored fields of a ticket, for inserts and updates.
#[derive(Debug, Clone)]
pub struct TicketFields {
    pub ticket_type: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub pending_reason: Option<String>,
    pub resolution_code: Option<String>,
    pub resolution_note: Option<String>,
    pub impact: String,
    pub urgency: String,
    pub priority: i64,
    pub category_id: Option<i64>,
    pub requester_id: i64,
    pub organization_id: Option<i64>,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub custom: String,
    pub source: String,
    pub merged_into_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// Only this group's members and admins see it (security incidents).
    pub restricted_group_id: Option<i64>,
}

/// The stored fields in the order both `insert` and `update` bind them, as `$1`…`$22`.
const FIELD_COLUMNS: [&str; 22] = [
    "ticket_type",
    "title",
    "description",
    "status",
    "pending_reason",
    "resolution_code",
    "resolution_note",
    "impact",
    "urgency",
    "priority",
    "category_id",
    "requester_id",
    "organization_id",
    "group_id",
    "assignee_id",
    "custom",
    "source",
    "merged_into_id",
    "resolved_at",
    "closed_at",
    "parent_id",
    "restricted_group_id",
];

type RowQuery<'q, O> = sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>;

/// Binds the fields in [`FIELD_COLUMNS`] order.
fn bind_fields<'q, O>(query: RowQuery<'q, O>, fields: &'q TicketFields) -> RowQuery<'q, O> {
    query
        .bind(&fields.ticket_type)
        .bind(&fields.title)
        .bind(&fields.description)
        .bind(&fields.status)
        .bind(&fields.pending_reason)
        .bind(&fields.resolution_code)
        .bind(&fields.resolution_note)
        .bind(&fields.impact)
        .bind(&fields.urgency)
        .bind(fields.priority)
        .bind(fields.category_id)
        .bind(fields.requester_id)
        .bind(fields.organization_id)
        .bind(fields.group_id)
        .bind(fields.assignee_id)
        .bind(&fields.custom)
        .bind(&fields.source)
        .bind(fields.merged_into_id)
        .bind(fields.resolved_at)
        .bind(fields.closed_at)
        .bind(fields.parent_id)
        .bind(fields.restricted_group_id)
}

/// Inserts a new ticket with the next number of its type; returns its `(id, number)`.
pub async fn insert(
    conn: &mut AnyConnection,
    backend: Backend,
    fields: &TicketFields,
    now: i64,
) -> Result<(i64, i64), StoreError> {
    let columns = FIELD_COLUMNS.join(", ");
    // `$1` is the ticket type.
    let values = (1..=FIELD_COLUMNS.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = match backend {
        // The number is read from the type's counter in the same statement, and a trigger
        // moves the counter on (migration 0020): one round trip instead of two. SQLite has a
        // single writer, so nothing can take the same number in between.
        Backend::Sqlite => format!(
            "INSERT INTO tickets ({columns}, number, created_at, updated_at) VALUES ({values}, \
             (SELECT last_number + 1 FROM ticket_counters WHERE ticket_type = $1), $23, $23) \
             RETURNING id, number"
        ),
        // One sequence per type (migration 0023): taking a number locks nothing.
        Backend::Postgres => format!(
            "INSERT INTO tickets ({columns}, number, created_at, updated_at) VALUES ({values}, \
             nextval(('ticket_number_' || $1)::regclass), $23, $23) RETURNING id, number"
        ),
    };
    let query = bind_fields(sqlx::query_as(sqlx::AssertSqlSafe(sql)), fields);
    Ok(query.bind(now).fetch_one(conn).await?)
}

/// Writes all fields if the ticket is still at `expected_version`; `false` when it is not.
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    fields: &TicketFields,
    now: i64,
) -> Result<bool, StoreError> {
    let assignments: Vec<String> = FIELD_COLUMNS
        .iter()
        .enumerate()
        .map(|(index, column)| format!("{column} = ${}", index + 1))
        .collect();
    let [at, id_at, version_at, status_at] =
        [1, 2, 3, 4].map(|offset| format!("${}", FIELD_COLUMNS.len() + offset));
    // Moving a ticket out of resolved, other than by closing it, reopens it: counted here,
    // where every status change passes, so the reports read a number instead of a timeline.
    let sql = format!(
        "UPDATE tickets SET {}, updated_at = {at}, version = version + 1, \
         reopened_count = reopened_count + CASE WHEN status = 'resolved' \
           AND {status_at} NOT IN ('resolved', 'closed') THEN 1 ELSE 0 END \
         WHERE id = {id_at} AND version = {version_at} RETURNING id",
        assignments.join(", ")
    );
    let query = bind_fields(sqlx::query_as(sqlx::AssertSqlSafe(sql)), fields);
    let updated: Option<(i64,)> = query
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .bind(&fields.status)
        .fetch_optional(conn)
        .await?;
    Ok(updated.is_some())
}

/// Marks a change that is not a field edit (a comment, a link): bumps version and time.
pub async fn touch(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
    first_response_at: Option<i64>,
    time_spent_minutes: i64,
) -> Result<(), StoreError> {
    let mut batch = Batch::new(conn);
    touch_in(&mut batch, id, now, first_response_at, time_spent_minutes);
    batch.run(conn).await
}

/// [`touch`], as one more statement of `batch`.
pub fn touch_in(
    batch: &mut Batch,
    id: i64,
    now: i64,
    first_response_at: Option<i64>,
    time_spent_minutes: i64,
) {
    batch
        .push(
            "UPDATE tickets SET updated_at = $1, version = version + 1, \
             first_response_at = COALESCE(first_response_at, $2), \
             time_spent_minutes = time_spent_minutes + $3 WHERE id = $4",
        )
        .bind(now)
        .bind(first_response_at)
        .bind(time_spent_minutes)
        .bind(id);
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<TicketRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{TICKET_SELECT} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Tickets by id, in the order given.
pub async fn get_many(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<TicketRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{TICKET_SELECT} WHERE t.id IN ({})",
        crate::accounts::placeholders(1, ids.len())
    );
    let mut query = sqlx::query_as::<_, TicketRow>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let mut rows = query.fetch_all(conn).await?;
    rows.sort_by_key(|row| ids.iter().position(|id| *id == row.id));
    Ok(rows)
}

pub async fn find_by_number(
    conn: &mut AnyConnection,
    ticket_type: &str,
    number: i64,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM tickets WHERE ticket_type = $1 AND number = $2")
            .bind(ticket_type)
            .bind(number)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id,)| id))
}

/// A table of one list per ticket: its tags or its watchers.
struct TicketList {
    table: &'static str,
    column: &'static str,
    /// A JSON array element as the column's PostgreSQL type.
    postgres_value: &'static str,
}

const TAGS: TicketList = TicketList {
    table: "ticket_tags",
    column: "tag",
    postgres_value: "value",
};

const WATCHERS: TicketList = TicketList {
    table: "ticket_watchers",
    column: "user_id",
    postgres_value: "value::bigint",
};

impl TicketList {
    fn replace<T: Clone + Into<serde_json::Value>>(
        &self,
        batch: &mut Batch,
        ticket_id: i64,
        values: &[T],
    ) {
        batch
            .push(&format!("DELETE FROM {} WHERE ticket_id = $1", self.table))
            .bind(ticket_id);
        self.add(batch, ticket_id, values);
    }

    /// One statement, with the values as one JSON array, so the statement's text (and its
    /// cached preparation) stays the same however many there are.
    fn add<T: Clone + Into<serde_json::Value>>(
        &self,
        batch: &mut Batch,
        ticket_id: i64,
        values: &[T],
    ) {
        if values.is_empty() {
            return;
        }
        let Self {
            table,
            column,
            postgres_value,
        } = self;
        let rows = match batch.backend() {
            Backend::Sqlite => "SELECT $1, value FROM json_each($2)".to_owned(),
            Backend::Postgres => {
                format!("SELECT $1, {postgres_value} FROM json_array_elements_text($2::json)")
            }
        };
        let values = serde_json::Value::from(values.to_vec()).to_string();
        batch
            .push(&format!("INSERT INTO {table} (ticket_id, {column}) {rows}"))
            .bind(ticket_id)
            .bind(values);
    }
}

/// Replaces a ticket's tags.
pub fn set_tags(batch: &mut Batch, ticket_id: i64, tags: &[String]) {
    TAGS.replace(batch, ticket_id, tags);
}

/// Adds tags to a ticket that has none of them yet (a new ticket).
pub fn add_tags(batch: &mut Batch, ticket_id: i64, tags: &[String]) {
    TAGS.add(batch, ticket_id, tags);
}

/// Watchers' user ids and e-mail addresses.
pub async fn watchers(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email FROM ticket_watchers w JOIN users u ON u.id = w.user_id \
         WHERE w.ticket_id = $1 ORDER BY u.email",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

/// Replaces a ticket's watchers.
pub fn set_watchers(batch: &mut Batch, ticket_id: i64, users: &[i64]) {
    WATCHERS.replace(batch, ticket_id, users);
}

/// Adds watchers to a ticket that has none of them yet (a new ticket).
pub fn add_watchers(batch: &mut Batch, ticket_id: i64, users: &[i64]) {
    WATCHERS.add(batch, ticket_id, users);
}

/// A comment: a public reply or an internal note.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    pub id: i64,
    pub ticket_id: i64,
    pub author_id: Option<i64>,
    pub author_email: Option<String>,
    pub body: String,
    pub public: i64,
    pub time_spent_minutes: i64,
    pub created_at: i64,
}

pub async fn insert_comment(
    conn: &mut AnyConnection,
    ticket_id: i64,
    author_id: Option<i64>,
    body: &str,
    public: bool,
    time_spent_minutes: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO comments (ticket_id, author_id, body, public, time_spent_minutes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(ticket_id)
    .bind(author_id)
    .bind(body)
    .bind(i64::from(public))
    .bind(time_spent_minutes)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if public && author_id.is_some() {
        sqlx::query(sql!(
            "UPDATE tickets SET staff_replies = staff_replies + 1 \
             WHERE id = $1 AND EXISTS (SELECT 1 FROM users u WHERE u.id = $2 AND {STAFF})"
        ))
        .bind(ticket_id)
        .bind(author_id)
        .execute(conn)
        .await?;
    }
    Ok(id)
}

/// A user `u` who is staff: their public comments are the desk's replies.
const STAFF: &str = "u.role <> 'customer'";

/// Moves every comment of `from` to `into` (merging tickets).
pub async fn move_comments(
    conn: &mut AnyConnection,
    from: i64,
    into: i64,
) -> Result<u64, StoreError> {
    let result = sqlx::query("UPDATE comments SET ticket_id = $1 WHERE ticket_id = $2")
        .bind(into)
        .bind(from)
        .execute(&mut *conn)
        .await?;
    // The replies moved with them.
    sqlx::query(sql!(
        "UPDATE tickets SET staff_replies = (SELECT COUNT(*) FROM comments c \
         JOIN users u ON u.id = c.author_id WHERE c.ticket_id = tickets.id AND c.public = 1 \
         AND {STAFF}) WHERE id IN ($1, $2)"
    ))
    .bind(from)
    .bind(into)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// The text of a public comment, for notifications; `None` for notes and absent comments.
pub async fn comment_body(conn: &mut AnyConnection, id: i64) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT body FROM comments WHERE id = $1 AND public = 1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(body,)| body))
}

pub async fn comments(
    conn: &mut AnyConnection,
    ticket_id: i64,
    public_only: bool,
) -> Result<Vec<CommentRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.ticket_id, c.author_id, u.email AS author_email, c.body, c.public, \
         c.time_spent_minutes, c.created_at FROM comments c LEFT JOIN users u ON u.id = c.author_id \
         WHERE c.ticket_id = $1 AND ($2 = 0 OR c.public = 1) ORDER BY c.id",
    )
    .bind(ticket_id)
    .bind(i64::from(public_only))
    .fetch_all(conn)
    .await?)
}

/// One event in a ticket's history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineRow {
    pub id: i64,
    pub ticket_id: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub public: i64,
    pub data: String,
}

pub fn add_timeline(
    batch: &mut Batch,
    ticket_id: i64,
    at: i64,
    actor: &str,
    kind: &str,
    public: bool,
    data: &str,
) {
    batch
        .push(
            "INSERT INTO timeline (ticket_id, at, actor, kind, public, data) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ticket_id)
        .bind(at)
        .bind(actor)
        .bind(kind)
        .bind(i64::from(public))
        .bind(data);
}

/// A ticket's timeline after entry `after`; `public_only` for requesters.
pub async fn timeline(
    conn: &mut AnyConnection,
    ticket_id: i64,
    public_only: bool,
    after: i64,
    limit: i64,
) -> Result<Vec<TimelineRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, ticket_id, at, actor, kind, public, data FROM timeline \
         WHERE ticket_id = $1 AND ($2 = 0 OR public = 1) AND id > $3 ORDER BY id LIMIT $4",
    )
    .bind(ticket_id)
    .bind(i64::from(public_only))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn add_link(
    conn: &mut AnyConnection,
    ticket_id: i64,
    target_id: i64,
    link_type: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO ticket_links (ticket_id, target_id, link_type, created_at) VALUES ($1, $2, $3, $4)")
        .bind(ticket_id)
        .bind(target_id)
        .bind(link_type)
        .bind(now)
        .execute(conn)
        .await
        .map_err(|e| StoreError::from(e).on_unique("link"))?;
    Ok(())
}

pub async fn add_escalation(
    conn: &mut AnyConnection,
    ticket_id: i64,
    from_group: Option<i64>,
    to_group: Option<i64>,
    actor: &str,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO escalations (ticket_id, from_group_id, to_group_id, actor, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ticket_id)
    .bind(from_group)
    .bind(to_group)
    .bind(actor)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a ticket to the full-text index (on SQLite, from its row when the writer commits).
pub fn index_ticket(batch: &mut Batch, id: i64, title: &str, description: &str) {
    match batch.backend() {
        Backend::Sqlite => search::mark_stale(batch, id),
        Backend::Postgres => {
            batch
                .push(
                    "INSERT INTO ticket_search (ticket_id, title, description) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(title)
                .bind(description);
        }
    }
}

/// Replaces the title and description in the index.
pub fn reindex_text(batch: &mut Batch, id: i64, title: &str, description: &str) {
    match batch.backend() {
        Backend::Sqlite => search::mark_stale(batch, id),
        Backend::Postgres => {
            batch
                .push("UPDATE ticket_search SET title = $1, description = $2 WHERE ticket_id = $3")
                .bind(title)
                .bind(description)
                .bind(id);
        }
    }
}

/// Adds a comment to the index: public replies to `conversation`, notes to `notes`.
pub fn index_comment(batch: &mut Batch, id: i64, body: &str, public: bool) {
    match batch.backend() {
        Backend::Sqlite => search::mark_stale(batch, id),
        Backend::Postgres => {
            let column = if public { "conversation" } else { "notes" };
            batch
                .push(&format!(
                    "UPDATE ticket_search SET {column} = {column} || ' ' || $1 WHERE ticket_id = $2"
                ))
                .bind(body)
                .bind(id);
        }
    }
}

/// Resolved tickets whose resolution is older than `resolved_before`, for auto-closing.
pub async fn resolved_before(
    conn: &mut AnyConnection,
    resolved_before: i64,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM tickets WHERE status = 'resolved' AND resolved_at < $1 ORDER BY resolved_at LIMIT $2",
    )
    .bind(resolved_before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A saved view: a named query, personal or shared.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ViewRow {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub owner_id: Option<i64>,
}

pub async fn insert_view(
    conn: &mut AnyConnection,
    name: &str,
    query: &str,
    owner_id: Option<i64>,
    now: i64,
) -> Result<ViewRow, StoreError> {
    Ok(sqlx::query_as(
        "INSERT INTO saved_views (name, query, owner_id, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id, name, query, owner_id",
    )
    .bind(name)
    .bind(query)
    .bind(owner_id)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Shared views and those owned by `user`.
pub async fn views(
    conn: &mut AnyConnection,
    user: Option<i64>,
) -> Result<Vec<ViewRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, query, owner_id FROM saved_views WHERE owner_id IS NULL OR owner_id = $1 ORDER BY name",
    )
    .bind(user.unwrap_or(-1))
    .fetch_all(conn)
    .await?)
}

/// Open children of a ticket (major incidents), to resolve with their parent.
pub async fn active_children(
    conn: &mut AnyConnection,
    parent_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM tickets WHERE parent_id = $1 AND status IN ('new', 'open', 'pending') ORDER BY id",
    )
    .bind(parent_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The SQL condition that ticket `alias` is not a restricted ticket (a security incident)
/// of a group outside `groups`; `None` lets every ticket through. For the lists that name
/// tickets outside the ticket search: CI tickets, problem links, monitor outages.
pub fn restricted_visible(alias: &str, groups: Option<&[i64]>) -> String {
    match groups {
        None => "1 = 1".to_owned(),
        Some([]) => format!("{alias}.restricted_group_id IS NULL"),
        Some(groups) => {
            // Integers, written inline: nothing a user typed reaches the text.
            let listed: Vec<String> = groups.iter().map(i64::to_string).collect();
            format!(
                "({alias}.restricted_group_id IS NULL OR {alias}.restricted_group_id IN ({}))",
                listed.join(", ")
            )
        }
    }
}

/// A record that belongs to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketPart {
    Ticket,
    Comment,
    Attachment,
}

/// The restricted group of the ticket record `id` (a [`TicketPart`]) belongs to; `None` when
/// the ticket is unrestricted or the record is gone.
pub async fn restricted_group_of(
    conn: &mut AnyConnection,
    part: TicketPart,
    id: i64,
) -> Result<Option<i64>, StoreError> {
    let sql = match part {
        TicketPart::Ticket => "SELECT restricted_group_id FROM tickets WHERE id = $1",
        TicketPart::Comment => {
            "SELECT t.restricted_group_id FROM comments c JOIN tickets t ON t.id = c.ticket_id \
             WHERE c.id = $1"
        }
        TicketPart::Attachment => {
            "SELECT t.restricted_group_id FROM attachments a JOIN tickets t ON t.id = a.ticket_id \
             WHERE a.id = $1"
        }
    };
    let row: Option<(Option<i64>,)> = sqlx::query_as(sql).bind(id).fetch_optional(conn).await?;
    Ok(row.and_then(|(group,)| group))
}

/// What a ticket's view shows besides its own row, read for many tickets at once.
#[derive(Debug, Clone, Default)]
pub struct Related {
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Watchers' e-mail addresses, sorted.
    pub watchers: Vec<String>,
    /// `(link type, other ticket, outgoing)`: outgoing links first, each side in the order
    /// the links were made.
    pub links: Vec<(String, TicketRef, bool)>,
    /// Children, oldest first.
    pub children: Vec<TicketRef>,
    /// The major incident this ticket is part of.
    pub parent: Option<TicketRef>,
    /// The ticket this one was merged into.
    pub merged_into: Option<TicketRef>,
}

/// Another ticket named on a ticket: its number and, for a security incident, the group
/// that alone may see it, so the caller can leave out what its viewer may not see.
#[derive(Debug, Clone)]
pub struct TicketRef {
    pub ticket_type: String,
    pub number: i64,
    pub restricted_group_id: Option<i64>,
}

/// [`Related`] for each of `ids` (tickets with nothing related get the default), in a fixed
/// number of statements whatever the number of tickets.
pub async fn related_many(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Related>, StoreError> {
    let mut related: HashMap<i64, Related> =
        ids.iter().map(|id| (*id, Related::default())).collect();
    if ids.is_empty() {
        return Ok(related);
    }
    let listed = crate::accounts::placeholders(1, ids.len());
    // One statement for all seven kinds: each costs a round trip to the connection.
    type RelatedRow = (String, i64, String, String, i64, i64, Option<i64>);
    let rows: Vec<RelatedRow> = bind_ids(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT 'tag' AS kind, ticket_id, tag AS name, '' AS other_type, 0 AS number, \
             0 AS seq, CAST(NULL AS BIGINT) AS restricted FROM ticket_tags \
             WHERE ticket_id IN ({listed}) \
             UNION ALL SELECT 'watcher', w.ticket_id, u.email, '', 0, 0, NULL FROM ticket_watchers w \
             JOIN users u ON u.id = w.user_id WHERE w.ticket_id IN ({listed}) \
             UNION ALL SELECT 'out', l.ticket_id, l.link_type, o.ticket_type, o.number, l.created_at, \
             o.restricted_group_id \
             FROM ticket_links l JOIN tickets o ON o.id = l.target_id WHERE l.ticket_id IN ({listed}) \
             UNION ALL SELECT 'in', l.target_id, l.link_type, o.ticket_type, o.number, l.created_at, \
             o.restricted_group_id \
             FROM ticket_links l JOIN tickets o ON o.id = l.ticket_id WHERE l.target_id IN ({listed}) \
             UNION ALL SELECT 'child', parent_id, '', ticket_type, number, id, restricted_group_id \
             FROM tickets WHERE parent_id IN ({listed}) \
             UNION ALL SELECT 'parent', t.id, '', o.ticket_type, o.number, 0, o.restricted_group_id \
             FROM tickets t JOIN tickets o ON o.id = t.parent_id WHERE t.id IN ({listed}) \
             UNION ALL SELECT 'merged', t.id, '', o.ticket_type, o.number, 0, o.restricted_group_id \
             FROM tickets t JOIN tickets o ON o.id = t.merged_into_id WHERE t.id IN ({listed}) \
             ORDER BY 1, 6, 3"
        ))),
        ids,
    )
    .fetch_all(&mut *conn)
    .await?;
    for (kind, id, name, ticket_type, number, _, restricted_group_id) in rows {
        let entry = related.entry(id).or_default();
        let other = TicketRef {
            ticket_type,
            number,
            restricted_group_id,
        };
        match kind.as_str() {
            "tag" => entry.tags.push(name),
            "watcher" => entry.watchers.push(name),
            "out" => entry.links.push((name, other, true)),
            "in" => entry.links.push((name, other, false)),
            "parent" => entry.parent = Some(other),
            "merged" => entry.merged_into = Some(other),
            _ => entry.children.push(other),
        }
    }
    for entry in related.values_mut() {
        // Stable: each side keeps the order its links were made in.
        entry.links.sort_by_key(|(_, _, outgoing)| !outgoing);
    }
    Ok(related)
}

/// The tickets `ids` as others name them (type, number, restricted group), by id.
pub async fn numbers_many(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, TicketRef>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String, i64, Option<i64>)> = bind_ids(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, ticket_type, number, restricted_group_id FROM tickets WHERE id IN ({})",
            crate::accounts::placeholders(1, ids.len())
        ))),
        ids,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, ticket_type, number, restricted_group_id)| {
            let other = TicketRef {
                ticket_type,
                number,
                restricted_group_id,
            };
            (id, other)
        })
        .collect())
}

fn bind_ids<'q, T>(
    mut query: sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments>,
    ids: &[i64],
) -> sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments> {
    for id in ids {
        query = query.bind(*id);
    }
    query
}

/// Numbers of a ticket's children: (type, number).
pub async fn children(
    conn: &mut AnyConnection,
    parent_id: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT ticket_type, number FROM tickets WHERE parent_id = $1 ORDER BY id")
            .bind(parent_id)
            .fetch_all(conn)
            .await?,
    )
}
