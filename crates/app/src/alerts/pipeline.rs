//! The alert pipeline: each notice, in the transaction that receives it, records its alert
//! and opens, joins or resolves an incident — unless a silence mutes it, its group is short
//! of the integration's threshold (it waits, pending), or the storm cap sends it to the
//! integration's alert storm incident. The time-based settings run as delayed jobs: a
//! resolution held back settles later, and a firing alert not heard of again times out.

use opsdesk_domain::alert::{self, AlertStatus, HOUR_MS, Notice, Pipeline, Severity};
use opsdesk_domain::silence::Matcher;
use opsdesk_store::Batch;
use opsdesk_store::alerts::{self as store, AlertUpdate, IncidentKind, IntegrationRow};
use serde_json::json;

use crate::change::Tx;
use crate::jobs::{self, JobError, JobKind, id_in};
use crate::tickets::{
    NewTicket, TicketPatch, insert_ticket, number_of, patch_ticket, timeline, validate_ticket,
};
use crate::{App, AppError, Precondition, Principal, TicketEventKind};

/// What one notice did.
pub(super) enum Outcome {
    Opened(i64),
    Resolved(i64),
    /// A silence muted it.
    Silenced,
    /// Its group is short of the threshold: it waits for an incident.
    Pending,
    Nothing,
}

/// What the notices of one integration are applied with, read once per request.
pub(super) struct Intake<'a> {
    pub integration: &'a IntegrationRow,
    pub group_by: Vec<String>,
    pub pipeline: Pipeline,
    /// The silences in force over its alerts, each with its matchers.
    pub silences: Vec<(i64, Vec<Matcher>)>,
}

impl<'a> Intake<'a> {
    /// The intake of `integration`, with the silences in force now.
    pub async fn new(tx: &mut Tx<'_>, integration: &'a IntegrationRow) -> Result<Self, AppError> {
        Ok(Self {
            group_by: serde_json::from_str(&integration.group_by).unwrap_or_default(),
            pipeline: integration.pipeline(),
            silences: crate::silences::in_force(tx.conn, integration.id, tx.now).await?,
            integration,
        })
    }
}

/// What the audit log names the pipeline's own changes by.
const PIPELINE: &str = "alert pipeline";

