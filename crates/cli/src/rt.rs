//! `opsdesk import rt`: tickets from Request Tracker through its REST2 API, with their
//! correspondence, comments, files and Message-IDs, written by the same import as
//! `opsdesk import tickets`, and a reconciliation of what RT has against what opsdesk kept.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use opsdesk_app::tickets::{ImportComment, ImportFile, ImportLine, ImportTicket, StoredImport};
use opsdesk_app::{App, Principal};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{DatabaseArgs, load_config, open_app};

/// RT's page size limit for REST2 collections.
const PER_PAGE: &str = "100";

/// Tickets whose transactions and attachments are read together (see
/// [`Rt::tickets_with_history`]); a hundred ids keep the search's URL short.
const TICKETS_PER_READ: usize = 100;

/// Most notes (fields not imported) printed before the rest are counted.
const SHOWN_NOTES: usize = 20;

#[derive(Debug, clap::Args)]
pub(crate) struct RtArgs {
    /// RT's address, e.g. https://rt.example.com (its REST2 API is under /REST/2.0).
    #[arg(long)]
    url: String,
    /// An RT auth token of a user who sees the tickets (RT: Settings → Auth Tokens).
    #[arg(long, env = "OPSDESK_RT_TOKEN", hide_env_values = true)]
    token: String,
    /// Only this queue's tickets.
    #[arg(long)]
    queue: Option<String>,
    /// Only tickets updated on or after this day (YYYY-MM-DD).
    #[arg(long)]
    since: Option<jiff::civil::Date>,
    /// Only tickets in these RT statuses (comma-separated, e.g. `open,stalled`).
    #[arg(long, value_delimiter = ',')]
    status: Vec<String>,
    /// The organization of requesters who are not users here; without it, each such
    /// requester's mail domain names theirs.
    #[arg(long)]
    organization: Option<String>,
    /// Fetch and check everything and show what would be imported and created, writing
    /// nothing.
    #[arg(long)]
    dry_run: bool,
    /// Create the groups, organizations and people the tickets name that do not exist
    /// (people without a password); without it such tickets are refused.
    #[arg(long)]
    create_missing: bool,
    /// Also write the reconciliation report, per ticket, as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Batches of tickets read from RT at the same time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// RT's REST2 API with a token.
struct Rt {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Rt {
    fn new(url: &str, token: &str) -> anyhow::Result<Rt> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("HTTP client")?;
        Ok(Rt {
            http,
            base: format!("{}/REST/2.0", url.trim_end_matches('/')),
            token: token.to_owned(),
        })
    }

    /// A GET, or with `search` a POST of a JSON search (REST2 takes a search's limits
    /// as the body so that long lists of ids need not fit in a URL).
    async fn request(
        &self,
        path: &str,
        query: &[(&str, &str)],
        search: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let request = match search {
            Some(body) => self.http.post(&url).json(body),
            None => self.http.get(&url),
        };
        let response = request
            .query(query)
            .header("Authorization", format!("token {}", self.token))
            .send()
            .await
            .with_context(|| format!("cannot reach RT at {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading {url}"))?;
        if !status.is_success() {
            let excerpt: String = text.chars().take(300).collect();
            bail!("RT answered {status} for {url}: {excerpt}");
        }
        serde_json::from_str(&text).with_context(|| format!("RT's answer for {url} is not JSON"))
    }

    /// Every item of a collection, page after page.
    async fn all(
        &self,
        path: &str,
        query: &[(&str, &str)],
        search: Option<&Value>,
    ) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        for page in 1.. {
            let page_text = page.to_string();
            let mut query = query.to_vec();
            query.extend([("per_page", PER_PAGE), ("page", page_text.as_str())]);
            let body = self.request(path, &query, search).await?;
            let batch = body["items"].as_array().cloned().unwrap_or_default();
            let done = batch.is_empty() || body["pages"].as_u64().is_none_or(|p| page >= p);
            items.extend(batch);
            if done {
                break;
            }
        }
        Ok(items)
    }

