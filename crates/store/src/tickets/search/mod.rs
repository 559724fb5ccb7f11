//! Ticket search: the query language (parsed in the domain) compiled to SQL, with full text
//! by FTS5 on SQLite and tsvector on PostgreSQL. Visibility is part of every statement, so
//! a search can never return a ticket its user may not see — nor match or quote an
//! internal note for a customer.

mod compile;
mod index;
mod ranked;

pub(crate) use index::{REBUILD_STALE_ENTRIES, mark_stale};
pub use ranked::RANK_WINDOW;

use std::collections::HashMap;

use opsdesk_domain::query::{Query, SortKey};
use sqlx::AnyConnection;

use compile::{Sql, from_where, fts5_query, websearch_query};
use ranked::{ranked_in_index, ranked_page_from_index};

use crate::db::Backend;
use crate::error::StoreError;

/// Which tickets a searcher may see.
#[derive(Debug, Clone)]
pub struct Visibility {
    /// `Some`: only tickets of these organizations (limited agents).
    pub organizations: Option<Vec<i64>>,
    /// `Some(user)`: a customer, who sees tickets they requested or watch, and never
    /// internal notes.
    pub customer: Option<i64>,
    /// The customer's organization: if it lets its customers see all its tickets, they do.
    pub customer_organization: Option<i64>,
    /// `Some`: of the restricted tickets (security incidents), only those of these groups;
    /// `None`: all of them (admins).
    pub restricted_groups: Option<Vec<i64>>,
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Start,
    /// Ranked full-text results: how many to skip.
    Offset(i64),
    /// Sorted results: after this (sort value, id).
    After {
        value: i64,
        id: i64,
    },
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: i64,
    /// The sort value, for the next cursor.
    pub sort_value: i64,
    /// A fragment of matching text with `«…»` around the matches (full-text searches only).
    pub snippet: Option<String>,
}

/// Who asks and when: `me` in queries, and the clock `sla:due<…` counts from.
#[derive(Debug, Clone, Copy)]
pub struct Asker {
    pub me: Option<i64>,
    pub now: i64,
}

/// Snippets of the matching text for the tickets `ids` of one page. Computed apart from the
/// ranked search because a snippet costs far more than a rank, and the database would build one
/// for every match before sorting, not only for the page it returns.
async fn snippets(
    conn: &mut AnyConnection,
    backend: Backend,
    text: &[String],
    customer: bool,
    ids: &[i64],
) -> Result<HashMap<i64, String>, StoreError> {
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    match backend {
        Backend::Sqlite => {
            let matched = sql.text(fts5_query(text, customer, &[]));
            let (low, high) = (
                ids.iter().min().copied().unwrap_or(0),
                ids.iter().max().copied().unwrap_or(0),
            );
            let (low, high) = (sql.int(low), sql.int(high));
            let listed = sql.list(ids, |sql, id| sql.int(*id));
            // Customers get a snippet of the description only; staff the best column.
            let column = if customer { 1 } else { -1 };
            // The index walks the matches between the page's lowest and highest id once; the
            // list only filters (`+rowid`). Given the list itself, it would look every id up
            // on its own, setting the whole query up again each time: ten times slower for a
            // page of 50 among many matches.
            sql.text = format!(
                "SELECT rowid, snippet(ticket_search, {column}, '«', '»', '…', 16) \
                 FROM ticket_search WHERE ticket_search MATCH {matched} \
                 AND rowid >= {low} AND rowid <= {high} AND +rowid IN ({listed})"
            );
        }
        Backend::Postgres => {
            let searched = if customer {
                "s.title || ' ' || s.description || ' ' || s.conversation"
            } else {
                "s.title || ' ' || s.description || ' ' || s.conversation || ' ' || s.notes"
            };
            let words = sql.text(websearch_query(text));
            let listed = sql.list(ids, |sql, id| sql.int(*id));
            sql.text = format!(
                "SELECT s.ticket_id, ts_headline('english', {searched}, \
                 websearch_to_tsquery('english', {words}), \
                 'StartSel=«, StopSel=», MaxWords=24, MinWords=8, ShortWord=2') \
                 FROM ticket_search s WHERE s.ticket_id IN ({listed})"
            );
        }
    }
    let rows: Vec<(i64, Option<String>)> = sql.query_as().fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, snippet)| Some((id, snippet?)))
        .collect())
}

