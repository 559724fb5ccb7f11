//! opsdesk's mail channel at the edge: parsing inbound RFC 5322 messages into
//! [`InboundMessage`]s, reading mailboxes over IMAP, accepting LMTP deliveries, and sending
//! notifications over SMTP. Routing and storage belong to the application layer.

pub mod imap;
pub mod lmtp;
mod parse;
pub mod smtp;
mod trim;

pub use parse::{
    Attachment, AutoReply, InboundMessage, MAX_MESSAGE_BYTES, ParseError, Sender, parse,
};
pub use smtp::{MailFile, OutboundMail, SendError, SmtpSender};
pub use trim::trim_reply;
