//! Bringing another desk's history in (`opsdesk import tickets`): tickets with their
//! conversation, status and dates as they were, keyed on their id in that desk so that a
//! second run skips what the first brought. An import sends no mail, queues no webhooks and
//! starts no SLA clocks (the desk they came from kept those targets); each ticket is in the
//! audit log like any other.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use opsdesk_domain::ticket::PriorityMatrix;
use opsdesk_store::attachments as attachment_store;
use opsdesk_store::mail::{self as mail_store, NewMail};

use super::*;

/// One ticket of an import file (one JSON object per line).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportTicket {
    /// The ticket's id in the desk it comes from.
    pub external_id: String,
    #[serde(rename = "type", default = "incident")]
    pub ticket_type: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// By path, `Parent/Child`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `P1` … `P5`; P3 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// `resolved` when absent and `resolved_at` is given, else `new`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// For a resolved or closed ticket; `fixed` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_note: Option<String>,
    /// The requester's e-mail address; without one, the organization's placeholder
    /// requester ("Unknown requester") stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// The requester's organization, by name: needed for a requester who is not a user yet
    /// (unless their address's domain is an organization's) or for a ticket without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<ImportComment>,
    /// Tags, such as the alias its number in the desk it comes from gives (`rt-123`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The Message-ID of the mail that opened it, so that replies to that mail thread here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Message-IDs of the mail the desk it comes from sent about it (its notifications),
    /// for the same reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_message_ids: Vec<String>,
    /// The files of the opening message. Only importers that read the source desk itself
    /// bring files; the file format has none.
    #[serde(skip)]
    pub files: Vec<ImportFile>,
}

fn incident() -> String {
    TicketType::Incident.as_str().to_owned()
}

/// A reply (`public`) or internal note of an imported ticket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportComment {
    pub body: String,
    pub public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// The Message-ID of the mail it was, so that replies to that mail thread here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Its files (see [`ImportTicket::files`]).
    #[serde(skip)]
    pub files: Vec<ImportFile>,
}

/// A file of an imported message, with its bytes as the source desk served them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    pub filename: String,
    pub content_type: String,
    /// For an inline image: the `cid:` the message's HTML refers to.
    pub content_id: Option<String>,
    pub inline: bool,
    pub data: Vec<u8>,
}

/// A ticket of the file and its line number, which every message about it names.
#[derive(Debug, Clone)]
pub struct ImportLine {
    pub line: usize,
    pub ticket: ImportTicket,
}

/// Something the file names that this desk does not have yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Organization {
        name: String,
        line: usize,
    },
    Category {
        path: String,
        line: usize,
    },
    Group {
        name: String,
        line: usize,
    },
    Person {
        email: String,
        role: Role,
        organization: Option<String>,
        line: usize,
        /// False for an organization's placeholder requester, which the file does not name
        /// and which is created without `--create-missing`.
        named: bool,
    },
}

impl Missing {
    /// The first line that needs it.
    pub fn line(&self) -> usize {
        match self {
            Missing::Organization { line, .. }
            | Missing::Category { line, .. }
            | Missing::Group { line, .. }
            | Missing::Person { line, .. } => *line,
        }
    }

    /// Whether the file names it (so creating it needs the importer's consent).
    pub fn named(&self) -> bool {
        !matches!(self, Missing::Person { named: false, .. })
    }

    fn key(&self) -> String {
        match self {
            Missing::Organization { name, .. } => format!("organization:{}", name.to_lowercase()),
            Missing::Category { path, .. } => format!("category:{}", path.to_lowercase()),
            Missing::Group { name, .. } => format!("group:{}", name.to_lowercase()),
            Missing::Person { email, .. } => format!("person:{}", email.to_lowercase()),
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Organization { name, .. } => write!(f, "organization `{name}`"),
            Missing::Category { path, .. } => write!(f, "category `{path}`"),
            Missing::Group { name, .. } => write!(f, "group `{name}`"),
            Missing::Person {
                email,
                role,
                organization,
                ..
            } => match organization {
                Some(organization) => write!(f, "{role} {email} of {organization}"),
                None => write!(f, "{role} {email}"),
            },
        }
    }
}

