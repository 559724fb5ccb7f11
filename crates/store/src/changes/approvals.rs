//! Votes, delegations while away, and the secrets of mailed approval links.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A member of a board: their id and address, and who votes for them while they are away.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MemberRow {
    pub id: i64,
    pub email: String,
    pub delegate_id: Option<i64>,
    pub delegate: Option<String>,
}

/// The active members of group `group_id`, each with their delegate at `now`.
pub async fn board_members(
    conn: &mut AnyConnection,
    group_id: i64,
    now: i64,
) -> Result<Vec<MemberRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email, d.delegate_id, du.email AS delegate FROM group_members m \
         JOIN users u ON u.id = m.user_id \
         LEFT JOIN approval_delegations d ON d.user_id = u.id AND d.until > $2 \
         LEFT JOIN users du ON du.id = d.delegate_id AND du.active = 1 \
         WHERE m.group_id = $1 AND u.active = 1 ORDER BY u.email",
    )
    .bind(group_id)
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Who `user_id` votes for while they stand in for them, and until when.
pub async fn set_delegation(
    conn: &mut AnyConnection,
    user_id: i64,
    delegate: Option<(i64, i64)>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM approval_delegations WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    if let Some((delegate_id, until)) = delegate {
        sqlx::query(
            "INSERT INTO approval_delegations (user_id, delegate_id, until) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(delegate_id)
        .bind(until)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// The delegate of `user_id` and until when, if one is set and still in force at `now`.
pub async fn delegation(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.email, d.until FROM approval_delegations d JOIN users u ON u.id = d.delegate_id \
         WHERE d.user_id = $1 AND d.until > $2",
    )
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VoteRow {
    pub member_id: i64,
    pub member: String,
    pub cast_by: String,
    pub decision: String,
    pub comment: String,
    pub at: i64,
}

/// Records a vote; false when the member has voted already.
pub async fn insert_vote(
    conn: &mut AnyConnection,
    change_id: i64,
    member_id: i64,
    cast_by_id: i64,
    decision: &str,
    comment: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO change_votes (change_id, member_id, cast_by_id, decision, comment, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(change_id)
    .bind(member_id)
    .bind(cast_by_id)
    .bind(decision)
    .bind(comment)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn votes(conn: &mut AnyConnection, change_id: i64) -> Result<Vec<VoteRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT v.member_id, m.email AS member, b.email AS cast_by, v.decision, v.comment, v.at \
         FROM change_votes v JOIN users m ON m.id = v.member_id JOIN users b ON b.id = v.cast_by_id \
         WHERE v.change_id = $1 ORDER BY v.at, v.member_id",
    )
    .bind(change_id)
    .fetch_all(conn)
    .await?)
}

/// Forgets the votes on change `id`: a new plan is approved afresh.
pub async fn clear_votes(conn: &mut AnyConnection, change_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM change_votes WHERE change_id = $1")
        .bind(change_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM change_approval_links WHERE change_id = $1")
        .bind(change_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_approval_link(
    conn: &mut AnyConnection,
    token_hash: &str,
    change_id: i64,
    user_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO change_approval_links (token_hash, change_id, user_id, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(change_id)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The change and person of a mailed link.
pub async fn approval_link(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(
        sqlx::query_as(
            "SELECT change_id, user_id FROM change_approval_links WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(conn)
        .await?,
    )
}

pub async fn mark_escalated(
    conn: &mut AnyConnection,
    change_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE changes SET approval_escalated_at = $2 \
         WHERE id = $1 AND approval_escalated_at IS NULL",
    )
    .bind(change_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
