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
