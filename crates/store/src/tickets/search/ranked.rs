//! Ranked full-text pages answered inside the SQLite index, in windows of the newest matches,
//! so that a common word among a million tickets still costs a bounded amount per page.

use opsdesk_domain::query::Query;
use sqlx::AnyConnection;

use super::compile::{Sql, fts5_query, rank_expression, status_groups, status_names};
use super::{Cursor, Visibility};
use crate::db::Backend;
use crate::error::StoreError;

/// Where a ranked full-text page starts (how many matches to skip), when the full-text
/// index alone can decide which tickets are on it: a staff member who sees every
/// organization, text ranked by relevance, and no filter but statuses (which the index
/// carries as tokens). `None` for every other search.
pub(super) fn ranked_in_index(
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
pub(super) async fn ranked_page_from_index(
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

#[cfg(test)]
mod tests {
    use super::*;

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
