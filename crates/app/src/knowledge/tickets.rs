//! Knowledge at work on tickets: articles linked or drafted from them, and runbooks
//! followed step by step.

use opsdesk_store::tickets::TicketRow;

use super::*;

impl App {
    /// The runbooks for a ticket (those of its category and of the monitors whose outages
    /// opened it), with the step outcomes recorded so far (staff).
    pub async fn ticket_runbooks(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<TicketRunbook>, AppError> {
        principal.require_staff()?;
        let found = self.ticket(principal, ticket).await?;
        self.runbooks_for(principal, &found).await
    }

    /// [`App::ticket_runbooks`] for a ticket already read (the ticket page has it).
    pub async fn runbooks_for(
        &self,
        principal: &Principal,
        ticket: &crate::tickets::Ticket,
    ) -> Result<Vec<TicketRunbook>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        runbooks_of(&mut conn, ticket.id, ticket.category.as_ref().map(|c| c.id)).await
    }

    /// Records how a runbook step went on a ticket (staff), in its timeline.
    pub async fn record_runbook_step(
        &self,
        principal: &Principal,
        ticket: &str,
        input: NewStepOutcome,
    ) -> Result<Vec<TicketRunbook>, AppError> {
        principal.require_staff()?;
        let outcome: StepResult = input
            .outcome
            .parse()
            .map_err(|e| AppError::invalid("outcome", e))?;
        let found = self.ticket(principal, ticket).await?;
        let category = found.category.as_ref().map(|c| c.id);
        let note = input.note.trim().to_owned();
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let runbooks = runbooks_of(tx.conn, found.id, category).await?;
                let runbook = runbooks
                    .iter()
                    .find(|r| r.id == input.article_id)
                    .ok_or_else(|| {
                        AppError::invalid("article_id", "not a runbook offered on this ticket")
                    })?;
                if !(1..=i64::try_from(runbook.steps.len()).unwrap_or(0)).contains(&input.step) {
                    return Err(AppError::invalid(
                        "step",
                        format!("the runbook has steps 1 to {}", runbook.steps.len()),
                    ));
                }
                store::record_step(
                    tx.conn,
                    found.id,
                    runbook.id,
                    input.step,
                    outcome.as_str(),
                    &note,
                    tx.principal.user_id,
                    tx.now,
                )
                .await?;
                let mut batch = tx.batch();
                crate::tickets::timeline(
                    &mut batch,
                    found.id,
                    tx.now,
                    tx.actor,
                    "runbook_step",
                    false,
                    serde_json::json!({
                        "article_id": runbook.id, "title": runbook.title, "step": input.step,
                        "outcome": outcome.as_str(), "note": note,
                    }),
                );
                let event = Event {
                    entity: Entity::Ticket,
                    entity_id: found.id,
                    action: crate::audit::Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({
                        "ticket": found.number, "runbook": runbook.id, "step": input.step,
                        "outcome": outcome.as_str(),
                    })),
                };
                tx.record_with(batch, event).await?;
                runbooks_of(tx.conn, found.id, category).await
            })
        })
        .await
    }

    /// Records that an article solved a ticket (staff), in the ticket's timeline.
    pub async fn link_article(
        &self,
        principal: &Principal,
        ticket: &str,
        article_id: i64,
    ) -> Result<Vec<Article>, AppError> {
        principal.require_staff()?;
        let categories = category_paths(self).await?;
        let reference = ticket.to_owned();
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let row = find_visible(tx.conn, tx.principal, &reference).await?;
                let article = load(tx.conn, article_id, STAFF, &categories).await?;
                link_to_ticket(&mut tx, &row, &article).await?;
                Ok(
                    store::articles_of_ticket(tx.conn, row.id, ReaderFilter::Staff)
                        .await?
                        .into_iter()
                        .map(|row| Article::from_row(row, &categories))
                        .collect(),
                )
            })
        })
        .await
    }

    /// The articles linked to a ticket that `principal` may read.
    pub async fn ticket_articles(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<Article>, AppError> {
        let categories = category_paths(self).await?;
        let mut conn = self.db().reader().await?;
        let row = find_visible(&mut conn, principal, ticket).await?;
        Ok(
            store::articles_of_ticket(&mut conn, row.id, reader_of(principal).1)
                .await?
                .into_iter()
                .map(|row| Article::from_row(row, &categories))
                .collect(),
        )
    }

    /// Turns a resolved ticket into a draft article: its title, the problem as described,
    /// and the fix from its resolution note and public replies; the ticket is linked to it.
    pub async fn draft_article_from_ticket(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Article, AppError> {
        principal.require_staff()?;
        let found = self.ticket(principal, ticket).await?;
        let timeline = self.ticket_timeline(principal, ticket, 0, 500).await?;
        let replies: Vec<String> = timeline
            .iter()
            .filter(|entry| entry.kind == "comment" && entry.public)
            .filter_map(|entry| entry.data.get("body").and_then(|b| b.as_str()))
            .map(str::to_owned)
            .collect();
        let mut body = format!(
            "## Problem\n\n{}\n\n## Solution\n\n",
            found.description.trim()
        );
        if let Some(note) = &found.resolution_note {
            body.push_str(note.trim());
            body.push_str("\n\n");
        }
        for reply in &replies {
            body.push_str(reply.trim());
            body.push_str("\n\n");
        }
        let created = self
            .create_article(
                principal,
                NewArticle {
                    title: found.title.clone(),
                    body: body.trim_end().to_owned(),
                    category: match &found.category {
                        Some(named) => category_paths(self).await?.get(&named.id).cloned(),
                        None => None,
                    },
                    tags: found.tags.clone(),
                    ..NewArticle::default()
                },
            )
            .await?;
        self.link_article(principal, &found.number, created.id)
            .await?;
        Ok(created)
    }
}

/// Links `article` to ticket `row` in the caller's change, with a timeline entry and an audit
/// entry; a link already there is left alone.
pub(crate) async fn link_to_ticket(
    tx: &mut Tx<'_>,
    row: &TicketRow,
    article: &Article,
) -> Result<(), AppError> {
    if !store::link_ticket(tx.conn, row.id, article.id, tx.now).await? {
        return Ok(());
    }
    let mut batch = tx.batch();
    crate::tickets::timeline(
        &mut batch,
        row.id,
        tx.now,
        tx.actor,
        "article_linked",
        false,
        serde_json::json!({"article_id": article.id, "title": article.title}),
    );
    let event = Event {
        entity: Entity::Ticket,
        entity_id: row.id,
        action: crate::audit::Action::Linked,
        before: None,
        after: Some(serde_json::json!({
            "ticket": number_of(&row.ticket_type, row.number),
            "article": article.id,
        })),
    };
    tx.record_with(batch, event).await
}

/// The runbooks for a ticket with the outcomes recorded on it.
async fn runbooks_of(
    conn: &mut Conn,
    ticket_id: i64,
    category: Option<i64>,
) -> Result<Vec<TicketRunbook>, AppError> {
    let outcomes = store::steps_of_ticket(conn, ticket_id).await?;
    Ok(store::runbooks_for_ticket(conn, ticket_id, category)
        .await?
        .into_iter()
        .map(|row| {
            let steps: Vec<RunbookStep> = serde_json::from_str(&row.steps).unwrap_or_default();
            TicketRunbook {
                id: row.id,
                title: row.title,
                steps: (1..)
                    .zip(steps)
                    .map(|(step, s)| {
                        let recorded = outcomes
                            .iter()
                            .find(|o| o.article_id == row.id && o.step == step);
                        StepProgress {
                            step,
                            kind: s.kind.as_str().to_owned(),
                            check: s.check,
                            command: s.command,
                            expected: s.expected,
                            outcome: recorded.map(|o| o.outcome.clone()),
                            note: recorded.map(|o| o.note.clone()).filter(|n| !n.is_empty()),
                            by: recorded.and_then(|o| o.user_email.clone()),
                            at: recorded.map(|o| timestamp(o.created_at)),
                        }
                    })
                    .collect(),
            }
        })
        .collect())
}
