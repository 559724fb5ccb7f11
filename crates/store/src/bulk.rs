//! Loading very many tickets at once, for benchmarks: multi-row `INSERT … VALUES` into
//! tickets, the full-text index, tags, comments and the timeline, so that a million tickets
//! load in minutes. It skips the application's per-ticket work (audit chain, jobs, events)
//! and must only be used on a database that serves no one yet.
//!
//! Rows carry their ids, chosen by the caller from [`next_ids`]; [`finish`] then moves the
//! ticket counters (and PostgreSQL's identity sequences) past them, so tickets created
//! normally afterwards get fresh numbers.

use sqlx::AnyConnection;

use crate::db::Backend;
use crate::error::StoreError;
use crate::sla::{SLA_COLUMNS, TicketSlaRow};
use crate::tickets::TicketFields;

/// Most bound values in one statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BINDS: usize = 16_000;

/// A ticket with everything that hangs off it, ready to insert.
#[derive(Debug, Clone)]
pub struct BulkTicket {
    pub id: i64,
    pub number: i64,
    pub fields: TicketFields,
    pub first_response_at: Option<i64>,
    pub time_spent_minutes: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub tags: Vec<String>,
    pub comments: Vec<BulkComment>,
    /// How many of its public comments staff wrote (the reports' replies).
    pub staff_replies: i64,
    pub timeline: Vec<BulkTimelineEntry>,
    /// Its SLA clocks, when a policy covers it.
    pub sla: Option<TicketSlaRow>,
}

/// A reply (`public`) or internal note.
#[derive(Debug, Clone)]
pub struct BulkComment {
    pub id: i64,
    pub author_id: Option<i64>,
    pub body: String,
    pub public: bool,
    pub time_spent_minutes: i64,
    pub created_at: i64,
}

/// One timeline entry; `data` is JSON text.
#[derive(Debug, Clone)]
pub struct BulkTimelineEntry {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub public: bool,
    pub data: String,
}

/// The first free ids and ticket numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextIds {
    pub ticket: i64,
    pub comment: i64,
    pub incident: i64,
    pub service_request: i64,
    pub problem: i64,
}

/// Where a bulk load may start numbering.
pub async fn next_ids(conn: &mut AnyConnection) -> Result<NextIds, StoreError> {
    let (ticket,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) + 1 FROM tickets")
        .fetch_one(&mut *conn)
        .await?;
    let (comment,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) + 1 FROM comments")
        .fetch_one(&mut *conn)
        .await?;
    let counters: Vec<(String, i64)> =
        match Backend::of(conn) {
            Backend::Sqlite => {
                sqlx::query_as("SELECT ticket_type, last_number + 1 FROM ticket_counters")
                    .fetch_all(&mut *conn)
                    .await?
            }
            // One sequence per type (migration 0023); `last_value` is NULL until first used.
            Backend::Postgres => sqlx::query_as(
                "SELECT substr(sequencename, 15), COALESCE(last_value, 0) + 1 FROM pg_sequences \
                 WHERE schemaname = current_schema() AND sequencename LIKE 'ticket\\_number\\_%'",
            )
            .fetch_all(&mut *conn)
            .await?,
        };
    let number = |kind: &str| {
        counters
            .iter()
            .find(|(t, _)| t == kind)
            .map_or(1, |(_, n)| *n)
    };
    Ok(NextIds {
        ticket,
        comment,
        incident: number("incident"),
        service_request: number("service_request"),
        problem: number("problem"),
    })
}

