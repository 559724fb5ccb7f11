//! Notification templates. Each notice has a subject, a plain-text and an HTML template; the
//! one used is the template admins saved in the database, else the files
//! `<notice>.subject|txt|html` in `templates_dir`, else the built-in text.
//! Placeholders are `{{number}}`, `{{title}}`, `{{status}}`, `{{requester}}`, `{{body}}` and
//! `{{resolution}}`; in HTML templates their values are escaped.

use std::path::Path;

use opsdesk_store::Conn;
use opsdesk_store::mail::{self as store, NewTemplate, TemplateRow};
use opsdesk_store::tickets::TicketRow;
use serde::{Deserialize, Serialize};

use super::Notice;
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::tickets::{find_visible, number_of};
use crate::{App, AppError, FieldError, Principal, timestamp};

/// The names a template may use between `{{` and `}}`.
pub const PLACEHOLDERS: &[&str] = &[
    "number",
    "title",
    "status",
    "requester",
    "body",
    "resolution",
];

/// Longest subject template, in characters: a subject is one header line.
const MAX_SUBJECT_CHARS: usize = 500;
/// Longest text or HTML template, in bytes.
const MAX_PART_BYTES: usize = 100_000;

/// A notice's three templates, as admins write them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateText {
    /// The subject line; keep `[{{number}}]` in it so replies without threading headers
    /// still find their ticket.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part; placeholder values are HTML-escaped in it.
    pub html: String,
}

/// Where the template of a notice comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSource {
    /// Saved by an admin in opsdesk; `DELETE` reverts it.
    Custom,
    /// At least one part is a file in the configured `templates_dir`.
    TemplatesDir,
    /// opsdesk's own text.
    BuiltIn,
}

impl TemplateSource {
    /// The name the API uses: `custom`, `templates_dir` or `built_in`.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateSource::Custom => "custom",
            TemplateSource::TemplatesDir => "templates_dir",
            TemplateSource::BuiltIn => "built_in",
        }
    }
}

/// The template a notice is sent with, and where it comes from.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailTemplate {
    pub notice: Notice,
    pub source: TemplateSource,
    #[serde(flatten)]
    #[schema(schema_with = template_parts)]
    pub template: TemplateText,
    /// When an admin saved it (custom templates only).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<jiff::Timestamp>,
    /// Who saved it (custom templates only).
    pub updated_by: Option<String>,
}

/// The schema of [`TemplateText`] as flattened into [`MailTemplate`]: the same three parts,
/// but without refusing other properties, since the template's own fields sit beside them.
fn template_parts() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    match <TemplateText as utoipa::PartialSchema>::schema() {
        RefOr::T(Schema::Object(mut object)) => {
            object.additional_properties = None;
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

impl MailTemplate {
    fn from_row(notice: Notice, row: TemplateRow) -> Self {
        Self {
            notice,
            source: TemplateSource::Custom,
            template: TemplateText {
                subject: row.subject,
                text: row.text_part,
                html: row.html_part,
            },
            updated_at: Some(timestamp(row.updated_at)),
            updated_by: Some(row.updated_by),
        }
    }
}

/// What to preview: a draft not saved yet, or the template in use; against a ticket, or
/// against sample values.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A ticket number, e.g. `INC-42`; sample values when absent.
    pub ticket: Option<String>,
    /// The templates to render instead of the ones in use.
    pub draft: Option<TemplateText>,
}

/// A notification ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RenderedMail {
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
        Self::new([
            number_of(&ticket.ticket_type, ticket.number),
            ticket.title.clone(),
            ticket.status.clone(),
            ticket.requester_name.clone(),
            comment.unwrap_or_default().to_owned(),
            resolution,
        ])
    }

    /// Made-up values for previewing a template without a ticket.
    fn sample() -> Self {
        Self::new(
            [
                "INC-1042",
                "Printer on floor 3 is jammed",
                "open",
                "Carol Smith",
                SAMPLE_REPLY,
                "fixed: Replaced the fuser unit.",
            ]
            .map(str::to_owned),
        )
    }

    /// Values in the order of [`PLACEHOLDERS`].
    fn new(values: [String; 6]) -> Self {
        Self {
            pairs: PLACEHOLDERS.iter().copied().zip(values).collect(),
        }
    }

    fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(known, _)| *known == name)
            .map_or("", |(_, value)| value.as_str())
    }
}

/// The agent's reply shown when previewing: a preview has no comment to quote.
const SAMPLE_REPLY: &str = "Restarting the access point now; it should be back in five minutes.";