/// Applies one notice in the caller's transaction.
pub(super) async fn apply(
    tx: &mut Tx<'_>,
    intake: &Intake<'_>,
    notice: Notice,
    payload: &str,
) -> Result<Outcome, AppError> {
    let integration = intake.integration;
    let key = alert::group_key(&intake.group_by, &notice);
    store::lock_group(tx.conn, tx.backend, integration.id, &key).await?;
    // A resolution still held back keeps the group's incident for it.
    let held_since = tx.now - intake.pipeline.hold_back_ms();
    let found = store::alert_state(
        tx.conn,
        integration.id,
        &notice.fingerprint,
        &key,
        held_since,
    )
    .await?;
    let existing = found.status.as_deref();
    let was_firing = existing == Some("firing");
    let labels = serde_json::to_string(&notice.labels)
        .map_err(|e| AppError::internal("recording an alert", e))?;
    // A resolved alert is never muted: it only ever takes noise away.
    let silence_id = match notice.status {
        AlertStatus::Firing => crate::silences::muting(&intake.silences, &notice.labels),
        AlertStatus::Resolved => None,
    };
    let mut outcome = Outcome::Nothing;
    // What is written once the incident is settled goes in one batch: on the single SQLite
    // writer, round trips, not statements, are an alert's cost.
    let mut batch = tx.batch();
    let ticket_id = match notice.status {
        // Muted, it opens and joins nothing; one already firing on an incident stays part
        // of it, so that its resolution still counts there.
        AlertStatus::Firing if silence_id.is_some() => {
            outcome = Outcome::Silenced;
            found.ticket_id.filter(|_| was_firing)
        }
        AlertStatus::Firing => {
            let ticket = match found.group_ticket {
                Some(id) => Some(id),
                None => match admit(tx, intake, &key, &notice).await? {
                    Admitted::Opened(id) => {
                        outcome = Outcome::Opened(id);
                        Some(id)
                    }
                    Admitted::Joined(id) => Some(id),
                    Admitted::Waiting => {
                        outcome = Outcome::Pending;
                        None
                    }
                },
            };
            // An alert joining the incident (new, or firing again) is noted on it; the
            // same alert repeated is not.
            if let Some(ticket) = ticket {
                let joins = existing == Some("resolved") || found.ticket_id != Some(ticket);
                if joins && !matches!(outcome, Outcome::Opened(_)) {
                    note_in(&mut batch, tx, ticket, &notice, &integration.name);
                }
            }
            ticket
        }
        AlertStatus::Resolved => found.ticket_id,
    };
    store::save_alert_in(
        &mut batch,
        &AlertUpdate {
            integration_id: integration.id,
            fingerprint: &notice.fingerprint,
            group_key: &key,
            status: notice.status.as_str(),
            title: &notice.title,
            severity: notice.severity.as_str(),
            labels: &labels,
            ticket_id,
            silence_id,
            search_text: &notice.search_text(),
            payload,
        },
        tx.now,
    );
    let resolves = match ticket_id {
        Some(ticket) if notice.status == AlertStatus::Resolved && was_firing => Some(ticket),
        _ => None,
    };
    if let Some(ticket) = resolves {
        note_in(&mut batch, tx, ticket, &notice, &integration.name);
    }
    batch.run(tx.conn).await?;
    let pipeline = intake.pipeline;
    // One timer per firing spell; it looks again when it runs (see `time_out_alert`).
    if notice.status == AlertStatus::Firing && !was_firing && pipeline.resolve_after_minutes > 0 {
        let alert_id = store::alert_id(tx.conn, integration.id, &notice.fingerprint).await?;
        queue_timeout(tx, alert_id, tx.now + pipeline.resolve_after_ms()).await?;
    }
    if let Some(ticket) = resolves
        && store::firing_of_ticket(tx.conn, ticket).await? == 0
    {
        if pipeline.hold_back_minutes > 0 {
            queue_settle(tx, ticket, integration.id, tx.now + pipeline.hold_back_ms()).await?;
        } else if resolve_incident(tx, ticket).await? {
            outcome = Outcome::Resolved(ticket);
        }
    }
    Ok(outcome)
}

/// Where a group without an incident goes.
enum Admitted {
    /// An incident opened for it: its own, or the storm incident.
    Opened(i64),
    /// It joined the open storm incident.
    Joined(i64),
    /// It is short of the threshold.
    Waiting,
}

/// Decides whether a firing alert of a group without an incident opens one, and which:
/// its group must reach the threshold, and beyond the storm cap it goes to the storm
/// incident. The group's alerts that waited join the incident with it.
async fn admit(
    tx: &mut Tx<'_>,
    intake: &Intake<'_>,
    key: &str,
    notice: &Notice,
) -> Result<Admitted, AppError> {
    let (integration, pipeline) = (intake.integration, intake.pipeline);
    if pipeline.has_threshold() {
        let since = tx.now - pipeline.open_after_ms();
        let firings = store::count_firing(tx.conn, integration.id, key, since, tx.now).await?;
        if !pipeline.threshold_met(firings) {
            return Ok(Admitted::Waiting);
        }
        store::forget_firings(tx.conn, integration.id, key).await?;
    }
    let opened = store::incidents_opened_since(tx.conn, integration.id, tx.now - HOUR_MS).await?;
    let admitted = if pipeline.may_open(opened) {
        let mut description = notice.description.clone();
        description.push_str("\n\n");
        for (name, value) in &notice.labels {
            description.push_str(&format!("- `{name}`: {value}\n"));
        }
        let id = open_incident(
            tx,
            integration,
            &notice.title,
            &description,
            notice.severity,
        )
        .await?;
        store::record_incident(tx.conn, id, integration.id, IncidentKind::Group, tx.now).await?;
        Admitted::Opened(id)
    } else if let Some(storm) = store::storm_ticket(tx.conn, integration.id).await? {
        Admitted::Joined(storm)
    } else {
        let title = format!("Alert storm: {}", integration.name);
        let description = format!(
            "{} opened {opened} incidents within the hour, its most: until this incident is \
             resolved, alerts of new problems join it instead of opening their own. The first \
             was: {}",
            integration.name, notice.title
        );
        let id = open_incident(tx, integration, &title, &description, notice.severity).await?;
        store::record_incident(tx.conn, id, integration.id, IncidentKind::Storm, tx.now).await?;
        Admitted::Opened(id)
    };
    let (Admitted::Opened(ticket) | Admitted::Joined(ticket)) = admitted else {
        return Ok(admitted);
    };
    store::adopt_waiting(tx.conn, integration.id, key, ticket).await?;
    Ok(admitted)
}

