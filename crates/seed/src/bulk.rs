//! Very large volumes of generated tickets, written straight into the tables by
//! [`opsdesk_store::bulk`] in transactions of a few thousand tickets: for benchmarks, on a
//! database that serves no one yet. The reference data (organizations, people, groups,
//! categories) still goes through the application.

use opsdesk_app::sla::SlaRules;
use opsdesk_app::{App, AppError};
use opsdesk_domain::sla::Coverage;
use opsdesk_domain::ticket::{Impact, PriorityMatrix, TicketType, Urgency};
use opsdesk_store::bulk::{
    self, BulkComment, BulkTicket, BulkTimelineEntry, NextIds, ReferenceIds,
};
use opsdesk_store::tickets::TicketFields;

use crate::demo::create_directory;
use crate::generator::{Author, Directory, GeneratedTicket, Generator, Outcome, Scale};

/// Tickets per write transaction.
pub const BATCH: usize = 2_000;

/// What a bulk load writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desk {
    /// A desk's history: tickets in every state, opened over the past year, without SLA clocks.
    History,
    /// An open backlog under SLA: every ticket open without a reply yet, opened within its
    /// resolution target (so each still has a breach ahead), with its clocks as the sweeper
    /// left them at `swept_at` (milliseconds): every warning and breach crossed by then raised.
    OpenUnderSla { swept_at: i64 },
}