    /// The tickets the filters select, oldest first, with their fields (the search
    /// expands people to their addresses, which a single ticket's record does not).
    async fn tickets(&self, args: &RtArgs) -> anyhow::Result<Vec<Value>> {
        let query = ticket_sql(args);
        self.all(
            "/tickets",
            &[
                ("query", &query),
                ("orderby", "id"),
                ("order", "ASC"),
                (
                    "fields",
                    "Subject,Status,Queue,Priority,Requestor,Cc,AdminCc,Owner,Created,Resolved,\
                     CustomFields",
                ),
                ("fields[Queue]", "Name"),
                ("fields[Requestor]", "EmailAddress"),
                ("fields[Cc]", "EmailAddress"),
                ("fields[AdminCc]", "EmailAddress"),
                ("fields[Owner]", "EmailAddress"),
            ],
            None,
        )
        .await
    }

    /// Tickets of [`Rt::tickets`] with their transactions and those transactions'
    /// attachments: one search for the transactions of all of them and two for the
    /// attachments (the messages', the sent mail's), each paged, rather than two requests
    /// per ticket, since RT checks the token (a bcrypt hash) on every request and that is
    /// what an import waits on.
    async fn tickets_with_history(&self, found: &[Value]) -> anyhow::Result<Vec<RtTicket>> {
        let ids: Vec<u64> = found
            .iter()
            .map(|t| number(&t["id"]))
            .collect::<anyhow::Result<_>>()?;
        let history = self
            .all(
                "/transactions",
                &[
                    ("query", &history_sql(&ids)),
                    ("orderby", "id"),
                    ("order", "ASC"),
                    ("fields", "ObjectId,Type,Creator,Created"),
                    ("fields[Creator]", "EmailAddress"),
                ],
                None,
            )
            .await?;
        // Of the mail RT sent only the Message-ID is kept, which its top part holds: its
        // text and files (most of a ticket's attachments) are not read at all.
        let (mut sent, mut messages) = (Vec::new(), Vec::new());
        for transaction in &history {
            let id = number(&transaction["id"])?;
            if transaction["Type"] == "EmailRecord" {
                sent.push(id);
            } else {
                messages.push(id);
            }
        }
        let mut attachments = self
            .attachments(
                &messages,
                "TransactionId,ContentType,Filename,Content,MessageId,Headers",
                false,
            )
            .await?;
        attachments.extend(
            self.attachments(&sent, "TransactionId,MessageId", true)
                .await?,
        );
        let mut history_of: HashMap<u64, Vec<Value>> = HashMap::new();
        let mut ticket_of_transaction = HashMap::new();
        for transaction in history {
            let ticket = number(&transaction["ObjectId"])?;
            ticket_of_transaction.insert(number(&transaction["id"])?, ticket);
            history_of.entry(ticket).or_default().push(transaction);
        }
        let mut attachments_of: HashMap<u64, Vec<Value>> = HashMap::new();
        for attachment in attachments {
            let transaction = number(&attachment["TransactionId"])?;
            if let Some(ticket) = ticket_of_transaction.get(&transaction) {
                attachments_of.entry(*ticket).or_default().push(attachment);
            }
        }
        found
            .iter()
            .zip(ids)
            .map(|(ticket, id)| {
                let history = history_of.remove(&id).unwrap_or_default();
                let attachments = attachments_of.remove(&id).unwrap_or_default();
                RtTicket::from_api(id, ticket, &history, &attachments)
                    .with_context(|| format!("RT ticket {id}"))
            })
            .collect()
    }

