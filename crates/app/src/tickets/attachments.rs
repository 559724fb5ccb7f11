//! Attachments: files on tickets, uploaded or brought by mail, in one store apart from the
//! ticket rows, listed next to the message that brought them and served so that a browser
//! never runs them.

use opsdesk_domain::account::Role;
use opsdesk_domain::ticket::TicketType;
use opsdesk_store::attachments::{self as store, NewAttachment, Origin};
use opsdesk_store::tickets as ticket_store;
use opsdesk_store::{Batch, Conn};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{find_visible, number_of, timeline};
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, Principal, timestamp};

/// Where a file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentSource {
    /// Uploaded through the API or the web.
    Upload,
    /// Brought by an inbound mail.
    Mail,
}

/// An attachment's metadata as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub ticket: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// Whether the requester sees it (attachments of internal notes are staff-only).
    pub public: bool,
    pub source: AttachmentSource,
    /// The comment it belongs to: the reply a mail became, or the comment it was uploaded
    /// for. None for files uploaded on their own and for those of the mail that opened the
    /// ticket (they belong to its description).
    pub comment_id: Option<i64>,
    /// The mail it came with (its original is downloadable as `.eml` by staff).
    pub mail_id: Option<i64>,
    /// For a mail's inline images: the `cid:` the message's HTML refers to.
    pub content_id: Option<String>,
    /// Whether the mail showed it inline rather than as an attachment.
    pub inline: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// Reduces a client-supplied file name to a safe one: no folders, no control or quoting
/// characters, at most 150 characters, never empty or hidden.
pub fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '"' | '\'' | '<' | '>' | '|' | ':' | '*' | '?' | ';')
        })
        .take(150)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

/// A content type reduced to `type/subtype` of safe characters; anything else is binary.
pub fn sanitize_content_type(content_type: Option<&str>) -> String {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let valid = essence.split_once('/').is_some_and(|(kind, sub)| {
        !kind.is_empty()
            && !sub.is_empty()
            && essence
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '+' | '-'))
    });
    if valid {
        essence
    } else {
        "application/octet-stream".to_owned()
    }
}

/// The type to serve a stored file with: types a browser shows without running anything keep
/// theirs; HTML, SVG, scripts and everything else are sent as plain binary.
pub fn served_content_type(stored: &str) -> &str {
    const SHOWN: [&str; 7] = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
    ];
    if SHOWN.contains(&stored) {
        stored
    } else {
        "application/octet-stream"
    }
}

pub(crate) fn view(row: store::AttachmentRow, ticket: &str) -> Attachment {
    Attachment {
        id: row.id,
        ticket: ticket.to_owned(),
        filename: row.filename,
        content_type: row.content_type,
        size: row.size,
        sha256: row.sha256,
        public: row.public != 0,
        source: if row.source == "mail" {
            AttachmentSource::Mail
        } else {
            AttachmentSource::Upload
        },
        comment_id: row.comment_id,
        mail_id: row.mail_id,
        content_id: row.content_id,
        inline: row.inline != 0,
        created_at: timestamp(row.created_at),
    }
}

/// A file a mail brought, as the parser found it.
pub(crate) struct MailFile<'a> {
    pub filename: &'a str,
    pub content_type: &'a str,
    pub content_id: Option<&'a str>,
    pub inline: bool,
    pub data: &'a [u8],
}

/// Where the files of one mail go: its ticket, the comment it became, and who may see them.
pub(crate) struct MailFiles {
    pub ticket_id: i64,
    pub mail_id: i64,
    pub comment_id: Option<i64>,
    pub public: bool,
    pub sender: Option<i64>,
}

