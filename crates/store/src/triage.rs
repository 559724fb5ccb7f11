//! What the triage assistant learns from: the desk's most recent labelled tickets.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// One past ticket as the assistant reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrainingRow {
    pub ticket_type: String,
    pub number: i64,
    pub title: String,
    pub description: String,
    pub category_id: Option<i64>,
    pub group_id: Option<i64>,
    pub priority: i64,
    pub resolution_note: Option<String>,
}

/// The `limit` most recent tickets with a category or a group, merged ones left out.
pub async fn training_tickets(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<TrainingRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT ticket_type, number, title, description, category_id, group_id, priority, \
         resolution_note FROM tickets \
         WHERE (category_id IS NOT NULL OR group_id IS NOT NULL) AND merged_into_id IS NULL \
         ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
