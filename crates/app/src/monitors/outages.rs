//! Outages into incidents: one incident per outage, opened, updated and resolved once.

use super::*;

impl App {
    /// Brings an outage's incident in line with the outage: opens it once, and resolves
    /// (or notes) it once the outage has ended. Run from the job outbox; safe to repeat.
    pub(crate) async fn sync_outage_incident(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), crate::jobs::JobError> {
        let outage_id = payload
            .get("outage_id")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| crate::jobs::JobError::Payload("no outage_id".into()))?;
        let system = Principal::system("monitor");
        let events = self
            .change(&system, Need::Anyone, move |mut tx| {
                Box::pin(async move { reconcile_outage(&mut tx, outage_id).await })
            })
            .await?;
        for event in events {
            self.publish(event.ticket_id, &event.number, event.kind, &system);
        }
        Ok(())
    }
}

/// A change made to an incident, announced once its transaction has committed.
pub(super) struct IncidentEvent {
    ticket_id: i64,
    number: String,
    kind: crate::TicketEventKind,
}

/// The work of [`App::sync_outage_incident`], in one transaction that holds the outage's
/// row lock: an incident is created and linked, reopened or resolved together with the
/// outage's record of it, so a job that dies halfway leaves nothing half done (no incident
/// left unlinked for another job to duplicate, no `ticket_resolved` that disagrees with the
/// incident), and the jobs of one outage wait only for each other's transactions.
pub(super) async fn reconcile_outage(
    tx: &mut Tx<'_>,
    outage_id: i64,
) -> Result<Vec<IncidentEvent>, AppError> {
    let Some(outage) = store::lock_outage(tx.conn, tx.backend, outage_id).await? else {
        return Ok(Vec::new()); // its monitor was deleted
    };
    let Some(monitor) = store::get(tx.conn, outage.monitor_id).await? else {
        return Ok(Vec::new());
    };
    let incident: IncidentSettings = serde_json::from_str(&monitor.incident).unwrap_or_default();
    let mut events = Vec::new();
    let tag = format!("monitor-outage-{outage_id}");
    // Earlier versions created the incident and linked it in two transactions; the tag finds
    // one a crash left unlinked.
    let found = match outage.ticket_id {
        Some(id) => Some(id),
        None => store::ticket_with_tag(tx.conn, &tag).await?,
    };
    let ticket_id = match found {
        Some(id) => id,
        None => {
            let error = outage
                .first_error
                .clone()
                .unwrap_or_else(|| "no answer".to_owned());
            let valid = validate_ticket(
                tx.principal,
                NewTicket {
                    ticket_type: "incident".to_owned(),
                    title: format!("{} is down", monitor.name),
                    description: format!(
                        "Monitor \"{}\" ({} {}) is down since {}.\n\nFirst failure: {error}",
                        monitor.name,
                        monitor.kind,
                        monitor.target,
                        timestamp(outage.started_at)
                    ),
                    impact: incident.impact.clone(),
                    urgency: incident.urgency.clone(),
                    requester: Some(monitor.requester.clone()),
                    group: incident.group.clone(),
                    assignee: None,
                    category: incident.category.clone(),
                    tags: vec!["monitor".to_owned(), tag],
                    watchers: Vec::new(),
                    custom: Default::default(),
                    source: Some("monitor".to_owned()),
                    parent: None,
                },
            )?;
            let id = insert_ticket(tx, valid).await?;
            // The incident is about the monitor's item, and may follow a change to it.
            if let Some(ci) = opsdesk_store::cmdb::monitor_ci(tx.conn, monitor.id).await? {
                opsdesk_store::cmdb::link_ticket(tx.conn, id, ci).await?;
                crate::changes::link_incident_to_changes(tx, id, ci).await?;
            }
            events.push(IncidentEvent::of(tx.conn, id, crate::TicketEventKind::Created).await?);
            id
        }
    };
    // The outage row is locked, so this links; the condition keeps a second incident from
    // ever being committed should two jobs get here all the same.
    if outage.ticket_id.is_none() && !store::link_ticket(tx.conn, outage_id, ticket_id).await? {
        return Err(AppError::Conflict {
            field: None,
            message: format!("outage {outage_id} already has an incident"),
        });
    }
    let Some(ended_at) = outage.ended_at else {
        if outage.ticket_resolved != 0 {
            // Down again soon after recovering: the same incident goes back to work.
            let row = incident_row(tx.conn, ticket_id).await?;
            if row.status == "resolved" {
                let patch = TicketPatch {
                    status: Some("open".to_owned()),
                    ..Default::default()
                };
                patch_ticket(tx, row, Precondition::Any, patch).await?;
                events.push(
                    IncidentEvent::of(tx.conn, ticket_id, crate::TicketEventKind::Updated).await?,
                );
            }
            note(tx, ticket_id, format!("{} is down again.", monitor.name)).await?;
            events.push(
                IncidentEvent::of(tx.conn, ticket_id, crate::TicketEventKind::Comment).await?,
            );
            store::mark_ticket_resolved(tx.conn, outage_id, false).await?;
        }
        return Ok(events);
    };
    if outage.ticket_resolved != 0 {
        return Ok(events);
    }
    let row = incident_row(tx.conn, ticket_id).await?;
    let minutes = (ended_at - outage.started_at) / 60_000;
    let seconds = (ended_at - outage.started_at) / 1000 % 60;
    let recovery = format!(
        "{} is back up after {minutes} min {seconds} s ({} failed checks).",
        monitor.name, outage.failures
    );
    let open = !matches!(row.status.as_str(), "resolved" | "closed");
    if open && incident.resolve {
        let patch = TicketPatch {
            status: Some("resolved".to_owned()),
            resolution_code: Some("fixed".to_owned()),
            resolution_note: Some(recovery),
            ..Default::default()
        };
        patch_ticket(tx, row, Precondition::Any, patch).await?;
        events.push(IncidentEvent::of(tx.conn, ticket_id, crate::TicketEventKind::Updated).await?);
    } else if open {
        note(tx, ticket_id, recovery).await?;
        events.push(IncidentEvent::of(tx.conn, ticket_id, crate::TicketEventKind::Comment).await?);
    }
    store::mark_ticket_resolved(tx.conn, outage_id, true).await?;
    Ok(events)
}

impl IncidentEvent {
    async fn of(
        conn: &mut Conn,
        ticket_id: i64,
        kind: crate::TicketEventKind,
    ) -> Result<Self, AppError> {
        let row = incident_row(conn, ticket_id).await?;
        Ok(Self {
            ticket_id,
            number: number_of(&row.ticket_type, row.number),
            kind,
        })
    }
}

pub(super) async fn incident_row(conn: &mut Conn, ticket_id: i64) -> Result<TicketRow, AppError> {
    ticket_store::get(conn, ticket_id)
        .await?
        .ok_or(AppError::NotFound("ticket"))
}

/// Adds a staff-only note to the incident.
pub(super) async fn note(tx: &mut Tx<'_>, ticket_id: i64, body: String) -> Result<(), AppError> {
    let row = incident_row(tx.conn, ticket_id).await?;
    let comment = NewComment {
        body,
        public: false,
        time_spent_minutes: None,
    };
    let valid = validate_comment(tx.principal, comment)?;
    insert_comment(tx, row, valid).await?;
    Ok(())
}
