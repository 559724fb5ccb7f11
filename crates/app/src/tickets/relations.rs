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
        principal.require_staff()?;
        let link_type: LinkType = link_type
            .parse()
            .map_err(|e| AppError::invalid("type", e))?;
        let actor = principal.audit_label();
        let publisher = principal.clone();
        let principal = principal.clone();
        let (reference, target) = (reference.to_owned(), target.to_owned());
        let now = now_ms();
        let ticket = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let row = find_visible(conn, &principal, &reference).await?;
                    let other = find_visible(conn, &principal, &target)
                        .await
                        .map_err(|_| AppError::invalid("target", "no such ticket"))?;
                    if other.id == row.id {
                        return Err(AppError::invalid("target", "a ticket cannot be linked to itself"));
                    }
                    store::add_link(conn, row.id, other.id, link_type.as_str(), now).await?;
                    store::touch(conn, row.id, now, None, 0).await?;
                    let target_number = number_of(&other.ticket_type, other.number);
                    let mut batch = Batch::new(conn);
                    timeline(&mut batch, row.id, now, &actor, "linked", false, serde_json::json!({
                        "type": link_type.as_str(), "target": target_number,
                    }));
                    let linked = store::get(conn, row.id).await?.ok_or(AppError::NotFound("ticket"))?;
                    let after = view(conn, linked).await?;
                    record_with(conn, batch, &Change {
                        actor: &actor,
                        entity: "ticket",
                        entity_id: row.id,
                        action: "linked",
                        before: None,
                        after: Some(serde_json::json!({"type": link_type.as_str(), "target": target_number})),
                    }, now)
                    .await?;
                    Ok::<_, AppError>(after)
                })
            })
            .await?;
        self.wake_jobs();
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Linked,
            &publisher,
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
        principal.require_staff()?;
        let actor = principal.audit_label();
        let publisher = principal.clone();
        let principal = principal.clone();
        let (reference, into) = (reference.to_owned(), into.to_owned());
        let backend = self.db().backend();
        let now = now_ms();
        let ticket = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let source = find_visible(conn, &principal, &reference).await?;
                    let target = find_visible(conn, &principal, &into)
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
                    let moved = store::comments(conn, source.id, false).await?;
                    store::move_comments(conn, source.id, target.id).await?;
                    let mut batch = Batch::for_backend(backend);
                    for comment in &moved {
                        store::index_comment(
                            &mut batch,
                            target.id,
                            &comment.body,
                            comment.public != 0,
                        );
                    }
                    let before = view(conn, source.clone()).await?;
                    let mut fields = fields_of(&source);
                    fields.merged_into_id = Some(target.id);
                    let closed = Lifecycle::Closed {
                        resolution: ResolutionCode::parse("merged")
                            .map_err(|e| AppError::internal("the `merged` resolution", e))?,
                        note: None,
                    };
                    apply_lifecycle(&mut fields, &closed, now);
                    store::update(conn, source.id, source.version, &fields, now).await?;
                    let closed_row = store::get(conn, source.id)
                        .await?
                        .ok_or(AppError::NotFound("ticket"))?;
                    let catalog = crate::catalog::current(conn).await?;
                    crate::sla::on_ticket_changed(
                        conn,
                        &catalog,
                        &facts_of(&source)?,
                        &facts_of(&closed_row)?,
                        now,
                    )
                    .await?;
                    store::add_link(
                        conn,
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
                    store::touch(conn, target.id, now, None, 0).await?;
                    let (source_number, target_number) = (
                        number_of(&source.ticket_type, source.number),
                        number_of(&target.ticket_type, target.number),
                    );
                    timeline(
                        &mut batch,
                        source.id,
                        now,
                        &actor,
                        "merged",
                        true,
                        serde_json::json!({"into": target_number}),
                    );
                    timeline(
                        &mut batch,
                        target.id,
                        now,
                        &actor,
                        "merged",
                        true,
                        serde_json::json!({
                            "from": source_number, "comments_moved": moved.len(),
                        }),
                    );
                    let merged = store::get(conn, target.id)
                        .await?
                        .ok_or(AppError::NotFound("ticket"))?;
                    let closed_source = store::get(conn, source.id)
                        .await?
                        .ok_or(AppError::NotFound("ticket"))?;
                    let after = view(conn, closed_source).await?;
                    record_with(
                        conn,
                        batch,
                        &Change {
                            actor: &actor,
                            entity: "ticket",
                            entity_id: source.id,
                            action: "merged",
                            before: snapshot(&before),
                            after: snapshot(&after),
                        },
                        now,
                    )
                    .await?;
                    Ok((view(conn, merged).await?, after))
                })
            })
            .await?;
        self.wake_jobs();
        let (ticket, source) = ticket;
        self.publish(
            source.id,
            &source.number,
            crate::TicketEventKind::Merged,
            &publisher,
        );
        self.publish(
            ticket.id,
            &ticket.number,
            crate::TicketEventKind::Merged,
            &publisher,
        );
        Ok(ticket)
    }
}
