//! Ticket search: the query language (parsed in the domain) compiled to SQL, with full text
//! by FTS5 on SQLite and tsvector on PostgreSQL. Visibility is part of every statement, so
//! a search can never return a ticket its user may not see — nor match or quote an
//! internal note for a customer.

use std::collections::HashMap;

use opsdesk_domain::query::{
    Condition, Filter, IsCondition, PersonMatch, Query, SlaCondition, SortKey, TimeBound,
};
use opsdesk_domain::ticket::TicketStatus;
use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::db::Backend;
use crate::error::StoreError;

/// Lists a ticket whose SQLite index entry the writer rebuilds before it commits (migration
/// 0021 says why the entry is not written at once).
pub(crate) fn mark_stale(batch: &mut Batch, ticket_id: i64) {
    batch
        .push("INSERT OR IGNORE INTO ticket_search_stale (ticket_id) VALUES ($1)")
        .bind(ticket_id);
}

/// Rebuilds the SQLite index entries of the tickets listed as stale from their rows: title,
/// description, public replies, internal notes and the status token. The writer runs it just
/// before each commit, so every commit adds at most one FTS5 segment. `CROSS JOIN` keeps the
/// short list outermost: the planner, knowing nothing of the list, would otherwise scan every
/// ticket.
pub(crate) const REBUILD_STALE_ENTRIES: &str = "\
    DELETE FROM ticket_search WHERE rowid IN (SELECT ticket_id FROM ticket_search_stale); \
    INSERT INTO ticket_search (rowid, title, description, conversation, notes, facets) \
    SELECT t.id, t.title, t.description, \
        coalesce((SELECT group_concat(c.body, ' ' ORDER BY c.id) FROM comments c \
                  WHERE c.ticket_id = t.id AND c.public = 1), ''), \
        coalesce((SELECT group_concat(c.body, ' ' ORDER BY c.id) FROM comments c \
                  WHERE c.ticket_id = t.id AND c.public = 0), ''), \
        'status' || t.status \
    FROM ticket_search_stale s CROSS JOIN tickets t ON t.id = s.ticket_id; \
    DELETE FROM ticket_search_stale";

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

enum Bind {
    Int(i64),
    Text(String),
}

/// SQL text plus its bound values, numbered as they are added.
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn int(&mut self, value: i64) -> String {
        self.binds.push(Bind::Int(value));
        format!("${}", self.binds.len())
    }

    fn text(&mut self, value: impl Into<String>) -> String {
        self.binds.push(Bind::Text(value.into()));
        format!("${}", self.binds.len())
    }

    fn list<T>(&mut self, values: &[T], mut bind: impl FnMut(&mut Self, &T) -> String) -> String {
        values
            .iter()
            .map(|value| bind(self, value))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn query_as<'q, T>(&'q self) -> sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(self.text.clone()));
        for bind in &self.binds {
            query = match bind {
                Bind::Int(value) => query.bind(*value),
                Bind::Text(value) => query.bind(value.clone()),
            };
        }
        query
    }
}

fn status_names(statuses: &[TicketStatus]) -> Vec<String> {
    statuses.iter().map(|s| s.as_str().to_owned()).collect()
}

fn time_condition(sql: &mut Sql, column: &str, bound: &TimeBound) -> String {
    match bound {
        TimeBound::Before(t) => format!("{column} < {}", sql.int(t.as_millisecond())),
        TimeBound::AtOrBefore(t) => format!("{column} <= {}", sql.int(t.as_millisecond())),
        TimeBound::After(t) => format!("{column} > {}", sql.int(t.as_millisecond())),
        TimeBound::AtOrAfter(t) => format!("{column} >= {}", sql.int(t.as_millisecond())),
        TimeBound::OnDay(date) => match TimeBound::day_range(*date) {
            Some((start, end)) => format!(
                "({column} >= {} AND {column} < {})",
                sql.int(start.as_millisecond()),
                sql.int(end.as_millisecond())
            ),
            None => "FALSE".to_owned(),
        },
    }
}

