//! Escalation policies, the pages of incidents and the notifications they sent.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub levels: String,
    pub repeats: i64,
    pub chat_webhook_url: Option<String>,
    pub created_at: i64,
}

const POLICY_COLUMNS: &str = "id, name, levels, repeats, chat_webhook_url, created_at";

pub struct NewPolicy<'a> {
    pub name: &'a str,
    pub levels: &'a str,
    pub repeats: i64,
    pub chat_webhook_url: Option<&'a str>,
}

pub async fn insert_policy(
    conn: &mut AnyConnection,
    new: &NewPolicy<'_>,
    now: i64,
) -> Result<PolicyRow, StoreError> {
    sqlx::query_as(sql!(
        "INSERT INTO escalation_policies (name, levels, repeats, chat_webhook_url, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {POLICY_COLUMNS}"
    ))
    .bind(new.name)
    .bind(new.levels)
    .bind(new.repeats)
    .bind(new.chat_webhook_url)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn policies(conn: &mut AnyConnection) -> Result<Vec<PolicyRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {POLICY_COLUMNS} FROM escalation_policies ORDER BY name"
    ))
    .fetch_all(conn)
    .await?)
}

pub async fn policy(conn: &mut AnyConnection, id: i64) -> Result<Option<PolicyRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {POLICY_COLUMNS} FROM escalation_policies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn policy_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<PolicyRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {POLICY_COLUMNS} FROM escalation_policies WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PageRow {
    pub id: i64,
    pub ticket_id: i64,
    pub policy_id: i64,
    pub policy: String,
    pub status: String,
    pub round: i64,
    pub level: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const PAGE_SELECT: &str = "SELECT p.id, p.ticket_id, p.policy_id, e.name AS policy, p.status, \
     p.round, p.level, p.acknowledged_by, p.acknowledged_at, p.created_at, p.updated_at \
     FROM pages p JOIN escalation_policies e ON e.id = p.policy_id";

/// Starts the page of an incident at its policy's first level.
pub async fn insert_page(
    conn: &mut AnyConnection,
    ticket_id: i64,
    policy_id: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO pages (ticket_id, policy_id, status, round, level, created_at, updated_at) \
         VALUES ($1, $2, 'triggered', 0, 0, $3, $3) RETURNING id",
    )
    .bind(ticket_id)
    .bind(policy_id)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("ticket"))?;
    Ok(id)
}

pub async fn page(conn: &mut AnyConnection, id: i64) -> Result<Option<PageRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{PAGE_SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn page_of_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<PageRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{PAGE_SELECT} WHERE p.ticket_id = $1"))
        .bind(ticket_id)
        .fetch_optional(conn)
        .await?)
}

/// Pages still waiting for someone (triggered or exhausted), newest first.
pub async fn open_pages(conn: &mut AnyConnection, limit: i64) -> Result<Vec<PageRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{PAGE_SELECT} WHERE p.status IN ('triggered', 'exhausted') \
         ORDER BY p.created_at DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Where a page moves to.
pub struct PageUpdate<'a> {
    pub status: &'a str,
    pub round: i64,
    pub level: i64,
    /// Who acknowledged it; kept when absent.
    pub acknowledged_by: Option<&'a str>,
}

pub async fn update_page(
    conn: &mut AnyConnection,
    id: i64,
    update: &PageUpdate<'_>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE pages SET status = $1, round = $2, level = $3, \
         acknowledged_by = COALESCE($4, acknowledged_by), \
         acknowledged_at = CASE WHEN $4 IS NULL THEN acknowledged_at ELSE $5 END, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(update.status)
    .bind(update.round)
    .bind(update.level)
    .bind(update.acknowledged_by)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that `user_id` is to be told of a page at a step; the job that mails them sets
/// its link's secret.
/// How many pages policy `policy_id` started before page `page_id`: a round-robin level's
/// turn.
pub async fn pages_before(
    conn: &mut AnyConnection,
    policy_id: i64,
    page_id: i64,
) -> Result<u64, StoreError> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM pages WHERE policy_id = $1 AND id < $2")
            .bind(policy_id)
            .bind(page_id)
            .fetch_one(conn)
            .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

pub async fn insert_notification(
    conn: &mut AnyConnection,
    page_id: i64,
    user_id: i64,
    (round, level): (i64, i64),
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO page_notifications (page_id, user_id, round, level, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(page_id)
    .bind(user_id)
    .bind(round)
    .bind(level)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub page_id: i64,
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub round: i64,
    pub level: i64,
    pub sent_at: Option<i64>,
    pub created_at: i64,
}

const NOTIFICATION_SELECT: &str = "SELECT n.id, n.page_id, n.user_id, u.email, u.name, n.round, \
     n.level, n.sent_at, n.created_at FROM page_notifications n JOIN users u ON u.id = n.user_id";

pub async fn notification(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<NotificationRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{NOTIFICATION_SELECT} WHERE n.id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The notification whose link's secret hashes to `token_hash`.
pub async fn notification_by_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<NotificationRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{NOTIFICATION_SELECT} WHERE n.token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(conn)
            .await?,
    )
}

/// A page's notifications, in the order they were made.
pub async fn notifications(
    conn: &mut AnyConnection,
    page_id: i64,
) -> Result<Vec<NotificationRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{NOTIFICATION_SELECT} WHERE n.page_id = $1 ORDER BY n.id"
    ))
    .bind(page_id)
    .fetch_all(conn)
    .await?)
}

/// Sets the secret of a notification's link (each attempt to mail it sets a new one).
pub async fn set_notification_token(
    conn: &mut AnyConnection,
    id: i64,
    token_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE page_notifications SET token_hash = $1 WHERE id = $2")
        .bind(token_hash)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_notification_sent(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE page_notifications SET sent_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
