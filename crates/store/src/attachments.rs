//! Files on tickets, uploaded or received by mail: metadata per file, content in a table of
//! its own keyed by its SHA-256, so identical files are kept once and every node of a
//! cluster can serve every file.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// An attachment's metadata (without its bytes).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: i64,
    pub ticket_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub public: i64,
    pub uploaded_by: Option<i64>,
    pub created_at: i64,
    /// `upload` or `mail`.
    pub source: String,
    /// The comment the file came with (a mail that became a reply or note).
    pub comment_id: Option<i64>,
    /// The message the file came with.
    pub mail_id: Option<i64>,
    /// For a mail's inline images: the `cid:` its HTML refers to.
    pub content_id: Option<String>,
    pub inline: i64,
}

const COLUMNS: &str = "id, ticket_id, filename, content_type, size, sha256, public, uploaded_by, \
     created_at, source, comment_id, mail_id, content_id, inline";

/// A file to keep on a ticket.
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub ticket_id: i64,
    pub filename: &'a str,
    pub content_type: &'a str,
    /// Hex SHA-256 of `content`.
    pub sha256: &'a str,
    pub content: &'a [u8],
    /// Whether the requester sees it.
    pub public: bool,
    pub uploaded_by: Option<i64>,
    /// Where it came from: an upload, or the mail `mail_id` (and the comment it became).
    pub origin: Origin<'a>,
}

/// Where a file came from.
#[derive(Debug, Clone)]
pub enum Origin<'a> {
    /// Uploaded, on its own or for a comment.
    Upload { comment_id: Option<i64> },
    Mail {
        mail_id: i64,
        comment_id: Option<i64>,
        content_id: Option<&'a str>,
        inline: bool,
    },
}

/// Stores a file; identical content is kept once.
pub async fn insert(
    conn: &mut AnyConnection,
    file: &NewAttachment<'_>,
    now: i64,
) -> Result<AttachmentRow, StoreError> {
    keep_content(conn, file.sha256, file.content).await?;
    let (source, mail_id, comment_id, content_id, inline) = match &file.origin {
        Origin::Upload { comment_id } => ("upload", None, *comment_id, None, false),
        Origin::Mail {
            mail_id,
            comment_id,
            content_id,
            inline,
        } => ("mail", Some(*mail_id), *comment_id, *content_id, *inline),
    };
    Ok(sqlx::query_as(sql!(
        "INSERT INTO attachments (ticket_id, filename, content_type, size, sha256, public, \
         uploaded_by, created_at, source, comment_id, mail_id, content_id, inline) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {COLUMNS}"
    ))
    .bind(file.ticket_id)
    .bind(file.filename)
    .bind(file.content_type)
    .bind(i64::try_from(file.content.len()).unwrap_or(i64::MAX))
    .bind(file.sha256)
    .bind(i64::from(file.public))
    .bind(file.uploaded_by)
    .bind(now)
    .bind(source)
    .bind(comment_id)
    .bind(mail_id)
    .bind(content_id)
    .bind(i64::from(inline))
    .fetch_one(conn)
    .await?)
}

pub(crate) async fn keep_content(
    conn: &mut AnyConnection,
    sha256: &str,
    content: &[u8],
) -> Result<(), StoreError> {
    let known: Option<(String,)> =
        sqlx::query_as("SELECT sha256 FROM attachment_blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&mut *conn)
            .await?;
    if known.is_none() {
        sqlx::query("INSERT INTO attachment_blobs (sha256, content) VALUES ($1, $2)")
            .bind(sha256)
            .bind(content.to_vec())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The ticket and visibility (`public`) of comment `id`, for a file to be attached to it.
pub async fn comment_of(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<(i64, bool)>, StoreError> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT ticket_id, public FROM comments WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(ticket_id, public)| (ticket_id, public != 0)))
}

/// A ticket's files, uploaded and mailed, in arrival order; `public_only` leaves out the
/// staff-only ones.
pub async fn of_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
    public_only: bool,
) -> Result<Vec<AttachmentRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM attachments WHERE ticket_id = $1 AND ($2 = 0 OR public = 1) \
         ORDER BY id"
    ))
    .bind(ticket_id)
    .bind(i64::from(public_only))
    .fetch_all(conn)
    .await?)
}

/// One file's metadata.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<AttachmentRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {COLUMNS} FROM attachments WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The bytes stored under `sha256`.
pub async fn content(
    conn: &mut AnyConnection,
    sha256: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT content FROM attachment_blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(content,)| content))
}

/// The keys migration 0022 gives mail files on SQLite, which has no SHA-256 in SQL:
/// `mail-attachment:<old id>`, all below `mail-attachment;` (`;` follows `:`). Each is
/// replaced by the content's hash the first time the schema is brought up to date.
const MOVED_KEYS: (&str, &str) = ("mail-attachment:", "mail-attachment;");

/// Gives the files migration 0022 moved from the old mail store their content's SHA-256 as
/// key (merging them with identical files). Idempotent, and once done a single look-up on the
/// blobs' primary key.
pub(crate) async fn hash_moved_mail_files(conn: &mut AnyConnection) -> Result<(), StoreError> {
    use sha2::{Digest, Sha256};
    // A range on the primary key rather than LIKE, which SQLite would not serve by index.
    let pending: Option<(String,)> = sqlx::query_as(
        "SELECT sha256 FROM attachment_blobs WHERE sha256 >= $1 AND sha256 < $2 LIMIT 1",
    )
    .bind(MOVED_KEYS.0)
    .bind(MOVED_KEYS.1)
    .fetch_optional(&mut *conn)
    .await?;
    if pending.is_none() {
        return Ok(());
    }
    // One transaction: one commit (fsync) for them all, and a crash redoes the lot. Each
    // moved file has a key of its own, so files and keys pair one to one.
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let moved: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, sha256 FROM attachments WHERE sha256 >= $1 AND sha256 < $2 ORDER BY id",
    )
    .bind(MOVED_KEYS.0)
    .bind(MOVED_KEYS.1)
    .fetch_all(&mut *tx)
    .await?;
    for (id, key) in moved {
        let Some(bytes) = content(&mut tx, &key).await? else {
            continue;
        };
        let digest = Sha256::digest(&bytes);
        let sha256: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        keep_content(&mut tx, &sha256, &bytes).await?;
        sqlx::query("UPDATE attachments SET sha256 = $1 WHERE id = $2")
            .bind(&sha256)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM attachment_blobs WHERE sha256 = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
