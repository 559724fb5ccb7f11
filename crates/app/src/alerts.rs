//! Alerts from other monitoring tools. An admin creates an integration (Alertmanager's
//! webhook, or a generic JSON alert) and gets a secret URL; alerts posted to it become
//! incidents of the integration's requester's organization, one per problem: alerts of one
//! group (by the integration's grouping labels, else each alert alone) share the open
//! incident, later alerts are noted on it, and it is resolved when its last alert is.

use opsdesk_domain::alert::{self, AlertStatus, IntegrationKind, Notice};
use opsdesk_domain::silence::Matcher;
use opsdesk_store::alerts::{self as store, AlertUpdate, IntegrationRow, NewIntegration as Row};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::clock::{random_secret, secret_hash};
use crate::tickets::{
    NewTicket, TicketPatch, insert_ticket, number_of, patch_ticket, timeline, validate_ticket,
};
use crate::{App, AppError, Precondition, Principal, TicketEventKind, timestamp};

/// Most alerts one request may carry.
const MOST_ALERTS: usize = 1_000;
/// Longest text an alert search takes, in characters.
const MOST_SEARCH_CHARS: usize = 200;

/// Which alerts a list shows.
#[derive(Debug, Clone)]
pub struct AlertFilter {
    /// Only those still firing.
    pub firing_only: bool,
    /// Only those a silence muted (`true`) or did not (`false`).
    pub silenced: Option<bool>,
    /// Only those with this text, in any case, in their title, fingerprint, label values
    /// or integration's name; at most 200 characters.
    pub text: Option<String>,
    /// At most this many, 1 to 500.
    pub limit: i64,
}

/// An integration: where one monitoring tool sends its alerts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Integration {
    pub id: i64,
    pub name: String,
    /// `alertmanager` or `generic`.
    pub kind: String,
    /// Its incidents are requested by this user, in their organization.
    pub requester: String,
    /// Labels whose values make alerts one problem; none: each alert is its own.
    pub group_by: Vec<String>,
    /// The escalation policy its incidents page; none: they page nobody.
    pub escalation_policy: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// `/alerts/<secret>`, where the tool posts: shown once, when the integration is
    /// created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_path: Option<String>,
}

/// A new integration.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    pub name: String,
    /// `alertmanager` or `generic`.
    pub kind: String,
    /// The e-mail address of the user its incidents are requested by.
    pub requester: String,
    #[serde(default)]
    pub group_by: Vec<String>,
    /// The name of the escalation policy its incidents page.
    #[serde(default)]
    pub escalation_policy: Option<String>,
}

/// An alert received.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: i64,
    pub integration: String,
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub status: String,
    pub title: String,
    pub severity: String,
    #[schema(value_type = Object)]
    pub labels: serde_json::Value,
    /// Its incident.
    pub ticket: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub first_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_at: jiff::Timestamp,
    pub occurrences: i64,
    /// Whether a silence muted its last notification: then it opened and joined nothing.
    pub silenced: bool,
    /// The silence that did.
    pub silence_id: Option<i64>,
}

/// What a request of alerts did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertReceipt {
    pub alerts: usize,
    /// The incidents they opened.
    pub opened: Vec<String>,
    /// The incidents they resolved.
    pub resolved: Vec<String>,
    /// How many firing alerts a silence muted.
    pub silenced: usize,
}

fn view(row: IntegrationRow, url_path: Option<String>) -> Integration {
    Integration {
        id: row.id,
        name: row.name,
        kind: row.kind,
        requester: row.requester_email,
        group_by: serde_json::from_str(&row.group_by).unwrap_or_default(),
        escalation_policy: row.escalation_policy,
        created_at: timestamp(row.created_at),
        url_path,
    }
}

/// What one notice did to incidents.
enum Outcome {
    Opened(i64),
    Resolved(i64),
    /// A silence muted it.
    Silenced,
    Nothing,
}

