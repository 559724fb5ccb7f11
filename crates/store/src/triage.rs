//! What the triage assistant learns from (the desk's most recent labelled tickets), the model
//! versions it trained, the thresholds above which it applies its suggestions, and how its
//! suggestions fared.

use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::error::StoreError;

/// One past ticket as the assistant reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrainingRow {
    pub id: i64,
    pub ticket_type: String,
    pub number: i64,
    pub title: String,
    pub description: String,
    pub category_id: Option<i64>,
    pub group_id: Option<i64>,
    pub priority: i64,
    pub resolution_note: Option<String>,
}

/// The `limit` most recent tickets with a category or a group, merged ones left out, and
/// security incidents too: the assistant shows what it learned from to any agent.
pub async fn training_tickets(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<TrainingRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, ticket_type, number, title, description, category_id, group_id, priority, \
         resolution_note FROM tickets \
         WHERE (category_id IS NOT NULL OR group_id IS NOT NULL) AND merged_into_id IS NULL \
         AND restricted_group_id IS NULL ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Tickets by id, as the assistant reads them, in no particular order (rebuilding a model
/// version from the tickets it learned from); security incidents left out, as in
/// [`training_tickets`].
pub async fn tickets_by_ids(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<TrainingRow>, StoreError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id, ticket_type, number, title, description, category_id, group_id, priority, \
             resolution_note FROM tickets WHERE id IN ({}) AND restricted_group_id IS NULL",
            crate::accounts::placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, TrainingRow>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// A trained model version, without the tickets it learned from.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ModelRow {
    pub version: String,
    pub trained_at: i64,
    pub trained_on: i64,
    pub trained_by: String,
    pub accuracy: String,
    pub active: i64,
}

const MODEL_COLUMNS: &str = "version, trained_at, trained_on, trained_by, accuracy, active";

/// Versions kept besides the one in service; older ones are dropped as new ones come.
const KEPT_VERSIONS: i64 = 10;

/// Records a new version and puts it in service; drops the oldest beyond those kept.
/// Returns its id.
pub async fn insert_model(
    conn: &mut AnyConnection,
    model: &ModelRow,
    examples: &str,
) -> Result<i64, StoreError> {
    sqlx::query("UPDATE triage_models SET active = 0 WHERE active = 1")
        .execute(&mut *conn)
        .await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO triage_models (version, trained_at, trained_on, trained_by, accuracy, \
         examples, active) VALUES ($1, $2, $3, $4, $5, $6, 1) RETURNING id",
    )
    .bind(&model.version)
    .bind(model.trained_at)
    .bind(model.trained_on)
    .bind(&model.trained_by)
    .bind(&model.accuracy)
    .bind(examples)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM triage_models WHERE active = 0 AND id NOT IN \
         (SELECT id FROM triage_models ORDER BY id DESC LIMIT $1)",
    )
    .bind(KEPT_VERSIONS)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Whether a version by this name was ever kept (and still is).
pub async fn version_taken(conn: &mut AnyConnection, version: &str) -> Result<bool, StoreError> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM triage_models WHERE version = $1")
        .bind(version)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Every version kept, newest first.
pub async fn models(conn: &mut AnyConnection) -> Result<Vec<ModelRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MODEL_COLUMNS} FROM triage_models ORDER BY id DESC"
    )))
    .fetch_all(conn)
    .await?)
}

/// The version in service.
pub async fn active_model(conn: &mut AnyConnection) -> Result<Option<ModelRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MODEL_COLUMNS} FROM triage_models WHERE active = 1"
    )))
    .fetch_optional(conn)
    .await?)
}

/// The tickets (with labels) a version learned from, as stored JSON.
pub async fn model_examples(
    conn: &mut AnyConnection,
    version: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT examples FROM triage_models WHERE version = $1")
            .bind(version)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(examples,)| examples))
}

/// Puts a kept version back in service; its id, or `None` when there is no such version.
pub async fn activate_model(
    conn: &mut AnyConnection,
    version: &str,
) -> Result<Option<i64>, StoreError> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM triage_models WHERE version = $1")
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?;
    let Some((id,)) = found else {
        return Ok(None);
    };
    sqlx::query("UPDATE triage_models SET active = 0 WHERE active = 1")
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE triage_models SET active = 1 WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(Some(id))
}

