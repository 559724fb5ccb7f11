//! The agent console: queues with live counts, the ticket list (search language, sorting,
//! bulk changes) and the ticket page (timeline, reply and note composer, canned responses,
//! status, priority, group and assignee controls, related tickets).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::tickets::{
    Attachment, Macro, NewComment, Queue, Ticket, TicketPatch, TimelineEntry,
};
use opsdesk_app::{AppError, Principal};
use opsdesk_domain::account::Role;
use opsdesk_domain::ticket::{Impact, PendingReason, TicketStatus};
use serde::Deserialize;

use super::countdown::Countdown;
use super::operations::{OperationForms, TicketOperations};
use super::problems::ProblemPanel;
use super::security::SecurityPanel;
use super::{Chrome, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(list))
        .route("/tickets/bulk", post(bulk))
        .route("/tickets/{number}", get(show))
        .route("/tickets/{number}/comment", post(comment))
        .route("/tickets/{number}/macro", post(apply_macro))
        .route("/tickets/{number}/update", post(update))
        .route(
            "/tickets/{number}/major-incident",
            post(open_major_incident),
        )
        .route("/tickets/{number}/delete", post(delete))
}

/// Tickets per page of the list.
const PAGE_SIZE: i64 = 50;
/// The list's query when none is given.
const DEFAULT_QUERY: &str = "is:open";
/// Resolution codes offered in the status control; the API accepts any well-formed code.
pub(crate) const RESOLUTION_CODES: &[&str] =
    &["fixed", "workaround", "no_fault_found", "duplicate"];
/// Orders offered above the list (`sort:` in the query language).
const SORTS: &[&str] = &["-updated", "-created", "priority", "created"];

/// A ticket as one row of a list.
pub(crate) struct Row {
    pub number: String,
    pub title: String,
    pub status: String,
    pub priority: String,
    pub requester: String,
    pub organization: String,
    pub group: String,
    pub assignee: String,
    pub updated: String,
    /// Response and resolution countdowns; empty when no policy covers the ticket.
    pub sla: Vec<Countdown>,
}

impl Row {
    /// `t` as a list row for the person of `l`, its countdowns as of `now`.
    pub(crate) fn of(t: &Ticket, now: jiff::Timestamp, l: &super::Locale) -> Self {
        Row {
            number: t.number.clone(),
            title: t.title.clone(),
            status: t.status.to_string(),
            priority: t.priority.to_string(),
            requester: t.requester.name.clone(),
            organization: t
                .organization
                .as_ref()
                .map(|o| o.name.clone())
                .unwrap_or_default(),
            group: t.group.as_ref().map(|g| g.name.clone()).unwrap_or_default(),
            assignee: t
                .assignee
                .as_ref()
                .map(|a| a.email.clone())
                .unwrap_or_default(),
            updated: l.when(t.updated_at),
            sla: Countdown::of_ticket(t, now),
        }
    }
}

#[derive(Template)]
#[template(path = "tickets.html")]
struct ListPage {
    c: Chrome,
    queues: Vec<Queue>,
    q: String,
    sort: String,
    sorts: &'static [&'static str],
    rows: Vec<Row>,
    next_cursor: Option<String>,
    groups: Vec<String>,
    statuses: &'static [&'static str],
    error: Option<String>,
}

#[derive(Deserialize)]
struct ListParams {
    q: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    /// The ticket just deleted, to say so.
    deleted: Option<String>,
}

/// The query the list runs: the typed one plus the chosen order, unless it names its own.
fn effective_query(q: &str, sort: &str) -> String {
    if sort.is_empty() || q.contains("sort:") {
        q.to_owned()
    } else {
        format!("{q} sort:{sort}").trim().to_owned()
    }
}

