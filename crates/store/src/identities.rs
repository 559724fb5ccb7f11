//! Links between accounts and the directories, identity providers and SCIM clients they
//! come from.

use sqlx::AnyConnection;

use crate::accounts::{UserRow, get_user};
use crate::error::StoreError;

/// The account a source knows by `subject`, if it is linked.
pub async fn find_identity_user(
    conn: &mut AnyConnection,
    source: &str,
    source_id: i64,
    subject: &str,
) -> Result<Option<UserRow>, StoreError> {
    let user_id: Option<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM user_identities WHERE source = $1 AND source_id = $2 AND subject = $3",
    )
    .bind(source)
    .bind(source_id)
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?;
    match user_id {
        Some((id,)) => get_user(conn, id).await,
        None => Ok(None),
    }
}

/// Links an account to a source's subject; linking the same pair again only marks it seen.
pub async fn link_identity(
    conn: &mut AnyConnection,
    user_id: i64,
    source: &str,
    source_id: i64,
    subject: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO user_identities (user_id, source, source_id, subject, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (source, source_id, subject) DO UPDATE SET last_seen_at = excluded.last_seen_at",
    )
    .bind(user_id)
    .bind(source)
    .bind(source_id)
    .bind(subject)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a linked subject as seen (signed in or found by a sync) at `now`.
pub async fn touch_identity(
    conn: &mut AnyConnection,
    source: &str,
    source_id: i64,
    subject: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE user_identities SET last_seen_at = $4 \
         WHERE source = $1 AND source_id = $2 AND subject = $3",
    )
    .bind(source)
    .bind(source_id)
    .bind(subject)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The sources an account is linked to, as `(source, source_id, subject)`.
pub async fn user_identities(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<(String, i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT source, source_id, subject FROM user_identities WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}
