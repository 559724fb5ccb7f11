//! Keeping the SQLite full-text index in step with the tickets: entries are marked stale as
//! tickets change and rebuilt from their rows when the writer commits.

use crate::batch::Batch;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;
    use crate::error::StoreError;
    use sqlx::AnyConnection;

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
}
