//! Sending mail through an SMTP relay (STARTTLS, implicit TLS or plain on a trusted network,
//! with or without authentication).

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why a message could not be sent. Every variant is worth a retry except `Invalid`.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("SMTP relay URL is not valid: {0}")]
    Relay(String),
    #[error("the message cannot be built: {0}")]
    Invalid(String),
    #[error("SMTP delivery failed: {0}")]
    Delivery(String),
}

/// One notification to send, with its threading headers.
#[derive(Debug, Clone)]
pub struct OutboundMail {
    /// `opsdesk <support@example.com>`.
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Files sent along (a report's CSV and PDF); most mails have none.
    pub files: Vec<MailFile>,
}

/// A file attached to an outbound mail.
#[derive(Debug, Clone)]
pub struct MailFile {
    pub name: String,
    /// `text/csv`.
    pub content_type: String,
    pub content: Vec<u8>,
}

/// An SMTP relay, from a URL: `smtp://host:25` (plain), `smtp://user:pass@host:587?tls=required`
/// (STARTTLS), `smtps://user:pass@host:465` (implicit TLS).
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpSender {
    /// Prepares a relay; connections are opened when sending.
    pub fn new(url: &str) -> Result<Self, SendError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| SendError::Relay(e.to_string()))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        Ok(Self { transport })
    }

    /// Sends one message; an error means it was not accepted and should be retried.
    pub async fn send(&self, mail: &OutboundMail) -> Result<(), SendError> {
        let message = build(mail)?;
        self.transport
            .send(message)
            .await
            .map_err(|e| SendError::Delivery(e.to_string()))?;
        Ok(())
    }
}

fn bracket(id: &str) -> String {
    format!("<{id}>")
}

fn build(mail: &OutboundMail) -> Result<Message, SendError> {
    let invalid = |e: &dyn std::fmt::Display| SendError::Invalid(e.to_string());
    let from: Mailbox = mail.from.parse().map_err(|e| invalid(&e))?;
    let to: Mailbox = mail.to.parse().map_err(|e| invalid(&e))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(bracket(&mail.message_id)));
    if let Some(parent) = &mail.in_reply_to {
        builder = builder.in_reply_to(bracket(parent));
    }
    if !mail.references.is_empty() {
        let references: Vec<String> = mail.references.iter().map(|id| bracket(id)).collect();
        builder = builder.references(references.join(" "));
    }
    let body = MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone());
    let body = if mail.files.is_empty() {
        body
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for file in &mail.files {
            let content_type = ContentType::parse(&file.content_type).map_err(|e| invalid(&e))?;
            // Base64 keeps a file's bytes exactly, its line endings included: a CSV's bare
            // line feeds would otherwise reach the relay as one overlong line.
            let content =
                Body::new_with_encoding(file.content.clone(), ContentTransferEncoding::Base64)
                    .map_err(|_| SendError::Invalid(format!("{} cannot be encoded", file.name)))?;
            mixed =
                mixed.singlepart(Attachment::new(file.name.clone()).body(content, content_type));
        }
        mixed
    };
    let mut message = builder.multipart(body).map_err(|e| invalid(&e))?;
    // RFC 3834: tells other systems' auto-responders not to answer us, which stops loops.
    let name = HeaderName::new_from_ascii("Auto-Submitted".to_owned()).map_err(|e| invalid(&e))?;
    message
        .headers_mut()
        .insert_raw(HeaderValue::new(name, "auto-replied".to_owned()));
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_go_as_attachments_in_lines_a_relay_takes() {
        let csv = "section,figure,value,previous\n".repeat(200);
        let mail = OutboundMail {
            from: "opsdesk <desk@example.com>".into(),
            to: "ann@example.com".into(),
            subject: "Weekly report".into(),
            text: "Figures".into(),
            html: format!("<table>{}</table>", "<tr><td>1</td></tr>".repeat(100)),
            message_id: "opsdesk.report.1@example.com".into(),
            in_reply_to: None,
            references: Vec::new(),
            files: vec![
                MailFile {
                    name: "report.csv".into(),
                    content_type: "text/csv".into(),
                    content: csv.into_bytes(),
                },
                MailFile {
                    name: "report.pdf".into(),
                    content_type: "application/pdf".into(),
                    content: (0..=255u8).cycle().take(5_000).collect(),
                },
            ],
        };
        let raw = build(&mail).map(|m| m.formatted());
        let raw = String::from_utf8(raw.unwrap_or_default()).unwrap_or_default();
        let parsed = crate::parse(raw.as_bytes()).map(|m| m.attachments);
        let names: Vec<String> = parsed
            .unwrap_or_default()
            .into_iter()
            .map(|file| file.filename)
            .collect();
        assert_eq!(names, ["report.csv", "report.pdf"]);
        // Relays split lines at CRLF only.
        let longest = raw.split("\r\n").map(str::len).max().unwrap_or_default();
        assert!(longest <= 998, "a line of {longest} characters");
    }
}
