//! Deleting a ticket for good: its row and everything that hangs from it go (the schema's
//! cascades), records that outlive it (an outage, a mail, an alert) lose their link to it,
//! and file contents no other record uses go with it.

use sqlx::AnyConnection;

use crate::db::Backend;
use crate::error::StoreError;

/// The tickets merged into ticket `id` or filed under it, as (type, number): while there are
/// any, it cannot be deleted.
pub async fn dependants(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT ticket_type, number FROM tickets WHERE merged_into_id = $1 OR parent_id = $1 \
         ORDER BY id LIMIT 10",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Deletes ticket `id` and what hangs from it.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    let contents: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT sha256 FROM attachments WHERE ticket_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    // An outage keeps its history; only its link to the incident goes.
    sqlx::query("UPDATE monitor_outages SET ticket_id = NULL WHERE ticket_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if Backend::of(conn) == Backend::Sqlite {
        // The writer drops the search entry of a listed ticket that no longer exists.
        sqlx::query("INSERT OR IGNORE INTO ticket_search_stale (ticket_id) VALUES ($1)")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM tickets WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for sha256 in contents {
        sqlx::query(
            "DELETE FROM attachment_blobs WHERE sha256 = $1 \
             AND NOT EXISTS (SELECT 1 FROM attachments WHERE sha256 = $1) \
             AND NOT EXISTS (SELECT 1 FROM article_files WHERE sha256 = $1)",
        )
        .bind(sha256)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