/// A line that cannot be imported as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

/// What importing a file would do, found without writing anything.
#[derive(Debug, Clone, Default)]
pub struct ImportPlan {
    pub tickets: usize,
    /// Tickets whose `external_id` an earlier import brought already.
    pub already_imported: usize,
    /// What the file names that does not exist, in the order it is first named.
    pub missing: Vec<Missing>,
    pub problems: Vec<LineProblem>,
}

/// An imported ticket as this desk keeps it, to compare with the desk it came from.
#[derive(Debug, Clone)]
pub struct StoredImport {
    pub external_id: String,
    pub number: String,
    pub title: String,
    pub description: String,
    /// Its replies and internal notes, in order.
    pub comments: Vec<StoredComment>,
    /// Its files with their bytes, in arrival order.
    pub files: Vec<StoredFile>,
}

/// A reply (`public`) or internal note of an imported ticket.
#[derive(Debug, Clone)]
pub struct StoredComment {
    pub body: String,
    pub public: bool,
}

/// A file of an imported ticket.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub filename: String,
    pub data: Vec<u8>,
}

/// The stand-in requester of an organization's tickets that name none.
fn placeholder_requester(organization: &str) -> String {
    let slug: String = organization
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("unknown-requester@{}.invalid", slug.trim_matches('-'))
}

/// The requester a line's ticket will have.
fn requester_of(ticket: &ImportTicket) -> Option<String> {
    ticket
        .requester
        .clone()
        .or_else(|| ticket.organization.as_deref().map(placeholder_requester))
}

/// The lifecycle a line asks for, and when it reached it.
fn lifecycle_for(ticket: &ImportTicket) -> Result<(Lifecycle, Option<i64>), String> {
    let status = match ticket.status.as_deref() {
        Some(status) => status.parse::<TicketStatus>().map_err(|e| e.to_string())?,
        None if ticket.resolved_at.is_some() => TicketStatus::Resolved,
        None => TicketStatus::New,
    };
    let resolution = || -> Result<(ResolutionCode, Option<ResolutionNote>), String> {
        let code = ResolutionCode::parse(ticket.resolution_code.as_deref().unwrap_or("fixed"))
            .map_err(|e| format!("resolution_code: {e}"))?;
        let note = match ticket.resolution_note.as_deref() {
            Some(note) if !note.trim().is_empty() => {
                Some(ResolutionNote::parse(note).map_err(|e| format!("resolution_note: {e}"))?)
            }
            _ => None,
        };
        Ok((code, note))
    };
    let lifecycle = Lifecycle::of(status, || Ok(PendingReason::Customer), resolution)?;
    let finished = matches!(
        status,
        TicketStatus::Resolved | TicketStatus::Closed | TicketStatus::Cancelled
    );
    if !finished && ticket.resolved_at.is_some() {
        return Err(format!(
            "resolved_at is given but the status is {}",
            status.as_str()
        ));
    }
    let created = ticket.created_at.map(Timestamp::as_millisecond);
    let resolved = ticket.resolved_at.map(Timestamp::as_millisecond);
    if let (Some(created), Some(resolved)) = (created, resolved)
        && resolved < created
    {
        return Err("resolved_at is before created_at".into());
    }
    Ok((lifecycle, finished.then_some(resolved).flatten()))
}

/// Impact and urgency giving `priority` in the ITIL table, the most balanced pair first
/// (P3 is medium × medium rather than high × low).
fn cells_for(priority: Priority) -> (Impact, Urgency) {
    let mut cells: Vec<(Impact, Urgency)> = Impact::ALL
        .iter()
        .flat_map(|impact| Urgency::ALL.iter().map(move |urgency| (*impact, *urgency)))
        .filter(|(impact, urgency)| PriorityMatrix::ITIL.priority(*impact, *urgency) == priority)
        .collect();
    // Both lists run from high to low.
    let place = |name: &str| ["high", "medium", "low"].iter().position(|n| *n == name);
    cells.sort_by_key(|(impact, urgency)| {
        place(impact.as_str())
            .zip(place(urgency.as_str()))
            .map_or(usize::MAX, |(i, u)| i.abs_diff(u))
    });
    cells
        .first()
        .copied()
        .unwrap_or((Impact::Medium, Urgency::Medium))
}

