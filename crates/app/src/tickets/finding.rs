//! Finding tickets: searches and counts.

use super::*;

impl App {
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
        let now = self.now_ms();
        let mut conn = self.db().reader().await?;
        let hits = search::search(
            &mut conn,
            self.db().backend(),
            &query,
            &visibility,
            Asker {
                me: principal.user_id,
                now,
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
        let tickets = views(&mut conn, principal, rows, now).await?;
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
                now: self.now_ms(),
            },
            limit,
        )
        .await?)
    }
}
