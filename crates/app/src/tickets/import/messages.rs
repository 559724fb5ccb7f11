//! What an imported message brings besides its text: its Message-ID, for threading
//! replies to old mail, and its files.

use super::*;

/// A message of an imported ticket, for what it brings besides its text.
pub(super) struct ImportedMail<'a> {
    pub(super) ticket_id: i64,
    /// None for the message that opened the ticket.
    pub(super) comment_id: Option<i64>,
    pub(super) public: bool,
    pub(super) sender: Option<&'a accounts::UserRow>,
    pub(super) subject: &'a str,
    pub(super) message_id: Option<&'a str>,
    pub(super) files: &'a [ImportFile],
    pub(super) at: i64,
}

/// Records an imported message as mail of its ticket, so that replies to its Message-ID
/// thread there as replies to opsdesk's own mail do, and keeps its files as a mailed
/// message's (a file over `limit` is named on the timeline instead).
pub(super) async fn keep_imported_mail(
    tx: &mut Tx<'_>,
    mail: ImportedMail<'_>,
    limit: usize,
) -> Result<(), AppError> {
    let message_id = mail
        .message_id
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
        })
        .filter(|id| !id.is_empty());
    if message_id.is_none() && mail.files.is_empty() {
        return Ok(());
    }
    let dedup_key = match message_id {
        // The key inbound mail has: the same message arriving later is known.
        Some(id) => format!("mid:{id}"),
        None => format!(
            "import:{}:{}",
            mail.ticket_id,
            mail.comment_id.unwrap_or_default()
        ),
    };
    let record = NewMail {
        direction: "in",
        dedup_key: &dedup_key,
        message_id,
        ticket_id: Some(mail.ticket_id),
        comment_id: mail.comment_id,
        address: mail.sender.map_or("", |s| s.email.as_str()),
        subject: mail.subject,
        status: if mail.comment_id.is_some() {
            "comment"
        } else {
            "ticket"
        },
        reason: None,
        html: None,
        raw: None,
    };
    // A Message-ID the desk already knows (the source desk reused one) keeps its record.
    let Some(mail_id) = mail_store::insert_if_absent(tx.conn, &record, mail.at).await? else {
        return Ok(());
    };
    let files: Vec<MailFile<'_>> = mail
        .files
        .iter()
        .map(|file| MailFile {
            filename: &file.filename,
            content_type: &file.content_type,
            content_id: file.content_id.as_deref(),
            inline: file.inline,
            data: &file.data,
        })
        .collect();
    let target = MailFiles {
        ticket_id: mail.ticket_id,
        mail_id,
        comment_id: mail.comment_id,
        public: mail.public,
        sender: mail.sender.map(|s| s.id),
    };
    keep_mail_files(tx.conn, &target, &files, limit, mail.at).await?;
    Ok(())
}

/// Records the Message-IDs of mail the source desk sent about a ticket, so that replies to
/// it thread there too.
pub(super) async fn keep_sent_mail(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    subject: &str,
    message_ids: &[String],
    at: i64,
) -> Result<(), AppError> {
    for id in message_ids {
        let id = id
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if id.is_empty() {
            continue;
        }
        let record = NewMail {
            direction: "out",
            dedup_key: &mail_store::outbound_key(id),
            message_id: Some(id),
            ticket_id: Some(ticket_id),
            comment_id: None,
            address: "",
            subject,
            status: "sent",
            reason: None,
            html: None,
            raw: None,
        };
        mail_store::insert_if_absent(tx.conn, &record, at).await?;
    }
    Ok(())
}