/// One page of tickets matching `query` that `visibility` allows, for user `me`.
pub async fn search(
    conn: &mut AnyConnection,
    backend: Backend,
    query: &Query,
    visibility: &Visibility,
    asker: Asker,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<Hit>, StoreError> {
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    if let Some(skip) = ranked_in_index(backend, query, visibility, cursor)
        && !hides_restricted(conn, visibility).await?
    {
        let rows = ranked_page_from_index(conn, query, skip, limit, RANK_WINDOW).await?;
        return with_snippets(conn, backend, rows, query, visibility).await;
    }
    let rank = from_where(&mut sql, backend, query, visibility, asker);
    let ranked = rank.is_some() && query.sort.is_none();
    let (sort_column, descending) = match &query.sort {
        Some(sort) => (
            match sort.key {
                SortKey::Created => "t.created_at",
                SortKey::Updated => "t.updated_at",
                SortKey::Priority => "t.priority",
            },
            sort.descending,
        ),
        None => ("t.created_at", true),
    };
    let mut tail = String::new();
    if !ranked && let Cursor::After { value, id } = cursor {
        let comparison = if descending { "<" } else { ">" };
        let (value, id) = (sql.int(value), sql.int(id));
        let joiner = if sql.text.contains(" WHERE ") {
            " AND "
        } else {
            " WHERE "
        };
        tail.push_str(&format!("{joiner}({sort_column} {comparison} {value} OR ({sort_column} = {value} AND t.id {comparison} {id}))"));
    }
    let order = if ranked {
        format!(" ORDER BY {}, t.id", rank.as_deref().unwrap_or("t.id"))
    } else {
        let direction = if descending { "DESC" } else { "ASC" };
        format!(" ORDER BY {sort_column} {direction}, t.id {direction}")
    };
    let limit = sql.int(limit);
    let offset = match cursor {
        Cursor::Offset(skip) if ranked => format!(" OFFSET {}", sql.int(skip)),
        _ => String::new(),
    };
    sql.text = format!(
        "SELECT t.id, {sort_column}{}{tail}{order} LIMIT {limit}{offset}",
        sql.text
    );
    let rows: Vec<(i64, i64)> = sql.query_as().fetch_all(&mut *conn).await?;
    with_snippets(conn, backend, rows, query, visibility).await
}
/// Whether some restricted ticket is hidden from this searcher: the ranked page the index
/// answers alone cannot leave it out, so such a searcher takes the general path. A look-up
/// on the partial index of restricted tickets, which are few.
async fn hides_restricted(
    conn: &mut AnyConnection,
    visibility: &Visibility,
) -> Result<bool, StoreError> {
    let Some(groups) = &visibility.restricted_groups else {
        return Ok(false);
    };
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    let seen = if groups.is_empty() {
        String::new()
    } else {
        let list = sql.list(groups, |sql, id| sql.int(*id));
        format!(" AND restricted_group_id NOT IN ({list})")
    };
    sql.text =
        format!("SELECT id FROM tickets WHERE restricted_group_id IS NOT NULL{seen} LIMIT 1");
    let hidden: Option<(i64,)> = sql.query_as().fetch_optional(conn).await?;
    Ok(hidden.is_some())
}

/// The hits for `(id, sort value)` rows, with snippets when the query has text.
async fn with_snippets(
    conn: &mut AnyConnection,
    backend: Backend,
    rows: Vec<(i64, i64)>,
    query: &Query,
    visibility: &Visibility,
) -> Result<Vec<Hit>, StoreError> {
    let mut snippets = if query.text.is_empty() || rows.is_empty() {
        HashMap::new()
    } else {
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        let customer = visibility.customer.is_some();
        snippets(conn, backend, &query.text, customer, &ids).await?
    };
    Ok(rows
        .into_iter()
        .map(|(id, sort_value)| Hit {
            id,
            sort_value,
            snippet: snippets.remove(&id),
        })
        .collect())
}

/// How many tickets match, counting no further than `limit`, e.g. for a queue's live count:
/// past the limit an exact figure would cost a visit to every matching ticket.
pub async fn count(
    conn: &mut AnyConnection,
    backend: Backend,
    query: &Query,
    visibility: &Visibility,
    asker: Asker,
    limit: i64,
) -> Result<i64, StoreError> {
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    from_where(&mut sql, backend, query, visibility, asker);
    let limit = sql.int(limit);
    sql.text = format!(
        "SELECT COUNT(*) FROM (SELECT 1{} LIMIT {limit}) counted",
        sql.text
    );
    let (count,): (i64,) = sql.query_as().fetch_one(conn).await?;
    Ok(count)
}
