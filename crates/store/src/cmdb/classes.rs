//! The custom fields of each class.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A custom field of a class, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClassFieldRow {
    pub class: String,
    pub name: String,
    pub label: String,
    pub kind: String,
    pub required: i64,
    pub position: i64,
}

/// The custom fields of `class` (every class's when `None`), in order.
pub async fn class_fields(
    conn: &mut AnyConnection,
    class: Option<&str>,
) -> Result<Vec<ClassFieldRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT class, name, label, kind, required, position FROM ci_class_fields \
         WHERE $1 IS NULL OR class = $1 ORDER BY class, position",
    )
    .bind(class)
    .fetch_all(conn)
    .await?)
}

/// Replaces the custom fields of `class`.
pub async fn replace_class_fields(
    conn: &mut AnyConnection,
    class: &str,
    fields: &[ClassFieldRow],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ci_class_fields WHERE class = $1")
        .bind(class)
        .execute(&mut *conn)
        .await?;
    for field in fields {
        sqlx::query(
            "INSERT INTO ci_class_fields (class, name, label, kind, required, position) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(class)
        .bind(&field.name)
        .bind(&field.label)
        .bind(&field.kind)
        .bind(field.required)
        .bind(field.position)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