async fn list(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    if !principal.role.is_staff() {
        return Ok(axum::response::IntoResponse::into_response(Redirect::to(
            "/portal",
        )));
    }
    let q = params.q.unwrap_or_else(|| DEFAULT_QUERY.to_owned());
    let sort = params.sort.unwrap_or_default();
    let l = super::Locale::of(&principal);
    let queues = state.app.queues(&principal).await?;
    let query = effective_query(&q, &sort);
    let (rows, next_cursor, error) = match state
        .app
        .search_tickets(&principal, &query, params.cursor.as_deref(), PAGE_SIZE)
        .await
    {
        Ok(page) => (
            page.items
                .iter()
                .map(|hit| Row::of(&hit.ticket, state.app.now(), &l))
                .collect(),
            page.next_cursor,
            None,
        ),
        // A query with a mistake shows the message next to the search box, not an error page.
        Err(AppError::QueryError { position, message }) => (
            Vec::new(),
            None,
            Some(format!(
                "{message} ({} {position})",
                super::Lang.t("list.at_position")
            )),
        ),
        Err(other) => return Err(other.into()),
    };
    let groups = state
        .app
        .groups(&principal)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let mut c = Chrome::new(&principal, super::Lang.t("list.title"));
    c.notice = params.deleted.map(|number| {
        super::Lang
            .t("ticket.delete.done")
            .replace("{number}", &number)
    });
    Ok(render(&ListPage {
        c,
        queues,
        q,
        sort,
        sorts: SORTS,
        rows,
        next_cursor,
        groups,
        statuses: TicketStatus::NAMES,
        error,
    }))
}

/// Applies one change to the ticked tickets, then shows the list again.
async fn bulk(State(state): State<AppState>, form: SignedForm) -> Result<Redirect, WebError> {
    let tickets = form.all("ticket");
    let mut patch = TicketPatch::default();
    match form.get("action") {
        "assign_me" => patch.assignee = Some(Some(form.principal.email.clone())),
        "unassign" => patch.assignee = Some(None),
        "group" => patch.group = Some(form.opt("group")),
        "status" => {
            patch.status = form.opt("status");
            if patch.status.as_deref() == Some("resolved") {
                patch.resolution_code = Some("fixed".into());
            }
        }
        _ => return Err(AppError::invalid("action", "choose what to change").into()),
    }
    if !tickets.is_empty() {
        state
            .app
            .bulk_update(&form.principal, tickets, patch)
            .await?;
    }
    Ok(Redirect::to(&format!(
        "/tickets?q={}",
        encode(form.get("q"))
    )))
}

/// Percent-encodes a query-string value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One entry of the timeline as the page shows it.
pub(crate) struct Item {
    pub at: String,
    pub who: String,
    pub kind: String,
    pub public: bool,
    /// The message, as safe HTML (written in Markdown).
    pub body: Option<String>,
    pub detail: String,
    /// The files of the message this entry shows, as download links.
    pub files: Vec<FileLink>,
}

/// A file next to the message that brought it.
pub(crate) struct FileLink {
    pub href: String,
    pub filename: String,
    pub size: String,
}

impl From<&Attachment> for FileLink {
    fn from(file: &Attachment) -> Self {
        FileLink {
            href: format!("/api/v1/attachments/{}", file.id),
            filename: file.filename.clone(),
            size: size_label(file.size),
        }
    }
}

