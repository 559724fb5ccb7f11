//! From raw RFC 5322 bytes to an [`InboundMessage`]: the one parse entry point every
//! inbound path (pipe, IMAP, LMTP) goes through.

use std::borrow::Cow;

use mail_parser::{HeaderValue, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

use crate::trim::trim_reply;

/// Largest message accepted, in bytes. Bigger mail is refused before parsing so a storm of
/// huge messages cannot exhaust memory.
pub const MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;
/// Longest subject kept; the rest is cut (a ticket title has its own limit).
const MAX_SUBJECT_CHARS: usize = 250;
/// Nesting of forwarded messages followed when looking for a body.
const MAX_FORWARD_DEPTH: usize = 4;
/// Message-IDs kept from a References header; long threads keep the newest.
const MAX_REFERENCES: usize = 50;

/// Why a message could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("the message has no header section")]
    NoHeaders,
    #[error("the message has no usable From address")]
    NoSender,
    #[error("the MIME structure is too broken to read")]
    Broken,
}

/// The author of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Lower-cased address, e.g. `ana@example.com`.
    pub address: String,
    /// Display name, when the message gave one.
    pub name: Option<String>,
}

impl Sender {
    /// The part after `@`, used to map unknown senders to an organization.
    pub fn domain(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
    }
}

/// A file that came with a message: an attachment, an inline image or a forwarded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    /// `Content-ID` without angle brackets, for inline images an HTML part refers to.
    pub content_id: Option<String>,
    /// Shown inside the message (inline image) rather than listed as a download.
    pub inline: bool,
    pub data: Vec<u8>,
}

/// Why a message counts as automatic: recorded, never answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReply {
    /// `Auto-Submitted:` other than `no` (RFC 3834).
    AutoSubmitted,
    /// `X-Auto-Response-Suppress` (Exchange) or `X-Autoreply`/`X-Autorespond`.
    Suppressed,
    /// `Precedence: bulk`, `junk` or `list`.
    Bulk,
    /// A subject such as "Out of office" or "Automatic reply".
    OutOfOffice,
    /// A delivery status notification (bounce).
    Bounce,
}

impl AutoReply {
    /// Stable name for storage and display.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoReply::AutoSubmitted => "auto_submitted",
            AutoReply::Suppressed => "auto_response_suppress",
            AutoReply::Bulk => "bulk",
            AutoReply::OutOfOffice => "out_of_office",
            AutoReply::Bounce => "bounce",
        }
    }
}

/// A parsed inbound message, ready for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// `Message-ID` without angle brackets, when the message has one.
    pub message_id: Option<String>,
    /// What makes two deliveries "the same message": `mid:<Message-ID>`, or `sha256:<hash>`
    /// of the raw bytes when there is no Message-ID.
    pub dedup_key: String,
    /// SHA-256 of the raw message, hex.
    pub raw_sha256: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Sender,
    /// The addresses it was sent to, in lower case: `To`, `Cc`, and the `Delivered-To` and
    /// `X-Original-To` that mail servers add (which also name `Bcc` recipients).
    pub recipients: Vec<String>,
    /// Decoded subject, one line; empty when absent.
    pub subject: String,
    /// The new text of the message: plain part (or text derived from HTML), with quoted
    /// reply text and the signature removed.
    pub text: String,
    /// The HTML part sanitized for display (no scripts, styles or event handlers).
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub auto_reply: Option<AutoReply>,
    /// For a bounce: the Message-ID of the message that bounced, when the report names it.
    pub bounced_message_id: Option<String>,
}

/// Parses one raw message. Only mail with no usable sender or no headers at all is refused;
/// everything else (bad charsets, broken MIME, odd headers) parses as well as it can.
pub fn parse(raw: &[u8]) -> Result<InboundMessage, ParseError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError::TooLarge);
    }
    // mail-parser 0.11 panics on some broken multipart structures (found by fuzzing); such
    // a message must be quarantined, not take the process down.
    let message = std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .map_err(|_| ParseError::Broken)?
        .ok_or(ParseError::NoHeaders)?;
    if message.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }
    let from = message
        .from()
        .or_else(|| message.sender())
        .and_then(|address| address.first())
        .and_then(|addr| {
            let address = addr.address()?.trim().to_ascii_lowercase();
            let valid = address
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            valid.then(|| Sender {
                address,
                name: addr
                    .name()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            })
        })
        .ok_or(ParseError::NoSender)?;

    let raw_sha256 = hex::encode(Sha256::digest(raw));
    let message_id = message
        .message_id()
        .map(clean_id)
        .filter(|id| !id.is_empty());
    let dedup_key = match &message_id {
        Some(id) => format!("mid:{id}"),
        None => format!("sha256:{raw_sha256}"),
    };
    let subject: String = message
        .subject()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_SUBJECT_CHARS)
        .collect();

    let bounce = is_bounce(&message, &from);
    let auto_reply = if bounce {
        Some(AutoReply::Bounce)
    } else {
        auto_reply_of(&message, &subject)
    };
    let bounced_message_id = bounce.then(|| bounced_id(&message)).flatten();

    let (text, html) = bodies(&message, 0);
    let mut attachments = Vec::new();
    collect_attachments(&message, &mut attachments);

    let mut references = ids_of(message.references());
    if references.len() > MAX_REFERENCES {
        references.drain(..references.len() - MAX_REFERENCES);
    }
    Ok(InboundMessage {
        message_id,
        dedup_key,
        raw_sha256,
        in_reply_to: ids_of(message.in_reply_to()),
        references,
        recipients: recipients(&message),
        from,
        subject,
        text: trim_reply(&text),
        html: html.map(|html| ammonia::clean(&html)),
        attachments,
        auto_reply,
        bounced_message_id,
    })
}