/// Looks up, once each, the people, organizations, categories and groups a file names.
struct Lookups<'a> {
    catalog: &'a Catalog,
    users: HashMap<String, Option<accounts::UserRow>>,
    organizations: HashMap<String, bool>,
    domains: HashMap<String, Option<String>>,
}

impl Lookups<'_> {
    async fn user(
        &mut self,
        conn: &mut Conn,
        email: &str,
    ) -> Result<Option<accounts::UserRow>, AppError> {
        let key = email.to_lowercase();
        if let Some(found) = self.users.get(&key) {
            return Ok(found.clone());
        }
        let found = accounts::find_user_by_email(conn, &key).await?;
        self.users.insert(key, found.clone());
        Ok(found)
    }

    async fn organization_exists(&mut self, conn: &mut Conn, name: &str) -> Result<bool, AppError> {
        let key = name.to_lowercase();
        if let Some(found) = self.organizations.get(&key) {
            return Ok(*found);
        }
        let found = accounts::find_organization_by_name(conn, name)
            .await?
            .is_some();
        self.organizations.insert(key, found);
        Ok(found)
    }

    /// The organization whose mail domain the address has.
    async fn organization_of_address(
        &mut self,
        conn: &mut Conn,
        email: &str,
    ) -> Result<Option<String>, AppError> {
        let Some((_, domain)) = email.rsplit_once('@') else {
            return Ok(None);
        };
        let domain = domain.to_lowercase();
        if let Some(found) = self.domains.get(&domain) {
            return Ok(found.clone());
        }
        let found = accounts::find_organization_by_domain(conn, &domain)
            .await?
            .map(|o| o.name);
        self.domains.insert(domain, found.clone());
        Ok(found)
    }
}

/// Collects what a plan finds, each missing thing once.
#[derive(Default)]
struct Findings {
    missing: Vec<Missing>,
    seen: HashSet<String>,
    problems: Vec<LineProblem>,
}

impl Findings {
    fn missing(&mut self, missing: Missing) {
        if self.seen.insert(missing.key()) {
            self.missing.push(missing);
        }
    }

    fn problem(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(LineProblem {
            line,
            message: message.into(),
        });
    }
}

/// Checks one line and notes what it names that does not exist.
async fn check_line(
    conn: &mut Conn,
    lookups: &mut Lookups<'_>,
    findings: &mut Findings,
    ImportLine { line, ticket }: &ImportLine,
) -> Result<(), AppError> {
    let line = *line;
    if let Err(e) = ticket.ticket_type.parse::<TicketType>() {
        findings.problem(line, format!("type: {e}"));
    }
    if let Err(e) = Title::parse(&ticket.title) {
        findings.problem(line, format!("title: {e}"));
    }
    if let Some(Err(e)) = ticket.priority.as_deref().map(str::parse::<Priority>) {
        findings.problem(line, format!("priority: {e}"));
    }
    if let Err(message) = lifecycle_for(ticket) {
        findings.problem(line, message);
    }
    if let Some(path) = &ticket.category
        && category_by_path(lookups.catalog, path).is_err()
    {
        let path = path.split('/').map(str::trim).collect::<Vec<_>>().join("/");
        if path.split('/').any(str::is_empty) {
            findings.problem(line, format!("category: `{path}` has an empty part"));
        } else {
            findings.missing(Missing::Category { path, line });
        }
    }
    if let Some(name) = &ticket.group
        && lookups.catalog.group(name).is_none()
    {
        findings.missing(Missing::Group {
            name: name.trim().to_owned(),
            line,
        });
    }
    if let Some(name) = &ticket.organization
        && !lookups.organization_exists(conn, name).await?
    {
        findings.missing(Missing::Organization {
            name: name.trim().to_owned(),
            line,
        });
    }
    let Some(requester) = requester_of(ticket) else {
        findings.problem(
            line,
            "name the requester, or the organization whose placeholder requester stands in",
        );
        return Ok(());
    };
    if let Err(e) = Email::parse(&requester) {
        findings.problem(line, format!("requester: {e}"));
    } else if lookups.user(conn, &requester).await?.is_none() {
        let organization = match &ticket.organization {
            Some(name) => Some(name.trim().to_owned()),
            None => lookups.organization_of_address(conn, &requester).await?,
        };
        if organization.is_none() {
            findings.problem(
                line,
                format!(
                    "requester {requester} is not a user here, and the line names no organization for them"
                ),
            );
        } else {
            findings.missing(Missing::Person {
                email: requester.clone(),
                role: Role::Customer,
                organization,
                line,
                named: ticket.requester.is_some(),
            });
        }
    }
    for (index, comment) in ticket.comments.iter().enumerate() {
        // A message may be only its files.
        if comment.body.trim().is_empty() && comment.files.is_empty() {
            findings.problem(line, format!("comments[{index}].body is empty"));
        }
        let Some(author) = &comment.author else {
            continue;
        };
        if let Err(e) = Email::parse(author) {
            findings.problem(line, format!("comments[{index}].author: {e}"));
        } else if !author.eq_ignore_ascii_case(&requester)
            && lookups.user(conn, author).await?.is_none()
        {
            // Someone of a customer organization (by their address) is a customer; anyone
            // else wrote as support staff.
            let organization = lookups.organization_of_address(conn, author).await?;
            let role = if organization.is_some() {
                Role::Customer
            } else {
                Role::Agent
            };
            findings.missing(Missing::Person {
                email: author.clone(),
                role,
                organization,
                line,
                named: true,
            });
        }
    }
    Ok(())
}

