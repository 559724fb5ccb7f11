//! Webhooks: tell other systems (chat, automation, a CMDB) what changed, as signed JSON
//! POSTs delivered through the job outbox.

use hmac::{Hmac, Mac};
use opsdesk_domain::ticket::{TicketNumber, TicketType};
use opsdesk_store::tickets::{TicketPart, related_many, restricted_group_of};
use opsdesk_store::webhooks::{self as store, WebhookRow};
use opsdesk_store::{Batch, Conn};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::clock::random_secret;
use crate::jobs::{DEFAULT_MAX_ATTEMPTS, JobError, JobKind};
use crate::tickets::number_of;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// A webhook as admins see it. The signing secret is shown once, at creation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// Event names like `user.created`, or `*` for all.
    pub events: Vec<String>,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

impl From<WebhookRow> for Webhook {
    fn from(row: WebhookRow) -> Self {
        Self {
            id: row.id,
            url: row.url,
            events: row.events.split(',').map(str::to_owned).collect(),
            active: row.active != 0,
            secret: None,
            created_at: timestamp(row.created_at),
        }
    }
}

/// A new webhook.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST events: an `http` or `https` URL.
    pub url: String,
    /// Event names (`ticket.created`, `user.updated`, …) or `*` for all.
    pub events: Vec<String>,
}

/// Adds to `batch` one delivery per webhook subscribed to `event`, unless it is about a
/// security incident. Webhook endpoints sit outside every restricted group, so
/// they hear nothing of a security incident, and a ticket's payload leaves out the security
/// incidents it names (links, parent, children, merged into) as if they did not exist.
pub(crate) async fn queue_event(
    conn: &mut Conn,
    batch: &mut Batch,
    event: &Event,
    actor: &str,
    now: i64,
) -> Result<(), AppError> {
    if about_restricted(conn, event).await? {
        return Ok(());
    }
    let name = event.name();
    let mut data = event.after.as_ref().or(event.before.as_ref()).cloned();
    if let (Entity::Ticket, Some(data)) = (event.entity, &mut data)
        && names_security_incident(data)
    {
        hide_restricted_relatives(conn, event.entity_id, data).await?;
    }
    let payload = serde_json::json!({
        "event": &name,
        "at": timestamp(now),
        "actor": actor,
        "data": data,
    });
    store::queue_deliveries(
        batch,
        JobKind::WebhookDelivery.as_str(),
        &name,
        &payload.to_string(),
        DEFAULT_MAX_ATTEMPTS,
        now,
    );
    Ok(())
}

/// Whether `event` is about a security incident: the incident, a comment or file on it, or a
/// record of work on it (a runbook run, a remote session) naming its `ticket` or `ticket_id`.
/// A ticket gone by the time of the event is judged by its snapshot's type.
async fn about_restricted(conn: &mut Conn, event: &Event) -> Result<bool, AppError> {
    let data = event.after.as_ref().or(event.before.as_ref());
    let (part, id) = match event.entity {
        Entity::SecurityIncident => return Ok(true),
        Entity::Ticket => {
            let kind = data.and_then(|d| d.get("type")).and_then(|t| t.as_str());
            if kind == Some(TicketType::SecurityIncident.as_str()) {
                return Ok(true);
            }
            (TicketPart::Ticket, event.entity_id)
        }
        Entity::Comment => (TicketPart::Comment, event.entity_id),
        Entity::Attachment => (TicketPart::Attachment, event.entity_id),
        _ => {
            let ticket = data.and_then(|d| {
                ["ticket_id", "ticket"]
                    .iter()
                    .find_map(|key| d.get(*key).and_then(serde_json::Value::as_i64))
            });
            match ticket {
                Some(ticket) => (TicketPart::Ticket, ticket),
                None => return Ok(false),
            }
        }
    };
    Ok(restricted_group_of(conn, part, id).await?.is_some())
}

/// Removes from `data`, the snapshot of ticket `ticket_id` (or what an event says of it),
/// the numbers of the restricted tickets related to it: list items that are one (or link to
/// one) go, fields that name one become null.
pub(crate) async fn hide_restricted_relatives(
    conn: &mut Conn,
    ticket_id: i64,
    data: &mut serde_json::Value,
) -> Result<(), AppError> {
    let related = related_many(conn, &[ticket_id])
        .await?
        .remove(&ticket_id)
        .unwrap_or_default();
    let links = related.links.into_iter().map(|(_, other, _)| other);
    let hidden: Vec<String> = links
        .chain(related.children)
        .chain(related.parent)
        .chain(related.merged_into)
        .filter(|other| other.restricted_group_id.is_some())
        .map(|other| number_of(&other.ticket_type, other.number))
        .collect();
    if !hidden.is_empty() {
        redact(data, &hidden);
    }
    Ok(())
}

