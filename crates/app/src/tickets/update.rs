//! Changing tickets: one at a time, in bulk, and closing the resolved ones.

use opsdesk_domain::automation::RuleEvent;

use super::*;

/// The outcome of one ticket in a bulk update.
#[derive(Debug)]
pub struct BulkOutcome {
    /// The ticket as the request named it.
    pub ticket: String,
    pub result: Result<(), AppError>,
}

impl App {
    /// Changes a ticket (staff). `expected_version` comes from `If-Match`.
    pub async fn update_ticket(
        &self,
        principal: &Principal,
        reference: &str,
        expected_version: impl Into<Precondition>,
        patch: TicketPatch,
    ) -> Result<Ticket, AppError> {
        let expected_version: Precondition = expected_version.into();
        let reference = reference.to_owned();
        let ticket = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let row = find_visible(tx.conn, tx.principal, &reference).await?;
                    patch_ticket(&mut tx, row, expected_version, patch).await
                })
            })
            .await?;
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Updated,
            principal,
        );
        Ok(ticket)
    }

    /// Applies one patch to many tickets; each succeeds or fails on its own.
    pub async fn bulk_update(
        &self,
        principal: &Principal,
        references: Vec<String>,
        patch: TicketPatch,
    ) -> Result<Vec<BulkOutcome>, AppError> {
        principal.require_staff()?;
        if references.len() > 500 {
            return Err(AppError::invalid(
                "tickets",
                "at most 500 tickets at a time",
            ));
        }
        let mut outcomes = Vec::with_capacity(references.len());
        for reference in references {
            let result = self
                .update_ticket(principal, &reference, None, patch.clone())
                .await
                .map(|_| ());
            outcomes.push(BulkOutcome {
                ticket: reference,
                result,
            });
        }
        Ok(outcomes)
    }

    /// Closes tickets resolved more than `after_days` ago. Returns how many were closed.
    pub async fn close_resolved_tickets(&self, after_days: u32) -> Result<usize, AppError> {
        let closer = Principal::system(&format!("auto-close after {after_days} days"));
        self.change(&closer, Need::Anyone, move |mut tx| {
            Box::pin(async move {
                let cutoff = tx.now - i64::from(after_days) * 86_400_000;
                let ids = store::resolved_before(tx.conn, cutoff, 200).await?;
                let mut closed = 0;
                for id in ids {
                    let Some(row) = store::get(tx.conn, id).await? else {
                        continue;
                    };
                    let patch = TicketPatch {
                        status: Some("closed".into()),
                        ..TicketPatch::default()
                    };
                    apply_patch(&mut tx, row, Precondition::Any, patch).await?;
                    closed += 1;
                }
                Ok(closed)
            })
        })
        .await
    }
}

/// Applies `patch` to ticket `row` in the caller's transaction and queues the resolution
/// notice when it resolves the ticket.
pub(crate) async fn patch_ticket(
    tx: &mut Tx<'_>,
    row: TicketRow,
    expected_version: Precondition,
    patch: TicketPatch,
) -> Result<Ticket, AppError> {
    let was_resolved = row.status == TicketStatus::Resolved.as_str();
    let ticket = apply_patch(tx, row, expected_version, patch).await?;
    if tx.notify && !was_resolved && ticket.status == TicketStatus::Resolved {
        let mut batch = tx.batch();
        let notice = crate::mail::Notice::Resolution;
        crate::mail::queue_notice(&mut batch, notice, ticket.id, None, tx.now);
        batch.run(tx.conn).await?;
    }
    if !was_resolved && ticket.status == TicketStatus::Resolved {
        crate::surveys::offer(tx, &ticket).await?;
    }
    if !was_resolved && matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed) {
        crate::paging::ticket_resolved(tx, ticket.id).await?;
        if ticket.ticket_type == TicketType::Problem {
            crate::problems::resolve_incidents_of(tx, &ticket).await?;
        }
        if ticket.ticket_type == TicketType::SecurityIncident {
            crate::security::check_resolvable(tx.conn, ticket.id).await?;
        }
    }
    if automation::on_ticket_event(tx, RuleEvent::TicketUpdated, ticket.id, None).await? {
        // The rules changed it further: answer with what it is now.
        let row = store::get(tx.conn, ticket.id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        return view(tx.conn, tx.principal, row, tx.now).await;
    }
    Ok(ticket)
}