    /// The attachments of transactions `ids` with `fields`, or with `top_only` only the
    /// top part of each (the one that holds a mail's headers).
    async fn attachments(
        &self,
        ids: &[u64],
        fields: &str,
        top_only: bool,
    ) -> anyhow::Result<Vec<Value>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut search = vec![serde_json::json!(
            {"field": "TransactionId", "operator": "IN", "value": ids}
        )];
        if top_only {
            search.push(serde_json::json!({"field": "Parent", "value": 0}));
        }
        self.all(
            "/attachments",
            &[("orderby", "id"), ("order", "ASC"), ("fields", fields)],
            Some(&Value::Array(search)),
        )
        .await
    }
}

/// The TransactionSQL for the messages of tickets `ids` and the mail RT sent about them.
fn history_sql(ids: &[u64]) -> String {
    let tickets: Vec<String> = ids.iter().map(|id| format!("ObjectId = {id}")).collect();
    format!(
        "ObjectType = 'RT::Ticket' AND ({}) AND (Type = 'Create' OR Type = 'Correspond' OR \
         Type = 'Comment' OR Type = 'EmailRecord')",
        tickets.join(" OR ")
    )
}

/// The TicketSQL of the filters.
fn ticket_sql(args: &RtArgs) -> String {
    let quote = |value: &str| format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut terms = vec!["id > 0".to_owned()];
    if let Some(queue) = &args.queue {
        terms.push(format!("Queue = {}", quote(queue)));
    }
    if let Some(since) = args.since {
        terms.push(format!("LastUpdated >= {}", quote(&since.to_string())));
    }
    if !args.status.is_empty() {
        let statuses: Vec<String> = args
            .status
            .iter()
            .map(|s| format!("Status = {}", quote(s.trim())))
            .collect();
        terms.push(format!("({})", statuses.join(" OR ")));
    }
    terms.join(" AND ")
}

/// RT sends numbers as strings.
fn number(value: &Value) -> anyhow::Result<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .with_context(|| format!("RT sent {value} where a number belongs"))
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// RT's times; its "not set" is the epoch.
fn time(value: &Value) -> Option<Timestamp> {
    value
        .as_str()
        .and_then(|s| s.parse::<Timestamp>().ok())
        .filter(|t| t.as_second() > 0)
}

fn address(user: &Value) -> Option<String> {
    let email = user["EmailAddress"].as_str()?.trim();
    (!email.is_empty()).then(|| email.to_owned())
}

/// A message of a ticket: its opening, a reply (RT's correspondence) or a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Correspond,
    Comment,
}

#[derive(Debug)]
struct RtMessage {
    kind: Kind,
    author: Option<String>,
    at: Option<Timestamp>,
    message_id: Option<String>,
    body: String,
    files: Vec<ImportFile>,
}

#[derive(Debug)]
struct RtTicket {
    id: u64,
    subject: String,
    status: String,
    queue: Option<String>,
    priority: i64,
    requestors: Vec<String>,
    created: Option<Timestamp>,
    resolved: Option<Timestamp>,
    messages: Vec<RtMessage>,
    /// Message-IDs of the mail RT sent about it.
    sent: Vec<String>,
    /// What RT has that the import leaves out.
    notes: Vec<String>,
}

