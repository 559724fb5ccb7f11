//! Running automation rules on a ticket, in the transaction of the change that raised the
//! event, as the rule: every change a rule makes shows in the timeline and the audit log as
//! the rule's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use opsdesk_domain::automation::{Action, Rule, RuleEvent, SetField, TicketFacts, describe};
use opsdesk_store::automation as rules_store;

use super::*;
use crate::jobs::{self, JobKind};

/// How many rules deep a chain may go: a rule's change may raise events that run rules, whose
/// changes may run rules, up to this depth; beyond it the chain stops, noted on the ticket.
pub(crate) const MOST_CHAINED: u8 = 3;

type RuleRun<'a> = Pin<Box<dyn Future<Output = Result<bool, AppError>> + Send + 'a>>;

/// Runs the enabled rules for `event` on ticket `ticket_id`; `catalog` is the change's when it
/// has one. Returns whether any rule changed something. Boxed: rules' changes raise events that
/// come back here.
pub(crate) fn on_ticket_event<'a>(
    tx: &'a mut Tx<'_>,
    event: RuleEvent,
    ticket_id: i64,
    catalog: Option<Arc<Catalog>>,
) -> RuleRun<'a> {
    Box::pin(async move {
        if tx.rule_depth.is_none() {
            return Ok(false);
        }
        let catalog = match catalog {
            Some(catalog) => catalog,
            None => crate::catalog::current(tx.conn).await?,
        };
        let rules = catalog.rules_for(event);
        if rules.is_empty() {
            return Ok(false);
        }
        run_rules(tx, &rules, ticket_id).await
    })
}

/// Runs `rules` in order on ticket `ticket_id`; each sees what the ones before it changed.
pub(crate) async fn run_rules(
    tx: &mut Tx<'_>,
    rules: &[(i64, Rule)],
    ticket_id: i64,
) -> Result<bool, AppError> {
    let Some(depth) = tx.rule_depth else {
        return Ok(false);
    };
    let mut acted = false;
    for (id, rule) in rules {
        let Some(row) = store::get(tx.conn, ticket_id).await? else {
            return Ok(acted);
        };
        // Rules never run on security incidents: their mails, webhooks and group changes
        // would carry the incident outside its restricted group.
        if row.restricted_group_id.is_some() {
            return Ok(acted);
        }
        let ticket = view(tx.conn, tx.principal, row, tx.now).await?;
        let plan = rule.plan(&facts(tx.conn, &ticket, tx.now).await?);
        if plan.is_empty() {
            continue;
        }
        let principal = Principal::system(&format!("rule {}", rule.name));
        let actor = principal.audit_label();
        let mut as_rule = tx.on_behalf_of(&principal, &actor);
        if depth >= MOST_CHAINED {
            tracing::warn!(rule = %rule.name, ticket = %ticket.number, "rule chain stopped at depth {depth}");
            let reason = format!("rules may chain {MOST_CHAINED} deep");
            let data = serde_json::json!({"rule": rule.name, "depth": depth, "reason": reason});
            staff_entry(&mut as_rule, ticket_id, "automation_stopped", data).await?;
            continue;
        }
        as_rule.rule_depth = Some(depth + 1);
        if !count_run(&mut as_rule, *id, rule).await? {
            continue;
        }
        rules_store::begin_run(as_rule.conn).await?;
        match carry_out(&mut as_rule, rule, &ticket, &plan).await {
            Ok(()) => {
                rules_store::end_run(as_rule.conn).await?;
                acted = true;
            }
            Err(error) => {
                // A rule that cannot do its work must not undo the change that raised it.
                rules_store::undo_run(as_rule.conn).await?;
                tracing::warn!(rule = %rule.name, ticket = %ticket.number, %error, "rule failed");
                let data = serde_json::json!({"rule": rule.name, "error": error.to_string()});
                staff_entry(&mut as_rule, ticket_id, "automation_failed", data).await?;
            }
        }
    }
    Ok(acted)
}

/// Counts a run of rule `id`; past its limit for the hour, disables it (recorded in the audit
/// log) and answers `false`: the run does not happen.
async fn count_run(tx: &mut Tx<'_>, id: i64, rule: &Rule) -> Result<bool, AppError> {
    let Some(runs) = rules_store::count_run(tx.conn, id, tx.now).await? else {
        return Ok(false);
    };
    if runs <= i64::from(rule.max_runs_per_hour) {
        return Ok(true);
    }
    let reason = format!("ran more than {} times in an hour", rule.max_runs_per_hour);
    tracing::warn!(rule = %rule.name, "{reason}; disabled");
    let before = rules_store::rule(tx.conn, id).await?;
    let after = rules_store::disable_rule(tx.conn, id, &reason, tx.now).await?;
    if let (Some(before), Some(after)) = (before, after) {
        let (before, after) = (
            crate::automation::rule_view(before)?,
            crate::automation::rule_view(after)?,
        );
        tx.record(Event::updated(Entity::AutomationRule, id, &before, &after))
            .await?;
    }
    Ok(false)
}