/// Opens an incident of the integration's requester, tagged `alert`.
async fn open_incident(
    tx: &mut Tx<'_>,
    integration: &IntegrationRow,
    title: &str,
    description: &str,
    severity: Severity,
) -> Result<i64, AppError> {
    let (impact, urgency) = severity.impact_urgency();
    let valid = validate_ticket(
        tx.principal,
        NewTicket {
            ticket_type: "incident".into(),
            title: title.chars().take(200).collect(),
            description: description.trim().to_owned(),
            impact: impact.as_str().into(),
            urgency: urgency.as_str().into(),
            requester: Some(integration.requester_email.clone()),
            group: None,
            assignee: None,
            category: None,
            tags: vec!["alert".into()],
            watchers: Vec::new(),
            custom: Default::default(),
            source: Some("alert".into()),
            parent: None,
        },
    )?;
    let id = insert_ticket(tx, valid).await?;
    if let Some(policy) = integration.escalation_policy_id {
        crate::paging::start(tx, id, policy).await?;
    }
    Ok(id)
}

/// Resolves an incident whose alerts are all resolved, if it is still open.
async fn resolve_incident(tx: &mut Tx<'_>, ticket: i64) -> Result<bool, AppError> {
    let Some(row) = opsdesk_store::tickets::get(tx.conn, ticket).await? else {
        return Ok(false);
    };
    if !matches!(row.status.as_str(), "new" | "open" | "pending") {
        return Ok(false);
    }
    let patch = TicketPatch {
        status: Some("resolved".into()),
        resolution_code: Some("fixed".into()),
        resolution_note: Some("Every alert of this incident is resolved.".into()),
        ..TicketPatch::default()
    };
    patch_ticket(tx, row, Precondition::Any, patch).await?;
    Ok(true)
}

/// Adds to `batch` the note of an alert on its incident's timeline (staff only).
fn note_in(batch: &mut Batch, tx: &Tx<'_>, ticket_id: i64, notice: &Notice, integration: &str) {
    timeline(
        batch,
        ticket_id,
        tx.now,
        tx.actor,
        "alert",
        false,
        json!({
            "integration": integration, "title": notice.title,
            "status": notice.status.as_str(), "severity": notice.severity.as_str(),
            "fingerprint": notice.fingerprint,
        }),
    );
    opsdesk_store::tickets::touch_in(batch, ticket_id, tx.now, None, 0);
}

/// Queues the look at alert `alert_id` for its timeout, at `run_at`.
pub(super) async fn queue_timeout(
    tx: &mut Tx<'_>,
    alert_id: i64,
    run_at: i64,
) -> Result<(), AppError> {
    let mut batch = tx.batch();
    let payload = json!({ "alert": alert_id });
    jobs::queue_at(&mut batch, JobKind::AlertTimeout, &payload, run_at, tx.now);
    Ok(batch.run(tx.conn).await?)
}

async fn queue_settle(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    integration_id: i64,
    run_at: i64,
) -> Result<(), AppError> {
    let mut batch = tx.batch();
    let payload = json!({ "ticket": ticket_id, "integration": integration_id });
    jobs::queue_at(&mut batch, JobKind::AlertSettle, &payload, run_at, tx.now);
    Ok(batch.run(tx.conn).await?)
}

