//! Webhooks: tell other systems (chat, automation, a CMDB) what changed, as signed JSON
//! POSTs delivered through the job outbox.

use hmac::{Hmac, Mac};
use opsdesk_store::Batch;
use opsdesk_store::webhooks::{self as store, WebhookRow};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::clock::random_secret;
use crate::jobs::{DEFAULT_MAX_ATTEMPTS, JobError, JobKind};
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

/// Adds to `batch` one delivery per webhook subscribed to `event`.
pub(crate) fn queue_deliveries(
    batch: &mut Batch,
    event: &str,
    payload: &serde_json::Value,
    now: i64,
) {
    store::queue_deliveries(
        batch,
        JobKind::WebhookDelivery.as_str(),
        event,
        &payload.to_string(),
        DEFAULT_MAX_ATTEMPTS,
        now,
    );
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