/// The value of header `name` in RT's header block.
fn header(headers: &str, name: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// An attachment's bytes. REST2 collections send content as a JSON string: text parts
/// decoded into characters, other parts one character per byte (as RT keeps them).
fn content_bytes(content_type: &str, content: &str) -> Vec<u8> {
    if !content_type.starts_with("text/") && content.chars().all(|c| u32::from(c) <= 0xFF) {
        content.chars().map(|c| c as u8).collect()
    } else {
        content.as_bytes().to_vec()
    }
}

impl RtTicket {
    fn from_api(
        id: u64,
        ticket: &Value,
        history: &[Value],
        attachments: &[Value],
    ) -> anyhow::Result<RtTicket> {
        let mut notes = Vec::new();
        let mut parts: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
        for attachment in attachments {
            parts
                .entry(number(&attachment["TransactionId"])?)
                .or_default()
                .push(attachment);
        }
        let mut messages = Vec::new();
        let mut sent = Vec::new();
        for transaction in history {
            let parts = parts
                .get(&number(&transaction["id"])?)
                .map_or(&[][..], Vec::as_slice);
            let message_id = parts
                .iter()
                .map(|p| text(&p["MessageId"]))
                .find(|m| !m.is_empty());
            let kind = match transaction["Type"].as_str().unwrap_or_default() {
                "Create" => Kind::Create,
                "Correspond" => Kind::Correspond,
                "Comment" => Kind::Comment,
                "EmailRecord" => {
                    sent.extend(message_id);
                    continue;
                }
                _ => continue,
            };
            let mut body = None;
            let mut files = Vec::new();
            for part in parts {
                let content_type = text(&part["ContentType"]).to_lowercase();
                let filename = text(&part["Filename"]);
                if content_type.starts_with("multipart/") {
                    continue;
                }
                let is_body = filename.is_empty()
                    && body.is_none()
                    && (content_type == "text/plain" || content_type == "text/html");
                if is_body {
                    body = Some(text(&part["Content"]));
                    continue;
                }
                let data = content_bytes(&content_type, part["Content"].as_str().unwrap_or(""));
                if data.is_empty() {
                    notes.push(format!("empty file `{filename}` (nothing to keep)"));
                    continue;
                }
                let headers = text(&part["Headers"]);
                let content_id = header(&headers, "Content-ID")
                    .map(|c| c.trim_matches(['<', '>']).to_owned())
                    .filter(|c| !c.is_empty());
                let inline = content_id.is_some()
                    && header(&headers, "Content-Disposition")
                        .is_none_or(|d| d.to_lowercase().starts_with("inline"));
                files.push(ImportFile {
                    filename: if filename.is_empty() {
                        format!("part-{}", number(&part["id"]).unwrap_or_default())
                    } else {
                        filename
                    },
                    content_type,
                    content_id,
                    inline,
                    data,
                });
            }
            let body = body.unwrap_or_default();
            // A reply or comment with neither text nor files says nothing.
            if kind != Kind::Create && body.trim().is_empty() && files.is_empty() {
                continue;
            }
            messages.push(RtMessage {
                kind,
                author: address(&transaction["Creator"]),
                at: time(&transaction["Created"]),
                message_id,
                body,
                files,
            });
        }
        let requestors: Vec<String> = ticket["Requestor"]
            .as_array()
            .map(|r| r.iter().filter_map(address).collect())
            .unwrap_or_default();
        if requestors.len() > 1 {
            notes.push(format!(
                "requestors after the first: {}",
                requestors[1..].join(", ")
            ));
        }
        for role in ["Cc", "AdminCc"] {
            let watchers: Vec<String> = ticket[role]
                .as_array()
                .map(|r| r.iter().filter_map(address).collect())
                .unwrap_or_default();
            if !watchers.is_empty() {
                notes.push(format!("{role}: {}", watchers.join(", ")));
            }
        }
        for field in ticket["CustomFields"].as_array().into_iter().flatten() {
            let values = field["values"].as_array().map_or(0, Vec::len);
            if values > 0 {
                notes.push(format!("custom field `{}`", text(&field["name"])));
            }
        }
        if let Some(owner) = address(&ticket["Owner"]) {
            notes.push(format!("owner {owner}"));
        }
        Ok(RtTicket {
            id,
            subject: text(&ticket["Subject"]),
            status: text(&ticket["Status"]),
            queue: ticket["Queue"]["Name"].as_str().map(str::to_owned),
            priority: number(&ticket["Priority"]).map_or(0, |p| i64::try_from(p).unwrap_or(0)),
            requestors,
            created: time(&ticket["Created"]),
            resolved: time(&ticket["Resolved"]),
            messages,
            sent,
            notes,
        })
    }

    fn external_id(&self) -> String {
        format!("rt-{}", self.id)
    }

    /// The ticket as the import takes it; what does not map is added to its notes.
    fn import_line(&mut self, organization: Option<&str>) -> ImportLine {
        let status = match self.status.as_str() {
            "new" => "new",
            "open" => "open",
            "stalled" => "pending",
            "resolved" => "resolved",
            "rejected" | "deleted" => "cancelled",
            other => {
                self.notes
                    .push(format!("status `{other}` (imported as open)"));
                "open"
            }
        };
        let finished = matches!(status, "resolved" | "cancelled");
        let requester = self.requestors.first().cloned();
        let organization = organization.map(str::to_owned).or_else(|| {
            requester
                .as_deref()
                .and_then(|r| r.rsplit_once('@'))
                .map(|(_, domain)| domain.to_lowercase())
        });
        let opening = self.messages.iter().find(|m| m.kind == Kind::Create);
        let comments = self
            .messages
            .iter()
            .filter(|m| m.kind != Kind::Create)
            .map(|m| ImportComment {
                body: m.body.clone(),
                public: m.kind == Kind::Correspond,
                author: m.author.clone(),
                at: m.at,
                message_id: m.message_id.clone(),
                files: m.files.clone(),
            })
            .collect();
        let ticket = ImportTicket {
            external_id: self.external_id(),
            ticket_type: "incident".into(),
            title: title_of(&self.subject),
            description: opening.map(|m| m.body.clone()).unwrap_or_default(),
            category: None,
            group: self.queue.clone(),
            priority: priority_of(self.priority).map(str::to_owned),
            status: Some(status.to_owned()),
            resolution_code: None,
            resolution_note: None,
            requester,
            organization,
            created_at: self.created,
            resolved_at: if finished { self.resolved } else { None },
            comments,
            tags: vec![self.external_id()],
            message_id: opening.and_then(|m| m.message_id.clone()),
            sent_message_ids: self.sent.clone(),
            files: opening.map(|m| m.files.clone()).unwrap_or_default(),
        };
        ImportLine {
            line: usize::try_from(self.id).unwrap_or(usize::MAX),
            ticket,
        }
    }

    /// What RT has of it, counted and hashed as [`stored_tally`] counts what opsdesk kept.
    fn tally(&self) -> Tally {
        let mut counting = Counting::new(&title_of(&self.subject));
        if !self.messages.iter().any(|m| m.kind == Kind::Create) {
            // opsdesk's ticket opens with a description all the same: an empty one.
            counting.message(true, "");
        }
        for message in &self.messages {
            counting.message(message.kind != Kind::Comment, &message.body);
        }
        for file in self.messages.iter().flat_map(|m| &m.files) {
            counting.file(&file.data);
        }
        counting.finish()
    }
}

/// A ticket needs a title; RT's may be empty.
fn title_of(subject: &str) -> String {
    if subject.trim().is_empty() {
        "(no subject)".into()
    } else {
        subject.trim().to_owned()
    }
}

/// RT's priority (0–100, 0 when unset) in the ITIL scale; unset leaves the import's default.
fn priority_of(priority: i64) -> Option<&'static str> {
    match priority {
        80.. => Some("P1"),
        60..=79 => Some("P2"),
        40..=59 => Some("P3"),
        20..=39 => Some("P4"),
        1..=19 => Some("P5"),
        _ => None,
    }
}

