//! Mail received and sent: the record that makes ingest exactly-once (unique `dedup_key`),
//! threads replies by Message-ID and holds the quarantine; the files a message brings are
//! kept with the ticket's other attachments ([`crate::attachments`]).

use sqlx::AnyConnection;

use crate::accounts::placeholders;
use crate::error::StoreError;

/// A mail record without its raw bytes.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailRow {
    pub id: i64,
    pub direction: String,
    pub dedup_key: String,
    pub message_id: Option<String>,
    pub ticket_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub address: String,
    pub subject: String,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const MAIL_COLUMNS: &str = "id, direction, dedup_key, message_id, ticket_id, comment_id, address, \
     subject, status, reason, created_at, updated_at";

/// A message to record.
#[derive(Debug, Clone)]
pub struct NewMail<'a> {
    /// `in` or `out`.
    pub direction: &'a str,
    pub dedup_key: &'a str,
    pub message_id: Option<&'a str>,
    pub ticket_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub address: &'a str,
    pub subject: &'a str,
    pub status: &'a str,
    pub reason: Option<&'a str>,
    /// Sanitized HTML of an inbound message.
    pub html: Option<&'a str>,
    pub raw: Option<&'a [u8]>,
}

/// The record for `dedup_key`, if this message was seen before.
pub async fn find_by_key(
    conn: &mut AnyConnection,
    dedup_key: &str,
) -> Result<Option<MailRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {MAIL_COLUMNS} FROM mail_messages WHERE dedup_key = $1"
    ))
    .bind(dedup_key)
    .fetch_optional(conn)
    .await?)
}

/// A record by id.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<MailRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {MAIL_COLUMNS} FROM mail_messages WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

const INSERT_MAIL: &str = "INSERT INTO mail_messages (direction, dedup_key, message_id, \
     ticket_id, comment_id, address, subject, status, reason, html, raw, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)";

fn bind_mail<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    mail: &NewMail<'q>,
    now: i64,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    query
        .bind(mail.direction)
        .bind(mail.dedup_key)
        .bind(mail.message_id)
        .bind(mail.ticket_id)
        .bind(mail.comment_id)
        .bind(mail.address)
        .bind(mail.subject)
        .bind(mail.status)
        .bind(mail.reason)
        .bind(mail.html)
        .bind(mail.raw.map(<[u8]>::to_vec))
        .bind(now)
}

/// Records a message; a second record with the same `dedup_key` is a `Duplicate`.
pub async fn insert(
    conn: &mut AnyConnection,
    mail: &NewMail<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let query = sqlx::query_as(sql!("{INSERT_MAIL} RETURNING id"));
    let (id,): (i64,) = bind_mail(query, mail, now)
        .fetch_one(conn)
        .await
        .map_err(|e| StoreError::from(e).on_unique("message id"))?;
    Ok(id)
}

/// The `dedup_key` of the message opsdesk sends with `message_id`.
pub fn outbound_key(message_id: &str) -> String {
    format!("out:{message_id}")
}

/// Records a message unless one with its `dedup_key` exists (an outbound message recorded
/// by an earlier attempt to send it); returns the new record's id, if one was written.
pub async fn insert_if_absent(
    conn: &mut AnyConnection,
    mail: &NewMail<'_>,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let query = sqlx::query_as(sql!(
        "{INSERT_MAIL} ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
    ));
    let row: Option<(i64,)> = bind_mail(query, mail, now).fetch_optional(conn).await?;
    Ok(row.map(|(id,)| id))
}

/// Marks a queued outbound message as accepted by the relay. A bounce recorded in between
/// is kept: it says more than the relay's acceptance.
pub async fn mark_sent(
    conn: &mut AnyConnection,
    message_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE mail_messages SET status = 'sent', updated_at = $1 \
         WHERE dedup_key = $2 AND status = 'queued'",
    )
    .bind(now)
    .bind(outbound_key(message_id))
    .execute(conn)
    .await?;
    Ok(())
}