/// Creates the [`Scale::LARGE`] directory for `seed`, then `tickets` tickets shaped like
/// `desk`; calls `progress` with the number loaded after every transaction.
pub async fn load(
    app: &App,
    seed: u64,
    tickets: usize,
    desk: Desk,
    mut progress: impl FnMut(usize),
) -> Result<(), AppError> {
    let mut generator = Generator::new(seed, Scale::LARGE);
    let directory = generator.directory().clone();
    create_directory(app, &directory).await?;
    let sla = match desk {
        Desk::History => None,
        Desk::OpenUnderSla { swept_at } => Some((app.sla_rules().await?, swept_at)),
    };
    let (ids, mut next) = {
        let mut conn = app.db().reader().await?;
        (
            bulk::reference_ids(&mut conn).await?,
            bulk::next_ids(&mut conn).await?,
        )
    };
    let backend = app.db().backend();
    let now = app.now_ms();
    let mut loaded = 0;
    while loaded < tickets {
        let count = BATCH.min(tickets - loaded);
        let rows = (0..count)
            .map(|_| {
                to_row(
                    &directory,
                    &ids,
                    &mut next,
                    generator.ticket(),
                    now,
                    sla.as_ref(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        app.db()
            .write(move |conn| {
                Box::pin(async move {
                    bulk::insert_tickets(conn, backend, &rows).await?;
                    Ok::<_, AppError>(())
                })
            })
            .await?;
        loaded += count;
        progress(loaded);
    }
    app.db()
        .write(move |conn| {
            Box::pin(async move {
                bulk::finish(conn, backend).await?;
                Ok::<_, AppError>(())
            })
        })
        .await
}

fn missing(what: &str, name: &str) -> AppError {
    AppError::broken(format!("generated {what} `{name}` is not in the database"))
}

/// One generated ticket as rows, its events spread after its creation time. With `sla`
/// (the rules and the instant swept) it becomes an open ticket under SLA, see [`Desk`].
fn to_row(
    directory: &Directory,
    ids: &ReferenceIds,
    next: &mut NextIds,
    mut ticket: GeneratedTicket,
    now: i64,
    sla: Option<&(SlaRules, i64)>,
) -> Result<BulkTicket, AppError> {
    const MINUTE: i64 = 60_000;
    let user = |email: &str| {
        ids.users
            .get(email)
            .copied()
            .ok_or_else(|| missing("user", email))
    };
    let requester = &directory.customers[ticket.requester];
    let (requester_id, organization_id) = user(&requester.email)?;
    let group_name = &directory.groups[ticket.group].name;
    let group_id = *ids
        .groups
        .get(group_name)
        .ok_or_else(|| missing("group", group_name))?;
    let assignee = ticket
        .assignee
        .map(|a| user(&directory.agents[a].email).map(|(id, _)| (id, &directory.agents[a].email)))
        .transpose()?;
    let category_id = *ids
        .categories
        .get(ticket.category)
        .ok_or_else(|| missing("category", ticket.category))?;
    let impact: Impact = ticket
        .impact
        .parse()
        .map_err(|_| missing("impact", ticket.impact))?;
    let urgency: Urgency = ticket
        .urgency
        .parse()
        .map_err(|_| missing("urgency", ticket.urgency))?;
    let ticket_type: TicketType = ticket
        .ticket_type
        .parse()
        .map_err(|_| missing("ticket type", ticket.ticket_type))?;
    let coverage = Coverage {
        organization: organization_id,
        ticket_type,
        priority: PriorityMatrix::ITIL.priority(impact, urgency),
        category: Some(category_id),
    };
    let priority = i64::from(coverage.priority.rank());

    let id = next.ticket;
    next.ticket += 1;
    let counter = match ticket.ticket_type {
        "service_request" => &mut next.service_request,
        "problem" => &mut next.problem,
        _ => &mut next.incident,
    };
    let number = *counter;
    *counter += 1;
    let created_at = match sla {
        None => now - ticket.age_ms,
        Some((rules, swept_at)) => {
            ticket.outcome = Outcome::Open;
            ticket.conversation.clear();
            let target_ms = rules
                .targets_for(&coverage)
                .map_or(i64::MAX, |t| t.resolution_seconds * 1000);
            swept_at - ticket.age_ms % target_ms
        }
    };
    let clocks = sla
        .map(|(rules, swept_at)| rules.swept_clocks(id, &coverage, created_at, *swept_at))
        .transpose()?
        .flatten();
    let label = |user_id: i64, email: &str| format!("user:{user_id} <{email}>");
    let opener = assignee.map_or_else(|| "system:seed".to_owned(), |(a, email)| label(a, email));
    let prefix = match ticket.ticket_type {
        "service_request" => "REQ",
        "problem" => "PRB",
        _ => "INC",
    };
    let mut timeline = vec![BulkTimelineEntry {
        at: created_at,
        actor: opener.clone(),
        kind: "created".into(),
        public: true,
        data: serde_json::json!({
            "number": format!("{prefix}-{number}"), "priority": format!("P{priority}"), "source": ticket.source,
        })
        .to_string(),
    }];
    let mut comments = Vec::with_capacity(ticket.conversation.len());
    let mut first_response_at = None;
    let mut staff_replies = 0;
    let mut time_spent = 0;
    let mut at = created_at;
    for comment in ticket.conversation {
        at += 37 * MINUTE;
        let (author_id, email) = match comment.author {
            Author::Requester => (requester_id, requester.email.as_str()),
            Author::Agent(a) => (
                user(&directory.agents[a].email)?.0,
                directory.agents[a].email.as_str(),
            ),
        };
        if comment.public && matches!(comment.author, Author::Agent(_)) {
            first_response_at.get_or_insert(at);
            staff_replies += 1;
        }
        time_spent += comment.time_spent_minutes;
        let comment_id = next.comment;
        next.comment += 1;
        timeline.push(BulkTimelineEntry {
            at,
            actor: label(author_id, email),
            kind: if comment.public { "comment" } else { "note" }.into(),
            public: comment.public,
            data: serde_json::json!({
                "comment_id": comment_id, "body": comment.body, "author": email,
                "time_spent_minutes": comment.time_spent_minutes,
            })
            .to_string(),
        });
        comments.push(BulkComment {
            id: comment_id,
            author_id: Some(author_id),
            body: comment.body,
            public: comment.public,
            time_spent_minutes: comment.time_spent_minutes,
            created_at: at,
        });
    }
    let status = ticket.outcome.status();
    let (pending_reason, resolution) = match &ticket.outcome {
        Outcome::Pending(reason) => (Some((*reason).to_owned()), None),
        Outcome::Resolved(code, note) | Outcome::Closed(code, note) => {
            (None, Some(((*code).to_owned(), note.clone())))
        }
        _ => (None, None),
    };
    let resolved_at = resolution.as_ref().map(|_| at + 10 * MINUTE);
    let closed_at =
        matches!(ticket.outcome, Outcome::Closed(..)).then(|| (at + 3 * 24 * 60 * MINUTE).min(now));
    if status != "new" {
        at = closed_at.or(resolved_at).unwrap_or(at + MINUTE);
        timeline.push(BulkTimelineEntry {
            at,
            actor: opener,
            kind: "status_changed".into(),
            public: true,
            data: serde_json::json!({
                "from": "new", "to": status, "pending_reason": pending_reason,
                "resolution_code": resolution.as_ref().map(|r| &r.0),
                "resolution_note": resolution.as_ref().map(|r| &r.1),
            })
            .to_string(),
        });
    }
    let (resolution_code, resolution_note) = resolution.unzip();
    Ok(BulkTicket {
        id,
        number,
        fields: TicketFields {
            ticket_type: ticket.ticket_type.to_owned(),
            title: ticket.title,
            description: ticket.description,
            status: status.to_owned(),
            pending_reason,
            resolution_code,
            resolution_note,
            impact: ticket.impact.to_owned(),
            urgency: ticket.urgency.to_owned(),
            priority,
            category_id: Some(category_id),
            requester_id,
            organization_id,
            group_id: Some(group_id),
            assignee_id: assignee.map(|(a, _)| a),
            custom: "{}".to_owned(),
            source: ticket.source.to_owned(),
            merged_into_id: None,
            parent_id: None,
            resolved_at,
            closed_at,
            restricted_group_id: None,
        },
        first_response_at,
        time_spent_minutes: time_spent,
        created_at,
        updated_at: at,
        tags: ticket.tags,
        comments,
        staff_replies,
        timeline,
        sla: clocks,
    })
}