/// Whether `value` holds a security incident's number anywhere: only then can a ticket's
/// payload name a restricted ticket, and only then is it worth a look-up on the write path.
fn names_security_incident(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => text
            .parse::<TicketNumber>()
            .is_ok_and(|number| number.ticket_type() == TicketType::SecurityIncident),
        Value::Array(items) => items.iter().any(names_security_incident),
        Value::Object(fields) => fields.values().any(names_security_incident),
        _ => false,
    }
}

fn redact(value: &mut serde_json::Value, hidden: &[String]) {
    use serde_json::Value;
    let names_hidden = |value: &Value| match value {
        Value::String(text) => hidden.contains(text),
        Value::Object(fields) => fields
            .get("target")
            .and_then(Value::as_str)
            .is_some_and(|target| hidden.iter().any(|h| h == target)),
        _ => false,
    };
    match value {
        Value::Array(items) => {
            items.retain(|item| !names_hidden(item));
            items.iter_mut().for_each(|item| redact(item, hidden));
        }
        Value::Object(fields) => {
            for field in fields.values_mut() {
                if field.is_string() && names_hidden(&*field) {
                    *field = Value::Null;
                } else {
                    redact(field, hidden);
                }
            }
        }
        _ => {}
    }
}

fn signature(secret: &str, body: &[u8]) -> Result<String, AppError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| AppError::internal("webhook signing key", e))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

impl App {
    pub async fn create_webhook(
        &self,
        principal: &Principal,
        input: NewWebhook,
    ) -> Result<Webhook, AppError> {
        principal.require_admin()?;
        let mut errors = Vec::new();
        match reqwest::Url::parse(&input.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => errors.push(FieldError::new("url", "must be an http:// or https:// URL")),
        }
        if input.events.is_empty() {
            errors.push(FieldError::new("events", "name at least one event, or `*`"));
        }
        for (index, event) in input.events.iter().enumerate() {
            let valid = event == "*"
                || (event.contains('.')
                    && event
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'));
            if !valid {
                errors.push(FieldError::new(
                    format!("events[{index}]"),
                    "must look like `ticket.created` or be `*`",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let secret = random_secret()?;
        let events = input.events.join(",");
        let url = input.url;
        let mut hook = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let row = store::insert(tx.conn, &url, &secret, &events, tx.now).await?;
                    let secret = row.secret.clone();
                    let hook = Webhook::from(row);
                    tx.record(Event::created(Entity::Webhook, hook.id, &hook))
                        .await?;
                    Ok::<_, AppError>(Webhook {
                        secret: Some(secret),
                        ..hook
                    })
                })
            })
            .await?;
        if hook.secret.is_none() {
            hook.secret = None;
        }
        Ok(hook)
    }

    pub async fn webhooks(&self, principal: &Principal) -> Result<Vec<Webhook>, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        Ok(store::list(&mut conn)
            .await?
            .into_iter()
            .map(Webhook::from)
            .collect())
    }

    pub async fn delete_webhook(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = store::get(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("webhook"))?;
                store::delete(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::Webhook, id, &Webhook::from(before)))
                    .await
            })
        })
        .await
    }

    /// Performs one delivery job. Any non-2xx answer is a failure, retried with backoff.
    pub(crate) async fn deliver_webhook(
        &self,
        job_id: i64,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let hook_id = payload
            .get("webhook_id")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| JobError::Payload("no webhook_id".into()))?;
        let hook = {
            let mut conn = self.db().reader().await?;
            store::get(&mut conn, hook_id).await?
        };
        // A webhook deleted since the event has nobody left to tell.
        let Some(hook) = hook else { return Ok(()) };
        let body = payload
            .get("body")
            .map(ToString::to_string)
            .unwrap_or_default();
        let event = payload
            .pointer("/body/event")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown");
        let response = self
            .inner
            .http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("x-opsdesk-event", event)
            .header("x-opsdesk-delivery", job_id.to_string())
            .header(
                "x-opsdesk-signature",
                signature(&hook.secret, body.as_bytes())?,
            )
            .body(body)
            .send()
            .await
            .map_err(|e| JobError::remote(format!("POST {}", hook.url), e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(JobError::Refused(format!(
                "POST {} answered {}",
                hook.url,
                response.status()
            )))
        }
    }
}
