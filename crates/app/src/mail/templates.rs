//! Notification templates: built-in defaults that admins replace by dropping files named
//! `<notice>.subject`, `<notice>.txt` and `<notice>.html` into the templates folder.
//! Placeholders are `{{number}}`, `{{title}}`, `{{status}}`, `{{requester}}`, `{{body}}` and
//! `{{resolution}}`; in HTML templates their values are escaped.

use std::path::Path;

use opsdesk_store::tickets::TicketRow;

use super::Notice;
use crate::tickets::number_of;

/// A notification ready to send.
pub(crate) struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The values a template may use.
pub(crate) struct Values {
    pairs: Vec<(&'static str, String)>,
}

impl Values {
    pub(crate) fn of(ticket: &TicketRow, comment: Option<&str>) -> Self {
        let resolution = [
            ticket.resolution_code.as_deref(),
            ticket.resolution_note.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
        Self {
            pairs: vec![
                ("number", number_of(&ticket.ticket_type, ticket.number)),
                ("title", ticket.title.clone()),
                ("status", ticket.status.clone()),
                ("requester", ticket.requester_name.clone()),
                ("body", comment.unwrap_or_default().to_owned()),
                ("resolution", resolution),
            ],
        }
    }
}

fn defaults(notice: Notice) -> [&'static str; 3] {
    match notice {
        Notice::Acknowledgement => [
            "[{{number}}] {{title}}",
            "Hello {{requester}},\n\nwe have received your request and opened ticket {{number}}: {{title}}.\nReply to this message to add to it; keep {{number}} in the subject.\n",
            "<p>Hello {{requester}},</p><p>we have received your request and opened ticket <b>{{number}}</b>: {{title}}.</p><p>Reply to this message to add to it; keep {{number}} in the subject.</p>",
        ],
        Notice::Reply => [
            "Re: [{{number}}] {{title}}",
            "{{body}}\n\n--\nTicket {{number}} ({{status}}). Reply to this message to answer.\n",
            "<div>{{body}}</div><hr><p>Ticket {{number}} ({{status}}). Reply to this message to answer.</p>",
        ],
        Notice::Resolution => [
            "[{{number}}] resolved: {{title}}",
            "Hello {{requester}},\n\nticket {{number}} ({{title}}) is resolved.\n{{resolution}}\n\nIf the problem remains, reply to this message and the ticket reopens.\n",
            "<p>Hello {{requester}},</p><p>ticket <b>{{number}}</b> ({{title}}) is resolved.</p><p>{{resolution}}</p><p>If the problem remains, reply to this message and the ticket reopens.</p>",
        ],
    }
}

/// Renders `notice`, preferring the admins' files in `dir`.
pub(crate) fn render(
    dir: Option<&Path>,
    notice: Notice,
    values: &Values,
) -> std::io::Result<Rendered> {
    let [subject, text, html] = defaults(notice);
    let load = |extension: &str, default: &str| -> std::io::Result<String> {
        let Some(dir) = dir else {
            return Ok(default.to_owned());
        };
        match std::fs::read_to_string(dir.join(format!("{}.{extension}", notice.as_str()))) {
            Ok(custom) => Ok(custom),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(default.to_owned()),
            Err(e) => Err(e),
        }
    };
    let subject = fill(&load("subject", subject)?, values, false);
    Ok(Rendered {
        // A header must stay on one line whatever the template or the title contain.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: fill(&load("txt", text)?, values, false),
        html: fill(&load("html", html)?, values, true),
    })
}

fn fill(template: &str, values: &Values, html: bool) -> String {
    let mut out = template.to_owned();
    for (name, value) in &values.pairs {
        let value = if html {
            escape_html(value).replace('\n', "<br>")
        } else {
            value.clone()
        };
        out = out.replace(&format!("{{{{{name}}}}}"), &value);
    }
    out
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
