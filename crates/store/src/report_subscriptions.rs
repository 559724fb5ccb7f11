//! Who gets the weekly report by mail: one subscription a person, with the time zone their
//! weeks are in, optionally one organization, and the Monday the next mail leaves on.

use sqlx::AnyConnection;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub user_id: i64,
    pub email: String,
    pub time_zone: String,
    pub organization_id: Option<i64>,
    pub organization: Option<String>,
    /// `YYYY-MM-DD`.
    pub next_send_on: String,
}

const SELECT: &str = "SELECT s.user_id, u.email, s.time_zone, s.organization_id, \
     o.name AS organization, s.next_send_on FROM report_subscriptions s \
     JOIN users u ON u.id = s.user_id LEFT JOIN organizations o ON o.id = s.organization_id";

/// The subscription of user `user_id`, if they have one.
pub async fn get(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<SubscriptionRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{SELECT} WHERE s.user_id = $1"))
        .bind(user_id)
        .fetch_optional(conn)
        .await?)
}

/// Every subscription, by address.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<SubscriptionRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{SELECT} ORDER BY lower(u.email)"))
        .fetch_all(conn)
        .await?)
}

/// Makes or replaces user `user_id`'s subscription.
pub async fn put(
    conn: &mut AnyConnection,
    user_id: i64,
    time_zone: &str,
    organization_id: Option<i64>,
    next_send_on: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO report_subscriptions \
         (user_id, time_zone, organization_id, next_send_on, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone, \
         organization_id = excluded.organization_id, next_send_on = excluded.next_send_on, \
         updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(time_zone)
    .bind(organization_id)
    .bind(next_send_on)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves user `user_id`'s next mail from `sent_on` to `next_on`; false when the subscription
/// is gone or no longer waits for `sent_on` (it was changed meanwhile).
pub async fn advance(
    conn: &mut AnyConnection,
    user_id: i64,
    sent_on: &str,
    next_on: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE report_subscriptions SET next_send_on = $3, updated_at = $4 \
         WHERE user_id = $1 AND next_send_on = $2",
    )
    .bind(user_id)
    .bind(sent_on)
    .bind(next_on)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends user `user_id`'s subscription; false when there was none.
pub async fn remove(conn: &mut AnyConnection, user_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM report_subscriptions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
