//! Evidence: the files of a security incident. Their SHA-256 is recorded at upload; every
//! access re-hashes the stored bytes and records who, when, through which channel and
//! whether the hash still matches, in the chain of custody and the audit log.

use opsdesk_store::Conn;
use opsdesk_store::attachments::AttachmentRow;
use opsdesk_store::security::{self as store, NewCustody};
use opsdesk_store::tickets::{TicketPart, TicketRow, restricted_group_of};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::find_incident;
use crate::audit::{Action, Entity, Event};
use crate::authz::Via;
use crate::change::{Need, Tx};
use crate::{App, AppError, Principal, timestamp};

/// One handling of an evidence file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustodyEntry {
    pub id: i64,
    pub attachment_id: i64,
    pub filename: String,
    /// `upload` or `download`.
    pub action: String,
    /// `api`, `web`, `mail` or `system`.
    pub via: String,
    /// Who, as the audit log names them.
    pub actor: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    /// The hash recorded when the file was uploaded.
    pub recorded_sha256: String,
    /// The hash of the stored bytes at this handling.
    pub observed_sha256: String,
    /// Whether the two match: false means the stored file was altered.
    pub intact: bool,
}

fn channel(principal: &Principal) -> &'static str {
    match principal.via {
        Via::Session { .. } => "web",
        Via::Token { .. } => "api",
        Via::Mail => "mail",
        Via::System { .. } => "system",
    }
}

/// Records the upload of an evidence file to security incident `ticket`, in the upload's
/// transaction.
pub(crate) async fn record_upload(
    tx: &mut Tx<'_>,
    ticket: &TicketRow,
    file: &AttachmentRow,
) -> Result<(), AppError> {
    let uploader = Uploader {
        via: channel(tx.principal),
        actor_id: tx.principal.user_id,
        actor: tx.actor,
    };
    add_upload(tx.conn, ticket.id, file, &uploader, tx.now).await
}

/// Records the files a mail brought to ticket `ticket_id` as uploads of evidence when it is
/// a security incident, in the ingest's transaction. `sender` and `actor` name who sent it.
pub(crate) async fn record_mail_files(
    conn: &mut Conn,
    ticket_id: i64,
    files: &[AttachmentRow],
    sender: Option<i64>,
    actor: &str,
    now: i64,
) -> Result<(), AppError> {
    if files.is_empty()
        || restricted_group_of(conn, TicketPart::Ticket, ticket_id)
            .await?
            .is_none()
    {
        return Ok(());
    }
    let uploader = Uploader {
        via: "mail",
        actor_id: sender,
        actor,
    };
    for file in files {
        add_upload(conn, ticket_id, file, &uploader, now).await?;
    }
    Ok(())
}

/// Who brought an evidence file, and through which channel.
struct Uploader<'a> {
    via: &'a str,
    actor_id: Option<i64>,
    actor: &'a str,
}

async fn add_upload(
    conn: &mut Conn,
    ticket_id: i64,
    file: &AttachmentRow,
    uploader: &Uploader<'_>,
    now: i64,
) -> Result<(), AppError> {
    let entry = NewCustody {
        ticket_id,
        attachment_id: file.id,
        action: "upload",
        via: uploader.via,
        actor_id: uploader.actor_id,
        actor: uploader.actor,
        recorded_sha256: &file.sha256,
        observed_sha256: &file.sha256,
    };
    store::add_custody(conn, &entry, now).await?;
    Ok(())
}

/// Records an access to evidence file `file` whose stored bytes are `content`, with its own
/// audit entry. A file whose bytes no longer match the recorded hash is refused (409) after
/// the access is recorded: altered evidence must not pass as the original.
pub(crate) async fn evidence_access(
    app: &App,
    principal: &Principal,
    file: &AttachmentRow,
    content: &[u8],
) -> Result<(), AppError> {
    let observed = hex::encode(Sha256::digest(content));
    let intact = observed == file.sha256;
    let file = file.clone();
    app.change(principal, Need::Anyone, move |mut tx| {
        Box::pin(async move {
            let entry = NewCustody {
                ticket_id: file.ticket_id,
                attachment_id: file.id,
                action: "download",
                via: channel(tx.principal),
                actor_id: tx.principal.user_id,
                actor: tx.actor,
                recorded_sha256: &file.sha256,
                observed_sha256: &observed,
            };
            store::add_custody(tx.conn, &entry, tx.now).await?;
            let event = Event {
                entity: Entity::Attachment,
                entity_id: file.id,
                action: Action::Accessed,
                before: None,
                after: Some(serde_json::json!({
                    "ticket_id": file.ticket_id, "via": entry.via, "intact": intact,
                    "recorded_sha256": file.sha256, "observed_sha256": observed,
                })),
            };
            tx.record(event).await
        })
    })
    .await?;
    if intact {
        Ok(())
    } else {
        Err(AppError::Conflict {
            field: None,
            message: "this evidence file no longer matches the SHA-256 recorded at upload: \
                      the stored copy was altered; the access is recorded"
                .to_owned(),
        })
    }
}

impl App {
    /// A security incident's chain of custody: every upload and access of its evidence,
    /// oldest first.
    pub async fn evidence_custody(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<Vec<CustodyEntry>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = find_incident(&mut conn, principal, reference).await?;
        Ok(store::custody(&mut conn, row.id)
            .await?
            .into_iter()
            .map(|row| CustodyEntry {
                id: row.id,
                attachment_id: row.attachment_id,
                filename: row.filename,
                action: row.action,
                via: row.via,
                actor: row.actor,
                at: timestamp(row.at),
                recorded_sha256: row.recorded_sha256,
                observed_sha256: row.observed_sha256,
                intact: row.intact != 0,
            })
            .collect())
    }
}
