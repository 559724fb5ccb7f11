//! Replies and internal notes on a ticket.

use opsdesk_domain::automation::RuleEvent;

use super::*;

/// A comment whose fields passed validation.
pub(crate) struct ValidComment {
    body: String,
    public: bool,
    minutes: i64,
}

/// Checks a comment before any transaction starts.
pub(crate) fn validate_comment(
    principal: &Principal,
    input: NewComment,
) -> Result<ValidComment, AppError> {
    let body = input.body.trim().to_owned();
    if body.is_empty() {
        return Err(AppError::invalid("body", "must not be empty"));
    }
    if body.len() > 100_000 {
        return Err(AppError::invalid(
            "body",
            "must be at most 100,000 characters",
        ));
    }
    let minutes = input.time_spent_minutes.unwrap_or(0);
    if !(0..=10_000).contains(&minutes) {
        return Err(AppError::invalid(
            "time_spent_minutes",
            "must be between 0 and 10000",
        ));
    }
    let customer = principal.role == Role::Customer;
    if customer && !input.public {
        return Err(AppError::invalid(
            "public",
            "customers cannot write internal notes",
        ));
    }
    Ok(ValidComment {
        body,
        public: input.public,
        minutes,
    })
}

/// Writes a validated comment on ticket `row`: the comment, its timeline and audit entries,
/// the first response it may be, the reopening a requester's reply causes, and (when the
/// change may notify) the notification an agent's public reply sends.
pub(crate) async fn insert_comment(
    tx: &mut Tx<'_>,
    row: TicketRow,
    comment: ValidComment,
) -> Result<Comment, AppError> {
    let ValidComment {
        body,
        public,
        minutes,
    } = comment;
    let (principal, actor, now) = (tx.principal, tx.actor, tx.now);
    let customer = principal.role == Role::Customer;
    if row.merged_into_id.is_some() {
        return Err(AppError::Conflict {
            field: None,
            message: "this ticket was merged; comment on the ticket it was merged into".into(),
        });
    }
    let id = store::insert_comment(
        tx.conn,
        row.id,
        principal.user_id,
        &body,
        public,
        minutes,
        now,
    )
    .await?;
    let first_response = (public && !customer).then_some(now);
    store::touch(tx.conn, row.id, now, first_response, minutes).await?;
    if first_response.is_some() {
        crate::sla::on_first_response(tx.conn, row.id, now).await?;
    }
    let mut batch = tx.batch();
    store::index_comment(&mut batch, row.id, &body, public);
    let kind = if public { "comment" } else { "note" };
    timeline(
        &mut batch,
        row.id,
        now,
        actor,
        kind,
        public,
        serde_json::json!({
            "comment_id": id, "body": body, "author": principal.email, "time_spent_minutes": minutes,
        }),
    );
    if customer && let Some(reopened) = on_customer_reply(&lifecycle_of(&row)?) {
        // Read again: the comment has just touched it.
        let current = store::get(tx.conn, row.id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        let fields = fields_of(&current);
        let saved = save_ticket(tx, &current, fields, Some(&reopened), None).await?;
        timeline(
            &mut batch,
            row.id,
            now,
            actor,
            "reopened",
            true,
            serde_json::json!({
                "from": row.status, "to": saved.status, "because": "the requester replied",
            }),
        );
    }
    let comment = Comment {
        id,
        ticket: number_of(&row.ticket_type, row.number),
        author: Some(principal.email.clone()).filter(|e| !e.is_empty()),
        body,
        public,
        time_spent_minutes: minutes,
        created_at: timestamp(now),
    };
    if tx.notify && public && !customer {
        crate::mail::queue_notice(
            &mut batch,
            crate::mail::Notice::Reply,
            row.id,
            Some(id),
            now,
        );
    }
    tx.record_with(batch, Event::created(Entity::Comment, id, &comment))
        .await?;
    automation::on_ticket_event(tx, RuleEvent::TicketCommented, row.id, None).await?;
    Ok(comment)
}

impl App {
    /// Adds a reply or internal note. A requester's reply reopens a resolved ticket; an
    /// agent's first public reply is the ticket's first response.
    pub async fn add_comment(
        &self,
        principal: &Principal,
        reference: &str,
        input: NewComment,
    ) -> Result<Comment, AppError> {
        let valid = validate_comment(principal, input)?;
        let reference = reference.to_owned();
        let (comment, ticket_id) = self
            .change(principal, Need::Anyone, move |mut tx| {
                Box::pin(async move {
                    let row = find_visible(tx.conn, tx.principal, &reference).await?;
                    let ticket_id = row.id;
                    let comment = insert_comment(&mut tx, row, valid).await?;
                    Ok((comment, ticket_id))
                })
            })
            .await?;
        self.publish(
            ticket_id,
            &comment.ticket,
            crate::TicketEventKind::Comment,
            principal,
        );
        Ok(comment)
    }
}

/// Adds an internal note to ticket `ticket_id` within a change, for what opsdesk records
/// on a ticket itself: diagnostics, runbook steps, remote sessions.
pub(crate) async fn add_note(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    body: String,
) -> Result<Comment, AppError> {
    let row = store::get(tx.conn, ticket_id)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    let valid = validate_comment(
        tx.principal,
        NewComment {
            body,
            public: false,
            time_spent_minutes: None,
        },
    )?;
    insert_comment(tx, row, valid).await
}

impl App {
    /// Adds an internal note on `principal`'s behalf to a ticket they may see, and tells
    /// live views.
    pub(crate) async fn add_internal_note(
        &self,
        principal: &Principal,
        ticket_id: i64,
        body: String,
    ) -> Result<Comment, AppError> {
        let comment = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move { add_note(&mut tx, ticket_id, body).await })
            })
            .await?;
        self.publish(
            ticket_id,
            &comment.ticket,
            crate::TicketEventKind::Comment,
            principal,
        );
        Ok(comment)
    }
}