/// Applies a patch in the change's transaction and records what changed.
pub(super) async fn apply_patch(
    tx: &mut Tx<'_>,
    row: TicketRow,
    expected_version: Precondition,
    patch: TicketPatch,
) -> Result<Ticket, AppError> {
    let (actor, now) = (tx.actor, tx.now);
    expected_version.check(row.version)?;
    let before = view(tx.conn, tx.principal, row.clone(), now).await?;
    let catalog = crate::catalog::current(tx.conn).await?;
    let mut fields = fields_of(&row);
    let mut errors = Vec::new();
    let mut changed: Vec<&'static str> = Vec::new();
    // The timeline entries go to the database with the audit entry, in one round trip.
    let mut batch = tx.batch();

    if let Some(kind) = &patch.ticket_type
        && kind != &row.ticket_type
    {
        errors.push(FieldError::new(
            "type",
            "a ticket keeps its type (its number depends on it); open a new ticket and link it",
        ));
    }
    if let Some(title) = &patch.title
        && let Some(title) = parse_field::<Title>("title", title, &mut errors)
    {
        fields.title = title.as_str().to_owned();
        changed.push("title");
    }
    if let Some(description) = &patch.description {
        fields.description = description.trim().to_owned();
        changed.push("description");
    }
    if let Some(impact) = &patch.impact
        && let Some(impact) = parse_field::<Impact>("impact", impact, &mut errors)
    {
        fields.impact = impact.as_str().to_owned();
        changed.push("impact");
    }
    if let Some(urgency) = &patch.urgency
        && let Some(urgency) = parse_field::<Urgency>("urgency", urgency, &mut errors)
    {
        fields.urgency = urgency.as_str().to_owned();
        changed.push("urgency");
    }
    let tags = patch
        .tags
        .as_ref()
        .map(|tags| parse_tags(tags, &mut errors));
    let status_change = match &patch.status {
        None => {
            if patch.pending_reason.is_some() || patch.resolution_code.is_some() {
                errors.push(FieldError::new(
                    "status",
                    "send the status the reason or resolution belongs to",
                ));
            }
            None
        }
        Some(status) => parse_status_change(status, &patch, &mut errors),
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    if let (Ok(impact), Ok(urgency)) = (
        fields.impact.parse::<Impact>(),
        fields.urgency.parse::<Urgency>(),
    ) {
        let matrix = catalog.matrix(fields.organization_id);
        fields.priority = i64::from(matrix.priority(impact, urgency).rank());
    }
    if let Some(change) = status_change {
        let current = lifecycle_of(&row)?;
        let next = transition(&current, change).map_err(|e| AppError::Conflict {
            field: Some("status".into()),
            message: e.to_string(),
        })?;
        // Applied now, not when the ticket is saved, so the timeline shows the new status.
        apply_lifecycle(&mut fields, &next, now);
        timeline(
            &mut batch,
            row.id,
            now,
            actor,
            "status_changed",
            true,
            serde_json::json!({
                "from": row.status, "to": fields.status, "pending_reason": fields.pending_reason,
                "resolution_code": fields.resolution_code, "resolution_note": fields.resolution_note,
            }),
        );
    }
    if let Some(group) = &patch.group {
        let new_group = match group {
            Some(name) => Some(group_by_name(&catalog, name)?),
            None => None,
        };
        let new_id = new_group.as_ref().map(|g| g.id);
        if new_id != row.group_id {
            let reason = patch.escalation_reason.clone().unwrap_or_default();
            store::add_escalation(tx.conn, row.id, row.group_id, new_id, actor, &reason, now)
                .await?;
            timeline(
                &mut batch,
                row.id,
                now,
                actor,
                "escalated",
                false,
                serde_json::json!({
                    "from": row.group_name, "to": new_group.as_ref().map(|g| g.name.clone()), "reason": reason,
                }),
            );
            fields.group_id = new_id;
            // The assignee stays only if they also work in the new group.
            if let (Some(assignee), Some(group)) = (fields.assignee_id, new_id)
                && !store::user_groups(tx.conn, assignee)
                    .await?
                    .contains(&group)
            {
                fields.assignee_id = None;
            }
        }
    }
    if let Some(assignee) = &patch.assignee {
        let new_assignee = match assignee {
            Some(email) => Some(check_assignee(tx.conn, email, fields.group_id).await?),
            None => None,
        };
        if new_assignee != row.assignee_id {
            fields.assignee_id = new_assignee;
            timeline(
                &mut batch,
                row.id,
                now,
                actor,
                "assigned",
                false,
                serde_json::json!({
                    "from": row.assignee_email, "to": assignee,
                }),
            );
        }
    }
    if let Some(parent) = &patch.parent {
        fields.parent_id = match parent {
            Some(reference) => {
                Some(check_parent(tx.conn, tx.principal, reference, Some(row.id)).await?)
            }
            None => None,
        };
        changed.push("parent");
    }
    if let Some(category) = &patch.category {
        fields.category_id = match category {
            Some(path) => Some(category_by_path(&catalog, path)?),
            None => None,
        };
        changed.push("category");
        // A person choosing another category than the triage assistant suggested corrects
        // it; the weekly accuracy counts those.
        if fields.category_id != row.category_id && tx.principal.user_id.is_some() {
            opsdesk_store::triage::record_correction(
                tx.conn,
                row.id,
                fields.category_id,
                tx.actor,
                tx.now,
            )
            .await?;
        }
    }
    if let Some(custom) = &patch.custom {
        let base = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&row.custom)
            .unwrap_or_default();
        fields.custom = check_custom(&catalog, custom, base, false)?;
        changed.push("custom");
    }
    // Read back by the view below, so written now.
    let mut lists = tx.batch();
    if let Some(tags) = &tags {
        store::set_tags(&mut lists, row.id, tags);
        changed.push("tags");
    }
    if let Some(watchers) = &patch.watchers {
        let ids = watcher_ids(tx.conn, watchers).await?;
        if let Some(group) = row.restricted_group_id {
            crate::security::check_watchers(tx.conn, group, &ids).await?;
        }
        store::set_watchers(&mut lists, row.id, &ids);
        changed.push("watchers");
    }
    lists.run(tx.conn).await?;
    if patch.title.is_some() || patch.description.is_some() {
        store::reindex_text(&mut batch, row.id, &fields.title, &fields.description);
    }
    if !changed.is_empty() {
        timeline(
            &mut batch,
            row.id,
            now,
            actor,
            "updated",
            true,
            serde_json::json!({"fields": changed}),
        );
    }
    let updated = save_ticket(tx, &row, fields, None, Some(&catalog)).await?;
    if updated.status == TicketStatus::Resolved.as_str() && row.status != updated.status {
        resolve_children(tx, &updated).await?;
    }
    let after = view(tx.conn, tx.principal, updated, now).await?;
    tx.record_with(
        batch,
        Event::updated(Entity::Ticket, row.id, &before, &after),
    )
    .await?;
    Ok(after)
}