/// A file size as people read it: `512 B`, `3.4 KB`, `12.0 MB` (powers of 1,024).
pub(crate) fn size_label(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{} B", bytes.max(0));
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl Item {
    /// `entry` as the person of `l` reads it.
    fn of(entry: TimelineEntry, l: &super::Locale) -> Self {
        let data = &entry.data;
        let text = |key: &str| data.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        // The audit label reads `user:3 <a@example.com>`; people want the address.
        let who = text("author").unwrap_or_else(|| {
            entry
                .actor
                .split_once('<')
                .and_then(|(_, rest)| rest.split_once('>'))
                .map_or_else(|| entry.actor.clone(), |(email, _)| email.to_owned())
        });
        // A file shown as a link needs no name and size in words as well.
        let detail = if entry.kind == "attachment" && !entry.attachments.is_empty() {
            String::new()
        } else {
            said(&entry.kind, data).unwrap_or_else(|| fields_in_words(data))
        };
        Item {
            files: entry.attachments.iter().map(FileLink::from).collect(),
            at: l.when(entry.at),
            who,
            kind: entry.kind,
            public: entry.public,
            body: text("body").map(|body| super::markdown::to_html(&body)),
            detail,
        }
    }
}

/// What a change did, as a sentence after the name of who did it ("changed the status from
/// New to Resolved (Fixed)"); `None` for entries without a sentence of their own.
fn said(kind: &str, data: &serde_json::Value) -> Option<String> {
    let l = super::Lang;
    let text = |key: &str| {
        data.get(key)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let or_none =
        |value: Option<&str>, none: &str| value.map_or_else(|| l.t(none).to_owned(), str::to_owned);
    let sentence = match kind {
        "status_changed" => {
            let mut sentence = l
                .t("timeline.said.status")
                .replace("{from}", &l.label("status", text("from")?))
                .replace("{to}", &l.label("status", text("to")?));
            if let Some(code) = text("resolution_code") {
                sentence.push_str(&format!(" ({})", l.label("resolution", code)));
            }
            if let Some(reason) = text("pending_reason") {
                sentence.push_str(&format!(" ({})", l.label("pending", reason)));
            }
            sentence
        }
        "escalated" => {
            let mut sentence = l
                .t("timeline.said.escalated")
                .replace("{from}", &or_none(text("from"), "timeline.said.no_group"))
                .replace("{to}", &or_none(text("to"), "timeline.said.no_group"));
            if let Some(reason) = text("reason") {
                sentence.push_str(&format!(": {reason}"));
            }
            sentence
        }
        "assigned" => match text("to") {
            Some(to) => l.t("timeline.said.assigned").replace("{to}", to),
            None => l.t("timeline.said.unassigned").to_owned(),
        },
        "created" => l
            .t("timeline.said.created")
            .replace("{number}", text("number")?)
            .replace("{priority}", text("priority")?)
            .replace("{via}", &l.label("via", text("source")?)),
        "reopened" => {
            let mut sentence = l
                .t("timeline.said.status")
                .replace("{from}", &l.label("status", text("from")?))
                .replace("{to}", &l.label("status", text("to")?));
            if let Some(because) = text("because") {
                sentence.push_str(&format!(" ({because})"));
            }
            sentence
        }
        "attachment" => format!(
            "{}, {}",
            text("filename")?,
            size_label(data.get("size")?.as_i64()?)
        ),
        "attachment_skipped" => l
            .t("timeline.said.attachment_skipped")
            .replace("{filename}", text("filename")?)
            .replace("{size}", &size_label(data.get("size")?.as_i64()?))
            .replace("{limit}", &size_label(data.get("limit")?.as_i64()?)),
        "article_linked" => text("title")?.to_owned(),
        "problem_analysis" => match text("published") {
            Some(title) => l
                .t("timeline.said.problem_analysis.published")
                .replace("{title}", title),
            None => l.t("timeline.said.problem_analysis").to_owned(),
        },
        "alert" => l
            .t("timeline.said.alert")
            .replace("{title}", text("title")?)
            .replace("{status}", text("status")?)
            .replace("{severity}", text("severity")?)
            .replace("{integration}", text("integration")?),
        "page" => {
            let event = text("event")?;
            let people = data
                .get("people")
                .and_then(serde_json::Value::as_array)
                .map(|people| {
                    people
                        .iter()
                        .filter_map(serde_json::Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let level = data.get("level").map(ToString::to_string);
            l.t(&format!("timeline.said.page.{event}"))
                .replace("{people}", &people)
                .replace("{level}", level.as_deref().unwrap_or_default())
                .replace("{by}", text("by").unwrap_or_default())
        }
        "triage_applied" => {
            let mut parts = Vec::new();
            if let Some(category) = text("category") {
                parts.push(format!("{} {category}", l.t("ticket.category")));
            }
            if let Some(group) = text("group") {
                parts.push(format!("{} {group}", l.t("ticket.group")));
            }
            let share = |key: &str| {
                data.get(key)
                    .and_then(serde_json::Value::as_f64)
                    .map(|share| format!("{:.0} %", share * 100.0))
            };
            if data.get("automatic").and_then(serde_json::Value::as_bool) == Some(true) {
                l.t("timeline.said.triage_automatic")
                    .replace("{what}", &parts.join(", "))
                    .replace("{model}", text("model")?)
                    .replace("{confidence}", &share("confidence")?)
                    .replace("{threshold}", &share("threshold")?)
            } else {
                l.t("timeline.said.triage_applied")
                    .replace("{what}", &parts.join(", "))
                    .replace("{agent}", text("applied_by")?)
                    .replace("{model}", text("model")?)
            }
        }
        "runbook_step" => {
            let step = data.get("step")?.as_i64()?;
            let mut sentence = l
                .t("timeline.said.runbook_step")
                .replace("{runbook}", text("title")?)
                .replace("{step}", &step.to_string())
                .replace("{outcome}", &l.label("kb.outcome", text("outcome")?));
            if let Some(note) = text("note") {
                sentence.push_str(&format!(": {note}"));
            }
            sentence
        }
        "linked" => format!("{} {}", l.label("link", text("type")?), text("target")?),
        "rated" => {
            let score = data.get("score")?.as_i64()?;
            let mut sentence = l.t("survey.said").replace("{score}", &score.to_string());
            if let Some(comment) = text("comment") {
                sentence.push_str(&format!(": “{comment}”"));
            }
            sentence
        }
        "merged" => match (text("into"), text("from")) {
            (Some(into), _) => l.t("timeline.said.merged_into").replace("{number}", into),
            (None, Some(from)) => l
                .t("timeline.said.merged_from")
                .replace("{number}", from)
                .replace(
                    "{count}",
                    &data
                        .get("comments_moved")
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
            (None, None) => return None,
        },
        "updated" => {
            let fields: Vec<&str> = data
                .get("fields")?
                .as_array()?
                .iter()
                .filter_map(|field| field.as_str())
                .collect();
            l.t("timeline.said.updated")
                .replace("{fields}", &fields.join(", "))
        }
        "sla_warning" | "sla_breached" => {
            let clock = l.label("sla", text("clock")?);
            let key = if kind == "sla_warning" {
                "timeline.said.sla_warning"
            } else {
                "timeline.said.sla_breached"
            };
            let percent = data
                .get("percent")
                .map(ToString::to_string)
                .unwrap_or_default();
            l.t(key)
                .replace("{clock}", &clock)
                .replace("{percent}", &percent)
        }
        _ => return None,
    };
    Some(sentence)
}

/// The facts an entry without a sentence records, as `name: value` pairs.
fn fields_in_words(data: &serde_json::Value) -> String {
    match data.as_object() {
        Some(fields) => fields
            .iter()
            .filter(|(key, _)| {
                !matches!(
                    key.as_str(),
                    "body" | "author" | "comment_id" | "description" | "attachment_id"
                )
            })
            // Empty values (no time spent, no note) say nothing.
            .filter(|(_, value)| !value.is_null() && **value != serde_json::json!(0))
            .map(|(key, value)| match value.as_str() {
                Some(text) => format!("{key}: {text}"),
                None => format!("{key}: {value}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => String::new(),
    }
}

/// Everything the ticket page shows of a ticket, for agents and customers alike.
pub(crate) async fn timeline(
    state: &AppState,
    principal: &Principal,
    number: &str,
) -> Result<Vec<Item>, AppError> {
    const LIMIT: i64 = 500;
    let l = super::Locale::of(principal);
    let entries = state
        .app
        .ticket_timeline(principal, number, 0, LIMIT)
        .await?;
    // A file sent with a message is shown on that message; its own "attached a file" entry
    // would only repeat it.
    let shown_with_messages: std::collections::HashSet<i64> = entries
        .iter()
        .filter(|entry| entry.kind != "attachment")
        .flat_map(|entry| entry.attachments.iter().map(|file| file.id))
        .collect();
    Ok(entries
        .into_iter()
        .filter(|entry| {
            entry.kind != "attachment"
                || !entry
                    .data
                    .get("attachment_id")
                    .and_then(serde_json::Value::as_i64)
                    .is_some_and(|id| shown_with_messages.contains(&id))
        })
        .map(|entry| Item::of(entry, &l))
        .collect())
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    c: Chrome,
    t: Ticket,
    /// The description as safe HTML (written in Markdown).
    description: String,
    items: Vec<Item>,
    macros: Vec<Macro>,
    groups: Vec<String>,
    agents: Vec<String>,
    statuses: &'static [&'static str],
    levels: &'static [&'static str],
    pending_reasons: &'static [&'static str],
    resolution_codes: &'static [&'static str],
    replying: Vec<String>,
    sla: Vec<Countdown>,
    /// Articles that may answer the ticket, found from its words.
    suggested: Vec<opsdesk_app::triage::SuggestedArticle>,
    /// The triage assistant's category and group, where they differ from the ticket's.
    assistant: Option<Assistant>,
    /// Articles recorded as having solved it.
    solved_by: Vec<opsdesk_app::knowledge::Article>,
    /// Runbooks for it, with the step outcomes recorded so far.
    runbooks: Vec<opsdesk_app::knowledge::TicketRunbook>,
    outcomes: &'static [&'static str],
    /// Alike incidents opened about the same time: a proposal to group them under a major
    /// incident.
    alike: Vec<opsdesk_app::triage::AlikeIncident>,
    /// Whom the incident paged, when it did.
    paging: Option<opsdesk_app::paging::Page>,
    /// The configuration items it is about, with what changed on them.
    cis: Vec<opsdesk_app::cmdb::TicketCi>,
    /// What it waits for from a vendor, and the vendors it could wait on.
    vendor_wait: Option<opsdesk_app::cmdb::VendorWait>,
    vendors: Vec<opsdesk_app::cmdb::Vendor>,
    /// Diagnostics, runbook runs and remote access for the ticket's machines.
    ops: TicketOperations,
    /// A problem's incidents and analysis, or the problems another ticket is linked to.
    problem: ProblemPanel,
    /// For a security incident: its severity, affected items, runbook and evidence custody.
    security: Option<SecurityPanel>,
    /// For an incident: changes and inventory drift before it on its items and what they
    /// depend on, and the changes it was linked to as possibly caused by.
    what_changed: Vec<opsdesk_app::changes::WhatChanged>,
    caused_by_changes: Vec<(String, String, String)>,
}

async fn show(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(number): Path<String>,
) -> Result<Response, WebError> {
    if !principal.role.is_staff() {
        return Ok(Redirect::to(&format!("/portal/tickets/{}", encode(&number))).into_response());
    }
    ticket_page(&state, &principal, &number, OperationForms::default()).await
}

/// The ticket page, with the operations forms as given: 422 when one came back with
/// mistakes, so the page shows them next to their fields.
pub(crate) async fn ticket_page(
    state: &AppState,
    principal: &Principal,
    number: &str,
    forms: OperationForms,
) -> Result<Response, WebError> {
    let t = state.app.ticket(principal, number).await?;
    let items = timeline(state, principal, &t.number).await?;
    let macros = state.app.macros(principal).await?;
    let groups = state.app.groups(principal).await?;
    // Assignees come from the groups' members: those are who tickets can be given to.
    let mut agents: Vec<String> = groups.iter().flat_map(|g| g.members.clone()).collect();
    agents.sort();
    agents.dedup();
    let replying = state
        .presence
        .others(&t.number, &principal.email, state.app.now_ms());
    let sla = Countdown::of_ticket(&t, state.app.now());
    let solved_by = state.app.ticket_articles(principal, &t.number).await?;
    let runbooks = state.app.runbooks_for(principal, &t).await?;
    let triage = state
        .app
        .suggest_triage(
            principal,
            opsdesk_app::triage::TriageInput {
                title: t.title.clone(),
                description: t.description.clone(),
            },
        )
        .await?;
    let assistant = Assistant::of(&triage, &t);
    let alike = state.app.major_incident_proposal(principal, &t).await?;
    let paging = super::paging::of_ticket(state, principal, &t).await?;
    let cis = state.app.ticket_cis(principal, &t.number).await?;
    let vendor_wait = state.app.vendor_wait(principal, &t.number).await?;
    let vendors = state.app.vendors(principal).await?;
    let problem = ProblemPanel::load(state, principal, &t).await?;
    let security = SecurityPanel::load(state, principal, &t, &forms.checklist).await?;
    let (what_changed, caused_by_changes) =
        if t.ticket_type.as_str() == "incident" && !cis.is_empty() {
            (
                state.app.what_changed(principal, &t.number).await?,
                state.app.changes_of_incident(principal, &t.number).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
    let status = if forms.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let ops = TicketOperations::load(state, principal, &t.number, &cis, forms).await?;
    let suggested = triage
        .articles
        .into_iter()
        .filter(|hit| solved_by.iter().all(|a| a.id != hit.id))
        .collect();
    let mut c = Chrome::new(principal, format!("{} {}", t.number, t.title));
    if status != StatusCode::OK {
        c.notice = Some(super::Lang.t("form.fix_errors").to_owned());
    }
    let page = TicketPage {
        c,
        description: super::markdown::to_html(&t.description),
        items,
        macros,
        groups: groups.into_iter().map(|g| g.name).collect(),
        agents,
        statuses: TicketStatus::NAMES,
        levels: Impact::NAMES,
        pending_reasons: PendingReason::NAMES,
        resolution_codes: RESOLUTION_CODES,
        replying,
        sla,
        suggested,
        assistant,
        solved_by,
        runbooks,
        outcomes: opsdesk_domain::knowledge::StepResult::NAMES,
        alike,
        paging,
        cis,
        vendor_wait,
        vendors,
        ops,
        problem,
        security,
        what_changed,
        caused_by_changes,
        t,
    };
    Ok((status, render(&page)).into_response())
}

/// One suggested value as the ticket page shows it: the value, its confidence in whole
/// percent, and the words behind it.
pub(crate) struct Suggested {
    pub value: String,
    pub percent: u32,
    pub because: String,
}

/// What the triage assistant would change on a ticket.
pub(crate) struct Assistant {
    pub model: String,
    pub category: Option<Suggested>,
    pub group: Option<Suggested>,
}

impl Assistant {
    /// The assistant's best category and group where they differ from the ticket's; `None`
    /// when it has nothing to add (or declines, or has no model yet).
    fn of(triage: &opsdesk_app::triage::TriageSuggestion, t: &Ticket) -> Option<Self> {
        let differing = |scores: &[opsdesk_app::triage::LabelScore], current: Option<&str>| {
            scores
                .first()
                .filter(|best| current.is_none_or(|now| !now.eq_ignore_ascii_case(&best.name)))
                .map(|best| Suggested {
                    value: best.name.clone(),
                    percent: (best.score * 100.0).round() as u32,
                    because: best.because.join(", "),
                })
        };
        let category = differing(
            &triage.category,
            t.category.as_ref().map(|c| c.name.as_str()),
        );
        let group = differing(&triage.group, t.group.as_ref().map(|g| g.name.as_str()));
        if category.is_none() && group.is_none() {
            return None;
        }
        Some(Self {
            model: triage.model.clone()?,
            category,
            group,
        })
    }
}

pub(crate) fn back_to(number: &str, anchor: &str) -> Redirect {
    Redirect::to(&format!("/tickets/{}#{anchor}", encode(number)))
}

async fn comment(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let public = form.get("visibility") != "note" || form.principal.role == Role::Customer;
    let minutes = form.get("time_spent_minutes").parse::<i64>().ok();
    let comment = state
        .app
        .add_comment(
            &form.principal,
            &number,
            NewComment {
                body: form.get("body").to_owned(),
                public,
                time_spent_minutes: minutes,
            },
        )
        .await?;
    super::attach_uploads(&state, &form, &number, &comment).await?;
    Ok(back_to(&number, "timeline"))
}

async fn apply_macro(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let id = form
        .get("macro")
        .parse::<i64>()
        .map_err(|_| AppError::invalid("macro", "choose a canned response"))?;
    state.app.apply_macro(&form.principal, &number, id).await?;
    Ok(back_to(&number, "timeline"))
}

/// Sends only what the agent changed, so the controls never undo someone else's change to
/// another field.
async fn update(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let current = state.app.ticket(&form.principal, &number).await?;
    let changed = |name: &str, now: &str| form.opt(name).filter(|v| v != now);
    let mut patch = TicketPatch {
        impact: changed("impact", current.impact.as_str()),
        urgency: changed("urgency", current.urgency.as_str()),
        status: changed("status", current.status.as_str()),
        ..Default::default()
    };
    if patch.status.is_some() {
        patch.pending_reason = form.opt("pending_reason");
        patch.resolution_code = form.opt("resolution_code");
        patch.resolution_note = form.opt("resolution_note");
    }
    let group_now = current.group.as_ref().map(|g| g.name.clone());
    if form.opt("group") != group_now {
        patch.group = Some(form.opt("group"));
        patch.escalation_reason = form.opt("escalation_reason");
    }
    let assignee_now = current.assignee.as_ref().map(|a| a.email.clone());
    if form.opt("assignee") != assignee_now {
        patch.assignee = Some(form.opt("assignee"));
    }
    // The version the page showed: saving over someone else's newer change is refused.
    let version = form
        .get("version")
        .parse::<i64>()
        .unwrap_or(current.version);
    state
        .app
        .update_ticket(&form.principal, &number, Some(version), patch)
        .await?;
    Ok(back_to(&number, "controls"))
}

/// Deletes the ticket for good (admins) once its number is typed into the confirmation box.
async fn delete(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    if !form.get("confirm").trim().eq_ignore_ascii_case(&number) {
        return Err(AppError::invalid("confirm", "type the ticket's number to delete it").into());
    }
    let deleted = state.app.delete_ticket(&form.principal, &number).await?;
    Ok(Redirect::to(&format!(
        "/tickets?deleted={}",
        encode(&deleted.number)
    )))
}

/// Opens a major incident for the alike incidents the ticket page proposed, and shows it.
async fn open_major_incident(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let tickets = form.all("tickets");
    let major = state
        .app
        .open_major_incident(&form.principal, &tickets)
        .await?;
    Ok(Redirect::to(&format!("/tickets/{}", encode(&major.number))))
}

#[cfg(test)]
mod tests {
    use super::{said, size_label};
    use serde_json::json;

    #[test]
    fn changes_read_as_sentences() {
        let cases = [
            (
                "status_changed",
                json!({"from": "new", "to": "resolved", "resolution_code": "fixed"}),
                "changed the status from New to Resolved (Fixed)",
            ),
            (
                "status_changed",
                json!({"from": "open", "to": "pending", "pending_reason": "customer"}),
                "changed the status from Open to Pending (Waiting for the customer)",
            ),
            (
                "escalated",
                json!({"from": "Service Desk", "to": "Infrastructure", "reason": "needs root"}),
                "moved the ticket from Service Desk to Infrastructure: needs root",
            ),
            (
                "escalated",
                json!({"from": null, "to": "Infrastructure", "reason": ""}),
                "moved the ticket from no group to Infrastructure",
            ),
            (
                "assigned",
                json!({"from": null, "to": "ann@msp.example"}),
                "assigned the ticket to ann@msp.example",
            ),
            (
                "assigned",
                json!({"from": "ann@msp.example", "to": null}),
                "took the ticket off its assignee",
            ),
            (
                "updated",
                json!({"fields": ["impact", "priority"]}),
                "changed impact, priority",
            ),
            (
                "sla_warning",
                json!({"clock": "response", "percent": 75}),
                "75 % of the Response time is used",
            ),
        ];
        for (kind, data, sentence) in cases {
            assert_eq!(
                said(kind, &data).as_deref(),
                Some(sentence),
                "{kind} {data}"
            );
        }
        assert_eq!(said("linked", &json!({"target": "INC-1"})), None);
    }

    #[test]
    fn file_sizes_read_as_people_say_them() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KB"),
            (1536, "1.5 KB"),
            (10 * 1024 * 1024, "10.0 MB"),
            (3 * 1024 * 1024 * 1024, "3.0 GB"),
        ];
        for (bytes, label) in cases {
            assert_eq!(size_label(bytes), label, "{bytes} bytes");
        }
    }
}