/// Counts and a content hash of one ticket: its title, its messages' text (trimmed, as
/// opsdesk keeps it) and its files' bytes, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Tally {
    messages: usize,
    comments: usize,
    attachments: usize,
    sha256: String,
}

/// A [`Tally`] being counted.
struct Counting {
    tally: Tally,
    hasher: Sha256,
}

impl Counting {
    fn new(title: &str) -> Counting {
        let mut counting = Counting {
            tally: Tally {
                messages: 0,
                comments: 0,
                attachments: 0,
                sha256: String::new(),
            },
            hasher: Sha256::new(),
        };
        counting.text(title);
        counting
    }

    fn message(&mut self, public: bool, body: &str) {
        if public {
            self.tally.messages += 1;
        } else {
            self.tally.comments += 1;
        }
        self.text(body);
    }

    fn text(&mut self, text: &str) {
        self.part(text.trim().as_bytes());
    }

    fn file(&mut self, data: &[u8]) {
        self.tally.attachments += 1;
        self.part(data);
    }

    /// Each part with its length first, so that parts cannot run into each other.
    fn part(&mut self, data: &[u8]) {
        self.hasher.update((data.len() as u64).to_be_bytes());
        self.hasher.update(data);
    }

    fn finish(self) -> Tally {
        Tally {
            sha256: hex::encode(self.hasher.finalize()),
            ..self.tally
        }
    }
}