/// "jane.doe" → "Jane Doe": a name for a person known only by their address.
fn name_from_address(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let words: Vec<String> = local
        .split(['.', '_', '-', '+'])
        .filter(|w| !w.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    if words.is_empty() {
        email.to_owned()
    } else {
        words.join(" ")
    }
}

/// Names the line an error came from.
fn on_line(line: usize, error: AppError) -> AppError {
    match error {
        AppError::Invalid(errors) => AppError::Invalid(
            errors
                .into_iter()
                .map(|e| FieldError::new(format!("line {line}: {}", e.field), e.message))
                .collect(),
        ),
        AppError::Conflict { field, message } => AppError::Conflict {
            field,
            message: format!("line {line}: {message}"),
        },
        other => other,
    }
}

/// A message of an imported ticket, for what it brings besides its text.
struct ImportedMail<'a> {
    ticket_id: i64,
    /// None for the message that opened the ticket.
    comment_id: Option<i64>,
    public: bool,
    sender: Option<&'a accounts::UserRow>,
    subject: &'a str,
    message_id: Option<&'a str>,
    files: &'a [ImportFile],
    at: i64,
}

/// Records an imported message as mail of its ticket, so that replies to its Message-ID
/// thread there as replies to opsdesk's own mail do, and keeps its files as a mailed
/// message's (a file over `limit` is named on the timeline instead).
async fn keep_imported_mail(
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
    keep_mail_files(tx.conn, &target, &files, limit, mail.at).await
}

