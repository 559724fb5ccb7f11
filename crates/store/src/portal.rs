//! The self-service portal's reference data: the diagnostic questions asked per category.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// One diagnostic question of a category.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuestionRow {
    pub id: i64,
    pub category_id: i64,
    pub position: i64,
    pub question: String,
    pub required: i64,
}

const COLUMNS: &str = "id, category_id, position, question, required";

pub async fn insert_question(
    conn: &mut AnyConnection,
    category_id: i64,
    question: &str,
    required: bool,
    now: i64,
) -> Result<QuestionRow, StoreError> {
    // New questions go last; the position keeps the admin's order stable.
    let (next,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM category_questions WHERE category_id = $1",
    )
    .bind(category_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO category_questions (category_id, position, question, required, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(category_id)
    .bind(next)
    .bind(question)
    .bind(i64::from(required))
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Every category's questions, in the order they are asked (a small admin-kept table).
pub async fn questions(conn: &mut AnyConnection) -> Result<Vec<QuestionRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM category_questions ORDER BY category_id, position, id"
    )))
    .fetch_all(conn)
    .await?)
}

pub async fn get_question(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<QuestionRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM category_questions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn delete_question(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM category_questions WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Notes what the portal showed a customer on the new-ticket form: the first time for a
/// visit starts it, later ones keep the latest words and the most articles shown.
pub async fn note_visit(
    conn: &mut AnyConnection,
    token: &str,
    user_id: i64,
    category_id: Option<i64>,
    query: &str,
    articles_shown: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO portal_visits (token, user_id, category_id, started_at, query, articles_shown) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (token) DO UPDATE SET query = excluded.query, \
         articles_shown = CASE WHEN excluded.articles_shown > portal_visits.articles_shown \
         THEN excluded.articles_shown ELSE portal_visits.articles_shown END \
         WHERE portal_visits.user_id = excluded.user_id",
    )
    .bind(token)
    .bind(user_id)
    .bind(category_id)
    .bind(now)
    .bind(query)
    .bind(articles_shown)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the visit that ended with a ticket.
pub async fn visit_submitted(
    conn: &mut AnyConnection,
    token: &str,
    user_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE portal_visits SET submitted_at = $1 WHERE token = $2 AND user_id = $3 \
         AND submitted_at IS NULL",
    )
    .bind(now)
    .bind(token)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Visits with articles shown, per category, started in `[from, to)`: how many there were,
/// how many ended with a ticket, how many are still within their 7 days, and how many were
/// followed by a ticket or mail within them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeflectionRow {
    pub category_id: Option<i64>,
    pub visits: i64,
    pub submitted: i64,
    pub waiting: i64,
    pub came_back: i64,
}

pub async fn deflection(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
    now: i64,
    window_ms: i64,
) -> Result<Vec<DeflectionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT v.category_id, COUNT(*) AS visits, \
         CAST(SUM(CASE WHEN v.submitted_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS submitted, \
         CAST(SUM(CASE WHEN v.submitted_at IS NULL AND v.started_at > $3 - $4 THEN 1 ELSE 0 END) \
           AS BIGINT) AS waiting, \
         CAST(SUM(CASE WHEN v.submitted_at IS NULL AND v.started_at <= $3 - $4 AND (\
           EXISTS (SELECT 1 FROM tickets t WHERE t.requester_id = v.user_id \
             AND t.created_at > v.started_at AND t.created_at <= v.started_at + $4) \
           OR EXISTS (SELECT 1 FROM mail_messages m JOIN users u ON u.email = m.address \
             WHERE u.id = v.user_id AND m.direction = 'in' \
             AND m.created_at > v.started_at AND m.created_at <= v.started_at + $4)) \
           THEN 1 ELSE 0 END) AS BIGINT) AS came_back \
         FROM portal_visits v WHERE v.articles_shown > 0 AND v.started_at >= $1 \
         AND v.started_at < $2 GROUP BY v.category_id",
    )
    .bind(from)
    .bind(to)
    .bind(now)
    .bind(window_ms)
    .fetch_all(conn)
    .await?)
}