/// Applies one notice in the caller's transaction. `silences` are those in force over the
/// integration's alerts.
async fn apply(
    tx: &mut Tx<'_>,
    integration: &IntegrationRow,
    group_by: &[String],
    silences: &[(i64, Vec<Matcher>)],
    notice: Notice,
    payload: &str,
) -> Result<Outcome, AppError> {
    let key = alert::group_key(group_by, &notice);
    store::lock_group(tx.conn, tx.backend, integration.id, &key).await?;
    let existing =
        store::alert_by_fingerprint(tx.conn, integration.id, &notice.fingerprint).await?;
    let labels = serde_json::to_string(&notice.labels)
        .map_err(|e| AppError::internal("recording an alert", e))?;
    // A resolved alert is never muted: it only ever takes noise away.
    let silence_id = match notice.status {
        AlertStatus::Firing => crate::silences::muting(silences, &notice.labels),
        AlertStatus::Resolved => None,
    };
    let mut outcome = Outcome::Nothing;
    let ticket_id = match notice.status {
        // Muted, it opens and joins nothing; one already firing on an incident stays part
        // of it, so that its resolution still counts there.
        AlertStatus::Firing if silence_id.is_some() => {
            outcome = Outcome::Silenced;
            existing
                .as_ref()
                .filter(|a| a.status == "firing")
                .and_then(|a| a.ticket_id)
        }
        AlertStatus::Firing => {
            let ticket = match store::group_ticket(tx.conn, integration.id, &key).await? {
                Some(id) => id,
                None => {
                    let id = open_incident(tx, integration, &notice).await?;
                    outcome = Outcome::Opened(id);
                    id
                }
            };
            // An alert joining the incident (new, or firing again) is noted on it; the
            // same alert repeated is not.
            let joins = existing
                .as_ref()
                .is_none_or(|a| a.status == "resolved" || a.ticket_id != Some(ticket));
            if joins && !matches!(outcome, Outcome::Opened(_)) {
                note(tx, ticket, &notice, &integration.name).await?;
            }
            Some(ticket)
        }
        AlertStatus::Resolved => existing.as_ref().and_then(|a| a.ticket_id),
    };
    let was_firing = existing.as_ref().is_some_and(|a| a.status == "firing");
    store::save_alert(
        tx.conn,
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
    )
    .await?;
    if notice.status == AlertStatus::Resolved
        && was_firing
        && let Some(ticket) = ticket_id
    {
        note(tx, ticket, &notice, &integration.name).await?;
        if store::firing_of_ticket(tx.conn, ticket).await? == 0 {
            let row = opsdesk_store::tickets::get(tx.conn, ticket)
                .await?
                .ok_or(AppError::NotFound("ticket"))?;
            if matches!(row.status.as_str(), "new" | "open" | "pending") {
                let patch = TicketPatch {
                    status: Some("resolved".into()),
                    resolution_code: Some("fixed".into()),
                    resolution_note: Some("Every alert of this incident is resolved.".into()),
                    ..TicketPatch::default()
                };
                patch_ticket(tx, row, Precondition::Any, patch).await?;
                outcome = Outcome::Resolved(ticket);
            }
        }
    }
    Ok(outcome)
}