/// What opsdesk kept of a ticket, counted and hashed as [`RtTicket::tally`] counts RT's.
fn stored_tally(stored: &StoredImport) -> Tally {
    let mut counting = Counting::new(&stored.title);
    counting.message(true, &stored.description);
    for comment in &stored.comments {
        counting.message(comment.public, &comment.body);
    }
    for file in &stored.files {
        counting.file(&file.data);
    }
    counting.finish()
}

/// One ticket of the reconciliation: RT's counts and hash against opsdesk's.
#[derive(Debug, Serialize)]
struct Reconciled {
    rt_id: u64,
    /// The opsdesk ticket it became; none when it is missing.
    number: Option<String>,
    rt: Tally,
    opsdesk: Option<Tally>,
    /// What differs; empty when opsdesk has all of it.
    differences: Vec<String>,
    /// What RT has that the import does not bring (owner, watchers, custom fields).
    not_imported: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Totals {
    tickets: usize,
    messages: usize,
    comments: usize,
    attachments: usize,
}

impl Totals {
    fn add(&mut self, tally: &Tally) {
        self.tickets += 1;
        self.messages += tally.messages;
        self.comments += tally.comments;
        self.attachments += tally.attachments;
    }
}

#[derive(Debug, Serialize)]
struct Report {
    rt: String,
    nothing_missing: bool,
    rt_totals: Totals,
    opsdesk_totals: Totals,
    tickets: Vec<Reconciled>,
}

fn differences(rt: &Tally, stored: Option<&Tally>) -> Vec<String> {
    let Some(stored) = stored else {
        return vec!["not in opsdesk".into()];
    };
    let mut found = Vec::new();
    for (what, theirs, ours) in [
        ("messages", rt.messages, stored.messages),
        ("comments", rt.comments, stored.comments),
        ("attachments", rt.attachments, stored.attachments),
    ] {
        if theirs != ours {
            found.push(format!("{what}: RT {theirs}, opsdesk {ours}"));
        }
    }
    if rt.sha256 != stored.sha256 {
        found.push("content hash differs".into());
    }
    found
}

/// Compares every ticket fetched from RT with what opsdesk keeps of it.
async fn reconcile(
    app: &App,
    importer: &Principal,
    url: &str,
    tickets: &[RtTicket],
) -> anyhow::Result<Report> {
    let ids: Vec<String> = tickets.iter().map(RtTicket::external_id).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let stored: HashMap<String, StoredImport> = app
        .imported_tickets(importer, &ids)
        .await
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|s| (s.external_id.clone(), s))
        .collect();
    let mut report = Report {
        rt: url.to_owned(),
        nothing_missing: true,
        rt_totals: Totals::default(),
        opsdesk_totals: Totals::default(),
        tickets: Vec::new(),
    };
    for ticket in tickets {
        let rt = ticket.tally();
        let kept = stored.get(&ticket.external_id());
        let ours = kept.map(stored_tally);
        report.rt_totals.add(&rt);
        if let Some(ours) = &ours {
            report.opsdesk_totals.add(ours);
        }
        let differences = differences(&rt, ours.as_ref());
        report.nothing_missing &= differences.is_empty();
        report.tickets.push(Reconciled {
            rt_id: ticket.id,
            number: kept.map(|s| s.number.clone()),
            rt,
            opsdesk: ours,
            differences,
            not_imported: ticket.notes.clone(),
        });
    }
    Ok(report)
}

