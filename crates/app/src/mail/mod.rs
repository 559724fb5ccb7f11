//! The mail channel's use cases. Inbound: one path for every delivery (pipe, IMAP, LMTP)
//! that decides on a reader what the message becomes, then records the message and the
//! ticket or comment it becomes in ONE transaction, keyed by its Message-ID (or content
//! hash), so a redelivery or a retry after a crash changes nothing.
//! Outbound: notifications queued in the transaction of the change and sent by the job runner.

mod inbound;
mod outbound;
mod templates;

pub(crate) use outbound::{PersonalMail, html_escape, queue_notice};
pub use templates::{
    MailTemplate, PLACEHOLDERS, PreviewRequest, RenderedMail, TemplateSource, TemplateText,
};

use std::path::PathBuf;

use opsdesk_domain::account::Role;

use opsdesk_store::mail::{self as store, MailRow};
use opsdesk_store::tickets as ticket_store;
use serde::Serialize;

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::tickets::can_see;
use crate::{App, AppError, Principal, timestamp};

/// Mail settings the use cases need.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://…` / `smtps://…` relay for notifications; none sends no notifications.
    pub smtp_url: Option<String>,
    /// The From of notifications, e.g. `Service desk <support@example.com>`; its domain
    /// also names opsdesk's Message-IDs.
    pub from: String,
    /// Folder with `acknowledgement.subject|txt|html` (and `reply`, `resolution`) files that
    /// replace the built-in notification templates; templates admins save in opsdesk take
    /// precedence over these files.
    pub templates_dir: Option<PathBuf>,
    /// Unknown senders become customers of the organization whose `domain` matches theirs;
    /// when false (or no organization matches) their mail is quarantined.
    pub accept_unknown_senders: bool,
    /// Messages accepted from one address per hour; the rest are recorded, not processed.
    pub max_per_sender_per_hour: i64,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "opsdesk <opsdesk@localhost.localdomain>".to_owned(),
            templates_dir: None,
            accept_unknown_senders: true,
            max_per_sender_per_hour: 60,
        }
    }
}

opsdesk_domain::string_enum! {
    /// Which notification to send: the template's name and the job payload's value.
    #[derive(utoipa::ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub enum Notice as "notice" {
        /// A new ticket was opened for the requester.
        Acknowledgement => "acknowledgement",
        /// An agent replied publicly.
        Reply => "reply",
        /// The ticket was resolved.
        Resolution => "resolution",
    }
}

opsdesk_domain::string_enum! {
    /// What became of a received message, as its record's `status` says.
    pub enum MailStatus as "mail status" {
        /// Received, not routed yet.
        Queued => "queued",
        /// Opened a ticket.
        Ticket => "ticket",
        /// Joined a ticket's conversation.
        Comment => "comment",
        /// Sent to an e-mail integration's address: became one of its alerts.
        Alert => "alert",
        /// An out-of-office or similar automatic reply, never answered.
        AutoReply => "auto_reply",
        /// A delivery report about a notification.
        Bounce => "bounce",
        /// Too many messages from its sender.
        RateLimited => "rate_limited",
        /// Could not be routed; waits for an admin.
        Quarantined => "quarantined",
        /// An admin took it out of the quarantine as needing nothing; kept as received.
        Discarded => "discarded",
    }
}

/// What became of a received message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    /// The mail record's id.
    pub mail_id: i64,
    /// `ticket` (opened one), `comment` (joined one), `alert` (sent to an e-mail
    /// integration), `auto_reply`, `bounce`, `rate_limited` or `quarantined`.
    pub status: String,
    /// True when this message had been received before; nothing new was written.
    pub duplicate: bool,
    /// The ticket's number, when the message belongs to one.
    pub ticket: Option<String>,
    pub comment_id: Option<i64>,
    /// Why the message was quarantined, rate limited or not answered.
    pub reason: Option<String>,
}

/// A received message as admins see it in the quarantine.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailRecord {
    pub id: i64,
    pub message_id: Option<String>,
    /// The sender.
    pub address: String,
    pub subject: String,
    pub status: String,
    pub reason: Option<String>,
    pub ticket_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: jiff::Timestamp,
}

impl From<MailRow> for MailRecord {
    fn from(row: MailRow) -> Self {
        Self {
            id: row.id,
            message_id: row.message_id,
            address: row.address,
            subject: row.subject,
            status: row.status,
            reason: row.reason,
            ticket_id: row.ticket_id,
            received_at: timestamp(row.created_at),
        }
    }
}

impl App {
    /// Whether changes queue mail notifications (an SMTP relay is configured).
    pub(crate) fn notifications_enabled(&self) -> bool {
        self.inner.smtp.is_some()
    }

    /// Quarantined messages, newest first (admins only).
    pub async fn quarantined_mail(
        &self,
        principal: &Principal,
        before: i64,
        limit: i64,
    ) -> Result<Vec<MailRecord>, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        Ok(store::list_by_status(
            &mut conn,
            MailStatus::Quarantined.as_str(),
            before,
            limit.clamp(1, 501),
        )
        .await?
        .into_iter()
        .map(MailRecord::from)
        .collect())
    }

    /// The original message as received (`.eml`), for staff who may see its ticket, and for
    /// admins when it has none.
    /// Takes a message out of the quarantine as needing nothing (admins). The message stays
    /// on record, as received, with why it was held.
    pub async fn discard_mail(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<MailRecord, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::get(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("mail"))?;
                if row.status != MailStatus::Quarantined.as_str() {
                    return Err(AppError::Conflict {
                        field: None,
                        message: format!(
                            "only quarantined mail can be discarded; this one is {}",
                            row.status
                        ),
                    });
                }
                store::set_outcome(
                    tx.conn,
                    id,
                    MailStatus::Discarded.as_str(),
                    row.reason.as_deref(),
                    None,
                    None,
                    tx.now,
                )
                .await?;
                let before = MailRecord::from(row);
                let after = MailRecord {
                    status: MailStatus::Discarded.as_str().to_owned(),
                    ..before.clone()
                };
                tx.record(Event::updated(Entity::Mail, id, &before, &after))
                    .await?;
                Ok(after)
            })
        })
        .await
    }

    pub async fn mail_original(&self, principal: &Principal, id: i64) -> Result<Vec<u8>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = store::get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("mail"))?;
        let visible = match row.ticket_id {
            Some(ticket_id) => match ticket_store::get(&mut conn, ticket_id).await? {
                Some(ticket) => can_see(&mut conn, principal, &ticket).await?,
                None => false,
            },
            None => principal.role == Role::Admin,
        };
        if !visible {
            return Err(AppError::NotFound("mail"));
        }
        store::raw(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("mail"))
    }
}