fn person_condition(
    sql: &mut Sql,
    column: &str,
    people: &[PersonMatch],
    me: Option<i64>,
) -> String {
    let alternatives: Vec<String> = people
        .iter()
        .map(|person| match person {
            PersonMatch::Me => format!("{column} = {}", sql.int(me.unwrap_or(-1))),
            PersonMatch::Nobody => format!("{column} IS NULL"),
            PersonMatch::Email(email) => format!(
                "{column} IN (SELECT id FROM users WHERE email = {})",
                sql.text(email.clone())
            ),
        })
        .collect();
    format!("({})", alternatives.join(" OR "))
}

fn names_condition(sql: &mut Sql, column: &str, table: &str, names: &[String]) -> String {
    let list = sql.list(names, |sql, name| {
        format!("lower({})", sql.text(name.clone()))
    });
    format!("{column} IN (SELECT id FROM {table} WHERE lower(name) IN ({list}))")
}

/// Who asks and when: `me` in queries, and the clock `sla:due<…` counts from.
#[derive(Debug, Clone, Copy)]
pub struct Asker {
    pub me: Option<i64>,
    pub now: i64,
}

fn condition(sql: &mut Sql, condition: &Condition, asker: Asker) -> String {
    let me = asker.me;
    match condition {
        Condition::Status(statuses) => {
            let list = sql.list(&status_names(statuses), |sql, s| sql.text(s.clone()));
            format!("t.status IN ({list})")
        }
        Condition::Type(types) => {
            let list = sql.list(types, |sql, t| sql.text(t.as_str()));
            format!("t.ticket_type IN ({list})")
        }
        Condition::Priority(priorities) => {
            let list = sql.list(priorities, |sql, p| sql.int(i64::from(p.rank())));
            format!("t.priority IN ({list})")
        }
        Condition::Impact(values) => {
            let list = sql.list(values, |sql, v| sql.text(v.as_str()));
            format!("t.impact IN ({list})")
        }
        Condition::Urgency(values) => {
            let list = sql.list(values, |sql, v| sql.text(v.as_str()));
            format!("t.urgency IN ({list})")
        }
        Condition::Source(values) => {
            let list = sql.list(values, |sql, v| sql.text(v.as_str()));
            format!("t.source IN ({list})")
        }
        Condition::Group(names) => names_condition(sql, "t.group_id", "groups", names),
        Condition::Organization(names) => {
            names_condition(sql, "t.organization_id", "organizations", names)
        }
        Condition::Category(names) => {
            let list = sql.list(names, |sql, name| {
                format!("lower({})", sql.text(name.clone()))
            });
            // A category matches its subcategories too.
            format!(
                "t.category_id IN (SELECT id FROM categories WHERE lower(name) IN ({list}) \
                 OR parent_id IN (SELECT id FROM categories WHERE lower(name) IN ({list})))"
            )
        }
        Condition::Assignee(people) => person_condition(sql, "t.assignee_id", people, me),
        Condition::Requester(people) => person_condition(sql, "t.requester_id", people, me),
        Condition::Tag(tags) => {
            let list = sql.list(tags, |sql, tag| sql.text(tag.as_str()));
            format!("t.id IN (SELECT ticket_id FROM ticket_tags WHERE tag IN ({list}))")
        }
        Condition::Number(numbers) => {
            let alternatives: Vec<String> = numbers
                .iter()
                .map(|n| {
                    let number = i64::try_from(n.sequence()).unwrap_or(i64::MAX);
                    format!(
                        "(t.ticket_type = {} AND t.number = {})",
                        sql.text(n.ticket_type().as_str()),
                        sql.int(number)
                    )
                })
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
        Condition::Created(bounds) => {
            let alternatives: Vec<String> = bounds
                .iter()
                .map(|b| time_condition(sql, "t.created_at", b))
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
        Condition::Updated(bounds) => {
            let alternatives: Vec<String> = bounds
                .iter()
                .map(|b| time_condition(sql, "t.updated_at", b))
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
        Condition::Is(conditions) => {
            let alternatives: Vec<String> = conditions
                .iter()
                .map(|c| match c {
                    IsCondition::Open => "t.status IN ('new', 'open', 'pending')".to_owned(),
                    IsCondition::Unassigned => "t.assignee_id IS NULL".to_owned(),
                })
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
        Condition::Sla(conditions) => {
            let alternatives: Vec<String> = conditions
                .iter()
                .map(|c| match c {
                    SlaCondition::Breached => {
                        "t.id IN (SELECT ticket_id FROM ticket_sla WHERE response_breached = 1 OR resolution_breached = 1)"
                            .to_owned()
                    }
                    SlaCondition::DueWithin(seconds) => {
                        let limit = sql.int(asker.now + seconds * 1000);
                        format!(
                            "t.id IN (SELECT ticket_id FROM ticket_sla WHERE response_due_at < {limit} \
                             UNION SELECT ticket_id FROM ticket_sla WHERE resolution_due_at < {limit})"
                        )
                    }
                })
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
    }
}

fn filter_clause(sql: &mut Sql, filter: &Filter, asker: Asker) -> String {
    let clause = condition(sql, &filter.condition, asker);
    if filter.negated {
        // NULL columns must count as "does not match", so a negation includes them.
        format!("NOT COALESCE(({clause}), FALSE)")
    } else {
        clause
    }
}

fn visibility_clause(sql: &mut Sql, visibility: &Visibility) -> Vec<String> {
    let mut clauses = Vec::new();
    if let Some(organizations) = &visibility.organizations {
        if organizations.is_empty() {
            clauses.push("FALSE".to_owned());
        } else {
            let list = sql.list(organizations, |sql, id| sql.int(*id));
            clauses.push(format!("t.organization_id IN ({list})"));
        }
    }
    if let Some(customer) = visibility.customer {
        let me = sql.int(customer);
        let organization = sql.int(visibility.customer_organization.unwrap_or(-1));
        clauses.push(format!(
            "(t.requester_id = {me} OR t.id IN (SELECT ticket_id FROM ticket_watchers WHERE user_id = {me}) \
             OR t.organization_id IN (SELECT id FROM organizations WHERE id = {organization} AND customers_see_all = 1))"
        ));
    }
    clauses
}

/// FTS5 query text: every word and phrase quoted (so user input is never FTS syntax), all
/// required, in the text columns (customers' only in the public ones); then each group of
/// `statuses` as alternatives on the status token (see [`status_groups`]).
fn fts5_query(text: &[String], customer: bool, statuses: &[Vec<TicketStatus>]) -> String {
    let terms: Vec<String> = text
        .iter()
        .map(|term| format!("\"{}\"", term.replace('"', "\"\"")))
        .collect();
    let columns = if customer {
        "title description conversation"
    } else {
        "title description conversation notes"
    };
    let mut query = format!("{{{columns}}} : ({})", terms.join(" AND "));
    for group in statuses {
        let tokens: Vec<String> = group
            .iter()
            .map(|status| format!("status{}", status.as_str()))
            .collect();
        query.push_str(&format!(" AND {{facets}} : ({})", tokens.join(" OR ")));
    }
    query
}

/// The status sets a query requires, one per filter: `status:` lists and `is:open`. The
/// full-text index can answer them itself; the same filters stay on the joined `tickets` row
/// as well, so the result never depends on the index alone.
fn status_groups(query: &Query) -> Vec<Vec<TicketStatus>> {
    query
        .filters
        .iter()
        .filter(|filter| !filter.negated)
        .filter_map(|filter| match &filter.condition {
            Condition::Status(statuses) => Some(statuses.clone()),
            Condition::Is(conditions) if conditions.iter().all(|c| *c == IsCondition::Open) => {
                Some(
                    TicketStatus::ALL
                        .iter()
                        .copied()
                        .filter(|s| s.is_active())
                        .collect(),
                )
            }
            _ => None,
        })
        .collect()
}

/// `websearch_to_tsquery` input: words as they are, phrases in double quotes.
fn websearch_query(text: &[String]) -> String {
    text.iter()
        .map(|term| {
            let clean = term.replace('"', " ");
            if clean.contains(char::is_whitespace) {
                format!("\"{clean}\"")
            } else {
                clean
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the FROM/WHERE shared by searches and counts. Returns the text-rank expression
/// when the query has free text.
fn from_where(
    sql: &mut Sql,
    backend: Backend,
    query: &Query,
    visibility: &Visibility,
    asker: Asker,
) -> Option<String> {
    let mut clauses = visibility_clause(sql, visibility);
    let customer = visibility.customer.is_some();
    let rank = if query.text.is_empty() {
        sql.text.push_str(" FROM tickets t");
        None
    } else {
        match backend {
            Backend::Sqlite => {
                let matched = sql.text(fts5_query(&query.text, customer, &status_groups(query)));
                sql.text
                    .push_str(" FROM ticket_search s JOIN tickets t ON t.id = s.rowid");
                clauses.push(format!("ticket_search MATCH {matched}"));
                Some(rank_expression(customer))
            }
            Backend::Postgres => {
                let text = sql.text(websearch_query(&query.text));
                let document = if customer {
                    "s.public_doc"
                } else {
                    "s.staff_doc"
                };
                sql.text
                    .push_str(" FROM ticket_search s JOIN tickets t ON t.id = s.ticket_id");
                clauses.push(format!(
                    "{document} @@ websearch_to_tsquery('english', {text})"
                ));
                Some(format!(
                    "-ts_rank({document}, websearch_to_tsquery('english', {text}))"
                ))
            }
        }
    };
    for filter in &query.filters {
        clauses.push(filter_clause(sql, filter, asker));
    }
    if !clauses.is_empty() {
        sql.text.push_str(" WHERE ");
        sql.text.push_str(&clauses.join(" AND "));
    }
    rank
}

/// The relevance of a full-text match on SQLite (lower is better): bm25, with the documents
/// holding each phrase counted once in a while rather than at every query (see `rank.rs`).
/// Staff and customers match their words in different columns, so they keep apart counts.
fn rank_expression(customer: bool) -> String {
    let scope = if customer { "customer" } else { "staff" };
    format!("opsdesk_rank(ticket_search, '{scope}')")
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
    if let Some(skip) = ranked_in_index(backend, query, visibility, cursor) {
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

/// Where a ranked full-text page starts (how many matches to skip), when the full-text
/// index alone can decide which tickets are on it: a staff member who sees every
/// organization, text ranked by relevance, and no filter but statuses (which the index
/// carries as tokens). `None` for every other search.
fn ranked_in_index(
    backend: Backend,
    query: &Query,
    visibility: &Visibility,
    cursor: Cursor,
) -> Option<i64> {
    let answerable = backend == Backend::Sqlite
        && !query.text.is_empty()
        && query.sort.is_none()
        && visibility.organizations.is_none()
        && visibility.customer.is_none()
        && status_groups(query).len() == query.filters.len();
    match cursor {
        _ if !answerable => None,
        Cursor::Start => Some(0),
        Cursor::Offset(skip) => Some(skip),
        Cursor::After { .. } => None,
    }
}

/// How many matches, newest first, are ranked together. Ranking every match of two common
/// words among a million tickets costs far more than a page is allowed to; ranking them in
/// blocks of the newest matches keeps that cost bounded, and puts the best of the recent
/// tickets first, which is what a service desk searches for. Queries with fewer matches are
/// ranked as a whole.
pub const RANK_WINDOW: i64 = 2_000;

/// The page of a search [`ranked_in_index`] accepts, as `(id, created_at)`: matches ranked
/// inside the index within windows of `window_size` (see [`RANK_WINDOW`]), cut to the page there, so only that page's
/// tickets are read from `tickets`. The status filters stay on the ticket rows as well, so a
/// page never shows a ticket the filter excludes.
async fn ranked_page_from_index(
    conn: &mut AnyConnection,
    query: &Query,
    skip: i64,
    limit: i64,
    window_size: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let groups = status_groups(query);
    let matched = fts5_query(&query.text, false, &groups);
    let mut rows: Vec<(i64, i64)> = Vec::new();
    let mut skip = skip;
    loop {
        let window = skip / window_size;
        // Windows are bounded by the rowids of their newest and oldest match.
        let newest = match window {
            0 => Some(i64::MAX),
            _ => nth_newest_match(conn, &matched, window * window_size).await?,
        };
        let Some(newest) = newest else { break };
        let oldest = nth_newest_match(conn, &matched, (window + 1) * window_size - 1).await?;
        let mut sql = Sql {
            text: String::new(),
            binds: Vec::new(),
        };
        let text = sql.text(matched.clone());
        let (low, high) = (sql.int(oldest.unwrap_or(i64::MIN)), sql.int(newest));
        // Only the words rank the window's matches (which the status picks apart): a status
        // says nothing of relevance, and counting its documents once cost more than ranking.
        let ranked = if groups.is_empty() {
            format!("{text} AND rowid >= {low} AND rowid <= {high}")
        } else {
            let words = sql.text(fts5_query(&query.text, false, &[]));
            format!(
                "{words} AND rowid >= {low} AND rowid <= {high} AND +rowid IN \
                 (SELECT rowid FROM ticket_search WHERE ticket_search MATCH {text} \
                 AND rowid >= {low} AND rowid <= {high})"
            )
        };
        let want = sql.int(limit - rows.len() as i64);
        let within = sql.int(skip % window_size);
        let statuses: Vec<String> = groups
            .iter()
            .map(|group| {
                let list = sql.list(&status_names(group), |sql, s| sql.text(s.clone()));
                format!(" AND t.status IN ({list})")
            })
            .collect();
        sql.text = format!(
            "SELECT t.id, t.created_at FROM (SELECT rowid, {} AS score FROM ticket_search \
             WHERE ticket_search MATCH {ranked} \
             ORDER BY score, rowid LIMIT {want} OFFSET {within}) s \
             JOIN tickets t ON t.id = s.rowid WHERE TRUE{} ORDER BY s.score, t.id",
            rank_expression(false),
            statuses.concat()
        );
        let found: Vec<(i64, i64)> = sql.query_as().fetch_all(&mut *conn).await?;
        rows.extend(found);
        if rows.len() as i64 >= limit || oldest.is_none() {
            break;
        }
        skip = (window + 1) * window_size;
    }
    Ok(rows)
}

/// The rowid of the match `n` places after the newest (0 is the newest), if there is one.
async fn nth_newest_match(
    conn: &mut AnyConnection,
    matched: &str,
    n: i64,
) -> Result<Option<i64>, StoreError> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT rowid FROM ticket_search WHERE ticket_search MATCH $1 \
         ORDER BY rowid DESC LIMIT 1 OFFSET $2",
    )
    .bind(matched)
    .bind(n)
    .fetch_optional(conn)
    .await?;
    Ok(found.map(|(rowid,)| rowid))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_terms_are_quoted_and_customers_confined() {
        assert_eq!(
            fts5_query(&["printer".into(), "jam\"x".into()], false, &[]),
            "{title description conversation notes} : (\"printer\" AND \"jam\"\"x\")"
        );
        assert_eq!(
            fts5_query(&["vpn".into()], true, &[]),
            "{title description conversation} : (\"vpn\")"
        );
        assert_eq!(
            websearch_query(&["paper tray".into(), "jam".into()]),
            "\"paper tray\" jam"
        );
    }

    #[test]
    fn status_filters_become_status_tokens() -> Result<(), opsdesk_domain::query::QueryError> {
        let query =
            opsdesk_domain::query::parse("status:open,pending -status:new is:open printer")?;
        let groups = status_groups(&query);
        assert_eq!(
            fts5_query(&query.text, false, &groups),
            "{title description conversation notes} : (\"printer\") \
             AND {facets} : (statusopen OR statuspending) \
             AND {facets} : (statusnew OR statusopen OR statuspending)"
        );
        Ok(())
    }

    /// Ticket 1's index entry: title, conversation, notes, facets.
    async fn entry(
        conn: &mut AnyConnection,
    ) -> Result<(String, String, String, String), sqlx::Error> {
        sqlx::query_as(
            "SELECT title, conversation, notes, facets FROM ticket_search WHERE rowid = 1",
        )
        .fetch_one(conn)
        .await
    }

    #[tokio::test]
    async fn an_entry_changed_several_times_before_a_commit_holds_every_change()
    -> Result<(), Box<dyn std::error::Error>> {
        let (db, dir) = crate::db::scratch_db("search-at-commit").await?;
        // Created, commented on, noted, retitled and opened in one transaction: the entry
        // is written once, at commit, from the rows as they are then.
        db.write(|conn| {
            Box::pin(async move {
                sqlx::raw_sql(
                    "INSERT INTO users (id, email, name, role, created_at, updated_at) \
                     VALUES (1, 'ann@example.com', 'Ann', 'admin', 0, 0); \
                     INSERT INTO tickets (id, ticket_type, number, title, description, status, \
                     impact, urgency, priority, requester_id, custom, source, created_at, updated_at) \
                     VALUES (1, 'incident', 1, 'Printer jam', 'paper', 'new', 'low', 'low', 5, 1, \
                     '{}', 'api', 0, 0)",
                )
                .execute(&mut *conn)
                .await?;
                let mut batch = Batch::for_backend(Backend::Sqlite);
                crate::tickets::index_ticket(&mut batch, 1, "Printer jam", "paper");
                batch.run(&mut *conn).await?;
                for (body, public) in [("toner smudge", true), ("vendor escalation", false)] {
                    crate::tickets::insert_comment(&mut *conn, 1, Some(1), body, public, 0, 0).await?;
                    let mut batch = Batch::for_backend(Backend::Sqlite);
                    crate::tickets::index_comment(&mut batch, 1, body, public);
                    batch.run(&mut *conn).await?;
                }
                sqlx::raw_sql("UPDATE tickets SET title = 'Scanner jam', status = 'open' WHERE id = 1")
                    .execute(&mut *conn)
                    .await?;
                let mut batch = Batch::for_backend(Backend::Sqlite);
                crate::tickets::reindex_text(&mut batch, 1, "Scanner jam", "paper");
                batch.run(&mut *conn).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
        let mut conn = db.reader().await?;
        let (title, conversation, notes, facets) = entry(&mut conn).await?;
        assert_eq!(title, "Scanner jam");
        assert!(conversation.contains("toner smudge"), "{conversation}");
        assert!(notes.contains("vendor escalation"), "{notes}");
        assert!(
            !conversation.contains("vendor"),
            "notes stay out of the conversation"
        );
        assert_eq!(facets, "statusopen");
        let (stale,): (i64,) = sqlx::query_as("SELECT count(*) FROM ticket_search_stale")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(stale, 0);
        drop(conn);
        // Planned as on a database of a million tickets, whose statistics say so.
        let rebuild = REBUILD_STALE_ENTRIES
            .split(';')
            .find(|statement| statement.contains("INSERT"))
            .unwrap_or_default();
        let plan: Vec<(i64, i64, i64, String)> = db
            .write(move |conn| {
                Box::pin(async move {
                    sqlx::raw_sql(
                        "ANALYZE; DELETE FROM sqlite_stat1; \
                         INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('tickets', NULL, '1000000'); \
                         ANALYZE sqlite_schema",
                    )
                    .execute(&mut *conn)
                    .await?;
                    Ok::<_, StoreError>(
                        sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {rebuild}")))
                            .fetch_all(&mut *conn)
                            .await?,
                    )
                })
            })
            .await?;
        assert!(
            plan.iter()
                .any(|(.., step)| step.starts_with("SEARCH t USING INTEGER PRIMARY KEY")),
            "tickets are looked up by id, not scanned: {plan:?}"
        );
        // A later status change alone rewrites the entry with the rest intact.
        db.write(|conn| {
            Box::pin(async move {
                sqlx::raw_sql("UPDATE tickets SET status = 'resolved' WHERE id = 1")
                    .execute(conn)
                    .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
        let mut conn = db.reader().await?;
        let (title, conversation, _, facets) = entry(&mut conn).await?;
        assert_eq!(
            (title.as_str(), facets.as_str()),
            ("Scanner jam", "statusresolved")
        );
        assert!(conversation.contains("toner smudge"));
        let (matches,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM ticket_search WHERE ticket_search MATCH 'scanner'",
        )
        .fetch_one(&mut *conn)
        .await?;
        assert_eq!(matches, 1);
        drop(conn);
        db.close().await;
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }

    #[tokio::test]
    async fn ranked_windows_page_through_every_match_once_newest_windows_first()
    -> Result<(), Box<dyn std::error::Error>> {
        let (db, dir) = crate::db::scratch_db("rank-windows").await?;
        db.write(|conn| {
            Box::pin(async move {
                sqlx::raw_sql(
                    "INSERT INTO users (id, email, name, role, created_at, updated_at) \
                     VALUES (1, 'ann@example.com', 'Ann', 'admin', 0, 0)",
                )
                .execute(&mut *conn)
                .await?;
                // Twelve printer tickets, more relevant the more often the word occurs,
                // alternately new and open.
                for id in 1..=12_i64 {
                    let status = if id % 2 == 0 { "open" } else { "new" };
                    let title = vec!["printer"; usize::try_from(1 + id % 4).unwrap_or(1)].join(" ");
                    sqlx::query(
                        "INSERT INTO tickets (id, ticket_type, number, title, description, status, \
                         impact, urgency, priority, requester_id, custom, source, created_at, updated_at) \
                         VALUES ($1, 'incident', $1, $2, 'paper', $3, 'low', 'low', 5, 1, '{}', 'api', $1, $1)",
                    )
                    .bind(id)
                    .bind(&title)
                    .bind(status)
                    .execute(&mut *conn)
                    .await?;
                    let mut batch = crate::Batch::for_backend(Backend::Sqlite);
                    crate::tickets::index_ticket(&mut batch, id, &title, "paper");
                    batch.run(conn).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await?;
        let query = opsdesk_domain::query::parse("status:open printer")?;
        let mut conn = db.reader().await?;
        // One window larger than the matches: the whole ranking.
        let whole = ranked_page_from_index(&mut conn, &query, 0, 100, 100).await?;
        let whole: Vec<i64> = whole.into_iter().map(|(id, _)| id).collect();
        assert_eq!(whole.len(), 6);
        assert!(whole.iter().all(|id| id % 2 == 0), "open tickets only");
        // Windows of four matches, pages of three: every match once, each window's
        // tickets newer than the next window's.
        let mut paged = Vec::new();
        loop {
            let skip = i64::try_from(paged.len())?;
            let page = ranked_page_from_index(&mut conn, &query, skip, 3, 4).await?;
            if page.is_empty() {
                break;
            }
            paged.extend(page.into_iter().map(|(id, _)| id));
        }
        let (first, second) = paged.split_at(4);
        assert!(
            first.iter().all(|a| second.iter().all(|b| a > b)),
            "{paged:?}"
        );
        let in_window_order: Vec<i64> = whole
            .iter()
            .copied()
            .filter(|id| first.contains(id))
            .collect();
        assert_eq!(
            first, in_window_order,
            "ranked within the window as in the whole"
        );
        let mut sorted = paged.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [2, 4, 6, 8, 10, 12]);
        drop(conn);
        db.close().await;
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}
