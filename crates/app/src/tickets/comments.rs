//! Replies and internal notes on a ticket.

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

/// Writes a validated comment on ticket `row` in the caller's transaction: the comment, its
/// timeline and audit entries, the first response it may be, the reopening a requester's
/// reply causes, and (when `notify`) the notification an agent's public reply sends.
pub(crate) async fn insert_comment(
    conn: &mut Conn,
    backend: Backend,
    principal: &Principal,
    row: TicketRow,
    comment: ValidComment,
    notify: bool,
    now: i64,
) -> Result<Comment, AppError> {
    let ValidComment {
        body,
        public,
        minutes,
    } = comment;
    let customer = principal.role == Role::Customer;
    let actor = principal.audit_label();
    if row.merged_into_id.is_some() {
        return Err(AppError::Conflict {
            field: None,
            message: "this ticket was merged; comment on the ticket it was merged into".into(),
        });
    }
    let id =
        store::insert_comment(conn, row.id, principal.user_id, &body, public, minutes, now).await?;
    let first_response = (public && !customer).then_some(now);
    store::touch(conn, row.id, now, first_response, minutes).await?;
    if first_response.is_some() {
        crate::sla::on_first_response(conn, row.id, now).await?;
    }
    let mut batch = Batch::for_backend(backend);
    store::index_comment(&mut batch, row.id, &body, public);
    let kind = if public { "comment" } else { "note" };
    timeline(
        &mut batch,
        row.id,
        now,
        &actor,
        kind,
        public,
        serde_json::json!({
            "comment_id": id, "body": body, "author": principal.email, "time_spent_minutes": minutes,
        }),
    );
    if customer && let Some(reopened) = on_customer_reply(&lifecycle_of(&row)?) {
        let current = store::get(conn, row.id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        let mut fields = fields_of(&current);
        apply_lifecycle(&mut fields, &reopened, now);
        store::update(conn, row.id, current.version, &fields, now).await?;
        let reopened_row = store::get(conn, row.id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        let catalog = crate::catalog::current(conn).await?;
        crate::sla::on_ticket_changed(
            conn,
            &catalog,
            &facts_of(&current)?,
            &facts_of(&reopened_row)?,
            now,
        )
        .await?;
        timeline(
            &mut batch,
            row.id,
            now,
            &actor,
            "reopened",
            true,
            serde_json::json!({
                "from": row.status, "to": fields.status, "because": "the requester replied",
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
    let change = Change {
        actor: &actor,
        entity: "comment",
        entity_id: id,
        action: "created",
        before: None,
        after: snapshot(&comment),
    };
    if notify && public && !customer {
        crate::mail::queue_notice(
            &mut batch,
            crate::mail::Notice::Reply,
            row.id,
            Some(id),
            now,
        );
    }
    record_with(conn, batch, &change, now).await?;
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
        let publisher = principal.clone();
        let principal = principal.clone();
        let reference = reference.to_owned();
        let backend = self.db().backend();
        let notify = self.notifications_enabled();
        let now = now_ms();
        let (comment, ticket_id) = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    let row = find_visible(conn, &principal, &reference).await?;
                    let ticket_id = row.id;
                    let comment =
                        insert_comment(conn, backend, &principal, row, valid, notify, now).await?;
                    Ok::<_, AppError>((comment, ticket_id))
                })
            })
            .await?;
        self.wake_jobs();
        self.publish(
            ticket_id,
            &comment.ticket,
            crate::TicketEventKind::Comment,
            &publisher,
        );
        Ok(comment)
    }
}
