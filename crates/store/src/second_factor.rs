//! Time-based one-time passwords, recovery codes, and the short wait between a right
//! password and its second factor.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A user's authenticator secret (base32) and how far it has been used.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub user_id: i64,
    pub secret: String,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
    pub created_at: i64,
}

pub async fn get_totp(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<TotpRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT user_id, secret, confirmed_at, last_step, created_at FROM user_totp \
         WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?)
}

/// Starts (or restarts) enrolment with a new, unconfirmed secret.
pub async fn begin_totp(
    conn: &mut AnyConnection,
    user_id: i64,
    secret: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO user_totp (user_id, secret, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, confirmed_at = NULL, \
         last_step = 0, created_at = excluded.created_at",
    )
    .bind(user_id)
    .bind(secret)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that the code of `step` was used, only if no later or equal step was: `false`
/// means the code was already spent (a replay).
pub async fn use_totp_step(
    conn: &mut AnyConnection,
    user_id: i64,
    step: i64,
    confirm_at: Option<i64>,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE user_totp SET last_step = $2, confirmed_at = COALESCE(confirmed_at, $3) \
         WHERE user_id = $1 AND last_step < $2",
    )
    .bind(user_id)
    .bind(step)
    .bind(confirm_at)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Removes the second factor and its recovery codes.
pub async fn delete_totp(conn: &mut AnyConnection, user_id: i64) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let result = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Replaces a user's recovery codes with these hashes.
pub async fn replace_recovery_codes(
    conn: &mut AnyConnection,
    user_id: i64,
    code_hashes: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM user_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for hash in code_hashes {
        sqlx::query("INSERT INTO user_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Spends an unused recovery code; `false` when it is unknown or already used.
pub async fn use_recovery_code(
    conn: &mut AnyConnection,
    user_id: i64,
    code_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE user_recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(code_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// How many recovery codes are left.
pub async fn unused_recovery_codes(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

pub async fn insert_login_challenge(
    conn: &mut AnyConnection,
    token_hash: &str,
    user_id: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_challenges (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts one more attempt at an unexpired challenge and returns its user and the attempts
/// so far, or `None` when it is unknown or expired.
pub async fn attempt_login_challenge(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE login_challenges SET attempts = attempts + 1 \
         WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id, attempts",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Ends a challenge (met, given up on, or expired).
pub async fn delete_login_challenge(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_challenges WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes challenges that expired before `now`.
pub async fn delete_expired_login_challenges(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<u64, StoreError> {
    let result = sqlx::query("DELETE FROM login_challenges WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}