/// Records what became of a message (re-processing a quarantined one).
pub async fn set_outcome(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    reason: Option<&str>,
    ticket_id: Option<i64>,
    comment_id: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE mail_messages SET status = $1, reason = $2, ticket_id = $3, comment_id = $4, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(reason)
    .bind(ticket_id)
    .bind(comment_id)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks an outbound message by its Message-ID (`sent`, `bounced`).
pub async fn set_outbound_status(
    conn: &mut AnyConnection,
    message_id: &str,
    status: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<Option<MailRow>, StoreError> {
    sqlx::query(
        "UPDATE mail_messages SET status = $1, reason = $2, updated_at = $3 WHERE dedup_key = $4",
    )
    .bind(status)
    .bind(reason)
    .bind(now)
    .bind(outbound_key(message_id))
    .execute(&mut *conn)
    .await?;
    find_by_key(conn, &outbound_key(message_id)).await
}

/// The ticket the newest of these Message-IDs belongs to, if any.
pub async fn ticket_of_message_ids(
    conn: &mut AnyConnection,
    message_ids: &[String],
) -> Result<Option<i64>, StoreError> {
    if message_ids.is_empty() {
        return Ok(None);
    }
    let query = sql!(
        "SELECT ticket_id FROM mail_messages WHERE message_id IN ({}) AND ticket_id IS NOT NULL \
         ORDER BY id DESC LIMIT 1",
        placeholders(1, message_ids.len())
    );
    let mut query = sqlx::query_as::<_, (i64,)>(query);
    for id in message_ids {
        query = query.bind(id);
    }
    Ok(query.fetch_optional(conn).await?.map(|(id,)| id))
}

/// The Message-IDs of a ticket's conversation, oldest first, at most `limit` of the newest.
/// Notifications not yet sent are left out: the recipient may never see them.
pub async fn thread(
    conn: &mut AnyConnection,
    ticket_id: i64,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT message_id, direction FROM mail_messages \
         WHERE ticket_id = $1 AND message_id IS NOT NULL AND status <> 'queued' \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(ticket_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.reverse();
    Ok(rows)
}

/// Inbound messages from `address` since `since`, for the per-sender rate limit.
pub async fn count_from(
    conn: &mut AnyConnection,
    address: &str,
    since: i64,
) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM mail_messages WHERE address = $1 AND created_at >= $2 AND direction = 'in'",
    )
    .bind(address)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// The inbound message that opened ticket `ticket_id`, if mail opened it.
pub async fn opening_message(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM mail_messages WHERE ticket_id = $1 AND direction = 'in' \
         AND status = 'ticket' ORDER BY id LIMIT 1",
    )
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// The original bytes of an inbound message.
pub async fn raw(conn: &mut AnyConnection, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(Option<Vec<u8>>,)> =
        sqlx::query_as("SELECT raw FROM mail_messages WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(raw,)| raw))
}

/// Inbound messages in `status` (e.g. `quarantined`), newest first, with id below `before`.
pub async fn list_by_status(
    conn: &mut AnyConnection,
    status: &str,
    before: i64,
    limit: i64,
) -> Result<Vec<MailRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {MAIL_COLUMNS} FROM mail_messages WHERE status = $1 AND id < $2 \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(status)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// An admin's replacement for a notice's built-in template.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: i64,
    pub notice: String,
    pub subject: String,
    pub text_part: String,
    pub html_part: String,
    /// The audit label of whoever saved it last.
    pub updated_by: String,
    pub updated_at: i64,
}

const TEMPLATE_COLUMNS: &str = "id, notice, subject, text_part, html_part, updated_by, updated_at";

/// A template to store for a notice.
#[derive(Debug, Clone)]
pub struct NewTemplate<'a> {
    pub notice: &'a str,
    pub subject: &'a str,
    pub text_part: &'a str,
    pub html_part: &'a str,
    pub updated_by: &'a str,
}

/// The stored template of `notice`, if admins replaced the built-in one.
pub async fn template(
    conn: &mut AnyConnection,
    notice: &str,
) -> Result<Option<TemplateRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {TEMPLATE_COLUMNS} FROM mail_templates WHERE notice = $1"
    ))
    .bind(notice)
    .fetch_optional(conn)
    .await?)
}

/// Stores the template of a notice, replacing the one stored before. An upsert, so two
/// admins saving at once cannot both insert (the same statement on both dialects).
pub async fn save_template(
    conn: &mut AnyConnection,
    template: &NewTemplate<'_>,
    now: i64,
) -> Result<TemplateRow, StoreError> {
    Ok(sqlx::query_as(sql!(
        "INSERT INTO mail_templates (notice, subject, text_part, html_part, updated_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (notice) DO UPDATE SET subject = excluded.subject, \
         text_part = excluded.text_part, html_part = excluded.html_part, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at \
         RETURNING {TEMPLATE_COLUMNS}"
    ))
    .bind(template.notice)
    .bind(template.subject)
    .bind(template.text_part)
    .bind(template.html_part)
    .bind(template.updated_by)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Removes the stored template of `notice`; true when there was one.
pub async fn delete_template(conn: &mut AnyConnection, notice: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM mail_templates WHERE notice = $1")
        .bind(notice)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