/// Opens the incident of a new problem, after the alert that reports it.
async fn open_incident(
    tx: &mut Tx<'_>,
    integration: &IntegrationRow,
    notice: &Notice,
) -> Result<i64, AppError> {
    let (impact, urgency) = notice.severity.impact_urgency();
    let mut description = notice.description.clone();
    description.push_str("\n\n");
    for (name, value) in &notice.labels {
        description.push_str(&format!("- `{name}`: {value}\n"));
    }
    let valid = validate_ticket(
        tx.principal,
        NewTicket {
            ticket_type: "incident".into(),
            title: notice.title.chars().take(200).collect(),
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

/// Notes an alert on its incident's timeline (staff only).
async fn note(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    notice: &Notice,
    integration: &str,
) -> Result<(), AppError> {
    let mut batch = tx.batch();
    timeline(
        &mut batch,
        ticket_id,
        tx.now,
        tx.actor,
        "alert",
        false,
        serde_json::json!({
            "integration": integration, "title": notice.title,
            "status": notice.status.as_str(), "severity": notice.severity.as_str(),
            "fingerprint": notice.fingerprint,
        }),
    );
    batch.run(tx.conn).await?;
    opsdesk_store::tickets::touch(tx.conn, ticket_id, tx.now, None, 0).await?;
    Ok(())
}

impl App {
    /// Creates an integration (admins); the answer carries its secret URL path, once.
    pub async fn create_integration(
        &self,
        principal: &Principal,
        input: NewIntegration,
    ) -> Result<Integration, AppError> {
        let mut errors = Vec::new();
        let name = crate::accounts::check_name("name", &input.name, &mut errors);
        if let Err(e) = input.kind.parse::<IntegrationKind>() {
            errors.push(crate::FieldError::new("kind", e));
        }
        if input.group_by.iter().any(|l| l.trim().is_empty()) || input.group_by.len() > 10 {
            errors.push(crate::FieldError::new(
                "group_by",
                "at most 10 label names, none empty",
            ));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let secret = random_secret()?;
        let token_hash = secret_hash(&secret);
        let group_by = serde_json::to_string(&input.group_by)
            .map_err(|e| AppError::internal("recording an integration", e))?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let requester = opsdesk_store::accounts::find_user_by_email(
                    tx.conn,
                    &input.requester.to_lowercase(),
                )
                .await?
                .ok_or_else(|| AppError::invalid("requester", "no user has this address"))?;
                let escalation_policy_id = match &input.escalation_policy {
                    Some(name) => Some(
                        opsdesk_store::paging::policy_by_name(tx.conn, name)
                            .await?
                            .ok_or_else(|| {
                                AppError::invalid("escalation_policy", "no policy has this name")
                            })?
                            .id,
                    ),
                    None => None,
                };
                let id = store::insert_integration(
                    tx.conn,
                    &Row {
                        name: &name,
                        kind: &input.kind,
                        requester_id: requester.id,
                        token_hash: &token_hash,
                        group_by: &group_by,
                        escalation_policy_id,
                    },
                    tx.now,
                )
                .await?;
                let row = store::integration(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("integration"))?;
                let integration = view(row, None);
                tx.record(Event::created(Entity::Integration, id, &integration))
                    .await?;
                Ok(Integration {
                    url_path: Some(format!("/alerts/{secret}")),
                    ..integration
                })
            })
        })
        .await
    }

    /// Every integration (staff), without their secrets.
    pub async fn integrations(&self, principal: &Principal) -> Result<Vec<Integration>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::integrations(&mut conn)
            .await?
            .into_iter()
            .map(|row| view(row, None))
            .collect())
    }

    /// Deletes an integration with its alerts (admins); its incidents stay.
    pub async fn delete_integration(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::integration(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("integration"))?;
                store::delete_integration(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::Integration, id, &view(row, None)))
                    .await
            })
        })
        .await
    }

    /// The most recent alerts that `filter` asks for, newest first (staff).
    pub async fn alerts(
        &self,
        principal: &Principal,
        filter: &AlertFilter,
    ) -> Result<Vec<Alert>, AppError> {
        principal.require_staff()?;
        if filter
            .text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MOST_SEARCH_CHARS)
        {
            return Err(AppError::invalid(
                "q",
                format!("at most {MOST_SEARCH_CHARS} characters"),
            ));
        }
        let text = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase);
        let query = store::AlertQuery {
            firing_only: filter.firing_only,
            silenced: filter.silenced,
            text: text.as_deref(),
            limit: filter.limit.clamp(1, 500),
        };
        let mut conn = self.db().reader().await?;
        let rows = store::alerts(&mut conn, &query).await?;
        let ids: Vec<i64> = rows.iter().filter_map(|r| r.ticket_id).collect();
        let numbers = opsdesk_store::tickets::numbers_many(&mut conn, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| Alert {
                id: row.id,
                integration: row.integration,
                fingerprint: row.fingerprint,
                status: row.status,
                title: row.title,
                severity: row.severity,
                labels: serde_json::from_str(&row.labels).unwrap_or_default(),
                ticket: row
                    .ticket_id
                    .and_then(|id| numbers.get(&id))
                    .map(|(kind, number)| number_of(kind, *number)),
                first_at: timestamp(row.first_at),
                last_at: timestamp(row.last_at),
                occurrences: row.occurrences,
                silenced: row.silence_id.is_some(),
                silence_id: row.silence_id,
            })
            .collect())
    }

    /// Receives alerts posted to an integration's secret URL: each opens or joins its
    /// group's incident, or resolves it with the group's last alert. An unknown secret is
    /// not found; a payload that does not read is invalid, and nothing of it is kept.
    pub async fn receive_alerts(
        &self,
        token: &str,
        body: Vec<u8>,
    ) -> Result<AlertReceipt, AppError> {
        let integration = {
            let mut conn = self.db().reader().await?;
            store::integration_by_token(&mut conn, &secret_hash(token))
                .await?
                .ok_or(AppError::NotFound("integration"))?
        };
        let kind: IntegrationKind = integration
            .kind
            .parse()
            .map_err(|e| AppError::internal("reading an integration", e))?;
        let notices = alert::read(kind, &body).map_err(|e| AppError::invalid("body", e))?;
        if notices.len() > MOST_ALERTS {
            return Err(AppError::invalid(
                "body",
                format!("at most {MOST_ALERTS} alerts in one request"),
            ));
        }
        let count = notices.len();
        let payload = String::from_utf8_lossy(&body).into_owned();
        let group_by: Vec<String> = serde_json::from_str(&integration.group_by).unwrap_or_default();
        let sender = Principal::system(&format!("integration {}", integration.name));
        let (opened, resolved, silenced) = self
            .change(&sender, Need::Anyone, move |mut tx| {
                Box::pin(async move {
                    let silences =
                        crate::silences::in_force(tx.conn, integration.id, tx.now).await?;
                    let (mut opened, mut resolved, mut silenced) = (Vec::new(), Vec::new(), 0);
                    for notice in notices {
                        let outcome = apply(
                            &mut tx,
                            &integration,
                            &group_by,
                            &silences,
                            notice,
                            &payload,
                        )
                        .await?;
                        match outcome {
                            Outcome::Opened(id) => opened.push(id),
                            Outcome::Resolved(id) => resolved.push(id),
                            Outcome::Silenced => silenced += 1,
                            Outcome::Nothing => {}
                        }
                    }
                    Ok((opened, resolved, silenced))
                })
            })
            .await?;
        let mut conn = self.db().reader().await?;
        let all: Vec<i64> = opened.iter().chain(&resolved).copied().collect();
        let numbers = opsdesk_store::tickets::numbers_many(&mut conn, &all).await?;
        let number = |id: &i64| {
            numbers
                .get(id)
                .map(|(kind, number)| number_of(kind, *number))
                .unwrap_or_default()
        };
        for (ids, kind) in [
            (&opened, TicketEventKind::Created),
            (&resolved, TicketEventKind::Updated),
        ] {
            for id in ids {
                self.publish(*id, &number(id), kind, &sender);
            }
        }
        Ok(AlertReceipt {
            alerts: count,
            opened: opened.iter().map(number).collect(),
            resolved: resolved.iter().map(number).collect(),
            silenced,
        })
    }
}