fn recipients(message: &mail_parser::Message<'_>) -> Vec<String> {
    let listed = [message.to(), message.cc()]
        .into_iter()
        .flatten()
        .flat_map(|address| address.iter().filter_map(|addr| addr.address()))
        .map(str::to_owned);
    let delivered = ["Delivered-To", "X-Original-To"]
        .into_iter()
        .flat_map(|name| message.header_values(name))
        .flat_map(|value| match value {
            HeaderValue::Address(address) => address
                .iter()
                .filter_map(|addr| addr.address())
                .map(str::to_owned)
                .collect(),
            HeaderValue::Text(text) => vec![text.trim().trim_matches(['<', '>']).to_owned()],
            _ => Vec::new(),
        });
    let mut all: Vec<String> = listed
        .chain(delivered)
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| a.contains('@'))
        .collect();
    all.sort();
    all.dedup();
    all
}

fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

fn ids_of(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match value {
        HeaderValue::Text(id) => vec![clean_id(id)],
        HeaderValue::TextList(ids) => ids.iter().map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    };
    ids.into_iter().filter(|id| !id.is_empty()).collect()
}

/// The text and HTML of a message; for a message that only wraps a forwarded one, those of
/// the forwarded message.
fn bodies(message: &mail_parser::Message<'_>, depth: usize) -> (String, Option<String>) {
    let text: String = (0..message.text_body_count())
        .filter_map(|i| message.body_text(i))
        .map(Cow::into_owned)
        .collect::<Vec<_>>()
        .join("\n");
    let html = message
        .html_bodies()
        .find(|part| part.is_text_html())
        .and_then(|part| part.text_contents())
        .map(str::to_owned);
    if text.trim().is_empty() && html.is_none() && depth < MAX_FORWARD_DEPTH {
        let forwarded = message.attachments().find_map(|part| match &part.body {
            PartType::Message(inner) => Some(inner),
            _ => None,
        });
        if let Some(inner) = forwarded {
            return bodies(inner, depth + 1);
        }
    }
    (text, html)
}

fn collect_attachments(message: &mail_parser::Message<'_>, out: &mut Vec<Attachment>) {
    for (index, part) in message.attachments().enumerate() {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_ascii_lowercase();
        let (data, default_name) = match &part.body {
            PartType::Message(inner) => (inner.raw_message().to_vec(), "forwarded.eml".to_owned()),
            PartType::Text(text) | PartType::Html(text) => (
                text.as_bytes().to_vec(),
                format!("attachment-{}.txt", index + 1),
            ),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                (bytes.to_vec(), format!("attachment-{}", index + 1))
            }
            PartType::Multipart(_) => continue,
        };
        let filename = part
            .attachment_name()
            .map(sanitize_filename)
            .filter(|name| !name.is_empty())
            .unwrap_or(default_name);
        let inline = matches!(part.body, PartType::InlineBinary(_))
            || part
                .content_disposition()
                .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
        out.push(Attachment {
            filename,
            content_type,
            content_id: part.content_id().map(clean_id),
            inline,
            data,
        });
    }
}

/// A file name safe to offer as a download: no folders, no control characters.
fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned()
}

fn header_text<'a>(message: &'a mail_parser::Message<'_>, name: &'static str) -> Option<&'a str> {
    message.header_raw(name).map(str::trim)
}

fn auto_reply_of(message: &mail_parser::Message<'_>, subject: &str) -> Option<AutoReply> {
    if header_text(message, "Auto-Submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no")) {
        return Some(AutoReply::AutoSubmitted);
    }
    if ["X-Auto-Response-Suppress", "X-Autoreply", "X-Autorespond"]
        .iter()
        .any(|name| header_text(message, name).is_some())
    {
        return Some(AutoReply::Suppressed);
    }
    if header_text(message, "Precedence").is_some_and(|v| {
        ["bulk", "junk", "list"]
            .iter()
            .any(|p| v.eq_ignore_ascii_case(p))
    }) {
        return Some(AutoReply::Bulk);
    }
    let subject = subject.to_lowercase();
    let out_of_office = [
        "out of office",
        "out of the office",
        "automatic reply",
        "auto-reply",
        "autoreply",
        "abwesenheitsnotiz",
        "absence du bureau",
    ];
    if out_of_office.iter().any(|s| subject.contains(s)) {
        return Some(AutoReply::OutOfOffice);
    }
    None
}

fn is_bounce(message: &mail_parser::Message<'_>, from: &Sender) -> bool {
    let report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    let local = from.address.split('@').next().unwrap_or("");
    report
        || local == "mailer-daemon"
        || local == "postmaster" && header_text(message, "Return-Path") == Some("<>")
}

/// The Message-ID of the bounced message, from the returned message or its headers.
fn bounced_id(message: &mail_parser::Message<'_>) -> Option<String> {
    for part in message.attachments() {
        if let PartType::Message(inner) = &part.body
            && let Some(id) = inner.message_id()
        {
            return Some(clean_id(id));
        }
        let headers_only = part.content_type().is_some_and(|ct| {
            ct.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
        });
        if headers_only
            && let Some(text) = part.text_contents()
            && let Some(found) = MessageParser::default()
                .parse_headers(text.as_bytes())
                .and_then(|h| h.message_id().map(clean_id))
        {
            return Some(found);
        }
    }
    // Some MTAs quote the original inline; In-Reply-To is the last resort.
    ids_of(message.in_reply_to()).into_iter().next()
}