/// The calendar every desk starts with (24x7), which tickets without SLA clocks count in.
const STANDARD_CALENDAR: i64 = 1;

/// What rules look at in a ticket, for an event at `now`.
pub(crate) async fn facts(
    conn: &mut Conn,
    ticket: &Ticket,
    now: i64,
) -> Result<TicketFacts, AppError> {
    let paged = opsdesk_store::paging::page_of_ticket(conn, ticket.id)
        .await?
        .is_some();
    let calendar_id = opsdesk_store::sla::ticket_sla(conn, ticket.id)
        .await?
        .map_or(STANDARD_CALENDAR, |sla| sla.calendar_id);
    let catalog = crate::catalog::current(conn).await?;
    // A calendar that cannot be read (or was never there) counts as always open, as the
    // standard one is.
    let in_business_hours = catalog
        .calendar(calendar_id)
        .map_or(Ok(true), |calendar| calendar.is_open_at(timestamp(now)))
        .map_err(|e| AppError::internal("reading business hours", e))?;
    Ok(TicketFacts {
        ticket_type: ticket.ticket_type,
        priority: ticket.priority,
        status: ticket.status,
        impact: ticket.impact,
        urgency: ticket.urgency,
        category: ticket.category.as_ref().map(|c| c.name.clone()),
        group: ticket.group.as_ref().map(|g| g.name.clone()),
        assignee: ticket.assignee.as_ref().map(|a| a.email.clone()),
        organization: ticket.organization.as_ref().map(|o| o.name.clone()),
        source: ticket.source,
        tags: ticket.tags.clone(),
        title: ticket.title.clone(),
        description: ticket.description.clone(),
        paged,
        in_business_hours,
    })
}

/// The numbers and rule facts of tickets `ids`, in their order.
pub(crate) async fn facts_of(
    conn: &mut Conn,
    ids: &[i64],
    now: i64,
) -> Result<Vec<(String, TicketFacts)>, AppError> {
    let rows = store::get_many(conn, ids).await?;
    let mut found = Vec::with_capacity(rows.len());
    for ticket in views(conn, &Principal::system("automation"), rows, now).await? {
        let facts = facts(conn, &ticket, now).await?;
        found.push((ticket.number, facts));
    }
    Ok(found)
}

/// The impact and urgency giving `priority` in the ticket's organization, changing as little
/// of the ticket's own as possible; `None` when its matrix never gives that priority.
fn cell_for(catalog: &Catalog, ticket: &Ticket, priority: &str) -> Option<(Impact, Urgency)> {
    let matrix = catalog.matrix(ticket.organization.as_ref().map(|o| o.id));
    Impact::ALL
        .iter()
        .flat_map(|impact| Urgency::ALL.iter().map(move |urgency| (*impact, *urgency)))
        .filter(|(impact, urgency)| matrix.priority(*impact, *urgency).as_str() == priority)
        .min_by_key(|(impact, urgency)| {
            u8::from(*impact != ticket.impact) * 2 + u8::from(*urgency != ticket.urgency)
        })
}

