//! Which tickets came from another desk, by their id there (`opsdesk import tickets`).

use std::collections::HashSet;

use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::error::StoreError;

/// Most ids asked about in one statement.
const CHUNK: usize = 500;

/// The ones among `external_ids` already imported.
pub async fn imported(
    conn: &mut AnyConnection,
    external_ids: &[&str],
) -> Result<HashSet<String>, StoreError> {
    Ok(tickets_of(conn, external_ids)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// Records that `ticket_id` is `external_id` in the desk it came from.
pub fn record_import(batch: &mut Batch, external_id: &str, ticket_id: i64, at: i64) {
    batch
        .push(
            "INSERT INTO ticket_imports (external_id, ticket_id, imported_at) VALUES ($1, $2, $3)",
        )
        .bind(external_id.to_owned())
        .bind(ticket_id)
        .bind(at);
}

/// The tickets `external_ids` became, by external id (those not imported are absent).
pub async fn tickets_of(
    conn: &mut AnyConnection,
    external_ids: &[&str],
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut found = Vec::new();
    for chunk in external_ids.chunks(CHUNK) {
        let sql = format!(
            "SELECT external_id, ticket_id FROM ticket_imports WHERE external_id IN ({})",
            crate::accounts::placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        found.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(found)
}