pub(super) fn parse_status_change(
    status: &str,
    patch: &TicketPatch,
    errors: &mut Vec<FieldError>,
) -> Option<StatusChange> {
    let status = parse_field::<TicketStatus>("status", status, errors)?;
    match status {
        TicketStatus::New => {
            errors.push(FieldError::new("status", "a ticket cannot go back to new"));
            None
        }
        TicketStatus::Open => Some(StatusChange::Open),
        TicketStatus::Pending => match &patch.pending_reason {
            None => {
                errors.push(FieldError::new(
                    "pending_reason",
                    "pending needs a reason: customer, third_party or change",
                ));
                None
            }
            Some(reason) => parse_field::<PendingReason>("pending_reason", reason, errors)
                .map(|reason| StatusChange::Pending { reason }),
        },
        TicketStatus::Resolved => {
            let Some(code) = &patch.resolution_code else {
                errors.push(FieldError::new(
                    "resolution_code",
                    "resolving needs a resolution code, e.g. `fixed`",
                ));
                return None;
            };
            let resolution = parse_field::<ResolutionCode>("resolution_code", code, errors)?;
            let note = match &patch.resolution_note {
                Some(note) => Some(parse_field::<ResolutionNote>(
                    "resolution_note",
                    note,
                    errors,
                )?),
                None => None,
            };
            Some(StatusChange::Resolved { resolution, note })
        }
        TicketStatus::Closed => Some(StatusChange::Closed),
        TicketStatus::Cancelled => Some(StatusChange::Cancelled),
    }
}

/// Resolving a major incident resolves its open children, each with a note saying why.
pub(super) async fn resolve_children(tx: &mut Tx<'_>, parent: &TicketRow) -> Result<(), AppError> {
    let parent_number = number_of(&parent.ticket_type, parent.number);
    for child_id in store::active_children(tx.conn, parent.id).await? {
        let Some(child) = store::get(tx.conn, child_id).await? else {
            continue;
        };
        let note = format!("Resolved with its parent {parent_number}.");
        let patch = TicketPatch {
            status: Some("resolved".into()),
            resolution_code: parent.resolution_code.clone(),
            resolution_note: Some(note),
            ..TicketPatch::default()
        };
        Box::pin(apply_patch(tx, child, Precondition::Any, patch)).await?;
    }
    Ok(())
}