/// Carries out a rule's planned actions on `ticket`: the field changes first, as one update.
async fn carry_out(
    tx: &mut Tx<'_>,
    rule: &Rule,
    ticket: &Ticket,
    plan: &[Action],
) -> Result<(), AppError> {
    let catalog = crate::catalog::current(tx.conn).await?;
    let mut patch = TicketPatch::default();
    let mut tags = ticket.tags.clone();
    let changes_fields = plan
        .iter()
        .any(|action| matches!(action, Action::Set { .. } | Action::Assign(_)));
    for action in plan {
        match action {
            Action::Set { field, value } => match field {
                SetField::Priority => {
                    if let Some((impact, urgency)) = cell_for(&catalog, ticket, value) {
                        patch.impact = Some(impact.as_str().to_owned());
                        patch.urgency = Some(urgency.as_str().to_owned());
                    }
                }
                SetField::Impact => patch.impact = Some(value.clone()),
                SetField::Urgency => patch.urgency = Some(value.clone()),
                SetField::Status => patch.status = Some(value.clone()),
                SetField::Category => patch.category = Some(Some(value.clone())),
                SetField::Group => {
                    patch.group = Some(Some(value.clone()));
                    patch.escalation_reason = Some(format!("rule {}", rule.name));
                }
            },
            Action::Assign(email) => patch.assignee = Some(Some(email.to_string())),
            Action::AddTag(tag) => tags.push(tag.to_string()),
            _ => {}
        }
    }
    if tags.len() > ticket.tags.len() {
        patch.tags = Some(tags);
    }
    if changes_fields || patch.tags.is_some() {
        let row = store::get(tx.conn, ticket.id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        patch_ticket(tx, row, Precondition::Any, patch).await?;
    }
    for action in plan {
        match action {
            Action::Note(text) => {
                let note = NewComment {
                    body: text.clone(),
                    public: false,
                    time_spent_minutes: None,
                };
                comment(tx, ticket.id, validate_comment(tx.principal, note)?).await?;
            }
            Action::ApplyMacro(name) => apply_macro(tx, rule, ticket, name).await?,
            Action::Page(policy) => {
                let policy = opsdesk_store::paging::policy_by_name(tx.conn, policy)
                    .await?
                    .ok_or_else(|| {
                        AppError::invalid("page", format!("no escalation policy `{policy}`"))
                    })?;
                crate::paging::start(tx, ticket.id, policy.id).await?;
            }
            Action::Webhook(url) => {
                let row = store::get(tx.conn, ticket.id)
                    .await?
                    .ok_or(AppError::NotFound("ticket"))?;
                let current = view(tx.conn, tx.principal, row, tx.now).await?;
                let mut current = serde_json::to_value(current)
                    .map_err(|e| AppError::internal("rule webhook payload", e))?;
                crate::webhooks::hide_restricted_relatives(tx.conn, ticket.id, &mut current)
                    .await?;
                let mut batch = tx.batch();
                let payload = serde_json::json!({
                    "url": url,
                    "body": {"event": "rule.webhook", "rule": rule.name, "at": timestamp(tx.now), "ticket": current},
                });
                jobs::queue(&mut batch, JobKind::RuleWebhook, &payload, tx.now);
                timeline(
                    &mut batch,
                    ticket.id,
                    tx.now,
                    tx.actor,
                    "webhook_queued",
                    false,
                    serde_json::json!({"url": url}),
                );
                batch.run(tx.conn).await?;
            }
            Action::OpenLinked { ticket_type, title } => {
                open_linked(tx, ticket, *ticket_type, title.as_str()).await?;
            }
            Action::Set { .. } | Action::Assign(_) | Action::AddTag(_) => {}
        }
    }
    let data = serde_json::json!({"rule": rule.name, "actions": describe(plan)});
    staff_entry(tx, ticket.id, "automation", data).await
}

/// Adds a timeline entry only staff see, by the change's actor.
async fn staff_entry(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    kind: &str,
    data: serde_json::Value,
) -> Result<(), AppError> {
    let mut batch = tx.batch();
    timeline(&mut batch, ticket_id, tx.now, tx.actor, kind, false, data);
    batch.run(tx.conn).await?;
    Ok(())
}

async fn comment(tx: &mut Tx<'_>, ticket_id: i64, valid: ValidComment) -> Result<(), AppError> {
    let row = store::get(tx.conn, ticket_id)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    insert_comment(tx, row, valid).await?;
    Ok(())
}

/// A macro by name, applied as the rule: its text becomes a comment, then the ticket moves to
/// its status if it names one.
async fn apply_macro(
    tx: &mut Tx<'_>,
    rule: &Rule,
    ticket: &Ticket,
    name: &str,
) -> Result<(), AppError> {
    let canned = store::macros(tx.conn)
        .await?
        .into_iter()
        .find(|m| m.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| AppError::invalid("apply_macro", format!("no macro `{name}`")))?;
    let body = reference::fill_macro(&canned.body, ticket, &rule.name, "");
    let valid = validate_comment(
        tx.principal,
        NewComment {
            body,
            public: canned.public != 0,
            time_spent_minutes: None,
        },
    )?;
    comment(tx, ticket.id, valid).await?;
    if let Some(status) = canned.set_status {
        let row = store::get(tx.conn, ticket.id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        let patch = TicketPatch {
            status: Some(status),
            ..TicketPatch::default()
        };
        patch_ticket(tx, row, Precondition::Any, patch).await?;
    }
    Ok(())
}

/// Opens a ticket of `ticket_type` for the same requester, related to `ticket`.
async fn open_linked(
    tx: &mut Tx<'_>,
    ticket: &Ticket,
    ticket_type: TicketType,
    title: &str,
) -> Result<(), AppError> {
    let new = NewTicket {
        ticket_type: ticket_type.as_str().to_owned(),
        title: title.to_owned(),
        description: format!("Opened for {}: {}", ticket.number, ticket.title),
        impact: ticket.impact.as_str().to_owned(),
        urgency: ticket.urgency.as_str().to_owned(),
        requester: Some(ticket.requester.email.clone()),
        source: Some(ticket.source.as_str().to_owned()),
        ..NewTicket::default()
    };
    let valid = validate_ticket(tx.principal, new)?;
    let id = insert_ticket(tx, valid).await?;
    store::add_link(tx.conn, ticket.id, id, LinkType::RelatesTo.as_str(), tx.now).await?;
    let opened = store::get(tx.conn, id)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let mut batch = tx.batch();
    timeline(
        &mut batch,
        ticket.id,
        tx.now,
        tx.actor,
        "linked",
        false,
        serde_json::json!({
            "type": LinkType::RelatesTo.as_str(),
            "target": number_of(&opened.ticket_type, opened.number),
        }),
    );
    batch.run(tx.conn).await?;
    Ok(())
}