/// Records the Message-IDs of mail the source desk sent about a ticket, so that replies to
/// it thread there too.
async fn keep_sent_mail(
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

/// Writes one imported ticket with its conversation and history in the caller's
/// transaction; returns its id. Files over `limit` bytes are not kept (the timeline says so).
async fn write_imported(
    tx: &mut Tx<'_>,
    ticket: ImportTicket,
    limit: usize,
) -> Result<i64, AppError> {
    let (lifecycle, finished_at) =
        lifecycle_for(&ticket).map_err(|m| AppError::invalid("status", m))?;
    let priority = match ticket.priority.as_deref() {
        Some(p) => p
            .parse::<Priority>()
            .map_err(|e| AppError::invalid("priority", e))?,
        None => Priority::P3,
    };
    let (impact, urgency) = cells_for(priority);
    let requester = requester_of(&ticket)
        .ok_or_else(|| AppError::invalid("requester", "name the requester or the organization"))?;
    let opened_at = ticket.created_at.map_or(tx.now, Timestamp::as_millisecond);
    let input = NewTicket {
        ticket_type: ticket.ticket_type,
        title: ticket.title.clone(),
        description: ticket.description,
        impact: impact.as_str().to_owned(),
        urgency: urgency.as_str().to_owned(),
        requester: Some(requester.clone()),
        group: ticket.group,
        assignee: None,
        category: ticket.category,
        tags: ticket.tags,
        watchers: Vec::new(),
        custom: BTreeMap::new(),
        source: Some(Source::Import.as_str().to_owned()),
        parent: None,
    };
    let valid = validate_ticket(tx.principal, input)?;
    let mut resolved = resolve_ticket(tx.conn, tx.principal, valid, opened_at).await?;
    // The desk it came from kept its targets: no SLA clocks, and the priority it had there.
    resolved.clocks = None;
    resolved.fields.priority = i64::from(priority.rank());
    let last_comment = ticket
        .comments
        .iter()
        .filter_map(|c| c.at.map(Timestamp::as_millisecond))
        .max();
    let finished_at =
        finished_at.unwrap_or_else(|| last_comment.unwrap_or(opened_at).max(opened_at));
    apply_lifecycle(&mut resolved.fields, &lifecycle, finished_at);
    if lifecycle.status() == TicketStatus::Closed {
        resolved.fields.resolved_at = Some(finished_at);
    }
    resolved.snapshot["status"] = resolved.fields.status.clone().into();
    resolved.snapshot["priority"] = priority.as_str().into();
    resolved.snapshot["sla_policy"] = serde_json::Value::Null;
    resolved.snapshot["external_id"] = ticket.external_id.clone().into();
    let subject = ticket.title;
    let id = write_ticket(tx, resolved).await?;
    let requester = accounts::find_user_by_email(tx.conn, &requester.to_lowercase()).await?;
    let opening = ImportedMail {
        ticket_id: id,
        comment_id: None,
        public: true,
        sender: requester.as_ref(),
        subject: &subject,
        message_id: ticket.message_id.as_deref(),
        files: &ticket.files,
        at: opened_at,
    };
    keep_imported_mail(tx, opening, limit).await?;
    keep_sent_mail(tx, id, &subject, &ticket.sent_message_ids, opened_at).await?;

    let mut batch = tx.batch();
    let mut last = opened_at;
    let mut first_response = None;
    for comment in &ticket.comments {
        let at = comment.at.map_or(last, Timestamp::as_millisecond);
        // Without an author the comment is the import's: guessing would put words in
        // someone's mouth.
        let author = match comment.author.as_deref() {
            Some(email) => accounts::find_user_by_email(tx.conn, &email.to_lowercase()).await?,
            None => None,
        };
        let body = comment.body.trim();
        let comment_id = store::insert_comment(
            tx.conn,
            id,
            author.as_ref().map(|a| a.id),
            body,
            comment.public,
            0,
            at,
        )
        .await?;
        store::index_comment(&mut batch, id, body, comment.public);
        let mail = ImportedMail {
            ticket_id: id,
            comment_id: Some(comment_id),
            public: comment.public,
            sender: author.as_ref(),
            subject: &subject,
            message_id: comment.message_id.as_deref(),
            files: &comment.files,
            at,
        };
        keep_imported_mail(tx, mail, limit).await?;
        let actor = author.as_ref().map_or_else(
            || tx.actor.to_owned(),
            |a| format!("user:{} <{}>", a.id, a.email),
        );
        timeline(
            &mut batch,
            id,
            at,
            &actor,
            if comment.public { "comment" } else { "note" },
            comment.public,
            serde_json::json!({
                "comment_id": comment_id, "body": body,
                "author": author.as_ref().map(|a| a.email.clone()), "time_spent_minutes": 0,
            }),
        );
        let staff = author
            .as_ref()
            .is_some_and(|a| a.role != Role::Customer.as_str());
        if comment.public && staff {
            first_response.get_or_insert(at);
        }
        last = last.max(at);
    }
    if lifecycle.status() != TicketStatus::New {
        let fields = &store::get(tx.conn, id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        last = last.max(finished_at);
        timeline(
            &mut batch,
            id,
            finished_at,
            tx.actor,
            "status_changed",
            true,
            serde_json::json!({
                "from": TicketStatus::New.as_str(), "to": fields.status,
                "pending_reason": fields.pending_reason, "resolution_code": fields.resolution_code,
                "resolution_note": fields.resolution_note,
            }),
        );
    }
    store::record_import(&mut batch, &ticket.external_id, id, tx.now);
    batch.run(tx.conn).await?;
    store::touch(tx.conn, id, last, first_response, 0).await?;
    Ok(id)
}

impl App {
    /// What importing `lines` would do (admins): the tickets imported before, what the
    /// file names that does not exist, and the lines that cannot be imported. Writes nothing.
    pub async fn plan_import(
        &self,
        principal: &Principal,
        lines: &[ImportLine],
    ) -> Result<ImportPlan, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        let catalog = crate::catalog::current(&mut conn).await?;
        let mut findings = Findings::default();
        let mut ids = HashSet::new();
        for ImportLine { line, ticket } in lines {
            if ticket.external_id.trim().is_empty() {
                findings.problem(*line, "external_id is empty");
            } else if !ids.insert(ticket.external_id.as_str()) {
                findings.problem(
                    *line,
                    format!(
                        "external_id `{}` appears twice in the file",
                        ticket.external_id
                    ),
                );
            }
        }
        let ids: Vec<&str> = ids.into_iter().collect();
        let imported = store::imported(&mut conn, &ids).await?;
        let mut lookups = Lookups {
            catalog: &catalog,
            users: HashMap::new(),
            organizations: HashMap::new(),
            domains: HashMap::new(),
        };
        for line in lines {
            if !imported.contains(&line.ticket.external_id) {
                check_line(&mut conn, &mut lookups, &mut findings, line).await?;
            }
        }
        Ok(ImportPlan {
            tickets: lines.len(),
            already_imported: imported.len(),
            missing: findings.missing,
            problems: findings.problems,
        })
    }

    /// Creates what a plan found missing (admins): organizations, then categories (parents
    /// first), groups (tier 1) and people (without a password: they sign in once an admin
    /// sets one, or through a token).
    pub async fn create_missing(
        &self,
        principal: &Principal,
        missing: &[Missing],
    ) -> Result<(), AppError> {
        for item in missing {
            if let Missing::Organization { name, line } = item {
                let input = crate::accounts::NewOrganization {
                    name: name.clone(),
                    domain: None,
                    priority_matrix: None,
                    customers_see_all: false,
                };
                self.create_organization(principal, input)
                    .await
                    .map_err(|e| on_line(*line, e))?;
            }
        }
        for item in missing {
            match item {
                Missing::Category { path, line } => {
                    let parts: Vec<&str> = path.split('/').collect();
                    for depth in 1..=parts.len() {
                        let prefix = parts[..depth].join("/");
                        if category_by_path(self.catalog().await?.as_ref(), &prefix).is_ok() {
                            continue;
                        }
                        let input = NewCategory {
                            name: parts[depth - 1].to_owned(),
                            parent: (depth > 1).then(|| parts[..depth - 1].join("/")),
                        };
                        self.create_category(principal, input)
                            .await
                            .map_err(|e| on_line(*line, e))?;
                    }
                }
                Missing::Group { name, line } => {
                    let input = NewGroup {
                        name: name.clone(),
                        tier: 1,
                        description: String::new(),
                        members: Vec::new(),
                    };
                    self.create_group(principal, input)
                        .await
                        .map_err(|e| on_line(*line, e))?;
                }
                Missing::Person {
                    email,
                    role,
                    organization,
                    line,
                    named,
                } => {
                    let input = crate::accounts::NewUserInput {
                        email: email.clone(),
                        name: if *named {
                            name_from_address(email)
                        } else {
                            "Unknown requester".into()
                        },
                        role: role.as_str().to_owned(),
                        organization: organization
                            .clone()
                            .map(crate::accounts::OrganizationRef::Name),
                        organizations: Vec::new(),
                        password: None,
                    };
                    self.create_user(principal, input)
                        .await
                        .map_err(|e| on_line(*line, e))?;
                }
                Missing::Organization { .. } => {}
            }
        }
        Ok(())
    }

    /// Imports `lines` in one transaction (admins), skipping those imported before; returns
    /// how many it imported. Everything the lines name must exist (see [`App::plan_import`]).
    pub async fn import_tickets(
        &self,
        principal: &Principal,
        lines: Vec<ImportLine>,
    ) -> Result<usize, AppError> {
        let limit = self.config().max_attachment_bytes;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                tx.notify = false;
                tx.webhooks = false;
                tx.rule_depth = None;
                let ids: Vec<&str> = lines
                    .iter()
                    .map(|l| l.ticket.external_id.as_str())
                    .collect();
                let imported = store::imported(tx.conn, &ids).await?;
                let mut count = 0;
                for ImportLine { line, ticket } in lines {
                    if imported.contains(&ticket.external_id) {
                        continue;
                    }
                    write_imported(&mut tx, ticket, limit)
                        .await
                        .map_err(|e| on_line(line, e))?;
                    count += 1;
                }
                Ok(count)
            })
        })
        .await
    }

    /// The tickets `external_ids` became, with their conversation and files (admins), to
    /// reconcile an import with its source. Ids never imported are left out.
    pub async fn imported_tickets(
        &self,
        principal: &Principal,
        external_ids: &[&str],
    ) -> Result<Vec<StoredImport>, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        let mut stored = Vec::new();
        for (external_id, ticket_id) in store::tickets_of(&mut conn, external_ids).await? {
            let Some(row) = store::get(&mut conn, ticket_id).await? else {
                continue;
            };
            let comments = store::comments(&mut conn, ticket_id, false)
                .await?
                .into_iter()
                .map(|c| StoredComment {
                    body: c.body,
                    public: c.public != 0,
                })
                .collect();
            let mut files = Vec::new();
            for file in attachment_store::of_ticket(&mut conn, ticket_id, false).await? {
                let data = attachment_store::content(&mut conn, &file.sha256)
                    .await?
                    .unwrap_or_default();
                files.push(StoredFile {
                    filename: file.filename,
                    data,
                });
            }
            stored.push(StoredImport {
                external_id,
                number: number_of(&row.ticket_type, row.number),
                title: row.title,
                description: row.description,
                comments,
                files,
            });
        }
        Ok(stored)
    }

    async fn catalog(&self) -> Result<std::sync::Arc<Catalog>, AppError> {
        let mut conn = self.db().reader().await?;
        crate::catalog::current(&mut conn).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_priority_maps_to_a_pair_that_gives_it_and_p3_is_the_balanced_one() {
        for priority in Priority::ALL {
            let (impact, urgency) = cells_for(*priority);
            assert_eq!(PriorityMatrix::ITIL.priority(impact, urgency), *priority);
        }
        assert_eq!(cells_for(Priority::P3), (Impact::Medium, Urgency::Medium));
    }

    #[test]
    fn a_person_known_only_by_address_gets_a_readable_name() {
        assert_eq!(name_from_address("jane.doe@acme.example"), "Jane Doe");
        assert_eq!(name_from_address("ops_team-2@x.example"), "Ops Team 2");
    }

    #[test]
    fn a_ticket_without_requester_is_its_organizations_placeholders() {
        assert_eq!(
            placeholder_requester("Acme Corp."),
            "unknown-requester@acme-corp.invalid"
        );
    }

    #[test]
    fn the_status_follows_the_resolution_date_and_refuses_contradictions() {
        let mut ticket: ImportTicket = serde_json::from_value(serde_json::json!({
            "external_id": "1", "title": "VPN down",
            "created_at": "2026-01-05T10:00:00Z", "resolved_at": "2026-01-05T12:00:00Z",
        }))
        .unwrap();
        let (lifecycle, at) = lifecycle_for(&ticket).unwrap();
        assert_eq!(lifecycle.status(), TicketStatus::Resolved);
        assert_eq!(at, Some(1_767_614_400_000));
        ticket.status = Some("open".into());
        assert!(lifecycle_for(&ticket).unwrap_err().contains("resolved_at"));
        ticket.status = None;
        ticket.created_at = Some("2026-01-06T00:00:00Z".parse().unwrap());
        assert!(lifecycle_for(&ticket).unwrap_err().contains("before"));
    }
}
