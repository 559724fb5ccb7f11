//! Links between tickets and merging one into another.

use super::*;

impl App {
    /// Relates two tickets (staff).
    pub async fn link_tickets(
        &self,
        principal: &Principal,
        reference: &str,
        link_type: &str,
        target: &str,
    ) -> Result<Ticket, AppError> {
        let (reference, link_type, target) = (
            reference.to_owned(),
            link_type.to_owned(),
            target.to_owned(),
        );
        let ticket = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let link_type: LinkType = link_type
                        .parse()
                        .map_err(|e| AppError::invalid("type", e))?;
                    let now = tx.now;
                    let row = find_visible(tx.conn, tx.principal, &reference).await?;
                    let other = find_visible(tx.conn, tx.principal, &target)
                        .await
                        .map_err(|_| AppError::invalid("target", "no such ticket"))?;
                    if other.id == row.id {
                        return Err(AppError::invalid(
                            "target",
                            "a ticket cannot be linked to itself",
                        ));
                    }
                    // The event names both tickets: a security incident on either side keeps
                    // it from the webhooks.
                    tx.webhooks &=
                        row.restricted_group_id.is_none() && other.restricted_group_id.is_none();
                    store::add_link(tx.conn, row.id, other.id, link_type.as_str(), now).await?;
                    store::touch(tx.conn, row.id, now, None, 0).await?;
                    let link = serde_json::json!({
                        "type": link_type.as_str(),
                        "target": number_of(&other.ticket_type, other.number),
                    });
                    let mut batch = tx.batch();
                    timeline(
                        &mut batch,
                        row.id,
                        now,
                        tx.actor,
                        "linked",
                        false,
                        link.clone(),
                    );
                    let linked = store::get(tx.conn, row.id)
                        .await?
                        .ok_or(AppError::NotFound("ticket"))?;
                    let after = view(tx.conn, tx.principal, linked, now).await?;
                    let event = Event {
                        entity: Entity::Ticket,
                        entity_id: row.id,
                        action: Action::Linked,
                        before: None,
                        after: Some(link),
                    };
                    tx.record_with(batch, event).await?;
                    Ok(after)
                })
            })
            .await?;
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Linked,
            principal,
        );
        Ok(ticket)
    }

    /// Merges a ticket into another (staff): its conversation moves, it is closed as
    /// `merged`, and it points to the target from then on.
    pub async fn merge_ticket(
        &self,
        principal: &Principal,
        reference: &str,
        into: &str,
    ) -> Result<Ticket, AppError> {
        let (reference, into) = (reference.to_owned(), into.to_owned());
        let (ticket, source) = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move { merge(&mut tx, &reference, &into).await })
            })
            .await?;
        self.publish(
            source.id,
            &source.number,
            crate::TicketEventKind::Merged,
            principal,
        );
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Merged,
            principal,
        );
        Ok(ticket)
    }
}

/// The work of [`App::merge_ticket`]: returns the target and the merged (closed) source.
async fn merge(tx: &mut Tx<'_>, reference: &str, into: &str) -> Result<(Ticket, Ticket), AppError> {
    let (actor, now) = (tx.actor, tx.now);
    let source = find_visible(tx.conn, tx.principal, reference).await?;
    let target = find_visible(tx.conn, tx.principal, into)
        .await
        .map_err(|_| AppError::invalid("into", "no such ticket"))?;
    if source.id == target.id {
        return Err(AppError::invalid(
            "into",
            "a ticket cannot be merged into itself",
        ));
    }
    if target.merged_into_id.is_some() {
        return Err(AppError::invalid(
            "into",
            "that ticket was itself merged; merge into the ticket it points to",
        ));
    }
    if lifecycle_of(&source)?.status().is_final() {
        return Err(AppError::Conflict {
            field: None,
            message: format!(
                "{} is already {}; only active tickets can be merged",
                number_of(&source.ticket_type, source.number),
                source.status
            ),
        });
    }
    // As for links: the event names both tickets.
    tx.webhooks &= source.restricted_group_id.is_none() && target.restricted_group_id.is_none();
    let moved = store::comments(tx.conn, source.id, false).await?;
    store::move_comments(tx.conn, source.id, target.id).await?;
    let mut batch = tx.batch();
    for comment in &moved {
        store::index_comment(&mut batch, target.id, &comment.body, comment.public != 0);
    }
    let before = view(tx.conn, tx.principal, source.clone(), now).await?;
    let mut fields = fields_of(&source);
    fields.merged_into_id = Some(target.id);
    let closed = Lifecycle::Closed {
        resolution: ResolutionCode::parse("merged")
            .map_err(|e| AppError::internal("the `merged` resolution", e))?,
        note: None,
    };
    let closed_source = save_ticket(tx, &source, fields, Some(&closed), None).await?;
    store::add_link(
        tx.conn,
        source.id,
        target.id,
        LinkType::DuplicateOf.as_str(),
        now,
    )
    .await
    .or_else(|e| match e {
        opsdesk_store::StoreError::Duplicate(_) => Ok(()),
        other => Err(other),
    })?;
    store::touch(tx.conn, target.id, now, None, 0).await?;
    let (source_number, target_number) = (
        number_of(&source.ticket_type, source.number),
        number_of(&target.ticket_type, target.number),
    );
    timeline(
        &mut batch,
        source.id,
        now,
        actor,
        "merged",
        true,
        serde_json::json!({"into": target_number}),
    );
    timeline(
        &mut batch,
        target.id,
        now,
        actor,
        "merged",
        true,
        serde_json::json!({
            "from": source_number, "comments_moved": moved.len(),
        }),
    );
    let merged = store::get(tx.conn, target.id)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let after = view(tx.conn, tx.principal, closed_source, now).await?;
    let event = Event {
        entity: Entity::Ticket,
        entity_id: source.id,
        action: Action::Merged,
        before: snapshot(&before),
        after: snapshot(&after),
    };
    tx.record_with(batch, event).await?;
    Ok((view(tx.conn, tx.principal, merged, now).await?, after))
}