enum Value<'a> {
    Int(i64),
    MaybeInt(Option<i64>),
    Text(&'a str),
    MaybeText(Option<&'a str>),
}

/// Inserts `values` (row after row, `width` to a row) into `head` (`table (columns)`),
/// as many rows per statement as the bind limit allows.
///
/// SQLite gets anonymous `?` placeholders: it looks numbered ones up by name, one linear
/// scan per bound value, which made large statements quadratic (80% of the load's time).
async fn insert_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    head: &str,
    width: usize,
    values: &[Value<'_>],
) -> Result<(), StoreError> {
    let rows_per_statement = (MAX_BINDS / width).max(1);
    for chunk in values.chunks(rows_per_statement * width) {
        let rows = chunk.len() / width;
        let mut text = format!("INSERT INTO {head} VALUES ");
        for row in 0..rows {
            if row > 0 {
                text.push(',');
            }
            text.push('(');
            for column in 0..width {
                if column > 0 {
                    text.push(',');
                }
                match backend {
                    Backend::Sqlite => text.push('?'),
                    Backend::Postgres => {
                        text.push('$');
                        text.push_str(&(row * width + column + 1).to_string());
                    }
                }
            }
            text.push(')');
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for value in chunk {
            query = match value {
                Value::Int(v) => query.bind(*v),
                Value::MaybeInt(v) => query.bind(*v),
                Value::Text(v) => query.bind(*v),
                Value::MaybeText(v) => query.bind(*v),
            };
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts `tickets` with their search rows, tags, comments, timelines and SLA clocks. Call it inside
/// one write transaction per few thousand tickets.
pub async fn insert_tickets(
    conn: &mut AnyConnection,
    backend: Backend,
    tickets: &[BulkTicket],
) -> Result<(), StoreError> {
    const TICKET_COLUMNS: usize = 28;
    let mut rows = Vec::with_capacity(tickets.len() * TICKET_COLUMNS);
    for t in tickets {
        let f = &t.fields;
        rows.extend([
            Value::Int(t.id),
            Value::Text(&f.ticket_type),
            Value::Int(t.number),
            Value::Text(&f.title),
            Value::Text(&f.description),
            Value::Text(&f.status),
            Value::MaybeText(f.pending_reason.as_deref()),
            Value::MaybeText(f.resolution_code.as_deref()),
            Value::MaybeText(f.resolution_note.as_deref()),
            Value::Text(&f.impact),
            Value::Text(&f.urgency),
            Value::Int(f.priority),
            Value::MaybeInt(f.category_id),
            Value::Int(f.requester_id),
            Value::MaybeInt(f.organization_id),
            Value::MaybeInt(f.group_id),
            Value::MaybeInt(f.assignee_id),
            Value::Text(&f.custom),
            Value::Text(&f.source),
            Value::MaybeInt(t.first_response_at),
            Value::MaybeInt(f.resolved_at),
            Value::MaybeInt(f.closed_at),
            Value::Int(t.time_spent_minutes),
            Value::Int(t.created_at),
            Value::Int(t.updated_at),
            Value::Int(1 + t.comments.len() as i64),
            Value::Int(t.staff_replies),
            Value::MaybeInt(f.restricted_group_id),
        ]);
    }
    insert_rows(
        conn,
        backend,
        "tickets (id, ticket_type, number, title, description, status, pending_reason, \
         resolution_code, resolution_note, impact, urgency, priority, category_id, requester_id, \
         organization_id, group_id, assignee_id, custom, source, first_response_at, resolved_at, \
         closed_at, time_spent_minutes, created_at, updated_at, version, staff_replies, \
         restricted_group_id)",
        TICKET_COLUMNS,
        &rows,
    )
    .await?;

    // The index holds the conversation the way index_comment builds it: bodies joined by spaces.
    let texts: Vec<(String, String)> = tickets
        .iter()
        .map(|t| {
            let join = |public: bool| {
                t.comments
                    .iter()
                    .filter(|c| c.public == public)
                    .map(|c| c.body.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            (join(true), join(false))
        })
        .collect();
    // SQLite's index also carries the status token (see migration 0017).
    let facets: Vec<String> = tickets
        .iter()
        .map(|t| format!("status{}", t.fields.status))
        .collect();
    let width = match backend {
        Backend::Sqlite => 6,
        Backend::Postgres => 5,
    };
    let mut rows = Vec::with_capacity(tickets.len() * width);
    for ((t, (conversation, notes)), facet) in tickets.iter().zip(&texts).zip(&facets) {
        rows.extend([
            Value::Int(t.id),
            Value::Text(&t.fields.title),
            Value::Text(&t.fields.description),
            Value::Text(conversation),
            Value::Text(notes),
        ]);
        if backend == Backend::Sqlite {
            rows.push(Value::Text(facet));
        }
    }
    let search_head = match backend {
        Backend::Sqlite => "ticket_search (rowid, title, description, conversation, notes, facets)",
        Backend::Postgres => "ticket_search (ticket_id, title, description, conversation, notes)",
    };
    insert_rows(conn, backend, search_head, width, &rows).await?;

    let rows: Vec<Value<'_>> = tickets
        .iter()
        .flat_map(|t| {
            t.tags
                .iter()
                .flat_map(move |tag| [Value::Int(t.id), Value::Text(tag)])
        })
        .collect();
    insert_rows(conn, backend, "ticket_tags (ticket_id, tag)", 2, &rows).await?;

    let rows: Vec<Value<'_>> = tickets
        .iter()
        .flat_map(|t| {
            t.comments.iter().flat_map(move |c| {
                [
                    Value::Int(c.id),
                    Value::Int(t.id),
                    Value::MaybeInt(c.author_id),
                    Value::Text(&c.body),
                    Value::Int(i64::from(c.public)),
                    Value::Int(c.time_spent_minutes),
                    Value::Int(c.created_at),
                ]
            })
        })
        .collect();
    insert_rows(
        conn,
        backend,
        "comments (id, ticket_id, author_id, body, public, time_spent_minutes, created_at)",
        7,
        &rows,
    )
    .await?;

    let rows: Vec<Value<'_>> = tickets
        .iter()
        .flat_map(|t| {
            t.timeline.iter().flat_map(move |e| {
                [
                    Value::Int(t.id),
                    Value::Int(e.at),
                    Value::Text(&e.actor),
                    Value::Text(&e.kind),
                    Value::Int(i64::from(e.public)),
                    Value::Text(&e.data),
                ]
            })
        })
        .collect();
    insert_rows(
        conn,
        backend,
        "timeline (ticket_id, at, actor, kind, public, data)",
        6,
        &rows,
    )
    .await?;

    let rows: Vec<Value<'_>> = tickets
        .iter()
        .filter_map(|t| t.sla.as_ref())
        .flat_map(|s| {
            [
                Value::Int(s.ticket_id),
                Value::MaybeInt(s.policy_id),
                Value::Text(&s.policy_name),
                Value::Int(s.calendar_id),
                Value::Text(&s.warnings),
                Value::Int(s.response_target),
                Value::Int(s.response_elapsed),
                Value::MaybeInt(s.response_running_since),
                Value::MaybeInt(s.response_met_at),
                Value::Int(s.response_raised),
                Value::MaybeInt(s.response_due_at),
                Value::Int(s.response_breached),
                Value::Int(s.resolution_target),
                Value::Int(s.resolution_elapsed),
                Value::MaybeInt(s.resolution_running_since),
                Value::MaybeInt(s.resolution_met_at),
                Value::Int(s.resolution_raised),
                Value::MaybeInt(s.resolution_due_at),
                Value::Int(s.resolution_breached),
                Value::MaybeInt(s.next_check_at),
            ]
        })
        .collect();
    insert_rows(
        conn,
        backend,
        &format!("ticket_sla ({SLA_COLUMNS})"),
        20,
        &rows,
    )
    .await
}

/// Moves the ticket numbers' counters (SQLite) or sequences (PostgreSQL) past the loaded
/// numbers and, on PostgreSQL, the identity sequences past the loaded ids.
pub async fn finish(conn: &mut AnyConnection, backend: Backend) -> Result<(), StoreError> {
    match backend {
        Backend::Sqlite => {
            sqlx::query(
                "UPDATE ticket_counters SET last_number = \
                 (SELECT COALESCE(MAX(number), 0) FROM tickets WHERE tickets.ticket_type = ticket_counters.ticket_type) \
                 WHERE last_number < \
                 (SELECT COALESCE(MAX(number), 0) FROM tickets WHERE tickets.ticket_type = ticket_counters.ticket_type)",
            )
            .execute(&mut *conn)
            .await?;
        }
        Backend::Postgres => {
            for ticket_type in [
                "incident",
                "service_request",
                "problem",
                "security_incident",
            ] {
                sqlx::query(sql!(
                    "SELECT setval('ticket_number_{ticket_type}', \
                     GREATEST((SELECT MAX(number) FROM tickets WHERE ticket_type = '{ticket_type}'), \
                              (SELECT last_value FROM ticket_number_{ticket_type}))) \
                     WHERE EXISTS (SELECT 1 FROM tickets WHERE ticket_type = '{ticket_type}')"
                ))
                .execute(&mut *conn)
                .await?;
            }
            for table in ["tickets", "comments"] {
                sqlx::query(sql!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                ))
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    // Fresh statistics, so the planner sees the loaded volume at once.
    sqlx::query("ANALYZE").execute(&mut *conn).await?;
    Ok(())
}

/// Ids of the reference data generated tickets point at, by their natural keys.
#[derive(Debug, Clone, Default)]
pub struct ReferenceIds {
    /// E-mail address → (user id, organization id).
    pub users: std::collections::HashMap<String, (i64, Option<i64>)>,
    /// Group name → id.
    pub groups: std::collections::HashMap<String, i64>,
    /// Category path (`Parent/Child`) → id.
    pub categories: std::collections::HashMap<String, i64>,
}

/// Reads the ids of every user, group and category.
pub async fn reference_ids(conn: &mut AnyConnection) -> Result<ReferenceIds, StoreError> {
    let users: Vec<(String, i64, Option<i64>)> =
        sqlx::query_as("SELECT email, id, organization_id FROM users")
            .fetch_all(&mut *conn)
            .await?;
    let groups: Vec<(String, i64)> = sqlx::query_as("SELECT name, id FROM groups")
        .fetch_all(&mut *conn)
        .await?;
    let categories: Vec<(i64, String, Option<i64>)> =
        sqlx::query_as("SELECT id, name, parent_id FROM categories")
            .fetch_all(&mut *conn)
            .await?;
    let path = |id: i64| -> Option<String> {
        let mut parts = Vec::new();
        let mut next = Some(id);
        // Bounded: the tree is never deeper than its size.
        for _ in 0..categories.len() {
            let Some(current) = next else { break };
            let (_, name, parent) = categories.iter().find(|(c, _, _)| *c == current)?;
            parts.push(name.clone());
            next = *parent;
        }
        parts.reverse();
        Some(parts.join("/"))
    };
    Ok(ReferenceIds {
        users: users
            .into_iter()
            .map(|(email, id, organization)| (email, (id, organization)))
            .collect(),
        groups: groups.into_iter().collect(),
        categories: categories
            .iter()
            .filter_map(|(id, _, _)| Some((path(*id)?, *id)))
            .collect(),
    })
}