fn built_in(notice: Notice) -> [&'static str; 3] {
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

/// The template `notice` is sent with: the admins' saved one, else the files in `dir`
/// (each missing file falls back to the built-in part), else the built-in one.
pub(crate) async fn effective(
    conn: &mut Conn,
    dir: Option<&Path>,
    notice: Notice,
) -> Result<MailTemplate, AppError> {
    if let Some(row) = store::template(conn, notice.as_str()).await? {
        return Ok(MailTemplate::from_row(notice, row));
    }
    let [subject, text, html] = built_in(notice);
    let files = [
        file_part(dir, notice, "subject").await?,
        file_part(dir, notice, "txt").await?,
        file_part(dir, notice, "html").await?,
    ];
    let source = if files.iter().any(Option::is_some) {
        TemplateSource::TemplatesDir
    } else {
        TemplateSource::BuiltIn
    };
    let [file_subject, file_text, file_html] = files;
    Ok(MailTemplate {
        notice,
        source,
        template: TemplateText {
            subject: file_subject.unwrap_or_else(|| subject.to_owned()),
            text: file_text.unwrap_or_else(|| text.to_owned()),
            html: file_html.unwrap_or_else(|| html.to_owned()),
        },
        updated_at: None,
        updated_by: None,
    })
}

/// The admins' file for one part of a notice in `dir`, if there is one.
async fn file_part(
    dir: Option<&Path>,
    notice: Notice,
    extension: &str,
) -> Result<Option<String>, AppError> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let path = dir.join(format!("{}.{extension}", notice.as_str()));
    match tokio::fs::read_to_string(&path).await {
        Ok(custom) => Ok(Some(custom)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AppError::internal(
            format!("cannot read {}", path.display()),
            e,
        )),
    }
}

/// Fills the placeholders of `template` with `values`.
pub(crate) fn render(template: &TemplateText, values: &Values) -> RenderedMail {
    let subject = fill(&template.subject, values, false);
    RenderedMail {
        // A header must stay on one line whatever the template or the title contain.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: fill(&template.text, values, false),
        html: fill(&template.html, values, true),
    }
}

/// One piece of a template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    /// A known placeholder, by name.
    Value(&'static str),
    /// Something that looks like a placeholder and is not one. Rendering keeps it as written
    /// (a file in `templates_dir` is not checked before use); saving refuses it.
    Mistake(&'a str, Mistake),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mistake {
    Unknown,
    Unclosed,
    UnopenedClose,
}

/// Splits a template into text and placeholders, in one pass, so a value that contains
/// `{{…}}` (a title, a reply) is never read as a placeholder itself.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let open = rest.find("{{");
        let close = rest.find("}}");
        let (before, piece, after) = match open {
            Some(o) if close.is_none_or(|c| o < c) => {
                let inside = &rest[o + 2..];
                let reopen = inside.find("{{");
                match inside.find("}}") {
                    Some(end) if reopen.is_none_or(|r| end < r) => {
                        let written = &rest[o..o + 2 + end + 2];
                        let name = inside[..end].trim();
                        let piece = match PLACEHOLDERS.iter().find(|known| **known == name) {
                            Some(known) => Piece::Value(known),
                            None => Piece::Mistake(written, Mistake::Unknown),
                        };
                        (&rest[..o], Some(piece), &inside[end + 2..])
                    }
                    _ => {
                        let end = reopen.unwrap_or(inside.len());
                        let written = &rest[o..o + 2 + end];
                        (
                            &rest[..o],
                            Some(Piece::Mistake(written, Mistake::Unclosed)),
                            &inside[end..],
                        )
                    }
                }
            }
            _ => match close {
                Some(c) => (
                    &rest[..c],
                    Some(Piece::Mistake("}}", Mistake::UnopenedClose)),
                    &rest[c + 2..],
                ),
                None => (rest, None, ""),
            },
        };
        if !before.is_empty() {
            pieces.push(Piece::Text(before));
        }
        pieces.extend(piece);
        rest = after;
    }
    pieces
}

fn fill(template: &str, values: &Values, html: bool) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) | Piece::Mistake(text, _) => out.push_str(text),
            Piece::Value(name) if html => {
                out.push_str(&escape_html(values.get(name)).replace('\n', "<br>"));
            }
            Piece::Value(name) => out.push_str(values.get(name)),
        }
    }
    out
}

