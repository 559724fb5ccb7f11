//! Opening a ticket: checking what it names, then writing it and everything it starts.

use opsdesk_domain::automation::RuleEvent;

use super::*;

/// A new ticket whose fields passed validation, ready to be written.
pub(crate) struct ValidTicket {
    input: NewTicket,
    ticket_type: TicketType,
    title: Title,
    impact: Impact,
    urgency: Urgency,
    source: Source,
    tags: Vec<String>,
    /// Set by [`ValidTicket::restricted_to`] for a security incident.
    restricted_group: Option<i64>,
}

impl ValidTicket {
    /// This ticket as a security incident, seen only by admins and the members of `group`.
    pub(crate) fn restricted_to(mut self, group: i64) -> ValidTicket {
        self.ticket_type = TicketType::SecurityIncident;
        self.restricted_group = Some(group);
        self
    }
}

/// Checks a new ticket's fields before any transaction starts.
pub(crate) fn validate_ticket(
    principal: &Principal,
    input: NewTicket,
) -> Result<ValidTicket, AppError> {
    let mut errors = Vec::new();
    let ticket_type = parse_field::<TicketType>("type", &input.ticket_type, &mut errors);
    let title = parse_field::<Title>("title", &input.title, &mut errors);
    let impact = parse_field::<Impact>("impact", &input.impact, &mut errors);
    let urgency = parse_field::<Urgency>("urgency", &input.urgency, &mut errors);
    let source = parse_field::<Source>(
        "source",
        input.source.as_deref().unwrap_or("api"),
        &mut errors,
    );
    let tags = parse_tags(&input.tags, &mut errors);
    if ticket_type == Some(TicketType::SecurityIncident) {
        errors.push(FieldError::new(
            "type",
            "security incidents need a severity and a restricted group: open them at /api/v1/security-incidents",
        ));
    }
    if input.description.len() > 100_000 {
        errors.push(FieldError::new(
            "description",
            "must be at most 100,000 characters",
        ));
    }
    let customer = principal.role == Role::Customer;
    if customer {
        for (field, present) in [
            ("requester", input.requester.is_some()),
            ("group", input.group.is_some()),
            ("assignee", input.assignee.is_some()),
            ("parent", input.parent.is_some()),
        ] {
            if present {
                errors.push(FieldError::new(field, "customers cannot set this"));
            }
        }
    }
    let (Some(ticket_type), Some(title), Some(impact), Some(urgency), Some(source)) =
        (ticket_type, title, impact, urgency, source)
    else {
        return Err(AppError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(ValidTicket {
        input,
        ticket_type,
        title,
        impact,
        urgency,
        source,
        tags,
        restricted_group: None,
    })
}

/// A validated ticket with everything it refers to looked up and checked: what remains is
/// writing it.
pub(crate) struct ResolvedTicket {
    pub(super) fields: TicketFields,
    tags: Vec<String>,
    watchers: Vec<i64>,
    pub(super) clocks: Option<TicketSlaRow>,
    /// The names the audit entry records, as the API would show them.
    pub(super) snapshot: serde_json::Value,
    /// When the ticket opened: now, or an imported ticket's time in the desk it came from.
    pub(super) opened_at: i64,
    /// The catalog it was checked against, whose rules run once it is written.
    catalog: std::sync::Arc<Catalog>,
}

/// Looks up and checks what a new ticket refers to (requester, group, assignee, category,
/// custom fields, parent) and plans its SLA clocks. Reads only, so the API runs it on a
/// reader before taking its turn at the single writer.
pub(crate) async fn resolve_ticket(
    conn: &mut Conn,
    principal: &Principal,
    ticket: ValidTicket,
    now: i64,
) -> Result<ResolvedTicket, AppError> {
    let ValidTicket {
        input,
        ticket_type,
        title,
        impact,
        urgency,
        source,
        tags,
        restricted_group,
    } = ticket;
    let customer = principal.role == Role::Customer;
    let requester = match &input.requester {
        Some(email) => user_by_email(conn, "requester", email).await?,
        None => accounts::get_user(conn, principal.user_id.unwrap_or(-1))
            .await?
            .ok_or_else(|| AppError::invalid("requester", "name the requester's e-mail address"))?,
    };
    if !principal.can_see_organization(requester.organization_id) && !customer {
        return Err(AppError::invalid(
            "requester",
            "the requester belongs to an organization you do not serve",
        ));
    }
    let catalog = crate::catalog::current(conn).await?;
    let group = match &input.group {
        Some(name) => Some(group_by_name(&catalog, name)?),
        None => None,
    };
    let group_id = group.as_ref().map(|g| g.id);
    let assignee_id = match &input.assignee {
        Some(email) => Some(check_assignee(conn, email, group_id).await?),
        None => None,
    };
    let category_id = match &input.category {
        Some(path) => Some(category_by_path(&catalog, path)?),
        None => None,
    };
    let custom = check_custom(&catalog, &input.custom, serde_json::Map::new(), true)?;
    let watchers = watcher_ids(conn, &input.watchers).await?;
    if let Some(group) = restricted_group {
        crate::security::check_watchers(conn, group, &watchers).await?;
    }
    let priority = catalog
        .matrix(requester.organization_id)
        .priority(impact, urgency);
    let parent_id = match &input.parent {
        Some(parent) => Some(check_parent(conn, principal, parent, None).await?),
        None => None,
    };
    let fields = TicketFields {
        ticket_type: ticket_type.as_str().to_owned(),
        title: title.as_str().to_owned(),
        description: input.description.trim().to_owned(),
        status: TicketStatus::New.as_str().to_owned(),
        pending_reason: None,
        resolution_code: None,
        resolution_note: None,
        impact: impact.as_str().to_owned(),
        urgency: urgency.as_str().to_owned(),
        priority: i64::from(priority.rank()),
        category_id,
        requester_id: requester.id,
        organization_id: requester.organization_id,
        group_id,
        assignee_id,
        custom,
        source: source.as_str().to_owned(),
        merged_into_id: None,
        parent_id,
        resolved_at: None,
        closed_at: None,
        restricted_group_id: restricted_group,
    };
    let facts = crate::sla::SlaFacts {
        ticket_id: 0, // not known before the insert; the clocks get it when they are saved
        organization: fields.organization_id,
        ticket_type,
        priority,
        category: category_id,
        status: TicketStatus::New,
        pending_reason: None,
    };
    let clocks = crate::sla::new_clocks(&catalog, &facts, now)?;
    let snapshot = serde_json::json!({
        "type": fields.ticket_type, "title": fields.title, "description": fields.description,
        "status": fields.status, "impact": fields.impact, "urgency": fields.urgency,
        "priority": priority, "category": input.category, "requester": requester.email,
        "organization_id": fields.organization_id, "group": input.group,
        "assignee": input.assignee, "tags": tags, "watchers": input.watchers,
        "custom": fields.custom, "source": fields.source, "parent": input.parent,
        "sla_policy": clocks.as_ref().map(|c| c.policy_name.clone()),
    });
    Ok(ResolvedTicket {
        fields,
        tags,
        watchers,
        clocks,
        snapshot,
        opened_at: now,
        catalog,
    })
}

/// Writes a resolved ticket with its SLA clocks, timeline, audit entry and (when the change
/// may notify) the acknowledgement to its requester; returns its id.
pub(crate) async fn write_ticket(tx: &mut Tx<'_>, ticket: ResolvedTicket) -> Result<i64, AppError> {
    let ResolvedTicket {
        fields,
        tags,
        watchers,
        clocks,
        mut snapshot,
        opened_at,
        catalog,
    } = ticket;
    let (id, number) = store::insert(tx.conn, tx.backend, &fields, opened_at).await?;
    // Everything else this ticket adds goes to the database in one round trip with its audit
    // entry.
    let mut batch = tx.batch();
    store::add_tags(&mut batch, id, &tags);
    store::add_watchers(&mut batch, id, &watchers);
    store::index_ticket(&mut batch, id, &fields.title, &fields.description);
    if let Some(mut clocks) = clocks {
        clocks.ticket_id = id;
        opsdesk_store::sla::insert_ticket_sla(&mut batch, &clocks);
    }
    let number = number_of(&fields.ticket_type, number);
    timeline(
        &mut batch,
        id,
        opened_at,
        tx.actor,
        "created",
        true,
        serde_json::json!({
            "number": number, "priority": snapshot["priority"], "source": fields.source,
        }),
    );
    if tx.notify {
        crate::mail::queue_notice(
            &mut batch,
            crate::mail::Notice::Acknowledgement,
            id,
            None,
            opened_at,
        );
    }
    snapshot["id"] = id.into();
    snapshot["number"] = number.into();
    // The snapshot is moved, not serialised again: creation is the hot path.
    let event = Event {
        entity: Entity::Ticket,
        entity_id: id,
        action: Action::Created,
        before: None,
        after: Some(snapshot),
    };
    tx.record_with(batch, event).await?;
    automation::on_ticket_event(tx, RuleEvent::TicketCreated, id, Some(catalog)).await?;
    Ok(id)
}

/// Resolves and writes a validated ticket; returns its id.
pub(crate) async fn insert_ticket(tx: &mut Tx<'_>, ticket: ValidTicket) -> Result<i64, AppError> {
    let resolved = resolve_ticket(tx.conn, tx.principal, ticket, tx.now).await?;
    write_ticket(tx, resolved).await
}

impl App {
    /// Opens a ticket. Customers open tickets for themselves in their organization.
    pub async fn create_ticket(
        &self,
        principal: &Principal,
        input: NewTicket,
    ) -> Result<Ticket, AppError> {
        let valid = validate_ticket(principal, input)?;
        let now = self.now_ms();
        // The lookups run on a reader and the read-back after the commit, so the single
        // writer (on SQLite) spends its turn only on the rows this ticket adds.
        let resolved = {
            let mut conn = self.db().reader().await?;
            resolve_ticket(&mut conn, principal, valid, now).await?
        };
        let id = self
            .change(principal, Need::Anyone, move |mut tx| {
                // The ticket opens when its SLA clocks start, as planned on the reader
                // (`opened_at`); the audit entry is dated by the commit.
                Box::pin(async move { write_ticket(&mut tx, resolved).await })
            })
            .await?;
        let ticket = {
            let mut conn = self.db().reader().await?;
            let row = store::get(&mut conn, id)
                .await?
                .ok_or(AppError::NotFound("ticket"))?;
            view(&mut conn, principal, row, self.now_ms()).await?
        };
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Created,
            principal,
        );
        Ok(ticket)
    }
}