/// Keeps the files a mail brought with the ticket's other attachments, in the caller's
/// transaction; returns those kept. A file over `limit` bytes (the upload limit) is not
/// kept: a staff-only `attachment_skipped` timeline entry names it, and it stays in the
/// original message.
pub(crate) async fn keep_mail_files(
    conn: &mut Conn,
    target: &MailFiles,
    files: &[MailFile<'_>],
    limit: usize,
    now: i64,
) -> Result<Vec<store::AttachmentRow>, AppError> {
    let mut kept = Vec::with_capacity(files.len());
    let mut skipped = Batch::new(conn);
    for file in files {
        let filename = sanitize_filename(file.filename);
        if file.data.len() > limit {
            timeline(
                &mut skipped,
                target.ticket_id,
                now,
                "system:mail",
                "attachment_skipped",
                false,
                serde_json::json!({
                    "filename": filename, "size": file.data.len(), "limit": limit,
                    "mail_id": target.mail_id, "comment_id": target.comment_id,
                    "reason": "larger than the attachment limit; it stays in the original message",
                }),
            );
            continue;
        }
        if file.data.is_empty() {
            continue;
        }
        let content_type = sanitize_content_type(Some(file.content_type));
        let sha256 = hex::encode(Sha256::digest(file.data));
        let new = NewAttachment {
            ticket_id: target.ticket_id,
            filename: &filename,
            content_type: &content_type,
            sha256: &sha256,
            content: file.data,
            public: target.public,
            uploaded_by: target.sender,
            origin: Origin::Mail {
                mail_id: target.mail_id,
                comment_id: target.comment_id,
                content_id: file.content_id,
                inline: file.inline,
            },
        };
        kept.push(store::insert(conn, &new, now).await?);
    }
    skipped.run(conn).await?;
    Ok(kept)
}

/// Hands each timeline entry the files of the message it shows: a comment's files, an
/// upload's file, and (on `created`) the files of the mail that opened the ticket.
pub(crate) fn files_of_entry(
    kind: &str,
    data: &serde_json::Value,
    opening_mail: Option<i64>,
    files: &[Attachment],
) -> Vec<Attachment> {
    let comment = data.get("comment_id").and_then(serde_json::Value::as_i64);
    let upload = data
        .get("attachment_id")
        .and_then(serde_json::Value::as_i64);
    files
        .iter()
        .filter(|file| match kind {
            "comment" | "note" => comment.is_some() && file.comment_id == comment,
            // An upload for a comment is shown with the comment.
            "attachment" => Some(file.id) == upload && file.comment_id.is_none(),
            "created" => {
                file.comment_id.is_none() && opening_mail.is_some() && file.mail_id == opening_mail
            }
            _ => false,
        })
        .cloned()
        .collect()
}

impl App {
    /// Refuses an empty file, or one over the attachment size limit.
    pub(crate) fn check_upload(&self, content: &[u8]) -> Result<(), AppError> {
        if content.is_empty() {
            return Err(AppError::invalid("body", "the file is empty"));
        }
        let limit = self.config().max_attachment_bytes;
        if content.len() > limit {
            return Err(AppError::invalid(
                "body",
                format!("the file is larger than the attachment limit of {limit} bytes"),
            ));
        }
        Ok(())
    }

    /// Attaches a file to a ticket, or to one of its comments (`comment`). Customers' files
    /// are public; staff choose, except that a file of an internal note is staff-only.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_attachment(
        &self,
        principal: &Principal,
        reference: &str,
        filename: &str,
        content_type: Option<&str>,
        content: Vec<u8>,
        public: bool,
        comment: Option<i64>,
    ) -> Result<Attachment, AppError> {
        self.check_upload(&content)?;
        let public = public || principal.role == Role::Customer;
        let filename = sanitize_filename(filename);
        let content_type = sanitize_content_type(content_type);
        let sha256 = hex::encode(Sha256::digest(&content));
        let reference = reference.to_owned();
        self.change(principal, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                let now = tx.now;
                let ticket = find_visible(tx.conn, tx.principal, &reference).await?;
                let number = number_of(&ticket.ticket_type, ticket.number);
                let public = match comment {
                    None => public,
                    Some(id) => match store::comment_of(tx.conn, id).await? {
                        // A requester cannot name a note: it does not exist for them.
                        Some((ticket_id, note_public))
                            if ticket_id == ticket.id
                                && (note_public || tx.principal.role != Role::Customer) =>
                        {
                            public && note_public
                        }
                        _ => {
                            return Err(AppError::invalid(
                                "comment",
                                "no such comment on this ticket",
                            ));
                        }
                    },
                };
                let new = NewAttachment {
                    ticket_id: ticket.id,
                    filename: &filename,
                    content_type: &content_type,
                    sha256: &sha256,
                    content: &content,
                    public,
                    uploaded_by: tx.principal.user_id,
                    origin: Origin::Upload {
                        comment_id: comment,
                    },
                };
                let row = store::insert(tx.conn, &new, now).await?;
                if ticket.ticket_type == TicketType::SecurityIncident.as_str() {
                    crate::security::record_upload(&mut tx, &ticket, &row).await?;
                }
                ticket_store::touch(tx.conn, ticket.id, now, None, 0).await?;
                let attachment = view(row, &number);
                let mut batch = tx.batch();
                timeline(
                    &mut batch,
                    ticket.id,
                    now,
                    tx.actor,
                    "attachment",
                    public,
                    serde_json::json!({
                        "attachment_id": attachment.id, "filename": attachment.filename,
                        "size": attachment.size,
                    }),
                );
                let event = Event::created(Entity::Attachment, attachment.id, &attachment);
                tx.record_with(batch, event).await?;
                Ok(attachment)
            })
        })
        .await
    }

    /// A ticket's attachments, uploaded and mailed, in arrival order, each with the comment
    /// it came with; requesters see the public ones.
    pub async fn attachments(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<Vec<Attachment>, AppError> {
        let mut conn = self.db().reader().await?;
        let ticket = find_visible(&mut conn, principal, reference).await?;
        let number = number_of(&ticket.ticket_type, ticket.number);
        let public_only = principal.role == Role::Customer;
        Ok(store::of_ticket(&mut conn, ticket.id, public_only)
            .await?
            .into_iter()
            .map(|row| view(row, &number))
            .collect())
    }

    /// An attachment and its content, if its ticket (and, for requesters, the file) is visible.
    pub async fn attachment(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<(Attachment, Vec<u8>), AppError> {
        let mut conn = self.db().reader().await?;
        let row = store::get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("attachment"))?;
        let ticket = find_visible(&mut conn, principal, &row.ticket_id.to_string())
            .await
            .map_err(|_| AppError::NotFound("attachment"))?;
        if principal.role == Role::Customer && row.public == 0 {
            return Err(AppError::NotFound("attachment"));
        }
        let content = store::content(&mut conn, &row.sha256)
            .await?
            .ok_or(AppError::NotFound("attachment"))?;
        drop(conn);
        // A security incident's files are evidence: every access goes on record.
        if ticket.ticket_type == TicketType::SecurityIncident.as_str() {
            crate::security::evidence_access(self, principal, &row, &content).await?;
        }
        Ok((
            view(row, &number_of(&ticket.ticket_type, ticket.number)),
            content,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_dangerous_characters() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            sanitize_filename("C:\\Users\\ann\\report.pdf"),
            "report.pdf"
        );
        assert_eq!(sanitize_filename("in\"voice\r\n.pdf"), "invoice.pdf");
        assert_eq!(sanitize_filename(".htaccess"), "htaccess");
        assert_eq!(sanitize_filename("   "), "attachment");
    }

    #[test]
    fn only_harmless_types_are_served_as_themselves() {
        assert_eq!(
            sanitize_content_type(Some("image/PNG; charset=x")),
            "image/png"
        );
        assert_eq!(
            sanitize_content_type(Some("text/html\"><script>")),
            "application/octet-stream"
        );
        assert_eq!(served_content_type("image/png"), "image/png");
        assert_eq!(served_content_type("text/html"), "application/octet-stream");
        assert_eq!(
            served_content_type("image/svg+xml"),
            "application/octet-stream"
        );
    }
}