/// The first mistake in one part of a template, as a field error naming that part.
fn check(field: &str, template: &str) -> Option<FieldError> {
    let known = || {
        PLACEHOLDERS
            .iter()
            .map(|name| format!("{{{{{name}}}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    pieces(template).into_iter().find_map(|piece| match piece {
        Piece::Mistake(written, Mistake::Unknown) => Some(FieldError::new(
            field,
            format!("unknown placeholder `{written}`; use {}", known()),
        )),
        Piece::Mistake(written, Mistake::Unclosed) => Some(FieldError::new(
            field,
            format!("unbalanced braces: `{written}` has no closing `}}}}`"),
        )),
        Piece::Mistake(_, Mistake::UnopenedClose) => Some(FieldError::new(
            field,
            "unbalanced braces: `}}` without an opening `{{`",
        )),
        Piece::Text(_) | Piece::Value(_) => None,
    })
}

/// Checks a template an admin wants to save or preview, with its line breaks made `\n`
/// (browsers send a textarea's as `\r\n`).
fn validated(template: TemplateText) -> Result<TemplateText, AppError> {
    let unix = |text: String| text.replace("\r\n", "\n");
    let template = TemplateText {
        subject: unix(template.subject),
        text: unix(template.text),
        html: unix(template.html),
    };
    let mut errors = Vec::new();
    for (field, value, too_long) in [
        (
            "subject",
            &template.subject,
            template.subject.chars().count() > MAX_SUBJECT_CHARS,
        ),
        ("text", &template.text, template.text.len() > MAX_PART_BYTES),
        ("html", &template.html, template.html.len() > MAX_PART_BYTES),
    ] {
        if value.trim().is_empty() {
            errors.push(FieldError::new(field, "must not be empty"));
        } else if too_long {
            let limit = if field == "subject" {
                format!("{MAX_SUBJECT_CHARS} characters")
            } else {
                format!("{MAX_PART_BYTES} bytes")
            };
            errors.push(FieldError::new(field, format!("must be at most {limit}")));
        } else {
            errors.extend(check(field, value));
        }
    }
    if errors.is_empty() {
        Ok(template)
    } else {
        Err(AppError::Invalid(errors))
    }
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

/// A notice named in a request; an unknown one is absent.
fn notice_named(name: &str) -> Result<Notice, AppError> {
    name.parse()
        .map_err(|_| AppError::NotFound("mail template"))
}

impl App {
    /// Every notice's template as it is sent now, and where it comes from (admins only).
    pub async fn mail_templates(
        &self,
        principal: &Principal,
    ) -> Result<Vec<MailTemplate>, AppError> {
        principal.require_admin()?;
        let dir = self.config().mail.templates_dir.as_deref();
        let mut conn = self.db().reader().await?;
        let mut templates = Vec::with_capacity(Notice::ALL.len());
        for &notice in Notice::ALL {
            templates.push(effective(&mut conn, dir, notice).await?);
        }
        Ok(templates)
    }

    /// One notice's template as it is sent now (admins only).
    pub async fn mail_template(
        &self,
        principal: &Principal,
        notice: &str,
    ) -> Result<MailTemplate, AppError> {
        principal.require_admin()?;
        let notice = notice_named(notice)?;
        let mut conn = self.db().reader().await?;
        effective(
            &mut conn,
            self.config().mail.templates_dir.as_deref(),
            notice,
        )
        .await
    }

    /// Saves an admin's template for a notice; it replaces the file and built-in ones until
    /// reverted. Refuses unknown placeholders and unbalanced braces, naming the part.
    pub async fn save_mail_template(
        &self,
        principal: &Principal,
        notice: &str,
        template: TemplateText,
    ) -> Result<MailTemplate, AppError> {
        principal.require_admin()?;
        let notice = notice_named(notice)?;
        let template = validated(template)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = store::template(tx.conn, notice.as_str())
                    .await?
                    .map(|row| MailTemplate::from_row(notice, row));
                let row = store::save_template(
                    tx.conn,
                    &NewTemplate {
                        notice: notice.as_str(),
                        subject: &template.subject,
                        text_part: &template.text,
                        html_part: &template.html,
                        updated_by: tx.actor,
                    },
                    tx.now,
                )
                .await?;
                let id = row.id;
                let saved = MailTemplate::from_row(notice, row);
                let event = match &before {
                    Some(before) => Event::updated(Entity::MailTemplate, id, before, &saved),
                    None => Event::created(Entity::MailTemplate, id, &saved),
                };
                tx.record(event).await?;
                Ok(saved)
            })
        })
        .await
    }

    /// Drops the admins' template for a notice, so the file or built-in one is used again
    /// (admins only). Reverting a notice that has none changes nothing.
    pub async fn revert_mail_template(
        &self,
        principal: &Principal,
        notice: &str,
    ) -> Result<(), AppError> {
        principal.require_admin()?;
        let notice = notice_named(notice)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let Some(row) = store::template(tx.conn, notice.as_str()).await? else {
                    return Ok(());
                };
                store::delete_template(tx.conn, notice.as_str()).await?;
                let id = row.id;
                tx.record(Event::deleted(
                    Entity::MailTemplate,
                    id,
                    &MailTemplate::from_row(notice, row),
                ))
                .await
            })
        })
        .await
    }

    /// Renders a notice as it would be sent: the draft in `request` (checked like a save)
    /// or the template in use, against a ticket or sample values (admins only).
    pub async fn preview_mail_template(
        &self,
        principal: &Principal,
        notice: &str,
        request: PreviewRequest,
    ) -> Result<RenderedMail, AppError> {
        principal.require_admin()?;
        let notice = notice_named(notice)?;
        let draft = request.draft.map(validated).transpose()?;
        let mut conn = self.db().reader().await?;
        let template = match draft {
            Some(draft) => draft,
            None => {
                effective(
                    &mut conn,
                    self.config().mail.templates_dir.as_deref(),
                    notice,
                )
                .await?
                .template
            }
        };
        let values = match &request.ticket {
            Some(reference) => {
                let ticket = find_visible(&mut conn, principal, reference).await?;
                Values::of(&ticket, Some(SAMPLE_REPLY))
            }
            None => Values::sample(),
        };
        Ok(render(&template, &values))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn sample(template: &str, html: bool) -> String {
        fill(template, &Values::sample(), html)
    }

    #[test]
    fn placeholders_are_filled_once_and_escaped_in_html() {
        assert_eq!(
            sample("[{{number}}] {{ title }}", false),
            "[INC-1042] Printer on floor 3 is jammed"
        );
        let values = Values::new(
            ["INC-1", "<b>{{body}}</b>", "open", "Carol", "secret", ""].map(str::to_owned),
        );
        // A title that looks like a placeholder stays text: values are never re-read.
        assert_eq!(fill("{{title}}", &values, false), "<b>{{body}}</b>");
        assert_eq!(
            fill("<p>{{title}}</p>", &values, true),
            "<p>&lt;b&gt;{{body}}&lt;/b&gt;</p>"
        );
        // CSS braces are text, and a file's mistakes are sent as written.
        assert_eq!(
            sample("p { color: red } {{nope}}", true),
            "p { color: red } {{nope}}"
        );
    }

    #[test]
    fn mistakes_are_found_and_named() {
        let cases: &[(&str, Option<&str>)] = &[
            ("Hello {{requester}}, {{ number }}", None),
            ("<style>p { margin: 0 }</style>", None),
            ("Hello {{nope}}", Some("unknown placeholder `{{nope}}`")),
            ("{{{number}}}", Some("unknown placeholder `{{{number}}`")),
            (
                "Hello {{requester",
                Some("`{{requester` has no closing `}}`"),
            ),
            ("{{title {{number}}", Some("`{{title ` has no closing `}}`")),
            ("Hello requester}}", Some("`}}` without an opening `{{`")),
        ];
        for (template, expected) in cases {
            let found = check("text", template);
            match expected {
                None => assert_eq!(found, None, "{template}"),
                Some(message) => {
                    let found = found.unwrap();
                    assert_eq!(found.field, "text");
                    assert!(
                        found.message.contains(message),
                        "{template}: {}",
                        found.message
                    );
                }
            }
        }
    }

    #[test]
    fn built_in_templates_pass_their_own_check() {
        for &notice in Notice::ALL {
            let [subject, text, html] = built_in(notice).map(str::to_owned);
            assert!(
                validated(TemplateText {
                    subject,
                    text,
                    html
                })
                .is_ok()
            );
        }
    }

    #[test]
    fn saving_names_every_bad_part_and_keeps_line_breaks_plain() {
        let Err(AppError::Invalid(errors)) = validated(TemplateText {
            subject: " ".into(),
            text: "{{body".into(),
            html: "x".repeat(MAX_PART_BYTES + 1),
        }) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["subject", "text", "html"]);
        let saved = validated(TemplateText {
            subject: "[{{number}}]".into(),
            text: "a\r\nb".into(),
            html: "<p>a</p>".into(),
        })
        .unwrap();
        assert_eq!(saved.text, "a\nb");
    }
}