/// Categories whose suggestions are applied automatically, with their threshold.
pub async fn thresholds(conn: &mut AnyConnection) -> Result<Vec<(i64, f64)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT category_id, threshold FROM triage_thresholds ORDER BY category_id")
            .fetch_all(conn)
            .await?,
    )
}

/// Sets a category's threshold, or (with `None`) stops applying its suggestions.
pub async fn set_threshold(
    conn: &mut AnyConnection,
    category_id: i64,
    threshold: Option<f64>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM triage_thresholds WHERE category_id = $1")
        .bind(category_id)
        .execute(&mut *conn)
        .await?;
    if let Some(threshold) = threshold {
        sqlx::query("INSERT INTO triage_thresholds (category_id, threshold) VALUES ($1, $2)")
            .bind(category_id)
            .bind(threshold)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Records what the assistant suggested for a new ticket.
pub fn insert_outcome(
    batch: &mut Batch,
    ticket_id: i64,
    model: &str,
    category_id: Option<i64>,
    confidence: f64,
    applied: bool,
    at: i64,
) {
    batch
        .push(
            "INSERT INTO triage_outcomes (ticket_id, model, category_id, confidence, applied, \
             suggested_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ticket_id)
        .bind(model.to_owned())
        .bind(category_id)
        .bind(confidence)
        .bind(i64::from(applied))
        .bind(at);
}

/// Notes an agent's category change on a ticket the assistant made a different suggestion
/// for: a correction.
pub async fn record_correction(
    conn: &mut AnyConnection,
    ticket_id: i64,
    category_id: Option<i64>,
    by: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE triage_outcomes SET corrected_category_id = $1, corrected_by = $2, \
         corrected_at = $3 WHERE ticket_id = $4 AND category_id IS DISTINCT FROM $1",
    )
    .bind(category_id)
    .bind(by)
    .bind(at)
    .bind(ticket_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// One suggestion, with the category its ticket has now.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OutcomeRow {
    pub suggested_at: i64,
    pub category_id: Option<i64>,
    pub applied: i64,
    pub corrected: i64,
    pub current_category_id: Option<i64>,
}

/// The suggestions made since `since`.
pub async fn outcomes_since(
    conn: &mut AnyConnection,
    since: i64,
) -> Result<Vec<OutcomeRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT o.suggested_at, o.category_id, o.applied, \
         CASE WHEN o.corrected_at IS NULL THEN 0 ELSE 1 END AS corrected, \
         t.category_id AS current_category_id \
         FROM triage_outcomes o JOIN tickets t ON t.id = o.ticket_id \
         WHERE o.suggested_at >= $1 ORDER BY o.suggested_at",
    )
    .bind(since)
    .fetch_all(conn)
    .await?)
}

/// An open incident opened recently, as the checks for many alike reports read it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RecentIncident {
    pub id: i64,
    pub number: i64,
    pub title: String,
    pub description: String,
    pub organization_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub created_at: i64,
}

/// Open incidents opened since `since` (of one organization when given), newest first.
pub async fn recent_open_incidents(
    conn: &mut AnyConnection,
    since: i64,
    organization: Option<i64>,
    limit: i64,
) -> Result<Vec<RecentIncident>, StoreError> {
    let select = "SELECT id, number, title, description, organization_id, parent_id, created_at \
         FROM tickets WHERE status IN ('new', 'open', 'pending') AND created_at >= $1 \
         AND ticket_type = 'incident' AND merged_into_id IS NULL";
    let rows = match organization {
        Some(organization) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{select} AND organization_id = $2 ORDER BY created_at DESC LIMIT $3"
            )))
            .bind(since)
            .bind(organization)
            .bind(limit)
            .fetch_all(conn)
            .await?
        }
        None => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{select} ORDER BY created_at DESC LIMIT $2"
            )))
            .bind(since)
            .bind(limit)
            .fetch_all(conn)
            .await?
        }
    };
    Ok(rows)
}