impl App {
    /// Publishes the incidents alerts opened and resolved; returns their numbers.
    pub(crate) async fn announce(
        &self,
        opened: &[i64],
        resolved: &[i64],
        by: &Principal,
    ) -> Result<(Vec<String>, Vec<String>), AppError> {
        let all: Vec<i64> = opened.iter().chain(resolved).copied().collect();
        let numbers = {
            let mut conn = self.db().reader().await?;
            opsdesk_store::tickets::numbers_many(&mut conn, &all).await?
        };
        let number = |id: &i64| {
            numbers
                .get(id)
                .map(|other| number_of(&other.ticket_type, other.number))
                .unwrap_or_default()
        };
        for (ids, kind) in [
            (opened, TicketEventKind::Created),
            (resolved, TicketEventKind::Updated),
        ] {
            for id in ids {
                self.publish(*id, &number(id), kind, by);
            }
        }
        Ok((
            opened.iter().map(number).collect(),
            resolved.iter().map(number).collect(),
        ))
    }

    /// The `alert.timeout` job: resolves a firing alert its sender has not repeated for the
    /// integration's `resolve_after_minutes`, as if the sender had said so; when it was
    /// repeated, looks again that long after the last time.
    pub(crate) async fn time_out_alert(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        let alert_id = id_in(payload, "alert")?;
        let resolved = self
            .system_change(PIPELINE, move |mut tx| {
                Box::pin(async move {
                    let Some(row) = store::alert(tx.conn, alert_id).await? else {
                        return Ok(None);
                    };
                    let Some(integration) = store::integration(tx.conn, row.integration_id).await?
                    else {
                        return Ok(None);
                    };
                    let pipeline = integration.pipeline();
                    if row.status != "firing" || pipeline.resolve_after_minutes == 0 {
                        return Ok(None);
                    }
                    let due = row.last_at + pipeline.resolve_after_ms();
                    if due > tx.now {
                        queue_timeout(&mut tx, alert_id, due).await?;
                        return Ok(None);
                    }
                    let payload = store::alert_payload(tx.conn, alert_id).await?;
                    let notice = Notice {
                        fingerprint: row.fingerprint,
                        status: AlertStatus::Resolved,
                        title: row.title,
                        description: String::new(),
                        severity: Severity::read(Some(&row.severity)),
                        labels: serde_json::from_str(&row.labels).unwrap_or_default(),
                    };
                    let intake = Intake::new(&mut tx, &integration).await?;
                    match apply(&mut tx, &intake, notice, &payload).await? {
                        Outcome::Resolved(ticket) => Ok(Some(ticket)),
                        _ => Ok(None),
                    }
                })
            })
            .await?;
        if let Some(ticket) = resolved {
            self.announce(&[], &[ticket], &Principal::system(PIPELINE))
                .await?;
        }
        Ok(())
    }

    /// The `alert.settle` job: resolves an incident whose alerts all stayed resolved for
    /// the integration's hold-back. One fired again meanwhile keeps it open; a resolution
    /// more recent than the hold-back is looked at again when it is due.
    pub(crate) async fn settle_alert_incident(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let (ticket, integration_id) = (id_in(payload, "ticket")?, id_in(payload, "integration")?);
        let resolved = self
            .system_change(PIPELINE, move |mut tx| {
                Box::pin(async move {
                    let Some(integration) = store::integration(tx.conn, integration_id).await?
                    else {
                        return Ok(false);
                    };
                    if store::firing_of_ticket(tx.conn, ticket).await? > 0 {
                        return Ok(false);
                    }
                    let hold_back = integration.pipeline().hold_back_ms();
                    if let Some(last) = store::last_resolution_of_ticket(tx.conn, ticket).await?
                        && last + hold_back > tx.now
                    {
                        queue_settle(&mut tx, ticket, integration_id, last + hold_back).await?;
                        return Ok(false);
                    }
                    resolve_incident(&mut tx, ticket).await
                })
            })
            .await?;
        if resolved {
            self.announce(&[], &[ticket], &Principal::system(PIPELINE))
                .await?;
        }
        Ok(())
    }
}