fn print_report(report: &Report) {
    let (rt, ours) = (&report.rt_totals, &report.opsdesk_totals);
    println!("reconciliation with {}:", report.rt);
    println!(
        "  RT:      {} tickets, {} messages, {} comments, {} attachments",
        rt.tickets, rt.messages, rt.comments, rt.attachments
    );
    println!(
        "  opsdesk: {} tickets, {} messages, {} comments, {} attachments",
        ours.tickets, ours.messages, ours.comments, ours.attachments
    );
    let notes: Vec<String> = report
        .tickets
        .iter()
        .flat_map(|t| {
            t.not_imported
                .iter()
                .map(move |n| format!("RT #{}: {n}", t.rt_id))
        })
        .collect();
    if !notes.is_empty() {
        println!("  not imported (kept in RT only):");
        for note in notes.iter().take(SHOWN_NOTES) {
            println!("    {note}");
        }
        if notes.len() > SHOWN_NOTES {
            println!("    … and {} more", notes.len() - SHOWN_NOTES);
        }
    }
    if report.nothing_missing {
        println!("  nothing missing");
        return;
    }
    println!("  differences:");
    for ticket in report.tickets.iter().filter(|t| !t.differences.is_empty()) {
        println!(
            "    RT #{}: {}",
            ticket.rt_id,
            ticket.differences.join("; ")
        );
    }
}

pub(crate) async fn import(args: RtArgs) -> anyhow::Result<()> {
    let rt = Rt::new(&args.url, &args.token)?;
    let found = rt.tickets(&args).await?;
    let progress = indicatif::ProgressBar::new(found.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} tickets read from RT, {per_sec}, {eta} left",
        )
        .context("progress bar template")?,
    );
    let batches: Vec<Vec<RtTicket>> = futures::stream::iter(found.chunks(TICKETS_PER_READ))
        .map(|batch| {
            let rt = &rt;
            let progress = &progress;
            async move {
                let tickets = rt.tickets_with_history(batch).await?;
                progress.inc(batch.len() as u64);
                anyhow::Ok(tickets)
            }
        })
        .buffered(usize::from(args.concurrency))
        .try_collect()
        .await?;
    let mut tickets: Vec<RtTicket> = batches.into_iter().flatten().collect();
    progress.finish_and_clear();
    let lines: Vec<ImportLine> = tickets
        .iter_mut()
        .map(|t| t.import_line(args.organization.as_deref()))
        .collect();

    let app = open_app(&load_config(&args.database, None)?).await?;
    let outcome = import_and_reconcile(&app, &args, lines, &tickets).await;
    app.db().clone().close().await;
    let Some(report) = outcome? else {
        return Ok(());
    };
    print_report(&report);
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !report.nothing_missing {
        bail!("the reconciliation found tickets that are not complete in opsdesk");
    }
    Ok(())
}

/// Imports the lines and reconciles them with RT; no report on a dry run.
async fn import_and_reconcile(
    app: &App,
    args: &RtArgs,
    lines: Vec<ImportLine>,
    tickets: &[RtTicket],
) -> anyhow::Result<Option<Report>> {
    let source = format!("RT {}", args.url);
    crate::import::import_lines(
        app,
        &source,
        "RT ticket",
        lines,
        args.dry_run,
        args.create_missing,
    )
    .await?;
    if args.dry_run {
        return Ok(None);
    }
    let importer = Principal::system("import");
    reconcile(app, &importer, &args.url, tickets)
        .await
        .map(Some)
}
