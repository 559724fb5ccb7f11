//! Attachments: files on tickets, stored apart from the ticket rows, served so that a
//! browser never runs them.

use opsdesk_domain::account::Role;
use opsdesk_store::Batch;
use opsdesk_store::tickets as store;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{find_visible, number_of, timeline};
use crate::audit::{Change, record_with, snapshot};
use crate::{App, AppError, Principal, now_ms, timestamp};

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

fn view(row: store::AttachmentRow, ticket: &str) -> Attachment {
    Attachment {
        id: row.id,
        ticket: ticket.to_owned(),
        filename: row.filename,
        content_type: row.content_type,
        size: row.size,
        sha256: row.sha256,
        public: row.public != 0,
        created_at: timestamp(row.created_at),
    }
}

impl App {
    /// Attaches a file to a ticket. Customers' files are public; staff choose.
    pub async fn add_attachment(
        &self,
        principal: &Principal,
        reference: &str,
        filename: &str,
        content_type: Option<&str>,
        content: Vec<u8>,
        public: bool,
    ) -> Result<Attachment, AppError> {
        if content.is_empty() {
            return Err(AppError::invalid("body", "the file is empty"));
        }
        let public = public || principal.role == Role::Customer;
        let filename = sanitize_filename(filename);
        let content_type = sanitize_content_type(content_type);
        let sha256 = hex::encode(Sha256::digest(&content));
        let actor = principal.audit_label();
        let principal = principal.clone();
        let reference = reference.to_owned();
        let now = now_ms();
        let attachment = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let ticket = find_visible(conn, &principal, &reference).await?;
                    let number = number_of(&ticket.ticket_type, ticket.number);
                    let row = store::insert_attachment(
                        conn, ticket.id, &filename, &content_type, &sha256, &content, public, principal.user_id, now,
                    )
                    .await?;
                    store::touch(conn, ticket.id, now, None, 0).await?;
                    let attachment = view(row, &number);
                    let mut batch = Batch::new(conn);
                    timeline(&mut batch, ticket.id, now, &actor, "attachment", public, serde_json::json!({
                        "attachment_id": attachment.id, "filename": attachment.filename, "size": attachment.size,
                    }));
                    record_with(conn, batch, &Change {
                        actor: &actor,
                        entity: "attachment",
                        entity_id: attachment.id,
                        action: "created",
                        before: None,
                        after: snapshot(&attachment),
                    }, now)
                    .await?;
                    Ok::<_, AppError>(attachment)
                })
            })
            .await?;
        self.wake_jobs();
        Ok(attachment)
    }

    /// A ticket's attachments; requesters see the public ones.
    pub async fn attachments(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<Vec<Attachment>, AppError> {
        let mut conn = self.db().reader().await?;
        let ticket = find_visible(&mut conn, principal, reference).await?;
        let number = number_of(&ticket.ticket_type, ticket.number);
        let public_only = principal.role == Role::Customer;
        Ok(store::attachments(&mut conn, ticket.id, public_only)
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
        let row = store::attachment(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("attachment"))?;
        let ticket = find_visible(&mut conn, principal, &row.ticket_id.to_string())
            .await
            .map_err(|_| AppError::NotFound("attachment"))?;
        if principal.role == Role::Customer && row.public == 0 {
            return Err(AppError::NotFound("attachment"));
        }
        let content = store::attachment_content(&mut conn, &row.sha256)
            .await?
            .ok_or(AppError::NotFound("attachment"))?;
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
