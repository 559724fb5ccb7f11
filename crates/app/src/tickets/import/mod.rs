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

/// Tickets written per transaction: large enough to be fast, small enough that a server
/// sharing the database keeps answering between them.
const IMPORT_CHUNK: usize = 250;

impl ImportPlan {
    /// The lines that stop the import, by line: the plan's problems and, unless the
    /// importer agreed to create them, what the file names that does not exist, each
    /// followed by `how` to agree (`--create-missing creates it`).
    pub fn refusals(&self, create_missing: bool, how: &str) -> Vec<LineProblem> {
        let mut refusals = self.problems.clone();
        if !create_missing {
            refusals.extend(
                self.missing
                    .iter()
                    .filter(|m| m.named())
                    .map(|missing| LineProblem {
                        line: missing.line(),
                        message: format!("{missing} does not exist ({how})"),
                    }),
            );
        }
        refusals.sort_by_key(|p| p.line);
        refusals
    }

    /// What the import creates: people the file only mentions (commenters), and, when the
    /// importer agreed, everything else it names that does not exist.
    pub fn to_create(&self, create_missing: bool) -> Vec<&Missing> {
        self.missing
            .iter()
            .filter(|m| create_missing || !m.named())
            .collect()
    }

    /// The tickets an import writes: those not imported before.
    pub fn to_import(&self) -> usize {
        self.tickets - self.already_imported
    }
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

mod check;
mod file;
mod messages;

pub use file::{TicketFile, TicketFileError, is_csv_name, read_ticket_file};

use check::*;
use messages::*;

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
    /// Writes a planned import whose [`ImportPlan::refusals`] are none: creates what it
    /// needs, then the tickets a chunk at a time, telling `progress` how many lines each
    /// chunk held. Returns how many tickets were imported (those imported before are
    /// skipped).
    pub async fn write_import(
        &self,
        principal: &Principal,
        plan: &ImportPlan,
        mut lines: Vec<ImportLine>,
        mut progress: impl FnMut(usize),
    ) -> Result<usize, AppError> {
        self.create_missing(principal, &plan.missing).await?;
        let mut imported = 0;
        while !lines.is_empty() {
            let chunk: Vec<ImportLine> = lines.drain(..lines.len().min(IMPORT_CHUNK)).collect();
            let size = chunk.len();
            imported += self.import_tickets(principal, chunk).await?;
            progress(size);
        }
        Ok(imported)
    }

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
