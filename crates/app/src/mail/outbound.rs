//! Outbound mail: notifications queued in the transaction of the change and sent by the
//! job runner.

use opsdesk_mail::{MailFile, OutboundMail};
use opsdesk_store::Batch;
use opsdesk_store::mail::{self as store, NewMail};
use opsdesk_store::tickets as ticket_store;

use crate::App;
use crate::jobs::{self, JobError, JobKind};

use super::{Notice, templates};

/// A mail to one person about one thing (a page, an approval request), outside any
/// ticket's thread.
pub(crate) struct PersonalMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// What the Message-ID is made from: `page.42` gives `<opsdesk.page.42@domain>`.
    pub key: String,
}

impl App {
    /// Whether mail can be sent: a relay is configured.
    pub(crate) fn mails(&self) -> bool {
        self.inner.smtp.is_some()
    }

    /// Sends `mail` through the relay; false when none is configured.
    pub(crate) async fn send_personal(&self, mail: PersonalMail) -> Result<bool, JobError> {
        self.send_personal_with(mail, Vec::new()).await
    }

    /// [`App::send_personal`], with `files` attached.
    pub(crate) async fn send_personal_with(
        &self,
        mail: PersonalMail,
        files: Vec<MailFile>,
    ) -> Result<bool, JobError> {
        let Some(smtp) = &self.inner.smtp else {
            return Ok(false);
        };
        let from = &self.config().mail.from;
        let domain = from
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d.trim_end_matches('>'));
        let outbound = OutboundMail {
            from: from.clone(),
            to: mail.to,
            subject: mail.subject,
            text: mail.text,
            html: mail.html,
            message_id: format!("opsdesk.{}@{domain}", mail.key),
            in_reply_to: None,
            references: Vec::new(),
            files,
        };
        smtp.send(&outbound)
            .await
            .map_err(|e| JobError::remote("sending mail through the relay", e))?;
        Ok(true)
    }
}

/// Text made safe to put in HTML.
pub(crate) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Message-IDs put in the References header of a notification.
const MAX_THREAD_REFERENCES: i64 = 20;

/// Adds a notification to `batch`.
pub(crate) fn queue_notice(
    batch: &mut Batch,
    notice: Notice,
    ticket_id: i64,
    comment_id: Option<i64>,
    now: i64,
) {
    let payload = serde_json::json!({
        "notice": notice.as_str(), "ticket_id": ticket_id, "comment_id": comment_id,
    });
    jobs::queue(batch, JobKind::MailNotification, &payload, now);
}

impl App {
    /// Sends one queued notification (the `mail.notification` job).
    pub(crate) async fn send_notice(
        &self,
        job_id: i64,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        // Notifications queued while a relay was configured are dropped if it was removed.
        let Some(smtp) = &self.inner.smtp else {
            return Ok(());
        };
        let notice = payload["notice"]
            .as_str()
            .and_then(|name| name.parse::<Notice>().ok())
            .ok_or_else(|| JobError::Payload("no known `notice`".into()))?;
        let ticket_id = payload["ticket_id"]
            .as_i64()
            .ok_or_else(|| JobError::Payload("no `ticket_id`".into()))?;
        let comment_id = payload["comment_id"].as_i64();
        let settings = &self.config().mail;
        let (ticket, comment, thread, template) = {
            let mut conn = self.db().reader().await?;
            let Some(ticket) = ticket_store::get(&mut conn, ticket_id).await? else {
                return Ok(());
            };
            let comment = match comment_id {
                Some(id) => ticket_store::comment_body(&mut conn, id).await?,
                None => None,
            };
            let thread = store::thread(&mut conn, ticket_id, MAX_THREAD_REFERENCES).await?;
            let template =
                templates::effective(&mut conn, settings.templates_dir.as_deref(), notice).await?;
            (ticket, comment, thread, template)
        };
        let domain = settings
            .from
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d.trim_end_matches('>'));
        // Derived from the job, so a retry after a lost acknowledgement reuses the same id
        // and the recipient's client shows one message.
        let message_id = format!("opsdesk.{job_id}.{ticket_id}@{domain}");
        let rendered = templates::render(
            &template.template,
            &templates::Values::of(&ticket, comment.as_deref()),
        );
        let in_reply_to = thread
            .iter()
            .rev()
            .find(|(_, direction)| direction == "in")
            .or(thread.last())
            .map(|(id, _)| id.clone());
        let mail = OutboundMail {
            from: settings.from.clone(),
            to: format!(
                "{} <{}>",
                quote_name(&ticket.requester_name),
                ticket.requester_email
            ),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            message_id: message_id.clone(),
            in_reply_to,
            references: thread.into_iter().map(|(id, _)| id).collect(),
            files: Vec::new(),
        };
        // Committed before the relay sees the message: a reply or bounce can arrive as soon
        // as it is sent, and must find the Message-ID it refers to.
        let recipient = ticket.requester_email.clone();
        let subject = mail.subject.clone();
        let queued_id = message_id.clone();
        self.system_change("mail", move |tx| {
            Box::pin(async move {
                let record = NewMail {
                    direction: "out",
                    dedup_key: &store::outbound_key(&queued_id),
                    message_id: Some(&queued_id),
                    ticket_id: Some(ticket_id),
                    comment_id,
                    address: &recipient,
                    subject: &subject,
                    status: "queued",
                    reason: Some(notice.as_str()),
                    html: None,
                    raw: None,
                };
                // Already there when an earlier attempt recorded it, then failed to send.
                Ok(store::insert_if_absent(tx.conn, &record, tx.now).await?)
            })
        })
        .await?;
        smtp.send(&mail)
            .await
            .map_err(|e| JobError::remote("sending through the relay", e))?;
        self.system_change("mail", move |tx| {
            Box::pin(async move { Ok(store::mark_sent(tx.conn, &message_id, tx.now).await?) })
        })
        .await?;
        Ok(())
    }
}

fn quote_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n'))
        .collect();
    format!("\"{cleaned}\"")
}
